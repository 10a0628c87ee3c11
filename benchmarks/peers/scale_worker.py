"""One point of the scaling table, in its own process (bench_peers.py runs it under limits):

    python benchmarks/peers/scale_worker.py adc|jax CHAIN_SOURCE_FILE [--rounds R]

Builds the gradient of the chain in the file and times it, printing JSON lines as it goes (so
a run stopped at its time limit still tells which phase it reached):
  adc: `build_s` = compile_file (trace, reverse sweep, optimise, emit) + `python_compile_s`
       (Python's compile and exec of the generated module, no bytecode cache), `steps`;
  jax: `trace_s` (jit(grad(f)).lower: Python tracing and lowering to StableHLO) and
       `compile_s` (XLA's compile), the gradient then called through the compiled executable;
then `grad` (the gradient at CHAIN_ARGS) and `per_call_s` (median over rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peers import limits  # noqa: E402

limits.apply_limit()  # before anything large is imported

from peers.workloads import CHAIN_ARGS, load_module, peer_source  # noqa: E402


def emit(**record: Any) -> None:
    """Print one JSON line now."""
    print(json.dumps(record), flush=True)


def rss_bytes() -> int:
    """Peak resident memory of this process so far."""
    return limits.peak_rss_bytes()


def time_per_call(fn: Callable[[], Any], rounds: int) -> float:
    """Median seconds per call over `rounds` repeats."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(rounds, number))


def adc(path: Path, rounds: int) -> None:
    """adc's build and per-call time."""
    import ad_compiler

    emit(phase="start", base_rss_bytes=rss_bytes())
    start = time.perf_counter()
    compiled = ad_compiler.compile_file(path, "chain", ["x", "y"])
    adc_s = time.perf_counter() - start
    emit(phase="compiled", adc_s=adc_s, steps=len(compiled.traces["chain"].steps))
    start = time.perf_counter()
    grad = compiled.load_in_memory().grad_chain
    python_s = time.perf_counter() - start
    emit(phase="built", python_compile_s=python_s, build_s=adc_s + python_s)
    emit(grad=list(grad(*CHAIN_ARGS)))
    emit(phase="done", per_call_s=time_per_call(lambda: grad(*CHAIN_ARGS), rounds))


def jax_(path: Path, rounds: int) -> None:
    """JAX's trace, XLA compile and per-call time."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    jax.block_until_ready(jax.jit(lambda x: x * 2.0)(1.0))  # the backend's one-time start
    f = load_module(peer_source(path.read_text(), "jax.numpy", "jax.numpy"), "chain_jax").chain
    args = tuple(jnp.asarray(a, dtype=jnp.float64) for a in CHAIN_ARGS)
    emit(phase="start", base_rss_bytes=rss_bytes())
    start = time.perf_counter()
    lowered = jax.jit(jax.grad(f, argnums=(0, 1))).lower(*args)
    emit(phase="traced", trace_s=time.perf_counter() - start)
    start = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - start
    emit(phase="built", compile_s=compile_s)
    emit(grad=[float(g) for g in jax.block_until_ready(compiled(*args))])
    emit(
        phase="done",
        per_call_s=time_per_call(lambda: jax.block_until_ready(compiled(*args)), rounds),
    )


def main() -> None:
    """Run one peer on one chain file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("peer", choices=["adc", "jax"])
    parser.add_argument("source", type=Path)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    (adc if args.peer == "adc" else jax_)(args.source, args.rounds)
    emit(peak_rss_bytes=rss_bytes())


if __name__ == "__main__":
    main()
