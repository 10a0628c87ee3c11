"""What the passes share, and the passes that serve scalar and array code alike: dead code,
constant folding of adjoints, copy propagation."""

from __future__ import annotations

from dataclasses import replace

from ...core.expr import (
    BinOp,
    Call,
    Const,
    Expr,
    Index,
    Lit,
    Neg,
    Select,
    Temp,
    Var,
    accumulated,
    children,
    reads,
    transform,
)
from ...core.ir import Assign, Program, Trace
from ...core.primitives import rule
from ...core.runtime import SHAPE_ARGUMENTS

SCALAR = None  # the shape representative of a value that is always a scalar


def shape_argument(expr: Call) -> int | None:
    """The position of the argument a call reads only for its shape, if any."""
    if expr.lib == "numpy" and expr.fn == "size":
        return 0
    return SHAPE_ARGUMENTS.get(expr.fn) if expr.lib == "adc" else None


def value_reads(expr: Expr) -> set[Var | Temp]:
    """What expr reads for values, leaving out the helper arguments read only for shape."""
    if isinstance(expr, Call):
        k = shape_argument(expr)
        out: set[Var | Temp] = set()
        for i, a in enumerate([*expr.args, *(v for _, v in expr.keywords)]):
            if i != k:
                out |= value_reads(a)
        return out
    if isinstance(expr, BinOp):
        return value_reads(expr.left) | value_reads(expr.right)
    if isinstance(expr, Neg):
        return value_reads(expr.operand)
    if isinstance(expr, Index):
        return value_reads(expr.value)
    return reads(expr)


def eliminate_dead_code(program: Program) -> Program:
    """Drop lines whose target nothing returned depends on (adjoints `--wrt` did not ask for),
    but for the steps that may fail: the function fails there, so its gradient must too."""
    needed: set[Var | Temp] = set()
    for r in program.results():
        needed |= reads(r)
    checks = checked_steps(program.trace)
    kept: list[Assign] = []
    for line in reversed(program.body):
        if line.target not in needed:
            if not _checks(line, checks):
                continue
            line = _as_check(line, program.trace)
        if not line.accumulate:
            needed.discard(line.target)
        needed |= reads(line.expr)
        kept.append(line)
    kept.reverse()
    return replace(program, body=kept)


def _as_check(line: Assign, trace: Trace) -> Assign:
    """A line kept only for its step to fail where the function does: in scalar code, a check
    that computes the step only where a test on its arguments says it may fail."""
    if trace.arrays or line.kind != "primal" or line.fused or line.step is None:
        return line  # numpy warns where it gives nan or inf: the step is computed always
    step = trace.step(line.step)
    guard = rule(step).fails_where(step, line.expr)
    return line if guard is None else replace(line, kind="check", guard=guard)


def _checks(line: Assign, checks: set[Var]) -> bool:
    """Whether the line computes a step that may fail (itself, or fused into it)."""
    return any(
        part.kind in ("primal", "check") and part.target in checks for part in unfused(line)
    )


def checked_steps(trace: Trace) -> set[Var]:
    """The values of the steps that may fail, which every program computes."""
    return {Var(s.index) for s in trace.steps if rule(s).may_fail(s)}


def returned_names(program: Program) -> set[Var | Temp]:
    """The names the program returns."""
    out: set[Var | Temp] = set()
    for r in program.results():
        out |= reads(r)
    return out


def with_results(program: Program, body: list[Assign], known: dict[Var | Temp, Expr]) -> Program:
    """program with `body`, its results rewritten through `known`."""
    value = substitute(program.value, known) if program.value is not None else None
    grads = tuple(substitute(g, known) for g in program.grads) if program.grads else None
    return replace(program, body=body, value=value, grads=grads)


def substitute(expr: Expr, known: dict[Var | Temp, Expr]) -> Expr:
    """expr with each name of `known` replaced by its expression."""
    if not known or not (reads(expr) & known.keys()):
        return expr
    return transform(expr, lambda n: known.get(n, n) if isinstance(n, (Var, Temp)) else n)


def name_key(name: Var | Temp) -> int:
    """A name as an int, for dictionaries that hash millions of times: 2 id + bar for a
    variable or adjoint, -1 - id for a temporary."""
    return 2 * name.id + name.bar if type(name) is Var else -1 - name.id  # type: ignore[union-attr]


class LineNames:
    """What one line reads, by name_key: each name with how often, and those read inside a Select
    branch."""

    __slots__ = ("count", "in_branches")

    def __init__(self, expr: Expr) -> None:
        self.count: dict[int, int] = {}
        self.in_branches: set[int] = set()
        self._scan(expr, False)

    def _scan(self, node: Expr, branch: bool) -> None:
        kind = type(node)
        if kind is Var or kind is Temp:
            key = name_key(node)  # type: ignore[arg-type]
            self.count[key] = self.count.get(key, 0) + 1
            if branch:
                self.in_branches.add(key)
        elif kind is Select:
            self._scan(node.test, branch)  # type: ignore[union-attr]
            self._scan(node.normal, True)  # type: ignore[union-attr]
            self._scan(node.singular, True)  # type: ignore[union-attr]
        elif kind is not Const and kind is not Lit:
            for child in children(node):
                self._scan(child, branch)

    def __ior__(self, other: LineNames) -> LineNames:
        for name, n in other.count.items():
            self.count[name] = self.count.get(name, 0) + n
        self.in_branches |= other.in_branches
        return self


def unfused(line: Assign) -> tuple[Assign, ...]:
    """The unfused lines that `line` stands for."""
    return line.fused or (line,)


def _is_float(expr: Expr, floats: set[Var]) -> bool:
    """Whether expr is certainly a float of its own (or a float array, for adjoints): writing
    it for `1.0 * expr` changes neither its type nor whom it aliases. Adjoints descend from the
    seed 1.0, math's functions return floats, and `floats` are primal values known to be."""
    if isinstance(expr, Const):
        return isinstance(expr.value, float)
    if isinstance(expr, Var):
        return expr.bar or expr in floats
    if isinstance(expr, Temp):
        return True
    if isinstance(expr, Call):
        return expr.lib == "math"
    if isinstance(expr, Neg):
        return _is_float(expr.operand, floats)
    if isinstance(expr, BinOp) and expr.op in _FOLDABLE:
        return expr.op == "/" or _is_float(expr.left, floats) or _is_float(expr.right, floats)
    return False


_FOLDABLE = {"+": float.__add__, "-": float.__sub__, "*": float.__mul__, "/": float.__truediv__}


def _times_one(expr: Expr) -> Expr | None:
    """e for `1.0 * e` or `e * 1.0`, else None."""
    if isinstance(expr, BinOp) and expr.op == "*":
        if isinstance(expr.left, Const) and expr.left.value == 1.0:
            return expr.right
        if isinstance(expr.right, Const) and expr.right.value == 1.0:
            return expr.left
    return None


def _fold_node(node: Expr, floats: set[Var]) -> Expr:
    """One node with constant operands computed, and `1.0 * e` written `e` where that keeps
    the type: e is a float, or the product is added to one. The arithmetic is the float
    arithmetic the code would have done."""
    if isinstance(node, Neg) and isinstance(node.operand, Const):
        return Const(-node.operand.value)
    if not isinstance(node, BinOp) or node.op not in _FOLDABLE:
        return node
    left, right = node.left, node.right
    if isinstance(left, Const) and isinstance(right, Const):
        a, b = left.value, right.value
        if isinstance(a, float) or isinstance(b, float):
            if node.op == "/" and b == 0:
                return node  # the code raises ZeroDivisionError; so must the folded code
            return Const(_FOLDABLE[node.op](float(a), float(b)))
        return node
    factor = _times_one(node)
    if factor is not None and _is_float(factor, floats):
        return factor
    if node.op in "+-":
        a, b = _times_one(left), _times_one(right)
        if a is not None and _is_float(right, floats):
            return BinOp(node.op, a, right)
        if b is not None and _is_float(left, floats):
            return BinOp(node.op, left, b)
    return node


def _float_values(program: Program) -> set[Var]:
    """The primal values of scalar code that are certainly floats (`math.exp(w)`, `z3 / 2`)."""
    floats: set[Var] = set()
    if program.trace.arrays:
        return floats  # an array is mutable: an adjoint must not become one of them
    for line in program.body:
        if line.kind == "primal" and isinstance(line.target, Var):
            if _is_float(line.expr, floats):
                floats.add(line.target)
    return floats


def fold_constants(program: Program) -> Program:
    """Adjoints whose value is a constant (the seed dz_T/dz_T = 1.0 and what it flows into
    unchanged or scaled) become literals in the lines that read them: `z5bar = z6bar * z4`
    with z6bar = 1.0 is `z5bar = z4`, and a later `z7bar += e` is `z7bar = 1.0 + e`."""
    if program.grads is None:
        return program
    floats = _float_values(program)
    returned = returned_names(program)
    known: dict[Var | Temp, Expr] = {}
    body: list[Assign] = []
    for line in program.body:
        expr = substitute(line.expr, known)
        if expr is not line.expr:  # the rules simplified all the rest
            expr = transform(expr, lambda n: _fold_node(n, floats))
        accumulate = line.accumulate
        if accumulate:
            start = known.pop(line.target, None)
            if start is not None:
                expr = _fold_node(accumulated(start, expr), floats)
                accumulate = False
            elif _times_one(expr) is not None:
                expr = _times_one(expr)  # type: ignore[assignment]  # added to an adjoint
        constant = line.kind != "primal" and not accumulate and isinstance(expr, Const)
        if constant and line.target not in returned:  # a gradient keeps its line, to be read
            known[line.target] = expr
            continue
        known.pop(line.target, None)
        same = expr == line.expr and accumulate == line.accumulate
        body.append(line if same else replace(line, expr=expr, accumulate=accumulate))
    return with_results(program, body, known)


def propagate_copies(program: Program) -> Program:
    """An adjoint line `a = b` that only copies another adjoint (or, in scalar code, a primal
    value) disappears, and later lines read b, when neither a nor b is assigned again
    (`z2bar = z5bar` for z5 = z2 + z4)."""
    if program.grads is None:
        return program
    assigned_after: dict[Var | Temp, int] = {}
    for i, line in enumerate(program.body):
        assigned_after[line.target] = i  # the last line assigning each name
    returned = returned_names(program)  # a gradient keeps its line, to be read
    known: dict[Var | Temp, Expr] = {}
    body: list[Assign] = []
    for i, line in enumerate(program.body):
        expr = substitute(line.expr, known)
        source = expr
        if (
            line.kind != "primal"
            and line.target not in returned
            and not line.accumulate
            and isinstance(source, (Var, Temp))
            and (isinstance(source, Temp) or source.bar or not program.trace.arrays)
            and assigned_after[line.target] == i
            and assigned_after.get(source, -1) < i
        ):
            known[line.target] = source
            continue
        body.append(line if expr == line.expr else replace(line, expr=expr))
    return with_results(program, body, known)
