"""The numba backend on the W3 chain: build time, cached re-import, and time per call.

Run with `make bench` (or `python benchmarks/bench_numba.py [--sizes 1000 10000] [--json F]`).
For each size T the chain of bench_core is compiled twice, `--backend python` and
`--backend numba`, into a fresh directory. Then, each in a new process:
  - build: `adc` (trace, emit, Python's compile) plus numba's compilation at the first call,
    which writes numba's on-disk cache;
  - re-import: a second process importing the module and making its first call (numba loads
    the cache and compiles nothing; the process checks that with the dispatcher's stats);
  - per call: the median over repeats of grad_chain, numba against the pure-Python module,
    both in one process (the ratio is what to compare).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_core import chain_of  # noqa: E402

import ad_compiler  # noqa: E402
from ad_compiler.backend.load import write_atomic  # noqa: E402

POINT = (0.3, 0.7)

PROBE = """
import json, statistics, sys, time, timeit
t0 = time.perf_counter()
sys.path.insert(0, {folder!r})
import chain_numba
chain_numba.grad_chain{point}
first = time.perf_counter() - t0
stats = chain_numba.grad_chain.stats
out = {{"first_s": first, "hits": sum(stats.cache_hits.values()),
       "misses": sum(stats.cache_misses.values())}}
if {per_call}:
    import chain_python
    assert all(abs(a - b) <= 1e-9 * (1 + abs(b))
               for a, b in zip(chain_numba.grad_chain{point}, chain_python.grad_chain{point}))
    for name, fn in (("numba_us", chain_numba.grad_chain), ("python_us", chain_python.grad_chain)):
        timer = timeit.Timer(lambda: fn{point})
        number, _ = timer.autorange()
        out[name] = statistics.median(t / number for t in timer.repeat(7, number)) * 1e6
print(json.dumps(out))
"""


def _probe(folder: Path, per_call: bool) -> dict[str, Any]:
    code = textwrap.dedent(PROBE).format(folder=str(folder), point=POINT, per_call=per_call)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=folder
    )
    return json.loads(done.stdout)


def row(steps: int) -> dict[str, Any]:
    """Build, re-import and per-call figures of the numba backend for a chain of ~steps."""
    text = chain_of(steps)
    with tempfile.TemporaryDirectory(prefix="adc-numba-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        jitted = ad_compiler.compile_source(text, "chain.py", backend="numba")
        write_atomic(folder / "chain_numba.py", jitted.source)
        adc_s = time.perf_counter() - start
        plain = ad_compiler.compile_source(text, "chain.py")
        write_atomic(folder / "chain_python.py", plain.source)
        first = _probe(folder, per_call=False)
        second = _probe(folder, per_call=True)
    assert first["misses"] == 1 and second["hits"] == 1 and second["misses"] == 0
    return {
        "T": len(jitted.traces["chain"].steps),
        "adc_s": adc_s,
        "numba_first_call_s": first["first_s"],
        "reimport_first_call_s": second["first_s"],
        "numba_us": second["numba_us"],
        "python_us": second["python_us"],
        "speedup": second["python_us"] / second["numba_us"],
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per size."""
    out = [
        "| T (steps) | adc build | numba compile (first call) | re-import + first call "
        "| gradient, numba | gradient, pure Python | numba speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['T']:,} | {r['adc_s']:.2f} s | {r['numba_first_call_s']:.1f} s "
            f"| {r['reimport_first_call_s']:.2f} s | {r['numba_us']:,.1f} us "
            f"| {r['python_us']:,.0f} us | {r['speedup']:.0f}x |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    rows = [row(n) for n in args.sizes]
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
