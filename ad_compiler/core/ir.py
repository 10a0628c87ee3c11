"""The IR: a function as the lecture's SSA trace z_1..z_T (`Step`, `Trace`), and the generated
functions as lists of statements over it (`Assign`, `Program`).

Variables are integers in the lecture's own numbering: a function of d inputs reads
v_{1-d}..v_0, and its steps are z_1..z_T (v_1..v_T). Names are chosen only when printing or
emitting.

A function with loops or branches keeps them: its trace's `body` is a list of nodes, straight-
line `Region`s of steps, `Loop`s and `Branch`es holding lists of nodes of their own, and
`Jump`s (break, continue). Steps stay SSA (a step inside a loop computes its z once per
iteration); the variables of the source that loops and branches assign are *slots*, ids below
the inputs', which a region reads like any variable and sets with its `stores`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .expr import Expr, Number, Temp, Var


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
    """A function lowered to a straight-line SSA trace z_1..z_T of the lecture's model."""

    name: str
    params: tuple[str, ...]
    steps: list[Step]
    output: int
    defaults: dict[str, Number] = field(default_factory=dict)
    line: int = 0
    source_text: str = ""
    arrays: bool = False  # the file imports numpy, so values may be arrays
    # With loops or branches: the structure (steps lists every step of it, in order), and the
    # slots, by id, with the source's names for them.
    body: list[Node] | None = None
    slots: dict[int, str] = field(default_factory=dict)

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


@dataclass
class Region:
    """A straight-line piece of a function with loops or branches: its steps, then `stores`,
    each (slot, var) giving a slot the value of var."""

    steps: list[Step]
    stores: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Loop:
    """`for target in range(*args)` (kind 'range'), `for target in args[0]` ('items': the
    first axis of an array, or a sequence's items), or `while test` ('while': `head` computes
    `test` before every iteration, and at most `cap` iterations run)."""

    kind: str
    target: int | None
    args: tuple[Expr, ...]
    body: list[Node]
    head: list[Node] = field(default_factory=list)
    test: int | None = None
    cap: int | None = None
    line: int = 0
    col: int = 0


@dataclass
class Branch:
    """`if test: then` / `else: orelse`."""

    test: int
    then: list[Node]
    orelse: list[Node]
    line: int = 0
    col: int = 0


@dataclass(frozen=True)
class Jump:
    """`break` or `continue`: always the last node of a branch inside a loop's body."""

    kind: str
    line: int = 0
    col: int = 0


Node = Region | Loop | Branch | Jump


def namer(trace: Trace, notation: str = "z") -> Callable[[int], str]:
    """A function giving the display name of a variable id in notation 'z' or 'v'."""
    params = trace.params

    def name(var: int) -> str:
        if var in trace.slots:
            return trace.slots[var]
        if notation == "v":
            return f"v{var}"
        if var <= 0:
            return params[var + len(params) - 1]
        return f"z{var}"

    return name


@dataclass(frozen=True)
class Assign:
    """`target = expr` (or `target = target + expr` when accumulating): one line of code.

    kind is 'primal' (computes step `step`), 'check' (computes step `step` only where `guard`
    holds, for it to fail there as the function does, its value being needed nowhere), 'seed'
    (dz_T/dz_T = 1), 'edge' (the contribution of edge `arg` of step `step` to its parent's
    adjoint) or 'temp' (a partial product); in code with loops or branches also 'store' (a
    source variable set to a step's value), 'zero' (an adjoint starting at 0) and 'count' (a
    trip count, a tape, the value kept from the reverse sweep). An accumulation marked
    `inplace` adds into target's own array (`target += expr`).
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
    guard: Expr | None = None


@dataclass
class ForCode:
    """`for target in iterable:` around `body` (target None: an unused loop variable)."""

    target: Var | Temp | None
    iterable: Expr
    body: list[Statement]


@dataclass
class WhileCode:
    """`while True:` around `body` (which ends the loop with a break)."""

    body: list[Statement]


@dataclass
class IfCode:
    """`if test:` `body` `else:` `orelse`."""

    test: Expr
    body: list[Statement]
    orelse: list[Statement] = field(default_factory=list)


@dataclass(frozen=True)
class JumpCode:
    """`break` or `continue`."""

    kind: str


@dataclass(frozen=True)
class Push:
    """`tape.append(value)` for each value: what the reverse sweep reads, saved before the
    forward sweep overwrites it."""

    tape: Temp
    values: tuple[Expr, ...]
    note: str = ""


@dataclass(frozen=True)
class Pop:
    """`target = tape.pop()` for each target, last first: the values a Push saved."""

    tape: Temp
    targets: tuple[Var | Temp, ...]


@dataclass(frozen=True)
class RaiseCode:
    """`raise RuntimeError(message)`."""

    message: str


Statement = Assign | ForCode | WhileCode | IfCode | JumpCode | Push | Pop | RaiseCode


@dataclass
class Program:
    """One generated function: its body and what it returns (value, gradient tuple, or both).
    The body of a function with loops or branches holds them (`ForCode`, `IfCode`, ...)."""

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
