"""THE table of primitives: one entry per primitive, holding everything about it.

An entry says how the source spells the primitive (`math.f`, `np.f`, bare after an import, a
builtin, a method or attribute form), the arguments it takes, how its step computes (`primal`),
prints (`show`, `tex`) and differentiates (`partial`, `contributions`), whether it returns a new
array, and which library its code calls. The front end, the passes, emit and the reports read
all of this from the entry and nowhere else, so adding a primitive means adding one entry to
`TABLE` and one row to the parametrised test in tests/test_rules.py, which checks every entry
against an independent oracle.

Step params by kind:
    affine   (const, c_1, ..., c_k)        z = const + c_1 x_1 + ... + c_k x_k     Type 1
    product  (p_1, ..., p_k)               z = x_1^p_1 * ... * x_k^p_k              Type 2
    <unary>  (scale, offset, lib)          z = h(scale * x + offset)                Type 3
    cpow     (scale, offset, lib, base)    z = base ** (scale * x + offset)         Type 3
    <call>   (*statics, consts)            z = f(...): the signature's constant arguments in
                                           order, then, if operands may be numbers, a tuple with
                                           each operand's number or None for a variable (the
                                           items of a list argument count as operands)
    <call>, per_library   (lib, maths, *statics, consts): lib the library the source spelled
                          ('math', 'numpy', 'builtins', 'operator'), maths the one the partials
                          call ('math', or 'numpy' in a file that imports numpy)
    <call>, indexed       (k, ...): the constant index of the item the source reads from the
                          tuple the call gives (`x.shape[k]`, `np.linalg.slogdet(a)[k]`)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .expr import (
    ONE,
    BinOp,
    Call,
    Const,
    Divided,
    Expr,
    Index,
    Lit,
    Number,
    Select,
    Seq,
    Temp,
    Var,
    add,
    div,
    index_text,
    mul,
    neg,
    negated,
    power,
    show_number,
)
from .ir import Step

Name = Callable[[int], str]
FreshTemp = Callable[[], Temp]

# An edge's contribution to its parent's adjoint: (argument position, contribution, partial).
Edge = tuple[int, Expr, "Expr | None"]
# A temporary the contributions read: (temp, its definition).
TempDef = tuple[Temp, Expr]

# Products of more factors than this differentiate through prefix products: O(k), not O(k^2).
DIRECT_PRODUCT_LIMIT = 4


@dataclass(frozen=True)
class Param:
    """One argument of a call's signature.

    kind is 'array' (a value, never a number), 'operand' (a value or a number), 'operands'
    (any number of those, at least `least` and at most `most`), 'arrays' (any number of
    values, at least `least`), 'sequence' (a list or tuple literal of operands, `[a, b, 1.0]`,
    a list inside it being np.array of that list),
    'condition' (one comparison, not differentiated) or 'static' (a constant known when
    compiling: a number, a tuple of them, None or a bool, or a string where `text`; `what`
    names it in errors, `varargs` collects the positional arguments after it, `convert`
    normalises it and raises ValueError((reason, hint)) for a value it refuses, and an
    `optional` one that is not given is `default`).
    """

    name: str
    kind: str
    what: str = ""
    varargs: bool = False
    convert: Callable[[object], object] | None = None
    least: int = 0
    optional: bool = False
    most: int | None = None
    text: bool = False
    default: object = None


class Primitive:
    """One primitive: its spellings and signature, evaluation, printing, local partials."""

    type: int = 0
    explain: str = ""
    # Whether the step's operands may broadcast against each other (array mode sums back).
    broadcasting: bool = False
    # Whether z has the broadcast shape of its operands (constants being scalars).
    elementwise: bool = False
    # 'unary': h(scale * x + offset), its argument folded into the step; 'call': a signature.
    kind: str = ""
    # Whether the step has contributions: False for values that are piecewise constant
    # (comparisons, floor, integers read from shapes), whose edges carry nothing back.
    differentiated: bool = True
    # Call kind: whether the step's params open with (lib, maths), the library of the spelling
    # ('math', 'numpy', 'builtins' or 'operator') and the one its partials call ('math' or
    # 'numpy': numpy in a file that imports numpy), for a primitive several libraries spell.
    per_library: bool = False
    # Call kind: whether the call gives a tuple that the source must index with a constant
    # (`x.shape[0]`, `np.linalg.slogdet(a)[1]`): the step's params open with that index, and
    # `parts` is the tuple's length when it is fixed.
    indexed: bool = False
    parts: int | None = None
    # Call kind: whether every operand may be a number (`np.arange(5)`).
    constants_ok: bool = False

    def __init__(
        self,
        name: str,
        *,
        spellings: Iterable[tuple[str, str]] = (),
        signature: tuple[Param, ...] = (),
        fresh: bool = False,
        tex: str = "",
        library: str | None = None,
        overloads: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.name = name
        # (lib, name): lib is 'math', 'numpy', 'builtins', 'method' (x.f()) or 'attribute' (x.T)
        self.spellings = tuple(spellings)
        # Spellings of a function of one argument that reach this entry when called with more
        # (`math.log(x, b)`).
        self.overloads = tuple(overloads)
        self.signature = signature
        # Whether the value is a new array (or number) that nothing else holds, never a view.
        self.fresh = fresh
        # LaTeX: a function's macro (`\sin`), or a template with {} for the argument.
        self.tex = tex
        self._library = library

    def library(self, step: Step) -> str | None:
        """The library the step's code calls ('math', 'numpy', 'builtins'), if any."""
        return self._library

    def may_fail(self, step: Step) -> bool:
        """Whether the step can fail at finite arguments: raise (math's domain and overflow
        errors, division by zero, a float power's overflow) or, in numpy, give nan or inf
        with a warning. A gradient computes such a step even when it needs no value of it, so
        that it fails where the function does. Shape errors do not count."""
        return False

    def fails_where(self, step: Step, expr: Expr) -> Expr | None:
        """For `expr`, the code computing the step, a test on its arguments that holds
        wherever it may fail (and maybe at some points where it does not), so that a check
        computes it only there; None: no such test, the check computes it always."""
        return None

    def takes_numbers(self) -> bool:
        """Whether operands may be numbers, so the step's params end with their pattern."""
        return any(p.kind in ("operand", "operands", "sequence") for p in self.signature)

    def shape_operands(self, step: Step) -> tuple[int, ...] | None:
        """The variables whose broadcast shape is z's shape: () when z is always a scalar,
        None when no operand tells it (a matrix product, a reshape)."""
        return step.args if self.elementwise else None

    def primal(self, step: Step) -> Expr:
        """The right-hand side computing z from its arguments."""
        raise NotImplementedError

    def show(self, step: Step, name: Name) -> str:
        """The step in the lecture's notation, e.g. `w1 * w2^-1` or `sin(2*pi*z1)`."""
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
    """c * x as the source spelled it: `x / k` where it divided, else a product."""
    if isinstance(c, Divided):
        return BinOp("/", x, Const(c.divisor))
    return mul(Const(c), x)


class Affine(Primitive):
    """const + c_1 x_1 + ... + c_k x_k: params (const, c_1, ..., c_k). Written with + - * /."""

    type = 1
    broadcasting = True
    elementwise = True
    explain = "Type 1 (affine): the partial is the coefficient"

    def primal(self, step: Step) -> Expr:
        const, coeffs = step.params[0], step.params[1:]
        out: Expr | None = None
        if const and coeffs and coeffs[0] < 0:  # `1 - t`, valid for booleans where -t is not
            out, const = Const(const), 0
        for c, a in zip(coeffs, step.args):
            if out is None:
                out = _scaled(c, Var(a))
            elif c < 0:
                out = BinOp("-", out, _scaled(negated(c), Var(a)))
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
    for x, p in factors:
        if p == 0:
            continue
        if p > 0:
            f = _ieee_power(x, p)
            num = f if num is None else BinOp("*", num, f)
    out: Expr = Const(coeff) if num is None else mul(Const(coeff), num)
    for x, p in factors:
        if p < 0 and float(p).is_integer() and p >= -4:
            for _ in range(int(-p)):  # a / b / b: a / (b * b) overflows where this does not
                out = div(out, x)
        elif p < -1:
            # x^p = x^(p+1) / x: x^(p+1) is the primal's own power, which Python computes
            # wherever the primal did, while x^-p underflows to 0 first.
            out = div(mul(out, power(x, p + 1)), x)
        elif p < 0:
            out = div(out, power(x, -p))
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


class Product(Primitive):
    """x_1^p_1 * ... * x_k^p_k: params (p_1, ..., p_k). Written with * / **."""

    type = 2
    broadcasting = True
    elementwise = True
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

    def may_fail(self, step: Step) -> bool:
        return any(p != 1 for p in step.params)  # a division, or a float power (overflow)

    def show(self, step: Step, name: Name) -> str:
        parts = []
        for a, p in zip(step.args, step.params):
            parts.append(name(a) if p == 1 else f"{name(a)}^{show_number(p)}")
        return " * ".join(parts)

    def partial(self, step: Step, i: int) -> Expr:
        if step.params == (-1,):
            y = Var(step.index)  # d(1/x)/dx = -1/x^2 = -y*y: reuse the step's own value
            return neg(BinOp("*", y, y))
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


def _beyond(bound: Number, op: str = ">") -> Callable[[Expr], Expr]:
    """The test |u| > bound (or >=)."""
    return lambda u: BinOp(op, Call("builtins", "abs", (u,)), Const(bound))


def _inside_unit(u: Expr, y: Expr) -> Expr:
    return BinOp("<", _sq(u), ONE)


def _sq(u: Expr) -> Expr:
    return BinOp("*", u, u)


def _argument(step: Step) -> Expr:
    scale, offset = step.params[0], step.params[1]
    u = _scaled(scale, Var(step.args[0]))
    return add(u, Const(offset)) if offset else u


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


class Unary(Primitive):
    """h(scale * x + offset) for a function h of one argument: params (scale, offset, lib),
    lib being the library the source called ('math', 'numpy' or 'builtins')."""

    type = 3
    elementwise = True
    kind = "unary"

    def __init__(
        self,
        name: str,
        *,
        math_name: str | None,
        numpy_name: str,
        derivative: Derivative,
        formula: str,
        singular: Singularity | None = None,
        also: Iterable[tuple[str, str]] = (),
        python: Callable[[float], float] | None = None,
        tex: str = "",
        fails: Callable[[Expr], Expr] | None = None,
    ) -> None:
        spellings = ([("math", math_name)] if math_name else []) + [("numpy", numpy_name)]
        super().__init__(name, spellings=[*spellings, *also], fresh=True, tex=tex)
        self.math_name = math_name
        self.numpy_name = numpy_name
        self.derivative = derivative
        self.formula = formula
        self.singular = singular
        # Where h may fail at a finite u (a domain error, nan in numpy, or an overflow, inf): a
        # test on u that holds wherever it does, so a check can call h only there.
        self.fails = fails
        # Python's own function, which folds constants where the source calls math.
        self.python = python or getattr(math, math_name or name)
        self.explain = f"Type 3 (unary): h'(u) with h = {name}, h'(u) = {formula}"

    def library(self, step: Step) -> str | None:
        return step.params[2]

    def may_fail(self, step: Step) -> bool:
        return self.fails is not None

    def fails_where(self, step: Step, expr: Expr) -> Expr | None:
        if self.fails is None or type(expr) is not Call or len(expr.args) != 1:
            return None
        return self.fails(expr.args[0])

    def fold(self, lib: str, value: Number) -> Number:
        """h(value) for a constant, by the library the source calls: numpy's cosh may round
        differently from math's, and a constant must be the very float the source computes."""
        if lib != "numpy":
            return self.python(value)
        with np.errstate(all="ignore"):
            return float(getattr(np, self.numpy_name)(value))

    def primal(self, step: Step) -> Expr:
        return call(step.params[2], self.name, _argument(step))

    def shape_operands(self, step: Step) -> tuple[int, ...] | None:
        return () if step.params[2] == "math" else step.args

    def show(self, step: Step, name: Name) -> str:
        return f"{self.name}({_show_argument(step, name)})"

    def partial(self, step: Step, i: int) -> Expr:
        lib = step.params[2]
        u, y = _argument(step), Var(step.index)
        d = self.derivative(u, y, lambda f, arg: call(lib, f, arg))
        if self.singular is not None and lib != "numpy":
            test, sign = self.singular(u, y)
            d = Select(test, d, Const(sign))
        return mul(Const(step.params[0]), d)


def call(lib: str, fn: str, arg: Expr) -> Expr:
    """A call of unary function `fn` (the table's name) in library `lib`; 'reciprocal' is 1/u,
    which numpy computes even for a Python float (inf where Python's `1 / 0.0` raises)."""
    if fn == "reciprocal":
        return Call("numpy", "divide", (ONE, arg)) if lib == "numpy" else div(ONE, arg)
    if fn == "sign":
        if lib == "numpy":
            return Call("numpy", "sign", (arg,))
        # 1 * (u > 0) - 1 * (u < 0): numpy booleans (abs of a numpy value) cannot be subtracted
        positive = BinOp("*", ONE, BinOp(">", arg, Const(0)))
        return BinOp("-", positive, BinOp("*", ONE, BinOp("<", arg, Const(0))))
    if fn == "abs" and lib != "numpy":
        return Call("builtins", "abs", (arg,))
    entry = PRIMITIVES[fn]
    assert isinstance(entry, Unary)
    return Call(lib, entry.numpy_name if lib == "numpy" else (entry.math_name or fn), (arg,))


class ConstantPower(Primitive):
    """base ** u for a constant base: a Type 3 function of u. Written with **."""

    type = 3
    explain = "Type 3 (unary): h'(u) = log(base) * base^u"
    elementwise = True

    def library(self, step: Step) -> str | None:
        return step.params[2]

    def may_fail(self, step: Step) -> bool:
        return True  # base ** u overflows

    def primal(self, step: Step) -> Expr:
        return BinOp("**", Const(step.params[3]), _argument(step))

    def show(self, step: Step, name: Name) -> str:
        return f"{show_number(step.params[3])}^({_show_argument(step, name)})"

    def partial(self, step: Step, i: int) -> Expr:
        return mul(Const(step.params[0] * math.log(step.params[3])), Var(step.index))


# ---------------------------------------------------------------------------------------------
# Arrays: reductions, linear algebra, shape changes, indexing, selections
# ---------------------------------------------------------------------------------------------


def _helper(name: str, *args: Expr) -> Expr:
    return Call("adc", name, args)


def _np(fn: str, *args: Expr) -> Expr:
    return Call("numpy", fn, args)


def _operands(step: Step, consts: tuple) -> list[Expr]:
    """The operands of a call-like step: its variables, with constants where `consts` has one."""
    args = iter(step.args)
    return [Var(next(args)) if c is None else Const(c) for c in consts]


def _positions(consts: tuple) -> list[int]:
    """For each variable argument, its operand position."""
    return [k for k, c in enumerate(consts) if c is None]


def _kw(value: object) -> str:
    return "" if value is None else f", axis={value}"


class Reduction(Primitive):
    """np.sum / np.mean: params (axis, keepdims). A linear map: Type 1."""

    type = 1
    kind = "call"
    explain = "Type 1 (linear): the adjoint spreads zbar back over the reduced axes"

    def __init__(self, fn: str, helper: str) -> None:
        signature = (
            Param("a", "array"),
            Param("axis", "static", "axis", optional=True),
            Param("keepdims", "static", "keepdims", optional=True, convert=bool),
        )
        spellings = (("numpy", fn), ("method", fn))
        super().__init__(fn, spellings=spellings, signature=signature, fresh=True, library="numpy")
        self.fn, self.helper = fn, helper

    def shape_operands(self, step: Step) -> tuple[int, ...] | None:
        axis, keepdims = step.params
        return () if axis is None and not keepdims else None

    def primal(self, step: Step) -> Expr:
        axis, keepdims = step.params
        keywords: list[tuple[str, Expr]] = []
        if axis is not None:
            keywords.append(("axis", Lit(axis)))
        if keepdims:
            keywords.append(("keepdims", Lit(True)))
        return Call("numpy", self.fn, (Var(step.args[0]),), tuple(keywords))

    def show(self, step: Step, name: Name) -> str:
        axis, keepdims = step.params
        keep = ", keepdims=True" if keepdims else ""
        return f"{self.fn}({name(step.args[0])}{_kw(axis)}{keep})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        axis, keepdims = step.params
        x = Var(step.args[0])
        return [], [(0, _helper(self.helper, gbar, x, Lit(axis), Lit(keepdims)), None)]


class MatMul(Primitive):
    """a @ b (np.matmul, np.dot). Bilinear: Type 2. Stacks broadcast, so edges sum back."""

    type = 2
    kind = "call"
    broadcasting = True
    explain = "Type 2 (product): each factor's adjoint is zbar times the other factor"

    def __init__(self, fn: str, spellings: tuple[tuple[str, str], ...]) -> None:
        signature = (Param("a", "array"), Param("b", "array"))
        super().__init__(fn, spellings=spellings, signature=signature, fresh=True, library="numpy")
        self.fn = fn

    def primal(self, step: Step) -> Expr:
        a, b = Var(step.args[0]), Var(step.args[1])
        return BinOp("@", a, b) if self.fn == "matmul" else _np(self.fn, a, b)

    def show(self, step: Step, name: Name) -> str:
        a, b = name(step.args[0]), name(step.args[1])
        return f"{a} @ {b}" if self.fn == "matmul" else f"dot({a}, {b})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        a, b = Var(step.args[0]), Var(step.args[1])
        return [], [
            (0, _helper("_matmul_a", gbar, a, b), None),
            (1, _helper("_matmul_b", gbar, a, b), None),
        ]


class Transpose(Primitive):
    """np.transpose(x, axes) and x.T: params (axes,). Linear: Type 1."""

    type = 1
    kind = "call"
    explain = "Type 1 (linear): the adjoint is transposed back"

    def __init__(self) -> None:
        signature = (
            Param("a", "array"),
            Param("axes", "static", "axes", varargs=True, optional=True),
        )
        spellings = (("numpy", "transpose"), ("method", "transpose"), ("attribute", "T"))
        super().__init__("transpose", spellings=spellings, signature=signature, library="numpy")

    def primal(self, step: Step) -> Expr:
        axes = step.params[0]
        x = Var(step.args[0])
        return _np("transpose", x) if axes is None else _np("transpose", x, Lit(axes))

    def show(self, step: Step, name: Name) -> str:
        axes = step.params[0]
        return (
            f"{name(step.args[0])}.T"
            if axes is None
            else f"transpose({name(step.args[0])}, {axes})"
        )

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        axes = step.params[0]
        x = Var(step.args[0])
        if axes is None:
            return [], [(0, _helper("_unbroadcast", _np("transpose", gbar), x), None)]
        n = len(axes)
        inverse = tuple(sorted(range(n), key=lambda k: axes[k] % n))
        back = _np("transpose", gbar, Lit(inverse))
        return [], [(0, _helper("_unbroadcast", back, x), None)]


class Reshape(Primitive):
    """np.reshape(x, shape) and x.reshape(...): params (shape,). Linear: Type 1."""

    type = 1
    kind = "call"
    explain = "Type 1 (linear): the adjoint is reshaped back"

    def __init__(self) -> None:
        signature = (Param("a", "array"), Param("shape", "static", "shape", varargs=True))
        spellings = (("numpy", "reshape"), ("method", "reshape"))
        super().__init__("reshape", spellings=spellings, signature=signature, library="numpy")

    def primal(self, step: Step) -> Expr:
        return _np("reshape", Var(step.args[0]), Lit(step.params[0]))

    def show(self, step: Step, name: Name) -> str:
        return f"reshape({name(step.args[0])}, {step.params[0]})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        x = Var(step.args[0])
        back = _np("reshape", gbar, _np("shape", x))
        return [], [(0, _helper("_unbroadcast", back, x), None)]


class Subscript(Primitive):
    """x[index] for a constant basic index: params (canonical index,). Linear: Type 1."""

    type = 1
    explain = "Type 1 (linear): the adjoint is zbar placed back at the indexed positions"

    def __init__(self) -> None:
        super().__init__("index", library="numpy")

    def primal(self, step: Step) -> Expr:
        return Index(Var(step.args[0]), step.params[0])

    def show(self, step: Step, name: Name) -> str:
        return f"{name(step.args[0])}[{index_text(step.params[0])}]"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        x = Var(step.args[0])
        index = Lit(("index", step.params[0]))
        return [], [(0, _helper("_unindex", gbar, x, index), None)]


class Binary(Primitive):
    """np.logaddexp / np.maximum / np.minimum: params (consts,), a constant per operand or None
    where the operand is a variable."""

    type = 3
    kind = "call"
    broadcasting = True
    elementwise = True

    def __init__(self, fn: str, explain: str) -> None:
        signature = (Param("x1", "operand"), Param("x2", "operand"))
        spellings = (("numpy", fn),)
        super().__init__(fn, spellings=spellings, signature=signature, fresh=True, library="numpy")
        self.fn, self.explain = fn, explain

    def primal(self, step: Step) -> Expr:
        return _np(self.fn, *_operands(step, step.params[0]))

    def show(self, step: Step, name: Name) -> str:
        ops = [name(a) for a in step.args]
        shown = [ops.pop(0) if c is None else show_number(c) for c in step.params[0]]
        return f"{self.fn}({', '.join(shown)})"

    def partial(self, step: Step, i: int) -> Expr:
        a, b = _operands(step, step.params[0])
        k = _positions(step.params[0])[i]
        mine, other = (a, b) if k == 0 else (b, a)
        if self.fn == "logaddexp":
            # sigmoid(mine - other) rather than exp(mine - z): a gradient that does not need
            # the value then skips computing logaddexp altogether. Written sigmoid(-m) with
            # m = other - mine, so that m is one subtraction (or, for the loss's
            # logaddexp(0, -margin), the margin itself once the double negation is gone).
            exponent = neg(mine) if other == Const(0) else BinOp("-", other, mine)
            return _helper("_sigmoid_neg", exponent)
        # 1 where mine wins, 0 where it loses, 1/2 at a tie, in the operands' dtype
        ahead = BinOp("-", mine, other) if self.fn == "maximum" else BinOp("-", other, mine)
        return BinOp("*", Const(0.5), BinOp("+", _np("sign", ahead), ONE))


class Clip(Primitive):
    """np.clip(x, lo, hi) with constant bounds (None for none): params (lo, hi)."""

    type = 3
    kind = "call"
    explain = "Type 3 (unary): the slope is 1 inside [lo, hi] and 0 outside"
    elementwise = True

    def __init__(self) -> None:
        signature = (
            Param("a", "array"),
            Param("a_min", "static", "bound", optional=True),
            Param("a_max", "static", "bound", optional=True),
        )
        spellings = (("numpy", "clip"), ("method", "clip"))
        super().__init__(
            "clip", spellings=spellings, signature=signature, fresh=True, library="numpy"
        )

    def primal(self, step: Step) -> Expr:
        lo, hi = step.params
        return _np("clip", Var(step.args[0]), Lit(lo), Lit(hi))

    def show(self, step: Step, name: Name) -> str:
        lo, hi = step.params
        return f"clip({name(step.args[0])}, {lo}, {hi})"

    def partial(self, step: Step, i: int) -> Expr:
        lo, hi = step.params
        x = Var(step.args[0])
        inside: Expr | None = None
        for op, bound in ((">=", lo), ("<=", hi)):
            if bound is not None:
                test = BinOp(op, x, Const(bound))
                inside = test if inside is None else BinOp("*", inside, test)
        return inside if inside is not None else ONE


class Where(Primitive):
    """np.where(cond, a, b): params (consts,) for the operands (cond, a, b); cond is not
    differentiated. Linear in a and b: Type 1."""

    type = 1
    kind = "call"
    broadcasting = True
    explain = "Type 1 (linear): zbar flows to a where cond holds and to b elsewhere"

    def __init__(self) -> None:
        signature = (Param("condition", "condition"), Param("x", "operand"), Param("y", "operand"))
        spellings = (("numpy", "where"),)
        super().__init__(
            "where", spellings=spellings, signature=signature, fresh=True, library="numpy"
        )

    def primal(self, step: Step) -> Expr:
        return _np("where", *_operands(step, step.params[0]))

    def show(self, step: Step, name: Name) -> str:
        ops = [name(a) for a in step.args]
        shown = [ops.pop(0) if c is None else show_number(c) for c in step.params[0]]
        return f"where({', '.join(shown)})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        cond = _operands(step, step.params[0])[0]
        edges: list[Edge] = []
        for i, k in enumerate(_positions(step.params[0])):
            if k == 1:
                edges.append((i, _np("where", cond, gbar, Const(0.0)), None))
            elif k == 2:
                edges.append((i, _np("where", cond, Const(0.0), gbar), None))
        return [], edges


class Compare(Primitive):
    """`a op b` for a condition of np.where: params (op, consts). Not differentiated."""

    type = 3
    explain = "a comparison is piecewise constant: its partials are 0"
    elementwise = True
    differentiated = False

    def __init__(self) -> None:
        super().__init__("compare")

    def primal(self, step: Step) -> Expr:
        a, b = _operands(step, step.params[1])
        return BinOp(step.params[0], a, b)

    def show(self, step: Step, name: Name) -> str:
        ops = [name(a) for a in step.args]
        a, b = (ops.pop(0) if c is None else show_number(c) for c in step.params[1])
        return f"{a} {step.params[0]} {b}"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        return [], []


class Extremum(Primitive):
    """max(a, b, ...) / min(a, b, ...) of two or more numbers: params (consts,). The adjoint
    goes to the argument the builtin returns, the first of equal ones: each later argument is
    chosen only when strictly better, as the builtin's loop chooses."""

    type = 3
    kind = "call"

    def __init__(self, fn: str, better: str) -> None:
        signature = (Param("args", "operands", least=2),)
        spellings = (("builtins", fn),)
        tex = rf"\{fn}"
        super().__init__(fn, spellings=spellings, signature=signature, tex=tex, library="builtins")
        self.fn, self.better = fn, better
        most = "largest" if better == ">" else "smallest"
        self.explain = f"Type 3: the {most} argument gets zbar (the first of equal ones)"

    def primal(self, step: Step) -> Expr:
        return Call("builtins", self.fn, tuple(_operands(step, step.params[0])))

    def show(self, step: Step, name: Name) -> str:
        ops = [name(a) for a in step.args]
        shown = [ops.pop(0) if c is None else show_number(c) for c in step.params[0]]
        return f"{self.fn}({', '.join(shown)})"

    def partial(self, step: Step, i: int) -> Expr:
        operands = _operands(step, step.params[0])
        k = _positions(step.params[0])[i]
        mine = operands[k]
        tests = [BinOp(self.better, mine, other) for other in operands[:k]]
        tests += [BinOp(self.better + "=", mine, other) for other in operands[k + 1 :]]
        chosen = tests[0]
        for test in tests[1:]:
            chosen = BinOp("*", chosen, test)
        return chosen


# ---------------------------------------------------------------------------------------------
# More functions of one argument: math's only, and the piecewise constant ones
# ---------------------------------------------------------------------------------------------


class MathUnary(Unary):
    """A function of one argument that math spells and numpy does not (erf, erfc)."""

    def __init__(self, name: str, **kw: object) -> None:
        super().__init__(name, numpy_name=name, **kw)  # type: ignore[arg-type]
        self.spellings = tuple(s for s in self.spellings if s[0] != "numpy")


class Flat(Unary):
    """A piecewise constant function of one argument (floor, ceil, trunc, round, sign): its
    partial is 0 wherever it has one, so its edge carries nothing back."""

    differentiated = False

    def __init__(self, name: str, **kw: object) -> None:
        super().__init__(
            name,
            derivative=lambda u, y, f: Const(0),
            formula="0 (piecewise constant)",
            **kw,  # type: ignore[arg-type]
        )

    def partial(self, step: Step, i: int) -> Expr:
        return Const(0)

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        return [], []


# ---------------------------------------------------------------------------------------------
# Functions of two arguments, spelled by math, numpy, a builtin or an operator
# ---------------------------------------------------------------------------------------------

# (a, b, z, maths) -> (da, db): the partials by each operand, None for one that is 0 everywhere
# (its edge carries nothing back); maths is the library they call, 'math' or 'numpy'.
PairPartials = Callable[[Expr, Expr, Expr, str], "tuple[Expr | None, Expr | None]"]


def _shown(step: Step, name: Name, consts: tuple) -> list[str]:
    """The operands of a call-like step as the lecture writes them."""
    ops = [name(a) for a in step.args]
    return [ops.pop(0) if c is None else show_number(c) for c in consts]


class Pair(Primitive):
    """f(a, b), elementwise: params (lib, maths, consts), lib the library the source spelled
    ('math', 'numpy', 'builtins' or 'operator'), maths the library the partials call."""

    type = 3
    kind = "call"
    broadcasting = True
    elementwise = True
    per_library = True

    def __init__(
        self,
        name: str,
        *,
        spellings: Iterable[tuple[str, str]],
        partials: PairPartials,
        explain: str,
        operator: str = "",
        fails: Callable[[str], bool] = lambda lib: True,
        differentiated: bool = True,
        tex: str = "",
        shared: Callable[[Expr, Expr], Expr] | None = None,
    ) -> None:
        signature = (Param("x1", "operand"), Param("x2", "operand"))
        super().__init__(name, spellings=spellings, signature=signature, fresh=True, tex=tex)
        self.partials = partials
        self.explain = explain
        self.operator = operator
        self.fails = fails
        self.differentiated = differentiated
        # In math code, a value both partials read, computed once before them: the partials
        # function then gets it in place of z, with maths 'shared'.
        self.shared = shared
        self.called: dict[str, str] = {}
        for lib, fn in self.spellings:
            self.called.setdefault(lib, fn)

    def library(self, step: Step) -> str | None:
        lib = step.params[0]
        return step.params[1] if lib == "operator" else lib

    def may_fail(self, step: Step) -> bool:
        return self.fails(step.params[0])

    def primal(self, step: Step) -> Expr:
        lib = step.params[0]
        a, b = _operands(step, step.params[-1])
        if lib == "operator" or (lib == "builtins" and self.operator):
            return BinOp(self.operator, a, b)  # pow(a, b) is a ** b
        return Call(lib, self.called[lib], (a, b))

    def show(self, step: Step, name: Name) -> str:
        lib = step.params[0]
        a, b = _shown(step, name, step.params[-1])
        if lib == "operator":
            return f"{a}^{b}" if self.operator == "**" else f"{a} {self.operator} {b}"
        return f"{self.called[lib]}({a}, {b})"

    def _partials(self, step: Step) -> tuple[Expr | None, Expr | None]:
        a, b = _operands(step, step.params[-1])
        return self.partials(a, b, Var(step.index), step.params[1])

    def partial(self, step: Step, i: int) -> Expr:
        d = self._partials(step)[_positions(step.params[-1])[i]]
        return Const(0) if d is None else d

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        a, b = _operands(step, step.params[-1])
        temps: list[TempDef] = []
        if self.shared is not None and step.params[1] == "math":
            t = fresh()
            temps.append((t, self.shared(a, b)))
            partials = self.partials(a, b, t, "shared")
        else:
            partials = self._partials(step)
        edges: list[Edge] = []
        for i, k in enumerate(_positions(step.params[-1])):
            d = partials[k]
            if d is not None:
                edges.append((i, mul(gbar, d), d))
        return (temps, edges) if edges else ([], [])


def _where(test: Expr, a: Expr, b: Expr) -> Expr:
    return _np("where", test, a, b)


def _log_of(x: Expr, maths: str) -> Expr:
    """log(x): a number when x is a positive one."""
    if isinstance(x, Const) and x.value > 0:
        return Const(math.log(x.value))
    return Call(maths, "log", (x,))


def _power_term(a: Expr, p: Number) -> Expr:
    """p * a^(p-1) for a constant p."""
    if p == 0:
        return Const(0)
    return mul(Const(p), ONE if p == 1 else power(a, p - 1))


def _pow_partials(a: Expr, b: Expr, z: Expr, maths: str) -> tuple[Expr | None, Expr | None]:
    """d(a^b)/da = b a^(b-1), 0 where b = 0 (a^0 is 1 even at a = 0) and +inf at a = 0 for
    0 < b < 1; d(a^b)/db = a^b log(a), 0 at a = 0 and nan for a < 0 (a^b is not real near
    such a b)."""
    inf, nan = Const(math.inf), Const(math.nan)
    if isinstance(b, Const):
        da = _power_term(a, b.value)
        if maths == "math" and 0 < b.value < 1:
            da = Select(a, da, inf)
    elif maths == "numpy":
        da = mul(b, BinOp("**", a, _where(BinOp("==", b, Const(0)), ONE, BinOp("-", b, ONE))))
    else:
        normal = mul(b, BinOp("**", a, BinOp("-", b, ONE)))
        regular = BinOp("+", BinOp("!=", a, Const(0)), BinOp(">=", b, ONE))
        da = Select(regular, normal, Select(BinOp("==", b, Const(0)), Const(0.0), inf))
    if isinstance(a, Const):
        c = a.value
        db: Expr = mul(z, Const(math.log(c))) if c > 0 else Const(0.0) if c == 0 else nan
    elif maths == "numpy":
        db = _helper("_times_log", z, a)
    else:
        db = Select(
            BinOp(">", a, Const(0)),
            mul(z, Call("math", "log", (a,))),
            Select(BinOp("==", a, Const(0)), Const(0.0), nan),
        )
    return da, db


def _atan2_partials(a: Expr, b: Expr, z: Expr, maths: str) -> tuple[Expr, Expr]:
    """atan2(a, b) = the angle of (b, a): d/da = b / r^2, d/db = -a / r^2 with r = hypot(a, b)
    (divided by r twice, so r^2 cannot underflow), 0 at the origin."""
    if maths == "numpy":
        return _helper("_over_hypot2", b, a, b), _helper("_over_hypot2", neg(a), a, b)
    r = z if maths == "shared" else Call("math", "hypot", (a, b))
    da = Select(r, div(div(b, r), r), Const(0.0))
    db = Select(r, neg(div(div(a, r), r)), Const(0.0))
    return da, db


def _hypot_partials(a: Expr, b: Expr, z: Expr, maths: str) -> tuple[Expr, Expr]:
    """d hypot(a, b)/da = a / hypot(a, b), 0 at the origin (as abs has 0 at 0)."""
    if maths == "numpy":
        safe = _where(BinOp("==", z, Const(0)), ONE, z)
        return div(a, safe), div(b, safe)
    return Select(z, div(a, z), Const(0.0)), Select(z, div(b, z), Const(0.0))


def _copysign_partials(a: Expr, b: Expr, z: Expr, maths: str) -> tuple[Expr, None]:
    """copysign(a, b) = |a| sign(b): d/da = sign(a) copysign(1, b), 0 at a = 0; d/db = 0."""
    if isinstance(b, Const):
        sign = call("numpy" if maths == "numpy" else "math", "sign", a)
        return mul(sign, Const(math.copysign(1.0, b.value))), None
    if maths == "numpy":
        return mul(_np("sign", a), _np("copysign", ONE, b)), None
    return mul(call("math", "sign", a), Call("math", "copysign", (ONE, b))), None


def _mod_partials(a: Expr, b: Expr, z: Expr, maths: str) -> tuple[Expr, Expr]:
    """a % b = a - b * (a // b) with a // b piecewise constant: d/da = 1, d/db = -(a // b)."""
    return ONE, neg(BinOp("//", a, b))


def _divide_partials(a: Expr, b: Expr, z: Expr, maths: str) -> tuple[Expr, Expr]:
    """d(a / b)/da = 1 / b, d(a / b)/db = -a / b / b (b * b could overflow)."""
    return div(ONE, b), neg(div(div(a, b), b))


class LogBase(Primitive):
    """math.log(x, base): params (consts,). Reached by `math.log` called with two arguments."""

    type = 3
    kind = "call"
    explain = "Type 3: d/dx log_b(x) = 1 / (x log b), d/db log_b(x) = -log_b(x) / (b log b)"

    def __init__(self) -> None:
        signature = (Param("x", "operand"), Param("base", "operand"))
        super().__init__(
            "logbase", signature=signature, overloads=(("math", "log"),), library="math"
        )

    def may_fail(self, step: Step) -> bool:
        return True  # x <= 0, base <= 0 or base = 1

    def primal(self, step: Step) -> Expr:
        # What math.log(x, base) computes, log(x) / log(base), in the one-argument form that
        # numba compiles too.
        x, base = _operands(step, step.params[0])
        return BinOp("/", Call("math", "log", (x,)), _log_of(base, "math"))

    def show(self, step: Step, name: Name) -> str:
        x, base = _shown(step, name, step.params[0])
        return f"log({x}, {base})"

    def partial(self, step: Step, i: int) -> Expr:
        x, base = _operands(step, step.params[0])
        log_base = _log_of(base, "math")
        if _positions(step.params[0])[i] == 0:
            return div(ONE, mul(x, log_base))
        return neg(div(Var(step.index), mul(base, log_base)))


# ---------------------------------------------------------------------------------------------
# More arrays: reductions, norms, products, joins, shapes, linear algebra
# ---------------------------------------------------------------------------------------------


def _reduce_signature() -> tuple[Param, ...]:
    return (
        Param("a", "array"),
        Param("axis", "static", "axis", optional=True),
        Param("keepdims", "static", "keepdims", optional=True, convert=bool),
    )


def _reduce_keywords(axis: object, keepdims: object) -> tuple[tuple[str, Expr], ...]:
    keywords: list[tuple[str, Expr]] = []
    if axis is not None:
        keywords.append(("axis", Lit(axis)))
    if keepdims:
        keywords.append(("keepdims", Lit(True)))
    return tuple(keywords)


class Extreme(Primitive):
    """np.max / np.min over all axes or `axis=` (np.amax, np.amin, x.max(), x.min()): params
    (axis, keepdims). zbar is shared equally among the elements equal to the extremum."""

    type = 3
    kind = "call"

    def __init__(self, name: str, fn: str) -> None:
        spellings = (("numpy", fn), ("numpy", name), ("method", fn))
        super().__init__(
            name, spellings=spellings, signature=_reduce_signature(), fresh=True, library="numpy"
        )
        self.fn = fn
        most = "largest" if fn == "max" else "smallest"
        self.explain = f"Type 3: zbar is shared equally among the {most} elements (ties split)"

    def shape_operands(self, step: Step) -> tuple[int, ...] | None:
        axis, keepdims = step.params
        return () if axis is None and not keepdims else None

    def primal(self, step: Step) -> Expr:
        return Call("numpy", self.fn, (Var(step.args[0]),), _reduce_keywords(*step.params))

    def show(self, step: Step, name: Name) -> str:
        axis, keepdims = step.params
        keep = ", keepdims=True" if keepdims else ""
        return f"{self.fn}({name(step.args[0])}{_kw(axis)}{keep})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        axis, keepdims = step.params
        x, z = Var(step.args[0]), Var(step.index)
        return [], [(0, _helper("_unextreme", gbar, x, z, Lit(axis), Lit(keepdims)), None)]


class Prod(Reduction):
    """np.prod(x, axis) and x.prod(): params (axis, keepdims). Each factor's adjoint is zbar
    times the product of the others, exact where factors are zero."""

    type = 2
    explain = "Type 2 (product): each factor's adjoint is zbar times the product of the others"

    def __init__(self) -> None:
        super().__init__("prod", "_unprod")


def _norm_order(value: object) -> object:
    if value not in (None, "fro"):
        raise ValueError(
            (f"ord={value!r} is not supported", "leave ord out (the 2-norm) or write ord='fro'")
        )
    return value


class Norm(Primitive):
    """np.linalg.norm(x, ord, axis, keepdims) for the 2-norm of vectors and the Frobenius norm:
    params (ord, axis, keepdims). The adjoint is zbar * x / z, 0 where z = 0."""

    type = 3
    kind = "call"
    explain = "Type 3: d||x||/dx = x / ||x||, 0 at x = 0"

    def __init__(self) -> None:
        signature = (
            Param("x", "array"),
            Param("ord", "static", "ord", optional=True, text=True, convert=_norm_order),
            Param("axis", "static", "axis", optional=True),
            Param("keepdims", "static", "keepdims", optional=True, convert=bool),
        )
        spellings = (("numpy", "linalg.norm"),)
        super().__init__(
            "norm", spellings=spellings, signature=signature, fresh=True, library="numpy"
        )

    def shape_operands(self, step: Step) -> tuple[int, ...] | None:
        _, axis, keepdims = step.params
        return () if axis is None and not keepdims else None

    def primal(self, step: Step) -> Expr:
        order, axis, keepdims = step.params
        keywords = (("ord", Lit(order)),) if order is not None else ()
        keywords += _reduce_keywords(axis, keepdims)
        return Call("numpy", "linalg.norm", (Var(step.args[0]),), keywords)

    def show(self, step: Step, name: Name) -> str:
        order, axis, keepdims = step.params
        extra = (f", ord={order!r}" if order else "") + _kw(axis)
        return f"norm({name(step.args[0])}{extra}{', keepdims=True' if keepdims else ''})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        _, axis, keepdims = step.params
        x, z = Var(step.args[0]), Var(step.index)
        return [], [(0, _helper("_unnorm", gbar, x, z, Lit(axis), Lit(keepdims)), None)]


def _einsum_subscripts(value: object) -> object:
    text = str(value)
    inputs, arrow, output = text.partition("->")
    letters = set(inputs.replace(",", "") + output) - {" "}
    if not arrow or "->" in output or not all(c.isalpha() and c.isascii() for c in letters):
        raise ValueError(
            (
                f"subscripts {text!r} are not supported",
                "write explicit subscripts of letters with `->`, e.g. 'ij,jk->ik'",
            )
        )
    return text


class Einsum(Primitive):
    """np.einsum(subscripts, *operands) with explicit subscripts ('ij,jk->ik'): params
    (subscripts,). Multilinear: each operand's adjoint is the einsum of zbar with the others."""

    type = 2
    kind = "call"
    explain = "Type 2 (product): each operand's adjoint is zbar contracted with the others"

    def __init__(self) -> None:
        signature = (
            Param("subscripts", "static", "subscripts", text=True, convert=_einsum_subscripts),
            Param("operands", "arrays", least=1),
        )
        spellings = (("numpy", "einsum"),)
        super().__init__(
            "einsum", spellings=spellings, signature=signature, fresh=True, library="numpy"
        )

    def primal(self, step: Step) -> Expr:
        return _np("einsum", Lit(step.params[0]), *(Var(a) for a in step.args))

    def show(self, step: Step, name: Name) -> str:
        operands = ", ".join(name(a) for a in step.args)
        return f"einsum({step.params[0]!r}, {operands})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        operands = tuple(Var(a) for a in step.args)
        subscripts = Lit(step.params[0])
        return [], [
            (k, _helper("_uneinsum", gbar, subscripts, Const(k), *operands), None)
            for k in range(len(step.args))
        ]


class Join(Primitive):
    """np.concatenate(seq, axis), np.vstack(seq), np.hstack(seq): params ([axis,] consts), a
    constant per item of seq or None where the item is a variable. Linear: Type 1."""

    type = 1
    kind = "call"
    explain = "Type 1 (linear): each item's adjoint is its slice of zbar"

    def __init__(self, fn: str) -> None:
        items = "arrays" if fn == "concatenate" else "tup"
        signature: tuple[Param, ...] = (Param(items, "sequence"),)
        if fn == "concatenate":
            signature += (Param("axis", "static", "axis", optional=True, default=0),)
        spellings = (("numpy", fn),)
        super().__init__(fn, spellings=spellings, signature=signature, fresh=True, library="numpy")
        self.fn = fn

    def _axis(self, step: Step) -> object:
        return step.params[0] if self.fn == "concatenate" else None

    def primal(self, step: Step) -> Expr:
        items = Seq(tuple(_operands(step, step.params[-1])))
        axis = self._axis(step)
        keywords = (("axis", Lit(axis)),) if self.fn == "concatenate" and axis != 0 else ()
        return Call("numpy", self.fn, (items,), keywords)

    def show(self, step: Step, name: Name) -> str:
        items = ", ".join(_shown(step, name, step.params[-1]))
        axis = f", axis={step.params[0]}" if self.fn == "concatenate" and step.params[0] else ""
        return f"{self.fn}([{items}]{axis})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        items = Seq(tuple(_operands(step, step.params[-1])))
        how, axis = Lit(self.fn), Lit(self._axis(step))
        return [], [
            (i, _helper("_unjoin", gbar, how, axis, Const(k), items), None)
            for i, k in enumerate(_positions(step.params[-1]))
        ]


class Stack(Primitive):
    """np.stack(seq, axis) and np.array([a, b, ...]) (stacked on a new first axis): params
    ([axis,] consts). Linear: each item's adjoint is its slice of zbar."""

    type = 1
    kind = "call"
    explain = "Type 1 (linear): each item's adjoint is its slice of zbar"

    def __init__(self, fn: str) -> None:
        if fn == "stack":
            signature: tuple[Param, ...] = (
                Param("arrays", "sequence"),
                Param("axis", "static", "axis", optional=True, default=0),
            )
        else:
            signature = (Param("object", "sequence"),)
            self.constants_ok = True  # an array of numbers, computed when the function runs
        spellings = (("numpy", fn),)
        super().__init__(fn, spellings=spellings, signature=signature, fresh=True, library="numpy")
        self.fn = fn

    def _axis(self, step: Step) -> object:
        return step.params[0] if self.fn == "stack" else 0

    def primal(self, step: Step) -> Expr:
        items = Seq(tuple(_operands(step, step.params[-1])))
        axis = self._axis(step)
        keywords = (("axis", Lit(axis)),) if axis != 0 else ()
        return Call("numpy", self.fn, (items,), keywords)

    def show(self, step: Step, name: Name) -> str:
        items = ", ".join(_shown(step, name, step.params[-1]))
        axis = self._axis(step)
        return f"{self.fn}([{items}]" + (f", axis={axis})" if axis != 0 else ")")

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        axis = (("axis", Lit(self._axis(step))),)
        return [], [
            (i, Call("numpy", "take", (gbar, Const(k)), axis), None)
            for i, k in enumerate(_positions(step.params[-1]))
        ]


class Same(Primitive):
    """x cast or reshaped without changing its values (np.asarray, np.float64, np.ravel,
    np.atleast_1d, np.atleast_2d): params (). Linear: the adjoint is zbar in x's shape."""

    type = 1
    kind = "call"
    explain = "Type 1 (linear): the adjoint is zbar in x's shape"

    def __init__(self, fn: str, spellings: tuple[tuple[str, str], ...], reshapes: bool) -> None:
        signature = (Param("a", "array"),)
        super().__init__(fn, spellings=spellings, signature=signature, library="numpy")
        self.fn = fn
        self.reshapes = reshapes
        self.elementwise = not reshapes

    def primal(self, step: Step) -> Expr:
        return _np(self.fn, Var(step.args[0]))

    def show(self, step: Step, name: Name) -> str:
        return f"{self.fn}({name(step.args[0])})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        x = Var(step.args[0])
        back = _np("reshape", gbar, _np("shape", x)) if self.reshapes else gbar
        helper = "_as_grad" if self.fn == "float64" else "_unbroadcast"
        return [], [(0, _helper(helper, back, x), None)]


class Outer(Primitive):
    """np.outer(a, b) of the flattened a and b: params (). Bilinear: Type 2."""

    type = 2
    kind = "call"
    explain = "Type 2 (product): abar = zbar @ b, bbar = a @ zbar (flattened, then reshaped)"

    def __init__(self) -> None:
        signature = (Param("a", "array"), Param("b", "array"))
        spellings = (("numpy", "outer"),)
        super().__init__(
            "outer", spellings=spellings, signature=signature, fresh=True, library="numpy"
        )

    def primal(self, step: Step) -> Expr:
        return _np("outer", Var(step.args[0]), Var(step.args[1]))

    def show(self, step: Step, name: Name) -> str:
        return f"outer({name(step.args[0])}, {name(step.args[1])})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        a, b = Var(step.args[0]), Var(step.args[1])
        abar = _np("reshape", BinOp("@", gbar, _np("ravel", b)), _np("shape", a))
        bbar = _np("reshape", BinOp("@", _np("ravel", a), gbar), _np("shape", b))
        return [], [
            (0, _helper("_as_grad", abar, a), None),
            (1, _helper("_as_grad", bbar, b), None),
        ]


def _tensordot_axes(value: object) -> object:
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, tuple) and len(value) == 2:
        pair = tuple(v if isinstance(v, tuple) else (v,) for v in value)
        if all(isinstance(a, int) for v in pair for a in v) and len(pair[0]) == len(pair[1]):
            return pair
    raise ValueError(
        (f"axes={value!r} is not supported", "write a count (axes=2) or two lists of axes")
    )


class Tensordot(Primitive):
    """np.tensordot(a, b, axes): params (axes,). Bilinear: Type 2."""

    type = 2
    kind = "call"
    explain = "Type 2 (product): each factor's adjoint is zbar contracted with the other factor"

    def __init__(self) -> None:
        signature = (
            Param("a", "array"),
            Param("b", "array"),
            Param("axes", "static", "axes", optional=True, default=2, convert=_tensordot_axes),
        )
        spellings = (("numpy", "tensordot"),)
        super().__init__(
            "tensordot", spellings=spellings, signature=signature, fresh=True, library="numpy"
        )

    def primal(self, step: Step) -> Expr:
        a, b = Var(step.args[0]), Var(step.args[1])
        return Call("numpy", "tensordot", (a, b), (("axes", Lit(step.params[0])),))

    def show(self, step: Step, name: Name) -> str:
        a, b = name(step.args[0]), name(step.args[1])
        return f"tensordot({a}, {b}, axes={step.params[0]})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        a, b = Var(step.args[0]), Var(step.args[1])
        axes = Lit(step.params[0])
        return [], [(k, _helper("_untensordot", gbar, a, b, axes, Const(k)), None) for k in (0, 1)]


def _count(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError((f"repeats={value!r} is not supported", "repeat every element as often"))


class Repeat(Primitive):
    """np.repeat(x, repeats, axis) and x.repeat(...), an int count: params (repeats, axis).
    Linear: the adjoint sums zbar over each element's copies."""

    type = 1
    kind = "call"
    explain = "Type 1 (linear): the adjoint sums zbar over each element's copies"

    def __init__(self) -> None:
        signature = (
            Param("a", "array"),
            Param("repeats", "static", "repeats", convert=_count),
            Param("axis", "static", "axis", optional=True),
        )
        spellings = (("numpy", "repeat"), ("method", "repeat"))
        super().__init__(
            "repeat", spellings=spellings, signature=signature, fresh=True, library="numpy"
        )

    def primal(self, step: Step) -> Expr:
        repeats, axis = step.params
        keywords = (("axis", Lit(axis)),) if axis is not None else ()
        return Call("numpy", "repeat", (Var(step.args[0]), Const(repeats)), keywords)

    def show(self, step: Step, name: Name) -> str:
        repeats, axis = step.params
        return f"repeat({name(step.args[0])}, {repeats}{_kw(axis)})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        repeats, axis = step.params
        x = Var(step.args[0])
        return [], [(0, _helper("_unrepeat", gbar, x, Const(repeats), Lit(axis)), None)]


def _negated(shift: object) -> object:
    return tuple(-s for s in shift) if isinstance(shift, tuple) else -shift  # type: ignore[operator]


class Roll(Primitive):
    """np.roll(x, shift, axis): params (shift, axis). Linear: the adjoint rolls back."""

    type = 1
    kind = "call"
    explain = "Type 1 (linear): the adjoint is zbar rolled back"

    def __init__(self) -> None:
        signature = (
            Param("a", "array"),
            Param("shift", "static", "shift"),
            Param("axis", "static", "axis", optional=True),
        )
        spellings = (("numpy", "roll"),)
        super().__init__(
            "roll", spellings=spellings, signature=signature, fresh=True, library="numpy"
        )

    def primal(self, step: Step) -> Expr:
        shift, axis = step.params
        keywords = (("axis", Lit(axis)),) if axis is not None else ()
        return Call("numpy", "roll", (Var(step.args[0]), Lit(shift)), keywords)

    def show(self, step: Step, name: Name) -> str:
        shift, axis = step.params
        return f"roll({name(step.args[0])}, {shift}{_kw(axis)})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        shift, axis = step.params
        x = Var(step.args[0])
        back = Call("numpy", "roll", (gbar, Lit(_negated(shift))), (("axis", Lit(axis)),))
        return [], [(0, _helper("_unbroadcast", back, x), None)]


class LinearAlgebra(Primitive):
    """np.linalg.solve(a, b), inv(a), det(a): params ()."""

    type = 3
    kind = "call"

    def __init__(self, fn: str, explain: str) -> None:
        signature: tuple[Param, ...] = (Param("a", "array"),)
        if fn == "solve":
            signature += (Param("b", "array"),)
        spellings = (("numpy", f"linalg.{fn}"),)
        super().__init__(fn, spellings=spellings, signature=signature, fresh=True, library="numpy")
        self.fn = fn
        self.explain = explain

    def may_fail(self, step: Step) -> bool:
        return self.fn != "det"  # a singular matrix: LinAlgError

    def primal(self, step: Step) -> Expr:
        return _np(f"linalg.{self.fn}", *(Var(a) for a in step.args))

    def show(self, step: Step, name: Name) -> str:
        return f"{self.fn}({', '.join(name(a) for a in step.args)})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        z = Var(step.index)
        a = Var(step.args[0])
        if self.fn == "inv":
            return [], [(0, _helper("_uninv", gbar, z), None)]
        if self.fn == "det":
            return [], [(0, _helper("_undet", gbar, a), None)]
        b = Var(step.args[1])
        t = fresh()
        abar = _helper("_unbroadcast", _helper("_unsolve_a", t, a, z), a)
        return [(t, _helper("_unsolve", gbar, a, z))], [
            (0, abar, None),
            (1, _helper("_unbroadcast", t, b), None),
        ]


class Slogdet(Primitive):
    """np.linalg.slogdet(a)[k]: params (k,). The sign (k = 0) is not differentiated; the log
    of |det a| (k = 1) has the adjoint zbar * inv(a)^T."""

    type = 3
    kind = "call"
    indexed = True
    parts = 2
    explain = "Type 3: d log|det a|/da = inv(a)^T; the sign is piecewise constant"

    def __init__(self) -> None:
        signature = (Param("a", "array"),)
        spellings = (("numpy", "linalg.slogdet"),)
        super().__init__(
            "slogdet", spellings=spellings, signature=signature, fresh=True, library="numpy"
        )

    def shape_operands(self, step: Step) -> tuple[int, ...] | None:
        return None

    def primal(self, step: Step) -> Expr:
        return Index(_np("linalg.slogdet", Var(step.args[0])), ("i", step.params[0]))

    def show(self, step: Step, name: Name) -> str:
        return f"slogdet({name(step.args[0])})[{step.params[0]}]"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        if step.params[0] % 2 == 0:
            return [], []
        return [], [(0, _helper("_unslogdet", gbar, Var(step.args[0])), None)]


_INTEGER = "an int read from the shape: not differentiated"


class Constant(Primitive):
    """A value that is piecewise constant in its operand, so nothing flows back: len(x),
    x.size, x.ndim (ints), np.zeros_like(x), np.ones_like(x). Params ()."""

    type = 3
    kind = "call"
    differentiated = False

    def __init__(
        self,
        name: str,
        spellings: tuple[tuple[str, str], ...],
        *,
        lib: str = "numpy",
        scalar: bool = True,
        explain: str = "",
    ) -> None:
        signature = (Param("a", "array"),)
        super().__init__(name, spellings=spellings, signature=signature, fresh=True, library=lib)
        self.lib = lib
        self.scalar = scalar  # the value is a number (an int), never an array
        self.elementwise = not scalar
        self.explain = explain or "piecewise constant: nothing flows back"

    def shape_operands(self, step: Step) -> tuple[int, ...] | None:
        return () if self.scalar else step.args

    def primal(self, step: Step) -> Expr:
        return Call(self.lib, self.name, (Var(step.args[0]),))

    def show(self, step: Step, name: Name) -> str:
        return f"{self.name}({name(step.args[0])})"

    def partial(self, step: Step, i: int) -> Expr:
        return Const(0)

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        return [], []


class Arange(Primitive):
    """np.arange(stop), np.arange(start, stop), np.arange(start, stop, step): params
    (consts,). The values start + k * step are linear in start and step (the adjoint of start
    is the sum of zbar, of step the sum of k * zbar); their count, the only thing stop
    changes, is piecewise constant, so stop's edge carries nothing back."""

    type = 1
    kind = "call"
    constants_ok = True
    explain = "Type 1 (linear in start and step): startbar = sum(zbar), stepbar = sum(k zbar)"

    def __init__(self) -> None:
        signature = (Param("args", "operands", least=1, most=3),)
        spellings = (("numpy", "arange"),)
        super().__init__(
            "arange", spellings=spellings, signature=signature, fresh=True, library="numpy"
        )

    def may_fail(self, step: Step) -> bool:
        consts = step.params[0]
        return len(consts) == 3 and not consts[2]  # a step of 0 divides by zero

    def primal(self, step: Step) -> Expr:
        return _np("arange", *_operands(step, step.params[0]))

    def show(self, step: Step, name: Name) -> str:
        return f"arange({', '.join(_shown(step, name, step.params[0]))})"

    def contributions(self, step, gbar, fresh):  # type: ignore[no-untyped-def]
        consts = step.params[0]
        edges: list[Edge] = []
        for i, k in enumerate(_positions(consts)):
            if len(consts) > 1 and k == 0:
                edges.append((i, _np("sum", gbar), None))
            elif k == 2:
                count = _np("arange", _np("size", gbar))
                edges.append((i, _np("sum", BinOp("*", gbar, count)), None))
        return [], edges


class Shape(Constant):
    """x.shape[k] and np.shape(x)[k], an int: params (k,). Not differentiated."""

    indexed = True

    def __init__(self) -> None:
        spellings = (("attribute", "shape"), ("numpy", "shape"))
        super().__init__("shape", spellings, explain=_INTEGER)

    def primal(self, step: Step) -> Expr:
        return Index(_np("shape", Var(step.args[0])), ("i", step.params[0]))

    def show(self, step: Step, name: Name) -> str:
        return f"{name(step.args[0])}.shape[{step.params[0]}]"


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------

TABLE: tuple[Primitive, ...] = (
    # Type 1 and Type 2: written with the arithmetic operators
    Affine("affine"),
    Product("product"),
    # Type 3: functions of one argument
    Unary(
        "sin",
        math_name="sin",
        numpy_name="sin",
        derivative=lambda u, y, f: f("cos", u),
        formula="cos(u)",
        tex=r"\sin",
    ),
    Unary(
        "cos",
        math_name="cos",
        numpy_name="cos",
        derivative=lambda u, y, f: neg(f("sin", u)),
        formula="-sin(u)",
        tex=r"\cos",
    ),
    Unary(
        "tan",
        math_name="tan",
        numpy_name="tan",
        derivative=lambda u, y, f: add(ONE, _sq(y)),
        formula="1 + tan(u)^2",
        tex=r"\tan",
    ),
    Unary(
        "exp",
        fails=lambda u: BinOp(">", u, Const(709)),
        math_name="exp",
        numpy_name="exp",
        derivative=lambda u, y, f: y,
        formula="exp(u)",
        tex=r"\exp",
    ),
    Unary(
        "log",
        fails=lambda u: BinOp("<=", u, Const(0)),
        math_name="log",
        numpy_name="log",
        derivative=lambda u, y, f: f("reciprocal", u),
        formula="1/u",
        tex=r"\ln",
    ),
    Unary(
        "sqrt",
        fails=lambda u: BinOp("<", u, Const(0)),
        math_name="sqrt",
        numpy_name="sqrt",
        derivative=lambda u, y, f: div(Const(0.5), y),
        formula="1/(2 sqrt(u))",
        singular=lambda u, y: (y, math.inf),
        tex=r"\sqrt{{{}}}",
    ),
    Unary(
        "tanh",
        math_name="tanh",
        numpy_name="tanh",
        derivative=lambda u, y, f: BinOp("-", ONE, _sq(y)),
        formula="1 - tanh(u)^2",
        tex=r"\tanh",
    ),
    Unary(
        "sinh",
        fails=_beyond(710),
        math_name="sinh",
        numpy_name="sinh",
        derivative=lambda u, y, f: f("cosh", u),
        formula="cosh(u)",
        tex=r"\sinh",
    ),
    Unary(
        "cosh",
        fails=_beyond(710),
        math_name="cosh",
        numpy_name="cosh",
        derivative=lambda u, y, f: f("sinh", u),
        formula="sinh(u)",
        tex=r"\cosh",
    ),
    Unary(
        "asin",
        fails=_beyond(1),
        math_name="asin",
        numpy_name="arcsin",
        also=(("numpy", "asin"),),
        derivative=lambda u, y, f: div(ONE, f("sqrt", BinOp("-", ONE, _sq(u)))),
        formula="1/sqrt(1 - u^2)",
        singular=lambda u, y: (_inside_unit(u, y), math.inf),
        tex=r"\arcsin",
    ),
    Unary(
        "acos",
        fails=_beyond(1),
        math_name="acos",
        numpy_name="arccos",
        also=(("numpy", "acos"),),
        derivative=lambda u, y, f: neg(div(ONE, f("sqrt", BinOp("-", ONE, _sq(u))))),
        formula="-1/sqrt(1 - u^2)",
        singular=lambda u, y: (_inside_unit(u, y), -math.inf),
        tex=r"\arccos",
    ),
    Unary(
        "atan",
        math_name="atan",
        numpy_name="arctan",
        also=(("numpy", "atan"),),
        derivative=lambda u, y, f: div(ONE, BinOp("+", ONE, _sq(u))),
        formula="1/(1 + u^2)",
        tex=r"\arctan",
    ),
    Unary(
        "log1p",
        fails=lambda u: BinOp("<=", u, Const(-1)),
        math_name="log1p",
        numpy_name="log1p",
        derivative=lambda u, y, f: f("reciprocal", BinOp("+", ONE, u)),
        formula="1/(1 + u)",
    ),
    Unary(
        "abs",
        math_name=None,
        numpy_name="abs",
        also=(("numpy", "absolute"), ("math", "fabs"), ("builtins", "abs")),
        derivative=lambda u, y, f: f("sign", u),
        formula="sign(u), 0 at 0",
        python=abs,
        tex="|{}|",
    ),
    Unary(
        "atanh",
        fails=_beyond(1, ">="),
        math_name="atanh",
        numpy_name="arctanh",
        also=(("numpy", "atanh"),),
        derivative=lambda u, y, f: f("reciprocal", BinOp("-", ONE, _sq(u))),
        formula="1/(1 - u^2)",
    ),
    Unary(
        "log2",
        fails=lambda u: BinOp("<=", u, Const(0)),
        math_name="log2",
        numpy_name="log2",
        derivative=lambda u, y, f: f("reciprocal", mul(Const(math.log(2)), u)),
        formula="1/(u log 2)",
        tex=r"\log_2",
    ),
    Unary(
        "log10",
        fails=lambda u: BinOp("<=", u, Const(0)),
        math_name="log10",
        numpy_name="log10",
        derivative=lambda u, y, f: f("reciprocal", mul(Const(math.log(10)), u)),
        formula="1/(u log 10)",
        tex=r"\log_{10}",
    ),
    Unary(
        "expm1",
        fails=lambda u: BinOp(">", u, Const(709)),
        math_name="expm1",
        numpy_name="expm1",
        derivative=lambda u, y, f: f("exp", u),
        formula="exp(u)",
    ),
    Unary(
        "square",
        fails=_beyond(1e154),
        math_name=None,
        numpy_name="square",
        derivative=lambda u, y, f: mul(Const(2), u),
        formula="2u",
        python=lambda v: v * v,
    ),
    ConstantPower("cpow"),
    # Arrays
    Reduction("sum", "_unsum"),
    Reduction("mean", "_unmean"),
    MatMul("matmul", (("numpy", "matmul"), ("operator", "@"))),
    MatMul("dot", (("numpy", "dot"), ("method", "dot"))),
    Transpose(),
    Reshape(),
    Subscript(),
    Binary("logaddexp", "Type 3: d/da logaddexp(a, b) = sigmoid(a - b)"),
    Binary("maximum", "Type 3: the larger operand gets zbar (half each at a tie)"),
    Binary("minimum", "Type 3: the smaller operand gets zbar (half each at a tie)"),
    Clip(),
    Where(),
    Compare(),
    # Builtins of several arguments
    Extremum("max", ">"),
    Extremum("min", "<"),
    # More functions of one argument
    Unary(
        "exp2",
        fails=True,
        math_name="exp2",
        numpy_name="exp2",
        derivative=lambda u, y, f: mul(Const(math.log(2)), y),
        formula="2^u log 2",
        python=getattr(math, "exp2", lambda v: 2.0**v),
    ),
    MathUnary(
        "erf",
        math_name="erf",
        derivative=lambda u, y, f: mul(Const(2 / math.sqrt(math.pi)), f("exp", neg(_sq(u)))),
        formula="2/sqrt(pi) exp(-u^2)",
        tex=r"\operatorname{erf}",
    ),
    MathUnary(
        "erfc",
        math_name="erfc",
        derivative=lambda u, y, f: mul(Const(-2 / math.sqrt(math.pi)), f("exp", neg(_sq(u)))),
        formula="-2/sqrt(pi) exp(-u^2)",
        tex=r"\operatorname{erfc}",
    ),
    Flat("floor", math_name="floor", numpy_name="floor", tex=r"\lfloor {} \rfloor"),
    Flat("ceil", math_name="ceil", numpy_name="ceil", tex=r"\lceil {} \rceil"),
    Flat("trunc", math_name="trunc", numpy_name="trunc"),
    Flat(
        "round",
        math_name=None,
        numpy_name="round",
        also=(("numpy", "around"), ("numpy", "rint"), ("builtins", "round")),
        python=round,
    ),
    Flat("sign", math_name=None, numpy_name="sign", python=lambda v: float((v > 0) - (v < 0))),
    # Functions of two arguments, and the operators ** % // between two values
    Pair(
        "pow",
        spellings=(("operator", "**"), ("math", "pow"), ("numpy", "power"), ("builtins", "pow")),
        partials=_pow_partials,
        explain="Type 3: d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log(a)",
        operator="**",
    ),
    Pair(
        "atan2",
        spellings=(("math", "atan2"), ("numpy", "arctan2"), ("numpy", "atan2")),
        partials=_atan2_partials,
        explain="Type 3: d atan2(a, b)/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2)",
        fails=lambda lib: False,
        shared=lambda a, b: Call("math", "hypot", (a, b)),
    ),
    Pair(
        "hypot",
        spellings=(("math", "hypot"), ("numpy", "hypot")),
        partials=_hypot_partials,
        explain="Type 3: d hypot(a, b)/da = a / hypot(a, b), 0 at the origin",
        fails=lambda lib: lib == "numpy",  # overflow: math gives inf, numpy warns
    ),
    Pair(
        "copysign",
        spellings=(("math", "copysign"), ("numpy", "copysign")),
        partials=_copysign_partials,
        explain="Type 3: d copysign(a, b)/da = sign(a) copysign(1, b), 0 at a = 0; d/db = 0",
        fails=lambda lib: False,
    ),
    Pair(
        "mod",
        spellings=(("operator", "%"), ("numpy", "mod"), ("numpy", "remainder")),
        partials=_mod_partials,
        explain="Type 3: a % b = a - b (a // b): d/da = 1, d/db = -(a // b)",
        operator="%",
    ),
    Pair(
        "floordiv",
        spellings=(("operator", "//"), ("numpy", "floor_divide")),
        partials=lambda a, b, z, maths: (None, None),
        explain="a // b is piecewise constant: nothing flows back",
        operator="//",
        differentiated=False,
    ),
    Pair(
        "divide",
        spellings=(("numpy", "divide"), ("numpy", "true_divide")),
        partials=_divide_partials,
        explain="Type 3: d(a/b)/da = 1/b, d(a/b)/db = -a/b^2",
    ),
    LogBase(),
    # More arrays
    Extreme("amax", "max"),
    Extreme("amin", "min"),
    Prod(),
    Norm(),
    Einsum(),
    Outer(),
    Tensordot(),
    Join("concatenate"),
    Join("vstack"),
    Join("hstack"),
    Stack("stack"),
    Stack("array"),
    Same("asarray", (("numpy", "asarray"),), reshapes=False),
    Same("float64", (("numpy", "float64"),), reshapes=False),
    Same("ravel", (("numpy", "ravel"), ("method", "ravel"), ("method", "flatten")), reshapes=True),
    Same("atleast_1d", (("numpy", "atleast_1d"),), reshapes=True),
    Same("atleast_2d", (("numpy", "atleast_2d"),), reshapes=True),
    Repeat(),
    Roll(),
    LinearAlgebra("solve", "Type 3: z = solve(a, b): bbar = solve(a^T, zbar), abar = -bbar z^T"),
    LinearAlgebra("inv", "Type 3: abar = -z^T zbar z^T"),
    LinearAlgebra("det", "Type 3: d det(a)/da = adj(a)^T, det(a) inv(a)^T for an invertible a"),
    Slogdet(),
    # Values that do not depend smoothly on their operands: nothing flows back
    Constant("len", (("builtins", "len"),), lib="builtins", explain=_INTEGER),
    Constant("size", (("attribute", "size"), ("numpy", "size")), explain=_INTEGER),
    Constant("ndim", (("attribute", "ndim"), ("numpy", "ndim")), explain=_INTEGER),
    Shape(),
    Constant("zeros_like", (("numpy", "zeros_like"),), scalar=False),
    Constant("ones_like", (("numpy", "ones_like"),), scalar=False),
    Arange(),
)

#: Spellings of functions of one argument that reach another entry when called with more.
OVERLOADS: dict[tuple[str, str], Primitive] = {s: p for p in TABLE for s in p.overloads}

#: Every primitive by its name in the trace (a step's op).
PRIMITIVES: dict[str, Primitive] = {p.name: p for p in TABLE}

#: How the source spells a call, (lib, name) -> primitive; lib is 'math', 'numpy', 'builtins',
#: 'method' (`x.f(...)`), 'attribute' (`x.T`) or 'operator' (`a @ b`).
SPELLINGS: dict[tuple[str, str], Primitive] = {s: p for p in TABLE for s in p.spellings}


def _spelled(lib: str, kind: str) -> dict[str, Primitive]:
    return {name: p for (where, name), p in SPELLINGS.items() if where == lib and p.kind == kind}


#: The unary functions' spellings per library, mapped to their names in the trace.
SOURCE_NAMES: dict[str, dict[str, str]] = {
    lib: {name: p.name for name, p in _spelled(lib, "unary").items()} for lib in ("math", "numpy")
}
#: The method forms of functions that take a signature (`x.sum(axis=0)`).
METHODS: dict[str, Primitive] = _spelled("method", "call")
#: Builtins the source may call without an import.
BUILTINS: dict[str, Primitive] = {n: p for (lib, n), p in SPELLINGS.items() if lib == "builtins"}
#: numpy calls whose value is a new array (or number) nothing else holds.
FRESH_CALLS = frozenset(n for (lib, n), p in SPELLINGS.items() if lib == "numpy" and p.fresh)
#: numpy's functions of one argument, elementwise: the value has the argument's shape.
ELEMENTWISE_CALLS = frozenset(SOURCE_NAMES["numpy"])
#: LaTeX for a call, by the name the code calls it by.
TEX: dict[str, str] = {n: p.tex for (lib, n), p in SPELLINGS.items() if p.tex and lib != "method"}


def fold(fn: str, lib: str, value: Number) -> Number:
    """Unary function `fn` of a constant, as the library the source calls computes it."""
    entry = PRIMITIVES[fn]
    assert isinstance(entry, Unary)
    return entry.fold(lib, value)


def rule(step: Step) -> Primitive:
    """The primitive of `step`'s op."""
    return PRIMITIVES[step.op]


def lib_of(step: Step) -> str | None:
    """The library a step's code calls ('math', 'numpy', 'builtins'), if any."""
    return PRIMITIVES[step.op].library(step)
