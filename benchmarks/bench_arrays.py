"""Array benchmark: generated gradients of the lecture's models against hand-written NumPy.

Run with `make bench` (or `python benchmarks/bench_arrays.py`). Per-call medians in this
process; the figures that matter are ratios: generated / hand-written gradient (target
<= 1.05) and gradient / primal (target <= 3). Both gradients are checked equal before timing.
"""

from __future__ import annotations

import json
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ad_compiler  # noqa: E402
from ad_compiler.backend.passes import PASSES  # noqa: E402


def interleaved(fns: list[Callable[..., Any]], args: tuple, rounds: int = 21) -> list[list[float]]:
    """Seconds per call of each fn(*args), one sample per round, timed in alternating rounds so
    that drift of the machine (other load, the allocator's state) hits every function alike."""
    timers = [timeit.Timer(lambda fn=fn: fn(*args)) for fn in fns]
    number = max(1, max(t.autorange()[0] for t in timers) // 4)
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for timer, out in zip(timers, samples):
            out.append(timer.timeit(number) / number)
    return samples


def ratio(a: list[float], b: list[float]) -> float:
    """The median over rounds of a/b (per-round pairs)."""
    return statistics.median(x / y for x, y in zip(a, b))


def hand_logistic(w, b, X, y, lam):
    """The logistic loss's gradient by hand: s = -y sigmoid(-m) / n, dw = X^T s + lam w."""
    m = y * (X @ w + b)
    s = -y / (1 + np.exp(m)) / len(y)
    return X.T @ s + lam * w, s.sum()


def hand_mlp(t1, t2, t3, X, y):
    """The lecture's backprop, vectorised over the batch."""
    a2 = 1 / (1 + np.exp(-(X @ t1.T)))
    a3 = 1 / (1 + np.exp(-(a2 @ t2.T)))
    z4 = a3 @ t3
    d4 = (1 / (1 + np.exp(-z4)) - y) / len(y)
    d3 = np.outer(d4, t3) * a3 * (1 - a3)
    d2 = (d3 @ t2) * a2 * (1 - a2)
    return d2.T @ X, d3.T @ a2, a3.T @ d4


Workload = tuple[str, Path, list[str], tuple, Callable[..., tuple]]


def workloads() -> list[Workload]:
    """(label, sample, parameters trained, arguments, hand-written gradient), at fixed seeds."""
    rng = np.random.default_rng(0)
    n, d = 10_000, 100
    X = rng.normal(size=(n, d))
    y = np.sign(X @ rng.normal(size=d) + rng.normal(size=n))
    args_log = (rng.normal(size=d) * 0.1, 0.1, X, y, 0.01)

    n, d, m = 1_000, 50, 64
    X2 = rng.normal(size=(n, d))
    y2 = (rng.random(n) < 0.5).astype(float)
    thetas = (rng.normal(size=(m, d)) * 0.1, rng.normal(size=(m, m)) * 0.1, rng.normal(size=m))
    args_mlp = (*thetas, X2, y2)
    return [
        (
            "W4 logistic loss, X 10,000 x 100",
            ROOT / "samples/logistic_regression.py",
            ["w", "b"],
            args_log,
            hand_logistic,
        ),
        (
            "W5 sigmoid MLP, X 1,000 x 50, m = 64",
            ROOT / "samples/mlp.py",
            ["theta1", "theta2", "theta3"],
            args_mlp,
            hand_mlp,
        ),
    ]


# The optimisation passes switched off one at a time (dead-code stays: --wrt relies on it;
# fuse works on scalar code only).
VARIANTS: dict[str, list[str]] = {
    "all passes": list(PASSES),
    **{
        f"without {p}": [q for q in PASSES if q != p]
        for p in PASSES
        if p not in ("dead-code", "fuse")
    },
    "dead-code only": ["dead-code"],
}


def rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The main table's rows, and the passes' on/off rows (generated / hand-written)."""
    main, passes = [], []
    for label, path, wrt, args, hand in workloads():
        grads = {}
        for variant, chosen in VARIANTS.items():
            compiled = ad_compiler.compile_file(path, "loss", wrt, passes=chosen)
            grads[variant] = compiled.grad_loss
            for got, want in zip(compiled.grad_loss(*args), hand(*args)):
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
            if variant == "all passes":
                primal = compiled.loss
        samples = interleaved([primal, hand, *grads.values()], args)
        primal_s, hand_s, variant_s = samples[0], samples[1], dict(zip(grads, samples[2:]))
        grad_s = variant_s["all passes"]
        main.append(
            {
                "workload": label,
                "primal_us": statistics.median(primal_s) * 1e6,
                "grad_us": statistics.median(grad_s) * 1e6,
                "hand_us": statistics.median(hand_s) * 1e6,
                "grad_over_hand": ratio(grad_s, hand_s),
                "grad_over_primal": ratio(grad_s, primal_s),
            }
        )
        passes.append(
            {"workload": label.split(",")[0]} | {v: ratio(t, hand_s) for v, t in variant_s.items()}
        )
    return main, passes


def markdown(results: list[dict[str, Any]]) -> str:
    """The main table: per-call medians and the two ratios."""
    lines = [
        "| workload | primal | generated gradient | hand-written gradient "
        "| generated / hand-written | gradient / primal |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['workload']} | {r['primal_us']:,.0f} us | {r['grad_us']:,.0f} us "
            f"| {r['hand_us']:,.0f} us | {r['grad_over_hand']:.2f} | {r['grad_over_primal']:.2f} |"
        )
    return "\n".join(lines)


def passes_markdown(results: list[dict[str, Any]]) -> str:
    """Generated / hand-written gradient with each pass switched off in turn."""
    lines = [
        "| workload | " + " | ".join(VARIANTS) + " |",
        "|---|" + "---|" * len(VARIANTS),
    ]
    for r in results:
        lines.append(f"| {r['workload']} | " + " | ".join(f"{r[v]:.2f}" for v in VARIANTS) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main_rows, pass_rows = rows()
    print(markdown(main_rows))
    print()
    print("Generated / hand-written gradient, passes switched off one at a time:")
    print()
    print(passes_markdown(pass_rows))
    if len(sys.argv) > 2 and sys.argv[1] == "--json":
        Path(sys.argv[2]).write_text(json.dumps({"main": main_rows, "passes": pass_rows}, indent=2))
