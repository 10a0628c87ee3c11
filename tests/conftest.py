"""Shared helpers: compile text, run the real `adc` command, and the repository's paths."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ad_compiler
from ad_compiler.api import Compiled

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def compile_text(text: str, **kwargs) -> Compiled:
    """Compile dedented source text."""
    return ad_compiler.compile_source(textwrap.dedent(text), filename="t.py", **kwargs)


def run_adc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `adc ARGS...` as a real subprocess of this interpreter."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=300,
    )


@pytest.fixture
def write(tmp_path: Path):
    """Write dedented text to a file in a temporary directory; returns its path."""

    def _write(text: str, name: str = "f.py") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write
