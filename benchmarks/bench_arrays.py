"""Array benchmark: generated gradients of the seed's models against hand-written NumPy.

Run with `make bench` (or `python benchmarks/bench_arrays.py`). Per-call medians in this
process; the figures that matter are ratios: generated / hand-written gradient (target
<= 1.2) and gradient / primal (target <= 3). Both gradients are checked equal before timing.
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


def per_call(fn: Callable[..., Any], args: tuple, repeat: int = 9) -> float:
    """Median seconds per call of fn(*args)."""
    timer = timeit.Timer(lambda: fn(*args))
    number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(repeat, number))


def hand_logistic(w, b, X, y, lam):
    """The logistic loss's gradient by hand: s = -y sigmoid(-m) / n, dw = X^T s + lam w."""
    m = y * (X @ w + b)
    s = -y / (1 + np.exp(m)) / len(y)
    return X.T @ s + lam * w, s.sum()


def hand_mlp(t1, t2, t3, X, y):
    """The seed's backprop, vectorised over the batch."""
    a2 = 1 / (1 + np.exp(-(X @ t1.T)))
    a3 = 1 / (1 + np.exp(-(a2 @ t2.T)))
    z4 = a3 @ t3
    d4 = (1 / (1 + np.exp(-z4)) - y) / len(y)
    d3 = np.outer(d4, t3) * a3 * (1 - a3)
    d2 = (d3 @ t2) * a2 * (1 - a2)
    return d2.T @ X, d3.T @ a2, a3.T @ d4


def workloads() -> list[tuple[str, Any, str, tuple, Callable[..., tuple]]]:
    rng = np.random.default_rng(0)
    n, d = 10_000, 100
    X = rng.normal(size=(n, d))
    y = np.sign(X @ rng.normal(size=d) + rng.normal(size=n))
    logistic = ad_compiler.compile_file(ROOT / "samples/logistic_regression.py", "loss", ["w", "b"])
    args_log = (rng.normal(size=d) * 0.1, 0.1, X, y, 0.01)

    n, d, m = 1_000, 50, 64
    X2 = rng.normal(size=(n, d))
    y2 = (rng.random(n) < 0.5).astype(float)
    mlp = ad_compiler.compile_file(ROOT / "samples/mlp.py", "loss", ["theta1", "theta2", "theta3"])
    thetas = (rng.normal(size=(m, d)) * 0.1, rng.normal(size=(m, m)) * 0.1, rng.normal(size=m))
    args_mlp = (*thetas, X2, y2)
    return [
        ("W4 logistic loss, X 10,000 x 100", logistic, "loss", args_log, hand_logistic),
        ("W5 sigmoid MLP, X 1,000 x 50, m = 64", mlp, "loss", args_mlp, hand_mlp),
    ]


def rows() -> list[dict[str, Any]]:
    out = []
    for label, compiled, name, args, hand in workloads():
        primal = getattr(compiled, name)
        grad = getattr(compiled, f"grad_{name}")
        for got, want in zip(grad(*args), hand(*args)):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        t_primal, t_grad = per_call(primal, args), per_call(grad, args)
        t_hand = per_call(hand, args)
        out.append(
            {
                "workload": label,
                "primal_us": t_primal * 1e6,
                "grad_us": t_grad * 1e6,
                "hand_us": t_hand * 1e6,
                "grad_over_hand": t_grad / t_hand,
                "grad_over_primal": t_grad / t_primal,
            }
        )
    return out


def markdown(results: list[dict[str, Any]]) -> str:
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


if __name__ == "__main__":
    results = rows()
    print(markdown(results))
    if len(sys.argv) > 2 and sys.argv[1] == "--json":
        Path(sys.argv[2]).write_text(json.dumps(results, indent=2))
