"""THE parametrised test over the table of primitives, `ad_compiler.core.primitives.TABLE`.

Each primitive has one row here (`ROWS`, and `ARRAY_CASES` for array mode). For every op, tiny
one-step traces are built by hand (ir.Step / ir.Trace) for several choices of params, and the
primitive is held against an independent reference written here with `math`:

(a) `rule.primal(step)`, evaluated with `evaluate.evaluate`, equals the reference value;
(b) the local partials that `rule.contributions` produces (adjoint = 1, temporaries defined
    first, in order) equal 4th-order central finite differences of the reference along each
    input, to rtol 1e-7;
(c) along a random direction the directional derivative from the partials equals the
    finite-difference directional derivative, and the first-order Taylor remainder shrinks
    like h^2 (a second-order check);
(d) at its kinks, the partials are the one-sided or chosen ones the entry promises (abs: 0 at 0).

An entry may leave out the edge of an operand whose partial is 0 everywhere (copysign's sign
operand), and a primitive that is not differentiated (floor, `//`, len) has no edges at all:
its contribution then counts as 0, and (b) checks that the reference's derivative is 0 there.

The reference functions take the namespace `m` they compute with: `math` for the values in
(a), and `mpmath` (at 40 digits) for the finite differences, so that the differences carry no
floating-point noise and the comparison measures the rule, not the step size.

The array primitives (and array-mode broadcasting of affine, product and numpy's unary
functions) are `ArrayCase`s of the same table `CASES`: a one-step trace (where: a compare step
and the where step) with `arrays=True`, inputs of given shapes (None: a Python float), run as
the compiler runs it: `reverse.primal_body` and `reverse.adjoint_body` (so broadcast edges are
summed back by `_unbroadcast` and Select guards removed, as in generated code), executed with
`evaluate.execute` on random inputs and a random adjoint G of the output's shape. Then

(a) the output equals a reference written here with numpy (einsum, explicit formulas and
    Python's own indexing; never the rule's expressions), value and shape;
(b) for each input x_i and a random direction v_i of its shape, <gradient_i, v_i> equals the
    4th-order central difference of t -> <G, reference(x_i + t v_i)> in float64, to rtol 1e-6;
    inputs are sampled away from kinks, except exact ties of maximum/minimum, where central
    differences give the half-and-half subgradient the rule promises;
(c) each gradient has exactly its input's shape and dtype float64, and a Python float input
    gets a float gradient (not a 0-d array).

`ARRAY_KINKS` holds, per op, inputs where the entry promises a chosen gradient (ties of
np.max shared equally, 0 at a zero norm, the adjugate at a singular matrix), each with the
gradient worked out by hand, which the compiler's adjoint program must give exactly.
"""

from __future__ import annotations

import itertools
import math
import operator
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import pytest

from ad_compiler.backend import reverse
from ad_compiler.core import evaluate, ir
from ad_compiler.core import expr as ex
from ad_compiler.core.primitives import PRIMITIVES as RULES

# ---------------------------------------------------------------------------------------------
# THE rows: one per primitive, holding its independent reference f(m, params, xs) (m the math
# namespace to compute in), the params to try, where to draw points, and its kinks
# ---------------------------------------------------------------------------------------------

Reference = Callable[[Any, tuple, Sequence[Any]], Any]
# (params, number of inputs, generator) -> a point inside the domain
Sampler = Callable[[tuple, int, random.Random], list[float]]
# A point with a known one-sided or chosen partial: (params, inputs, the partial per input).
Kink = tuple[tuple, tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True)
class Row:
    """One primitive's scalar test: reference, param choices, a sampler and its kinks."""

    reference: Reference
    params: list[tuple]
    sample: Sampler
    kinks: tuple[Kink, ...] = ()


def _uniform(low: float, high: float) -> Sampler:
    return lambda params, n, rng: [rng.uniform(low, high) for _ in range(n)]


def _apart(low: float, high: float, gap: float = 0.1) -> Sampler:
    """Inputs at least `gap` apart from each other and from the constant operands."""

    def sample(params: tuple, n: int, rng: random.Random) -> list[float]:
        while True:
            xs = [rng.uniform(low, high) for _ in range(n)]
            values = _interleave(params[-1], xs)
            if all(abs(a - b) > gap for a, b in itertools.combinations(values, 2)):
                return xs

    return sample


_UNARY_PARAMS = [
    (1, 0, "math"),
    (1, 0, "numpy"),
    (2.5, -0.3, "math"),
    (-0.7, 0.4, "numpy"),
    (-1, 0, "math"),
    (0.5, 1.25, "math"),
]


def unary(
    h: Callable[[Any, Any], Any],
    low: float,
    high: float,
    libs: tuple[str, ...] = ("math", "numpy"),
    signs: bool = False,
    kinks: tuple[tuple[float, float], ...] = (),
) -> Row:
    """The row of h(scale * x + offset): u = scale * x + offset drawn from [low, high] (either
    sign with `signs`), each kink (u, dh/du there) checked where u is exactly representable."""
    params = [p for p in _UNARY_PARAMS if p[2] in libs]
    params += [(1, 0, "builtins"), (-2, 0.5, "builtins")] if "builtins" in libs else []

    def sample(params: tuple, n: int, rng: random.Random) -> list[float]:
        u = rng.uniform(low, high)
        if signs and rng.random() < 0.5:
            u = -u
        scale, offset = params[0], params[1]
        return [(u - offset) / scale]

    points = []
    for scale, offset, lib in params:
        for u, du in kinks:
            x = (u - offset) / scale
            if scale * x + offset == u:  # the kink is exactly representable here
                points.append(((scale, offset, lib), (x,), (scale * du,)))
    return Row(
        lambda m, params, xs: h(m, params[0] * xs[0] + params[1]), params, sample, tuple(points)
    )


def _affine(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    out = params[0]
    for c, x in zip(params[1:], xs):
        out = out + c * x
    return out


def _product(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    out = 1
    for p, x in zip(params, xs):
        out = out * x**p
    return out


def _product_sample(params: tuple, n: int, rng: random.Random) -> list[float]:
    fractional = any(not float(p).is_integer() for p in params)
    out = []
    for _ in params:
        x = rng.uniform(0.3, 1.8)
        out.append(x if fractional or rng.random() < 0.5 else -x)
    return out


def _cpow(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    scale, offset, _lib, base = params
    return m.exp((scale * xs[0] + offset) * m.log(base))


ROWS: dict[str, Row] = {
    "affine": Row(
        _affine,
        [
            (0.0,),  # no terms: a constant
            (-2.5,),
            (0, 1),  # one term
            (1.5, -3.0),
            (0, 0.25),
            (0, 1, 1),  # two terms
            (0, 1, -1),
            (-1.5, 0.5, -0.25),
            (2, 1 / 3, -2.0),
            (3, 2, -1, 0.1),  # three terms
        ],
        _uniform(-3, 3),
    ),
    "product": Row(
        _product,
        [
            (2,),  # one factor
            (-2,),
            (0.5,),
            (-1,),
            (1, 1),  # two factors
            (1, -1),
            (2, -0.5),
            (1, 1, 1),  # three factors
            (-2, 3, 0.5),
            (-1, -2, -1),
            (1, 1, 1, 1),  # the last direct product
            (1, -1, 2, 1),
            (1, 1, 1, 1, 1),  # the first prefix-product one
            (2, -1, 1, 0.5, -0.5),
            (1, 1, 1, 1, 1, 1),  # six factors
            (1, -1, 2, 0.5, -0.5, 3),
            (-1, -1, -2, -1, -0.5, -3),
            (3, 1, 1, 1, 1, 1, 1, 1),
        ],
        _product_sample,
    ),
    "cpow": Row(
        _cpow,
        [
            (1, 0, "math", 2.0),
            (-0.5, 1.5, "math", 10.0),
            (2, 0.3, "math", 0.5),
            (1.5, -1, "math", math.e),
            (1, 0, "numpy", 3.0),
        ],
        lambda params, n, rng: [(rng.uniform(-2.0, 2.0) - params[1]) / params[0]],
    ),
    "sin": unary(lambda m, u: m.sin(u), -3.0, 3.0),
    "cos": unary(lambda m, u: m.cos(u), -3.0, 3.0),
    "tan": unary(lambda m, u: m.tan(u), -1.3, 1.3),
    "exp": unary(lambda m, u: m.exp(u), -3.0, 3.0),
    "log": unary(lambda m, u: m.log(u), 0.2, 5.0),
    "sqrt": unary(lambda m, u: m.sqrt(u), 0.2, 5.0),
    "tanh": unary(lambda m, u: m.tanh(u), -2.0, 2.0),
    "sinh": unary(lambda m, u: m.sinh(u), -2.5, 2.5),
    "cosh": unary(lambda m, u: m.cosh(u), -2.5, 2.5),
    "asin": unary(lambda m, u: m.asin(u), -0.9, 0.9),
    "acos": unary(lambda m, u: m.acos(u), -0.9, 0.9),
    "atan": unary(lambda m, u: m.atan(u), -3.0, 3.0),
    "log1p": unary(lambda m, u: m.log1p(u), -0.6, 4.0),
    "abs": unary(
        lambda m, u: m.fabs(u),
        0.1,
        3.0,
        ("math", "numpy", "builtins"),
        signs=True,
        kinks=((0.0, 0.0),),  # the subgradient 0 at the kink
    ),
    "atanh": unary(lambda m, u: m.atanh(u), -0.9, 0.9),
    "log2": unary(lambda m, u: m.log(u) / m.log(2), 0.2, 5.0),
    "log10": unary(lambda m, u: m.log(u) / m.log(10), 0.2, 5.0),
    "expm1": unary(lambda m, u: m.expm1(u), -3.0, 3.0),
    "square": unary(lambda m, u: u * u, -3.0, 3.0, ("numpy",)),
    "max": Row(
        lambda m, params, xs: max(_interleave(params[0], xs)),
        [((None, None),), ((None, 0.5),), ((-1.0, None),), ((None, None, None),)],
        _apart(-3.0, 3.0),
        # ties: the first of equal arguments is the one max returns
        (
            (((None, None),), (1.0, 1.0), (1, 0)),
            (((None, None, None),), (2.0, 2.0, 2.0), (1, 0, 0)),
            (((None, None, None),), (-1.0, 2.0, 2.0), (0, 1, 0)),
            (((None, 0.0),), (0.0,), (1,)),
            (((0.0, None),), (0.0,), (0,)),
        ),
    ),
    "min": Row(
        lambda m, params, xs: min(_interleave(params[0], xs)),
        [((None, None),), ((None, 0.5),), ((-1.0, None),), ((None, None, None),)],
        _apart(-3.0, 3.0),
        (
            (((None, None),), (1.0, 1.0), (1, 0)),
            (((None, None, None),), (3.0, -1.0, -1.0), (0, 1, 0)),
            (((None, 0.0),), (0.0,), (1,)),
            (((0.0, None),), (0.0,), (0,)),
        ),
    ),
}


# -- functions of two arguments: params (lib, maths, consts) ----------------------------------


def _pair(f: Callable[[Any, Any, Any], Any]) -> Reference:
    """The reference of f(m, a, b), the operands interleaved with the step's constants."""
    return lambda m, params, xs: f(m, *_interleave(params[-1], xs))


def _operand_sample(*draw: Callable[[random.Random], float]) -> Sampler:
    """Each variable operand drawn by the function for its position, until `keep` holds."""

    def sample(params: tuple, n: int, rng: random.Random) -> list[float]:
        return [draw[k](rng) for k, c in enumerate(params[-1]) if c is None]

    return sample


def _magnitude(low: float, high: float) -> Callable[[random.Random], float]:
    """A number of either sign with its magnitude in [low, high]."""
    return lambda rng: rng.uniform(low, high) * rng.choice((-1, 1))


def _off_multiples(params: tuple, n: int, rng: random.Random) -> list[float]:
    """a in [-3, 3] and b of magnitude in [0.4, 2], a / b at least 0.05 off an integer (where
    a % b and a // b jump)."""
    while True:
        drawn = iter([rng.uniform(-3.0, 3.0), _magnitude(0.4, 2.0)(rng)])
        a, b = (next(drawn) if c is None else c for c in params[-1])
        if abs(a / b - round(a / b)) > 0.05:
            return [x for x, c in zip((a, b), params[-1]) if c is None]


def _libs(*consts: tuple, libs: tuple[str, ...] = ("math", "numpy")) -> list[tuple]:
    """Params (lib, maths, consts) for each library and each operand pattern."""
    return [(lib, lib, c) for c in consts for lib in libs]


_BOTH = (None, None)
_INF, _NAN = math.inf, math.nan


def _pow_kinks() -> tuple[Kink, ...]:
    """x ** y where it is not smooth or not real: 0 ** y, x ** 0, a negative base."""
    points = [
        ((0.0, 2.0), (0.0, 0.0)),
        ((0.0, 1.0), (1.0, 0.0)),
        ((0.0, 0.5), (_INF, 0.0)),  # the slope of sqrt at 0
        ((0.0, 0.0), (0.0, 0.0)),  # 0 ** 0 = 1, as x ** 0 is everywhere
        ((1.0, 0.0), (0.0, 0.0)),
        ((-2.0, 3.0), (12.0, _NAN)),  # (-2) ** y is not real for y near 3
        ((-2.0, 0.0), (0.0, _NAN)),
    ]
    libs = [("operator", "math"), ("builtins", "math"), ("math", "math"), ("numpy", "numpy")]
    out: list[Kink] = [((*lib, _BOTH), xs, d) for lib in libs for xs, d in points]
    out += [(("math", "math", (None, 0.5)), (0.0,), (_INF,))]
    out += [(("operator", "math", (None, 0.0)), (0.0,), (0.0,))]
    out += [(("numpy", "numpy", (0.0, None)), (2.0,), (0.0,))]
    return tuple(out)


_ROUNDING = {"signs": True}

ROWS.update(
    {
        "pow": Row(
            _pair(lambda m, a, b: m.exp(b * m.log(a))),
            [
                ("operator", "math", _BOTH),
                ("builtins", "math", _BOTH),
                ("math", "math", _BOTH),
                ("numpy", "numpy", _BOTH),
                ("operator", "numpy", _BOTH),  # `**` in a file that imports numpy
                ("math", "math", (None, 2.5)),
                ("operator", "math", (None, 0.5)),
                ("numpy", "numpy", (None, -1.5)),
                ("math", "math", (2.0, None)),
                ("numpy", "numpy", (0.5, None)),
            ],
            _operand_sample(lambda rng: rng.uniform(0.3, 2.5), lambda rng: rng.uniform(-2, 2.5)),
            _pow_kinks(),
        ),
        "atan2": Row(
            _pair(lambda m, a, b: m.atan2(a, b)),
            _libs(_BOTH, (None, -1.5), (0.7, None)),
            # a off 0: atan2 jumps by 2 pi across a = 0 where b < 0
            _operand_sample(_magnitude(0.2, 2.0), lambda rng: rng.uniform(-2.0, 2.0)),
            tuple(
                ((lib, lib, _BOTH), xs, d)
                for lib in ("math", "numpy")
                for xs, d in (((0.0, 0.0), (0.0, 0.0)), ((0.0, 2.0), (0.5, 0.0)))
            ),
        ),
        "hypot": Row(
            _pair(lambda m, a, b: m.sqrt(a * a + b * b)),
            _libs(_BOTH, (None, -1.5), (0.7, None)),
            _operand_sample(_magnitude(0.2, 2.0), _magnitude(0.2, 2.0)),
            tuple(((lib, lib, _BOTH), (0.0, 0.0), (0.0, 0.0)) for lib in ("math", "numpy")),
        ),
        "copysign": Row(
            _pair(lambda m, a, b: m.fabs(a) * (1 * (b > 0) - 1 * (b < 0))),
            _libs(_BOTH, (None, -1.0), (2.0, None)),
            _operand_sample(_magnitude(0.2, 2.0), _magnitude(0.2, 2.0)),
            tuple(
                ((lib, lib, _BOTH), xs, d)
                for lib in ("math", "numpy")
                for xs, d in (
                    ((0.0, 1.0), (0.0, 0.0)),  # |a| has the subgradient 0 at 0
                    ((0.0, -1.0), (0.0, 0.0)),
                    ((-3.0, -1.0), (1.0, 0.0)),
                )
            ),
        ),
        "mod": Row(
            _pair(lambda m, a, b: a - b * m.floor(a / b)),
            [
                ("operator", "math", _BOTH),
                ("numpy", "numpy", _BOTH),
                ("operator", "numpy", _BOTH),
                ("operator", "math", (None, 0.7)),
                ("operator", "math", (2.5, None)),
                ("numpy", "numpy", (None, -1.5)),
            ],
            _off_multiples,
            # at a multiple of b, the partial by b of the piece to the right: -(a // b)
            ((("operator", "math", _BOTH), (1.0, 0.5), (1.0, -2.0)),),
        ),
        "floordiv": Row(
            _pair(lambda m, a, b: m.floor(a / b)),
            [
                ("operator", "math", _BOTH),
                ("numpy", "numpy", _BOTH),
                ("operator", "math", (None, 0.7)),
                ("operator", "numpy", (2.5, None)),
            ],
            _off_multiples,
            ((("operator", "math", _BOTH), (1.0, 0.5), (0.0, 0.0)),),
        ),
        "divide": Row(
            _pair(lambda m, a, b: a / b),
            _libs(_BOTH, (1.0, None), (None, -2.0), libs=("numpy",)),
            _operand_sample(lambda rng: rng.uniform(-2.0, 2.0), _magnitude(0.3, 2.0)),
        ),
        "logbase": Row(
            lambda m, params, xs: (lambda x, b: m.log(x) / m.log(b))(
                *_interleave(params[0], xs)
            ),
            [(_BOTH,), ((None, 2.0),), ((None, 0.5),), ((10.0, None),)],
            lambda params, n, rng: [
                rng.uniform(0.3, 5.0) if k == 0 else rng.uniform(1.5, 4.0)
                for k, c in enumerate(params[0])
                if c is None
            ],
        ),
        "exp2": unary(lambda m, u: m.exp(u * m.log(2)), -3.0, 3.0),
        "erf": unary(lambda m, u: m.erf(u), -2.0, 2.0, ("math",)),
        "erfc": unary(lambda m, u: m.erfc(u), -2.0, 2.0, ("math",)),
        # piecewise constant: sampled between their jumps, 0 at them
        "floor": unary(lambda m, u: m.floor(u), 0.1, 0.9, signs=True, kinks=((1.0, 0.0),)),
        "ceil": unary(lambda m, u: m.ceil(u), 0.1, 0.9, signs=True, kinks=((1.0, 0.0),)),
        "trunc": unary(
            lambda m, u: m.floor(u) * (u > 0) + m.ceil(u) * (u < 0), 0.1, 0.9, signs=True
        ),
        "round": unary(
            lambda m, u: m.floor(u + 0.5),
            0.6,
            1.4,
            ("numpy", "builtins"),
            signs=True,
            kinks=((0.5, 0.0),),
        ),
        "sign": unary(
            lambda m, u: 1 * (u > 0) - 1 * (u < 0),
            0.1,
            3.0,
            ("numpy",),
            signs=True,
            kinks=((0.0, 0.0),),
        ),
    }
)

REFERENCE: dict[str, Reference] = {op: row.reference for op, row in ROWS.items()}
CASES: dict[str, list[Any]] = {op: list(row.params) for op, row in ROWS.items()}

POINTS = 4
RTOL = 1e-7
ATOL = 1e-12


def _arity(params: tuple, op: str) -> int:
    """The number of inputs of a step of `op` with `params`."""
    if op == "affine":
        return len(params) - 1
    if op == "product":
        return len(params)
    if RULES[op].takes_numbers():
        return sum(c is None for c in params[-1])
    return 1


# ---------------------------------------------------------------------------------------------
# Arrays: numpy references and the array cases of the same table
# ---------------------------------------------------------------------------------------------

FLOAT = None  # an input that is a Python float, not an array


@dataclass(frozen=True)
class ArrayCase:
    """An array-mode trace around one step of an op.

    params: the step's params; shapes: each input's shape (FLOAT for a Python float); args: the
    step's arguments as input positions, "c" for the condition (default: every input, in order);
    cond: for where, the compare step (its params, its arguments as input positions); ties:
    make some operands of maximum/minimum/compare exactly equal; low, high: where inputs are
    sampled (signs: also negated at random); ref: the params as the reference reads them (for
    index: the Python index object, written here by hand) when they differ from `params`;
    fix: changes the drawn inputs in place (a well-conditioned matrix, zeros of a product).
    """

    params: tuple
    shapes: tuple
    args: tuple | None = None
    cond: tuple | None = None
    ties: bool = False
    low: float = -2.0
    high: float = 2.0
    signs: bool = False
    ref: tuple | None = None
    fix: Callable[[list[Any]], None] | None = None

    @property
    def step_args(self) -> tuple:
        return tuple(range(len(self.shapes))) if self.args is None else self.args

    def __str__(self) -> str:
        shapes = ", ".join("float" if s is FLOAT else str(s) for s in self.shapes)
        extra = f" args {self.args}" if self.args is not None else ""
        extra += f" cond {self.cond}" if self.cond is not None else ""
        return f"{self.params} on ({shapes}){extra}{' with ties' if self.ties else ''}"


def A(params: tuple, *shapes: Any, **kw: Any) -> ArrayCase:
    """An array case, written short: A(params, *shapes, **options)."""
    return ArrayCase(params, shapes, **kw)


def _interleave(consts: tuple, xs: Sequence[Any]) -> list[Any]:
    """The operands: the variables in order, with the constants where `consts` has one."""
    it = iter(xs)
    return [next(it) if c is None else c for c in consts]


def _axes(axis: Any, ndim: int) -> list[int]:
    if axis is None:
        return list(range(ndim))
    return sorted({a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))})


def _np_sum(x: Any, axis: Any, keepdims: bool) -> Any:
    """Sum over `axis` by einsum."""
    x = np.asarray(x, dtype=float)
    axes = _axes(axis, x.ndim)
    out = np.einsum(x, list(range(x.ndim)), [k for k in range(x.ndim) if k not in axes])
    if keepdims:
        out = np.reshape(out, [1 if k in axes else n for k, n in enumerate(x.shape)])
    return out


def _np_mean(x: Any, axis: Any, keepdims: bool) -> Any:
    shape = np.shape(x)
    return _np_sum(x, axis, keepdims) / math.prod(shape[a] for a in _axes(axis, len(shape)))


def _np_matmul(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    a, b = (np.asarray(x, dtype=float) for x in xs)
    left, right = "ij"[2 - a.ndim :], "jk"[: b.ndim]
    out = ("i" if a.ndim == 2 else "") + ("k" if b.ndim == 2 else "")
    return np.einsum(f"{left},{right}->{out}", a, b)


def _np_transpose(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    x = np.asarray(xs[0], dtype=float)
    axes = params[0]
    order = list(range(x.ndim))[::-1] if axes is None else [a % x.ndim for a in axes]
    return np.einsum(x, list(range(x.ndim)), order)


def _np_reshape(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    flat = [float(v) for v in np.ravel(xs[0])]
    shape = params[0] if isinstance(params[0], tuple) else (params[0],)
    known = math.prod(n for n in shape if n != -1)
    resolved = tuple(len(flat) // known if n == -1 else n for n in shape)
    return np.array(flat).reshape(resolved)


def _np_clip(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    lo, hi = params
    x = np.asarray(xs[0], dtype=float)
    if lo is not None:
        x = np.where(x < lo, float(lo), x)
    if hi is not None:
        x = np.where(x > hi, float(hi), x)
    return x


def _np_where(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    cond, a, b = _interleave(params[0], xs)
    c = np.asarray(cond, dtype=float)
    return c * a + (1 - c) * b


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def _np_logaddexp(a: Any, b: Any) -> Any:
    """log(e^a + e^b) = max + log1p(e^-|a - b|), finite for any finite a and b."""
    gap = np.abs(np.subtract(a, b))
    return (a + b + gap) / 2 + np.log1p(np.exp(-gap))


def _np_pair(f: Callable[[Any, Any], Any]) -> Reference:
    return lambda m, params, xs: f(*_interleave(params[0], xs))


REFERENCE.update(
    {
        "sum": lambda m, params, xs: _np_sum(xs[0], *params),
        "mean": lambda m, params, xs: _np_mean(xs[0], *params),
        "matmul": _np_matmul,
        "dot": _np_matmul,
        "transpose": _np_transpose,
        "reshape": _np_reshape,
        "index": lambda m, params, xs: np.asarray(xs[0])[params[0]],
        "logaddexp": _np_pair(_np_logaddexp),
        "maximum": _np_pair(lambda a, b: (a + b + np.abs(np.subtract(a, b))) / 2),
        "minimum": _np_pair(lambda a, b: (a + b - np.abs(np.subtract(a, b))) / 2),
        "clip": _np_clip,
        "where": _np_where,
        "compare": lambda m, params, xs: _COMPARE[params[0]](*_interleave(params[1], xs)),
    }
)


# -- references of the further array primitives, written with loops and explicit formulas ----


def _moved(x: Any, axis: Any) -> tuple[Any, list[int]]:
    """x with its reduced axes moved last and flattened into one: (array, kept axes)."""
    x = np.asarray(x, dtype=float)
    axes = _axes(axis, x.ndim)
    kept = [k for k in range(x.ndim) if k not in axes]
    moved = np.transpose(x, kept + axes).reshape([x.shape[k] for k in kept] + [-1])
    return moved, axes


def _kept(out: Any, x: Any, axes: list[int], keepdims: bool) -> Any:
    if keepdims:
        return np.reshape(out, [1 if k in axes else n for k, n in enumerate(np.shape(x))])
    return out


def _np_extreme(better: Callable[[Any, Any], Any]) -> Reference:
    def reference(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
        axis, keepdims = params
        moved, axes = _moved(xs[0], axis)
        out = moved[..., 0]
        for j in range(1, moved.shape[-1]):
            out = np.where(better(moved[..., j], out), moved[..., j], out)
        return _kept(out, xs[0], axes, keepdims)

    return reference


def _np_prod(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    axis, keepdims = params
    moved, axes = _moved(xs[0], axis)
    out = np.ones(moved.shape[:-1])
    for j in range(moved.shape[-1]):
        out = out * moved[..., j]
    return _kept(out, xs[0], axes, keepdims)


def _np_norm(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    _, axis, keepdims = params
    x = np.asarray(xs[0], dtype=float)
    return np.sqrt(_np_sum(x * x, axis, keepdims))


def _loop_einsum(subscripts: str, *xs: Any) -> Any:
    """einsum by summing over every assignment of the letters."""
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    arrays = [np.asarray(x, dtype=float) for x in xs]
    sizes: dict[str, int] = {}
    for letters, x in zip(terms, arrays):
        sizes.update(zip(letters, x.shape))
    letters = sorted(sizes)
    out = np.zeros([sizes[c] for c in output])
    for values in itertools.product(*(range(sizes[c]) for c in letters)):
        at = dict(zip(letters, values))
        term = 1.0
        for s, x in zip(terms, arrays):
            term *= x[tuple(at[c] for c in s)]
        out[tuple(at[c] for c in output)] += term
    return out


def _np_tensordot(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    a, b = (np.asarray(x, dtype=float) for x in xs)
    axes = params[0]
    if isinstance(axes, int):
        pairs = list(zip(range(a.ndim - axes, a.ndim), range(axes)))
    else:
        pairs = [(i % a.ndim, j % b.ndim) for i, j in zip(*axes)]
    left = list("abcdefgh"[: a.ndim])
    right = list("pqrstuvw"[: b.ndim])
    for i, j in pairs:
        right[j] = left[i]
    free = [c for c in left if c not in right] + [c for c in right if c not in left]
    return _loop_einsum(f"{''.join(left)},{''.join(right)}->{''.join(free)}", a, b)


def _np_join(m: Any, params: tuple, xs: Sequence[Any], how: str) -> Any:
    """np.concatenate / np.vstack / np.hstack of the items, by writing each into its slot."""
    axis = params[0] if how == "concatenate" else 0
    items = [np.asarray(x, dtype=float) for x in _interleave(params[-1], xs)]
    if how == "concatenate" and axis is None:
        return np.array([float(v) for x in items for v in x.reshape(-1)])
    if how == "vstack":
        items = [x.reshape(1, -1) if x.ndim < 2 else x for x in items]
    if how == "hstack":
        items = [x.reshape(1) if x.ndim == 0 else x for x in items]
        axis = 0 if items[0].ndim == 1 else 1
    axis %= items[0].ndim
    shape = list(items[0].shape)
    shape[axis] = sum(x.shape[axis] for x in items)
    out = np.zeros(shape)
    start = 0
    for x in items:
        index = [slice(None)] * len(shape)
        index[axis] = slice(start, start + x.shape[axis])
        out[tuple(index)] = x
        start += x.shape[axis]
    return out


def _np_stack(m: Any, params: tuple, xs: Sequence[Any], axis: int | None = None) -> Any:
    axis = params[0] if axis is None else axis
    items = [np.asarray(x, dtype=float) for x in _interleave(params[-1], xs)]
    ndim = items[0].ndim + 1
    axis %= ndim
    out = np.zeros(items[0].shape[:axis] + (len(items),) + items[0].shape[axis:])
    for k, x in enumerate(items):
        out[(slice(None),) * axis + (k,)] = x
    return out


def _np_repeat(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    repeats, axis = params
    x = np.asarray(xs[0], dtype=float)
    if axis is None:
        return np.array([float(v) for v in x.reshape(-1) for _ in range(repeats)])
    n = x.shape[axis]
    return np.take(x, [i for i in range(n) for _ in range(repeats)], axis=axis)


def _np_roll(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    shift, axis = params
    x = np.asarray(xs[0], dtype=float)
    if axis is None:
        flat = x.reshape(-1)
        out = np.zeros_like(flat)
        for i, v in enumerate(flat):
            out[(i + shift) % flat.size] = v
        return out.reshape(x.shape)
    shifts = shift if isinstance(shift, tuple) else (shift,)
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        moved = list(index)
        for s, a in zip(shifts, axes):
            moved[a] = (moved[a] + s) % x.shape[a]
        out[tuple(moved)] = x[index]
    return out


def _det(a: Any) -> Any:
    """The determinant by Leibniz's formula, over the last two axes."""
    a = np.asarray(a, dtype=float)
    n = a.shape[-1]
    out = np.zeros(a.shape[:-2])
    for perm in itertools.permutations(range(n)):
        inversions = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
        term = np.ones(a.shape[:-2]) * (-1.0) ** inversions
        for i, j in enumerate(perm):
            term = term * a[..., i, j]
        out = out + term
    return out


def _cofactors(a: Any) -> Any:
    """The matrix of cofactors (the transposed adjugate), over the last two axes."""
    a = np.asarray(a, dtype=float)
    n = a.shape[-1]
    out = np.zeros(a.shape)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, axis=-2), j, axis=-1)
            out[..., i, j] = (-1.0) ** (i + j) * (_det(minor) if n > 1 else 1.0)
    return out


def _np_inv(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    a = xs[0]
    return np.swapaxes(_cofactors(a), -1, -2) / _det(a)[..., None, None]


def _np_solve(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    """Cramer's rule: x_i = det(a with column i replaced by b) / det(a)."""
    a, b = (np.asarray(x, dtype=float) for x in xs)
    vector = b.ndim == 1
    columns = b[:, None] if vector else b
    batch = np.broadcast_shapes(a.shape[:-2], columns.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    columns = np.broadcast_to(columns, batch + columns.shape[-2:])
    out = np.zeros(columns.shape)
    for i in range(a.shape[-1]):
        for k in range(columns.shape[-1]):
            replaced = np.array(a)
            replaced[..., :, i] = columns[..., :, k]
            out[..., i, k] = _det(replaced) / _det(a)
    return out[..., 0] if vector else out


def _np_slogdet(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    d = _det(xs[0])
    return np.log(np.abs(d)) if params[0] == 1 else np.sign(d)


def _np_arange(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    operands = _interleave(params[0], xs)
    start, stop, step = (0.0, operands[0], 1.0) if len(operands) == 1 else (*operands, 1.0)[:3]
    count = math.ceil((stop - start) / step)
    return np.array([start + k * step for k in range(count)])


def _np_at_least(m: Any, params: tuple, xs: Sequence[Any], ndim: int) -> Any:
    x = np.array(xs[0], dtype=float)
    return x.reshape((1,) * (ndim - x.ndim) + x.shape) if x.ndim < ndim else x


REFERENCE.update(
    {
        "amax": _np_extreme(operator.gt),
        "amin": _np_extreme(operator.lt),
        "prod": _np_prod,
        "norm": _np_norm,
        "einsum": lambda m, params, xs: _loop_einsum(params[0], *xs),
        "outer": lambda m, params, xs: _loop_einsum(
            "i,j->ij", *(np.asarray(x, dtype=float).reshape(-1) for x in xs)
        ),
        "tensordot": _np_tensordot,
        "concatenate": lambda m, params, xs: _np_join(m, params, xs, "concatenate"),
        "vstack": lambda m, params, xs: _np_join(m, params, xs, "vstack"),
        "hstack": lambda m, params, xs: _np_join(m, params, xs, "hstack"),
        "stack": _np_stack,
        "array": lambda m, params, xs: _np_stack(m, params, xs, axis=0),
        "asarray": lambda m, params, xs: np.array(xs[0], dtype=float),
        "float64": lambda m, params, xs: np.array(xs[0], dtype=float),
        "ravel": lambda m, params, xs: np.array(xs[0], dtype=float).reshape(-1),
        "atleast_1d": lambda m, params, xs: _np_at_least(m, params, xs, 1),
        "atleast_2d": lambda m, params, xs: _np_at_least(m, params, xs, 2),
        "repeat": _np_repeat,
        "roll": _np_roll,
        "solve": _np_solve,
        "inv": _np_inv,
        "det": lambda m, params, xs: _det(xs[0]),
        "slogdet": _np_slogdet,
        "len": lambda m, params, xs: np.shape(xs[0])[0],
        "size": lambda m, params, xs: math.prod(np.shape(xs[0])),
        "ndim": lambda m, params, xs: len(np.shape(xs[0])),
        "shape": lambda m, params, xs: np.shape(xs[0])[params[0]],
        "zeros_like": lambda m, params, xs: np.zeros(np.shape(xs[0])),
        "ones_like": lambda m, params, xs: np.ones(np.shape(xs[0])),
        "arange": _np_arange,
    }
)

_REDUCTION_CASES = [
    A((None, False), FLOAT),
    A((None, False), (5,)),
    A((0, False), (5,)),
    A((-1, True), (5,)),
    A((None, False), (3, 4)),
    A((None, True), (3, 4)),
    A((0, False), (3, 4)),
    A((1, False), (3, 4)),
    A((-1, False), (3, 4)),
    A((0, True), (3, 4)),
    A((-1, True), (3, 4)),
    A(((0, 1), False), (3, 4)),
    A((1, True), (3, 1)),
    A((-2, False), (2, 3, 4)),
    A(((0, 2), False), (2, 3, 4)),
    A(((-1, 0), True), (2, 3, 4)),
]

_MATMUL_CASES = [
    A((), (3, 4), (4, 2)),
    A((), (3, 4), (4,)),
    A((), (4,), (4, 2)),
    A((), (4,), (4,)),
    A((), (1, 4), (4, 1)),
    A((), (3, 3), args=(0, 0)),  # x @ x: both edges into one parent
    A((), (4,), args=(0, 0)),
]


def _s(start: int | None = None, stop: int | None = None, step: int | None = None) -> tuple:
    return ("s", start, stop, step)


def _index(canonical: tuple, python: Any, shape: tuple) -> ArrayCase:
    return A((canonical,), shape, ref=(python,))


_INDEX_CASES = [
    _index(("i", 2), 2, (5,)),
    _index(("i", -1), -1, (5,)),
    _index(_s(1, 5, 2), np.s_[1:5:2], (6,)),
    _index(_s(None, None, -1), np.s_[::-1], (6,)),
    _index(_s(-4, -1), np.s_[-4:-1], (6,)),
    _index(("n",), None, (4,)),
    _index(("e",), Ellipsis, (3, 4)),
    _index(("i", 1), 1, (3, 4)),
    _index(("t", (_s(), _s(1))), np.s_[:, 1:], (3, 4)),
    _index(("t", (("i", -1), ("i", 2))), np.s_[-1, 2], (3, 4)),
    _index(("t", (("e",), ("i", 0))), np.s_[..., 0], (3, 4)),
    _index(("t", (("n",), _s(), ("i", 1))), np.s_[None, :, 1], (3, 4)),
    _index(("t", (_s(1), ("n",))), np.s_[1:, None], (3, 4)),
    _index(("t", (_s(None, None, 2), _s(None, None, -2))), np.s_[::2, ::-2], (3, 4)),
    _index(("t", (("i", 0), ("e",), _s(None, None, 2))), np.s_[0, ..., ::2], (2, 3, 4)),
    _index(("t", (("e",), _s(1, 3))), np.s_[..., 1:3], (2, 3, 4)),
    _index(("t", (_s(), ("n",), ("i", -1))), np.s_[:, None, -1], (2, 3, 4)),
    _index(("t", (("i", 1), ("i", 2), ("i", 3))), np.s_[1, 2, 3], (2, 3, 4)),
]

_PAIR = ((None, None),)
_PAIR_CASES = [
    A(_PAIR, FLOAT, FLOAT),
    A(_PAIR, (5,), (5,)),
    A(_PAIR, (5,), FLOAT),
    A(_PAIR, FLOAT, (5,)),
    A(_PAIR, (3, 4), (3, 4)),
    A(_PAIR, (3, 4), (1, 4)),
    A(_PAIR, (3, 4), (3, 1)),
    A(_PAIR, (3, 4), (4,)),
    A(_PAIR, (4,), (3, 4)),
    A(_PAIR, (3, 1), (1, 4)),
    A(_PAIR, (3, 4), FLOAT),
    A(((None, 0.5),), (3, 4)),
    A(((-1.0, None),), (5,)),
    A(((None, 0),), FLOAT),
]

_TIE_CASES = [
    A(_PAIR, (5,), args=(0, 0)),  # maximum(x, x): ties everywhere, half to each edge
    A(_PAIR, (5,), (5,), ties=True),
    A(_PAIR, (3, 4), (4,), ties=True),
    A(_PAIR, (3, 4), (3, 1), ties=True),
    A(_PAIR, (1, 4), (3, 4), ties=True),
    A(_PAIR, (5,), FLOAT, ties=True),
    A(_PAIR, FLOAT, FLOAT, ties=True),
    A(((None, 0.0),), (3, 4), ties=True),
    A(((0.5, None),), (5,), ties=True),
    A(((None, 0.0),), FLOAT, ties=True),
]


def _where(consts: tuple, compare: tuple, args: tuple, *shapes: Any) -> ArrayCase:
    """where(cond, a, b) with cond = compare[params](inputs at positions compare[1])."""
    return A((consts,), *shapes, args=args, cond=compare)


_WHERE_CASES = [
    _where((None, None, 0.0), ((">", (None, 0.0)), (0,)), ("c", 0), (5,)),  # relu
    _where((None, None, 0.0), ((">", (None, 0.0)), (0,)), ("c", 0), (3, 4)),
    _where((None, None, None), ((">=", (None, None)), (0, 1)), ("c", 0, 1), (3, 4), (3, 4)),
    _where((None, None, None), ((">=", (None, None)), (0, 1)), ("c", 0, 1), (3, 4), (4,)),
    _where((None, None, None), (("<=", (None, None)), (0, 1)), ("c", 1, 0), (4,), (3, 4)),
    _where((None, None, None), ((">", (None, 0.2)), (0,)), ("c", 0, 1), (3, 1), (1, 4)),
    _where((None, None, None), (("<", (None, 0.0)), (0,)), ("c", 1, 0), FLOAT, (5,)),
    _where((None, 1.5, None), (("<", (0.0, None)), (0,)), ("c", 0), (5,)),
    _where((None, None, -1), (("!=", (None, 0.0)), (0,)), ("c", 0), (2, 3)),
    _where((None, None, None), ((">=", (None, None)), (0, 1)), ("c", 0, 1), FLOAT, FLOAT),
    _where((None, None, None), ((">", (None, 0.0)), (0,)), ("c", 0, 1), (3, 1), (3, 4)),
    # an input read only by the condition: its gradient is zero, still of its shape
    _where((None, None, None), ((">", (None, 0.0)), (0,)), ("c", 1, 2), (3, 4), (3, 4), (4,)),
]

_POSITIVE = {"low": 0.5, "high": 2.0}
_NONZERO = {"low": 0.5, "high": 2.0, "signs": True}

ARRAY_CASES: dict[str, list[ArrayCase]] = {
    "affine": [
        A((0.5, 2.0, -1.0), (3, 4), (4,)),
        A((0, 1, 1), (3, 4), (3, 1)),
        A((-1.0, 0.25, -3.0), (5,), FLOAT),
        A((0, 1, -1, 2.0), (3, 1), (1, 4), FLOAT),
        A((1.0, 3.0), (3, 4)),
        A((0, 1, -1), FLOAT, FLOAT),
        A((0, 1, 2), (3, 4), args=(0, 0)),
    ],
    "product": [
        A((1, 1), (3, 4), (1, 4)),
        A((1, -1), (3, 1), (3, 4), **_NONZERO),
        A((2, 0.5), (5,), FLOAT, **_POSITIVE),
        A((1, 1), (4,), args=(0, 0)),
        A((-2,), (3, 4), **_NONZERO),
        A((1, 1, 1), FLOAT, (4,), (3, 1), **_NONZERO),
        A((1, 1, 1, 1, 1), (3, 4), (4,), (3, 1), FLOAT, (1, 4), **_NONZERO),
        A((2, -1, 1, 0.5, -0.5), (3, 4), (4,), (3, 1), FLOAT, (1, 4), **_POSITIVE),
    ],
    "sin": [A((2.0, 0.5, "numpy"), (3, 4)), A((1, 0, "numpy"), FLOAT)],
    "sqrt": [A((1, 0, "numpy"), (2, 3), **_POSITIVE)],
    "abs": [A((-1.5, 0, "numpy"), (5,), **_NONZERO)],
    "log1p": [A((1, 0, "numpy"), (3, 4), low=-0.5, high=3.0), A((0.5, 0.2, "numpy"), FLOAT)],
    "cpow": [A((1, 0, "numpy", 3.0), (5,))],
    "sum": list(_REDUCTION_CASES),
    "mean": list(_REDUCTION_CASES),
    "matmul": list(_MATMUL_CASES),
    "dot": list(_MATMUL_CASES),
    "transpose": [
        A((None,), (3, 4)),
        A((None,), (5,)),
        A((None,), (2, 3, 4)),
        A(((1, 0),), (3, 4)),
        A(((1, 0, 2),), (2, 3, 4)),
        A(((2, 0, 1),), (2, 3, 4)),
        A(((0, 2, 1),), (2, 3, 4)),
        A(((-1, 0, 1),), (2, 3, 4)),  # negative axes, as np.transpose accepts them
        A(((0, -1, -2),), (2, 3, 4)),
        A((None,), FLOAT),
    ],
    "reshape": [
        A(((2, 3),), (6,)),
        A(((-1,),), (2, 3)),
        A((-1,), (2, 3)),
        A(((3, 2),), (2, 3)),
        A(((4, -1),), (2, 3, 4)),
        A(((2, -1, 2),), (3, 4)),
        A(((1, 6),), (6,)),
        A(((-1, 1),), (4,)),
        A(((),), (1,)),
        A(((1,),), FLOAT),
    ],
    "index": list(_INDEX_CASES),
    "logaddexp": _PAIR_CASES
    + [  # far apart: e^(b - a) overflows or underflows, the gradient must not
        A(_PAIR, (5,), (3, 5), low=-750.0, high=750.0),
        A(((None, 0),), (6,), low=-750.0, high=750.0),
        A(((-700.0, None),), FLOAT, low=-750.0, high=750.0),
    ],
    "maximum": _PAIR_CASES + _TIE_CASES,
    "minimum": _PAIR_CASES + _TIE_CASES,
    "clip": [
        A((-0.5, 0.5), (5,)),
        A((-0.5, 0.5), (3, 4)),
        A((None, 0.3), (3, 4)),
        A((-0.2, None), (5,)),
        A((0, 1), (2, 3)),
        A((None, None), (5,)),
        A((-1.0, 1.0), FLOAT),
        A((0.0, None), FLOAT),
    ],
    "where": _WHERE_CASES,
    "compare": [
        A((">", (None, 0.0)), (5,)),
        A(("<", (None, None)), (3, 4), (4,)),
        A((">=", (1.0, None)), FLOAT),
        A(("<=", (None, None)), (3, 1), (1, 4)),
        A(("==", (None, None)), (5,), (5,), ties=True),
        A(("!=", (None, 0.5)), (5,), ties=True),
    ],
}
def _well_conditioned(xs: list[Any]) -> None:
    """The first input plus 4 times the identity: far from singular."""
    xs[0] = xs[0] + 4 * np.eye(np.shape(xs[0])[-1])


def _negative_determinant(xs: list[Any]) -> None:
    """Well conditioned, with its first two rows swapped: a negative determinant."""
    _well_conditioned(xs)
    xs[0] = xs[0][..., [1, 0, *range(2, np.shape(xs[0])[-1])], :]


def _zeros(count: int) -> Callable[[list[Any]], None]:
    """The first `count` elements of the first input set to 0."""

    def fix(xs: list[Any]) -> None:
        x = np.array(xs[0], dtype=float)
        x.reshape(-1)[:count] = 0.0
        xs[0] = x

    return fix


def _pairs(lib: str, maths: str, **kw: Any) -> list[ArrayCase]:
    """A function of two arguments over broadcast shapes, spelled in `lib`."""
    both = (lib, maths, _BOTH)
    return [
        A(both, (3, 4), (3, 4), **kw),
        A(both, (3, 4), (4,), **kw),
        A(both, (3, 1), (1, 4), **kw),
        A(both, FLOAT, (5,), **kw),
        A(both, FLOAT, FLOAT, **kw),
        A((lib, maths, (None, 0.75)), (5,), **kw),
        A((lib, maths, (1.25, None)), (2, 3), **kw),
    ]


_EXTREME_CASES = [
    A((None, False), FLOAT),
    A((None, False), (5,)),
    A((0, False), (5,)),
    A((None, False), (3, 4)),
    A((None, True), (3, 4)),
    A((0, False), (3, 4)),
    A((1, True), (3, 4)),
    A((-1, False), (2, 3, 4)),
    A(((0, 2), False), (2, 3, 4)),
]

_MORE_ARRAY_CASES: dict[str, list[ArrayCase]] = {
    "pow": _pairs("numpy", "numpy", low=0.5) + _pairs("operator", "numpy", low=0.5),
    "atan2": _pairs("numpy", "numpy"),
    "hypot": _pairs("numpy", "numpy"),
    "copysign": _pairs("numpy", "numpy"),
    "mod": _pairs("numpy", "numpy", **_NONZERO) + _pairs("operator", "numpy", **_NONZERO),
    "floordiv": _pairs("numpy", "numpy", **_NONZERO) + _pairs("operator", "numpy", **_NONZERO),
    "divide": _pairs("numpy", "numpy", **_NONZERO),
    "exp2": [A((1, 0, "numpy"), (3, 4)), A((0.5, 1, "numpy"), FLOAT)],
    "floor": [A((1, 0, "numpy"), (3, 4)), A((2, 0.5, "numpy"), FLOAT)],
    "ceil": [A((1, 0, "numpy"), (3, 4))],
    "trunc": [A((-1.5, 0, "numpy"), (3, 4))],
    "round": [A((1, 0, "numpy"), (3, 4))],
    "sign": [A((1, 0, "numpy"), (3, 4)), A((1, 0, "numpy"), FLOAT)],
    "amax": list(_EXTREME_CASES),
    "amin": list(_EXTREME_CASES),
    "prod": [
        *_EXTREME_CASES,
        A((None, False), (5,), fix=_zeros(1)),  # a zero factor: the others' product
        A((None, False), (5,), fix=_zeros(2)),  # two: every partial is 0
        A((1, False), (3, 4), fix=_zeros(1)),
    ],
    "norm": [
        A((None, None, False), (5,)),
        A((None, None, False), (3, 4)),
        A(("fro", None, False), (3, 4)),
        A((None, 0, False), (3, 4)),
        A((None, 1, True), (3, 4)),
        A((None, -1, False), (2, 3, 4)),
        A((None, (1, 2), False), (2, 3, 4)),
        A((None, None, False), FLOAT, signs=True, low=0.5),
    ],
    "einsum": [
        A(("ij,jk->ik",), (3, 4), (4, 2)),
        A(("i,i->",), (5,), (5,)),
        A(("i,i->",), (5,), args=(0, 0)),  # x . x: both edges into one parent
        A(("ij->ji",), (3, 4)),
        A(("ii->i",), (3, 3)),  # the diagonal
        A(("ii->",), (3, 3)),  # the trace
        A(("iij->j",), (2, 2, 3)),
        A(("ij->",), (3, 4)),
        A(("ij,j->i",), (3, 4), (4,)),
        A(("bij,bjk->bik",), (2, 3, 4), (2, 4, 3)),
        A(("i,j->ij",), (3,), (4,)),
        A(("ij,ij->ij",), (3, 4), (3, 4)),
        A(("ij,k->i",), (3, 4), (2,)),  # j and k summed, each in one operand only
        A(("ij,jk,kl->il",), (2, 3), (3, 4), (4, 2)),
        A((",i->i",), FLOAT, (4,)),
    ],
    "outer": [
        A((), (3,), (4,)),
        A((), (2, 2), (3,)),
        A((), FLOAT, (3,)),
        A((), (3,), args=(0, 0)),
    ],
    "tensordot": [
        A((2,), (2, 3, 4), (3, 4, 2)),
        A((1,), (3, 4), (4, 2)),
        A((0,), (3,), (2,)),
        A((((1,), (0,)),), (3, 4), (4, 2)),
        A((((0, 2), (2, 0)),), (2, 3, 4), (4, 3, 2)),
        A((((1, 0), (0, 1)),), (3, 4), (4, 3)),
        A((((-1,), (0,)),), (2, 3), (3,)),
    ],
    "concatenate": [
        A((0, _BOTH), (3,), (4,)),
        A((1, _BOTH), (2, 3), (2, 2)),
        A((-1, (None, None, None)), (2, 1), (2, 3), (2, 2)),
        A((0, _BOTH), (2, 3), (1, 3)),
        A((None, _BOTH), (2, 2), (3,)),
        A((0, _BOTH), (3,), args=(0, 0)),
    ],
    "vstack": [
        A((_BOTH,), (3,), (3,)),
        A((_BOTH,), (2, 3), (3,)),
        A((_BOTH,), (2, 3), (1, 3)),
    ],
    "hstack": [
        A((_BOTH,), (3,), (2,)),
        A((_BOTH,), (2, 3), (2, 1)),
        A((_BOTH,), FLOAT, (3,)),
        A(((None, 1.5),), (3,)),
    ],
    "stack": [
        A((0, _BOTH), (3,), (3,)),
        A((1, _BOTH), (2, 3), (2, 3)),
        A((-1, (None, None, None)), (2,), (2,), (2,)),
        A((0, _BOTH), FLOAT, FLOAT),
        A((0, (None, 2.0)), FLOAT),
    ],
    "array": [
        A(((None, None, 1.0),), FLOAT, FLOAT),
        A((_BOTH,), (3,), (3,)),
        A(((None,),), (2, 2)),
        A((_BOTH,), FLOAT, args=(0, 0)),
    ],
    "asarray": [A((), (3, 4)), A((), FLOAT)],
    "float64": [A((), (3,)), A((), FLOAT)],
    "ravel": [A((), (3, 4)), A((), (2, 3, 4)), A((), FLOAT)],
    "atleast_1d": [A((), FLOAT), A((), (3,)), A((), (2, 3))],
    "atleast_2d": [A((), FLOAT), A((), (3,)), A((), (2, 3))],
    "repeat": [
        A((2, None), (3,)),
        A((3, None), (2, 3)),
        A((2, 0), (2, 3)),
        A((2, -1), (2, 3)),
        A((1, 1), (2, 3)),
        A((2, None), FLOAT),
    ],
    "roll": [
        A((1, None), (5,)),
        A((-2, None), (2, 3)),
        A((1, 0), (3, 4)),
        A((2, 1), (3, 4)),
        A(((1, -1), (0, 1)), (3, 4)),
    ],
    "solve": [
        A((), (3, 3), (3,), fix=_well_conditioned),
        A((), (3, 3), (3, 2), fix=_well_conditioned),
        A((), (2, 3, 3), (2, 3, 2), fix=_well_conditioned),
        A((), (3, 3), (2, 3, 4), fix=_well_conditioned),  # a broadcast over b's stack
    ],
    "inv": [A((), (3, 3), fix=_well_conditioned), A((), (2, 2, 2), fix=_well_conditioned)],
    "det": [A((), (3, 3)), A((), (2, 2)), A((), (2, 3, 3))],
    "slogdet": [
        A((1,), (3, 3), fix=_well_conditioned),
        A((1,), (3, 3), fix=_negative_determinant),
        A((1,), (2, 3, 3), fix=_well_conditioned),
        A((0,), (3, 3), fix=_negative_determinant),
    ],
    "len": [A((), (5,)), A((), (3, 4))],
    "size": [A((), (3, 4)), A((), FLOAT)],
    "ndim": [A((), (2, 3, 4)), A((), FLOAT)],
    "shape": [A((0,), (3, 4)), A((-1,), (3, 4)), A((1,), (2, 3, 4))],
    "zeros_like": [A((), (3, 4)), A((), FLOAT)],
    "ones_like": [A((), (3, 4)), A((), FLOAT)],
    "arange": [
        A(((None,),), FLOAT, low=2.2, high=2.8),
        A(((0.0, None, 0.5),), FLOAT, low=2.1, high=2.4),
        A(((None, 4.0),), FLOAT, low=0.2, high=0.8),  # the start: d/dstart = 1 each
        A(((None, 3.0, None),), FLOAT, FLOAT, low=0.3, high=0.45),  # start and step
    ],
}
ARRAY_CASES.update(_MORE_ARRAY_CASES)


def _tied(x: list, axis: Any, keepdims: bool, g: Any, expected: list) -> tuple:
    return ((axis, keepdims), (np.array(x, dtype=float),), g, (np.array(expected),))


ARRAY_KINKS: dict[str, list[tuple[tuple, tuple, Any, tuple]]] = {
    # ties of the extremum share zbar equally
    "amax": [
        _tied([1, 3, 3, 2], None, False, 1.0, [0, 0.5, 0.5, 0]),
        _tied([2, 2, 2], None, False, 3.0, [1, 1, 1]),
        _tied([[1, 5, 5], [2, 2, 2]], 1, False, np.array([1.0, 3.0]), [[0, 0.5, 0.5], [1, 1, 1]]),
        _tied([[4, 1], [4, 1]], 0, True, np.array([[2.0, 1.0]]), [[1, 0.5], [1, 0.5]]),
    ],
    "amin": [
        _tied([2, 0, 0, 0], None, False, 1.5, [0, 0.5, 0.5, 0.5]),
        _tied([[0, 1], [0, -1]], 0, False, np.array([1.0, 1.0]), [[0.5, 0], [0.5, 1]]),
    ],
    # zero factors: each partial is the product of the others
    "prod": [
        _tied([0, 3, 2], None, False, 1.0, [6, 0, 0]),
        _tied([0, 0, 2], None, False, 1.0, [0, 0, 0]),
        _tied([[0, 2], [3, 4]], 1, False, np.array([1.0, 1.0]), [[2, 0], [4, 3]]),
    ],
    # a zero norm: the subgradient 0
    "norm": [
        ((None, None, False), (np.zeros(3),), 1.0, (np.zeros(3),)),
        (
            (None, 1, False),
            (np.array([[0.0, 0.0], [3.0, 4.0]]),),
            np.array([1.0, 1.0]),
            (np.array([[0.0, 0.0], [0.6, 0.8]]),),
        ),
    ],
    # a singular matrix: the cofactors (d det/da of [[a, b], [c, d]] is [[d, -c], [-b, a]])
    "det": [
        ((), (np.array([[1.0, 2.0], [2.0, 4.0]]),), 1.0, (np.array([[4.0, -2.0], [-2.0, 1.0]]),)),
        ((), (np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 0]]),), 2.0, (np.diag([0.0, 0.0, 2.0]),)),
        ((), (np.ones((3, 3)),), 1.0, (np.zeros((3, 3)),)),  # rank 1: the adjugate is 0
    ],
}


def _array_kink(op: str, params: tuple, inputs: tuple, gbar: Any) -> list[Any]:
    """The gradients the compiler's adjoint program gives at `inputs` for the adjoint gbar."""
    case = ArrayCase(params, tuple(FLOAT if np.ndim(x) == 0 else np.shape(x) for x in inputs))
    trace = _array_trace(op, case)
    env: dict[Any, Any] = {ex.Var(a): x for a, x in zip(trace.inputs, inputs)}
    evaluate.execute(reverse.primal_body(trace), env)
    body, grads = reverse.adjoint_body(trace, trace.params)
    env[ex.Var(trace.output, True)] = gbar
    evaluate.execute([a for a in body if a.kind != "seed"], env)
    return [evaluate.evaluate(g, env) for g in grads]


for _op, _cases in ARRAY_CASES.items():
    CASES[_op] = CASES.get(_op, []) + _cases

ARRAY_POINTS = 3
FD_STEP = 1e-3
ARRAY_RTOL = 1e-6
# Inputs keep this far from a kink (clip's bounds, a comparison's threshold, maximum's switch).
MARGIN = 0.05


# ---------------------------------------------------------------------------------------------
# Running one rule on one point
# ---------------------------------------------------------------------------------------------


def _trace(op: str, params: tuple) -> ir.Trace:
    """A one-step trace z_1 = op[params](inputs), inputs v_{1-d}..v_0."""
    d = _arity(params, op)
    names = tuple(f"x{i}" for i in range(d))
    inputs = tuple(i - d + 1 for i in range(d))
    step = ir.Step(1, op, inputs, params)
    trace = ir.Trace("t", names, [step], output=1)
    assert list(step.args) == trace.inputs
    return trace


def _run(step: ir.Step, xs: Sequence[float], gbar: float) -> tuple[Any, list[Any], list[Any]]:
    """(primal value, contributions per argument, `partial` fields per argument)."""
    rule = RULES[step.op]
    env: dict[Any, Any] = {ex.Var(a): x for a, x in zip(step.args, xs)}
    value = evaluate.evaluate(rule.primal(step), env)
    env[ex.Var(step.index)] = value
    env[ex.Var(step.index, True)] = gbar
    counter = itertools.count(1)

    def fresh() -> ex.Temp:
        return ex.Temp(next(counter))

    temps, edges = rule.contributions(step, ex.Var(step.index, True), fresh)
    for temp, expr in temps:
        assert temp not in env, f"temporary {temp} defined twice"
        env[temp] = evaluate.evaluate(expr, env)
    positions = sorted(i for i, _, _ in edges)
    assert len(set(positions)) == len(positions), f"edges at positions {positions}"
    assert set(positions) <= set(range(len(step.args))), f"edges at positions {positions}"
    if not rule.differentiated:
        assert edges == [], f"{step.op} is not differentiated but has edges"
    contrib: list[Any] = [0.0] * len(step.args)  # an edge left out carries nothing
    partial: list[Any] = [None] * len(step.args)
    for i, expr, d in edges:
        contrib[i] = evaluate.evaluate(expr, env)
        partial[i] = None if d is None else evaluate.evaluate(d, env)
    return value, contrib, partial


def _close(actual: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    actual, expected = float(actual), float(expected)
    return math.isfinite(actual) and abs(actual - expected) <= atol + rtol * abs(expected)


def _fd4(phi: Callable[[Any], Any], h: Any) -> Any:
    """phi'(0) by the 4th-order central difference."""
    return (-phi(2 * h) + 8 * phi(h) - 8 * phi(-h) + phi(-2 * h)) / (12 * h)


# ---------------------------------------------------------------------------------------------
# Running one array case
# ---------------------------------------------------------------------------------------------


def _array_trace(op: str, case: ArrayCase) -> ir.Trace:
    """The case's trace, arrays=True: [z1 = compare(...) for where,] then the op's step."""
    d = len(case.shapes)
    ids = [i - d + 1 for i in range(d)]
    steps: list[ir.Step] = []
    if case.cond is not None:
        cmp_params, cmp_args = case.cond
        steps.append(ir.Step(1, "compare", tuple(ids[p] for p in cmp_args), cmp_params))
    args = tuple(1 if a == "c" else ids[a] for a in case.step_args)
    steps.append(ir.Step(len(steps) + 1, op, args, case.params))
    trace = ir.Trace("t", tuple(f"x{i}" for i in range(d)), steps, output=len(steps), arrays=True)
    assert ids == trace.inputs
    return trace


def _array_reference(op: str, case: ArrayCase, xs: Sequence[Any]) -> Any:
    """The reference's output for inputs `xs` (the condition by the compare reference)."""
    operands = []
    for a in case.step_args:
        if a == "c":
            cmp_params, cmp_args = case.cond
            operands.append(REFERENCE["compare"](np, cmp_params, [xs[p] for p in cmp_args]))
        else:
            operands.append(xs[a])
    return REFERENCE[op](np, case.params if case.ref is None else case.ref, operands)


def _gaps(op: str, case: ArrayCase, xs: Sequence[Any]) -> list[Any]:
    """Differences whose sign picks a branch: they keep MARGIN off zero (ties aside)."""
    if op in ("maximum", "minimum"):
        a, b = _interleave(case.params[0], [xs[p] for p in case.step_args])
        return [np.subtract(a, b)]
    if op == "clip":
        return [np.subtract(xs[0], bound) for bound in case.params if bound is not None]
    if case.cond is not None:
        (_, consts), cmp_args = case.cond
        a, b = _interleave(consts, [xs[p] for p in cmp_args])
        return [np.subtract(a, b)]
    if op in ("atan2", "copysign", "divide", "mod", "floordiv"):
        a, b = _interleave(case.params[-1], [xs[p] for p in case.step_args])
        if op == "atan2":
            return [np.asarray(a)]  # off the jump across a = 0 where b < 0
        if op in ("copysign", "divide"):
            return [np.asarray(a), np.asarray(b)]
        ratio = np.divide(a, b)
        return [np.asarray(b), ratio - np.round(ratio)]
    if op in ("floor", "ceil", "trunc", "round", "sign"):
        u = case.params[0] * np.asarray(xs[0]) + case.params[1]
        if op == "sign":
            return [u]
        return [u - np.floor(u) - 0.5] if op == "round" else [u - np.round(u)]
    if op == "arange":  # the count, ceil((stop - start) / step), jumps at integers
        operands = _interleave(case.params[0], xs)
        start, stop, step = (0.0, operands[0], 1.0) if len(operands) == 1 else (*operands, 1.0)[:3]
        ratio = (stop - start) / step
        return [np.asarray(ratio - round(ratio))]
    if op in ("amax", "amin"):
        moved, _ = _moved(xs[0], case.params[0])
        ordered = np.sort(moved, axis=-1)
        if ordered.shape[-1] < 2:
            return []
        return [ordered[..., -1] - ordered[..., -2], ordered[..., 1] - ordered[..., 0]]
    return []


def _tie(xs: list[Any], consts: tuple, positions: tuple) -> None:
    """Make every other element of the larger variable operand equal to the other operand."""
    it = iter(positions)
    inputs = [next(it) if c is None else None for c in consts]
    operands = _interleave(consts, [xs[p] for p in positions])
    full = np.broadcast_shapes(*(np.shape(o) for o in operands))
    target = next(k for k in (0, 1) if inputs[k] is not None and np.shape(operands[k]) == full)
    source = np.broadcast_to(operands[1 - target], full)
    p = inputs[target]
    if full == ():
        xs[p] = float(source)
        return
    tied = np.array(xs[p], dtype=float)
    mask = (np.arange(tied.size) % 2 == 0).reshape(full)
    tied[mask] = source[mask]
    xs[p] = tied


def _draw(shape: tuple | None, case: ArrayCase, rng: np.random.Generator) -> Any:
    x = rng.uniform(case.low, case.high, () if shape is FLOAT else shape)
    if case.signs:
        x = x * rng.choice([-1.0, 1.0], np.shape(x))
    return float(x) if shape is FLOAT else x


def _array_sample(op: str, case: ArrayCase, rng: np.random.Generator) -> list[Any]:
    """Random inputs of the case's shapes, away from kinks."""
    ties_ok = op in ("maximum", "minimum")
    for _ in range(200):
        xs = [_draw(shape, case, rng) for shape in case.shapes]
        if case.fix is not None:
            case.fix(xs)
        if case.ties:
            _tie(xs, case.params[1] if op == "compare" else case.params[0], case.step_args)
        gaps = _gaps(op, case, xs)
        assert not (case.ties and ties_ok) or any(np.any(g == 0) for g in gaps), "no tie"
        if all(np.all((np.abs(g) > MARGIN) | ((g == 0) & ties_ok)) for g in gaps):
            return xs
    raise AssertionError(f"{op}{case}: no sample away from the kinks")


def _random_like(value: Any, rng: np.random.Generator) -> Any:
    """A random array of value's shape; a Python float for a 0-d value."""
    shape = np.shape(value)
    return float(rng.normal()) if shape == () else rng.normal(size=shape)


def _inner(a: Any, b: Any) -> float:
    return float(np.sum(np.multiply(a, b)))


def _shape_problem(x: Any, g: Any) -> str | None:
    """What is wrong with gradient g's type or shape for input x, if anything."""
    if isinstance(x, float):
        if isinstance(g, float):  # a Python float (np.float64 is one)
            return None
        what = f"{type(g).__name__} of shape {np.shape(g)}"
        return f"a Python float input got a gradient {what}, not a float"
    if isinstance(g, np.ndarray) and g.shape == x.shape and g.dtype == np.float64:
        return None
    what = f"{type(g).__name__} of shape {np.shape(g)}, dtype {getattr(g, 'dtype', '-')}"
    return f"an input of shape {x.shape} got a gradient {what}"


def _check_array_case(op: str, case: ArrayCase, k: int) -> list[str]:
    """Run one array case at ARRAY_POINTS random points; the problems found (none: it passes)."""
    rng = np.random.default_rng(list(f"rules-{op}-{k}".encode()))
    trace = _array_trace(op, case)
    step = trace.steps[-1]
    where = f"{op}{case}"
    assert RULES[op].show(step, ir.namer(trace)), f"{where}: empty show"
    body, grads = reverse.adjoint_body(trace, trace.params)
    assert [a.kind for a in body].count("seed") == 1, f"{where}: one seed"
    adjoint = [a for a in body if a.kind != "seed"]
    problems: list[str] = []
    for _ in range(ARRAY_POINTS):
        xs = _array_sample(op, case, rng)
        env: dict[Any, Any] = {ex.Var(a): x for a, x in zip(trace.inputs, xs)}
        at = f"{where} at inputs {[np.round(x, 3).tolist() for x in xs]}"

        # (a) the primal, value and shape
        try:
            evaluate.execute(reverse.primal_body(trace), env)
        except Exception as e:  # noqa: BLE001 - reported with the case
            return [f"{at}: the primal raises {e!r}"]
        value, expected = env[ex.Var(trace.output)], _array_reference(op, case, xs)
        if np.shape(value) != np.shape(expected) or not np.allclose(
            value, expected, rtol=1e-12, atol=1e-14
        ):
            return [f"{at}: value {value!r} != reference {expected!r}"]
        if op == "compare":  # piecewise constant: no edges, nothing flows back
            edges = RULES[op].contributions(step, ex.Var(step.index, True), lambda: ex.Temp(0))
            if edges != ([], []):
                problems.append(f"{where}: a comparison has contributions {edges}")
            continue

        # (b) the vector-Jacobian product against finite differences along random directions
        gbar = _random_like(expected, rng)
        env[ex.Var(trace.output, True)] = gbar
        try:
            evaluate.execute(adjoint, env)
            gradients = [evaluate.evaluate(g, env) for g in grads]
        except Exception as e:  # noqa: BLE001
            return [f"{at}: the adjoint raises {e!r}"]
        for i, (x, g) in enumerate(zip(xs, gradients)):
            # (c) the gradient's type and shape
            bad = _shape_problem(x, g)
            if bad:
                problems.append(f"{where}: x{i}: {bad}")
            v = _random_like(x, rng)

            def phi(t: float, i: int = i, v: Any = v, xs: list = xs, gbar: Any = gbar) -> float:
                moved = [xj + t * v if j == i else xj for j, xj in enumerate(xs)]
                return _inner(gbar, _array_reference(op, case, moved))

            fd = _fd4(phi, FD_STEP)
            try:
                vjp = _inner(g, v)
            except ValueError:  # a gradient of the wrong shape, reported above
                continue
            tol = ARRAY_RTOL * abs(fd) + 1e-9 * np.linalg.norm(gbar) * np.linalg.norm(v)
            if not (math.isfinite(vjp) and abs(vjp - fd) <= tol):
                problems.append(
                    f"{at}: x{i}: <G, J v> from the adjoint {vjp!r} != finite differences {fd!r}"
                )
        if problems:
            break
    return problems


# ---------------------------------------------------------------------------------------------
# THE test
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", sorted(RULES))
def test_rule_against_independent_reference(op: str) -> None:
    # Every op of the table has cases and a reference here, and nothing else does: a primitive
    # added to RULES without a test here fails.
    assert set(CASES) == set(RULES), f"untested: {set(RULES) - set(CASES)}"
    assert set(REFERENCE) == set(RULES), f"no reference: {set(RULES) - set(REFERENCE)}"
    assert CASES[op], f"no param choices for {op}"
    reference = REFERENCE[op]
    rng = random.Random(f"rules-{op}")
    mp = mpmath.mp.clone()
    mp.dps = 40
    h = mp.mpf("1e-8")
    scalar_cases = [c for c in CASES[op] if not isinstance(c, ArrayCase)]
    array_cases = [c for c in CASES[op] if isinstance(c, ArrayCase)]
    checked = 0
    for params in scalar_cases:
        step = _trace(op, params).steps[0]
        samples: list[tuple[list[float], Any, list[Any]]] = []
        mparams = tuple(mp.mpf(p) if isinstance(p, (int, float)) else p for p in params)
        for _ in range(POINTS):
            xs = ROWS[op].sample(params, _arity(params, op), rng)
            where = f"{op}{params} at {xs}"
            value, contrib, partial = _run(step, xs, 1.0)

            # (a) the primal
            expected = reference(math, params, xs)
            assert _close(value, expected, 1e-12, 1e-14), f"{where}: value {value} != {expected}"

            # (b) each partial against finite differences of the reference
            mxs = [mp.mpf(x) for x in xs]

            def f_at(point: Sequence[Any], mparams: tuple = mparams) -> Any:
                return reference(mp, mparams, point)

            for i in range(len(xs)):

                def along_i(t: Any, i: int = i, mxs: list = mxs) -> Any:
                    return f_at([x + t if j == i else x for j, x in enumerate(mxs)])

                fd = _fd4(along_i, h)
                assert _close(contrib[i], fd), f"{where}: d/dx{i} {contrib[i]} != fd {fd}"
                if partial[i] is not None:
                    assert _close(partial[i], contrib[i], 1e-15, 0), f"{where}: partial field"
                direct = evaluate.evaluate(RULES[op].partial(step, i), _env(step, xs, value))
                assert _close(direct, fd), f"{where}: rule.partial({i}) {direct} != fd {fd}"

            # the contributions are linear in the step's adjoint
            gbar = -1.75
            _, scaled, _ = _run(step, xs, gbar)
            for i in range(len(xs)):
                assert _close(scaled[i], gbar * contrib[i], 1e-12, 1e-15), f"{where}: zbar"

            # (c) along a random direction: directional derivative and Taylor remainder
            direction = [rng.gauss(0, 1) for _ in xs]
            norm = math.sqrt(sum(c * c for c in direction)) or 1.0
            direction = [c / norm for c in direction]
            slope = sum(g * c for g, c in zip(contrib, direction))

            def along(t: Any, direction: list = direction, mxs: list = mxs) -> Any:
                return f_at([x + t * c for x, c in zip(mxs, direction)])

            fd_slope = (along(h) - along(-h)) / (2 * h)
            assert _close(slope, fd_slope), f"{where}: slope {slope} != fd {fd_slope}"
            f0 = along(mp.mpf(0))

            def remainder(t: Any, f0: Any = f0, slope: float = slope) -> Any:
                return abs(along(t) - f0 - t * mp.mpf(slope))

            t = mp.mpf("1e-3")
            r1, r2 = remainder(t), remainder(t / 2)
            noise = t * 1e-13 * (1 + sum(abs(g) for g in contrib))
            assert r2 <= r1 / 3 or r1 <= noise, f"{where}: Taylor remainder {r1} -> {r2}"
            checked += 1
            samples.append((xs, value, contrib))

        # with lib "numpy" the step works elementwise on arrays, as numpy code must
        if "numpy" in params:
            arrays = [np.array([xs[i] for xs, _, _ in samples]) for i in range(len(step.args))]
            value, contrib, _ = _run(step, arrays, 1.0)
            assert np.allclose(value, [v for _, v, _ in samples], rtol=1e-13, atol=0)
            for i in range(len(step.args)):
                expected_i = [float(c[i]) for _, _, c in samples]
                assert np.allclose(contrib[i], expected_i, rtol=1e-13, atol=1e-300), f"{params}"

    assert checked >= 3 * len(scalar_cases)

    # the one-sided or chosen partials at the kinks
    for params, xs, expected in ROWS[op].kinks if op in ROWS else ():
        with np.errstate(all="ignore"):  # numpy's inf and nan at the kink are the promise
            _, contrib, _ = _run(_trace(op, params).steps[0], list(xs), 1.0)
        same = [_same(float(c), float(e)) for c, e in zip(contrib, expected)]
        assert len(contrib) == len(expected) and all(same), (
            f"{op}{params} at {xs}: {contrib} != {expected}"
        )

    # the array cases: the compiler's own primal and adjoint programs, with arrays=True
    problems = [p for k, case in enumerate(array_cases) for p in _check_array_case(op, case, k)]
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)

    # the gradients the entry promises where it chooses one (ties, zeros, singular matrices)
    for params, inputs, gbar, expected in ARRAY_KINKS.get(op, ()):
        got = _array_kink(op, params, inputs, gbar)
        for g, e in zip(got, expected, strict=True):
            assert np.shape(g) == np.shape(e) and np.allclose(g, e, rtol=1e-12, atol=1e-12), (
                f"{op}{params} at {inputs}: gradient {g} != {e}"
            )


def _same(a: float, b: float) -> bool:
    """a == b, nan equal to nan."""
    return a == b or (math.isnan(a) and math.isnan(b))


def _env(step: ir.Step, xs: Sequence[float], value: Any) -> dict[Any, Any]:
    env: dict[Any, Any] = {ex.Var(a): x for a, x in zip(step.args, xs)}
    env[ex.Var(step.index)] = value
    return env


# ---------------------------------------------------------------------------------------------
# The gradient's dtype: numpy's, with the seed a Python float
# ---------------------------------------------------------------------------------------------


def _cast(x: Any, dtype: type) -> Any:
    """An array input as `dtype` (integers: away from 0 and keeping signs); a Python float
    input stays one."""
    if isinstance(x, float):
        return x
    if np.issubdtype(dtype, np.integer):
        return np.where(x >= 0, np.ceil(x * 4), np.floor(x * 4)).astype(dtype)
    return x.astype(dtype)


@pytest.mark.parametrize("op", sorted(ARRAY_CASES))
def test_gradient_dtypes_follow_numpy(op: str) -> None:
    """float32 inputs give float32 gradients (as JAX and PyTorch keep them), integer inputs
    float64 ones, Python floats Python floats: numpy's promotion of the adjoint arithmetic
    (the output's adjoint being of its dtype, or the Python float seed), in every rule and
    helper."""
    for k, case in enumerate(ARRAY_CASES[op]):
        rng = np.random.default_rng(list(f"dtypes-{op}-{k}".encode()))
        trace = _array_trace(op, case)
        body, grads = reverse.adjoint_body(trace, trace.params)
        xs = _array_sample(op, case, rng)
        for dtype, expected in ((np.float32, np.float32), (np.int64, np.float64)):
            env: dict[Any, Any] = {ex.Var(a): _cast(x, dtype) for a, x in zip(trace.inputs, xs)}
            with np.errstate(all="ignore"):
                try:
                    evaluate.execute(reverse.primal_body(trace), env)
                    value = env[ex.Var(trace.output)]
                    # the output's adjoint: of its shape and float dtype (or the seed 1.0)
                    seed = (
                        np.ones(value.shape, np.result_type(value, 1.0))
                        if isinstance(value, np.ndarray)
                        else 1.0
                    )
                    env[ex.Var(trace.output, True)] = seed
                    evaluate.execute([a for a in body if a.kind != "seed"], env)
                    gradients = [evaluate.evaluate(g, env) for g in grads]
                except (TypeError, ValueError):
                    assert dtype is np.int64, f"{op}{case}: float32 inputs fail"
                    continue  # an integer the operation refuses (a negative power)
            for x, g in zip(xs, gradients):
                if isinstance(x, float):
                    assert isinstance(g, float), f"{op}{case}: a float input got {type(g)}"
                else:
                    assert g.dtype == expected, f"{op}{case} {dtype.__name__}: {g.dtype}"
