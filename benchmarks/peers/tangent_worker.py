"""Tangent's part of the peer suite, run with Tangent's own Python (tools/tangent_env.sh).

    .venv/tangent/bin/python benchmarks/peers/tangent_worker.py [--chain-steps N] [--rounds R]

Prints JSON lines: versions; per workload, its build time once Tangent has built the gradient,
then either the figures (per-call medians of the primal, the hand-written gradient and
Tangent's gradient, timed in interleaved rounds in this process, and the ratios) or why
Tangent's gradient was not timed: "unsupported: ..." when Tangent rejects the source as
written, "wrong gradient: ..." when it differs from the hand-written one.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peers import limits  # noqa: E402

limits.apply_limit()  # before anything large is imported

from peers import tangent_shim, timing  # noqa: E402, F401  (the shim before tangent)
from peers.workloads import (  # noqa: E402
    Workload,
    gradient_error,
    peer_function,
    primal_function,
    workloads,
)

tangent = importlib.import_module("tangent")  # only after the shim

RECURSION_LIMIT = 1_000_000
STACK_BYTES = 1 << 30


def emit(**record: Any) -> None:
    """Print one JSON line now (a run stopped at its time limit still shows its phases)."""
    print(json.dumps(record), flush=True)


def run(w: Workload, rounds: int, target: float, optimized: bool) -> None:
    """Tangent's figures for one workload, or its status, as JSON lines."""
    f = peer_function(w, "numpy", "numpy", "tangent")
    start = time.perf_counter()
    try:
        g = tangent.grad(f, wrt=w.wrt, optimized=optimized)
    except Exception as exc:  # Tangent's own refusal, reported as it words it
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        emit(key=w.key, status=f"unsupported: {reason}")
        return
    emit(key=w.key, phase="built", build_s=time.perf_counter() - start)
    error = gradient_error(g(*w.args), w.hand(*w.args))
    if error:
        emit(key=w.key, status=f"wrong gradient: {error}")
        return
    primal, hand, grad = timing.per_call(
        [
            timing.Timed(primal_function(w), w.args),
            timing.Timed(w.hand, w.args),
            timing.Timed(g, w.args),
        ],
        rounds,
        target,
    )
    emit(
        key=w.key,
        status="ok",
        primal_s=timing.median(primal),
        hand_s=timing.median(hand),
        grad_s=timing.median(grad),
        over_primal=timing.ratio(grad, primal),
        over_hand=timing.ratio(grad, hand),
    )


def main() -> None:
    """Run every workload (or those named), printing JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chain-steps", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--target", type=float, default=0.02)
    parser.add_argument("--only", nargs="*", help="workload keys (W1 ...)")
    parser.add_argument(
        "--unoptimized", action="store_true", help="tangent.grad(..., optimized=False)"
    )
    args = parser.parse_args()
    emit(
        versions={
            "python": platform.python_version(),
            **{p: importlib.metadata.version(p) for p in ("tangent", "gast", "numpy")},
        }
    )

    def work() -> None:
        for w in workloads(args.chain_steps):
            if not args.only or w.key in args.only:
                run(w, args.rounds, args.target, not args.unoptimized)

    # Tangent's passes recurse once per statement: the 1,000-op chain needs a deep stack.
    sys.setrecursionlimit(RECURSION_LIMIT)
    threading.stack_size(STACK_BYTES)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


if __name__ == "__main__":
    main()
