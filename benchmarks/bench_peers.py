"""Peer benchmark: adc's gradients beside autograd's, JAX's, PyTorch's and Tangent's.

Run with `make bench` (it installs the `bench` extra and Tangent's own environment), or

    python benchmarks/bench_peers.py [--quick] [--json FILE]

Prints Markdown: the machine, versions and thread settings, then two tables.

1. W1-W5 (benchmarks/peers/workloads.py), float64, one gradient per call. Each peer
   differentiates the sample's own source on its own operations; its gradient is checked
   against the hand-written one (rtol 1e-9) before it is timed, and a peer that is not
   installed, rejects the source, or gets the gradient wrong is reported so, not timed. Times
   are medians over interleaved rounds in one process, with the primal (the sample as written,
   math/NumPy) and the hand-written gradient timed in the same rounds; the ratios are medians of
   per-round ratios. Tangent runs in its own environment (.venv/tangent, tools/tangent_env.sh),
   one process per workload under a time limit, and its ratios are to the primal and
   hand-written gradient timed in that process.
2. Scaling: the W3 chain at T = 1,000, 10,000 and 100,000 steps. adc's build (compile_file and
   Python's compile of the generated module), JAX's trace and XLA compile, each one's gradient
   per call and peak memory, every point in its own process under a time and memory limit
   (JAX's XLA build grows much faster than linearly and may be stopped, or run out of memory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from peers import inprocess, limits, timing  # noqa: E402
from peers.workloads import (  # noqa: E402
    CHAIN_ARGS,
    ROOT,
    Unsupported,
    Workload,
    bench_core,
    check_by_differences,
    gradient_error,
    hand_chain,
    primal_function,
    underflows,
    workloads,
    write_module,
)

TANGENT_VENV = ROOT / ".venv" / "tangent"  # tools/tangent_env.sh's default
PEERS = BENCH / "peers"
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "XLA_FLAGS",
    "JAX_PLATFORMS",
)


# ---------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name, where /proc/cpuinfo tells it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def blas_info() -> str:
    """NumPy's BLAS library, its version, threads and kernel (threadpoolctl, if installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    parts = [
        f"{p.get('internal_api')} {p.get('version')}, {p.get('num_threads')} thread(s)"
        + (f", {p['architecture']}" if p.get("architecture") else "")
        for p in threadpool_info()
        if p.get("user_api") == "blas"
    ]
    return "; ".join(parts) or "no BLAS found"


def machine() -> dict[str, Any]:
    """Platform, CPUs, load, Python and NumPy, and the thread settings in force."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "load average at start": [round(x, 2) for x in os.getloadavg()],
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": f"{np.__version__} ({blas_info()})",
        "thread variables": {v: os.environ.get(v, "unset") for v in THREAD_VARIABLES},
    }


# ---------------------------------------------------------------------------------------------
# Table 1: W1-W5
# ---------------------------------------------------------------------------------------------


def row(w: Workload, peer: str, **figures: Any) -> dict[str, Any]:
    """One row of table 1."""
    return {"workload": w.label, "key": w.key, "peer": peer} | figures


def in_process(
    ws: list[Workload], rounds: int, target: float
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Table 1's rows for the primal, the hand-written gradient and the in-process peers."""
    loaded: list[inprocess.Peer] = []
    missing: dict[str, str] = {}
    versions: dict[str, str] = {}
    for cls in inprocess.PEERS:
        peer = cls()
        try:
            peer.load()
            versions[peer.name] = peer.version()
            loaded.append(peer)
        except ImportError as exc:
            missing[peer.name] = f"not installed: {exc} (pip install -e '.[bench]')"
            versions[peer.name] = "not installed"
    rows = []
    for w in ws:
        print(f"  {w.key}: preparing", file=sys.stderr, flush=True)
        want = w.hand(*w.args)
        timed = [timing.Timed(primal_function(w), w.args), timing.Timed(w.hand, w.args)]
        names, builds, statuses = ["primal", "hand-written"], [None, None], []
        for peer in loaded:
            try:
                prepared = peer.prepare(w)
            except Unsupported as exc:
                statuses.append((peer.name, f"unsupported: {exc}"))
                continue
            except Exception as exc:  # a peer that fails on a workload is reported, not fatal
                statuses.append((peer.name, f"failed: {type(exc).__name__}: {exc}"[:160]))
                continue
            error = gradient_error(prepared.to_numpy(prepared.fn(*prepared.args)), want)
            if error:
                statuses.append((peer.name, f"wrong gradient: {error}"))
                continue
            timed.append(timing.Timed(prepared.fn, prepared.args))
            names.append(peer.name)
            builds.append(prepared.build_s)
        print(f"  {w.key}: timing {', '.join(names)}", file=sys.stderr, flush=True)
        samples = timing.per_call(timed, rounds, target)
        primal, hand = samples[0], samples[1]
        for name, build, series in zip(names, builds, samples):
            rows.append(
                row(
                    w,
                    name,
                    status="ok" if name not in ("primal", "hand-written") else "reference",
                    build_s=build,
                    per_call_s=timing.median(series),
                    over_primal=timing.ratio(series, primal),
                    over_hand=None if name == "primal" else timing.ratio(series, hand),
                )
            )
        rows += [row(w, name, status=status) for name, status in statuses]
        rows += [row(w, name, status=status) for name, status in missing.items()]
    return rows, versions


def tangent(
    venv: Path,
    ws: list[Workload],
    chain_steps: int,
    rounds: int,
    target: float,
    limit_s: float,
    memory: int,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Table 1's Tangent rows, each workload in its own process of Tangent's environment. Where
    Tangent's default build (optimized=True) is stopped at the time limit, it is also run with
    optimized=False."""
    if not (venv / ".installed").exists():
        status = "not installable: tools/tangent_env.sh has not completed (make bench runs it)"
        return [row(w, "Tangent", status=status) for w in ws], {"Tangent": "not installed"}
    rows, versions = [], {}
    for w in ws:
        for optimized in (True, False):
            print(f"  {w.key}: Tangent, optimized={optimized}", file=sys.stderr, flush=True)
            cmd = [str(venv / "bin" / "python"), str(PEERS / "tangent_worker.py"), "--only", w.key]
            cmd += ["--chain-steps", str(chain_steps), "--rounds", str(rounds)]
            cmd += ["--target", str(target)] + ([] if optimized else ["--unoptimized"])
            outcome = limits.run_limited(cmd, limit_s, memory)
            result = outcome.last()
            versions = result.get("versions", versions)
            name = "Tangent" if optimized else "Tangent (optimized=False)"
            if outcome.ok and "status" in result:
                rows.append(
                    row(
                        w,
                        name,
                        **{k: result.get(k) for k in ("status", "build_s", "over_primal")},
                        per_call_s=result.get("grad_s"),
                        over_hand=result.get("over_hand"),
                    )
                )
                break
            built = "build_s" in result
            status = ("" if built else "build ") + outcome.status
            if built:
                status += f" (built in {result['build_s']:.1f} s, then timing)"
            rows.append(row(w, name, status=status, build_s=result.get("build_s")))
            if built or not outcome.status.startswith("stopped"):
                break
    if not versions:
        return rows, {"Tangent": "unknown (no worker reported)"}
    others = ", ".join(f"{k} {versions[k]}" for k in ("gast", "numpy"))
    where = venv.resolve().relative_to(ROOT) if venv.resolve().is_relative_to(ROOT) else venv
    return rows, {
        "Tangent": f"tangent {versions['tangent']} ({others}, Python {versions['python']}, "
        f"in {where} with benchmarks/peers/tangent_shim.py)"
    }


# ---------------------------------------------------------------------------------------------
# Table 2: scaling
# ---------------------------------------------------------------------------------------------


def scaling(
    sizes: list[int], rounds: int, limit_s: dict[str, float], memory: int
) -> list[dict[str, Any]]:
    """Per T: adc's and JAX's build, per-call gradient and peak memory, each in its own process
    under limits, their gradients checked against the hand-written chain gradient."""
    rows = []
    for steps in sizes:
        source = bench_core.chain_of(steps)
        path = write_module(source, f"chain_{steps}")
        want = hand_chain(source)(*CHAIN_ARGS)
        entry: dict[str, Any] = {"target_steps": steps}
        for peer in ("adc", "jax"):
            print(f"  T = {steps:,}: {peer}", file=sys.stderr, flush=True)
            cmd = [sys.executable, str(PEERS / "scale_worker.py"), peer, str(path)]
            outcome = limits.run_limited(cmd + ["--rounds", str(rounds)], limit_s[peer], memory)
            result = outcome.last()
            status, check = outcome.status, None
            if not outcome.ok:
                status += _phase_note(result)
            elif error := gradient_error(result["grad"], want):
                status = check = f"wrong gradient: {error}"
            else:
                check = "underflows" if underflows(want) else "ok"
            entry[peer] = result | {
                "status": status,
                "check": check,
                "elapsed_s": outcome.elapsed_s,
                "peak_rss_bytes": outcome.peak_rss_bytes,
            }
        entry["steps"] = entry["adc"].get("steps")
        rows.append(entry)
    return rows


def _checks(*results: dict[str, Any]) -> str:
    """The scaling table's check column: which peers' gradients matched the hand-written one."""
    checked = [("adc", "JAX")[i] for i, r in enumerate(results) if r.get("check")]
    verdicts = {r["check"] for r in results if r.get("check")}
    if not checked:
        return "—"
    if verdicts == {"ok"}:
        return f"{', '.join(checked)}: ok (rtol 1e-9)"
    if verdicts == {"underflows"}:
        return f"{', '.join(checked)}: zero or subnormal, as the hand-written one (< 2.2e-308)"
    return "; ".join(f"{n}: {r['check']}" for n, r in zip(("adc", "JAX"), results) if r["check"])


def _phase_note(result: dict[str, Any]) -> str:
    """Where a stopped scaling run had got to."""
    if "trace_s" in result and "compile_s" not in result:
        return f", in XLA compile (traced in {result['trace_s']:.1f} s)"
    if result.get("phase") == "start":
        return ", while building"
    if "adc_s" in result and "build_s" not in result:
        return f", in Python's compile (adc took {result['adc_s']:.1f} s)"
    return ""


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    """A duration in us, ms or s, to about 3 significant figures."""
    if seconds is None:
        return "—"
    for unit, scale in (("us", 1e6), ("ms", 1e3), ("s", 1.0)):
        value = seconds * scale
        if value < 1_000 or unit == "s":
            digits = 2 if value < 10 else 1 if value < 100 else 0
            return f"{value:,.{digits}f} {unit}"
    raise AssertionError


def fmt_ratio(x: float | None) -> str:
    """A ratio, to 2 decimals below 100."""
    if x is None:
        return "—"
    return f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def fmt_bytes(n: int | None) -> str:
    """Bytes in MiB or GiB."""
    if not n:
        return "—"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"


def markdown(report: dict[str, Any]) -> str:
    """The whole report: header, table 1, notes, table 2."""
    m, v, s = report["machine"], report["versions"], report["settings"]
    threads = ", ".join(f"{k}={val}" for k, val in m["thread variables"].items())
    out = [
        f"Machine: {m['platform']}, {m['cpu']}, {m['cpus']} CPUs; load average "
        f"{', '.join(map(str, m['load average at start']))} at start, "
        f"{', '.join(map(str, m['load average at end']))} at end.",
        f"Python: {m['python']}; numpy {m['numpy']}.",
        "Versions: " + "; ".join(v.values()) + ".",
        f"Threads: {threads}; XLA's CPU thread pool at its default.",
        f"Timing: {s['rounds']} interleaved rounds, each sample a batch of about "
        f"{s['target'] * 1e3:g} ms; medians per call; build times measured once. Tangent's "
        f"builds stopped at {s['tangent_limit_s']:g} s; scaling runs at {s['adc_limit_s']:g} s "
        f"(adc) and {s['jax_limit_s']:g} s (JAX), all under {s['memory_gib']:g} GiB of "
        "address space.",
        "",
        "| workload | peer | build | gradient per call | gradient / primal "
        "| gradient / hand-written | gradient check |",
        "|---|---|---|---|---|---|---|",
    ]
    last = None
    for r in report["table"]:
        label = r["workload"] if r["workload"] != last else ""
        last = r["workload"]
        check = {"ok": "ok (rtol 1e-9)", "reference": "—"}.get(r["status"], r["status"])
        peer = {"primal": "primal (the sample, math/NumPy)"}.get(r["peer"], r["peer"])
        out.append(
            f"| {label} | {peer} | {fmt_time(r.get('build_s'))} "
            f"| {fmt_time(r.get('per_call_s'))} | {fmt_ratio(r.get('over_primal'))} "
            f"| {fmt_ratio(r.get('over_hand'))} | {check} |"
        )
    out += ["", *NOTES, ""]
    if report["scaling"]:
        out += [
            "| T (steps) | adc build | adc gradient per call | adc peak RSS "
            "| JAX trace | JAX XLA compile | JAX gradient per call | JAX peak RSS "
            "| gradients checked |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in report["scaling"]:
            a, j = r["adc"], r["jax"]
            adc_build = (
                f"{fmt_time(a.get('build_s'))} ({fmt_time(a.get('python_compile_s'))} Python)"
                if a["status"] == "ok"
                else a["status"]
            )
            jax_compile = fmt_time(j.get("compile_s")) if j["status"] == "ok" else j["status"]
            steps = r["steps"] or r["target_steps"]
            out.append(
                f"| {steps:,} | {adc_build} | {fmt_time(a.get('per_call_s'))} "
                f"| {fmt_bytes(a.get('peak_rss_bytes'))} | {fmt_time(j.get('trace_s'))} "
                f"| {jax_compile} | {fmt_time(j.get('per_call_s'))} "
                f"| {fmt_bytes(j.get('peak_rss_bytes'))} | {_checks(a, j)} |"
            )
        out += ["", *SCALING_NOTES]
    return "\n".join(out)


NOTES = [
    "Build: adc = compile_file + Python's compile of the generated module; JAX = the first call "
    "of jit(grad(f)) (trace, XLA compile, one run); Tangent = tangent.grad; autograd and "
    "PyTorch have no build step (—): they record the operations on every call. A call is one "
    "gradient on inputs already in the peer's own types (JAX arrays, torch tensors with "
    "requires_grad), including the forward pass; JAX's includes block_until_ready. Ratios are "
    "medians of per-round ratios, so they need not equal the ratio of the medians. Tangent's "
    "ratios are to the primal and hand-written gradient timed in its own process; its "
    "optimiser is superlinear in the function's length (where it is stopped, "
    "optimized=False is timed too).",
]

SCALING_NOTES = [
    "Each cell is its own process. adc build = compile_file + Python's compile and exec of "
    "the generated module (in parentheses); JAX trace = jit(grad(f)).lower, XLA compile = "
    ".compile(), its gradient then called through the compiled executable. Peak RSS is the "
    "process's peak resident memory (VmHWM, imports included). A crash is the process dying "
    "by that signal (the limits are in force, so a crash may or may not be a failed "
    "allocation); out of memory means it reported a failed allocation. Every finished "
    "gradient is checked against the hand-written chain gradient (rtol 1e-9); the chain "
    "contracts, so from some length on its gradient underflows to zero and the check can "
    "only confirm that.",
]


# ---------------------------------------------------------------------------------------------


def main() -> None:
    """Run the suite and print the Markdown report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5 rounds, scaling at T = 1,000 only")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 21, quick 5)")
    parser.add_argument("--tangent-time-limit", type=float, help="s (default 120, quick 60)")
    parser.add_argument("--adc-time-limit", type=float, default=1800.0, help="s per scaling run")
    parser.add_argument("--jax-time-limit", type=float, default=300.0, help="s per scaling run")
    parser.add_argument("--memory-limit-gib", type=float, default=8.0, help="per child process")
    parser.add_argument("--no-scaling", action="store_true", help="table 1 only")
    parser.add_argument(
        "--tangent-venv", type=Path, default=TANGENT_VENV, help="made by tools/tangent_env.sh"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="run with OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS set to N "
        "(default: each library's own choice; XLA's CPU thread pool is not pinned either way)",
    )
    args = parser.parse_args()
    if args.threads:
        pinned = {v: str(args.threads) for v in THREAD_VARIABLES[:3]}
        if any(os.environ.get(k) != n for k, n in pinned.items()):
            # NumPy has read the variables already: start again with them set.
            os.execve(sys.executable, [sys.executable, *sys.argv], os.environ | pinned)
    rounds = args.rounds or (5 if args.quick else 21)
    target = 0.01 if args.quick else 0.02
    tangent_limit = args.tangent_time_limit or (60.0 if args.quick else 120.0)
    memory = int(args.memory_limit_gib * limits.GIB)
    sizes = [] if args.no_scaling else [1_000] if args.quick else [1_000, 10_000, 100_000]
    started = time.perf_counter()

    report: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "rounds": rounds,
            "target": target,
            "tangent_limit_s": tangent_limit,
            "adc_limit_s": args.adc_time_limit,
            "jax_limit_s": args.jax_time_limit,
            "memory_gib": args.memory_limit_gib,
        },
    }
    ws = workloads(1_000)
    for w in ws:
        check_by_differences(w)
    print("Tangent (own environment)", file=sys.stderr, flush=True)
    tangent_rows, tangent_versions = tangent(
        args.tangent_venv, ws, 1_000, rounds, target, tangent_limit, memory
    )
    print("adc, autograd, JAX, PyTorch", file=sys.stderr, flush=True)
    rows, versions = in_process(ws, rounds, target)
    order = {w.key: i for i, w in enumerate(ws)}
    report["versions"] = versions | tangent_versions
    report["table"] = sorted(rows + tangent_rows, key=lambda r: order[r["key"]])
    print("Scaling", file=sys.stderr, flush=True)
    time_limits = {"adc": args.adc_time_limit, "jax": args.jax_time_limit}
    report["scaling"] = scaling(sizes, 3 if args.quick else 7, time_limits, memory)
    report["elapsed_s"] = time.perf_counter() - started
    report["machine"]["load average at end"] = [round(x, 2) for x in os.getloadavg()]
    print(markdown(report))
    print(f"\n(The suite took {report['elapsed_s']:,.0f} s.)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
