"""`adc check` and `ad_compiler.check_grad`: gradients against step-controlled differences."""

from __future__ import annotations

import math

import pytest

import ad_compiler
from ad_compiler.teach.check import compare, ridders

from .conftest import SAMPLES, run_adc


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
