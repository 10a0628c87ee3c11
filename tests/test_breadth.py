"""The breadth of the language, through the front end: every further spelling compiles, the
compiled f computes what Python computes running the source itself, and its gradient agrees
with central differences of that source (never adc's code) along random directions. Edge
cases of `**`, `%`, `//` and np.max are checked against values worked out by hand."""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import ad_compiler

from .test_safety import BREADTH, SCALAR_BREADTH


def _source_function(text: str, name: str = "f") -> Callable[..., Any]:
    """The function `name` of the source, run by Python itself."""
    module = types.ModuleType("source")
    exec(compile(text, "source.py", "exec"), module.__dict__)  # noqa: S102 - test sources
    return module.__dict__[name]


def _slope(f: Callable[..., Any], args: list[Any], i: int, v: Any, h: float = 1e-6) -> float:
    """d/dt f(args with args[i] + t v) at 0, by the 4th-order central difference."""

    def at(t: float) -> float:
        return float(f(*[a + t * v if j == i else a for j, a in enumerate(args)]))

    return (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)


def _agrees(text: str, args: list[Any], seed: int) -> None:
    compiled = ad_compiler.compile_source(text, "source.py")
    source = _source_function(text)
    value, grads = compiled.value_and_grad_f(*args)
    assert value == pytest.approx(source(*args), rel=1e-12, abs=1e-12)
    rng = np.random.default_rng(seed)
    for i, (a, g) in enumerate(zip(args, grads)):
        assert np.shape(g) == np.shape(a), (i, np.shape(g), np.shape(a))
        v = rng.normal(size=np.shape(a)) if np.ndim(a) else 1.0
        fd = _slope(source, args, i, v)
        assert float(np.sum(g * v)) == pytest.approx(fd, rel=1e-6, abs=1e-7), i


@pytest.mark.parametrize("point", [(1.3, 2.7), (0.7, 1.9), (2.1, 0.45)])
def test_math_functions_and_operators_agree_with_python(point: tuple[float, float]) -> None:
    _agrees(SCALAR_BREADTH, list(point), 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_functions_agree_with_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    args = [
        rng.normal(size=5),
        rng.normal(size=(3, 3)) + 4 * np.eye(3),
        rng.normal(size=(3, 2)),
        rng.uniform(0.6, 1.4, size=3) * rng.choice([1, 1.5], size=3),
        2.0,
    ]
    _agrees(BREADTH, args, seed)


def test_the_numba_backend_compiles_the_math_functions() -> None:
    pytest.importorskip("numba")
    python = ad_compiler.compile_source(SCALAR_BREADTH, "math_breadth.py")
    numba = ad_compiler.compile_source(SCALAR_BREADTH, "math_breadth.py", backend="numba")
    for point in ((1.3, 2.7), (0.7, 1.9)):
        value, grads = numba.value_and_grad_f(*point)
        assert value == pytest.approx(python.f(*point), rel=1e-14)
        assert grads == pytest.approx(python.grad_f(*point), rel=1e-13)


POWER = "def f(x, y):\n    return x ** y\n"


@pytest.mark.parametrize(
    ("x", "y", "value", "dx", "dy"),
    [
        (-2.0, 3.0, -8.0, 12.0, math.nan),  # a negative base: real only at integer y
        (0.0, 0.0, 1.0, 0.0, 0.0),  # 0 ** 0 = 1, as x ** 0 is everywhere
        (0.0, 2.0, 0.0, 0.0, 0.0),
        (0.0, 0.5, 0.0, math.inf, 0.0),  # the slope of sqrt at 0
        (3.0, 0.0, 1.0, 0.0, math.log(3.0)),
    ],
)
@pytest.mark.parametrize("header", ["", "import numpy as np\n\n\n"], ids=["math", "numpy"])
def test_power_of_two_variables_at_its_edges(
    header: str, x: float, y: float, value: float, dx: float, dy: float
) -> None:
    compiled = ad_compiler.compile_source(header + POWER, "power.py")
    with np.errstate(all="ignore"):
        got, (gx, gy) = compiled.value_and_grad_f(x, y)
    assert got == value == x**y
    for actual, expected in ((gx, dx), (gy, dy)):
        assert actual == pytest.approx(expected, rel=1e-15, nan_ok=True)


def test_remainder_and_floor_division_keep_pythons_signs() -> None:
    text = "def f(x, y):\n    z = x\n    z %= y\n    return z + 10 * (x // y)\n"
    compiled = ad_compiler.compile_source(text, "mod.py")
    for x, y in ((5.5, -2.0), (-5.5, 2.0), (-5.5, -2.0), (7.25, 0.5)):
        value, (gx, gy) = compiled.value_and_grad_f(x, y)
        assert value == x % y + 10 * (x // y)
        assert (gx, gy) == (1.0, -(x // y))  # x % y = x - y * (x // y), x // y flat


def test_constant_remainders_fold_as_python_computes_them() -> None:
    text = "def f(x):\n    return x * (7 % -3) + (7.5 // 2) + 2 ** (5 % 3)\n"
    compiled = ad_compiler.compile_source(text, "fold.py")
    assert len(compiled.traces["f"].steps) == 1
    assert compiled.f(2.0) == 2.0 * (7 % -3) + 7.5 // 2 + 2 ** (5 % 3)


def test_logarithm_to_a_base_is_maths_own() -> None:
    text = "import math\n\n\ndef f(x, b):\n    return math.log(x, b) + math.log(x, 2)\n"
    compiled = ad_compiler.compile_source(text, "logb.py")
    x, b = 5.0, 3.0
    value, (gx, gb) = compiled.value_and_grad_f(x, b)
    assert value == math.log(x, b) + math.log(x, 2)
    assert gx == pytest.approx(1 / (x * math.log(b)) + 1 / (x * math.log(2)), rel=1e-15)
    assert gb == pytest.approx(-math.log(x) / (b * math.log(b) ** 2), rel=1e-15)


@pytest.mark.parametrize(
    ("call", "x", "expected"),
    [
        ("np.max(x)", [1.0, 3.0, 3.0, 2.0], [0, 0.5, 0.5, 0]),
        ("x.max()", [2.0, 2.0, 2.0], [1 / 3, 1 / 3, 1 / 3]),
        ("np.amin(x)", [0.0, 1.0, 0.0], [0.5, 0, 0.5]),
        ("np.sum(np.max(x, axis=1))", [[1.0, 5.0, 5.0], [2.0, 2.0, 2.0]], None),
    ],
)
def test_ties_of_a_maximum_share_its_gradient_equally(call: str, x: list, expected: Any) -> None:
    text = f"import numpy as np\n\n\ndef f(x):\n    return {call}\n"
    (g,) = ad_compiler.compile_source(text, "ties.py").grad_f(np.array(x))
    if expected is None:
        expected = [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]
    np.testing.assert_allclose(g, expected, rtol=1e-15)


def test_integers_from_shapes_take_part_in_arithmetic_and_are_not_differentiated() -> None:
    text = (
        "import numpy as np\n\n\n"
        "def f(x, A):\n"
        "    n = len(x) + x.shape[0] + np.shape(A)[-1] + A.size + A.ndim + x.ndim\n"
        "    return np.sum(x) / len(x) + np.sum(A) / A.shape[0] + n + x[0] * A.ndim\n"
    )
    compiled = ad_compiler.compile_source(text, "shapes.py")
    x, A = np.arange(4.0), np.ones((2, 3))
    value, (gx, gA) = compiled.value_and_grad_f(x, A)
    assert value == pytest.approx(_source_function(text)(x, A), rel=1e-15)
    np.testing.assert_array_equal(gx, [0.25 + 2, 0.25, 0.25, 0.25])
    np.testing.assert_array_equal(gA, np.full((2, 3), 0.5))


def test_arange_of_constants_and_of_a_length() -> None:
    text = (
        "import numpy as np\n\n\n"
        "def f(x, s):\n"
        "    return np.sum(np.arange(3) * x) + np.sum(np.arange(len(x)) * x)"
        " + np.sum(np.arange(s, 4.0))\n"
    )
    compiled = ad_compiler.compile_source(text, "arange.py")
    x = np.array([1.0, 2.0, 3.0])
    value, (gx, gs) = compiled.value_and_grad_f(x, 0.5)
    assert value == pytest.approx(_source_function(text)(x, 0.5), rel=1e-15)
    np.testing.assert_array_equal(gx, [0.0, 2.0, 4.0])
    assert gs == 4.0  # arange(0.5, 4.0) has 4 values, each s + k


def test_lists_of_values_and_in_place_operators() -> None:
    text = (
        "import numpy as np\n\n\n"
        "def f(a, b, M):\n"
        "    v = np.array([a, b, a * b])\n"
        "    N = 1.0 * M\n"  # Python's `@=` on an array writes into it: not into the argument
        "    N @= M\n"
        "    N %= 5.0\n"
        "    return np.sum(np.concatenate([v, np.ravel(N)], axis=0)) + np.hstack([a, v]).sum()\n"
    )
    M = np.array([[0.5, 0.25], [0.75, 1.0]])
    _agrees(text, [1.5, -0.5, M], 3)


def test_nested_lists_are_arrays() -> None:
    text = (
        "import numpy as np\n\n\n"
        "def f(t, v):\n"
        "    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])\n"
        "    return np.sum((R @ v) * np.stack([[1.0, 2.0], v]))\n"
    )
    _agrees(text, [0.3, np.array([1.5, -0.5])], 6)


def test_functions_imported_by_name() -> None:
    scalar = "from math import atan2, hypot, pow\n\n\ndef f(x, y):\n"
    scalar += "    return atan2(y, x) * hypot(x, y) + pow(x, y)\n"
    _agrees(scalar, [0.8, 1.7], 4)
    arrays = "from numpy import arctan2, einsum, sum\n\n\ndef f(x, y):\n"
    arrays += "    return sum(arctan2(y, x)) + einsum('i,i->', x, y)\n"
    _agrees(arrays, [np.array([0.8, 1.1]), np.array([1.7, -0.3])], 5)
