"""Outside the domain: the gradient fails where the function fails.

For every function of the table that can fail at a finite argument, and for divisions and
powers, hypothesis draws points (most of them where the function fails) and checks, against
the source run by Python:

- math code: f, grad_f and value_and_grad_f raise exactly what the source raises (type and
  message) wherever it raises, and return numbers elsewhere;
- numpy code: where the source gives nan or inf (with numpy's warning), value_and_grad_f and
  grad_f give the same warning and no finite gradient entry; elsewhere a finite gradient.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ad_compiler
from ad_compiler.core.primitives import TABLE, Unary

FAILING = sorted(p.name for p in TABLE if isinstance(p, Unary) and p.fails is not None)
# Spellings per library (numpy's square has no math spelling).
MATH = {p.name: p.math_name for p in TABLE if isinstance(p, Unary) and p.math_name}
NUMPY = {p.name: p.numpy_name for p in TABLE if isinstance(p, Unary)}

# Points near every edge of these functions: their poles, domain bounds and overflow limits.
EDGES = (0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 709.0, 709.8, 710.5, 711.0, -711.0, 1e154, 1e155, 1e300)
POINTS = st.one_of(
    st.sampled_from(EDGES),
    st.floats(-3.0, 3.0),
    st.floats(-1e3, 1e3),
    st.floats(allow_nan=False, allow_infinity=False),
).filter(lambda v: v == 0 or abs(v) > 1e-300)  # below, 1/u overflows where u itself is fine

SETTINGS = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def _raised(fn, *args) -> tuple[type, str] | None:
    try:
        fn(*args)
    except (ArithmeticError, ValueError) as exc:
        return type(exc), str(exc)
    return None


def _compiled(source: str) -> tuple[ad_compiler.Compiled, dict]:
    namespace: dict = {}
    exec(compile(source, "source.py", "exec"), namespace)
    return ad_compiler.compile_source(source, "source.py"), namespace


def test_every_function_that_can_fail_is_drawn() -> None:
    assert {"log", "sqrt", "asin", "acos", "atanh", "exp", "cosh", "log1p"} <= set(FAILING)


@pytest.mark.parametrize("name", sorted(set(FAILING) & set(MATH)))
def test_math_gradients_raise_what_the_source_raises(name: str) -> None:
    # h(x) + x: the gradient 1 + h'(x) does not read h's value for most h
    source = f"import math\n\n\ndef f(x):\n    return math.{MATH[name]}(x) + x\n"
    compiled, plain = _compiled(source)

    @SETTINGS
    @given(POINTS)
    def check(x: float) -> None:
        expected = _raised(plain["f"], x)
        for fn in (compiled.f, compiled.grad_f, compiled.value_and_grad_f):
            assert _raised(fn, x) == expected, (fn.__name__, x)

    check()


@pytest.mark.parametrize(
    "body",
    [
        "x / (x - 1.0)",  # a division by zero at 1
        "x ** -2 + x",
        "x ** 3 + x",  # a float power overflows
        "2.0 ** x + x",  # a constant's power overflows
        "(x - 1.0) ** 0.5 * 0 + x",  # only its value could fail: 0 * ... keeps the step
    ],
)
def test_math_divisions_and_powers_raise_what_the_source_raises(body: str) -> None:
    compiled, plain = _compiled(f"import math\n\n\ndef f(x):\n    return {body}\n")

    @SETTINGS
    @given(POINTS)
    def check(x: float) -> None:
        expected = _raised(plain["f"], x)
        if expected is None and isinstance(plain["f"](x), complex):
            return  # Python's float power of a negative base: complex, never raised
        for fn in (compiled.f, compiled.grad_f, compiled.value_and_grad_f):
            assert _raised(fn, x) == expected, (fn.__name__, x)

    check()


def _run(fn, *args):
    """fn's result and the warning messages it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args)
    return result, sorted({str(w.message) for w in caught})


def _finite(value) -> bool:
    return bool(np.all(np.isfinite(value)))


# Where a function is defined but its derivative is infinite (a vertical tangent).
SINGULAR = {"sqrt": {0.0}, "asin": {1.0, -1.0}, "acos": {1.0, -1.0}}


@pytest.mark.parametrize("name", FAILING)
@pytest.mark.parametrize("shape", ["float", "array"])
def test_numpy_gradients_are_not_finite_where_the_function_is_not(name: str, shape: str) -> None:
    source = f"import numpy as np\n\n\ndef f(x):\n    return np.sum(np.{NUMPY[name]}(x) + x)\n"
    compiled, plain = _compiled(source)

    @SETTINGS
    @given(st.lists(POINTS, min_size=1, max_size=4))
    def check(xs: list[float]) -> None:
        x = xs[0] if shape == "float" else np.array(xs)
        value, warned = _run(plain["f"], x)
        (mine, (grad,)), mine_warned = _run(compiled.value_and_grad_f, x)
        (only,), only_warned = _run(compiled.grad_f, x)
        assert set(warned) <= set(mine_warned) and set(warned) <= set(only_warned)
        if _finite(value):
            assert np.array_equal(grad, only, equal_nan=True)
            infinite = {float(v) for v, g in zip(np.ravel(x), np.ravel(grad)) if not np.isfinite(g)}
            assert infinite <= SINGULAR.get(name, set()), infinite
        else:
            assert not np.any(np.isfinite(grad)) and not np.any(np.isfinite(only))
            assert not _finite(mine)

    check()


def test_a_masked_undefined_branch_keeps_a_finite_gradient() -> None:
    """np.where(x > 0, np.log(x), 0) is finite everywhere: so is its gradient but at 0, where
    the function jumps from 0 to log's -inf and the partial 1/x meets the where's 0 (nan, as
    JAX gives); numpy still warns about the log it computes."""
    compiled, plain = _compiled(
        "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.where(x > 0, np.log(x), 0.0))\n"
    )
    x = np.array([-1.0, 2.0, 0.0])
    (grad,), warned = _run(compiled.grad_f, x)
    assert grad[:2].tolist() == [0.0, 0.5] and math.isnan(grad[2])
    assert set(_run(plain["f"], x)[1]) <= set(warned)


def test_numpy_partials_follow_numpy_arithmetic_at_python_floats() -> None:
    """np.log(0.0) is -inf with numpy's warning: the gradient does not raise Python's
    ZeroDivisionError from 1 / 0.0, it is not finite."""
    compiled, _ = _compiled("import numpy as np\n\n\ndef f(x):\n    return np.log(x) + x\n")
    (value, (grad,)), warned = _run(compiled.value_and_grad_f, 0.0)
    assert value == -math.inf and not math.isfinite(grad)
    assert "divide by zero encountered in log" in warned
