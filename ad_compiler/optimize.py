"""Program to program: passes that make the generated code do less without changing results."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from .ir import (
    Assign,
    BinOp,
    Call,
    Const,
    Expr,
    Index,
    Lit,
    Neg,
    Program,
    Select,
    Step,
    Temp,
    Trace,
    Var,
    accumulated,
    children,
    neg,
    reads,
    walk,
)
from .rules import SHAPE_ARGUMENTS, SOURCE_NAMES, rule

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


Atoms = frozenset[int]


def shape_atoms(trace: Trace) -> dict[int, Atoms]:
    """For each variable, the values whose broadcast its shape is (an empty set for a value
    that is always a scalar, the variable alone when no operand tells its shape). Broadcasting
    is associative, commutative and idempotent, so equal sets are equal shapes, and a shape
    whose set holds another's is that one broadcast with more."""
    atoms: dict[int, Atoms] = {v: frozenset((v,)) for v in trace.inputs}
    for s in trace.steps:
        operands = rule(s).shape_operands(s)
        atoms[s.index] = (
            frozenset((s.index,))
            if operands is None
            else frozenset().union(*(atoms[a] for a in operands))
        )
    return atoms


def shape_parents(trace: Trace) -> dict[int, int | None]:
    """For each variable, an earlier variable of the same shape (SCALAR for values that are
    always scalars, the variable itself when none is known): `exp(-z)` has z's shape, `sum(x)`
    is a scalar, and `log(u) - y * u` has the shape of `y * u`."""
    atoms = shape_atoms(trace)
    first: dict[Atoms, int] = {}
    parent: dict[int, int | None] = {}
    for v in [*trace.inputs, *(s.index for s in trace.steps)]:
        mine = atoms[v]
        if not mine:
            parent[v] = SCALAR
            continue
        same = [a for a in (trace.step(v).args if v > 0 else ()) if atoms[a] == mine]
        parent[v] = same[-1] if same else first.setdefault(mine, v)
    return parent


def _shape_argument(expr: Call) -> int | None:
    if expr.lib == "numpy" and expr.fn == "size":
        return 0
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
    return fn(_rebuild(expr, lambda child: _map(child, fn)))


def _rebuild(expr: Expr, fn: Callable[[Expr], Expr]) -> Expr:
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
        return Index(fn(expr.value), expr.index)
    if isinstance(expr, Select):
        return Select(fn(expr.test), fn(expr.normal), fn(expr.singular))
    return expr


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


# ---------------------------------------------------------------------------------------------
# Scalar clean-up of the reverse sweep: constants, copies, shared subexpressions
# ---------------------------------------------------------------------------------------------


def _substitute(expr: Expr, known: dict[Var | Temp, Expr]) -> Expr:
    """expr with each name of `known` replaced by its expression."""
    if not known or not (reads(expr) & known.keys()):
        return expr
    return _map(expr, lambda n: known.get(n, n) if isinstance(n, (Var, Temp)) else n)


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
    returned = _returned(program)
    known: dict[Var | Temp, Expr] = {}
    body: list[Assign] = []
    for line in program.body:
        expr = _substitute(line.expr, known)
        if expr is not line.expr:  # the rules simplified all the rest
            expr = _map(expr, lambda n: _fold_node(n, floats))
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
    return _with_results(program, body, known)


def _returned(program: Program) -> set[Var | Temp]:
    """The names the program returns."""
    out: set[Var | Temp] = set()
    for r in program.results():
        out |= reads(r)
    return out


def _with_results(program: Program, body: list[Assign], known: dict[Var | Temp, Expr]) -> Program:
    """program with `body`, its results rewritten through `known`."""
    value = _substitute(program.value, known) if program.value is not None else None
    grads = tuple(_substitute(g, known) for g in program.grads) if program.grads else None
    return replace(program, body=body, value=value, grads=grads)


def propagate_copies(program: Program) -> Program:
    """An adjoint line `a = b` that only copies another adjoint (or, in scalar code, a primal
    value) disappears, and later lines read b, when neither a nor b is assigned again
    (`z2bar = z5bar` for z5 = z2 + z4)."""
    if program.grads is None:
        return program
    assigned_after: dict[Var | Temp, int] = {}
    for i, line in enumerate(program.body):
        assigned_after[line.target] = i  # the last line assigning each name
    returned = _returned(program)  # a gradient keeps its line, to be read
    known: dict[Var | Temp, Expr] = {}
    body: list[Assign] = []
    for i, line in enumerate(program.body):
        expr = _substitute(line.expr, known)
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
    return _with_results(program, body, known)


_CSE_NOTE = "computed once: read again by the reverse sweep"


def _shared_subexpressions(body: list[Assign]) -> tuple[set[Expr], set[int]]:
    """The computations (calls and arithmetic on primal values, each assigned once) that
    appear more than once, outside the branches of a Select (a branch not taken must not be
    evaluated), and the lines they appear in."""
    first: dict[Expr, int] = {}  # each computation seen, and its first line
    shared: set[Expr] = set()
    lines: set[int] = set()
    at = [0]  # the line being read

    def pure(node: Expr) -> bool:
        """Whether node reads only primal values; registers its computations."""
        kind = type(node)
        if kind is Var:
            return not node.bar  # type: ignore[union-attr]
        if kind is Const or kind is Lit:
            return True
        if kind is Temp or kind is Select:
            return False
        seen_at = first.get(node)
        if seen_at is not None:
            shared.add(node)
            lines.update((seen_at, at[0]))
            return True  # its own subexpressions were counted with its first copy
        if all([pure(c) for c in children(node)]) and kind is not Index:
            first[node] = at[0]
            return True
        return False

    for at[0], line in enumerate(body):
        pure(line.expr)
    return shared, lines


def eliminate_common_subexpressions(program: Program) -> Program:
    """A computation on primal values that the gradient would do twice (`6.28 * z1` inside
    `sin` in the primal and inside `cos` in the adjoint) is done once, into a temporary, just
    before the first line that needs it. Scalar code only: in array code the rules already
    reuse primal arrays, and a temporary would keep an array alive."""
    if program.grads is None or program.trace.arrays:
        return program
    shared, lines = _shared_subexpressions(program.body)
    if not shared:
        return program
    next_id = max((n.id for line in program.body for n in [line.target, *walk(line.expr)]
                   if isinstance(n, Temp)), default=0)  # fmt: skip
    temps: dict[Expr, Temp] = {}
    body: list[Assign] = []

    def hoist(expr: Expr, line: Assign) -> Expr:
        nonlocal next_id
        kind = type(expr)
        if kind is Select or kind not in (BinOp, Call, Neg, Index):
            return expr
        if expr in temps:
            return temps[expr]
        inner = _rebuild(expr, lambda e: hoist(e, line))
        if expr in shared:
            next_id += 1
            temps[expr] = Temp(next_id)
            body.append(Assign(Temp(next_id), inner, line.kind, step=line.step, note=_CSE_NOTE))
            return temps[expr]
        return inner

    for i, line in enumerate(program.body):
        expr = hoist(line.expr, line) if i in lines else line.expr
        body.append(line if expr is line.expr or expr == line.expr else replace(line, expr=expr))
    return replace(program, body=body)


#: The most lines of unfused code that one fused line may stand for (its comment lists them).
FUSED_AT_MOST = 6


def _writes_between(writes: list[int], start: int, stop: int) -> bool:
    """Whether a sorted list of line numbers has one strictly between start and stop."""
    k = bisect.bisect_right(writes, start)
    return k < len(writes) and writes[k] < stop


def _assigned_between(
    writes: dict[int, list[int]], names: Iterable[int], start: int, stop: int
) -> bool:
    """Whether a line strictly between start and stop assigns one of `names` (by _key)."""
    return any(_writes_between(writes.get(n, []), start, stop) for n in names)


def _parts(line: Assign) -> tuple[Assign, ...]:
    """The unfused lines that `line` stands for."""
    return line.fused or (line,)


def _key(name: Var | Temp) -> int:
    """A name as an int, for dictionaries that hash millions of times: 2 id + bar for a
    variable or adjoint, -1 - id for a temporary."""
    return 2 * name.id + name.bar if type(name) is Var else -1 - name.id  # type: ignore[union-attr]


class _Names:
    """What one line reads, by _key: each name with how often, and those read inside a Select
    branch."""

    __slots__ = ("count", "in_branches")

    def __init__(self, expr: Expr) -> None:
        self.count: dict[int, int] = {}
        self.in_branches: set[int] = set()
        self._scan(expr, False)

    def _scan(self, node: Expr, branch: bool) -> None:
        kind = type(node)
        if kind is Var or kind is Temp:
            key = _key(node)  # type: ignore[arg-type]
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

    def __ior__(self, other: _Names) -> _Names:
        for name, n in other.count.items():
            self.count[name] = self.count.get(name, 0) + n
        self.in_branches |= other.in_branches
        return self


def _sum_contributions(
    body: list[Assign], names: list[_Names], targets: list[int]
) -> tuple[list[Assign], list[_Names], list[int]]:
    """Each adjoint's first line and its accumulations as one sum where the last one was, when
    nothing reads the adjoint in between and nothing they read is assigned in between."""
    writes: dict[int, list[int]] = {}
    readers: dict[int, list[int]] = {}
    for i, target in enumerate(targets):
        writes.setdefault(target, []).append(i)
        for name in names[i].count:
            readers.setdefault(name, []).append(i)
    gone: set[int] = set()
    for target, at in writes.items():
        if len(at) < 2:
            continue
        at = at[:FUSED_AT_MOST]
        first, last = at[0], at[-1]
        if (
            body[first].accumulate
            or body[first].kind == "primal"
            or not all(body[i].accumulate for i in at[1:])
            or sum(len(_parts(body[i])) for i in at) > FUSED_AT_MOST
            or _writes_between(readers.get(target, []), first - 1, last + 1)
            or any(_assigned_between(writes, names[i].count, i, last) for i in at[:-1])
        ):
            continue
        expr = body[first].expr
        terms = [body[i].expr for i in at[1:]]
        if type(expr) is Neg and type(terms[0]) is not Neg:
            # -a + b is b - a to the bit (addition commutes, negation is exact): one operation
            expr, terms = BinOp("-", terms[0], expr.operand), terms[1:]  # type: ignore[union-attr]
        for term in terms:
            expr = accumulated(expr, term)
        parts = tuple(p for i in at for p in _parts(body[i]))
        body[last] = replace(body[last], expr=expr, accumulate=False, fused=parts)
        for i in at[:-1]:
            names[last] |= names[i]
        gone.update(at[:-1])
    if not gone:
        return body, names, targets
    kept = [i for i in range(len(body)) if i not in gone]
    return [body[i] for i in kept], [names[i] for i in kept], [targets[i] for i in kept]


def _read_once(
    body: list[Assign], names: list[_Names], targets: list[int], returned: set[int]
) -> dict[int, int]:
    """The names (by _key) assigned by one line and read exactly once, outside any Select
    branch, by a later line of the same sweep (primal or reverse): name -> the reading line."""
    count: dict[int, int] = {}
    reader: dict[int, int] = {}
    for i, line_names in enumerate(names):
        for name, n in line_names.count.items():
            count[name] = count.get(name, 0) + n
            reader[name] = i
    defined: dict[int, int] = {}
    assigned_again: set[int] = set()
    for i, target in enumerate(targets):
        if target in defined:
            assigned_again.add(target)
        defined[target] = i
    out: dict[int, int] = {}
    for name, n in count.items():
        if n != 1 or name not in defined or name in assigned_again or name in returned:
            continue
        i, u = defined[name], reader[name]
        if u > i and (body[i].kind == "primal") == (body[u].kind == "primal"):
            if not body[i].accumulate and name not in names[u].in_branches:
                out[name] = u
    return out


def _replace(expr: Expr, known: dict[int, Expr]) -> Expr:
    """expr with each name of `known` (by _key; each read once) replaced by its expression."""
    kind = type(expr)
    if kind is Var or kind is Temp:
        return known.get(_key(expr), expr)  # type: ignore[arg-type]
    if kind is Const or kind is Lit:
        return expr
    return _rebuild(expr, lambda child: _replace(child, known))


def _inline_read_once(
    body: list[Assign], names: list[_Names], targets: list[int], returned: set[int]
) -> list[Assign]:
    """Each value read by just one later line computed inside that line, when nothing it reads
    is assigned between the two."""
    once = _read_once(body, names, targets, returned)
    writes: dict[int, list[int]] = {}
    for i, target in enumerate(targets):
        writes.setdefault(target, []).append(i)
    pending: dict[int, tuple[int, Assign, set[int]]] = {}  # name -> (its line, line, reads)
    out: list[Assign] = []
    for i, line in enumerate(body):
        read = set(names[i].count)
        inlined = [pending.pop(n) for n in read if n in pending] if pending else []
        if inlined:
            size = len(_parts(line))
            known: dict[int, Expr] = {}
            parts: tuple[Assign, ...] = ()
            for at, done, its_reads in sorted(inlined, key=lambda item: item[0]):
                if size + len(_parts(done)) > FUSED_AT_MOST:
                    out.append(done)  # on its own line, just before this one
                    continue
                size += len(_parts(done))
                known[targets[at]] = done.expr
                parts += _parts(done)
                read |= its_reads
            if known:
                read -= known.keys()
                line = replace(line, expr=_replace(line.expr, known), fused=parts + _parts(line))
        u = once.get(targets[i])
        if u is not None and not _assigned_between(writes, read, i, u):
            pending[targets[i]] = (i, line, read)
            continue
        out.append(line)
    return out


def fuse_lines(program: Program) -> Program:
    """Fewer temporaries in scalar code: an adjoint's contributions are summed in one line (the
    seed's dz_T/dz_t = sum over z_t's children), and a value read by just one later line of
    its sweep is computed inside that line. Every operation and its operands stay the same
    (but for a sum's opening `-s + a`, written `a - s`), so the results are the same to the
    bit; each line's comment names all the steps it does."""
    if program.grads is None or program.trace.arrays:
        return program
    body = list(program.body)
    names = [_Names(line.expr) for line in body]
    body, names, targets = _sum_contributions(body, names, [_key(x.target) for x in body])
    returned = {_key(name) for name in _returned(program)}
    return replace(program, body=_inline_read_once(body, names, targets, returned))


# ---------------------------------------------------------------------------------------------
# Arrays: uniform adjoints kept as numbers
# ---------------------------------------------------------------------------------------------

_SCALAR_ATOMS: Atoms = frozenset()
_UNIFORM_HELPERS = {"_unmean", "_unsum"}


class _Shapes:
    """The shape atoms (see shape_atoms) of the expressions of one array program: an adjoint
    has its variable's shape, a temporary its expression's, and `known` overrides both for
    names that now hold a number."""

    def __init__(self, program: Program) -> None:
        self.atoms = shape_atoms(program.trace)
        self.known: dict[int, Atoms | None] = {}
        for line in program.body:
            if type(line.target) is Temp:
                self.known[_key(line.target)] = self.of(line.expr)

    def of(self, expr: Expr) -> Atoms | None:
        """expr's atoms, None when its shape is not known from its operands'."""
        kind = type(expr)
        if kind is Const:
            return _SCALAR_ATOMS
        if kind is Var or kind is Temp:
            key = _key(expr)  # type: ignore[arg-type]
            if key in self.known:
                return self.known[key]
            return self.atoms.get(expr.id) if kind is Var else None  # type: ignore[union-attr]
        if kind is Neg:
            return self.of(expr.operand)  # type: ignore[union-attr]
        if kind is BinOp and expr.op in _ELEMENTWISE:  # type: ignore[union-attr]
            return self._union(expr.left, expr.right)  # type: ignore[union-attr]
        if kind is Call:
            lib, fn, args = expr.lib, expr.fn, expr.args  # type: ignore[union-attr]
            if lib == "math" or (lib == "numpy" and fn == "size"):
                return _SCALAR_ATOMS
            if (lib == "numpy" and fn in _UNARY_UFUNCS) or (lib == "adc" and fn == "_sigmoid_neg"):
                return self._union(*args)
            if lib == "adc" and fn == "_unbroadcast":
                return self.of(args[1])
        return None

    def _union(self, *exprs: Expr) -> Atoms | None:
        out = _SCALAR_ATOMS
        for e in exprs:
            mine = self.of(e)
            if mine is None:
                return None
            out |= mine
        return out


_ELEMENTWISE = {"+", "-", "*", "/", "**"}


def _uniform(line: Assign, shapes: _Shapes) -> tuple[Expr, Atoms] | None:
    """For `t = _unmean(g, like)` or `t = _unsum(g, like)` over all axes, with g a number: the
    number every element of t equals, and like's atoms."""
    expr = line.expr
    if line.accumulate or type(expr) is not Call or expr.lib != "adc":
        return None
    if expr.fn not in _UNIFORM_HELPERS or expr.args[2:] != (Lit(None), Lit(False)):
        return None
    g, like = expr.args[:2]
    atoms = shapes.of(like)
    if shapes.of(g) != _SCALAR_ATOMS or not atoms or not isinstance(like, Var):
        return None
    if expr.fn == "_unsum":
        return g, atoms
    return BinOp("/", g, Call("numpy", "size", (like,))), atoms


def _scaled_reads(expr: Expr, name: int, atoms: Atoms, shapes: _Shapes) -> tuple[int, int]:
    """(reads of name in expr, those that are a factor `name * e` or `e * name`, or a dividend
    `name / e`, with e's shape at least that of `atoms`)."""
    kind = type(expr)
    if kind is Var or kind is Temp:
        return (1, 0) if _key(expr) == name else (0, 0)  # type: ignore[arg-type]
    if kind is Const or kind is Lit:
        return 0, 0
    total = scaled = 0
    for child in children(expr):
        t, s = _scaled_reads(child, name, atoms, shapes)
        total, scaled = total + t, scaled + s
    if kind is BinOp and expr.op in ("*", "/"):  # type: ignore[union-attr]
        pairs = [(expr.left, expr.right)]  # type: ignore[union-attr]
        if expr.op == "*":  # type: ignore[union-attr]
            pairs.append((expr.right, expr.left))  # type: ignore[union-attr]
        for mine, other in pairs:
            if type(mine) in (Var, Temp) and _key(mine) == name:  # type: ignore[arg-type]
                other_atoms = shapes.of(other)
                scaled += other_atoms is not None and atoms <= other_atoms
    return total, scaled


def _negation_pushed(body: list[Assign], shapes: _Shapes, returned: set[int]) -> list[Assign]:
    """`-(a * e)`, and `t = a * e; x = -t` where t is read nowhere else, as `x = -a * e` when
    a is a number: the sign goes to the number, not to every element."""
    targets = [_key(line.target) for line in body]
    defined: dict[int, list[int]] = {}
    for i, key in enumerate(targets):
        defined.setdefault(key, []).append(i)
    count: dict[int, int] = {}
    first_mention: dict[int, int] = {}
    for i, line in enumerate(body):
        for key, n in _Names(line.expr).count.items():
            count[key] = count.get(key, 0) + n
            first_mention.setdefault(key, i)
    for key, at in defined.items():
        first_mention[key] = min(first_mention.get(key, at[0]), at[0])

    def push(node: Expr) -> Expr:
        if type(node) is Neg and type(node.operand) is BinOp and node.operand.op == "*":  # type: ignore[union-attr]
            a, e = node.operand.left, node.operand.right  # type: ignore[union-attr]
            if shapes.of(a) == _SCALAR_ATOMS:
                return BinOp("*", neg(a), e)
            if shapes.of(e) == _SCALAR_ATOMS:
                return BinOp("*", a, neg(e))
        return node

    out = [replace(line, expr=_map(line.expr, push)) for line in body]
    gone: set[int] = set()
    for i, line in enumerate(out):
        expr = line.expr
        if line.accumulate or type(expr) is not Neg or type(expr.operand) not in (Var, Temp):
            continue
        t = _key(expr.operand)  # type: ignore[arg-type]
        if count.get(t) != 1 or t in returned or len(defined.get(t, ())) != 1:
            continue
        d = defined[t][0]
        product = out[d].expr
        if d > i or out[d].accumulate or type(product) is not BinOp or product.op != "*":
            continue
        a, e = product.left, product.right
        if shapes.of(a) != _SCALAR_ATOMS:
            a, e = e, a
        x = targets[i]
        if shapes.of(a) != _SCALAR_ATOMS or first_mention[x] != i:
            continue
        out[d] = replace(
            out[d],
            target=line.target,
            expr=BinOp("*", neg(a), e),
            fused=_parts(out[d]) + _parts(line),
        )
        gone.add(i)
    return [line for i, line in enumerate(out) if i not in gone]


def _double_negations_undone(body: list[Assign]) -> list[Assign]:
    """`-z` where z = -u reads u itself: the two negations cancel exactly."""
    negated: dict[Var, Expr] = {}
    for line in body:
        expr = line.expr
        if line.kind == "primal" and type(expr) is Neg and type(expr.operand) is Var:
            negated[line.target] = expr.operand  # type: ignore[index]
    if not negated:
        return body

    def undo(node: Expr) -> Expr:
        if type(node) is Neg and node.operand in negated:  # type: ignore[union-attr]
            return negated[node.operand]  # type: ignore[union-attr,index]
        return node

    return [replace(line, expr=_map(line.expr, undo)) for line in body]


def keep_uniform_adjoints(program: Program) -> Program:
    """In array code, the adjoint of a sum or mean over all axes is one number spread over
    the input's shape; where every reader multiplies it by an array of at least that shape,
    it stays that number (no array of copies is made). A negation that follows a product
    with a number goes to the number, and two negations in a row cancel. The results are the
    same to the bit."""
    if program.grads is None or not program.trace.arrays:
        return program
    body = _double_negations_undone(program.body)
    shapes = _Shapes(program)
    returned = {_key(name) for name in _returned(program)}
    definitions: dict[int, int] = {}
    for line in body:
        key = _key(line.target)
        definitions[key] = definitions.get(key, 0) + 1
    for i, line in enumerate(body):
        found = _uniform(line, shapes)
        key = _key(line.target)
        if found is None or definitions[key] != 1 or key in returned:
            continue
        number, atoms = found
        total = scaled = 0
        for other in body[i + 1 :]:
            t, s = _scaled_reads(other.expr, key, atoms, shapes)
            total, scaled = total + t, scaled + s
        if total == scaled:
            body[i] = replace(line, expr=number)
            shapes.known[key] = _SCALAR_ATOMS
    return replace(program, body=_negation_pushed(body, shapes, returned))


# ---------------------------------------------------------------------------------------------
# Arrays: accumulating into an adjoint's own array
# ---------------------------------------------------------------------------------------------

# Helpers whose result is a new array (or an immutable number), never one they were given.
_NEW_FROM_HELPERS = {"_unmean", "_unindex", "_zero", "_sigmoid_neg", "_matmul_a", "_matmul_b"}
_NUMPY_NEW = {"where", "clip", "sum", "mean", "dot", "matmul", "logaddexp", "maximum", "minimum"}
_ARITHMETIC = {"+", "-", "*", "/", "**", "@"}
_UNARY_UFUNCS = set(SOURCE_NAMES["numpy"])  # np.exp, np.log, ...: each a numpy ufunc


def _is_new(expr: Expr) -> bool:
    """Whether expr's value is a new array that nothing else holds, or an immutable number."""
    if isinstance(expr, Const) or isinstance(expr, Neg):
        return True
    if isinstance(expr, BinOp):
        return expr.op in _ARITHMETIC
    if isinstance(expr, Call) and expr.lib == "adc":
        if expr.fn == "_unbroadcast":  # g itself when shapes agree, else a new sum or copy
            return _is_new(expr.args[0])
        return expr.fn in _NEW_FROM_HELPERS
    if isinstance(expr, Call) and expr.lib == "numpy":
        return expr.fn in _NUMPY_NEW or expr.fn in _UNARY_UFUNCS
    return False


def _held(expr: Expr) -> set[Var | Temp]:
    """The names whose array expr's value may be, or be a view of."""
    if _is_new(expr):
        return set()
    if isinstance(expr, (Var, Temp)):
        return {expr}
    out: set[Var | Temp] = set()
    for child in children(expr):
        out |= _held(child)
    return out


def _float64(expr: Expr, strong: set[Var | Temp], wide: set[Var | Temp]) -> tuple[bool, bool]:
    """(strong, wide) for expr's value: strong when it is certainly a float64 array or numpy
    float64, wide when it is that or a Python number (never an array of a narrower dtype, so
    adding anything real into it in place gives the dtype `+` gives)."""
    if isinstance(expr, Const):
        return False, True
    if isinstance(expr, (Var, Temp)):
        return expr in strong, expr in wide
    if isinstance(expr, Neg):
        return _float64(expr.operand, strong, wide)
    if isinstance(expr, BinOp) and expr.op in _ARITHMETIC:
        ls, lw = _float64(expr.left, strong, wide)
        rs, rw = _float64(expr.right, strong, wide)
        return ls or rs, ls or rs or (lw and rw)
    if isinstance(expr, Call) and expr.lib == "adc":
        if expr.fn == "_unindex":
            return True, True  # zeros of float64 with g written in
        if expr.fn == "_zero":
            return False, True
        first = _float64(expr.args[0], strong, wide)
        if expr.fn == "_unmean":  # a float64 array, or numpy float64, divided by the count
            return first[1], first[1]
        if expr.fn in ("_unbroadcast", "_unsum"):  # or a Python float for a Python number
            return False, first[1]
    return False, False


def accumulate_in_place(program: Program) -> Program:
    """In array code, `g = g + e` becomes `g += e` where g holds a new float64 array (or a
    number) that no other name holds or views: adding into it changes nothing but the memory
    used. Never into an argument, a view, a value read under another name, or an array whose
    dtype the sum would widen."""
    if not program.trace.arrays or program.grads is None:
        return program
    held_elsewhere: set[Var | Temp] = set()
    for line in program.body:
        if not line.accumulate:
            held_elsewhere |= _held(line.expr)
    for r in program.results():
        if not isinstance(r, (Var, Temp)):
            held_elsewhere |= _held(r)
    new: set[Var | Temp] = set()
    strong: set[Var | Temp] = set()
    wide: set[Var | Temp] = set()
    body: list[Assign] = []
    for line in program.body:
        t = line.target
        s, w = _float64(line.expr, strong, wide)
        if line.accumulate:
            inplace = t in new and t in wide and t not in held_elsewhere
            s, w = s or t in strong, s or t in strong or (w and t in wide)
            is_new = True
            body.append(replace(line, inplace=True) if inplace else line)
        else:
            is_new = _is_new(line.expr)
            body.append(line)
        for names, flag in ((new, is_new), (strong, s), (wide, w)):
            if flag:
                names.add(t)
            else:
                names.discard(t)
    return replace(program, body=body)


#: The passes, by name, in the order they run.
PASSES: dict[str, Callable[[Program], Program]] = {
    "sigmoid": fuse_sigmoids,
    "uniform": keep_uniform_adjoints,
    "shapes": shapes_from_values_kept_anyway,
    "fold": fold_constants,
    "copies": propagate_copies,
    "cse": eliminate_common_subexpressions,
    "dead-code": eliminate_dead_code,
    "fuse": fuse_lines,
    "inplace": accumulate_in_place,
    "release": release_dead_arrays,
}


def optimize(program: Program, passes: Iterable[str] | None = None) -> Program:
    """The passes named in `passes` (all by default), in their fixed order."""
    chosen = _chosen(passes)
    for name, run in PASSES.items():
        if name in chosen:
            program = run(program)
    return program


def _chosen(passes: Iterable[str] | None) -> set[str]:
    chosen = set(PASSES if passes is None else passes)
    unknown = chosen - set(PASSES)
    if unknown:
        raise ValueError(f"unknown passes {sorted(unknown)}; known: {', '.join(PASSES)}")
    return chosen


def optimize_programs(
    programs: Sequence[Program], passes: Iterable[str] | None = None
) -> list[Program]:
    """`optimize` for f, grad_f and value_and_grad_f (reverse.programs' three). In scalar code
    grad_f is the optimised value_and_grad_f without its value, less what only the value
    needed: the passes run over a long trace once, not twice, and the two functions share
    their lines. (Array code is short, and there `shapes` reads values that only grad_f
    drops, so its grad_f is optimised on its own.)"""
    primal, grad, both = programs
    assert grad.value is None and both.value is not None and grad.grads == both.grads
    chosen = _chosen(passes)
    if grad.trace.arrays:
        return [optimize(p, chosen) for p in programs]
    both = optimize(both, chosen)
    derived = replace(both, name=grad.name, value=None, releases={})
    for name in ("dead-code", "release"):
        if name in chosen:
            derived = PASSES[name](derived)
    return [optimize(primal, chosen), derived, both]
