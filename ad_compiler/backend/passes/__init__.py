"""Program to program: passes that make the generated code do less without changing results."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from ...core.ir import Program
from .arrays import (
    accumulate_in_place,
    fuse_sigmoids,
    keep_uniform_adjoints,
    release_dead_arrays,
    shapes_from_values_kept_anyway,
)
from .common import eliminate_dead_code, fold_constants, propagate_copies
from .scalar import eliminate_common_subexpressions, fuse_lines

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
    chosen = chosen_passes(passes)
    for name, run in PASSES.items():
        if name in chosen:
            program = run(program)
    return program


def chosen_passes(passes: Iterable[str] | None) -> set[str]:
    """The names in `passes` (all by default); an unknown name is a ValueError."""
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
    chosen = chosen_passes(passes)
    if grad.trace.arrays:
        return [optimize(p, chosen) for p in programs]
    both = optimize(both, chosen)
    derived = replace(both, name=grad.name, value=None, releases={})
    for name in ("dead-code", "release"):
        if name in chosen:
            derived = PASSES[name](derived)
    return [optimize(primal, chosen), derived, both]
