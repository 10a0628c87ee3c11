"""The README and the docs show real output: their blocks are compared with what adc prints,
and run."""

from __future__ import annotations

import math
import os
import subprocess
import sys

from .conftest import ROOT, SAMPLES, run_adc
from .docs import block, page


def test_readme_opens_with_exactly_the_two_setup_commands() -> None:
    first = block("README.md", "setup-commands").splitlines()
    assert [line.split("#")[0].strip() for line in first] == ["make run", "make test"]
    readme = page("README.md")
    assert readme.index("<!-- check: setup-commands -->") < readme.index("```")


def test_readme_sample_is_the_file() -> None:
    assert block("README.md", "baydin-source") in (SAMPLES / "baydin.py").read_text()


def test_readme_run_table_is_what_adc_prints() -> None:
    proc = run_adc("run", str(SAMPLES / "baydin.py"))
    assert proc.returncode == 0, proc.stderr
    assert block("README.md", "baydin-run") == proc.stdout


def test_readme_trace_is_what_adc_prints() -> None:
    proc = run_adc("trace", str(SAMPLES / "slide.py"))
    assert proc.returncode == 0, proc.stderr
    assert block("README.md", "slide-trace") == proc.stdout


def test_readme_error_example_is_what_adc_prints(tmp_path) -> None:
    path = tmp_path / "listcomp.py"
    path.write_text("def f(x):\n    ys = [x * k for k in range(3)]\n    return ys[0]\n")
    proc = run_adc("compile", "listcomp.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert block("docs/language.md", "listcomp-error") == proc.stderr


def test_readme_generated_code_is_what_adc_writes() -> None:
    proc = run_adc("compile", str(SAMPLES / "slide.py"), "-o", "-")
    assert proc.returncode == 0, proc.stderr
    shown = block("README.md", "slide-grad")
    assert shown.startswith("def grad_f(w1, w2):")
    assert shown in proc.stdout


def test_readme_python_example_runs(tmp_path) -> None:
    script = tmp_path / "example.py"
    checks = (
        "\nh = 1e-6\n"
        "fd = (loss(0.3 + h) - loss(0.3 - h)) / (2 * h)\n"
        "assert abs(ad_compiler.grad(loss)(0.3)[0] - fd) < 1e-8\n"
        "print(ad_compiler.value_and_grad(loss, wrt=['w'])(0.3))\n"
    )
    script.write_text(block("README.md", "python-api") + checks)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    value, (dw,) = eval(proc.stdout)
    assert abs(value - math.log(1 + math.exp(-0.15))) < 1e-15 and dw < 0


def test_readme_check_example_is_what_adc_prints() -> None:
    proc = run_adc("check", str(SAMPLES / "baydin.py"), "x1=2", "x2=5")
    assert proc.returncode == 0, proc.stderr
    assert block("docs/checking.md", "check-baydin") == proc.stdout


def test_readme_array_run_is_what_adc_prints() -> None:
    args = ("w=zeros(2)", "b=0", "X=[[1, 2], [3, 4], [5, 6]]", "y=[1, 2, 3]")
    proc = run_adc("run", str(SAMPLES / "least_squares.py"), *args)
    assert proc.returncode == 0, proc.stderr
    assert block("docs/arrays.md", "array-run") == proc.stdout


def test_readme_optim_example_runs(monkeypatch) -> None:
    import numpy as np

    monkeypatch.chdir(ROOT)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 10))
    y = X @ rng.normal(size=10) + 0.5
    namespace = {"X": X, "y": y}
    exec(block("docs/training.md", "optim-example"), namespace)
    result = namespace["result"]
    A = np.column_stack([X, np.ones(len(y))])
    best = np.mean((A @ np.linalg.lstsq(A, y, rcond=None)[0] - y) ** 2)
    assert result.params["w"].shape == (10,) and result.history[-1] <= best + 1e-3
