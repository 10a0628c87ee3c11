"""Runtime helpers that generated array code calls: ordinary functions of the package, whose
source `emit` copies into each generated module that calls them (generated modules never import
adc), and which the reference evaluator calls directly.

`FRESH` names the helpers whose result is a new array (or an immutable number), never one they
were given; `SHAPE_ARGUMENTS` gives, for the helpers that read an argument only for its shape
(and whether it is a Python number), that argument's position.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np


def _unbroadcast(g, like):
    """Sum g back to the shape of like: the adjoint of numpy broadcasting. The result is g
    itself or a new array, never a view."""
    if type(g) is np.ndarray and type(like) is np.ndarray and g.shape == like.shape:
        return g
    if isinstance(like, (int, float)):
        if type(g) is float:
            return g
        return float(g.sum() if isinstance(g, np.ndarray) else np.sum(g))
    shape = np.shape(like)
    if np.shape(g) == shape:
        return g
    if type(g) is float:  # a number spread over like: numpy's dtype for the two (float32 kept)
        g = np.asarray(g, np.result_type(g, like))
    g = np.broadcast_to(g, np.broadcast_shapes(np.shape(g), shape))
    lead = np.ndim(g) - len(shape)
    if lead:
        g = np.sum(g, axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        return np.sum(g, axis=axes, keepdims=True)
    return g if lead else g.copy()


def _unsum(g, like, axis, keepdims):
    """The adjoint of np.sum(like, axis): g spread back over the summed axes."""
    if isinstance(like, (int, float)):
        return float(g)
    g = np.asarray(g, np.result_type(g, like))  # a number takes like's float dtype
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, np.shape(like))


def _unmean(g, like, axis, keepdims):
    """The adjoint of np.mean(like, axis): a new array (or number)."""
    shape = np.shape(like)
    if axis is None and not keepdims and shape:
        return np.full(shape, g / np.size(like), np.result_type(g, like))
    axes = range(len(shape)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    count = 1
    for a in axes:
        count *= shape[a]
    g = np.asarray(g, np.result_type(g, like))
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, shape) / count


def _zero(like):
    """A zero gradient shaped like `like` (a Python float for a Python number)."""
    if isinstance(like, (int, float)):
        return 0.0
    return np.zeros(np.shape(like), np.result_type(like, 1.0))


def _sigmoid_neg(m):
    """sigmoid(-m) = 1 / (1 + exp(m)); exp overflowing to inf gives the right 0, so no
    warning."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(m))


def _unindex(g, like, index):
    """The adjoint of like[index] for a constant basic index (no element repeats)."""
    out = np.zeros(np.shape(like), np.result_type(g, like, 1.0))
    out[index] = g
    return out


def _matmul_a(g, a, b):
    """The adjoint of a in a @ b (vectors, matrices and stacks; batch axes are summed back
    by _unbroadcast)."""
    if type(g) is float:
        g = np.asarray(g, np.result_type(g, a, b))
    if np.ndim(a) == 0 or np.ndim(b) == 0:  # np.dot with a number multiplies
        return g * b
    if np.ndim(b) == 1:
        return np.multiply.outer(g, b)
    if np.ndim(a) == 1:
        return b @ g
    return g @ np.swapaxes(b, -1, -2)


def _matmul_b(g, a, b):
    """The adjoint of b in a @ b (vectors, matrices and stacks; batch axes are summed back
    by _unbroadcast)."""
    if type(g) is float:
        g = np.asarray(g, np.result_type(g, a, b))
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return g * a
    if np.ndim(a) == 1:
        return g * a if np.ndim(b) == 1 else np.expand_dims(a, -1) * np.expand_dims(g, -2)
    if np.ndim(b) == 1:
        if np.ndim(a) == 2:
            return g @ a
        return (np.swapaxes(a, -1, -2) @ np.expand_dims(g, -1))[..., 0]
    return np.swapaxes(a, -1, -2) @ g



def _seed(value):
    """1.0, the seed dz_T/dz_T, once the function's value is one number: a gradient is of a
    scalar function."""
    if np.ndim(value) != 0:
        raise ValueError(
            f"the function returns an array of shape {np.shape(value)}, not one number: a "
            "gradient is of a scalar function; differentiate np.sum of it, or each entry"
        )
    return 1.0


def _defined(value, g):
    """g where the function's value is finite; where it is nan or infinite the function is
    undefined, and so is its gradient: g's finite entries become nan (an inf stays)."""
    if np.all(np.isfinite(value)):
        return g
    return np.where(np.isfinite(g), np.nan, g)[()]


#: Every helper, by name.
HELPERS: dict[str, Callable] = {
    fn.__name__: fn
    for fn in (
        _unbroadcast, _unsum, _unmean, _zero, _sigmoid_neg, _unindex, _matmul_a, _matmul_b,
        _seed,
        _defined,
    )
}  # fmt: skip

FRESH = frozenset(
    {"_unmean", "_unindex", "_zero", "_sigmoid_neg", "_matmul_a", "_matmul_b", "_seed"}
)

SHAPE_ARGUMENTS: dict[str, int] = {
    "_unbroadcast": 1,
    "_unsum": 1,
    "_unmean": 1,
    "_unindex": 1,
    "_zero": 0,
    "_seed": 0,
}


def helper_source(name: str) -> str:
    """The source text of helper `name`, as written into generated modules."""
    return inspect.getsource(HELPERS[name]).strip()
