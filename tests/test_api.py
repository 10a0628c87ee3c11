"""The Python API: compile_source, compile_file, grad and value_and_grad of live functions."""

from __future__ import annotations

import math
from math import cos

import numpy as np
import pytest

import ad_compiler
from ad_compiler import CompileError

from .conftest import SAMPLES

SCALE = 1.5


def _inner(a, b=2.0):
    return a * b - cos(a)


def live(x, y):
    return math.sin(_inner(x) * y) * SCALE + np.exp(x / y)


def _fd(fn, args, i, h=1e-5):
    def at(d):
        a = list(args)
        a[i] += d
        return fn(*a)

    return (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)


def test_compile_source_exposes_source_and_functions() -> None:
    c = ad_compiler.compile_source("def f(x, y):\n    return x * y + x\n", filename="mine.py")
    assert "def grad_f(x, y):" in c.source and c.filename == "mine.py"
    assert c.grad_f(3.0, 4.0) == (5.0, 3.0)
    assert c.value_and_grad_f(3.0, 4.0) == (15.0, (5.0, 3.0))
    assert list(c.traces) == ["f"]


def test_compile_file_matches_compile_source() -> None:
    path = SAMPLES / "slide.py"
    a = ad_compiler.compile_file(path)
    b = ad_compiler.compile_source(path.read_text(), filename=str(path))
    assert a.source == b.source


def test_compile_source_function_and_wrt() -> None:
    text = "def g(a):\n    return a * a\n\ndef f(x, y):\n    return g(x) * y\n"
    c = ad_compiler.compile_source(text, function="f", wrt=["y"])
    assert [p.name for p in c.programs] == ["f", "grad_f", "value_and_grad_f"]
    assert c.grad_f(3.0, 2.0) == (9.0,)
    with pytest.raises(CompileError) as err:
        ad_compiler.compile_source(text, function="nope")
    assert "no function `nope`" in str(err.value)


@pytest.mark.parametrize("point", [(0.3, 0.7), (-1.1, 2.5), (2.0, -0.4)])
def test_grad_of_a_live_function(point) -> None:
    g = ad_compiler.grad(live)
    got = g(*point)
    assert len(got) == 2
    for i in range(2):
        assert got[i] == pytest.approx(_fd(live, point, i), rel=1e-8)


def test_value_and_grad_of_a_live_function_with_wrt() -> None:
    vg = ad_compiler.value_and_grad(live, wrt=["y"])
    value, grads = vg(0.3, 0.7)
    assert value == pytest.approx(live(0.3, 0.7), rel=1e-14)
    assert len(grads) == 1 and grads[0] == pytest.approx(_fd(live, (0.3, 0.7), 1), rel=1e-8)


def test_grad_rejects_what_is_not_a_python_function() -> None:
    with pytest.raises(TypeError):
        ad_compiler.grad(math.sin)
