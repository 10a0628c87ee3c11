"""The SSA trace of the seed's computation model, the expression language of its derivatives,
and a tiny evaluator that tests hold the generated code against.

Variables are integers in the seed's own numbering: a function of d inputs reads v_{1-d}..v_0,
and its steps are z_1..z_T (v_1..v_T). Names are chosen only when printing or emitting.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Number = int | float

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
    """A temporary of the adjoint code (partial products and the like)."""

    id: int


@_hash_once
@dataclass(frozen=True)
class BinOp:
    """`left op right` for op in + - * / ** @ and the comparisons > < >= <= == !=."""

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
    """A non-numeric constant argument: None, a tuple of ints (axes, shapes), or an index
    (`("index", canonical)`, see `index_value`)."""

    value: Any


@_hash_once
@dataclass(frozen=True)
class Index:
    """`value[index]` with a constant index (canonical form, see `index_value`)."""

    value: Expr
    index: Any


@_hash_once
@dataclass(frozen=True)
class Select:
    """`normal` where `test` is true, else `singular`: IEEE inf where Python floats would raise."""

    test: Expr
    normal: Expr
    singular: Expr


Expr = Const | Var | Temp | BinOp | Neg | Call | Select | Lit | Index


def index_value(canonical: Any) -> Any:
    """The Python index object for a canonical index: ("i", 3), ("s", start, stop, step),
    ("e",) for ..., ("n",) for None (a new axis), ("t", items) for a tuple of them."""
    kind = canonical[0]
    if kind == "i":
        return canonical[1]
    if kind == "s":
        return slice(*canonical[1:])
    if kind == "e":
        return Ellipsis
    if kind == "n":
        return None
    return tuple(index_value(c) for c in canonical[1])


def index_text(canonical: Any) -> str:
    """A canonical index as Python writes it inside brackets: `:, 1:`."""
    kind = canonical[0]
    if kind == "i":
        return str(canonical[1])
    if kind == "s":
        start, stop, step = canonical[1:]
        text = f"{'' if start is None else start}:{'' if stop is None else stop}"
        return text + (f":{step}" if step is not None else "")
    if kind == "e":
        return "..."
    if kind == "n":
        return "None"
    return ", ".join(index_text(c) for c in canonical[1])


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
        return (node.value,)  # type: ignore[union-attr]
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


def without_selects(expr: Expr) -> Expr:
    """expr with every Select replaced by its normal branch (numpy gives IEEE inf itself)."""
    if isinstance(expr, Select):
        return without_selects(expr.normal)
    if isinstance(expr, BinOp):
        return BinOp(expr.op, without_selects(expr.left), without_selects(expr.right))
    if isinstance(expr, Neg):
        return Neg(without_selects(expr.operand))
    if isinstance(expr, Call):
        args = tuple(without_selects(a) for a in expr.args)
        keywords = tuple((k, without_selects(v)) for k, v in expr.keywords)
        return Call(expr.lib, expr.fn, args, keywords)
    if isinstance(expr, Index):
        return Index(without_selects(expr.value), expr.index)
    return expr


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


# ---------------------------------------------------------------------------------------------
# The trace
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """z_index = op[params](args): one node of the trace, one edge per argument."""

    index: int
    op: str
    args: tuple[int, ...]
    params: tuple[Any, ...]
    line: int = 0
    col: int = 0


@dataclass
class Trace:
    """A function lowered to a straight-line SSA trace z_1..z_T of the seed's model."""

    name: str
    params: tuple[str, ...]
    steps: list[Step]
    output: int
    defaults: dict[str, Number] = field(default_factory=dict)
    line: int = 0
    source_text: str = ""
    arrays: bool = False  # the file imports numpy, so values may be arrays

    @property
    def inputs(self) -> list[int]:
        """The input variables' ids, v_{1-d}..v_0, in parameter order."""
        d = len(self.params)
        return [i - d + 1 for i in range(d)]

    def input_id(self, name: str) -> int:
        """The id of parameter `name`."""
        return self.params.index(name) - len(self.params) + 1

    @property
    def edges(self) -> int:
        """E: the number of edges (arguments read) of the computation graph."""
        return sum(len(s.args) for s in self.steps)

    def step(self, var: int) -> Step:
        """The step that defines variable `var` (a step id, not an input)."""
        return self.steps[var - 1]


# ---------------------------------------------------------------------------------------------
# Naming for printing: the slide's z_t (inputs by name) or the table's v_i
# ---------------------------------------------------------------------------------------------


def namer(trace: Trace, notation: str = "z") -> Callable[[int], str]:
    """A function giving the display name of a variable id in notation 'z' or 'v'."""
    params = trace.params

    def name(var: int) -> str:
        if notation == "v":
            return f"v{var}"
        if var <= 0:
            return params[var + len(params) - 1]
        return f"z{var}"

    return name


_PRECEDENCE = {
    "+": 1,
    "-": 1,
    "*": 2,
    "/": 2,
    "@": 2,
    "neg": 3,
    "**": 4,
    ">": 0,
    "<": 0,
    ">=": 0,
    "<=": 0,
    "==": 0,
    "!=": 0,
}


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


def show(
    expr: Expr,
    name: Callable[[int], str],
    digits: int | None = None,
    temp_name: Callable[[int], str] = lambda k: f"t{k}",
) -> str:
    """Infix text of `expr` with variables named by `name` (adjoints get a 'bar' suffix)."""

    def go(e: Expr, outer: int) -> str:
        if isinstance(e, Const):
            text = show_number(e.value, digits)
            return f"({text})" if text.startswith("-") and outer > 0 else text
        if isinstance(e, Var):
            return name(e.id) + ("bar" if e.bar else "")
        if isinstance(e, Temp):
            return temp_name(e.id)
        if isinstance(e, Neg):
            text = "-" + go(e.operand, _PRECEDENCE["neg"])
            return f"({text})" if outer > 0 else text
        if isinstance(e, Call):
            parts = [go(a, 0) for a in e.args] + [f"{k}={go(v, 0)}" for k, v in e.keywords]
            return f"{e.fn}(" + ", ".join(parts) + ")"
        if isinstance(e, Select):
            return go(e.normal, outer)
        if isinstance(e, Lit):
            v = e.value
            if isinstance(v, tuple) and v and v[0] == "index":
                return f"[{index_text(v[1])}]"
            return repr(v)
        if isinstance(e, Index):
            return f"{go(e.value, 5)}[{index_text(e.index)}]"
        p = _PRECEDENCE[e.op]
        right_p = p + 1 if e.op in "-/" else p
        if e.op == "**":
            left, right = go(e.left, p + 1), go(e.right, p)
            text = f"{left}^{right}"
        else:
            left, right = go(e.left, p), go(e.right, right_p)
            text = f"{left} {e.op} {right}"
        return f"({text})" if outer > p else text

    return go(expr, 0)


# ---------------------------------------------------------------------------------------------
# The reference evaluator
# ---------------------------------------------------------------------------------------------


def _sign(x: Any) -> Any:
    return (x > 0) - (x < 0)


def library(lib: str) -> Mapping[str, Callable[..., Any]] | Any:
    """The namespace that a Call's `lib` refers to."""
    if lib == "math":
        return math
    if lib == "numpy":
        import numpy

        return numpy
    if lib == "adc":
        from .rules import helper_namespace

        return helper_namespace()
    return {"abs": abs, "sign": _sign}


def evaluate(expr: Expr, env: Mapping[Var | Temp, Any]) -> Any:
    """The value of `expr` with variables, adjoints and temporaries taken from `env`."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, (Var, Temp)):
        return env[expr]
    if isinstance(expr, Neg):
        return -evaluate(expr.operand, env)
    if isinstance(expr, Select):
        chosen = expr.normal if evaluate(expr.test, env) else expr.singular
        return evaluate(chosen, env)
    if isinstance(expr, Lit):
        return literal_value(expr.value)
    if isinstance(expr, Index):
        return evaluate(expr.value, env)[index_value(expr.index)]
    if isinstance(expr, Call):
        ns = library(expr.lib)
        fn = ns[expr.fn] if isinstance(ns, dict) else getattr(ns, expr.fn)
        keywords = {k: evaluate(v, env) for k, v in expr.keywords}
        return fn(*(evaluate(a, env) for a in expr.args), **keywords)
    a, b = evaluate(expr.left, env), evaluate(expr.right, env)
    return _BINARY[expr.op](a, b)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "@": lambda a, b: a @ b,
}


# ---------------------------------------------------------------------------------------------
# Programs: what the emitter writes, one function each
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assign:
    """`target = expr` (or `target = target + expr` when accumulating): one line of code.

    kind is 'primal' (computes step `step`), 'seed' (dz_T/dz_T = 1), 'edge' (the contribution
    of edge `arg` of step `step` to its parent's adjoint) or 'temp' (a partial product).
    An accumulation marked `inplace` adds into target's own array (`target += expr`).
    """

    target: Var | Temp
    expr: Expr
    kind: str
    step: int | None = None
    arg: int | None = None
    accumulate: bool = False
    inplace: bool = False
    partial: Expr | None = None
    # A comment replacing the step's own: a str.format template over the names of `note_vars`.
    note: str = ""
    note_vars: tuple[int, ...] = ()
    # The lines of the unfused code this one line stands for, when it stands for several.
    fused: tuple[Assign, ...] = ()


@dataclass
class Program:
    """One generated function: its body and what it returns (value, gradient tuple, or both)."""

    name: str
    trace: Trace
    body: list[Assign]
    value: Expr | None
    grads: tuple[Expr, ...] | None
    wrt: tuple[str, ...] = ()
    # releases[i]: the names no later line reads, dropped after line i so arrays free early.
    releases: dict[int, tuple[Var | Temp, ...]] = field(default_factory=dict)

    def results(self) -> list[Expr]:
        """Every expression the function returns."""
        return ([self.value] if self.value is not None else []) + list(self.grads or ())


def execute(body: Sequence[Assign], env: dict[Var | Temp, Any]) -> list[Any]:
    """Run `body` on `env` (updated in place); the value each line leaves in its target."""
    values = []
    for a in body:
        value = evaluate(a.expr, env)
        if a.accumulate:  # in place or not, the same value: earlier values stay as they were
            value = env[a.target] + value
        env[a.target] = value
        values.append(value)
    return values
