"""The expression language of primal and adjoint statements: nodes, smart constructors,
and the one utility that walks and rewrites expression trees (`children`, `walk`, `reads`,
`rebuild`, `transform`), used by the IR, the passes and the printers alike.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Number = int | float


class Divided(float):
    """A coefficient 1/k that the source wrote as a division by k (`x / k`): its value is 1/k,
    and code writes it as a division again, which rounds as the source does."""

    __slots__ = ("divisor",)

    def __new__(cls, divisor: Number) -> Divided:
        coefficient = super().__new__(cls, 1 / divisor)
        coefficient.divisor = divisor
        return coefficient


def times(c: Number, k: Number) -> Number:
    """c * k for coefficients, keeping a division's spelling where one factor is 1 or -1."""
    if isinstance(k, Divided) and c in (1, -1) and not isinstance(c, Divided):
        return k if c == 1 else Divided(-k.divisor)
    if isinstance(c, Divided) and k in (1, -1) and not isinstance(k, Divided):
        return c if k == 1 else Divided(-c.divisor)
    return c * k


def negated(c: Number) -> Number:
    """-c, keeping a division's spelling."""
    return Divided(-c.divisor) if isinstance(c, Divided) else -c

# ---------------------------------------------------------------------------------------------
# Expressions: the right-hand sides of primal and adjoint statements
# ---------------------------------------------------------------------------------------------


def _hash_once(cls: type) -> type:
    """cls with its (dataclass) hash computed once per object: the passes hash the same
    subtrees again and again, and a tree's hash would otherwise walk the whole tree."""
    plain = cls.__hash__

    def __hash__(self: Any) -> int:
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = plain(self)
            object.__setattr__(self, "_hash", cached)
        return cached

    cls.__hash__ = __hash__  # type: ignore[assignment]
    return cls


@dataclass(frozen=True)
class Const:
    """A numeric literal."""

    value: Number


@dataclass(frozen=True)
class Var:
    """A trace variable (`bar=False`) or its adjoint (`bar=True`)."""

    id: int
    bar: bool = False


@dataclass(frozen=True)
class Temp:
    """A temporary of the adjoint code (partial products and the like); `hint` names it in the
    generated code (the tape, a loop's range, a trip count), else `_t<id>`."""

    id: int
    hint: str = ""


@_hash_once
@dataclass(frozen=True)
class BinOp:
    """`left op right` for op in + - * / ** @ % // and the comparisons > < >= <= == !=."""

    op: str
    left: Expr
    right: Expr


@_hash_once
@dataclass(frozen=True)
class Neg:
    """Unary minus."""

    operand: Expr


@_hash_once
@dataclass(frozen=True)
class Call:
    """A whitelisted function: lib is 'math', 'numpy', 'builtins' or 'adc' (a helper written
    into the generated module); keywords are (name, value) pairs."""

    lib: str
    fn: str
    args: tuple[Expr, ...]
    keywords: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True)
class Lit:
    """A non-numeric constant argument: None, a bool, a string (einsum's subscripts), a tuple
    of ints (axes, shapes), or an index (`("index", canonical)`, see `index_value`)."""

    value: Any


@_hash_once
@dataclass(frozen=True)
class Index:
    """`value[index]`, the index in canonical form (see `index_value`); a component ("k", n)
    is the value of `keys[n]`, computed when the code runs (a loop's `i` in `x[i]`)."""

    value: Expr
    index: Any
    keys: tuple[Expr, ...] = ()


@_hash_once
@dataclass(frozen=True)
class Seq:
    """A list of values, `[a, b, c]`: the argument of np.array, np.stack, np.concatenate."""

    items: tuple[Expr, ...]


@_hash_once
@dataclass(frozen=True)
class Select:
    """`normal` where `test` is true, else `singular`: IEEE inf where Python floats would raise."""

    test: Expr
    normal: Expr
    singular: Expr


Expr = Const | Var | Temp | BinOp | Neg | Call | Select | Lit | Index | Seq


def index_value(canonical: Any, keys: Sequence[Any] = ()) -> Any:
    """The Python index object for a canonical index: ("i", 3), ("s", start, stop, step),
    ("e",) for ..., ("n",) for None (a new axis), ("t", items) for a tuple of them, ("k", n)
    for keys[n] (also as a slice's bound)."""
    kind = canonical[0]
    if kind == "i":
        return canonical[1]
    if kind == "k":
        return keys[canonical[1]]
    if kind == "s":
        return slice(*(keys[v[1]] if isinstance(v, tuple) else v for v in canonical[1:]))
    if kind == "e":
        return Ellipsis
    if kind == "n":
        return None
    return tuple(index_value(c, keys) for c in canonical[1])


def index_text(canonical: Any, python: bool = False, keys: Sequence[str] = ()) -> str:
    """A canonical index as it stands inside brackets: `:, 1:`, with keys[n] the text of
    ("k", n). In Python, a tuple of one keeps its comma and the empty tuple is `()`."""
    kind = canonical[0]
    if kind == "i":
        return str(canonical[1])
    if kind == "k":
        return keys[canonical[1]]
    if kind == "s":
        start, stop, step = (
            "" if v is None else keys[v[1]] if isinstance(v, tuple) else str(v)
            for v in canonical[1:]
        )
        return f"{start}:{stop}:{step}" if step else f"{start}:{stop}"
    if kind == "e":
        return "..."
    if kind == "n":
        return "None"
    parts = [index_text(c, python, keys) for c in canonical[1]]
    if python and not parts:
        return "()"
    return ", ".join(parts) + ("," if python and len(parts) == 1 else "")


def literal_value(value: Any) -> Any:
    """The Python value of a Lit's payload."""
    if isinstance(value, tuple) and value and value[0] == "index":
        return index_value(value[1])
    return value


ONE = Const(1)


def add(a: Expr, b: Expr) -> Expr:
    """a + b, dropping a literal zero."""
    if isinstance(a, Const) and a.value == 0:
        return b
    if isinstance(b, Const) and b.value == 0:
        return a
    if isinstance(b, Neg):
        return BinOp("-", a, b.operand)
    return BinOp("+", a, b)


def accumulated(total: Expr, term: Expr) -> BinOp:
    """total plus term as an accumulation `total += term` is written: `total - e` for -e."""
    if isinstance(term, Neg):
        return BinOp("-", total, term.operand)
    return BinOp("+", total, term)


def neg(a: Expr) -> Expr:
    """-a, folding literals and double negation."""
    if isinstance(a, Const):
        return Const(-a.value)
    if isinstance(a, Neg):
        return a.operand
    return Neg(a)


def mul(a: Expr, b: Expr) -> Expr:
    """a * b, simplifying multiplication by 1 and -1, and `a * (1 / d)` to `a / d`."""
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(a.value * b.value)
    if isinstance(b, Const) and not isinstance(a, Const):
        a, b = b, a
    if isinstance(a, Const):
        if a.value == 1:
            return b
        if a.value == -1:
            return neg(b)
    if isinstance(b, Neg):
        return neg(mul(a, b.operand))
    if isinstance(a, Neg) and not isinstance(b, Const):
        return neg(mul(a.operand, b))
    if isinstance(b, BinOp) and b.op == "/":
        return BinOp("/", a if b.left == ONE else mul(a, b.left), b.right)
    if isinstance(b, BinOp) and b.op == "*" and not isinstance(a, Const):
        return BinOp("*", mul(a, b.left), b.right)
    return BinOp("*", a, b)


def div(a: Expr, b: Expr) -> Expr:
    """a / b."""
    if isinstance(a, Neg):
        return neg(div(a.operand, b))
    return BinOp("/", a, b)


def power(a: Expr, p: Number) -> Expr:
    """a ** p, with p = 1 elided."""
    if p == 1:
        return a
    return BinOp("**", a, Const(p))


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct subexpressions of a node, in evaluation order."""
    kind = type(node)
    if kind is BinOp:
        return (node.left, node.right)  # type: ignore[union-attr]
    if kind is Neg:
        return (node.operand,)  # type: ignore[union-attr]
    if kind is Call:
        if node.keywords:  # type: ignore[union-attr]
            return (*node.args, *(v for _, v in node.keywords))  # type: ignore[union-attr]
        return node.args  # type: ignore[union-attr]
    if kind is Select:
        return (node.test, node.normal, node.singular)  # type: ignore[union-attr]
    if kind is Index:
        return (node.value, *node.keys)  # type: ignore[union-attr]
    if kind is Seq:
        return node.items  # type: ignore[union-attr]
    return ()


def walk(expr: Expr) -> list[Expr]:
    """Every node of `expr`, parents before children."""
    out: list[Expr] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(children(node)))
    return out


def reads(expr: Expr) -> set[Var | Temp]:
    """The variables, adjoints and temporaries that `expr` reads."""
    out: set[Var | Temp] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is Var or kind is Temp:
            out.add(node)  # type: ignore[arg-type]
        elif kind is not Const:
            stack.extend(children(node))
    return out


def transform(expr: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """expr rebuilt bottom-up with fn applied to every node."""
    return fn(rebuild(expr, lambda child: transform(child, fn)))


def rebuild(expr: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """expr with fn applied to each direct child."""
    if isinstance(expr, Call):
        args = tuple(fn(a) for a in expr.args)
        keywords = tuple((n, fn(v)) for n, v in expr.keywords)
        return Call(expr.lib, expr.fn, args, keywords)
    if isinstance(expr, BinOp):
        return BinOp(expr.op, fn(expr.left), fn(expr.right))
    if isinstance(expr, Neg):
        return Neg(fn(expr.operand))
    if isinstance(expr, Index):
        return Index(fn(expr.value), expr.index, tuple(fn(k) for k in expr.keys))
    if isinstance(expr, Select):
        return Select(fn(expr.test), fn(expr.normal), fn(expr.singular))
    if isinstance(expr, Seq):
        return Seq(tuple(fn(e) for e in expr.items))
    return expr


def without_selects(expr: Expr) -> Expr:
    """expr with every Select replaced by its normal branch (numpy gives IEEE inf itself)."""
    return transform(expr, lambda node: node.normal if isinstance(node, Select) else node)


@functools.lru_cache(maxsize=4096, typed=True)
def show_number(value: Number, digits: int | None = None) -> str:
    """A number as a person writes it: 2, 0.5, 2*pi, pi/2, or rounded to `digits`."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        if abs(value) < 1e15:
            return str(int(value))
    for k in (1, 2, 3, 4, 6, 8):
        ratio = value * k / math.pi
        if not math.isfinite(ratio):
            break
        m = round(ratio)
        if 1 <= abs(m) <= 8 and value == m * math.pi / k:
            sign = "-" if m < 0 else ""
            mult = "" if abs(m) == 1 else f"{abs(m)}*"
            return f"{sign}{mult}pi" + ("" if k == 1 else f"/{k}")
    if digits is not None:
        return f"{value:.{digits}g}"
    return repr(float(value))
