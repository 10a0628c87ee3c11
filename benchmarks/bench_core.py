"""Core benchmark: the cheap-gradient ratio and how compile time grows with T.

Run with `make bench` (or `python benchmarks/bench_core.py [--quick] [--json FILE]`).
Prints Markdown tables. Every time is a median over repeats measured in this process, and the
figures that matter are ratios against a baseline run in the same process:
  - gradient / primal per call (the Baur-Strassen constant; the lecture says O(1), we aim <= 3),
  - generated gradient / hand-written gradient per call,
  - compile time per step at T = 1,000, 10,000 and 100,000 (flat means linear growth).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ad_compiler  # noqa: E402
from ad_compiler.backend.passes import PASSES  # noqa: E402


def per_call(fn: Callable[..., Any], args: tuple, repeat: int = 7) -> float:
    """Median seconds per call of fn(*args)."""
    timer = timeit.Timer(lambda: fn(*args))
    number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(repeat, number))


def hand_baydin(x1: float, x2: float) -> tuple[float, float]:
    return 1.0 / x1 + x2, x1 - math.cos(x2)


def hand_slide(w1: float, w2: float) -> tuple[float, float]:
    r = w1 / w2
    s = math.sin(2 * math.pi * r)
    c = math.cos(2 * math.pi * r)
    e = math.exp(2 * w2)
    u = 3 * r - e
    a = s + u
    # f = a * u; da = 2*pi*c*dr + du; du = 3*dr - 2*e*dw2; dr/dw1 = 1/w2, dr/dw2 = -w1/w2^2
    dfdr = u * (2 * math.pi * c + 3) + a * 3
    dfdw2_direct = -(u + a) * 2 * e
    return dfdr / w2, dfdr * (-w1 / w2**2) + dfdw2_direct


def cheap_gradient_rows() -> list[dict[str, Any]]:
    rows = []
    cases = [
        ("baydin: ln(x1) + x1*x2 - sin(x2)", ROOT / "samples/baydin.py", (2.0, 5.0), hand_baydin),
        ("slide: (sin(2 pi w1/w2) + ...)", ROOT / "samples/slide.py", (1.5, 0.5), hand_slide),
    ]
    for label, path, args, hand in cases:
        c = ad_compiler.compile_file(path)
        got, want = c.grad_f(*args), hand(*args)
        assert all(math.isclose(g, w, rel_tol=1e-12) for g, w in zip(got, want)), (got, want)
        primal = per_call(c.f, args)
        grad = per_call(c.grad_f, args)
        vg = per_call(c.value_and_grad_f, args)
        hand_t = per_call(hand, args)
        rows.append(
            {
                "function": label,
                "T": len(c.traces["f"].steps),
                "primal_us": primal * 1e6,
                "grad_us": grad * 1e6,
                "value_and_grad_us": vg * 1e6,
                "hand_us": hand_t * 1e6,
                "grad_over_primal": grad / primal,
                "grad_over_hand": grad / hand_t,
            }
        )
    return rows


def chain_source(pairs: int) -> str:
    """A long straight-line function: `pairs` pairs of re-assignments of a and b."""
    lines = ["from math import sin, cos", "", "", "def chain(x, y):", "    a = x", "    b = y"]
    for i in range(pairs):
        k = 0.5 + (i % 7) * 0.01
        lines.append(f"    a = sin(a) * {k} + b * 0.25")
        lines.append(f"    b = a * b + cos(b) * {k}")
    lines.append("    return a + b")
    return "\n".join(lines) + "\n"


def chain_of(steps: int) -> str:
    """A chain of as close to `steps` steps as pairs of statements allow."""
    per_pair = len(ad_compiler.compile_source(chain_source(11)).traces["chain"].steps)
    per_pair -= len(ad_compiler.compile_source(chain_source(10)).traces["chain"].steps)
    return chain_source(round(steps / per_pair))


def compile_rows(sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    for steps in sizes:
        text = chain_of(steps)
        start = time.perf_counter()
        c = ad_compiler.compile_source(text, filename="chain.py")
        adc_s = time.perf_counter() - start
        start = time.perf_counter()
        compile(c.source, "chain_grad.py", "exec")
        py_s = time.perf_counter() - start
        T = len(c.traces["chain"].steps)
        rows.append(
            {
                "T": T,
                "lines": c.source.count("\n"),
                "adc_s": adc_s,
                "python_compile_s": py_s,
                "total_s": adc_s + py_s,
                "us_per_step": (adc_s + py_s) / T * 1e6,
            }
        )
    return rows


# The scalar clean-up passes, each switched off in turn (optimize.PASSES).
PASS_VARIANTS: dict[str, list[str] | None] = {
    "all passes": None,
    **{
        f"without {name}": [p for p in PASSES if p != name]
        for name in ("fold", "copies", "cse", "fuse")
    },
    "dead-code only": ["dead-code"],
}


MATH_DOT = "all, math.f calls"


def with_math_dot(source: str, name: str) -> Callable[..., Any]:
    """The generated function `name` with every `from math import f` call spelled `math.f`,
    as adc emitted it before it imported math's functions by name."""
    header = re.search(r"^from math import (.*)$", source, re.MULTILINE)
    if header is not None:
        functions = header.group(1).split(", ")
        source = source.replace(header.group(0), "import math")
        source = re.sub(rf"(?<![\w.])({'|'.join(functions)})\(", r"math.\1(", source)
    namespace: dict[str, Any] = {}
    exec(compile(source, "<math.f>", "exec"), namespace)
    return namespace[name]


def pass_rows(rounds: int = 7) -> list[dict[str, Any]]:
    """Generated / hand-written gradient of W2 (the slide) and W3 (the 1,000-op chain) with
    each scalar pass switched off, from interleaved rounds (median of per-round ratios)."""
    from peers.workloads import CHAIN_ARGS, hand_chain

    chain = chain_of(1_000)
    cases = [
        ("W2 slide", (ROOT / "samples/slide.py").read_text(), "f", (1.5, 0.5), hand_slide),
        ("W3 chain, 1,000 ops", chain, "chain", CHAIN_ARGS, hand_chain(chain)),
    ]
    rows = []
    for label, text, name, args, hand in cases:
        grads = {}
        for variant, passes in PASS_VARIANTS.items():
            c = ad_compiler.compile_source(text, filename="bench.py", passes=passes)
            grads[variant] = getattr(c, f"grad_{name}")
            if passes is None:
                grads[MATH_DOT] = with_math_dot(c.source, f"grad_{name}")
        want = hand(*args)
        for fn in grads.values():
            got = fn(*args)
            assert all(math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-300) for g, w in zip(got, want))
        ratios: dict[str, list[float]] = {v: [] for v in grads}
        for _ in range(rounds):
            hand_t = per_call(hand, args, repeat=3)
            for variant, fn in grads.items():
                ratios[variant].append(per_call(fn, args, repeat=3) / hand_t)
        rows.append({"workload": label} | {v: statistics.median(r) for v, r in ratios.items()})
    return rows


def pass_markdown(rows: list[dict[str, Any]]) -> str:
    """The pass table: generated / hand-written gradient per variant."""
    variants = [*PASS_VARIANTS, MATH_DOT]
    out = [
        "| workload | " + " | ".join(variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for r in rows:
        cells = " | ".join(f"{r[v]:.2f}" for v in variants)
        out.append(f"| {r['workload']} | {cells} |")
    return "\n".join(out)


def markdown(cheap: list[dict[str, Any]], builds: list[dict[str, Any]]) -> str:
    out = [
        f"Machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, adc {ad_compiler.__version__}",
        "",
        "| function | T | primal | gradient | value_and_grad | hand-written gradient "
        "| gradient / primal | gradient / hand-written |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in cheap:
        out.append(
            f"| {r['function']} | {r['T']} | {r['primal_us']:.2f} us | {r['grad_us']:.2f} us "
            f"| {r['value_and_grad_us']:.2f} us | {r['hand_us']:.2f} us "
            f"| {r['grad_over_primal']:.2f} | {r['grad_over_hand']:.2f} |"
        )
    out += [
        "",
        "| T (steps) | lines generated | adc compile | Python compile | total | per step |",
        "|---|---|---|---|---|---|",
    ]
    for r in builds:
        out.append(
            f"| {r['T']:,} | {r['lines']:,} | {r['adc_s']:.3f} s | {r['python_compile_s']:.3f} s "
            f"| {r['total_s']:.3f} s | {r['us_per_step']:.1f} us |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only T = 1,000 and 10,000")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    cheap = cheap_gradient_rows()
    passes = pass_rows()
    builds = compile_rows(sizes)
    print(markdown(cheap, builds))
    print("\nGenerated / hand-written gradient with each scalar pass switched off:\n")
    print(pass_markdown(passes))
    if args.json:
        figures = {"cheap": cheap, "passes": passes, "builds": builds}
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
