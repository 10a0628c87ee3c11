"""Run a worker in a child process under a time limit and an address-space limit, and say how it
ended: finished, stopped at the time limit, or out of memory.

The child sets its own limit (`apply_limit`, the first thing a worker does, from the variable
run_limited passes it), so the parent never forks with a `preexec_fn`: the parent has JAX's and
PyTorch's threads, and forking a threaded process to run Python code in the child can deadlock.
Peak memory is the child's VmHWM (peak resident set of its own address space), polled from
/proc while it runs, so it is known however the child ended; getrusage's ru_maxrss would also
count the parent's memory at the fork."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GIB = 1 << 30
LIMIT_VARIABLE = "ADC_BENCH_ADDRESS_SPACE_LIMIT"


def apply_limit() -> None:
    """In a worker: cap this process's address space as run_limited asked (if it did)."""
    limit = os.environ.get(LIMIT_VARIABLE)
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))


def peak_rss_bytes(pid: int | str = "self") -> int:
    """The peak resident memory (VmHWM) of a process's own address space; 0 if unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) * 1024 if match else 0


# What a child that ran out of its address space prints (Python, C++ and XLA allocators).
_OOM_MARKERS = (
    "MemoryError",
    "bad_alloc",
    "Cannot allocate memory",
    "RESOURCE_EXHAUSTED",
    "out of memory",
    "Out of memory",
    "failed to allocate",
    "Failed to allocate",
)


@dataclass
class Outcome:
    """How a limited child ended."""

    status: str  # ok, stopped at N s, out of memory (limit N GiB), crashed: SIG..., failed: ...
    elapsed_s: float
    peak_rss_bytes: int
    records: list[dict[str, Any]] = field(default_factory=list)  # the JSON lines it printed
    stderr: str = ""

    @property
    def ok(self) -> bool:
        """Whether the child finished and succeeded."""
        return self.status == "ok"

    def last(self) -> dict[str, Any]:
        """Every key the child reported, later lines overriding earlier ones."""
        merged: dict[str, Any] = {}
        for record in self.records:
            merged.update(record)
        return merged


def run_limited(cmd: list[str], time_limit_s: float, memory_limit_bytes: int) -> Outcome:
    """Run the worker `cmd`, killing it after `time_limit_s` seconds; it caps its own address
    space at `memory_limit_bytes` (apply_limit). Its stdout is read as JSON lines; a line
    {"peak_rss_bytes": n} from the worker counts towards the peak."""
    peak = 0
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory(prefix="adc-bench-worker-") as scratch,
    ):
        # The child's temporary files go in `scratch`, removed here even if the child is killed.
        env = os.environ | {LIMIT_VARIABLE: str(memory_limit_bytes), "TMPDIR": scratch}
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        timed_out = False
        while True:
            peak = max(peak, peak_rss_bytes(proc.pid))
            pid, wait_status = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > time_limit_s:
                proc.kill()  # this child only, by its pid
                timed_out = True
                _, wait_status = os.waitpid(proc.pid, 0)
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(wait_status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    records = []
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    peak = max([peak] + [r["peak_rss_bytes"] for r in records if "peak_rss_bytes" in r])
    rc = proc.returncode
    if timed_out:
        status = f"stopped at {time_limit_s:,.0f} s"
    elif any(m in stderr for m in _OOM_MARKERS) and rc != 0:
        status = f"out of memory (limit {memory_limit_bytes / GIB:g} GiB)"
    elif rc < 0:
        status = f"crashed: {signal.Signals(-rc).name}"
    elif rc != 0:
        lines = [s for s in stderr.splitlines() if s.strip()]
        status = "failed: " + (lines[-1].strip()[:160] if lines else f"exit code {rc}")
    else:
        status = "ok"
    return Outcome(status, elapsed, peak, records, stderr)
