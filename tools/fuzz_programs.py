"""The long fuzz run (`make fuzz`): random programs against independent oracles, outside pytest.

Runs the property of tests/test_fuzz_programs.py with its `long` hypothesis profile: by default
100,000 programs checked at a valid point (ADC_FUZZ_EXAMPLES or --examples), from a random seed
(--seed to repeat a run), in hypothesis runs of 5,000 (seed, seed + 1, ...), optionally split
over --jobs processes. Prints progress every 1,000 programs and ends with a line such as

    fuzz: 131072 programs, 100000 checked at a valid point, 0 mismatches

which it also writes, with the details, to benchmarks/fuzz_last.txt. On the first mismatch it
prints the program and the point, lets hypothesis shrink the program (unless --no-shrink),
prints the smallest failing program, and exits 1. With --keep-going it counts the mismatches by
kind instead, logs the first few of each kind to benchmarks/fuzz_mismatches.txt, and exits 1
at the end if there were any. Ctrl-C or SIGTERM stops the run and reports what was checked.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = ROOT / "benchmarks" / "fuzz_last.txt"
PROGRESS_EVERY = 1000
CHUNK = 5000  # examples per hypothesis run


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = int(os.environ.get("ADC_FUZZ_EXAMPLES", "100000"))
    parser.add_argument("--examples", type=int, default=default, help="programs to check")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (random)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--no-shrink", action="store_true", help="report the first failure")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="count mismatches by kind instead of stopping at the first (exits 1 if any); "
        "the first few of each kind go to --mismatch-log",
    )
    parser.add_argument("--mismatch-log", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=SUMMARY, help="summary file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _line(programs: int, checked: int, mismatches: int) -> str:
    mismatch = "mismatch" if mismatches == 1 else "mismatches"
    return f"fuzz: {programs} programs, {checked} checked at a valid point, {mismatches} {mismatch}"


def fuzz_summary(stats: Counter) -> str:
    sys.path.insert(0, str(ROOT))
    from tests.test_fuzz_programs import summary

    return summary(stats)


LOGGED_PER_KIND = 5


def mismatch_kind(message: str) -> str:
    """A mismatch's kind: its first line up to the numbers (`gradient mismatch: grad_f`)."""
    first = message.split("\n", 1)[0]
    first = re.split(r" = | at | [-+(]?\d", first, maxsplit=1)[0]
    return first[:90]


def run_worker(
    examples: int,
    seed: int,
    shrink: bool,
    report: bool,
    keep_going: bool = False,
    log: Path | None = None,
) -> tuple[Counter, bool]:
    """Run the property in this process, in chunks of CHUNK examples; (counts, passed).

    Each chunk is a fresh hypothesis run from its own seed (seed, seed + 1, ...): hypothesis
    remembers every example of a run, some 40 MB per 1,000 programs here.
    """
    os.environ["ADC_FUZZ_EXAMPLES"] = str(examples)  # read when the profile is registered
    sys.path.insert(0, str(ROOT))
    import hypothesis

    from tests import test_fuzz_programs as fuzz

    stats: Counter = Counter()
    start = time.monotonic()
    first: list[str] = []
    logged: set[str] = set()  # hypothesis sometimes runs a failing example twice
    chunk_seed = seed

    def on_program(counts: Counter) -> None:
        if counts["programs"] % PROGRESS_EVERY == 0:
            rate = counts["programs"] / (time.monotonic() - start)
            if report:
                print(f"{_line(counts['programs'], counts['checked'], 0)} ({rate:.1f}/s)")
            else:
                print("PROGRESS " + json.dumps({"programs": PROGRESS_EVERY}))
            sys.stdout.flush()

    def on_mismatch(exc: Exception) -> None:
        if keep_going:
            kind = mismatch_kind(str(exc))
            stats[f"mismatch: {kind}"] += 1
            if (
                log is not None
                and str(exc) not in logged
                and len([m for m in logged if mismatch_kind(m) == kind]) < LOGGED_PER_KIND
            ):
                logged.add(str(exc))
                with log.open("a", encoding="utf-8") as handle:
                    handle.write(f"=== {kind} (hypothesis seed {chunk_seed})\n{exc}\n\n")
            return
        if not first:
            first.append(str(exc))
            message = f"\nFIRST MISMATCH (hypothesis seed {chunk_seed}):\n{exc}\n"
            print(message, file=sys.stderr, flush=True)

    while stats["checked"] < examples:
        overrides: dict = {"max_examples": min(CHUNK, examples - stats["checked"])}
        if not shrink:
            overrides["phases"] = [hypothesis.Phase.generate]
        prop = fuzz.make_property(
            "long", stats, on_program, on_mismatch, keep_going=keep_going, **overrides
        )
        prop = hypothesis.seed(chunk_seed)(prop)
        checked_before = stats["checked"]
        with fuzz.scratch_cache() as cache:
            tempfile.tempdir = cache  # adc writes one module per program: not into /tmp
            try:
                prop()
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: report what was checked
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                stats["interrupted"] = 1
                return stats, not stats["mismatches"]
            except Exception as exc:  # a mismatch, or a bug in the generator or the oracle
                stats["mismatches"] = 1  # the run stops at the first (shrinking saw it again)
                print(
                    f"\nFAILED (seed {chunk_seed}); smallest failing example:\n{exc}",
                    file=sys.stderr,
                )
                return stats, False
            finally:
                tempfile.tempdir = None
        if stats["checked"] == checked_before:
            print("fuzz: a chunk checked no program", file=sys.stderr)
            return stats, False
        chunk_seed += 1
    return stats, not stats["mismatches"]


def _run_jobs(args: argparse.Namespace, seed: int) -> tuple[Counter, bool]:
    """Split the examples over worker processes; add up their counts."""
    base, extra = divmod(args.examples, args.jobs)
    shares = [base + (i < extra) for i in range(args.jobs)]
    workers = []
    for i, share in enumerate(shares):
        worker_seed = seed + 1_000_003 * i  # its chunks use worker_seed, worker_seed + 1, ...
        cmd = [sys.executable, __file__, "--worker", f"--examples={share}", f"--seed={worker_seed}"]
        if args.no_shrink:
            cmd.append("--no-shrink")
        if args.keep_going:
            log = args.mismatch_log.with_suffix(f".{i}.txt")  # fuzz_mismatches.0.txt, ...
            log.unlink(missing_ok=True)
            cmd += ["--keep-going", f"--mismatch-log={log}"]
        workers.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1))
    total: Counter = Counter()
    programs = 0
    start = time.monotonic()
    passed = True
    selector = selectors.DefaultSelector()
    for w in workers:
        selector.register(w.stdout, selectors.EVENT_READ, w)  # type: ignore[arg-type]
    open_streams = len(workers)
    while open_streams:
        try:
            events = selector.select()
        except KeyboardInterrupt:  # pass it on; the workers report what they checked
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)
            continue
        for key, _ in events:
            line = key.fileobj.readline()  # type: ignore[union-attr]
            if not line:
                selector.unregister(key.fileobj)
                open_streams -= 1
                continue
            kind, _, payload = line.partition(" ")
            if kind == "PROGRESS":
                programs += json.loads(payload)["programs"]
                rate = programs / (time.monotonic() - start)
                print(f"fuzz: {programs} programs ({rate:.1f}/s)", flush=True)
            elif kind == "RESULT":
                result = json.loads(payload)
                total.update(result["stats"])
                if not result["passed"] and passed and not args.keep_going:
                    passed = False
                    for other in workers:
                        if other is not key.data and other.poll() is None:
                            other.terminate()  # the first failure ends the run
    for w in workers:
        w.wait()
        passed = passed and w.returncode == 0
    return total, passed


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    args = _arguments(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    if args.keep_going and args.mismatch_log is None:
        args.mismatch_log = args.output.with_name("fuzz_mismatches.txt")
    if args.worker:
        stats, passed = run_worker(
            args.examples, seed, not args.no_shrink, False, args.keep_going, args.mismatch_log
        )
        print("RESULT " + json.dumps({"stats": dict(stats), "passed": passed}), flush=True)
        return 0 if passed else 1
    print(f"fuzz: checking {args.examples} programs, seed {seed}, {args.jobs} job(s)", flush=True)
    start = time.monotonic()
    if args.jobs > 1:
        stats, passed = _run_jobs(args, seed)
    else:
        if args.mismatch_log is not None:
            args.mismatch_log.unlink(missing_ok=True)
        stats, passed = run_worker(
            args.examples, seed, not args.no_shrink, True, args.keep_going, args.mismatch_log
        )
    minutes = (time.monotonic() - start) / 60
    line = _line(stats["programs"], stats["checked"], stats["mismatches"])
    if stats["interrupted"]:
        line += f" (interrupted before {args.examples})"
    details = [
        line,
        f"seed {seed}, {args.jobs} job(s), {minutes:.1f} min, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}, ADC_FUZZ_EXAMPLES={args.examples}",
        fuzz_summary(stats),
    ]
    print("\n".join(details[1:]))
    print(line)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(details) + "\n", encoding="utf-8")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
