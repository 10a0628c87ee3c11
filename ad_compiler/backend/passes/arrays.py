"""Passes for array code: shapes read from values kept anyway, sigmoids in one line, uniform
adjoints kept as numbers, accumulation into an adjoint's own array, dead arrays released."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ...core.expr import (
    BinOp,
    Call,
    Const,
    Expr,
    Lit,
    Neg,
    Temp,
    Var,
    children,
    neg,
    reads,
    transform,
)
from ...core.ir import Assign, Program, Step, Trace
from ...core.primitives import ELEMENTWISE_CALLS, FRESH_CALLS, rule
from ...core.runtime import FRESH
from .common import (
    SCALAR,
    LineNames,
    name_key,
    returned_names,
    shape_argument,
    unfused,
    value_reads,
)

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


def _with_shapes(expr: Expr, shape_of: Callable[[int], Expr]) -> Expr:
    """expr with each shape-only helper argument `Var(k)` replaced by shape_of(k)."""

    def swap(node: Expr) -> Expr:
        k = shape_argument(node) if isinstance(node, Call) else None
        if k is None:
            return node
        like = node.args[k]
        if not isinstance(like, Var) or like.bar:
            return node
        args = (*node.args[:k], shape_of(like.id), *node.args[k + 1 :])
        return Call(node.lib, node.fn, args, node.keywords)

    return transform(expr, swap)


def shapes_from_values_kept_anyway(program: Program) -> Program:
    """Helpers that read a value only for its shape read instead the nearest value of the same
    shape that the program computes anyway, so a gradient skips what only the function's value
    used (the `logaddexp` of a loss)."""
    if not program.trace.arrays:
        return program
    parent = shape_parents(program.trace)
    needed: set[Var | Temp] = set()
    for r in program.results():
        needed |= value_reads(r)
    for line in reversed(program.body):
        if line.target in needed:
            needed |= value_reads(line.expr)

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
    return transform(expr, lambda n: rhs if n == Var(step.index) else n)


SIGMOID_NOTE = "{3} = sigmoid({0}), steps {1}..{3}: d{3}/d{0} = {3} * (1 - {3})"


def fuse_sigmoids(program: Program) -> Program:
    """Each spelled-out sigmoid s = 1 / (exp(-u) + 1) of array code in one line, with the
    adjoint ubar = sbar * s * (1 - s) (the lecture's a(1 - a)) instead of three steps' adjoints:
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
                self.known[name_key(line.target)] = self.of(line.expr)

    def of(self, expr: Expr) -> Atoms | None:
        """expr's atoms, None when its shape is not known from its operands'."""
        kind = type(expr)
        if kind is Const:
            return _SCALAR_ATOMS
        if kind is Var or kind is Temp:
            key = name_key(expr)  # type: ignore[arg-type]
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
            elementwise = lib == "numpy" and fn in ELEMENTWISE_CALLS
            if elementwise or (lib == "adc" and fn == "_sigmoid_neg"):
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
        return (1, 0) if name_key(expr) == name else (0, 0)  # type: ignore[arg-type]
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
            if type(mine) in (Var, Temp) and name_key(mine) == name:  # type: ignore[arg-type]
                other_atoms = shapes.of(other)
                scaled += other_atoms is not None and atoms <= other_atoms
    return total, scaled


def _negation_pushed(body: list[Assign], shapes: _Shapes, returned: set[int]) -> list[Assign]:
    """`-(a * e)`, and `t = a * e; x = -t` where t is read nowhere else, as `x = -a * e` when
    a is a number: the sign goes to the number, not to every element."""
    targets = [name_key(line.target) for line in body]
    defined: dict[int, list[int]] = {}
    for i, key in enumerate(targets):
        defined.setdefault(key, []).append(i)
    count: dict[int, int] = {}
    first_mention: dict[int, int] = {}
    for i, line in enumerate(body):
        for key, n in LineNames(line.expr).count.items():
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

    out = [replace(line, expr=transform(line.expr, push)) for line in body]
    gone: set[int] = set()
    for i, line in enumerate(out):
        expr = line.expr
        if line.accumulate or type(expr) is not Neg or type(expr.operand) not in (Var, Temp):
            continue
        t = name_key(expr.operand)  # type: ignore[arg-type]
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
            fused=unfused(out[d]) + unfused(line),
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

    return [replace(line, expr=transform(line.expr, undo)) for line in body]


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
    returned = {name_key(name) for name in returned_names(program)}
    definitions: dict[int, int] = {}
    for line in body:
        key = name_key(line.target)
        definitions[key] = definitions.get(key, 0) + 1
    for i, line in enumerate(body):
        found = _uniform(line, shapes)
        key = name_key(line.target)
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


_ARITHMETIC = {"+", "-", "*", "/", "**", "@"}




def _is_new(expr: Expr) -> bool:
    """Whether expr's value is a new array that nothing else holds, or an immutable number."""
    if isinstance(expr, Const) or isinstance(expr, Neg):
        return True
    if isinstance(expr, BinOp):
        return expr.op in _ARITHMETIC
    if isinstance(expr, Call) and expr.lib == "adc":
        if expr.fn == "_unbroadcast":  # g itself when shapes agree, else a new sum or copy
            return _is_new(expr.args[0])
        return expr.fn in FRESH
    if isinstance(expr, Call) and expr.lib == "numpy":
        return expr.fn in FRESH_CALLS
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
