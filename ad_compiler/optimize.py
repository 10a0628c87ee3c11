"""Program to program: passes that make the generated code do less without changing results."""

from __future__ import annotations

from .ir import Assign, Program, Temp, Var, reads


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
    return Program(program.name, program.trace, kept, program.value, program.grads, program.wrt)


def optimize(program: Program) -> Program:
    """All passes, in order."""
    return eliminate_dead_code(program)
