"""Gradients of a corpus of varied functions against an independent oracle: sympy.

The oracle never touches adc's code. Each source is executed by Python itself with `math` and
`numpy` replaced by a shim whose names are sympy's (`sin` -> sympy.sin, `np.arcsin` ->
sympy.asin, `pi` -> sympy.pi, `abs` -> sympy.Abs ...) and called with real sympy symbols; the
expression that comes out is differentiated symbolically and evaluated with mpmath at 30
digits. Helpers, reassignment, augmented assignment, module constants and parameter defaults
are thus interpreted by Python, not by adc.
"""

from __future__ import annotations

import inspect
import itertools
import math
import random
import textwrap
import types
import zlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import mpmath
import pytest
import sympy

from tests.conftest import compile_text

RTOL = 1e-9
ATOL = 1e-12
POINTS = 4

# ---------------------------------------------------------------------------------------------
# The oracle: the source run by Python on sympy symbols
# ---------------------------------------------------------------------------------------------

_SHIM = types.SimpleNamespace(
    sin=sympy.sin,
    cos=sympy.cos,
    tan=sympy.tan,
    exp=sympy.exp,
    log=sympy.log,
    sqrt=sympy.sqrt,
    tanh=sympy.tanh,
    sinh=sympy.sinh,
    cosh=sympy.cosh,
    asin=sympy.asin,
    acos=sympy.acos,
    atan=sympy.atan,
    arcsin=sympy.asin,
    arccos=sympy.acos,
    arctan=sympy.atan,
    fabs=sympy.Abs,
    abs=sympy.Abs,
    absolute=sympy.Abs,
    pi=sympy.pi,
    e=sympy.E,
    tau=2 * sympy.pi,
)


def _import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level=0):
    if name in ("math", "numpy") and not level:
        return _SHIM
    raise ImportError(f"the oracle knows only math and numpy, not {name}")


@dataclass
class Oracle:
    """The function as sympy sees it: parameters, defaults, value and gradient evaluators."""

    params: list[str]
    defaults: dict[str, Any]
    evaluate: Any  # (*args) -> [value, d/dp1, ...] as mpmath numbers


@cache
def oracle(source: str, name: str = "f") -> Oracle:
    namespace: dict[str, Any] = {"__builtins__": {"__import__": _import, "abs": sympy.Abs}}
    exec(compile(textwrap.dedent(source), f"<oracle {name}>", "exec"), namespace)
    fn = namespace[name]
    signature = inspect.signature(fn)
    params = list(signature.parameters)
    defaults = {
        p: v.default
        for p, v in signature.parameters.items()
        if v.default is not inspect.Parameter.empty
    }
    symbols = [sympy.Symbol(f"s_{p}", real=True) for p in params]
    expr = sympy.sympify(fn(*symbols))
    grads = [sympy.diff(expr, s) for s in symbols]
    evaluate = sympy.lambdify(symbols, [expr, *grads], modules="mpmath")
    return Oracle(params, defaults, evaluate)


def reference(source: str, args: tuple[float, ...], name: str = "f") -> tuple[float, list]:
    """(value, gradient) by the oracle at `args` (defaults filled in), to 30 digits."""
    o = oracle(source, name)
    full = list(args) + [o.defaults[p] for p in o.params[len(args) :]]
    with mpmath.workdps(30):
        out = o.evaluate(*(mpmath.mpf(float(a)) for a in full))
        return out[0], list(out[1:])


def close(actual: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    actual = float(actual)
    expected = mpmath.mpf(expected)
    return math.isfinite(actual) and abs(actual - expected) <= atol + rtol * abs(expected)


# ---------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------

Interval = tuple[float, float]


@dataclass
class Case:
    """One source defining `f`, where to sample its (given) arguments, and special points."""

    id: str
    source: str
    domain: list[Interval]  # one interval per argument passed
    points: list[tuple[float, ...]] = field(default_factory=list)


def case(id: str, source: str, *domain: Interval, points: Any = ()) -> Case:
    return Case(id, textwrap.dedent(source), list(domain), [tuple(p) for p in points])


R = (-2.0, 2.0)
POS = (0.3, 3.0)
NEG = (-3.0, -0.3)

CORPUS: list[Case] = [
    case(
        "baydin",
        """
        from math import log, sin

        def f(x1, x2):
            return log(x1) + x1 * x2 - sin(x2)
        """,
        (0.5, 4.0),
        (-3.0, 3.0),
        points=[(2.0, 5.0)],
    ),
    case(
        "slide",
        """
        from math import exp, pi, sin

        def f(w1, w2):
            return (sin(2 * pi * w1 / w2) + 3 * w1 / w2 - exp(2 * w2)) * (3 * w1 / w2 - exp(2 * w2))
        """,
        (-1.5, 1.5),
        (0.5, 1.5),
    ),
    case(
        "logistic_loss_3_weights",
        """
        import math

        A = 0.7
        B = -1.3
        C = 2.1
        Y = 1.0

        def f(w1, w2, w3):
            return math.log(1 + math.exp(-Y * (A * w1 + B * w2 + C * w3)))
        """,
        R,
        R,
        R,
    ),
    case(
        "logistic_loss_numpy_params",
        """
        import numpy as np

        def f(w1, w2, w3, a, b, c):
            y = -1.0
            return np.log(1 + np.exp(-y * (a * w1 + b * w2 + c * w3)))
        """,
        R,
        R,
        R,
        R,
        R,
        R,
    ),
    case(
        "squared_loss_defaults",
        """
        def f(w, b, x=1.5, y=0.3):
            r = w * x + b - y
            return r * r
        """,
        R,
        R,
    ),
    case(
        "squared_loss_pow",
        """
        def f(w1, w2, b, x1, x2, y):
            return 0.5 * (w1 * x1 + w2 * x2 + b - y) ** 2
        """,
        R,
        R,
        R,
        R,
        R,
        R,
    ),
    case(
        "sigmoid_neuron",
        """
        import math

        X1 = 0.8
        X2 = -1.7

        def sigmoid(t):
            return 1 / (1 + math.exp(-t))

        def f(w1, w2, b):
            return sigmoid(w1 * X1 + w2 * X2 + b)
        """,
        R,
        R,
        R,
    ),
    case(
        "tanh_neuron_loss",
        """
        from math import tanh

        def f(w1, w2, b):
            y = tanh(0.3 * w1 - 1.2 * w2 + b)
            return (y - 0.25) ** 2
        """,
        R,
        R,
        R,
    ),
    case(
        "product_5",
        """
        def f(a, b, c, d, e):
            return a * b * c * d * e
        """,
        *[R] * 5,
        points=[(0.0, 2.0, 3.0, 4.0, 5.0), (1.0, 0.0, 3.0, 0.0, 5.0)],
    ),
    case(
        "product_8",
        """
        def f(x1, x2, x3, x4, x5, x6, x7, x8):
            return x1 * x2 * x3 * x4 * x5 * x6 * x7 * x8
        """,
        *[R] * 8,
        points=[(1, 2, 0, 3, 4, 5, 6, 7), (1, 2, 0, 3, 4, 0, 6, 7), (0, 1, 1, 1, 1, 1, 1, 1)],
    ),
    case(
        "product_3",
        """
        def f(x, y, z):
            return x * y * z
        """,
        R,
        R,
        R,
        points=[(0.0, 2.5, -1.5)],
    ),
    case(
        "product_mixed_powers",
        """
        def f(x, y, z, w, v):
            return x**3 * y**-1 * z**0.5 * w**2 * v
        """,
        R,
        NEG,
        POS,
        R,
        R,
        points=[(0.0, -1.0, 2.0, 1.5, 0.5), (1.0, -2.0, 3.0, 0.0, 0.0)],
    ),
    case(
        "product_repeated_factors",
        """
        def f(a, b, c):
            return a * b * a * c * b * a * 2 * c
        """,
        R,
        R,
        R,
    ),
    case(
        "x_over_x",
        """
        def f(x):
            return x / x
        """,
        (0.5, 3.0),
    ),
    case(
        "x_over_x_negative",
        """
        def f(x, y):
            return y * x / x
        """,
        NEG,
        R,
    ),
    case(
        "cube_over_x",
        """
        def f(x):
            return x * x * x / x
        """,
        (-3.0, 3.0),
    ),
    case(
        "repeated_subexpressions",
        """
        from math import sin

        def f(x, y):
            s = sin(x * y)
            return s * s + s * x + sin(x * y) * y + x * y
        """,
        R,
        R,
    ),
    case(
        "deep_nesting",
        """
        from math import cos, exp, sin, sqrt, tanh

        def f(x):
            return sin(cos(exp(tanh(sqrt(1 + x * x)))))
        """,
        R,
    ),
    case(
        "deep_chain_reassigned",
        """
        import math

        def f(x, y):
            t = x
            t = math.sin(t) + y
            t = math.cos(t) * x
            t = math.exp(-t * t) + t
            t = math.atan(t - y)
            t = math.tanh(2 * t) * y
            t = math.sinh(t) + math.cosh(t / 2)
            t = math.sqrt(1 + t * t)
            return t
        """,
        R,
        R,
    ),
    case(
        "affine_3",
        """
        def f(x, y, z):
            return 2 * x - 3 * y + 0.5 * z + 1
        """,
        R,
        R,
        R,
    ),
    case(
        "affine_4",
        """
        def f(x, y, z, w):
            return x + y - z + 4 * w - 7
        """,
        R,
        R,
        R,
        R,
    ),
    case(
        "affine_shared_sums",
        """
        def f(x, y, z, w):
            s = x + y + z
            return s * (x + y + z + w) - (x - 2 * y) * (2 * y - x + w)
        """,
        R,
        R,
        R,
        R,
    ),
    case(
        "neg_power",
        """
        def f(x):
            return x**-2
        """,
        (0.3, 3.0),
    ),
    case(
        "neg_power_negative_x",
        """
        def f(x, y):
            return 3 * x**-2 - y**-3
        """,
        NEG,
        NEG,
    ),
    case(
        "sqrt_power",
        """
        def f(x):
            return x**0.5 + (2 * x) ** 1.5
        """,
        POS,
    ),
    case(
        "two_to_the_x",
        """
        def f(x):
            return 2**x
        """,
        (-3.0, 3.0),
    ),
    case(
        "constant_bases",
        """
        def f(x, y):
            return 2 ** (x * y) + 10 ** (-x / 3) + 0.5 ** (y + 1)
        """,
        R,
        R,
    ),
    case(
        "abs_positive",
        """
        def f(x, y):
            return abs(x - y) * x
        """,
        (1.0, 2.0),
        (-2.0, -1.0),
    ),
    case(
        "abs_negative",
        """
        import math
        import numpy as np

        def f(x, y):
            return abs(x) * y + math.fabs(2 * x + 1) + np.abs(x * y)
        """,
        NEG,
        POS,
    ),
    case(
        "inverse_trig",
        """
        from math import acos, asin, atan

        def f(x, y):
            return asin(x / 2) + acos(y / 3) * atan(x * y)
        """,
        (-1.5, 1.5),
        (-2.5, 2.5),
    ),
    case(
        "numpy_functions",
        """
        import numpy as np

        def f(x, y):
            return np.sin(x) * np.exp(-y) + np.arctan(x * y) + np.arcsin(x / 4) - np.arccos(y / 5)
        """,
        R,
        R,
    ),
    case(
        "numpy_every_name",
        """
        import numpy
        from numpy import absolute, tanh

        def f(x, y):
            a = numpy.tanh(x) + numpy.sinh(y) * numpy.cosh(x) + numpy.sqrt(x * x + 1)
            b = numpy.log(y * y + 2) - numpy.tan(x / 3) + numpy.cos(y) * numpy.exp(x)
            c = numpy.arctan(y) + numpy.arcsin(x / 3) + numpy.arccos(y / 3) + numpy.abs(x - 3)
            return a * b + c + absolute(y + 3) + tanh(x * y)
        """,
        R,
        R,
    ),
    case(
        "hyperbolic",
        """
        from math import cosh, sinh, tanh

        def f(x, y):
            return sinh(x) * cosh(y) - tanh(x - y)
        """,
        R,
        R,
    ),
    case(
        "scaled_offset_arguments",
        """
        from math import cosh, log, sinh, tan

        def f(x):
            return cosh(0.5 * x - 1) / sinh(2 * x + 3) + log(3 * x + 2) + tan(0.25 * x - 0.1)
        """,
        (0.2, 2.0),
    ),
    case(
        "helper_inlined",
        """
        def sq(t):
            return t * t

        def f(x, y):
            return sq(x + y) + 2 * sq(x - y) + sq(sq(x))
        """,
        R,
        R,
    ),
    case(
        "helper_defaults_keywords",
        """
        from math import exp

        def g(t, k=2.0):
            return k * exp(-t * t)

        def f(x, y):
            return g(x) + g(y, k=0.5) + g(x * y, 3)
        """,
        R,
        R,
    ),
    case(
        "augmented_assignment",
        """
        def f(x, y):
            z = x * y
            z += x
            z *= y
            z -= 1
            z /= 1 + x * x
            z **= 2
            return z
        """,
        R,
        R,
    ),
    case(
        "module_constants",
        """
        A = 2.5
        B = -0.75
        C = A * B

        def f(x):
            return A * x**3 + B * x + C
        """,
        R,
    ),
    case(
        "parameter_defaults",
        """
        from math import sin

        def f(x, y=2.0, z=-1.0):
            return sin(x * y) + z * x * x + y * z
        """,
        R,
    ),
    case(
        "pi_and_e",
        """
        from math import e, pi, sin

        def f(x):
            return e**x * sin(pi * x) + pi * x / e
        """,
        R,
    ),
    case(
        "six_params",
        """
        import math

        def f(p1, p2, p3, p4, p5, p6):
            return math.sin(p1 * p2) + p3 * p4 / p5 - p6**2 * p1 + math.exp(p5 - p6)
        """,
        R,
        R,
        R,
        R,
        POS,
        R,
    ),
    case(
        "quotient",
        """
        def f(x, y):
            return (x * x + 1) / (y * y + 1) - x / (y * x + 3)
        """,
        R,
        (-1.0, 1.0),
    ),
    case(
        "log_sum_exp",
        """
        from math import exp, log

        def f(x, y, z):
            return log(exp(x) + exp(y) + exp(z))
        """,
        R,
        R,
        R,
    ),
    case(
        "norm",
        """
        from math import sqrt

        def f(x, y):
            return sqrt(x * x + y * y)
        """,
        POS,
        NEG,
    ),
    case(
        "unary_minus",
        """
        def f(x, y):
            return -x * -(y - x) + (-x) ** 3 - -y
        """,
        R,
        R,
    ),
    case(
        "nested_products",
        """
        def f(x, y, z):
            return (x * y) * (y * z) * (z * x) + x * y * z
        """,
        R,
        R,
        R,
    ),
    case(
        "power_of_sums",
        """
        def f(x, y):
            return (x + 2 * y) ** 3 - (x - y) ** -1.5 + (x * y + 1) ** 0.5
        """,
        (2.0, 3.0),
        (0.1, 1.0),
    ),
    case(
        "one_param_polynomial",
        """
        def f(x):
            return 3 * x**4 - 2 * x**3 + x * x - 5 * x + 7
        """,
        (-3.0, 3.0),
    ),
]

# ---------------------------------------------------------------------------------------------
# The corpus against the oracle
# ---------------------------------------------------------------------------------------------


def test_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 35
    assert len({c.id for c in CORPUS}) == len(CORPUS)
    assert len({c.source for c in CORPUS}) == len(CORPUS)
    arities = {len(oracle(c.source).params) for c in CORPUS}
    assert set(range(1, 7)) <= arities


def _points(c: Case) -> list[tuple[float, ...]]:
    rng = random.Random(zlib.crc32(c.id.encode()))
    drawn = [tuple(rng.uniform(lo, hi) for lo, hi in c.domain) for _ in range(POINTS)]
    return drawn + [tuple(float(v) for v in p) for p in c.points]


@pytest.mark.parametrize("c", CORPUS, ids=[c.id for c in CORPUS])
def test_gradient_matches_sympy(c: Case) -> None:
    compiled = compile_text(c.source)
    o = oracle(c.source)
    assert len(c.domain) <= len(o.params)
    for args in _points(c):
        value, grad = reference(c.source, args)
        where = f"{c.id} at {args}"

        got_value = compiled.f(*args)
        assert close(got_value, value), f"{where}: f = {got_value}, oracle {value}"

        got_grad = compiled.grad_f(*args)
        assert isinstance(got_grad, tuple) and len(got_grad) == len(o.params), where
        for p, g, r in zip(o.params, got_grad, grad):
            assert close(g, r), f"{where}: d/d{p} = {g}, oracle {r}"

        both_value, both_grad = compiled.value_and_grad_f(*args)
        assert close(both_value, value), f"{where}: value_and_grad value {both_value}"
        assert len(both_grad) == len(o.params), where
        for p, g, r in zip(o.params, both_grad, grad):
            assert close(g, r), f"{where}: value_and_grad d/d{p} = {g}, oracle {r}"


# ---------------------------------------------------------------------------------------------
# Zeros of products: exact gradients, no 0 * inf or 0 / 0
# ---------------------------------------------------------------------------------------------

PRODUCT_5 = """
def f(a, b, c, d, e):
    return a * b * c * d * e
"""

PRODUCT_8 = """
def f(x1, x2, x3, x4, x5, x6, x7, x8):
    return x1 * x2 * x3 * x4 * x5 * x6 * x7 * x8
"""


def _others(values: tuple[float, ...], i: int) -> float:
    return math.prod(v for j, v in enumerate(values) if j != i)


def test_product_of_five_with_a_zero_is_exact() -> None:
    c = compile_text(PRODUCT_5)
    grad = c.grad_f(0.0, 2.0, 3.0, 4.0, 5.0)
    assert grad == (120.0, 0.0, 0.0, 0.0, 0.0)
    assert c.value_and_grad_f(0.0, 2.0, 3.0, 4.0, 5.0) == (0.0, (120.0, 0.0, 0.0, 0.0, 0.0))
    for i in range(5):
        args = tuple(0.0 if j == i else float(j + 2) for j in range(5))
        expected = tuple(_others(args, j) for j in range(5))
        assert c.grad_f(*args) == expected, f"zero at position {i}"


def test_product_of_eight_with_one_zero_is_exact() -> None:
    c = compile_text(PRODUCT_8)
    base = (2.0, -3.0, 0.5, 5.0, 1.5, -7.0, 4.0, 9.0)
    for i in range(8):
        args = tuple(0.0 if j == i else v for j, v in enumerate(base))
        grad = c.grad_f(*args)
        expected = tuple(_others(args, j) for j in range(8))
        assert grad == expected, f"zero at x{i + 1}: {grad}"
        assert grad[i] != 0.0
        assert all(g == 0.0 for j, g in enumerate(grad) if j != i)


def test_product_of_eight_with_two_zeros_is_exactly_zero() -> None:
    c = compile_text(PRODUCT_8)
    base = (2.0, -3.0, 0.5, 5.0, 1.5, -7.0, 4.0, 9.0)
    for i, j in itertools.combinations(range(8), 2):
        args = tuple(0.0 if k in (i, j) else v for k, v in enumerate(base))
        grad = c.grad_f(*args)
        assert grad == tuple(_others(args, k) for k in range(8)), f"zeros at {i}, {j}: {grad}"
        assert all(g == 0.0 and not math.isnan(g) for g in grad)


def test_product_of_three_with_x_zero() -> None:
    c = compile_text(
        """
        def f(x, y, z):
            return x * y * z
        """
    )
    for args in [(0.0, 2.5, -4.0), (0.0, -1.5, 3.0)]:
        assert c.grad_f(*args) == tuple(_others(args, j) for j in range(3))
        assert c.grad_f(*args)[1:] == (0.0, 0.0)


def test_product_gradient_cost_is_linear_in_the_factors() -> None:
    # Products of 5+ factors go through prefix products: O(k) multiplications, not O(k^2).
    for k in (5, 8, 12):
        params = ", ".join(f"x{i}" for i in range(k))
        c = compile_text(f"def f({params}):\n    return {params.replace(',', ' *')}\n")
        grad_f = c.source.split("def grad_f(")[1].split("def value_and_grad_f(")[0]
        code = "\n".join(line.split("#")[0] for line in grad_f.splitlines())
        multiplications = code.replace("**", "").count("*")
        assert multiplications <= 3 * k, f"{k} factors: {multiplications} multiplications"
        args = tuple(float(i + 2) for i in range(k))
        assert c.grad_f(*args) == tuple(_others(args, j) for j in range(k))


def test_products_with_powers_at_zero() -> None:
    c = compile_text(
        """
        def f(a, b, c, d, e, g):
            return a**2 * b**3 * c * d * e * g
        """
    )
    for args in [(0.0, 2.0, 3.0, 4.0, 5.0, 6.0), (2.0, 0.0, 3.0, 4.0, 5.0, 6.0)]:
        _, expected = reference(
            "def f(a, b, c, d, e, g):\n    return a**2 * b**3 * c * d * e * g\n", args
        )
        grad = c.grad_f(*args)
        for g, r in zip(grad, expected):
            assert g == float(r), f"at {args}: {grad} != {expected}"


# ---------------------------------------------------------------------------------------------
# abs at its kink
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    return abs(x)\n",
        "import math\n\ndef f(x):\n    return math.fabs(x)\n",
        "import numpy as np\n\ndef f(x):\n    return np.abs(x)\n",
        "def f(x):\n    return 3 * abs(2 * x)\n",
    ],
    ids=["abs", "math.fabs", "np.abs", "scaled"],
)
def test_abs_at_zero_has_subgradient_zero(source: str) -> None:
    c = compile_text(source)
    (g,) = c.grad_f(0.0)
    assert g == 0.0 and not math.isnan(g)
    assert c.f(0.0) == 0.0


def test_abs_kink_inside_an_expression() -> None:
    c = compile_text(
        """
        def f(x, y):
            return abs(x - 1) * y + x * y
        """
    )
    # At x = 1 the abs term contributes its subgradient 0: only x * y is left.
    _, smooth = reference("def f(x, y):\n    return x * y\n", (1.0, 3.0))
    assert c.grad_f(1.0, 3.0) == tuple(float(r) for r in smooth)


# ---------------------------------------------------------------------------------------------
# wrt: restricts and reorders, and the other adjoints are not computed
# ---------------------------------------------------------------------------------------------

SLIDE = CORPUS[1].source


def test_wrt_reverses_the_gradient() -> None:
    full = compile_text(SLIDE)
    swapped = compile_text(SLIDE, wrt=["w2", "w1"])
    only_w2 = compile_text(SLIDE, wrt=["w2"])
    rng = random.Random(7)
    for _ in range(POINTS):
        args = (rng.uniform(-1.5, 1.5), rng.uniform(0.5, 1.5))
        g = full.grad_f(*args)
        assert swapped.grad_f(*args) == g[::-1]
        value, grad = swapped.value_and_grad_f(*args)
        assert value == full.f(*args) and grad == g[::-1]
        assert only_w2.grad_f(*args) == (g[1],)
        _, expected = reference(SLIDE, args)
        assert close(swapped.grad_f(*args)[0], expected[1])


SEPARATE = """
from math import exp, sin

def f(w1, w2):
    return sin(w1) * w1 + exp(w2)
"""


def test_wrt_skips_the_adjoints_of_other_parameters() -> None:
    c1 = compile_text(SEPARATE, wrt=["w1"])
    c2 = compile_text(SEPARATE, wrt=["w2"])
    assert "w1bar" in c1.source and "w2bar" not in c1.source
    assert "w2bar" in c2.source and "w1bar" not in c2.source
    assert "cos" not in c2.source  # d/dw1 of sin(w1) is never needed
    full = compile_text(SEPARATE)
    for args in [(0.3, -1.2), (2.0, 0.5), (-1.1, 1.7)]:
        g = full.grad_f(*args)
        assert c1.grad_f(*args) == (g[0],)
        assert c2.grad_f(*args) == (g[1],)
        _, expected = reference(SEPARATE, args)
        assert close(c1.grad_f(*args)[0], expected[0])
        assert close(c2.grad_f(*args)[0], expected[1])
