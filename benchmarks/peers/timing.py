"""Per-call times of functions whose costs differ by 10^5 (a 0.2 us hand-written gradient
beside a 20 ms autograd one), in interleaved rounds.

bench_arrays.interleaved times every function the same number of calls per round, set by the
fastest; here each function is first batched into a loop of k calls, k chosen so that one batch
takes about `target` seconds, and the batches go through bench_arrays.interleaved. A batch loops
with itertools.repeat, so each call costs about 10 ns more than a bare call, the same for every
function timed.
"""

from __future__ import annotations

import itertools
import math
import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .workloads import bench_arrays


@dataclass(frozen=True)
class Timed:
    """A function and the arguments it is timed on."""

    fn: Callable[..., Any]
    args: tuple = ()


def _batch(t: Timed, k: int) -> Callable[[], None]:
    fn, args, repeat = t.fn, t.args, itertools.repeat

    def run() -> None:
        for _ in repeat(None, k):
            fn(*args)

    return run


def per_call(timed: list[Timed], rounds: int, target: float = 0.02) -> list[list[float]]:
    """Seconds per call of each function, one sample per round, rounds interleaved."""
    ks = []
    for t in timed:
        number, total = timeit.Timer(_batch(t, 1)).autorange()
        ks.append(max(1, math.ceil(target / (total / number))))
    samples = bench_arrays.interleaved([_batch(t, k) for t, k in zip(timed, ks)], (), rounds)
    return [[s / k for s in series] for series, k in zip(samples, ks)]


def median(samples: list[float]) -> float:
    """The median of a series of per-call times."""
    return statistics.median(samples)


def ratio(a: list[float], b: list[float]) -> float:
    """The median over rounds of a/b (bench_arrays.ratio)."""
    return bench_arrays.ratio(a, b)
