"""The reverse sweep of a function with loops and branches, loops kept as loops.

The forward sweep runs the function's own loops and branches. The reverse sweep runs every
loop backwards (`for i in reversed(range(n))`, or as many times as a `while` ran) and every
branch the way it went, adding each edge's contribution to its parent's adjoint as the
lecture's sweep does step by step.

What the reverse sweep of a region reads (the values its partials name, the test of a branch,
a loop's bounds) either still holds when the reverse sweep gets there (*stable*: a parameter,
a step outside every loop, a loop's own variable, which the reverse loop sets again, a slot
no later code assigns), or it is recorded: the forward sweep appends it to a tape of its own,
a plain list, where the region runs, and the reverse sweep pops it back into the same
variable. So are the trip counts of loops that may stop early.

Adjoints of values that regions read across (parameters, slots, steps read by another
region) start at 0 and accumulate; a slot's adjoint is handed to the value stored into it
when the reverse sweep passes the store, and starts again at 0. The adjoints of steps read
only inside their own region are assigned by their first contribution, as in straight-line
code.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

from ..core.expr import BinOp, Call, Const, Expr, Index, Seq, Temp, Var, reads, without_selects
from ..core.ir import (
    Assign,
    Branch,
    ForCode,
    IfCode,
    Jump,
    JumpCode,
    Loop,
    Node,
    Pop,
    Program,
    Push,
    RaiseCode,
    Region,
    Statement,
    Trace,
    WhileCode,
)
from ..core.primitives import rule
from .reverse import for_arrays, per_parent


def walk(nodes: Sequence[Node], loops: tuple[Loop, ...] = ()) -> Iterator[tuple[Node, tuple]]:
    """Every node with the loops around it (a while loop's head is inside it), in program
    order."""
    for node in nodes:
        yield node, loops
        if isinstance(node, Loop):
            yield from walk(node.head, (*loops, node))
            yield from walk(node.body, (*loops, node))
        elif isinstance(node, Branch):
            yield from walk(node.then, loops)
            yield from walk(node.orelse, loops)


def _breaks(nodes: Sequence[Node]) -> bool:
    """Whether a `break` of this loop's body (not of a loop inside it) may end it early."""
    for node in nodes:
        if isinstance(node, Jump) and node.kind == "break":
            return True
        if isinstance(node, Branch) and (_breaks(node.then) or _breaks(node.orelse)):
            return True
    return False


class Sweeps:
    """The forward and reverse sweeps of one structured trace, with respect to `wrt`."""

    def __init__(self, trace: Trace, wrt: Sequence[str]) -> None:
        assert trace.body is not None
        self.trace = trace
        self.body: list[Node] = trace.body
        self.wrt = tuple(wrt)
        self.ids = itertools.count(1)
        self.place: dict[int, int] = {}  # a node's place in program order, by id()
        self.loops_of: dict[int, tuple[Loop, ...]] = {}  # the loops around a node, by id()
        self.home: dict[int, Region] = {}  # a step's region, by the step's id
        self.readers: dict[int, set[int]] = {}  # the nodes reading a variable, by id()
        self.assigned_at: dict[int, list[int]] = {}  # the places assigning a slot
        self.loop_number: dict[int, int] = {}
        for place, (node, loops) in enumerate(walk(self.body)):
            self.place[id(node)] = place
            self.loops_of[id(node)] = loops
            read: list[int] = []
            if isinstance(node, Region):
                for s in node.steps:
                    self.home[s.index] = node
                    read += s.args
                for slot, v in node.stores:
                    read.append(v)
                    self.assigned_at.setdefault(slot, []).append(place)
            elif isinstance(node, Loop):
                self.loop_number[id(node)] = len(self.loop_number) + 1
                if node.target is not None:
                    self.assigned_at.setdefault(node.target, []).append(place)
                read += [a.id for a in node.args if isinstance(a, Var)]
                if node.test is not None:
                    read.append(node.test)
            elif isinstance(node, Branch):
                read.append(node.test)
            for v in read:
                self.readers.setdefault(v, set()).add(id(node))
        self.active = self._active()
        self.tapes: dict[tuple[int, object], Temp] = {}
        self.runs: dict[int, Temp] = {}

    # -- analyses -----------------------------------------------------------------------------

    def _active(self) -> set[int]:
        """The variables whose value depends on a parameter of `wrt` through differentiable
        steps (a comparison is not one)."""
        active = {self.trace.input_id(n) for n in self.wrt}
        changed = True
        while changed:
            changed = False
            for node, _ in walk(self.body):
                found: list[int] = []
                if isinstance(node, Region):
                    found += [
                        s.index
                        for s in node.steps
                        if rule(s).differentiated and any(a in active for a in s.args)
                    ]
                    found += [slot for slot, v in node.stores if v in active]
                elif isinstance(node, Loop) and node.kind == "items" and node.target is not None:
                    seq = node.args[0]
                    if isinstance(seq, Var) and seq.id in active:
                        found.append(node.target)
                new = set(found) - active
                if new:
                    active |= new
                    changed = True
        return active

    def local(self, var: int, region: Region) -> bool:
        """Whether var is a step of `region` read nowhere else (nor returned)."""
        return (
            self.home.get(var) is region
            and self.readers.get(var, set()) <= {id(region)}
            and var != self.trace.output
        )

    def stable(self, var: int, node: Node) -> bool:
        """Whether var still holds, when the reverse sweep reaches `node`, the value it had
        when the node ran."""
        slots = self.trace.slots
        if var <= 0 and var not in slots:
            return True  # a parameter
        loops = self.loops_of[id(node)]
        if var in slots:
            if any(loop.target == var for loop in loops):
                return True  # the reverse loop sets it again
            if loops:
                return False
            place = self.place[id(node)]
            return all(at <= place for at in self.assigned_at.get(var, []))
        home = self.home.get(var)
        return home is not None and not self.loops_of[id(home)]

    def edges(self, region: Region) -> list[tuple[int, list, list]]:
        """For each active step of the region, last first: its temporaries and edges."""
        out = []
        for s in reversed(region.steps):
            if s.index not in self.active:
                continue
            defs, edges = rule(s).contributions(s, Var(s.index, True), lambda: Temp(next(self.ids)))
            edges = [e for e in edges if s.args[e[0]] in self.active]
            if self.trace.arrays:
                defs = [(t, without_selects(e)) for t, e in defs]
                edges = [for_arrays(s, rule(s).broadcasting, e) for e in edges]
            out.append((s.index, defs, per_parent(s.args, edges)))
        return out

    def saved(self, node: Node) -> list[int]:
        """The values the reverse sweep of `node` reads that may not hold by then: its
        partials' (a region), its test (a branch inside a loop), its bounds (a loop)."""
        read: set[int] = set()
        if isinstance(node, Region):
            for _, defs, edges in self.edges(node):
                exprs = [e for _, e in defs] + [e for _, e, _ in edges]
                read |= {v.id for e in exprs for v in reads(e) if type(v) is Var and not v.bar}
        elif isinstance(node, Branch):
            if self._has_adjoint(node.then) or self._has_adjoint(node.orelse):
                read.add(node.test)
        elif isinstance(node, Loop):
            read |= {a.id for a in node.args if isinstance(a, Var)}
        return sorted(v for v in read if not self.stable(v, node))

    def _has_adjoint(self, nodes: Sequence[Node]) -> bool:
        """Whether the reverse sweep of `nodes` does anything."""
        for node, _ in walk(nodes):
            if isinstance(node, Region) and (
                any(s.index in self.active for s in node.steps)
                or any(slot in self.active for slot, _ in node.stores)
            ):
                return True
        return False

    def _tape(self, node: Node, key: object, hint: str) -> Temp:
        if (id(node), key) not in self.tapes:
            self.tapes[(id(node), key)] = Temp(next(self.ids), f"{hint}_tape")
        return self.tapes[(id(node), key)]

    def _shown(self, var: int) -> str:
        return self.trace.slots.get(var) or (f"z{var}" if var > 0 else self.trace.params[var - 1])

    def _pushes(self, node: Node, values: Sequence[int]) -> list[Statement]:
        return [Push(self._tape(node, v, self._shown(v)), (Var(v),)) for v in values]

    def _pops(self, node: Node, values: Sequence[int]) -> list[Statement]:
        return [Pop(self._tape(node, v, self._shown(v)), (Var(v),)) for v in reversed(values)]

    def _runs(self, loop: Loop) -> Temp:
        """The trip count of a loop that may stop early."""
        if id(loop) not in self.runs:
            number = self.loop_number[id(loop)]
            self.runs[id(loop)] = Temp(next(self.ids), "runs" if number == 1 else f"runs{number}")
        return self.runs[id(loop)]

    # -- the forward sweep --------------------------------------------------------------------

    def forward(self, nodes: Sequence[Node], taped: bool) -> list[Statement]:
        """The function's own statements; `taped`: with what the reverse sweep pops."""
        out: list[Statement] = []
        for node in nodes:
            if isinstance(node, Region):
                for s in node.steps:
                    out.append(Assign(Var(s.index), rule(s).primal(s), "primal", step=s.index))
                if taped:
                    out += self._pushes(node, self.saved(node))
                out += [Assign(Var(slot), Var(v), "store") for slot, v in node.stores]
            elif isinstance(node, Branch):
                if taped:
                    out += self._pushes(node, self.saved(node))
                then, orelse = self.forward(node.then, taped), self.forward(node.orelse, taped)
                out.append(IfCode(Var(node.test), then, orelse))
            elif isinstance(node, Jump):
                out.append(JumpCode(node.kind))
            else:
                out += self._forward_loop(node, taped)
        return out

    def _forward_loop(self, loop: Loop, taped: bool) -> list[Statement]:
        body = self.forward(loop.body, taped)
        counted = loop.kind == "while" or (taped and _breaks(loop.body))
        out: list[Statement] = []
        if counted:
            runs = self._runs(loop)
            out.append(Assign(runs, Const(0), "count"))
            body = [Assign(runs, Const(1), "count", accumulate=True), *body]
        if taped:
            out += self._pushes(loop, self.saved(loop))
        if loop.kind == "while":
            assert loop.test is not None
            head = self.forward(loop.head, taped=False)  # its values only decide the test
            stop = IfCode(Var(loop.test), [], [JumpCode("break")])
            cap = loop.cap or 0
            message = f"the while loop at line {loop.line} ran {cap} times without ending"
            guard = IfCode(BinOp(">=", runs, Const(cap)), [RaiseCode(message)])
            out.append(WhileCode([*head, stop, guard, *body]))
        else:
            target = Var(loop.target) if loop.target is not None else None
            out.append(ForCode(target, _iterable(loop), body))
        if counted and taped and self.loops_of[id(loop)]:
            out.append(Push(self._tape(loop, "runs", self._runs(loop).hint), (self._runs(loop),)))
        return out

    # -- the reverse sweep --------------------------------------------------------------------

    def reverse(self, nodes: Sequence[Node]) -> list[Statement]:
        out: list[Statement] = []
        for node in reversed(nodes):
            if isinstance(node, Region):
                out += self._reverse_region(node)
            elif isinstance(node, Branch):
                out += self._pops(node, self.saved(node))
                then, orelse = self.reverse(node.then), self.reverse(node.orelse)
                out.append(IfCode(Var(node.test), then, orelse))
            elif isinstance(node, Loop):
                out += self._reverse_loop(node)
        return out

    def _reverse_loop(self, loop: Loop) -> list[Statement]:
        out: list[Statement] = []
        counted = loop.kind == "while" or _breaks(loop.body)
        if counted and self.loops_of[id(loop)]:
            runs = self._runs(loop)
            out.append(Pop(self._tape(loop, "runs", runs.hint), (runs,)))
        out += self._pops(loop, self.saved(loop))
        body = self._zeroed(loop) + self.reverse(loop.body)
        if loop.kind == "while":
            count = Call("builtins", "range", (self._runs(loop),))
            out.append(ForCode(None, count, body))
            return out
        ran = _iterable(loop)
        if counted:
            ran = Index(ran, ("s", None, ("k", 0), None), (self._runs(loop),))
        target = Var(loop.target) if loop.target is not None else None
        out.append(ForCode(target, Call("builtins", "reversed", (ran,)), body))
        return out

    def _zeroed(self, loop: Loop) -> list[Statement]:
        """Adjoints of the values a loop's body computes and reads across its regions: 0 at
        the start of every reverse iteration."""
        out: list[Statement] = []
        for s in self.trace.steps:
            region = self.home[s.index]
            loops = self.loops_of[id(region)]
            if loops and loops[-1] is loop and s.index in self.active:
                if not self.local(s.index, region):
                    out.append(Assign(Var(s.index, True), Const(0.0), "zero"))
        return out

    def _reverse_region(self, region: Region) -> list[Statement]:
        out: list[Statement] = self._pops(region, self.saved(region))
        assigned: set[int] = set()
        cleared: list[int] = []  # slots whose adjoint is 0 from here: the first edge assigns
        for slot, v in reversed(region.stores):
            if slot not in self.active:
                continue
            if v in self.active:
                out.append(self._add(v, Var(slot, True), region, assigned, None, None, None))
            cleared.append(slot)
            assigned.add(slot)
        for index, defs, edges in self.edges(region):
            if self.local(index, region) and index not in assigned:
                continue  # nothing flows into it
            out += [Assign(t, e, "temp", step=index) for t, e in defs]
            step = self.trace.step(index)
            for i, contribution, partial in edges:
                parent = step.args[i]
                if parent in cleared:
                    cleared.remove(parent)
                    out.append(Assign(Var(parent, True), contribution, "edge", step=index,
                                      arg=i, partial=partial))  # fmt: skip
                else:
                    out.append(self._add(parent, contribution, region, assigned, index, i, partial))
        out += [
            Assign(Var(slot, True), Const(0.0), "zero")
            for slot in cleared
            if self._read_before(slot, region)
        ]
        return out

    def _read_before(self, slot: int, region: Region) -> bool:
        """Whether the reverse sweep may add to the slot's adjoint after `region`'s: code
        before the region reads or assigns the slot, or the region is in a loop."""
        if self.loops_of[id(region)]:
            return True
        place = self.place[id(region)]
        readers = [self.place[r] for r in self.readers.get(slot, ())]
        return any(p < place for p in readers + self.assigned_at.get(slot, []))

    def _add(self, var, expr, region, assigned, step, arg, partial) -> Assign:  # type: ignore[no-untyped-def]
        """var's adjoint += expr (assigned instead when it is the first to a local)."""
        first = self.local(var, region) and var not in assigned
        assigned.add(var)
        return Assign(
            Var(var, True), expr, "edge", step=step, arg=arg, accumulate=not first, partial=partial
        )

    # -- the three programs -------------------------------------------------------------------

    def accumulators(self) -> list[int]:
        """The variables whose adjoints start at 0 before the reverse sweep and accumulate."""
        out = [v for v in self.trace.inputs if v in self.active]
        out += sorted((s for s in self.trace.slots if s in self.active), reverse=True)
        for s in self.trace.steps:
            region = self.home[s.index]
            if s.index in self.active and not self.local(s.index, region):
                if not self.loops_of[id(region)]:
                    out.append(s.index)
        return [v for v in out if v != self.trace.output]

    def programs(self) -> list[Program]:
        """f, grad_f and value_and_grad_f."""
        trace = self.trace
        name = trace.name
        out: Expr = Var(trace.output)
        primal = self.forward(self.body, taped=False)
        forward = self.forward(self.body, taped=True)
        reverse = self.reverse(self.body)
        tapes: list[Statement] = [Assign(t, Seq(()), "count") for t in self.tapes.values()]
        value: list[Statement] = []
        popped = {t.id for line in _all(reverse) if isinstance(line, Pop) for t in line.targets}
        if trace.output in popped:  # the reverse sweep overwrites it: keep the value
            kept = Temp(next(self.ids), "value")
            value = [Assign(kept, out, "count")]
            out = kept
        inits: list[Statement] = []
        for v in self.accumulators():
            zero: Expr = Const(0.0)
            if v <= 0 and v not in trace.slots and trace.arrays:
                zero = Call("adc", "_zero", (Var(v),))
            inits.append(Assign(Var(v, True), zero, "zero"))
        if trace.output in self.active:
            seed: Expr = Call("adc", "_seed", (out,)) if trace.arrays else Const(1.0)
            inits.append(Assign(Var(trace.output, True), seed, "seed"))
        grads = tuple(self._gradient(n) for n in self.wrt)
        defined = trace.arrays and any(rule(s).may_fail(s) for s in trace.steps)
        if defined:
            grads = tuple(Call("adc", "_defined", (out, g)) for g in grads)
        both = [*tapes, *forward, *value, *inits, *reverse]
        seeded = defined or (trace.output in self.active and trace.arrays)
        body = both if seeded else [*tapes, *forward, *inits, *reverse]
        return [
            Program(name, trace, primal, Var(trace.output), None, self.wrt),  # type: ignore[arg-type]
            Program(f"grad_{name}", trace, body, None, grads, self.wrt),  # type: ignore[arg-type]
            Program(f"value_and_grad_{name}", trace, both, out, grads, self.wrt),  # type: ignore[arg-type]
        ]

    def _gradient(self, param: str) -> Expr:
        v = self.trace.input_id(param)
        if v in self.active:
            return Var(v, True)
        return Call("adc", "_zero", (Var(v),)) if self.trace.arrays else Const(0.0)


def _iterable(loop: Loop) -> Expr:
    """What a for loop runs over: range(...) or the sequence."""
    if loop.kind == "range":
        return Call("builtins", "range", loop.args)
    return loop.args[0]


def _all(body: Sequence[Statement]) -> Iterator[Statement]:
    for line in body:
        yield line
        if isinstance(line, (ForCode, WhileCode)):
            yield from _all(line.body)
        elif isinstance(line, IfCode):
            yield from _all(line.body)
            yield from _all(line.orelse)


def programs(trace: Trace, wrt: Sequence[str] | None = None) -> list[Program]:
    """f, grad_f and value_and_grad_f of a trace with loops or branches."""
    return Sweeps(trace, trace.params if wrt is None else wrt).programs()
