"""The one expression printer: Python source, the tables' text and LaTeX, as styles of one
precedence table (Python's own levels).

`Printer.render(expr, outer)` writes `expr` where its context binds at precedence `outer` (0:
nothing binds, as at the top of a line or inside a call's parentheses) and parenthesises it
when it binds more loosely. The styles differ in how they spell names, numbers, calls, powers
and comparisons, and in two habits of writing mathematics: the text and LaTeX styles
parenthesise a negation wherever it is an operand (`a * (-b)`), and let `a * b / c` stand for
`a * (b / c)` (only the right operand of `-`, `/` and, in LaTeX, `@` is parenthesised at equal
precedence), where Python needs the parentheses for the same bits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Protocol

from .expr import (
    BinOp,
    Call,
    Const,
    Expr,
    Index,
    Lit,
    Neg,
    Number,
    Select,
    Seq,
    Temp,
    Var,
    index_text,
    show_number,
)
from .ir import Trace
from .primitives import TEX

# Python's precedence levels, loosest first.
IFEXP, COMPARE, ARITH, TERM, FACTOR, POWER, ATOM = 1, 6, 10, 11, 12, 13, 15
COMPARISONS = (">", "<", ">=", "<=", "==", "!=")
PRECEDENCE = {"+": ARITH, "-": ARITH, "*": TERM, "/": TERM, "@": TERM, "%": TERM, "//": TERM}
PRECEDENCE["**"] = POWER
PRECEDENCE |= dict.fromkeys(COMPARISONS, COMPARE)


class Printer:
    """Expressions as text; the methods below `render` are what a style spells its own way."""

    # Whether a negation is parenthesised wherever it is an operand (else: by precedence).
    loose_negation = False
    # The operators whose right operand is parenthesised at their own precedence.
    strict_right: frozenset[str] = frozenset(("+", "-", "*", "/", "@", "%", "//"))

    def __call__(self, expr: Expr) -> str:
        return self.render(expr, 0)

    def render(self, e: Expr, outer: int) -> str:
        """`e` written where its context binds at precedence `outer`."""
        kind = type(e)
        if kind is Var or kind is Temp:
            return self.name(e)  # type: ignore[arg-type]
        if kind is Const:
            text, own = self.number(e.value)  # type: ignore[union-attr]
            return self.wrap(text, own, outer)
        if kind is BinOp:
            text, own = self.binary(e, outer)  # type: ignore[arg-type]
            return self.wrap(text, own, outer)
        if kind is Neg:
            return self.wrap("-" + self.render(e.operand, FACTOR), FACTOR, outer)  # type: ignore[union-attr]
        if kind is Call:
            return self.call(e)  # type: ignore[arg-type]
        if kind is Select:
            text, own = self.select(e, outer)  # type: ignore[arg-type]
            return self.wrap(text, own, outer)
        if kind is Lit:
            return self.literal(e.value)  # type: ignore[union-attr]
        if kind is Seq:
            return "[" + ", ".join(self.render(item, 0) for item in e.items) + "]"  # type: ignore[union-attr]
        assert kind is Index
        keys = [self.render(k, 0) for k in e.keys]  # type: ignore[union-attr]
        return self.subscript(self.render(e.value, ATOM), e.index, keys)  # type: ignore[union-attr]

    def wrap(self, text: str, own: int, outer: int) -> str:
        """text of precedence `own`, parenthesised where its context binds at `outer`."""
        if own == FACTOR and self.loose_negation:
            return f"({text})" if outer > 0 else text
        return f"({text})" if own < outer else text

    def binary(self, e: BinOp, outer: int) -> tuple[str, int]:
        op = e.op
        own = PRECEDENCE[op]
        if own == POWER:
            return self.power(e), POWER
        if own == COMPARE:
            return self.comparison(e)
        left = self.render(e.left, own)
        right = self.render(e.right, own + 1 if op in self.strict_right else own)
        return self.arithmetic(op, left, right, e), own

    # -- what each style spells its own way ---------------------------------------------------

    def name(self, node: Var | Temp) -> str:
        raise NotImplementedError

    def number(self, value: Number) -> tuple[str, int]:
        """A number's text and precedence (FACTOR for a negative one)."""
        text = show_number(value)
        return text, FACTOR if text.startswith("-") else ATOM

    def arithmetic(self, op: str, left: str, right: str, e: BinOp) -> str:
        return f"{left} {op} {right}"

    def power(self, e: BinOp) -> str:
        return f"{self.render(e.left, POWER + 1)}^{self.render(e.right, POWER)}"

    def comparison(self, e: BinOp) -> tuple[str, int]:
        return f"{self.render(e.left, 0)} {e.op} {self.render(e.right, 0)}", COMPARE

    def select(self, e: Select, outer: int) -> tuple[str, int]:
        """A Select shows the value it normally takes (the other is IEEE's at a singularity)."""
        return self.render(e.normal, outer), ATOM

    def call(self, e: Call) -> str:
        args = [self.render(a, 0) for a in e.args]
        args += [f"{k}={self.render(v, 0)}" for k, v in e.keywords]
        return f"{e.fn}(" + ", ".join(args) + ")"

    def literal(self, value: Any) -> str:
        if isinstance(value, tuple) and value and value[0] == "index":
            return f"[{index_text(value[1])}]"
        return repr(value)

    def subscript(self, value: str, canonical: Any, keys: list[str]) -> str:
        return f"{value}[{index_text(canonical, keys=keys)}]"


class TextPrinter(Printer):
    """The tables' text: `v3bar * cos(v0)`, `z1^2`, numbers as a person writes them."""

    loose_negation = True
    strict_right = frozenset(("-", "/", "%", "//"))

    def __init__(
        self,
        name: Callable[[int], str],
        digits: int | None = None,
        temp_name: Callable[[int], str] = lambda k: f"t{k}",
    ) -> None:
        self.var_name = name
        self.digits = digits
        self.temp_name = temp_name

    def name(self, node: Var | Temp) -> str:
        if isinstance(node, Temp):
            return self.temp_name(node.id)
        return self.var_name(node.id) + ("bar" if node.bar else "")

    def number(self, value: Number) -> tuple[str, int]:
        text = show_number(value, self.digits)
        return text, FACTOR if text.startswith("-") else ATOM


def show(
    expr: Expr,
    name: Callable[[int], str],
    digits: int | None = None,
    temp_name: Callable[[int], str] = lambda k: f"t{k}",
) -> str:
    """Infix text of `expr` with variables named by `name` (adjoints get a 'bar' suffix)."""
    return TextPrinter(name, digits, temp_name)(expr)


class Names(Protocol):
    """What the Python style asks of the generated module's naming."""

    modules: dict[str, str]

    def of(self, node: Var | Temp) -> str: ...

    def function(self, call: Call) -> str: ...


class PythonPrinter(Printer):
    """Python source with only the parentheses Python needs (as astor writes them)."""

    def __init__(self, names: Names) -> None:
        self.names = names

    def name(self, node: Var | Temp) -> str:
        return self.names.of(node)

    def number(self, value: Number) -> tuple[str, int]:
        if isinstance(value, float) and not math.isfinite(value):
            text = self.names.modules["math"] + (".nan" if math.isnan(value) else ".inf")
            return ("-" + text, FACTOR) if value < 0 else (text, ATOM)
        if value < 0 or (value == 0 and math.copysign(1, value) < 0):
            return "-" + repr(-value), FACTOR
        return repr(value), ATOM

    def power(self, e: BinOp) -> str:
        return f"{self.render(e.left, POWER + 1)} ** {self.render(e.right, FACTOR)}"

    def comparison(self, e: BinOp) -> tuple[str, int]:
        left, right = self.render(e.left, COMPARE + 1), self.render(e.right, COMPARE + 1)
        return f"{left} {e.op} {right}", COMPARE

    def select(self, e: Select, outer: int) -> tuple[str, int]:
        body, test = self.render(e.normal, IFEXP + 1), self.render(e.test, IFEXP + 1)
        return f"{body} if {test} else {self.render(e.singular, 0)}", IFEXP

    def call(self, e: Call) -> str:
        args = [self.render(a, 0) for a in e.args]
        args += [f"{k}={self.render(v, 0)}" for k, v in e.keywords]
        return f"{self.names.function(e)}({', '.join(args)})"

    def literal(self, value: Any) -> str:
        if isinstance(value, tuple) and value and value[0] == "index":
            return f"{self.names.modules['numpy']}.s_[{index_text(value[1], True)}]"
        if isinstance(value, tuple):
            parts = [self.literal(v) for v in value]
            return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
        if value is None or isinstance(value, (bool, str)):
            return repr(value)
        return self.number(value)[0]

    def subscript(self, value: str, canonical: Any, keys: list[str]) -> str:
        return f"{value}[{index_text(canonical, True, keys)}]"


# ---------------------------------------------------------------------------------------------
# LaTeX in the lecture's notation: v_{-1}, \bar{v}_0, \frac{\partial v_3}{\partial v_0}
# ---------------------------------------------------------------------------------------------

_GREEK = set(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau "
    "upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split()
)
_TEX_COMPARE = {">": ">", "<": "<", ">=": r"\geq", "<=": r"\leq", "==": "=", "!=": r"\neq"}
_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}


def tex_text(text: str) -> str:
    """Plain text for a LaTeX document, its special characters escaped."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def tex_partial(top: str, bottom: str) -> str:
    """d top / d bottom as a fraction of partials."""
    return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


def tex_number(value: Any) -> str:
    """A number in LaTeX: pi as \\pi, 1e-05 as 1 \\times 10^{-5}, inf as \\infty."""
    text = show_number(value)
    if text in ("inf", "-inf"):
        return text.replace("inf", r"\infty")
    if text == "nan":
        return r"\mathrm{nan}"
    if "pi" in text:
        return re.sub(r"\*?pi", lambda _: r"\pi", text)
    scientific = re.fullmatch(r"(-?[\d.]+)e([+-]?\d+)", text)
    if scientific:
        return rf"{scientific[1]} \times 10^{{{int(scientific[2])}}}"
    return text


class TexPrinter(Printer):
    """LaTeX for one trace's variables and expressions in notation 'v' or 'z'."""

    loose_negation = True
    strict_right = frozenset(("-", "/", "@", "%", "//"))

    def __init__(self, trace: Trace, notation: str) -> None:
        self.trace = trace
        self.notation = notation
        self.times = r"\times" if notation == "v" else r"\cdot"

    def symbol(self, name: str, bar: bool = False) -> str:
        r"""A Python name as a symbol: x1 -> x_1, theta2 -> \theta_2, lam -> \mathit{lam}."""
        m = re.fullmatch(r"([A-Za-z]+)_?([0-9]+)", name) or re.fullmatch(
            r"([A-Za-z]+)_([A-Za-z0-9]+)", name
        )
        base, sub = (m[1], m[2]) if m else (name, "")
        if len(base) == 1:
            top = base
        elif base in _GREEK:
            top = "\\" + base
        else:
            top = r"\mathit{" + tex_text(base) + "}"
        return self._decorate(top, sub, bar, wide=len(base) > 1 and base not in _GREEK)

    def var(self, var: int, bar: bool = False) -> str:
        """Variable `var` (v_{-1}, z_3, or an input's own name in notation z)."""
        if self.notation == "z" and var <= 0:
            return self.symbol(self.trace.params[var + len(self.trace.params) - 1], bar)
        return self._decorate(self.notation, str(var), bar)

    def name(self, node: Var | Temp) -> str:
        if isinstance(node, Temp):
            return f"t_{{{node.id}}}"
        return self.var(node.id, node.bar)

    @staticmethod
    def _decorate(top: str, sub: str, bar: bool, wide: bool = False) -> str:
        if bar:
            top = (r"\overline{" if wide else r"\bar{") + top + "}"
        if sub:
            top += "_" + (sub if len(sub) == 1 else "{" + tex_text(sub) + "}")
        return top

    def number(self, value: Number) -> tuple[str, int]:
        text = tex_number(value)
        return text, FACTOR if text.startswith("-") else ATOM

    def arithmetic(self, op: str, left: str, right: str, e: BinOp) -> str:
        if op == "*":
            juxtapose = isinstance(e.left, Const) and not left.startswith("(")
            juxtapose = juxtapose and not (right[:1].isdigit() or right.startswith("("))
            return f"{left} {right}" if juxtapose else f"{left} {self.times} {right}"
        if op == "/":
            return f"{left}/{right}"
        if op == "@":
            return f"{left} \\;@\\; {right}"
        if op == "%":
            return f"{left} \\bmod {right}"
        if op == "//":
            return f"\\lfloor {left}/{right} \\rfloor"
        return f"{left} {op} {right}"

    def power(self, e: BinOp) -> str:
        return f"{self.render(e.left, POWER + 1)}^{{{self.render(e.right, 0)}}}"

    def comparison(self, e: BinOp) -> tuple[str, int]:
        left, right = self.render(e.left, ARITH), self.render(e.right, ARITH)
        return f"({left} {_TEX_COMPARE[e.op]} {right})", ATOM

    def call(self, e: Call) -> str:
        args = [self.render(a, 0) for a in e.args]
        args += [rf"\mathrm{{{tex_text(k)}}}={self.render(v, 0)}" for k, v in e.keywords]
        tex = TEX.get(e.fn, "")
        if "{}" in tex and len(args) == 1:
            return tex.format(args[0])
        if tex and len(e.args) == 1:
            (arg,) = e.args
            atomic = isinstance(arg, (Var, Temp)) or (isinstance(arg, Const) and arg.value >= 0)
            return f"{tex} {args[0]}" if atomic else f"{tex}({args[0]})"
        name = tex if tex and "{}" not in tex else rf"\mathrm{{{tex_text(e.fn)}}}"
        return name + "(" + ", ".join(args) + ")"

    def literal(self, value: Any) -> str:
        return r"\mathtt{" + tex_text(Printer.literal(self, value)) + "}"

    def subscript(self, value: str, canonical: Any, keys: list[str]) -> str:
        return value + r"[\mathtt{" + tex_text(index_text(canonical, keys=keys)) + "}]"
