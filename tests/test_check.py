"""`adc check` and `ad_compiler.check_grad`: gradients against step-controlled differences, for
numbers and arrays (along a random direction or element by element), and points where the
function is undefined."""

from __future__ import annotations

import importlib.util
import inspect
import math
import os
import re
import shlex
import subprocess
import sys
import types

import numpy as np
import pytest
from click.testing import CliRunner

import ad_compiler
from ad_compiler.backend import load
from ad_compiler.teach.check import compare, ridders
from cli.main import main as adc

from .conftest import ROOT, SAMPLES, run_adc
from .docs import block
from .goldens import ARRAY_SAMPLES, POINTS


def test_ridders_is_accurate_and_estimates_its_error() -> None:
    value, err = ridders(math.sin, 1.0)
    assert abs(value - math.cos(1.0)) < 1e-12 and err < 1e-10
    value, _ = ridders(math.exp, 3.0)
    assert value == pytest.approx(math.exp(3.0), rel=1e-12)


def test_ridders_shrinks_its_step_at_the_edge_of_a_domain() -> None:
    value, _ = ridders(math.log, 1e-3)  # a first step of 0.1 would leave log's domain
    assert value == pytest.approx(1e3, rel=1e-8)


def test_compare_catches_a_wrong_gradient() -> None:
    def f(x, y):
        return x * y + math.sin(x)

    right = compare("f", f, (2.0 + math.cos(1.0), 1.0), {"x": 1.0, "y": 2.0}, ["x", "y"], 1e-8)
    wrong = compare("f", f, (2.0 + math.cos(1.0), 1.001), {"x": 1.0, "y": 2.0}, ["x", "y"], 1e-8)
    assert right.ok and not wrong.ok
    assert wrong.rows[1].error == pytest.approx(1e-3, rel=1e-3)


def live(a, b):
    return math.exp(-a * b) * math.cos(a) + b**3


def test_check_grad_of_a_live_function() -> None:
    result = ad_compiler.check_grad(live, 0.7, -1.3)
    assert result.ok and result.max_error < 1e-9
    assert [r.name for r in result.rows] == ["a", "b"]
    assert "OK: largest error" in result.to_text()
    only_b = ad_compiler.check_grad(live, 0.7, -1.3, wrt=["b"])
    assert [r.name for r in only_b.rows] == ["b"]
    assert not ad_compiler.check_grad(live, 0.7, -1.3, tol=0.0) or result.max_error == 0.0


def test_adc_check_at_a_point_prints_the_table() -> None:
    proc = run_adc("check", str(SAMPLES / "baydin.py"), "x1=2", "x2=5")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "f at x1=2, x2=5"
    assert lines[1].split() == ["parameter", "analytic", "numeric", "error"]
    x1 = lines[2].split()
    assert x1[0] == "x1" and float(x1[1]) == 5.5 and abs(float(x1[2]) - 5.5) < 1e-9
    assert lines[-1].startswith("OK: largest error")


def test_adc_check_uses_defaults_for_missing_values() -> None:
    proc = run_adc("check", str(SAMPLES / "baydin.py"), "x2=1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("f at x1=2, x2=1\n")


def test_adc_check_at_random_points() -> None:
    proc = run_adc("check", str(SAMPLES / "slide.py"), "--points", "3", "--seed", "4")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("OK: largest error") == 3


def test_adc_check_finds_points_inside_the_domain(write) -> None:
    path = write("import math\n\ndef f(x, y):\n    return math.log(x) * math.sqrt(y - 0.5)\n")
    proc = run_adc("check", str(path), "--points", "4")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("OK") == 4


def test_adc_check_exits_1_above_tolerance() -> None:
    proc = run_adc("check", str(SAMPLES / "baydin.py"), "x1=2", "x2=5", "--tol", "1e-30")
    assert proc.returncode == 1
    assert "FAILED: largest error" in proc.stdout and "Traceback" not in proc.stderr


def test_adc_check_reports_a_function_defined_nowhere(write) -> None:
    path = write("import math\n\ndef f(x):\n    return math.sqrt(-1 - x * x)\n")
    proc = run_adc("check", str(path))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{path}:3:1: error: found no point where `f` is defined")
    assert "hint: pass a point: x=VALUE" in proc.stderr


def test_adc_check_unknown_parameter(write) -> None:
    path = write("def f(x):\n    return x * x\n")
    proc = run_adc("check", str(path), "y=1")
    assert proc.returncode == 1 and "has no parameter `y`" in proc.stderr


def test_adc_check_is_reliable_where_the_function_oscillates_fast() -> None:
    # near w2 = 0, sin(2*pi*w1/w2) oscillates faster than a first step of 0.1 can resolve
    proc = run_adc("check", str(SAMPLES / "slide.py"), "--points", "40", "--seed", "4")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert proc.stdout.count("OK: largest error") == 40


# ---------------------------------------------------------------------------------------------
# Arrays: one random direction per array, or every element
# ---------------------------------------------------------------------------------------------

PAGE = "docs/checking.md"
ROWS = re.compile(r"^  (\S+)\s+(\(.*?\)|scalar)\s+(?:(\[[\d, ]*\]|-)\s+)?(\S+)\s+(\S+)\s+(\S+)$")


def invoke(*args: str):
    """`adc ARGS...` run in process from the repository root: the click result."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return CliRunner().invoke(adc, list(args), catch_exceptions=False)
    finally:
        os.chdir(cwd)


def table(stdout: str) -> dict[str, tuple[str, str | None, float, float, float]]:
    """The rows of an array check's table: name -> (shape, element, analytic, numeric, error)."""
    rows = {}
    for line in stdout.splitlines()[3:-1]:
        found = ROWS.fullmatch(line)
        assert found, line
        name, shape, element, analytic, numeric, error = found.groups()
        rows[name] = (shape, element, float(analytic), float(numeric), float(error))
    return rows


def sample_function(name: str, function: str = "loss") -> types.FunctionType:
    """A sample's function, imported: a live function for check_grad."""
    spec = importlib.util.spec_from_file_location(f"sample_{name}", SAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function)


def sample_point(name: str, fn: types.FunctionType) -> list:
    """The arguments of a sample's loss at its golden point (the rest from the defaults)."""
    given = ad_compiler.api.parse_values(POINTS[name], f"{name}.py")
    params = inspect.signature(fn).parameters
    return [given[p] if p in given else params[p].default for p in params]


def _shape(value) -> str:
    return str(np.shape(value)) if np.ndim(value) else "scalar"


@pytest.mark.parametrize("mode", [(), ("--elementwise",)], ids=["direction", "elementwise"])
@pytest.mark.parametrize("name", ARRAY_SAMPLES)
def test_array_samples_pass_adc_check(name: str, mode: tuple[str, ...]) -> None:
    result = invoke("check", f"samples/{name}.py", *POINTS[name], "--function", "loss", *mode)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("loss at ")
    assert lines[-1].startswith("OK: largest error")
    fn = sample_function(name)
    args = sample_point(name, fn)
    rows = table(result.stdout)
    assert list(rows) == list(inspect.signature(fn).parameters)
    for (shape, element, analytic, numeric, error), value in zip(rows.values(), args):
        assert shape == _shape(value)
        assert (element is not None) == bool(mode)
        assert error < 1e-9 and abs(analytic - numeric) < 1e-9 * max(1, abs(analytic))


@pytest.mark.parametrize("elementwise", [False, True], ids=["direction", "elementwise"])
@pytest.mark.parametrize("name", ARRAY_SAMPLES)
def test_array_samples_pass_check_grad_as_live_functions(name: str, elementwise: bool) -> None:
    fn = sample_function(name)
    args = sample_point(name, fn)
    result = ad_compiler.check_grad(fn, *args, elementwise=elementwise)
    assert result.ok and not result.undefined and result.max_error < 1e-9, result.to_text()
    assert [r.name for r in result.rows] == list(inspect.signature(fn).parameters)
    for row, value in zip(result.rows, args):
        assert row.shape == (np.shape(value) if np.ndim(value) else None)
        assert (row.index is not None) == (elementwise and row.shape is not None)


def test_the_direction_is_random_and_seeded() -> None:
    fn = sample_function("least_squares")
    args = sample_point("least_squares", fn)
    first = ad_compiler.check_grad(fn, *args, wrt=["w"], seed=1)
    again = ad_compiler.check_grad(fn, *args, wrt=["w"], seed=1)
    other = ad_compiler.check_grad(fn, *args, wrt=["w"], seed=2)
    assert first.ok and other.ok
    assert first.rows == again.rows and first.rows[0].analytic != other.rows[0].analytic
    grad_w = ad_compiler.grad(fn, wrt=["w"])(*args)[0]
    # the analytic column is <grad, v> for a unit v: never more than |grad| in size
    for result in (first, other):
        assert abs(result.rows[0].analytic) <= np.linalg.norm(grad_w) * (1 + 1e-12)
    assert "(seed 2)" in other.to_text()


def _wrong_in_w(module: types.ModuleType) -> types.ModuleType:
    """A copy of a generated module whose grad_loss is off by 1e-3 in w[1]."""
    copy = types.ModuleType(module.__name__)
    copy.__dict__.update(module.__dict__)
    right = module.grad_loss

    def grad_loss(*args):
        grads = list(right(*args))
        grads[0] = grads[0] + np.array([0.0, 1e-3])
        return tuple(grads)

    copy.grad_loss = grad_loss
    return copy


@pytest.fixture
def wrong_gradient(monkeypatch):
    """Every generated module loaded while active has a grad_loss off by 1e-3 in w[1]."""
    for name in ("load_in_memory", "load_source"):
        right = getattr(load, name)
        monkeypatch.setattr(load, name, lambda *a, _right=right, **k: _wrong_in_w(_right(*a, **k)))


def test_adc_check_catches_a_wrong_gradient_in_both_modes(wrong_gradient) -> None:
    point = POINTS["least_squares"]
    along = invoke("check", "samples/least_squares.py", *point)
    every = invoke("check", "samples/least_squares.py", *point, "--elementwise")
    for result in (along, every):
        assert result.exit_code == 1, result.output
        assert result.stdout.splitlines()[-1].startswith("FAILED: largest error")
        rows = table(result.stdout)
        assert rows["w"][4] > 1e-5
        assert all(row[4] < 1e-9 for name, row in rows.items() if name != "w")
    assert table(every.stdout)["w"][1] == "[1]"
    _, _, analytic, numeric, _ = table(every.stdout)["w"]
    assert analytic - numeric == pytest.approx(1e-3, rel=1e-6)


def test_check_grad_catches_a_wrong_gradient_in_both_modes(wrong_gradient) -> None:
    fn = sample_function("least_squares")
    args = sample_point("least_squares", fn)
    for elementwise in (False, True):
        result = ad_compiler.check_grad(fn, *args, elementwise=elementwise)
        assert not result.ok and not result.undefined
        assert result.to_text().splitlines()[-1].startswith("FAILED: largest error")
        assert [r.name for r in result.rows if r.error > 1e-6] == ["w"]
    assert result.rows[0].index == (1,)


def test_adc_check_asks_array_code_for_a_point() -> None:
    result = invoke("check", "samples/least_squares.py")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(
        "samples/least_squares.py:6:1: error: `loss` may take arrays, and adc check draws "
        "random points only for numbers\n"
    )
    assert "hint: pass a point: w=VALUE b=VALUE X=VALUE y=VALUE, an array as w=[0.5, -0.25]" in (
        result.stderr
    )


def test_adc_check_draws_random_points_for_numpy_code_with_every_default(write) -> None:
    path = write("import numpy as np\n\n\ndef f(x=1.0, y=0.5):\n    return np.exp(x) * y\n")
    result = invoke("check", str(path), "--points", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("OK: largest error") == 3


# ---------------------------------------------------------------------------------------------
# Undefined points
# ---------------------------------------------------------------------------------------------


def log_plus(x):
    return math.log(x) + x


def log_sum(w):
    return np.sum(np.log(w))


def power(w):
    return np.sum(w**1.5)


def test_an_undefined_scalar_point_is_reported_as_such(write) -> None:
    path = write("import math\n\n\ndef f(x):\n    return math.log(x) + x\n")
    result = invoke("check", str(path), "x=-1")
    assert result.exit_code == 1
    assert result.stdout == (
        "f at x=-1\nUNDEFINED at this point: `f` fails (math domain error); nothing was checked\n"
    )
    live = ad_compiler.check_grad(log_plus, -1.0)
    assert not live.ok and live.undefined == "`log_plus` fails (math domain error)"
    assert live.rows == [] and "FAILED" not in live.to_text()
    assert live.to_text().splitlines()[-1] == (
        "UNDEFINED at this point: `log_plus` fails (math domain error); nothing was checked"
    )


def test_an_undefined_array_point_is_reported_as_such(write) -> None:
    path = write("import numpy as np\n\n\ndef f(w):\n    return np.sum(np.log(w))\n")
    for mode in ((), ("--elementwise",)):
        result = invoke("check", str(path), "w=[1, -2, 3]", *mode)
        assert result.exit_code == 1
        assert result.stdout == (
            "f at w=[1, -2, 3]\nUNDEFINED at this point: `f` is nan; nothing was checked\n"
        )
        assert result.stderr == ""
    live = ad_compiler.check_grad(log_sum, np.array([1.0, -2.0, 3.0]))
    assert not live.ok and live.undefined == "`log_sum` is nan"
    assert ad_compiler.check_grad(log_sum, np.array([1.0, 2.0, 3.0])).ok


def test_a_gradient_that_is_infinite_is_an_undefined_point(write) -> None:
    path = write("import math\n\n\ndef f(x):\n    return math.sqrt(x)\n")
    result = invoke("check", str(path), "x=0")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == (
        "UNDEFINED at this point: the gradient is inf in `x`; nothing was checked"
    )


def test_a_point_with_no_central_difference_is_undefined(write) -> None:
    """At 0, w ** 1.5 is defined and so is its gradient, but not w ** 1.5 left of 0."""
    path = write("import numpy as np\n\n\ndef f(w):\n    return np.sum(w ** 1.5)\n")
    along = invoke("check", str(path), "w=[0, 1]")
    every = invoke("check", str(path), "w=[0, 1]", "--elementwise")
    assert along.exit_code == every.exit_code == 1
    assert along.stdout.splitlines()[-1] == (
        "UNDEFINED at this point: `f` has no central difference along `w` in a random "
        "direction: it is undefined arbitrarily near this point"
    )
    assert every.stdout.splitlines()[-1] == (
        "UNDEFINED at this point: `f` has no central difference along `w[0]`: it is undefined "
        "arbitrarily near this point"
    )
    assert every.stdout.splitlines()[3].split() == ["w", "(2,)", "[0]", "0.0", "undefined", "-"]
    live = ad_compiler.check_grad(power, np.array([0.0, 1.0]), elementwise=True)
    assert not live.ok and live.rows[0].undefined and live.rows[0].index == (0,)
    assert ad_compiler.check_grad(power, np.array([0.5, 1.0]), elementwise=True).ok


def test_a_complex_value_is_an_undefined_point(write) -> None:
    path = write("def f(x):\n    return x ** 1.5\n")
    result = invoke("check", str(path), "x=-1")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1].startswith(
        "UNDEFINED at this point: `f` is the complex number"
    )
    edge = invoke("check", str(path), "x=0")
    assert edge.exit_code == 1
    assert edge.stdout.splitlines()[2].split() == ["x", "0.0", "undefined", "-"]


def test_a_mismatch_outweighs_an_undefined_row() -> None:
    def f(x, y):
        return x**1.5 + y

    result = compare("f", f, (0.0, 2.0), {"x": 0.0, "y": 1.0}, ["x", "y"], 1e-8)
    assert result.rows[0].undefined and result.rows[1].error == pytest.approx(0.5)
    assert not result.ok and result.undefined
    assert result.to_text().splitlines()[-1] == "FAILED: largest error 5.0e-01 (tolerance 1e-08)"


# ---------------------------------------------------------------------------------------------
# docs/checking.md
# ---------------------------------------------------------------------------------------------


def _shown_run(text: str) -> tuple[str, str]:
    """What a block `$ adc ARGS...` followed by its output shows, and what adc prints."""
    command, _, shown = text.partition("\n")
    assert command.startswith("$ adc ")
    result = invoke(*shlex.split(command)[2:])
    return shown, result.stdout


def test_docs_array_check_is_what_adc_prints() -> None:
    shown, printed = _shown_run(block(PAGE, "check-least-squares"))
    assert shown == printed and printed.endswith("OK: largest error 7.3e-13 (tolerance 1e-06)\n")


def test_docs_elementwise_check_is_what_adc_prints() -> None:
    shown, printed = _shown_run(block(PAGE, "check-least-squares-elementwise"))
    assert shown == printed and "element" in printed.splitlines()[2]


def test_docs_undefined_check_is_what_adc_prints() -> None:
    shown, printed = _shown_run(block(PAGE, "check-undefined"))
    assert shown == printed and printed.splitlines()[-1].startswith("UNDEFINED at this point")


def test_docs_check_grad_example_prints_what_the_page_says(tmp_path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block(PAGE, "check-grad-python"), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == block(PAGE, "check-grad-python-output")
