"""The lecture's two examples, reproduced number by number from the trace adc builds."""

from __future__ import annotations

import json
import math

import pytest

from ad_compiler import compile_file
from ad_compiler.teach.tables import run_report, trace_dict

from .conftest import SAMPLES, run_adc


def seed_baydin(x1: float, x2: float) -> tuple[float, float, float]:
    """The lecture's function and its hand-derived partials (1/x1 + x2, x1 - cos x2)."""
    return math.log(x1) + x1 * x2 - math.sin(x2), 1 / x1 + x2, x1 - math.cos(x2)


def test_slide_trace_is_the_seeds_six_steps() -> None:
    trace = compile_file(SAMPLES / "slide.py").traces["f"]
    data = trace_dict(trace)
    steps = [(s["var"], s["type"], s["expr"], s["args"]) for s in data["steps"]]
    assert steps == [
        ("z1", 2, "w1 * w2^-1", ["w1", "w2"]),
        ("z2", 3, "sin(2*pi*z1)", ["z1"]),
        ("z3", 3, "exp(2*w2)", ["w2"]),
        ("z4", 1, "3*z1 - z3", ["z1", "z3"]),
        ("z5", 1, "z2 + z4", ["z2", "z4"]),
        ("z6", 2, "z5 * z4", ["z5", "z4"]),
    ]
    assert data["output"] == "z6" and data["inputs"] == ["w1", "w2"]
    assert len(trace.steps) == 6 and trace.edges == 10


def test_slide_trace_cli_json() -> None:
    proc = run_adc("trace", str(SAMPLES / "slide.py"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"function", "inputs", "steps", "output"}
    assert [s["var"] for s in data["steps"]] == [f"z{t}" for t in range(1, 7)]
    assert all(set(s) == {"var", "type", "expr", "args"} for s in data["steps"])


def test_slide_trace_cli_text() -> None:
    proc = run_adc("trace", str(SAMPLES / "slide.py"))
    assert proc.returncode == 0, proc.stderr
    assert "T = 6 steps, E = 10 edges" in proc.stdout
    assert "z2 = sin(2*pi*z1)" in proc.stdout and "z4 = 3*z1 - z3" in proc.stdout


def _baydin_report():
    compiled = compile_file(SAMPLES / "baydin.py")
    trace = compiled.traces["f"]
    value, grads = compiled.value_and_grad_f(2.0, 5.0)
    return run_report(trace, {"x1": 2.0, "x2": 5.0}, value, grads)


def test_baydin_primal_table_matches_the_seed() -> None:
    report = _baydin_report()
    x1, x2 = 2.0, 5.0
    rows = [(r.var, r.expr) for r in report.primal]
    assert rows == [
        ("v-1", "x1"),
        ("v0", "x2"),
        ("v1", "log(v-1)"),
        ("v2", "v-1 * v0"),
        ("v3", "sin(v0)"),
        ("v4", "v1 + v2"),
        ("v5", "v4 - v3"),
        ("y", "v5"),
    ]
    expected = [
        x1,
        x2,
        math.log(x1),
        x1 * x2,
        math.sin(x2),
        math.log(x1) + x1 * x2,
        seed_baydin(x1, x2)[0],
        seed_baydin(x1, x2)[0],
    ]
    assert [r.value for r in report.primal] == pytest.approx(expected, rel=1e-15)
    # the seed's rounded figures: 0.693, 10, -0.959, 10.693, 11.652
    assert [round(r.value, 3) for r in report.primal[2:7]] == [0.693, 10, -0.959, 10.693, 11.652]


def test_baydin_adjoint_table_matches_the_seed() -> None:
    report = _baydin_report()
    rows = [(r.var, r.expr) for r in report.adjoint]
    assert rows == [
        ("v5bar", "ybar"),
        ("v4bar", "v5bar * 1"),
        ("v3bar", "v5bar * (-1)"),
        ("v1bar", "v4bar * 1"),
        ("v2bar", "v4bar * 1"),
        ("v0bar", "v3bar * cos(v0)"),
        ("v-1bar", "v2bar * v0"),
        ("v0bar", "v0bar + v2bar * v-1"),
        ("v-1bar", "v-1bar + v1bar / v-1"),
        ("x1bar", "v-1bar"),
        ("x2bar", "v0bar"),
    ]
    x1, x2 = 2.0, 5.0
    expected = [1, 1, -1, 1, 1, -math.cos(x2), x2, x1 - math.cos(x2), x2 + 1 / x1]
    expected += [x2 + 1 / x1, x1 - math.cos(x2)]
    assert [r.value for r in report.adjoint] == pytest.approx(expected, rel=1e-15)
    assert round(report.adjoint[-2].value, 3) == 5.5
    assert round(report.adjoint[-1].value, 3) == 1.716
    assert round(report.adjoint[5].value, 3) == -0.284


def test_baydin_generated_gradient_matches_hand_derivation() -> None:
    compiled = compile_file(SAMPLES / "baydin.py")
    for x1, x2 in [(2.0, 5.0), (0.3, -1.2), (7.5, 0.01)]:
        value, (g1, g2) = compiled.value_and_grad_f(x1, x2)
        v, d1, d2 = seed_baydin(x1, x2)
        assert value == pytest.approx(v, rel=1e-14)
        assert (g1, g2) == pytest.approx((d1, d2), rel=1e-14)


def test_adc_run_prints_the_seed_table_as_text() -> None:
    proc = run_adc("run", str(SAMPLES / "baydin.py"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.index("Forward primal trace") < out.index("Reverse adjoint trace")
    for fragment in ["v1  = log(v-1) = 0.693", "v5  = v4 - v3  = 11.652", "= 5.5", "= 1.716"]:
        assert fragment in out
    assert "v0bar  = v0bar + v2bar * v-1  = 1.716" in out


def test_adc_run_json_layout_and_values() -> None:
    proc = run_adc("run", str(SAMPLES / "baydin.py"), "x1=2", "x2=5", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"function", "inputs", "value", "gradient", "primal", "adjoint"}
    assert data["inputs"] == {"x1": 2.0, "x2": 5.0}
    v, d1, d2 = seed_baydin(2.0, 5.0)
    assert data["value"] == pytest.approx(v, rel=1e-15)
    assert data["gradient"] == pytest.approx({"x1": d1, "x2": d2}, rel=1e-15)
    assert len(data["primal"]) == 8 and len(data["adjoint"]) == 11
    assert all(set(r) == {"var", "expr", "value"} for r in data["primal"] + data["adjoint"])


def test_adc_run_markdown_is_a_table() -> None:
    proc = run_adc("run", str(SAMPLES / "baydin.py"), "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "| `v0bar` | `v0bar + v2bar * v-1` | 1.716 |" in lines
    assert sum(1 for line in lines if line.startswith("|---")) == 2


def test_adc_run_other_point_and_z_notation() -> None:
    proc = run_adc("run", str(SAMPLES / "slide.py"), "w1=1.5", "w2=0.5", "--notation", "z")
    assert proc.returncode == 0, proc.stderr
    assert "z6bar  = 1" in proc.stdout and "df/dw1 = w1bar" in proc.stdout


def test_adc_run_needs_values_without_defaults() -> None:
    proc = run_adc("run", str(SAMPLES / "slide.py"), "w1=1.5")
    assert proc.returncode == 1
    assert "no value for `w2`" in proc.stderr and "Traceback" not in proc.stderr


def test_adc_run_outside_the_domain_is_a_located_error(write) -> None:
    path = write("from math import log\n\n\ndef f(x):\n    y = x * 2\n    return log(y)\n")
    proc = run_adc("run", str(path), "x=-1")
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{path}:6:")
    assert "math domain error" in proc.stderr and "Traceback" not in proc.stderr
