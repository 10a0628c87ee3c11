"""Speed regression guard (CI): the generated W1 and W4 gradients against hand-written ones.

`make test` runs this after pytest. It times, in interleaved rounds in this process, the
generated gradient of W1 (Baydin's ln(x1) + x1*x2 - sin(x2)) and of W4 (the logistic loss,
X 10,000 x 100) against their hand-written gradients, and fails (exit 1) when a ratio
generated / hand-written exceeds the ratio recorded in benchmarks/guard.json by more than 25%.
Ratios, not times, so a slow machine does not fail it; a noisy one gets up to three attempts
(the best one counts). `--record` measures and writes the recorded ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_arrays import hand_logistic, interleaved, ratio  # noqa: E402
from bench_core import hand_baydin  # noqa: E402

import ad_compiler  # noqa: E402

RECORD = ROOT / "benchmarks" / "guard.json"
SLACK = 1.25
ATTEMPTS = 3


def cases() -> dict[str, tuple[Callable[..., Any], Callable[..., Any], tuple]]:
    """Workload name -> (generated gradient, hand-written gradient, arguments)."""
    baydin = ad_compiler.compile_file(ROOT / "samples/baydin.py")
    rng = np.random.default_rng(0)
    n, d = 10_000, 100
    X = rng.normal(size=(n, d))
    y = np.sign(X @ rng.normal(size=d) + rng.normal(size=n))
    logistic = ad_compiler.compile_file(ROOT / "samples/logistic_regression.py", "loss", ["w", "b"])
    args_log = (rng.normal(size=d) * 0.1, 0.1, X, y, 0.01)
    return {
        "W1": (baydin.grad_f, hand_baydin, (2.0, 5.0)),
        "W4": (logistic.grad_loss, hand_logistic, args_log),
    }


def measure(rounds: int = 15) -> dict[str, float]:
    """generated / hand-written per workload (median over interleaved rounds)."""
    out = {}
    for name, (generated, hand, args) in cases().items():
        for got, want in zip(generated(*args), hand(*args)):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        gen_s, hand_s = interleaved([generated, hand], args, rounds)
        out[name] = ratio(gen_s, hand_s)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", action="store_true", help="write the ratios measured now")
    args = parser.parse_args(argv)
    if args.record:
        runs = [measure() for _ in range(ATTEMPTS)]
        recorded = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
        RECORD.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
        print("recorded " + ", ".join(f"{k} {v:.2f}" for k, v in recorded.items()))
        return 0
    recorded = json.loads(RECORD.read_text())
    best: dict[str, float] = {}
    for attempt in range(1, ATTEMPTS + 1):
        for k, v in measure().items():
            best[k] = min(v, best.get(k, v))
        failing = [k for k in recorded if best[k] > recorded[k] * SLACK]
        report = ", ".join(
            f"{k} {best[k]:.2f} (recorded {recorded[k]:.2f}, limit {recorded[k] * SLACK:.2f})"
            for k in recorded
        )
        print(f"guard attempt {attempt}: generated / hand-written: {report}")
        if not failing:
            return 0
    print(f"guard: {', '.join(failing)} fell more than 25% behind the recorded ratio")
    return 1


if __name__ == "__main__":
    sys.exit(main())
