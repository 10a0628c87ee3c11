"""The lecture's complexity theorem as a picture: docs/figures/cost.png and docs/figures/cost.json.

For the chain of tanh neurons of samples/scripts/chain.py at T = 10 ... 100,000 steps
(n = T/2 + 1 inputs), adc compiles each member and this script records

- the operations of the generated f, grad_f and value_and_grad_f, counted from their code by
  `ad_compiler.cost` (the same counts `adc cost` prints), and of the naive forward-mode
  gradient: n tangent passes over every node, each pass generated and counted the same way;
- the median time per call of f, grad_f, value_and_grad_f and the naive gradient, in this
  process. The naive gradient is run in full (n passes) while that takes under --budget
  seconds; beyond, one pass is timed and multiplied by n (drawn hollow).

The left panel shows operations, the right one time, both against T on log-log axes, with the
least-squares slope of each line: 1 is linear growth, 2 quadratic. The PNG stores the SHA-256
of the JSON it was drawn from (tests/test_teaching.py checks both against the code).

    python samples/scripts/cost_plot.py [--max-steps 100000] [--budget 30]

Building T = 100,000 takes about a minute (adc's compile, then Python compiling the module and
the naive tangent module).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chain import chain_source  # noqa: E402

from ad_compiler import compile_source  # noqa: E402
from ad_compiler.teach.cost import (  # noqa: E402
    cost_report,
    fitted_slope,
    naive_gradient,
    seconds_per_call,
)

SIZES = [10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000]
FIGURES = ROOT / "docs" / "figures"


def measure(steps: int, budget: float, timing: bool = True) -> dict[str, Any]:
    """Counts (and, with `timing`, times) for the chain with `steps` steps."""
    start = time.perf_counter()
    compiled = compile_source(chain_source(steps), f"chain_{steps}.py")
    module = compiled.load_in_memory()
    report = cost_report(compiled.traces["f"], compiled.source)
    row: dict[str, Any] = {
        "T": steps,
        "n": report.n,
        "V": report.V,
        "E": report.E,
        "operations": report.totals(),
        "build_seconds": round(time.perf_counter() - start, 3),
    }
    if not timing:
        return row
    point = [0.9] * report.n
    tangent = report.tangent_function
    assert tangent is not None
    one_pass = seconds_per_call(tangent, point + [0.0] * report.n, repeat=5)
    seconds = {
        "primal": seconds_per_call(module.f, point),
        "gradient": seconds_per_call(module.grad_f, point),
        "value_and_grad": seconds_per_call(module.value_and_grad_f, point),
        "naive_pass": one_pass,
    }
    if one_pass * report.n <= budget:
        seconds["naive"] = seconds_per_call(lambda *a: naive_gradient(tangent, a), point, 3)
        row["naive_measured"] = True
    else:
        seconds["naive"] = one_pass * report.n
        row["naive_measured"] = False
    row["seconds"] = seconds
    print(
        f"T={steps:>7,} n={report.n:>6,}  ops f {row['operations']['primal']:>9,}  "
        f"grad {row['operations']['gradient']:>9,}  naive {row['operations']['naive']:>15,}  "
        f"time f {seconds['primal']:.2e}  grad {seconds['gradient']:.2e}  "
        f"naive {seconds['naive']:.2e}{'' if row['naive_measured'] else ' (n x one pass)'}",
        flush=True,
    )
    return row


def plot(data: dict[str, Any], png: Path, digest: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    steps = [r["T"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    series = [
        ("primal", "f", "tab:blue"),
        ("gradient", "grad_f (reverse mode)", "tab:green"),
        ("naive", "naive forward mode (n passes)", "tab:red"),
    ]
    for key, label, color in series:
        ops = [r["operations"][key] for r in rows]
        slope = fitted_slope(steps, ops)
        left.loglog(steps, ops, "o-", color=color, label=f"{label}: slope {slope:.2f}")
        secs = [r["seconds"][key] for r in rows]
        slope = fitted_slope(steps, secs)
        right.loglog(steps, secs, "-", color=color, label=f"{label}: slope {slope:.2f}")
        for r, s in zip(rows, secs):
            hollow = key == "naive" and not r["naive_measured"]
            face = "white" if hollow else color
            right.plot(r["T"], s, "o", color=color, markerfacecolor=face)
    left.set_title("operations in the generated code")
    left.set_ylabel("operations")
    right.set_title("time per call (hollow: one pass timed, times n)")
    right.set_ylabel("seconds")
    for ax in (left, right):
        ax.set_xlabel("T (steps of the trace); n = T/2 + 1 inputs")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="upper left", fontsize=9)
    fig.suptitle(
        "Reverse mode costs O(T), a constant times f; the naive forward mode O(T * n) "
        "(chain of tanh neurons, samples/scripts/chain.py)"
    )
    fig.tight_layout()
    fig.savefig(png, dpi=110, metadata={"Source": digest})
    plt.close(fig)


def summary_table(data: dict[str, Any]) -> str:
    """The plotted numbers as the Markdown table docs/teaching.md shows."""

    def secs(s: float) -> str:
        if s >= 100:
            return f"{s:,.0f} s"
        for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
            if s >= scale:
                return f"{s / scale:.3g} {unit}"
        return f"{s * 1e9:.3g} ns"

    out = [
        "| T | n | f ops | grad_f ops | ratio | naive forward ops | f time | grad_f time | ratio "
        "| naive forward time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        ops, sec = r["operations"], r["seconds"]
        naive = secs(sec["naive"]) + ("" if r["naive_measured"] else " (n x one pass)")
        out.append(
            f"| {r['T']:,} | {r['n']:,} | {ops['primal']:,} | {ops['gradient']:,} | "
            f"{ops['gradient'] / ops['primal']:.2f} | {ops['naive']:,} | {secs(sec['primal'])} "
            f"| {secs(sec['gradient'])} | {sec['gradient'] / sec['primal']:.2f} | {naive} |"
        )
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=SIZES[-1])
    parser.add_argument("--budget", type=float, default=30.0, help="seconds for a full naive run")
    parser.add_argument("--out", type=Path, default=FIGURES / "cost.png")
    args = parser.parse_args()
    rows = [measure(t, args.budget) for t in SIZES if t <= args.max_steps]
    data = {
        "family": "samples/scripts/chain.py",
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "rows": rows,
    }
    text = json.dumps(data, indent=2) + "\n"
    args.out.with_suffix(".json").write_text(text, encoding="utf-8")
    plot(data, args.out, hashlib.sha256(text.encode("utf-8")).hexdigest())
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
