"""Normalisation into the lecture's trace: affine steps that contain another affine step's terms
are rewritten to use that step, affine steps split into binary ones in source order (the
lecture's tables), dead steps dropped and the rest numbered z1..zT.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from ..core.expr import Number
from ..core.ir import Step

_SUBSUME_SCAN = 512


def subsume(steps: list[Step]) -> list[Step]:
    """Rewrite each affine step that holds all the terms of another affine step to use it."""
    affine = {s.index: s for s in steps if s.op == "affine" and len(s.args) >= 2}
    index: dict[int, list[int]] = {}
    for s in affine.values():
        for a in s.args:
            index.setdefault(a, []).append(s.index)
    out = list(steps)
    by_pos = {s.index: i for i, s in enumerate(steps)}
    for s in sorted(affine.values(), key=lambda s: len(s.args)):
        if len(s.args) < 3:
            continue
        terms = list(zip(s.args, s.params[1:]))
        const = s.params[0]
        while True:
            best = _largest_subset(s.index, dict(terms), index, affine)
            if best is None:
                break
            b, r = best
            removed = set(b.args)
            first = next(i for i, (a, _) in enumerate(terms) if a in removed)
            kept = [(a, c) for a, c in terms if a not in removed]
            before = sum(1 for a, _ in terms[:first] if a not in removed)
            terms = kept[:before] + [(b.index, r)] + kept[before:]
            const -= r * b.params[0]
        if len(terms) != len(s.args):
            args = tuple(a for a, _ in terms)
            new = Step(s.index, "affine", args, (const, *(c for _, c in terms)), s.line, s.col)
            out[by_pos[s.index]] = new
            affine[s.index] = new
    return out


def _largest_subset(
    owner: int, terms: dict[int, Number], index: dict[int, list[int]], affine: dict[int, Step]
) -> tuple[Step, Number] | None:
    """The largest other affine step whose terms are all in `terms` (up to sign)."""
    hits: dict[int, int] = {}
    for a in terms:
        for cand in index.get(a, ())[:_SUBSUME_SCAN]:
            if cand != owner and cand not in terms:
                hits[cand] = hits.get(cand, 0) + 1
    best: tuple[Step, Number] | None = None
    for cand, n in hits.items():
        b = affine[cand]
        if n != len(b.args) or n > len(terms) or (n == len(terms) and cand > owner):
            continue
        if any(a not in terms for a in b.args):  # b was itself rewritten since `index` was made
            continue
        ratios = {terms[a] / c for a, c in zip(b.args, b.params[1:])}
        if len(ratios) == 1 and next(iter(ratios)) in (1, -1):
            if best is None or len(b.args) > len(best[0].args):
                best = (b, next(iter(ratios)))
    return best


def split(steps: list[Step], builder_table: dict[tuple, int]) -> list[Step]:
    """Split affine steps of more than two variables into binary steps, in term order."""
    out: list[Step] = []
    table = dict(builder_table)
    next_id = max((s.index for s in steps), default=0) + 1
    for s in steps:
        if s.op != "affine" or len(s.args) <= 2:
            out.append(s)
            continue
        coeffs = s.params[1:]
        prev_args = s.args[:2]
        prev_params: tuple = (s.params[0], *coeffs[:2])
        for j in range(2, len(s.args)):
            key = ("affine", prev_params[0], tuple(sorted(zip(prev_args, prev_params[1:]))))
            piece = table.get(key)
            if piece is None:
                piece = next_id
                next_id += 1
                table[key] = piece
                out.append(Step(piece, "affine", prev_args, prev_params, s.line, s.col))
            prev_args = (piece, s.args[j])
            prev_params = (0, 1, coeffs[j])
        out.append(Step(s.index, "affine", prev_args, prev_params, s.line, s.col))
    return out


def schedule(
    steps: list[Step], output: int, checks: Iterable[int] = ()
) -> tuple[list[Step], int]:
    """Drop steps neither the output nor a check (a step kept because it may fail, as the
    source's computation of it does) needs; order the rest stably; number them 1..T."""
    ordered = order(steps, [output, *checks])
    number = {s.index: t + 1 for t, s in enumerate(ordered)}
    final = renumbered(ordered, number)
    return final, number.get(output, output)


def renumbered(steps: list[Step], number: dict[int, int]) -> list[Step]:
    """The steps with their ids (and the ids they read) replaced through `number`."""
    return [
        Step(
            number.get(s.index, s.index),
            s.op,
            tuple(number.get(a, a) for a in s.args),
            s.params,
            s.line,
            s.col,
        )
        for s in steps
    ]


def order(steps: list[Step], roots: Iterable[int]) -> list[Step]:
    """The steps `roots` need, each after the steps it reads, otherwise in their order."""
    by_id = {s.index: s for s in steps}
    position = {s.index: i for i, s in enumerate(steps)}
    live: set[int] = set()
    stack = list(roots)
    while stack:
        v = stack.pop()
        if v in by_id and v not in live:
            live.add(v)
            stack.extend(by_id[v].args)
    waiting = {v: sum(1 for a in set(by_id[v].args) if a in live) for v in live}
    users: dict[int, list[int]] = {}
    for v in live:
        for a in set(by_id[v].args):
            if a in live:
                users.setdefault(a, []).append(v)
    ready = [(position[v], v) for v in live if waiting[v] == 0]
    heapq.heapify(ready)
    ordered: list[Step] = []
    while ready:
        _, v = heapq.heappop(ready)
        ordered.append(by_id[v])
        for u in users.get(v, ()):
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, (position[u], u))
    return ordered
