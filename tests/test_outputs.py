"""What a gradient is of: one number (issue 14, point 8), and the dtypes it comes in (point 7)."""

from __future__ import annotations

import numpy as np
import pytest

import ad_compiler

SOURCE = """\
import numpy as np


def elementwise(x, y):
    return x * y + 1


def reshaped(x):
    return np.reshape(x, (2, 3))


def product(A, w):
    return A @ w


def dot(x, w):
    return np.dot(x, w)


def total(x, y):
    return np.sum(x * y + 1)
"""


@pytest.fixture(scope="module")
def compiled() -> ad_compiler.Compiled:
    return ad_compiler.compile_source(SOURCE, "outputs.py")


@pytest.mark.parametrize(
    ("function", "args"),
    [
        ("elementwise", (np.ones((3, 4)), 2.0)),
        ("elementwise", (np.ones(3), np.ones(3))),
        ("reshaped", (np.arange(6.0),)),
        ("product", (np.ones((3, 4)), np.ones(4))),
    ],
)
def test_a_gradient_of_an_array_valued_function_is_refused(compiled, function, args) -> None:
    for made in ("grad_", "value_and_grad_"):
        with pytest.raises(ValueError, match=r"returns an array of shape \(\d.*not one number"):
            getattr(compiled, made + function)(*args)


def test_the_same_functions_differentiate_at_scalar_outputs(compiled) -> None:
    assert compiled.grad_elementwise(1.5, 2.0) == (2.0, 1.5)
    assert compiled.grad_dot(2.0, 3.0) == (3.0, 2.0)  # np.dot of two numbers multiplies
    gx, gw = compiled.grad_dot(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert gx.tolist() == [3.0, 4.0] and gw.tolist() == [1.0, 2.0]


def test_a_known_scalar_output_needs_no_check(compiled) -> None:
    """np.sum over all axes is one number whatever its input: the seed stays the literal."""
    grad = compiled.source.split("def grad_total")[1].split("\ndef ")[0]
    assert "_seed" not in grad
    assert "_seed" in compiled.source.split("def grad_elementwise")[1].split("\ndef ")[0]


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int64, np.float64),
        (bool, np.float64),
    ],
)
def test_the_gradient_dtype_rule(compiled, dtype, expected) -> None:
    """float32 parameters keep float32 gradients (as JAX and PyTorch), integer and boolean
    ones get float64, the others their own; a Python float gets a Python float."""
    x = np.arange(1, 5).astype(dtype)
    gx, gy = compiled.grad_total(x, 2.0)
    assert gx.dtype == expected and isinstance(gy, float)
    gx, gy = compiled.grad_total(x, np.full(4, 3, dtype))
    assert gx.dtype == expected and gy.dtype == expected
