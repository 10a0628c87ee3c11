"""What only a real process shows: the `adc` console script that `pip install` puts beside the
interpreter, the exit statuses a shell sees, and that the rest of the suite, which runs the
CLI in process (conftest.run_adc), sees what a real process prints, byte for byte.

The other real processes of the suite, each for what a process of its own shows:
test_safety.py (SIGINT and SIGKILL during a compile; a numpy.py beside the input; what a
process writes to TMPDIR and HOME), test_catalogue.py (a folder holding a package that stands
for a library not installed), test_module.py (PYTHONHASHSEED; the generated module in an
interpreter started with -I -S), test_numba.py (numba's on-disk cache across processes) and
test_readme.py (the README's example run as a script).
"""

from __future__ import annotations

import subprocess
import sysconfig
import warnings
from pathlib import Path

import pytest

from ad_compiler import __version__

from .conftest import ROOT, run_adc

SCRIPT = Path(sysconfig.get_path("scripts")) / "adc"

LISTCOMP = "def f(x):\n    ys = [x * k for k in range(3)]\n    return ys[0]\n"

# (arguments, exit status): one of each kind of ending
CASES = {
    "a table": (("run", "samples/baydin.py", "x1=2", "x2=5"), 0),
    "--version": (("--version",), 0),
    "a compile error": (("compile", "listcomp.py", "-o", "-"), 1),
    "a check that fails": (("check", "samples/slide.py", "--tol", "1e-30"), 1),
    "a usage error": (("run",), 2),
}


def _console(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    assert SCRIPT.is_file(), (
        f"no console script {SCRIPT}: install the package (`make test` runs pip install -e)"
    )
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize(("args", "status"), CASES.values(), ids=CASES.keys())
def test_the_console_script_prints_what_the_in_process_runs_print(
    tmp_path: Path, args: tuple[str, ...], status: int
) -> None:
    (tmp_path / "samples").symlink_to(ROOT / "samples", target_is_directory=True)
    (tmp_path / "listcomp.py").write_text(LISTCOMP, encoding="utf-8")
    real = _console(*args, cwd=tmp_path)
    assert real.returncode == status, real.stderr
    assert "Traceback" not in real.stdout + real.stderr, real.stderr
    ran = run_adc(*args, cwd=tmp_path)
    assert (ran.returncode, ran.stdout, ran.stderr) == (real.returncode, real.stdout, real.stderr)
    if args == ("--version",):
        assert real.stdout == f"adc, version {__version__}\n"
    elif args[0] == "compile":
        assert real.stderr.startswith("listcomp.py:2:10: error: ") and "\nhint: " in real.stderr
    elif args[0] == "check":
        assert "FAILED: largest error" in real.stdout


def test_in_process_runs_show_escaping_exceptions_and_warnings_as_a_process_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The harness itself: an exception that escapes a command (planted past adc's own
    handling) is a traceback on stderr and exit status 1, and a warning is printed on stderr
    (not collected by pytest), as in a process; so the suite's checks of stderr can fail."""
    import cli.main

    def escape(**kwargs: object) -> None:
        warnings.warn("planted warning", RuntimeWarning, stacklevel=1)
        raise KeyError("planted")

    monkeypatch.setattr(cli.main.trace_cmd, "callback", escape)
    ran = run_adc("trace", "samples/baydin.py")
    assert ran.returncode == 1 and ran.stdout == ""
    assert "RuntimeWarning: planted warning" in ran.stderr
    assert "Traceback" in ran.stderr and ran.stderr.endswith("KeyError: 'planted'\n")
