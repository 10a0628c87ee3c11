"""The lecture's reverse sweep: from a trace to the program computing its gradient.

Seed dz_T/dz_T = 1, then for t = T..1 each edge (t -> parent) adds zbar_t * dz_t/dz_parent to the
parent's adjoint: the first contribution assigns, later ones accumulate. O(V + E) lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.expr import Call, Const, Expr, Temp, Var, add, without_selects
from ..core.ir import Assign, Program, Step, Trace
from ..core.primitives import Edge, rule
from .passes.arrays import shape_atoms


def primal_body(trace: Trace) -> list[Assign]:
    """The lines computing z_1..z_T."""
    return [Assign(Var(s.index), rule(s).primal(s), "primal", step=s.index) for s in trace.steps]


def needed_adjoints(trace: Trace, wrt: Sequence[str]) -> set[int]:
    """The variables whose adjoint reaches a parameter in `wrt` (the only ones worth computing)."""
    needs = {trace.input_id(name) for name in wrt}
    for s in trace.steps:
        if any(a in needs for a in s.args):
            needs.add(s.index)
    return needs


def adjoint_body(trace: Trace, wrt: Sequence[str]) -> tuple[list[Assign], tuple[Expr, ...]]:
    """The reverse sweep's lines, and the gradient tuple they leave (one entry per `wrt`)."""
    needs = needed_adjoints(trace, wrt)
    body: list[Assign] = []
    assigned: set[int] = set()
    temps = 0

    def fresh() -> Temp:
        nonlocal temps
        temps += 1
        return Temp(temps)

    if trace.output in needs:
        seed: Expr = Const(1.0)
        if trace.arrays and shape_atoms(trace)[trace.output]:  # the output may be an array
            seed = Call("adc", "_seed", (Var(trace.output),))
        body.append(Assign(Var(trace.output, True), seed, "seed"))
        assigned.add(trace.output)
    for s in reversed(trace.steps):
        if s.index not in assigned:
            continue
        r = rule(s)
        defs, edges = r.contributions(s, Var(s.index, True), fresh)
        edges = [e for e in edges if s.args[e[0]] in needs]
        if trace.arrays:
            defs = [(t, without_selects(e)) for t, e in defs]
            edges = [for_arrays(s, r.broadcasting, e) for e in edges]
        if not edges:
            continue
        body.extend(Assign(t, e, "temp", step=s.index) for t, e in defs)
        for i, contribution, partial in per_parent(s.args, edges):
            parent = s.args[i]
            body.append(
                Assign(
                    Var(parent, True),
                    contribution,
                    "edge",
                    step=s.index,
                    arg=i,
                    accumulate=parent in assigned,
                    partial=partial,
                )
            )
            assigned.add(parent)
    grads = tuple(
        Var(trace.input_id(n), True) if trace.input_id(n) in assigned else _zero(trace, n)
        for n in wrt
    )
    if trace.arrays and any(rule(s).may_fail(s) for s in trace.steps):
        # numpy gives nan or inf where such a step fails, and a partial may not show it (log's
        # 1/u is finite at u < 0): where the function's value is not finite, neither is the
        # gradient
        grads = tuple(Call("adc", "_defined", (Var(trace.output), g)) for g in grads)
    return body, grads


def _zero(trace: Trace, name: str) -> Expr:
    """The gradient of a parameter nothing flows to: 0.0, or zeros of its shape for arrays."""
    if trace.arrays:
        return Call("adc", "_zero", (Var(trace.input_id(name)),))
    return Const(0.0)


def for_arrays(step: Step, broadcasting: bool, edge: Edge) -> Edge:
    """An edge for array values: numpy's IEEE semantics, and summed back where it broadcast."""
    i, contribution, partial = edge
    contribution = without_selects(contribution)
    partial = without_selects(partial) if partial is not None else None
    if broadcasting and len(step.args) >= 2:
        contribution = Call("adc", "_unbroadcast", (contribution, Var(step.args[i])))
    return i, contribution, partial


def per_parent(args: tuple[int, ...], edges: list[Edge]) -> list[Edge]:
    """One contribution per parent: edges of one step into the same variable (x * x, x / x)
    are summed before they meet the running adjoint, so they cancel exactly when they should."""
    grouped: dict[int, Edge] = {}
    for i, contribution, partial in edges:
        parent = args[i]
        if parent not in grouped:
            grouped[parent] = (i, contribution, partial)
            continue
        j, c, p = grouped[parent]
        both = add(p, partial) if p is not None and partial is not None else None
        grouped[parent] = (j, add(c, contribution), both)
    return list(grouped.values())


def programs(trace: Trace, wrt: Sequence[str] | None = None) -> list[Program]:
    """The three functions generated for a trace: f, grad_f and value_and_grad_f."""
    wrt = tuple(trace.params if wrt is None else wrt)
    primal = primal_body(trace)
    adjoint, grads = adjoint_body(trace, wrt)
    out = Var(trace.output)
    name = trace.name
    return [
        Program(name, trace, primal, out, None, wrt),
        Program(f"grad_{name}", trace, primal + adjoint, None, grads, wrt),
        Program(f"value_and_grad_{name}", trace, primal + adjoint, out, grads, wrt),
    ]
