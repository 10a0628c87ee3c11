"""Program to program: passes that make the generated code do less without changing results."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from .ir import Assign, BinOp, Call, Const, Expr, Index, Neg, Program, Step, Temp, Trace, Var, reads
from .rules import SHAPE_ARGUMENTS, rule

SCALAR = None  # the shape representative of a value that is always a scalar


def eliminate_dead_code(program: Program) -> Program:
    """Drop lines whose target nothing returned depends on (adjoints `--wrt` did not ask for)."""
    needed: set[Var | Temp] = set()
    for r in program.results():
        needed |= reads(r)
    kept: list[Assign] = []
    for line in reversed(program.body):
        if line.target not in needed:
            continue
        if not line.accumulate:
            needed.discard(line.target)
        needed |= reads(line.expr)
        kept.append(line)
    kept.reverse()
    return replace(program, body=kept)


def shape_parents(trace: Trace) -> dict[int, int | None]:
    """For each variable, an earlier variable of the same shape (SCALAR for values that are
    always scalars, the variable itself when none is known): `exp(-z)` has z's shape, `sum(x)`
    is a scalar."""
    parent: dict[int, int | None] = {v: v for v in trace.inputs}
    for s in trace.steps:
        operands = rule(s).shape_operands(s)
        if operands is None:
            parent[s.index] = s.index
            continue
        shaped = {a for a in operands if parent[a] is not SCALAR}
        parent[s.index] = SCALAR if not shaped else shaped.pop() if len(shaped) == 1 else s.index
    return parent


def _shape_argument(expr: Call) -> int | None:
    return SHAPE_ARGUMENTS.get(expr.fn) if expr.lib == "adc" else None


def _value_reads(expr: Expr) -> set[Var | Temp]:
    """What expr reads for values, leaving out the helper arguments read only for shape."""
    if isinstance(expr, Call):
        k = _shape_argument(expr)
        out: set[Var | Temp] = set()
        for i, a in enumerate([*expr.args, *(v for _, v in expr.keywords)]):
            if i != k:
                out |= _value_reads(a)
        return out
    if isinstance(expr, BinOp):
        return _value_reads(expr.left) | _value_reads(expr.right)
    if isinstance(expr, Neg):
        return _value_reads(expr.operand)
    if isinstance(expr, Index):
        return _value_reads(expr.value)
    return reads(expr)


def _with_shapes(expr: Expr, shape_of: Callable[[int], Expr]) -> Expr:
    """expr with each shape-only helper argument `Var(k)` replaced by shape_of(k)."""

    def swap(node: Expr) -> Expr:
        k = _shape_argument(node) if isinstance(node, Call) else None
        if k is None:
            return node
        like = node.args[k]
        if not isinstance(like, Var) or like.bar:
            return node
        args = (*node.args[:k], shape_of(like.id), *node.args[k + 1 :])
        return Call(node.lib, node.fn, args, node.keywords)

    return _map(expr, swap)


def shapes_from_values_kept_anyway(program: Program) -> Program:
    """Helpers that read a value only for its shape read instead the nearest value of the same
    shape that the program computes anyway, so a gradient skips what only the function's value
    used (the `logaddexp` of a loss)."""
    if not program.trace.arrays:
        return program
    parent = shape_parents(program.trace)
    needed: set[Var | Temp] = set()
    for r in program.results():
        needed |= _value_reads(r)
    for line in reversed(program.body):
        if line.target in needed:
            needed |= _value_reads(line.expr)

    def shape_of(k: int) -> Expr:
        up: int | None = k
        while up is not None and Var(up) not in needed and parent[up] != up:
            up = parent[up]
        return Const(0.0) if up is None else Var(up)

    body = []
    for line in program.body:
        expr = _with_shapes(line.expr, shape_of)
        body.append(line if expr == line.expr else replace(line, expr=expr))
    grads = tuple(_with_shapes(g, shape_of) for g in program.grads) if program.grads else None
    return replace(program, body=body, grads=grads)


def release_dead_arrays(program: Program) -> Program:
    """After each line, drop the arrays no later line reads, so numpy reuses their memory
    instead of the function holding every intermediate until it returns."""
    if not program.trace.arrays:
        return program
    parent = shape_parents(program.trace)
    kept: set[Var | Temp] = set()
    for r in program.results():
        kept |= reads(r)
    last: dict[Var | Temp, int] = {}
    for i, line in enumerate(program.body):
        for name in reads(line.expr) | {line.target}:
            last[name] = i
    releases: dict[int, list[Var | Temp]] = {}
    for name, i in last.items():
        if name in kept or (isinstance(name, Var) and not name.bar and name.id <= 0):
            continue  # returned, or a parameter (the caller holds it anyway)
        if isinstance(name, Var) and parent[name.id] is SCALAR:  # an adjoint has z's shape
            continue
        releases.setdefault(i, []).append(name)
    ordered = {i: tuple(sorted(names, key=_order)) for i, names in releases.items()}
    return replace(program, releases=ordered)


def _order(name: Var | Temp) -> tuple[int, int, int]:
    if isinstance(name, Temp):
        return (1, 0, name.id)
    return (0, int(name.bar), name.id)


def _map(expr: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """expr rebuilt bottom-up with fn applied to every node."""
    if isinstance(expr, Call):
        args = tuple(_map(a, fn) for a in expr.args)
        keywords = tuple((n, _map(v, fn)) for n, v in expr.keywords)
        expr = Call(expr.lib, expr.fn, args, keywords)
    elif isinstance(expr, BinOp):
        expr = BinOp(expr.op, _map(expr.left, fn), _map(expr.right, fn))
    elif isinstance(expr, Neg):
        expr = Neg(_map(expr.operand, fn))
    elif isinstance(expr, Index):
        expr = Index(_map(expr.value, fn), expr.index)
    return fn(expr)


def _sigmoid_chains(trace: Trace) -> list[tuple[int, int, int, int]]:
    """(u, e, d, s) for each s = 1 / d, d = e + 1, e = np.exp(-u) whose e and d feed nothing
    else: the sigmoid s = 1 / (1 + exp(-u)) spelled out."""
    readers: dict[int, int] = {}
    for st in trace.steps:
        for a in set(st.args):
            readers[a] = readers.get(a, 0) + 1
    out = []
    for st in trace.steps:
        if st.op != "product" or st.params != (-1,) or st.args[0] <= 0:
            continue
        d = trace.step(st.args[0])
        if d.op != "affine" or d.params != (1, 1) or d.args[0] <= 0:
            continue
        e = trace.step(d.args[0])
        if e.op != "exp" or e.params != (-1, 0, "numpy"):
            continue
        if readers[e.index] == readers[d.index] == 1 and trace.output not in (e.index, d.index):
            out.append((e.args[0], e.index, d.index, st.index))
    return out


def _inline(expr: Expr, step: Step) -> Expr:
    """expr with the variable of `step` replaced by the expression computing it."""
    rhs = rule(step).primal(step)
    return _map(expr, lambda n: rhs if n == Var(step.index) else n)


SIGMOID_NOTE = "{3} = sigmoid({0}), steps {1}..{3}: d{3}/d{0} = {3} * (1 - {3})"


def fuse_sigmoids(program: Program) -> Program:
    """Each spelled-out sigmoid s = 1 / (exp(-u) + 1) of array code in one line, with the
    adjoint ubar = sbar * s * (1 - s) (the seed's a(1 - a)) instead of three steps' adjoints:
    the gradient keeps s alone alive, not exp(-u) too."""
    trace = program.trace
    if not trace.arrays:
        return program
    chains = _sigmoid_chains(trace)
    if not chains:
        return program
    inner = {e: c for c in chains for e in c[1:3]}
    by_s = {c[3]: c for c in chains}
    body: list[Assign] = []
    for line in program.body:
        if line.step in inner and line.kind == "primal":
            continue
        if line.step in by_s and line.kind == "primal":
            u, e, d, s = by_s[line.step]
            expr = _inline(_inline(line.expr, trace.step(d)), trace.step(e))
            body.append(replace(line, expr=expr, note=SIGMOID_NOTE, note_vars=(u, e, d, s)))
            continue
        if line.kind in ("edge", "temp") and (line.step in by_s or line.step in inner):
            chain = by_s.get(line.step) or inner[line.step]  # type: ignore[arg-type]
            if line.kind == "edge" and line.step == chain[1]:  # e = exp(-u): the edge into u
                u, e, d, s = chain
                sbar, sv = Var(s, True), Var(s)
                partial = BinOp("*", sv, BinOp("-", Const(1), sv))
                expr = BinOp("*", BinOp("*", sbar, sv), BinOp("-", Const(1), sv))
                body.append(
                    replace(
                        line,
                        expr=expr,
                        partial=partial,
                        step=s,
                        note=SIGMOID_NOTE,
                        note_vars=(u, e, d, s),
                    )
                )
            continue
        body.append(line)
    return replace(program, body=body)


#: The passes, by name, in the order they run.
PASSES: dict[str, Callable[[Program], Program]] = {
    "sigmoid": fuse_sigmoids,
    "shapes": shapes_from_values_kept_anyway,
    "dead-code": eliminate_dead_code,
    "release": release_dead_arrays,
}


def optimize(program: Program, passes: Iterable[str] | None = None) -> Program:
    """The passes named in `passes` (all by default), in their fixed order."""
    chosen = set(PASSES if passes is None else passes)
    unknown = chosen - set(PASSES)
    if unknown:
        raise ValueError(f"unknown passes {sorted(unknown)}; known: {', '.join(PASSES)}")
    for name, run in PASSES.items():
        if name in chosen:
            program = run(program)
    return program
