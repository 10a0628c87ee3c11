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


def _unextreme(g, x, z, axis, keepdims):
    """The adjoint of np.max/np.min(x, axis): g shared equally among the elements of x equal
    to the extremum they reduce to (a tie of k elements gives each g / k)."""
    if isinstance(x, (int, float)):
        return float(g)
    g = np.asarray(g, np.result_type(g, x))
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
        z = np.expand_dims(z, axis)
    hit = x == z
    return hit * (g / np.sum(hit, axis=axis, keepdims=True, dtype=g.dtype))


def _unprod(g, x, axis, keepdims):
    """The adjoint of np.prod(x, axis): g times the product of the other factors, with no
    division, so it is exact where factors are zero."""
    if isinstance(x, (int, float)):
        return float(g)
    x = np.asarray(x, np.result_type(x, 1.0))
    g = np.asarray(g, np.result_type(g, x))
    n = x.ndim
    axes = range(n) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    axes = sorted(a % n for a in axes)
    kept = [a for a in range(n) if a not in axes]
    moved = np.transpose(x, kept + axes)
    flat = np.reshape(moved, moved.shape[: len(kept)] + (-1,))
    before = np.ones_like(flat)
    before[..., 1:] = np.cumprod(flat[..., :-1], axis=-1)
    after = np.ones_like(flat)
    after[..., :-1] = np.cumprod(flat[..., :0:-1], axis=-1)[..., ::-1]
    others = np.transpose(np.reshape(before * after, moved.shape), np.argsort(kept + axes))
    if not keepdims:
        g = np.expand_dims(g, tuple(axes))
    return g * others


def _unnorm(g, x, z, axis, keepdims):
    """The adjoint of np.linalg.norm(x, axis) (2-norm or Frobenius): g * x / z, 0 where the
    norm is 0."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
        z = np.expand_dims(z, axis)
    scaled = x * (g / np.where(z == 0, 1.0, z))
    return float(scaled) if isinstance(x, (int, float)) else scaled


def _over_hypot2(p, a, b):
    """p / (a * a + b * b), divided twice by hypot(a, b) so the square cannot underflow or
    overflow; 0 where a = b = 0."""
    r = np.hypot(a, b)
    r = np.where(r == 0, 1.0, r)
    return p / r / r


def _uneinsum(g, subscripts, k, *operands):
    """The adjoint of operand k of np.einsum(subscripts, *operands), explicit subscripts: g
    contracted with the other operands, spread over letters only operand k has, and placed on
    the diagonal where operand k repeats a letter."""
    g = np.asarray(g, np.result_type(g, *operands))
    inputs, output = subscripts.replace(" ", "").split("->")
    inputs = inputs.split(",")
    mine = inputs[k]
    sizes = {}
    for letters, x in zip(inputs, operands):
        sizes.update(zip(letters, np.shape(x)))
    unique = "".join(dict.fromkeys(mine))
    terms, args = [output], [g]
    for j, (letters, x) in enumerate(zip(inputs, operands)):
        if j != k:
            terms.append(letters)
            args.append(x)
    present = set("".join(terms))
    for letter in unique:
        if letter not in present:
            terms.append(letter)
            args.append(np.ones(sizes[letter], g.dtype))
    d = np.einsum(",".join(terms) + "->" + unique, *args)
    if isinstance(operands[k], (int, float)):
        return float(d)
    d = d.astype(np.result_type(operands[k], 1.0), copy=False)  # a number operand promotes
    if unique == mine:
        return d
    out = np.zeros(np.shape(operands[k]), d.dtype)
    np.einsum(mine + "->" + unique, out)[...] = d
    return out


def _untensordot(g, a, b, axes, k):
    """The adjoint of a (k = 0) or b (k = 1) in np.tensordot(a, b, axes)."""
    na, nb = np.ndim(a), np.ndim(b)
    if isinstance(axes, int):
        sum_a, sum_b = list(range(na - axes, na)), list(range(axes))
    else:
        sum_a, sum_b = ([v % n for v in s] for s, n in zip(axes, (na, nb)))
    free_a = [i for i in range(na) if i not in sum_a]
    free_b = [j for j in range(nb) if j not in sum_b]
    if k == 0:
        d = np.tensordot(g, b, axes=(list(range(len(free_a), np.ndim(g))), free_b))
        order = free_a + [sum_a[sum_b.index(j)] for j in sorted(sum_b)]
        like = a
    else:
        d = np.tensordot(a, g, axes=(free_a, list(range(len(free_a)))))
        order = [sum_b[sum_a.index(i)] for i in sorted(sum_a)] + free_b
        like = b
    d = np.transpose(d, np.argsort(order))
    return float(d) if isinstance(like, (int, float)) else d


def _unrepeat(g, x, repeats, axis):
    """The adjoint of np.repeat(x, repeats, axis), repeats an int: g summed over each
    element's copies."""
    shape = np.shape(x)
    if axis is None:
        d = np.reshape(np.sum(np.reshape(g, (-1, repeats)), axis=1), shape)
        return float(d) if isinstance(x, (int, float)) else d
    axis = axis % len(shape)
    g = np.reshape(g, shape[:axis] + (shape[axis], repeats) + shape[axis + 1 :])
    return np.sum(g, axis=axis + 1)


def _unjoin(g, how, axis, k, items):
    """The adjoint of item k of np.concatenate(items, axis), np.vstack(items) or
    np.hstack(items): its slice of g, in its own shape."""
    if how == "vstack":
        shapes = [np.shape(np.atleast_2d(x)) for x in items]
        axis = 0
    elif how == "hstack":
        shapes = [np.shape(np.atleast_1d(x)) for x in items]
        axis = 0 if len(shapes[0]) == 1 else 1
    elif axis is None:
        shapes = [(np.size(x),) for x in items]
        axis = 0
        g = np.ravel(g)
    else:
        shapes = [np.shape(x) for x in items]
    axis = axis % np.ndim(g)
    start = sum(shape[axis] for shape in shapes[:k])
    index = [slice(None)] * np.ndim(g)
    index[axis] = slice(start, start + shapes[k][axis])
    d = np.reshape(g[tuple(index)], np.shape(items[k]))
    if isinstance(items[k], (int, float)):
        return float(d)
    return d.astype(np.result_type(items[k], 1.0), copy=False)


def _as_grad(d, x):
    """d as the adjoint of x: a Python float for a number, else of x's float dtype (float32
    kept, integers float64), where an operation promoted x (np.float64(x), joining x with
    float64 items)."""
    if isinstance(x, (int, float)):
        return float(d)
    dtype = np.result_type(x, 1.0)
    return d if d.dtype == dtype else d.astype(dtype)


def _times_log(z, a):
    """z * log(a), 0 where a = 0 (nan where a < 0), in numpy's dtype for z and a (a Python
    float base keeps a float32 z float32)."""
    a = np.asarray(a, np.result_type(a, z))
    return (z * np.log(np.where(a == 0, 1, a)))[()]


def _unsolve(g, a, z):
    """solve(a^T, g) for z = np.linalg.solve(a, b): the adjoint of b, before it is summed
    back over broadcast axes."""
    at = np.swapaxes(a, -1, -2)
    if np.ndim(z) < np.ndim(a):  # b was a vector (or a stack of them)
        return np.linalg.solve(at, np.expand_dims(g, -1))[..., 0]
    return np.linalg.solve(at, g)


def _unsolve_a(t, a, z):
    """The adjoint of a in z = np.linalg.solve(a, b), from t = _unsolve(...): -t z^T."""
    if np.ndim(z) < np.ndim(a):
        return -np.expand_dims(t, -1) * np.expand_dims(z, -2)
    return -(t @ np.swapaxes(z, -1, -2))


def _uninv(g, z):
    """The adjoint of a in z = np.linalg.inv(a): -z^T g z^T."""
    zt = np.swapaxes(z, -1, -2)
    return -(zt @ g @ zt)


def _undet(g, a):
    """The adjoint of a in np.linalg.det(a): g times the transposed adjugate, from the SVD
    a = u s vt as det(u) det(vt) u diag(prod of the other singular values) vt, so it is
    right where a is singular too."""
    u, s, vt = np.linalg.svd(a)
    others = np.ones_like(s)
    others[..., 1:] = np.cumprod(s[..., :-1], axis=-1)
    tail = np.ones_like(s)
    tail[..., :-1] = np.cumprod(s[..., :0:-1], axis=-1)[..., ::-1]
    sign = np.linalg.det(u) * np.linalg.det(vt)
    scale = np.expand_dims(np.asarray(g, np.result_type(g, a)) * sign, (-1, -2))
    return scale * ((u * np.expand_dims(others * tail, -2)) @ vt)


def _unslogdet(g, a):
    """The adjoint of a in np.linalg.slogdet(a)[1], log |det a|: g * inv(a)^T."""
    g = np.asarray(g, np.result_type(g, a))
    return np.expand_dims(g, (-1, -2)) * np.swapaxes(np.linalg.inv(a), -1, -2)


#: Every helper, by name.
HELPERS: dict[str, Callable] = {
    fn.__name__: fn
    for fn in (
        _unbroadcast, _unsum, _unmean, _zero, _sigmoid_neg, _unindex, _matmul_a, _matmul_b,
        _seed, _defined, _unextreme, _unprod, _unnorm, _over_hypot2, _uneinsum, _untensordot,
        _unrepeat, _unjoin, _as_grad, _times_log, _unsolve, _unsolve_a, _uninv, _undet, _unslogdet,
    )
}  # fmt: skip

FRESH = frozenset({
    "_unmean", "_unindex", "_zero", "_sigmoid_neg", "_matmul_a", "_matmul_b", "_seed",
    "_unextreme", "_unprod", "_unnorm", "_over_hypot2", "_untensordot", "_unrepeat",
    "_unsolve", "_unsolve_a", "_uninv", "_undet", "_unslogdet", "_times_log",
})  # fmt: skip

SHAPE_ARGUMENTS: dict[str, int] = {
    "_unbroadcast": 1,
    "_unsum": 1,
    "_unmean": 1,
    "_unindex": 1,
    "_zero": 0,
    "_seed": 0,
    "_unrepeat": 1,
}


def helper_source(name: str) -> str:
    """The source text of helper `name`, as written into generated modules."""
    return inspect.getsource(HELPERS[name]).strip()
