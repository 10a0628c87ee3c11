"""`adc compile --backend numba`: the same functions, compiled by numba and cached on disk."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

# The numba backend's tests need numba, which the `test` extra installs: without it this file
# fails to import (a failure, not a skip that would hide the backend untested).
import numba  # noqa: F401
import pytest

import ad_compiler

from .conftest import SAMPLES, run_adc

CHAIN = """
from math import sin, cos


def chain(x, y):
    a = x
    b = y
"""


def chain_text(pairs: int) -> str:
    lines = [CHAIN.rstrip("\n")]
    for i in range(pairs):
        lines.append(f"    a = sin(a) * {0.5 + (i % 7) * 0.01} + b * 0.25")
        lines.append(f"    b = a * b + cos(b) * {0.5 + (i % 7) * 0.01}")
    lines.append("    return a + b")
    return "\n".join(lines) + "\n"


def chain_reference(x: float, y: float, pairs: int) -> float:
    """The chain run as plain Python, for finite differences."""
    a, b = x, y
    for i in range(pairs):
        k = 0.5 + (i % 7) * 0.01
        a = math.sin(a) * k + b * 0.25
        b = a * b + math.cos(b) * k
    return a + b


@pytest.mark.parametrize("sample, point", [("baydin.py", (2.0, 5.0)), ("slide.py", (1.5, 0.5))])
def test_numba_functions_equal_the_python_ones(sample: str, point: tuple) -> None:
    plain = ad_compiler.compile_file(SAMPLES / sample)
    jitted = ad_compiler.compile_file(SAMPLES / sample, backend="numba")
    assert jitted.f(*point) == pytest.approx(plain.f(*point), rel=1e-14)
    for got, want in zip(jitted.grad_f(*point), plain.grad_f(*point)):
        assert got == pytest.approx(want, rel=1e-13)
    value, grads = jitted.value_and_grad_f(*point)
    assert value == pytest.approx(plain.f(*point), rel=1e-14)
    assert len(grads) == 2


def test_numba_chain_gradient_matches_finite_differences() -> None:
    pairs = 6
    jitted = ad_compiler.compile_source(chain_text(pairs), "chain.py", backend="numba")
    x, y = 0.3, 0.7
    gx, gy = jitted.grad_chain(x, y)
    h = 1e-5
    for got, (dx, dy) in ((gx, (1, 0)), (gy, (0, 1))):
        # fourth-order central differences of the plain-Python chain
        f = [chain_reference(x + k * h * dx, y + k * h * dy, pairs) for k in (-2, -1, 1, 2)]
        fd = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)
        assert got == pytest.approx(fd, rel=1e-7, abs=1e-9)


def test_numba_module_is_the_python_module_plus_decorators() -> None:
    plain = ad_compiler.compile_file(SAMPLES / "slide.py").source
    jitted = ad_compiler.compile_file(SAMPLES / "slide.py", backend="numba").source
    stripped = jitted.replace("import numba\n", "").replace("@numba.njit(cache=True)\n", "")
    assert stripped == plain
    assert jitted.count("@numba.njit(cache=True)\ndef ") == 3
    again = ad_compiler.compile_file(SAMPLES / "slide.py", backend="numba").source
    assert again == jitted  # deterministic


def test_a_user_name_numba_does_not_clash(tmp_path: Path) -> None:
    text = "import math\n\n\ndef f(numba):\n    return math.sin(numba) * numba\n"
    compiled = ad_compiler.compile_source(text, "t.py", backend="numba")
    assert "import numba as numba_" in compiled.source
    (g,) = compiled.grad_f(0.5)
    assert g == pytest.approx(math.cos(0.5) * 0.5 + math.sin(0.5), rel=1e-14)


def test_second_import_compiles_nothing(tmp_path: Path) -> None:
    out = tmp_path / "slide_grad.py"
    done = run_adc("compile", str(SAMPLES / "slide.py"), "--backend", "numba", "-o", str(out))
    assert done.returncode == 0, done.stderr
    probe = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(tmp_path)!r})
        import slide_grad
        slide_grad.grad_f(1.5, 0.5)
        stats = slide_grad.grad_f.stats
        print(json.dumps([sum(stats.cache_hits.values()), sum(stats.cache_misses.values())]))
        """
    )
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(2)
    ]
    assert runs[0] == [0, 1]  # the first process compiles and writes the cache
    assert runs[1] == [1, 0]  # the second loads it: no compilation


def test_array_code_is_refused_with_a_located_error() -> None:
    done = run_adc("compile", str(SAMPLES / "logistic_regression.py"), "--backend", "numba")
    assert done.returncode == 1
    assert (
        "logistic_regression.py:7:1: error: the numba backend compiles scalar functions only"
        in (done.stderr)
    )
    assert "hint: compile array code with the default backend" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_numba_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    with pytest.raises(ad_compiler.CompileError) as info:
        ad_compiler.compile_file(SAMPLES / "baydin.py", backend="numba")
    assert "needs numba, which is not installed" in info.value.message
    assert "pip install" in info.value.hint
