"""THE table of primitives: how each one evaluates, prints and differentiates.

Adding a primitive means adding one entry to `RULES` (and, for a unary function, naming it in
`SOURCE_NAMES` so the parser accepts it). Every entry is checked by the parametrised test in
tests/test_rules.py against an independent oracle.

Step params by op:
    affine   (const, c_1, ..., c_k)        z = const + c_1 x_1 + ... + c_k x_k     Type 1
    product  (p_1, ..., p_k)               z = x_1^p_1 * ... * x_k^p_k              Type 2
    <unary>  (scale, offset, lib)          z = h(scale * x + offset)                Type 3
    cpow     (scale, offset, lib, base)    z = base ** (scale * x + offset)         Type 3
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .ir import (
    ONE,
    BinOp,
    Call,
    Const,
    Expr,
    Neg,
    Number,
    Select,
    Step,
    Temp,
    Var,
    add,
    div,
    mul,
    neg,
    power,
    show_number,
)

Name = Callable[[int], str]
FreshTemp = Callable[[], Temp]

# An edge's contribution to its parent's adjoint: (argument position, contribution, partial).
Edge = tuple[int, Expr, "Expr | None"]
# A temporary the contributions read: (temp, its definition).
TempDef = tuple[Temp, Expr]

# Products of more factors than this differentiate through prefix products: O(k), not O(k^2).
DIRECT_PRODUCT_LIMIT = 4


class Rule:
    """A primitive: evaluation, printing and local partial derivatives."""

    type: int = 0
    explain: str = ""

    def primal(self, step: Step) -> Expr:
        """The right-hand side computing z from its arguments."""
        raise NotImplementedError

    def show(self, step: Step, name: Name) -> str:
        """The step in the seed's notation, e.g. `w1 * w2^-1` or `sin(2*pi*z1)`."""
        raise NotImplementedError

    def partial(self, step: Step, i: int) -> Expr:
        """The local partial dz/dx_i as an expression over the trace's variables."""
        raise NotImplementedError

    def contributions(
        self, step: Step, gbar: Expr, fresh: FreshTemp
    ) -> tuple[list[TempDef], list[Edge]]:
        """What each edge adds to its parent's adjoint, given the step's adjoint `gbar`."""
        edges: list[Edge] = []
        for i in range(len(step.args)):
            d = self.partial(step, i)
            edges.append((i, mul(gbar, d), d))
        return [], edges


# ---------------------------------------------------------------------------------------------
# Type 1: affine
# ---------------------------------------------------------------------------------------------


def _scaled(c: Number, x: Expr) -> Expr:
    """c * x, written x / k when c is exactly 1/k for an integer k."""
    if c != 0 and math.isfinite(c) and not float(c).is_integer():
        k = 1 / c
        if float(k).is_integer() and 1 / k == c and abs(k) < 1e15:
            k = int(k)
            return neg(div(x, Const(-k))) if k < 0 else div(x, Const(k))
    return mul(Const(c), x)


class Affine(Rule):
    type = 1
    explain = "Type 1 (affine): the partial is the coefficient"

    def primal(self, step: Step) -> Expr:
        const, coeffs = step.params[0], step.params[1:]
        out: Expr | None = None
        for c, a in zip(coeffs, step.args):
            if out is None:
                out = _scaled(c, Var(a))
            elif c < 0:
                out = BinOp("-", out, _scaled(-c, Var(a)))
            else:
                out = BinOp("+", out, _scaled(c, Var(a)))
        if out is None:
            return Const(const)
        if const > 0:
            return BinOp("+", out, Const(const))
        if const < 0:
            return BinOp("-", out, Const(-const))
        return out

    def show(self, step: Step, name: Name) -> str:
        const, coeffs = step.params[0], step.params[1:]
        parts: list[str] = []
        for c, a in zip(coeffs, step.args):
            mag = abs(c)
            term = name(a) if mag == 1 else f"{show_number(mag)}*{name(a)}"
            parts.append(("- " if c < 0 else "+ ") + term)
        if const or not parts:
            parts.append(("- " if const < 0 else "+ ") + show_number(abs(const)))
        text = " ".join(parts)
        return text[2:] if text.startswith("+ ") else "-" + text[2:]

    def partial(self, step: Step, i: int) -> Expr:
        return Const(step.params[1 + i])


# ---------------------------------------------------------------------------------------------
# Type 2: product of powers
# ---------------------------------------------------------------------------------------------


def _ieee_power(x: Expr, p: Number) -> Expr:
    """x^p for a derivative: small integer powers by multiplication, which overflows to inf
    where Python's float `**` raises OverflowError."""
    if p in (2, 3, 4):
        out = x
        for _ in range(int(p) - 1):
            out = BinOp("*", out, x)
        return out
    return power(x, p)


def _monomial(factors: list[tuple[Expr, Number]], coeff: Number = 1) -> Expr:
    """coeff * prod x^p, with negative powers written as division."""
    num: Expr | None = None
    den: Expr | None = None
    for x, p in factors:
        if p == 0:
            continue
        if p > 0:
            f = _ieee_power(x, p)
            num = f if num is None else BinOp("*", num, f)
        else:
            f = _ieee_power(x, -p)
            den = f if den is None else BinOp("*", den, f)
    out: Expr = Const(coeff) if num is None else mul(Const(coeff), num)
    if den is not None:
        out = div(out, den)
    return out


def _infinite_at_zero(p: Number) -> bool:
    """Whether d(x^p)/dx is infinite at x = 0 while x^p itself is defined there."""
    return 0 < p < 1


def _power_partial(x: Expr, p: Number) -> Expr:
    """d(x^p)/dx = p * x^(p-1), IEEE inf at 0 where Python floats would raise."""
    if p == 1:
        return ONE
    d = _monomial([(x, p - 1)], p)
    return Select(x, d, Const(math.inf)) if _infinite_at_zero(p) else d


class Product(Rule):
    type = 2
    explain = "Type 2 (product): the power rule, p * x^(p-1) times the other factors"

    def primal(self, step: Step) -> Expr:
        # As the source spells it: `x / y` for a power of -1, `x ** -3` for other negative ones
        # (Python's `1 / x ** 3` overflows where `x ** -3` underflows).
        out: Expr | None = None
        for a, p in zip(step.args, step.params):
            if p == -1:
                out = BinOp("/", ONE if out is None else out, Var(a))
            else:
                f = power(Var(a), p)
                out = f if out is None else BinOp("*", out, f)
        assert out is not None
        return out

    def show(self, step: Step, name: Name) -> str:
        parts = []
        for a, p in zip(step.args, step.params):
            parts.append(name(a) if p == 1 else f"{name(a)}^{show_number(p)}")
        return " * ".join(parts)

    def partial(self, step: Step, i: int) -> Expr:
        factors: list[tuple[Expr, Number]] = []
        others: list[tuple[Expr, Number]] = []
        coeff: Number = step.params[i]
        for j, (a, p) in enumerate(zip(step.args, step.params)):
            factors.append((Var(a), p - 1 if j == i else p))
            if j != i:
                others.append((Var(a), p))
        d = _monomial(factors, coeff)
        if _infinite_at_zero(coeff):
            d = Select(Var(step.args[i]), d, _monomial(others, coeff * math.inf))
        return d

    def contributions(
        self, step: Step, gbar: Expr, fresh: FreshTemp
    ) -> tuple[list[TempDef], list[Edge]]:
        k = len(step.args)
        if k <= DIRECT_PRODUCT_LIMIT:
            return super().contributions(step, gbar, fresh)
        # prefix[j] = f_1 * ... * f_j; the suffix runs backward in `rest`, so nothing divides.
        factors = [power(Var(a), p) for a, p in zip(step.args, step.params)]
        temps: list[TempDef] = []
        prefix: list[Expr] = [factors[0]]
        for j in range(1, k - 1):
            t = fresh()
            temps.append((t, BinOp("*", prefix[-1], factors[j])))
            prefix.append(t)
        edges: list[Edge] = []
        rest: Expr = gbar
        for j in range(k - 1, -1, -1):
            a, p = step.args[j], step.params[j]
            own = _power_partial(Var(a), p)
            scale = rest if j == 0 else mul(rest, prefix[j - 1])
            edges.append((j, mul(scale, own), None))
            if j > 0:
                t = fresh()
                temps.append((t, mul(rest, factors[j])))
                rest = t
        edges.reverse()
        return temps, edges


# ---------------------------------------------------------------------------------------------
# Type 3: unary functions h(scale * x + offset)
# ---------------------------------------------------------------------------------------------

# A derivative h'(u) built from u (the argument), y (the step's own value) and the call maker.
Derivative = Callable[[Expr, Expr, Callable[[str, Expr], Expr]], Expr]


# Where h' is infinite at a point h itself accepts: (test that is false there, sign of h' there).
Singularity = Callable[[Expr, Expr], tuple[Expr, float]]


@dataclass(frozen=True)
class UnaryFunction:
    """One unary function: its names in each library and its derivative."""

    math_name: str | None
    numpy_name: str
    derivative: Derivative
    formula: str
    singular: Singularity | None = None


def _inside_unit(u: Expr, y: Expr) -> Expr:
    return BinOp("<", _sq(u), ONE)


def _sq(u: Expr) -> Expr:
    return BinOp("*", u, u)


_UNARY: dict[str, UnaryFunction] = {
    "sin": UnaryFunction("sin", "sin", lambda u, y, f: f("cos", u), "cos(u)"),
    "cos": UnaryFunction("cos", "cos", lambda u, y, f: neg(f("sin", u)), "-sin(u)"),
    "tan": UnaryFunction("tan", "tan", lambda u, y, f: add(ONE, _sq(y)), "1 + tan(u)^2"),
    "exp": UnaryFunction("exp", "exp", lambda u, y, f: y, "exp(u)"),
    "log": UnaryFunction("log", "log", lambda u, y, f: div(ONE, u), "1/u"),
    "sqrt": UnaryFunction(
        "sqrt",
        "sqrt",
        lambda u, y, f: div(Const(0.5), y),
        "1/(2 sqrt(u))",
        lambda u, y: (y, math.inf),
    ),
    "tanh": UnaryFunction("tanh", "tanh", lambda u, y, f: BinOp("-", ONE, _sq(y)), "1 - tanh(u)^2"),
    "sinh": UnaryFunction("sinh", "sinh", lambda u, y, f: f("cosh", u), "cosh(u)"),
    "cosh": UnaryFunction("cosh", "cosh", lambda u, y, f: f("sinh", u), "sinh(u)"),
    "asin": UnaryFunction(
        "asin",
        "arcsin",
        lambda u, y, f: div(ONE, f("sqrt", BinOp("-", ONE, _sq(u)))),
        "1/sqrt(1 - u^2)",
        lambda u, y: (_inside_unit(u, y), math.inf),
    ),
    "acos": UnaryFunction(
        "acos",
        "arccos",
        lambda u, y, f: neg(div(ONE, f("sqrt", BinOp("-", ONE, _sq(u))))),
        "-1/sqrt(1 - u^2)",
        lambda u, y: (_inside_unit(u, y), -math.inf),
    ),
    "atan": UnaryFunction(
        "atan", "arctan", lambda u, y, f: div(ONE, BinOp("+", ONE, _sq(u))), "1/(1 + u^2)"
    ),
    "abs": UnaryFunction(None, "abs", lambda u, y, f: f("sign", u), "sign(u), 0 at 0"),
}


def call(lib: str, fn: str, arg: Expr) -> Expr:
    """A call of unary function `fn` (our name) in library `lib`."""
    if fn == "sign":
        if lib == "numpy":
            return Call("numpy", "sign", (arg,))
        return BinOp("-", BinOp(">", arg, Const(0)), BinOp("<", arg, Const(0)))
    if fn == "abs" and lib != "numpy":
        return Call("builtins", "abs", (arg,))
    spec = _UNARY[fn]
    return Call(lib, spec.numpy_name if lib == "numpy" else (spec.math_name or fn), (arg,))


def _argument(step: Step) -> Expr:
    scale, offset = step.params[0], step.params[1]
    u = mul(Const(scale), Var(step.args[0]))
    return add(u, Const(offset)) if offset else u


class Unary(Rule):
    type = 3

    def __init__(self, fn: str) -> None:
        self.fn = fn
        self.explain = f"Type 3 (unary): h'(u) with h = {fn}, h'(u) = {_UNARY[fn].formula}"

    def primal(self, step: Step) -> Expr:
        return call(step.params[2], self.fn, _argument(step))

    def show(self, step: Step, name: Name) -> str:
        return f"{self.fn}({_show_argument(step, name)})"

    def partial(self, step: Step, i: int) -> Expr:
        lib = step.params[2]
        spec = _UNARY[self.fn]
        u, y = _argument(step), Var(step.index)
        d = spec.derivative(u, y, lambda f, arg: call(lib, f, arg))
        if spec.singular is not None and lib != "numpy":
            test, sign = spec.singular(u, y)
            d = Select(test, d, Const(sign))
        return mul(Const(step.params[0]), d)


def _show_argument(step: Step, name: Name) -> str:
    scale, offset = step.params[0], step.params[1]
    text = name(step.args[0])
    if scale == -1:
        text = "-" + text
    elif scale != 1:
        text = f"{show_number(scale)}*{text}"
    if offset:
        text += (" - " if offset < 0 else " + ") + show_number(abs(offset))
    return text


class ConstantPower(Rule):
    """base ** u for a constant base: a Type 3 function of u."""

    type = 3
    explain = "Type 3 (unary): h'(u) = log(base) * base^u"

    def primal(self, step: Step) -> Expr:
        return BinOp("**", Const(step.params[3]), _argument(step))

    def show(self, step: Step, name: Name) -> str:
        return f"{show_number(step.params[3])}^({_show_argument(step, name)})"

    def partial(self, step: Step, i: int) -> Expr:
        return mul(Const(step.params[0] * math.log(step.params[3])), Var(step.index))


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------

RULES: dict[str, Rule] = {
    # Type 1 and Type 2
    "affine": Affine(),
    "product": Product(),
    # Type 3: unary functions
    **{fn: Unary(fn) for fn in _UNARY},
    "cpow": ConstantPower(),
}

# Source spellings of the unary functions, per library, mapped to our op names.
SOURCE_NAMES: dict[str, dict[str, str]] = {
    "math": {spec.math_name: fn for fn, spec in _UNARY.items() if spec.math_name} | {"fabs": "abs"},
    "numpy": {spec.numpy_name: fn for fn, spec in _UNARY.items()}
    | {"absolute": "abs", "asin": "asin", "acos": "acos", "atan": "atan"},
}

# Python's own implementation of each unary function, for folding constants at compile time.
FOLD: dict[str, Callable[[float], float]] = {
    fn: (abs if fn == "abs" else getattr(math, spec.math_name or fn)) for fn, spec in _UNARY.items()
}


def rule(step: Step) -> Rule:
    """The rule for `step`'s op."""
    return RULES[step.op]


def lib_of(step: Step) -> str | None:
    """The library a step's code calls ('math', 'numpy', 'builtins'), if any."""
    return step.params[2] if RULES[step.op].type == 3 else None


__all__ = ["RULES", "SOURCE_NAMES", "FOLD", "Rule", "rule", "lib_of", "call", "Neg"]
