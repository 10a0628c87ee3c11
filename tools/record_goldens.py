"""Record what users see, so a change that should not alter it can be checked byte for byte.

    python tools/record_goldens.py            # (re)write tests/golden/{modules,cli,corpus.json}
    python tools/record_goldens.py --corpus   # also redraw the corpus of random programs

Writes, under tests/golden/:
- modules/: the generated module of every sample (all passes, no passes, and the numba
  backend for scalar samples) and of the W3 chain family at T = 10, 100, 1,000;
- cli/: the output of every teaching command on every sample (trace, run in each format and
  notation, graph, check);
- corpus.json: 1,000 random programs (drawn once, from a fixed seed, by the property test's
  generator) with the sha256 of each generated module, or of the error it raises, with all
  passes and with none;
- numpy_scalars.json: the value each of numpy's one-argument functions gave for each scalar
  argument it met while all of the above was computed (numpy's rounding depends on the CPU's
  SIMD kernels; tests/test_goldens.py replays these values, so the goldens hold on any CPU).

tests/test_goldens.py compiles all of it again and compares.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOLDEN = ROOT / "tests" / "golden"
CORPUS = GOLDEN / "corpus.json"
CORPUS_SIZE = 1000
CHAIN_STEPS = (10, 100, 1000)


def draw_corpus(size: int = CORPUS_SIZE) -> list[str]:
    """`size` programs from the property test's generator, derandomized."""
    from hypothesis import HealthCheck, given, settings

    from tests.test_fuzz_programs import programs

    drawn: list[str] = []

    @settings(
        max_examples=4 * size,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(programs())
    def collect(source: str) -> None:
        if len(drawn) < size and source not in drawn:
            drawn.append(source)

    collect()
    return drawn


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", action="store_true", help="redraw the random programs")
    args = parser.parse_args()
    from tests.goldens import (
        NUMPY_SCALARS,
        cli_outputs,
        corpus_digests,
        module_outputs,
        numpy_scalars,
    )

    if args.corpus or not CORPUS.exists():
        sources = draw_corpus()
    else:
        sources = [entry["source"] for entry in json.loads(CORPUS.read_text())]
    with numpy_scalars({}, record=True) as seen:
        goldens = (("modules", module_outputs()), ("cli", cli_outputs()))
        entries = [{"source": s, **corpus_digests(s)} for s in sources]
    for folder, outputs in goldens:
        out = GOLDEN / folder
        out.mkdir(parents=True, exist_ok=True)
        for old in out.iterdir():
            old.unlink()
        for name, text in outputs.items():
            (out / name).write_text(text, encoding="utf-8")
    CORPUS.write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
    table = {name: dict(sorted(seen[name].items())) for name in sorted(seen)}
    NUMPY_SCALARS.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} corpus programs, the module and CLI goldens and numpy's scalars")


if __name__ == "__main__":
    main()
