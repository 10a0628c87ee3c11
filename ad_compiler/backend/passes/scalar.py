"""Passes for scalar code: common subexpressions computed once, and lines fused."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
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
    rebuild,
    walk,
)
from ...core.ir import Assign, Program
from .common import LineNames, checked_steps, name_key, returned_names, unfused

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
        inner = rebuild(expr, lambda e: hoist(e, line))
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
    """Whether a line strictly between start and stop assigns one of `names` (by name_key)."""
    return any(_writes_between(writes.get(n, []), start, stop) for n in names)


def _sum_contributions(
    body: list[Assign], names: list[LineNames], targets: list[int]
) -> tuple[list[Assign], list[LineNames], list[int]]:
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
            or sum(len(unfused(body[i])) for i in at) > FUSED_AT_MOST
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
        parts = tuple(p for i in at for p in unfused(body[i]))
        body[last] = replace(body[last], expr=expr, accumulate=False, fused=parts)
        for i in at[:-1]:
            names[last] |= names[i]
        gone.update(at[:-1])
    if not gone:
        return body, names, targets
    kept = [i for i in range(len(body)) if i not in gone]
    return [body[i] for i in kept], [names[i] for i in kept], [targets[i] for i in kept]


def _read_once(
    body: list[Assign], names: list[LineNames], targets: list[int], returned: set[int]
) -> dict[int, int]:
    """The names (by name_key) assigned by one line and read exactly once, outside any Select
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
    """expr with each name of `known` (by name_key; each read once) replaced by its expression."""
    kind = type(expr)
    if kind is Var or kind is Temp:
        return known.get(name_key(expr), expr)  # type: ignore[arg-type]
    if kind is Const or kind is Lit:
        return expr
    return rebuild(expr, lambda child: _replace(child, known))


def _inline_read_once(
    body: list[Assign], names: list[LineNames], targets: list[int], returned: set[int]
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
            size = len(unfused(line))
            known: dict[int, Expr] = {}
            parts: tuple[Assign, ...] = ()
            for at, done, its_reads in sorted(inlined, key=lambda item: item[0]):
                if size + len(unfused(done)) > FUSED_AT_MOST:
                    out.append(done)  # on its own line, just before this one
                    continue
                size += len(unfused(done))
                known[targets[at]] = done.expr
                parts += unfused(done)
                read |= its_reads
            if known:
                read -= known.keys()
                line = replace(line, expr=_replace(line.expr, known), fused=parts + unfused(line))
        u = once.get(targets[i])
        if u is not None and not _assigned_between(writes, read, i, u):
            pending[targets[i]] = (i, line, read)
            continue
        out.append(line)
    return out


def fuse_lines(program: Program) -> Program:
    """Fewer temporaries in scalar code: an adjoint's contributions are summed in one line (the
    lecture's dz_T/dz_t = sum over z_t's children), and a value read by just one later line of
    its sweep is computed inside that line. Every operation and its operands stay the same
    (but for a sum's opening `-s + a`, written `a - s`), so the results are the same to the
    bit; each line's comment names all the steps it does."""
    if program.grads is None or program.trace.arrays:
        return program
    body = list(program.body)
    names = [LineNames(line.expr) for line in body]
    body, names, targets = _sum_contributions(body, names, [name_key(x.target) for x in body])
    # a value returned, or one a gradient keeps only to fail where the function does, keeps its
    # own line (grad_f, value_and_grad_f less its value, then computes just that)
    kept = returned_names(program) | checked_steps(program.trace)
    returned = {name_key(name) for name in kept}
    return replace(program, body=_inline_read_once(body, names, targets, returned))
