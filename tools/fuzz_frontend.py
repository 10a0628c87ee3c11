"""The long front-end fuzz run: text that is not in the language is a located error (point 2).

Draws source files from every family of tests/test_fuzz_frontend.py (hypothesmith's Python,
near-miss programs, mutations of the samples, deep nesting, helper chains, huge literals,
encodings and line ends, empty files, misplaced line breaks), runs each through `adc compile`
and `adc trace` in a checking process with a hard time limit, and holds it to the same property
as the tests. By default 100,000 examples (the argument, or ADC_FUZZ_EXAMPLES) from a random
seed (--seed to repeat a run), in hypothesis runs of 5,000. Prints progress every 1,000
examples and ends with a line such as

    fuzz_frontend: 100000 examples, 0 failures, 3100 s (32/s); compile exit 0: 9000, 1: 91000

which it also writes, with the counts per family, to benchmarks/fuzz_frontend_last.txt. On the
first failure hypothesis shrinks the input, the tool prints it and exits 1; with --keep-going
it counts failures by kind instead, logs the first of each kind and exits 1 at the end.
--family and --skip choose families (e.g. --skip helper-chains).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import warnings
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = ROOT / "benchmarks" / "fuzz_frontend_last.txt"
PROGRESS_EVERY = 1000
CHUNK = 5000


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = int(os.environ.get("ADC_FUZZ_EXAMPLES", "100000"))
    parser.add_argument("examples", type=int, nargs="?", default=default, help="examples to run")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (random)")
    parser.add_argument("--family", action="append", default=[], help="only these families")
    parser.add_argument("--skip", action="append", default=[], help="leave these families out")
    parser.add_argument("--keep-going", action="store_true", help="count failures, do not stop")
    parser.add_argument("--output", type=Path, default=SUMMARY, help="summary file")
    return parser.parse_args(argv)


def _kind(message: str) -> str:
    """A failure's kind: the last assertion line of its traceback, without numbers."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("AssertionError", "SyntaxError", "hang"))]
    first = (errors or lines or ["?"])[-1]
    return "".join(ch for ch in first if not ch.isdigit())[:60]


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    sys.path.insert(0, str(ROOT))
    # hypothesmith compiles what it draws: Python's warnings about `'int'()` are noise here
    warnings.filterwarnings("ignore", category=SyntaxWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    import tests.test_fuzz_frontend as fz

    names = [n for n in fz.FAMILIES if (not args.family or n in args.family)]
    names = [n for n in names if n not in args.skip]
    unknown = set(args.family + args.skip) - set(fz.FAMILIES)
    if unknown or not names:
        print(f"unknown families {sorted(unknown)}; families: {', '.join(fz.FAMILIES)}")
        return 2
    weighted = [n for n in names for _ in range(fz.FAMILIES[n][2])]
    strategy = st.sampled_from(weighted).flatmap(
        lambda n: fz.FAMILIES[n][0].map(lambda data: (n, data))
    )
    base_seed = args.seed if args.seed is not None else random.randrange(2**32)
    start = time.monotonic()
    done = Counter()  # per family
    outcomes: Counter = Counter()
    kinds: Counter = Counter()
    first_of_kind: dict[str, str] = {}
    state = {"n": 0}

    def progress() -> str:
        secs = time.monotonic() - start
        failures = sum(kinds.values())
        rate = state["n"] / max(secs, 1e-9)
        return (
            f"[{state['n']:>7}/{args.examples}] {secs:7.0f} s, {rate:5.1f}/s, {failures} failures"
        )

    def check(example: tuple[str, bytes]) -> None:
        family, data = example
        state["n"] += 1
        done[family] += 1
        try:
            outcome = fz.isolated(data, fz.FAMILIES[family][1])
        except AssertionError as exc:
            if not args.keep_going:
                raise
            kind = f"{family}: {_kind(str(exc))}"
            kinds[kind] += 1
            first_of_kind.setdefault(kind, str(exc)[:4000])
            outcome = "failure"
        outcomes[outcome] += 1
        if state["n"] % PROGRESS_EVERY == 0:
            print(progress(), flush=True)

    failure = ""
    remaining, chunk = args.examples, 0
    while remaining > 0 and not failure:
        size = min(CHUNK, remaining)
        run = settings(
            max_examples=size,
            deadline=None,  # the checking process has its own hard limit
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate, Phase.shrink],
            print_blob=True,
        )(given(strategy)(check))
        before = state["n"]
        try:
            hypothesis_seed(base_seed + chunk)(run)()
        except Exception as exc:  # the shrunk failure, re-raised by hypothesis
            failure = f"{type(exc).__name__}: {exc}"
            notes = getattr(exc, "__notes__", [])
            failure += "\n" + "\n".join(notes)
        ran = state["n"] - before
        remaining -= max(ran, 1)
        chunk += 1
    fz._WORKER.stop()

    secs = time.monotonic() - start
    failures = sum(kinds.values()) + (1 if failure else 0)
    compile_codes = Counter()
    trace_codes = Counter()
    for outcome, count in outcomes.items():
        for part in outcome.split():
            command, _, code = part.partition("=")
            if command == "compile":
                compile_codes[code] += count
            elif command == "trace":
                trace_codes[code] += count
    line = (
        f"fuzz_frontend: {state['n']} examples, {failures} failure{'s' * (failures != 1)}, "
        f"{secs:.0f} s ({state['n'] / max(secs, 1e-9):.0f}/s); "
        f"compile exit 0: {compile_codes['0']}, 1: {compile_codes['1']}; "
        f"trace exit 0: {trace_codes['0']}, 1: {trace_codes['1']}"
    )
    details = [
        line,
        "",
        f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"seed: {base_seed} (runs of {CHUNK}: seed, seed + 1, ...)",
        f"python: {sys.version.split()[0]}",
        "families: " + ", ".join(f"{n} {done[n]}" for n in names),
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
    ]
    for kind, count in kinds.most_common():
        details += ["", f"{count} x {kind}", first_of_kind[kind]]
    if failure:
        details += ["", "first failure (shrunk):", failure]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(details) + "\n", encoding="utf-8")
    if failure:
        print(failure)
    print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
