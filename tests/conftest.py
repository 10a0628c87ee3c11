"""Shared helpers: compile text, run `adc` (in this process, or as a real subprocess for the
few tests that need a process of its own), and the repository's paths."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import ad_compiler
from ad_compiler.api import Compiled

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def compile_text(text: str, **kwargs) -> Compiled:
    """Compile dedented source text."""
    return ad_compiler.compile_source(textwrap.dedent(text), filename="t.py", **kwargs)


@dataclass
class Ran:
    """What a run of `adc` gave, spelled as subprocess.CompletedProcess spells it."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


# What a fresh `python` process does with warnings: RuntimeWarning and the like are printed on
# stderr once per place, DeprecationWarning and its kin are hidden (outside __main__).
_PROCESS_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def run_adc(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Ran:
    """`adc ARGS...` run in this process by click's CliRunner, as a process would run it.

    The working directory is `cwd` (default the repository root) for the command's duration;
    `env` overrides environment variables (TMPDIR is honoured: tempfile's cached directory is
    forgotten for the run). Like a process: the exit status is `returncode`; an exception that
    escapes the command is printed as a traceback on stderr with status 1; warnings are printed
    on stderr as a fresh interpreter prints them rather than collected by pytest. What a real
    process alone can show (signals, interpreter flags, the console script, what importing adc
    writes) is for `run_adc_process`.
    """
    from cli.main import main

    old_cwd, old_tempdir = os.getcwd(), tempfile.tempdir
    os.chdir(cwd or ROOT)
    tempfile.tempdir = None
    try:
        with warnings.catch_warnings():
            warnings.resetwarnings()
            warnings.simplefilter("default")
            for category in _PROCESS_WARNINGS:
                warnings.simplefilter("ignore", category)
            warnings.showwarning = _show_on_stderr
            result = CliRunner().invoke(main, list(args), env=env, prog_name="adc")
    finally:
        os.chdir(old_cwd)
        tempfile.tempdir = old_tempdir
    stderr, code = result.stderr, result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
        code = 1
    return Ran(["adc", *args], code, result.stdout, stderr)


def _show_on_stderr(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def run_adc_process(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`python -m cli.main ARGS...` as a real subprocess of this interpreter: for what only a
    process of its own shows. Everything else runs in process (`run_adc`): a process costs
    half a second to start."""
    full = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=full,
        timeout=timeout,
    )


@pytest.fixture
def write(tmp_path: Path):
    """Write dedented text to a file in a temporary directory; returns its path."""

    def _write(text: str, name: str = "f.py") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write
