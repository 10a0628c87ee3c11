"""The language of point 3: every accepted construct compiles to the right value and gradient.

The oracle for the primal is the source itself, exec'd as plain Python; the oracle for the
gradient is a 4th-order central finite-difference stencil of that plain-Python function.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import textwrap
from pathlib import Path

import pytest

import ad_compiler
from tests.conftest import compile_text, run_adc

POINT = (0.7, 0.4)


# ---------------------------------------------------------------------------------------------
# Oracles
# ---------------------------------------------------------------------------------------------


def plain(src: str) -> dict:
    """The namespace of the source run as ordinary Python (not as __main__)."""
    namespace: dict = {"__name__": "plain_python_oracle"}
    exec(compile(textwrap.dedent(src), "<oracle>", "exec"), namespace)
    return namespace


def fd_grad(fn, point) -> list[float]:
    """4th-order central differences of fn at point, one partial per argument."""
    out = []
    for i, x in enumerate(point):
        h = 1e-3 * max(1.0, abs(x))

        def at(t: float, i: int = i) -> float:
            p = list(point)
            p[i] = p[i] + t
            return float(fn(*p))

        out.append((-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h))
    return out


def check(
    src: str,
    name: str = "f",
    point: tuple = POINT,
    wrt: list[str] | None = None,
    compiled=None,
) -> None:
    """Compiled value, gradient and value_and_grad of `name` agree with the oracles."""
    compiled = compiled if compiled is not None else compile_text(src, wrt=wrt)
    oracle = plain(src)[name]
    params = list(inspect.signature(oracle).parameters)
    expected_value = oracle(*point)
    expected_all = fd_grad(oracle, point)
    wanted = wrt or params
    expected_grad = [expected_all[params.index(w)] for w in wanted]

    value = getattr(compiled, name)(*point)
    assert value == pytest.approx(expected_value, rel=1e-9, abs=1e-12)

    grad = getattr(compiled, f"grad_{name}")(*point)
    assert isinstance(grad, tuple)
    assert len(grad) == len(wanted)
    assert list(grad) == pytest.approx(expected_grad, rel=1e-6, abs=1e-8)

    both_value, both_grad = getattr(compiled, f"value_and_grad_{name}")(*point)
    assert both_value == pytest.approx(expected_value, rel=1e-9, abs=1e-12)
    assert list(both_grad) == pytest.approx(expected_grad, rel=1e-6, abs=1e-8)


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# Unary functions in every spelling
# ---------------------------------------------------------------------------------------------

UNARY = ["sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "asin", "acos", "atan"]
NUMPY_NAME = {"asin": "arcsin", "acos": "arccos", "atan": "arctan"}


def _spelling(fn: str, how: str) -> tuple[str, str]:
    """(import line, callable text) of unary function fn spelled `how`."""
    if how == "math":
        return "import math", f"math.{fn}"
    if how == "np":
        return "import numpy as np", f"np.{NUMPY_NAME.get(fn, fn)}"
    if how == "numpy":
        return "import numpy", f"numpy.{NUMPY_NAME.get(fn, fn)}"
    return f"from math import {fn}", fn


@pytest.mark.parametrize("how", ["math", "np", "numpy", "bare"])
@pytest.mark.parametrize("fn", UNARY)
def test_unary_function(fn: str, how: str) -> None:
    imp, g = _spelling(fn, how)
    src = f"""
{imp}


def f(x, y):
    return {g}(x) * y + {g}(x * y) - {g}(0.3 * x + 0.1 * y + 0.05) / y + {g}(0.5)
"""
    check(src)


@pytest.mark.parametrize("fn", ["arcsin", "arccos", "arctan"])
@pytest.mark.parametrize("module", ["np", "numpy"])
def test_numpy_arc_names(fn: str, module: str) -> None:
    imp = "import numpy as np" if module == "np" else "import numpy"
    src = f"""
{imp}


def f(x, y):
    u = {module}.{fn}(x - y)
    return u * u + {module}.{fn}(x * y * 2)
"""
    check(src)


@pytest.mark.parametrize("point", [(0.7, 0.4), (-0.7, 0.4), (0.3, -1.2), (-2.0, -0.5)])
def test_abs(point: tuple) -> None:
    src = """
def f(x, y):
    return abs(x - y) * y + abs(-2 * x) - abs(x * y - 1) + abs(x) ** 3
"""
    check(src, point=point)


# ---------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------

PI_E_SOURCES = {
    "math.pi": """
import math


def f(x, y):
    return math.sin(math.pi * x) * y + math.e * x - math.pi / y
""",
    "np.pi": """
import numpy as np


def f(x, y):
    return np.sin(np.pi * x) * y + np.e * x - np.pi / y
""",
    "numpy.pi": """
import numpy


def f(x, y):
    return numpy.sin(numpy.pi * x) * y + numpy.e ** x - numpy.pi / y
""",
    "bare pi": """
from math import cos, e, pi


def f(x, y):
    return cos(2 * pi * x / y) + e * x * y + pi ** 2 * y
""",
}


@pytest.mark.parametrize("src", PI_E_SOURCES.values(), ids=PI_E_SOURCES.keys())
def test_pi_and_e(src: str) -> None:
    check(src)


MODULE_CONSTANT_SOURCES = {
    "plain": """
A = 1.5
B = -2
C = 3


def f(x, y):
    return A * x ** C + B * y - C / x
""",
    "expressions": """
import math

K = 2 * math.pi
H = K / 4 + 1
P = 2 ** 3


def f(x, y):
    return math.sin(K * x) * H + P * y
""",
    "annotated": """
W: float = 0.25


def f(x, y):
    return W * x * y + W
""",
    "used by a helper": """
SCALE = 0.5


def g(t):
    return SCALE * t * t


def f(x, y):
    return g(x) + g(y) * SCALE
""",
}


@pytest.mark.parametrize(
    "src", MODULE_CONSTANT_SOURCES.values(), ids=MODULE_CONSTANT_SOURCES.keys()
)
def test_module_constants(src: str) -> None:
    check(src)


# ---------------------------------------------------------------------------------------------
# Parameters and defaults
# ---------------------------------------------------------------------------------------------


def test_numeric_literals() -> None:
    src = """
def f(x, y):
    return 3 * x + 0.25 * y + 1e-2 * x * y + 7 + 1_000 * x / 1e3 + 0x10 * y
"""
    check(src)


def test_defaults_are_kept() -> None:
    src = """
import math


def f(x=0.5, y=2.0, z=-1, w=3):
    return x * y ** 2 + z * math.sin(x) + w * z
"""
    compiled = compile_text(src)
    oracle = plain(src)["f"]
    defaults = (0.5, 2.0, -1, 3)
    assert compiled.f() == pytest.approx(oracle(), rel=1e-12)
    assert compiled.f(1.25) == pytest.approx(oracle(1.25), rel=1e-12)
    assert compiled.f(1.25, 0.5) == pytest.approx(oracle(1.25, 0.5), rel=1e-12)
    assert list(compiled.grad_f()) == pytest.approx(fd_grad(oracle, defaults), rel=1e-6)
    value, grad = compiled.value_and_grad_f()
    assert value == pytest.approx(oracle(), rel=1e-12)
    assert list(grad) == pytest.approx(fd_grad(oracle, defaults), rel=1e-6)
    partial = (1.25, 2.0, -1, 3)
    assert list(compiled.grad_f(1.25)) == pytest.approx(fd_grad(oracle, partial), rel=1e-6)
    for fn in (compiled.f, compiled.grad_f, compiled.value_and_grad_f):
        params = inspect.signature(fn).parameters.values()
        assert [p.default for p in params] == list(defaults)
    check(src, point=(0.7, 0.4, -1.3, 2.2))


def test_default_for_only_some_parameters() -> None:
    src = """
def f(x, y=2.5):
    return x * x * y - y
"""
    compiled = compile_text(src)
    oracle = plain(src)["f"]
    assert compiled.f(0.7) == pytest.approx(oracle(0.7), rel=1e-12)
    assert list(compiled.grad_f(0.7)) == pytest.approx(fd_grad(oracle, (0.7, 2.5)), rel=1e-6)
    check(src)


# ---------------------------------------------------------------------------------------------
# Statements
# ---------------------------------------------------------------------------------------------


def test_reassignment_ssa() -> None:
    src = """
from math import sin


def f(x, y):
    z = x * y
    z = z + sin(z)
    x = x * 2
    z = z * x
    y = z - y
    z = y / x
    return z + y * x
"""
    check(src)


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
def test_augmented_assignment(op: str) -> None:
    src = f"""
from math import sin


def f(x, y):
    z = sin(x)
    z {op} y * x
    z {op} 2.5
    x {op} y
    y {op} z
    return z * x + y
"""
    check(src)


def test_power_augmented_assignment() -> None:
    src = """
from math import sin


def f(x, y):
    z = sin(x) + y
    z **= 3
    z **= 0.5
    return z * y
"""
    check(src)


def test_function_without_parameters() -> None:
    src = """
import math


def k():
    return math.sqrt(2) * 3


def f(x, y):
    return k() * x * y
"""
    compiled = compile_text(src)
    oracle = plain(src)
    assert compiled.k() == pytest.approx(oracle["k"](), rel=1e-12)
    assert compiled.grad_k() == ()
    check(src, compiled=compiled)


def test_parameter_shadows_module_constant() -> None:
    src = """
A = 2.0
y = 5.0


def f(A, x):
    return A * x + y
"""
    check(src)


def test_return_of_parameter_and_constant() -> None:
    check("""
def f(x, y):
    return y
""")
    check("""
def f(x, y):
    z = 2.5
    return z
""")


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "src",
    [
        "return x + y",
        "return x - y",
        "return x * y",
        "return x / y",
        "return (x + y) * (x - y) / (x * y + 1)",
        "return 1 / x - 2 / (y * x) + x / 3",
        "return x * x / x + y - y * 2",
    ],
)
def test_binary_operators(src: str) -> None:
    check(f"def f(x, y):\n    {src}\n")


@pytest.mark.parametrize("k", ["2", "3", "0", "1", "-1", "-2", "-3", "0.5", "2.5", "-0.5", "1.5"])
def test_power_constant_exponent(k: str) -> None:
    src = f"""
def f(x, y):
    return (x + 2 * y) ** {k} + x ** {k} * y + (x * y) ** {k} + (3 * x) ** {k}
"""
    check(src)


@pytest.mark.parametrize("k", ["2", "3", "-1", "-2"])
def test_power_of_negative_base_integer_exponent(k: str) -> None:
    src = f"""
def f(x, y):
    return (x - 2) ** {k} * y + (-x) ** {k} + (-2 * y) ** {k}
"""
    check(src)


@pytest.mark.parametrize("point", [(0.7, 0.4), (-0.7, 0.4), (-1.3, -0.6)])
def test_power_of_power(point: tuple) -> None:
    src = """
def f(x, y):
    return (x ** 2) ** 0.5 + (x ** -2) ** -0.5 * y + (x * x) ** 1.5 + ((x * y) ** 2) ** 0.25
"""
    check(src, point=point)


@pytest.mark.parametrize(
    "expr",
    ["2 ** x", "0.5 ** (x * y)", "10 ** (x - y) + 3 ** -x", "math.e ** x * y", "2 ** (2 * x + 1)"],
)
def test_constant_to_variable_power(expr: str) -> None:
    src = f"""
import math


def f(x, y):
    return {expr}
"""
    check(src)


@pytest.mark.parametrize(
    "expr",
    [
        "-x * y",
        "+x * y",
        "-(x - y) ** 2",
        "- -x + y",
        "-math.sin(x) * +y",
        "-x ** 2 + +(-y)",
        "-(x * y) / -(y + 1)",
    ],
)
def test_unary_minus_and_plus(expr: str) -> None:
    src = f"""
import math


def f(x, y):
    return {expr}
"""
    check(src)


# ---------------------------------------------------------------------------------------------
# Helpers are inlined
# ---------------------------------------------------------------------------------------------

HELPER_SOURCES = {
    "positional": """
from math import exp


def h(a, b, c):
    return a * b + exp(c * a)


def f(x, y):
    return h(x, y, 0.5) + h(y, x, x * y)
""",
    "keyword": """
from math import exp


def h(a, b, c):
    return a * b - exp(c * a) / b


def f(x, y):
    return h(b=y, a=x, c=2.0) + h(x, c=y, b=x * y)
""",
    "defaults": """
from math import exp


def h(a, b=2.0, c=-0.5):
    return a * b + exp(c * a)


def f(x, y):
    return h(x) + h(x, y) + h(y, c=x) + h(a=y)
""",
    "defined after the caller": """
def f(x, y):
    return g(x, y) * g(y, x)


def g(u, v):
    return u * u - v
""",
    "helper locals do not leak": """
def g(x, y):
    z = x * 2
    x = x + y
    return z + x


def f(x, y):
    z = y * 3
    w = g(y, x)
    return z * w + x
""",
    "expression arguments": """
import math


def sq(t):
    return t * t


def f(x, y):
    return sq(math.sin(x) + y) + sq(sq(x * y)) + sq(2.0)
""",
}


@pytest.mark.parametrize("src", HELPER_SOURCES.values(), ids=HELPER_SOURCES.keys())
def test_helper_inlining(src: str) -> None:
    check(src)


def test_nested_helpers() -> None:
    src = """
import math


def inner(t):
    return t * t + math.cos(t)


def mid(u, v=3.0):
    return inner(u) * v + inner(v) / u


def outer(a, b):
    return mid(a, b) - mid(b)


def f(x, y):
    return outer(x, y) + inner(mid(x)) + mid(v=x, u=y)
"""
    check(src)
    for name in ("inner", "mid", "outer"):
        oracle = plain(src)[name]
        point = POINT[: len(inspect.signature(oracle).parameters)]
        check(src, name=name, point=point)


def test_all_functions_of_a_file_are_compiled() -> None:
    src = """
import math


def a(x):
    return math.exp(x) * x


def b(x, y):
    return a(x) * y - x


def c(p, q, r=1.0):
    return b(p, q) + a(r) * p * q


def d(s):
    return s
"""
    compiled = compile_text(src)
    points = {"a": (0.7,), "b": (0.7, 0.4), "c": (0.7, 0.4, 1.3), "d": (0.7,)}
    for name, point in points.items():
        for made in (name, f"grad_{name}", f"value_and_grad_{name}"):
            assert callable(getattr(compiled.module, made)), made
        check(src, name=name, point=point, compiled=compiled)


# ---------------------------------------------------------------------------------------------
# Gradient order and wrt
# ---------------------------------------------------------------------------------------------


def test_gradient_tuple_order_is_parameter_order() -> None:
    src = """
import math


def f(a, b, c):
    return a * b ** 2 + math.sin(c) * a + c / b
"""
    point = (0.7, 0.4, 1.9)
    check(src, point=point)
    grad = compile_text(src).grad_f(*point)
    expected = fd_grad(plain(src)["f"], point)
    for i in range(3):
        assert grad[i] == pytest.approx(expected[i], rel=1e-6)


@pytest.mark.parametrize("wrt", [["y", "x"], ["z"], ["z", "x", "y"], ["x", "z"]])
def test_wrt_restricts_and_orders(wrt: list[str]) -> None:
    src = """
import math


def f(x, y, z):
    return x * y ** 2 + math.exp(z * x) - z / y
"""
    check(src, point=(0.7, 0.4, 1.3), wrt=wrt)


# ---------------------------------------------------------------------------------------------
# Docstrings and the main guard
# ---------------------------------------------------------------------------------------------


def test_docstrings() -> None:
    src = '''
"""A module docstring."""

import math


def g(t):
    """A helper's docstring."""
    return t * t


def f(x, y):
    """The function's docstring.

    Several lines.
    """
    z = g(x) * y
    return math.sin(z)
'''
    check(src)


def test_main_guard_is_ignored() -> None:
    src = """
import math


def f(x, y):
    return math.sin(x) * y


if __name__ == "__main__":
    for i in range(3):
        print(f(i, 2.0))
    open("should_not_exist", "w")
"""
    compiled = compile_text(src)
    assert "print" not in compiled.source
    check(src, compiled=compiled)


# ---------------------------------------------------------------------------------------------
# Size: no recursion limit
# ---------------------------------------------------------------------------------------------


def _compile_and_check_cli(src: str, tmp_path: Path, point: tuple) -> None:
    path = tmp_path / "big.py"
    path.write_text(src, encoding="utf-8")
    out = tmp_path / "big_grad.py"
    result = run_adc("compile", str(path), "-o", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    module = load_module(out)
    oracle = plain(src)["f"]
    assert module.f(*point) == pytest.approx(oracle(*point), rel=1e-9, abs=1e-12)
    expected = fd_grad(oracle, point)
    assert list(module.grad_f(*point)) == pytest.approx(expected, rel=1e-6, abs=1e-8)
    value, grad = module.value_and_grad_f(*point)
    assert value == pytest.approx(oracle(*point), rel=1e-9, abs=1e-12)
    assert list(grad) == pytest.approx(expected, rel=1e-6, abs=1e-8)


def test_1500_terms_on_one_line(tmp_path: Path) -> None:
    terms = [
        f"{1 + (i % 7) / 8} * sin(x * {1 + i / 1000} + y)"
        if i % 2 == 0
        else f"{0.5 + (i % 5) / 9} * sin(x * {1 + i / 1000} + y)"
        for i in range(1500)
    ]
    src = "from math import sin\n\n\ndef f(x, y):\n    return " + " + ".join(terms) + "\n"
    assert src.count("\n") == 5
    _compile_and_check_cli(src, tmp_path, (0.3, 0.2))


TEN_THOUSAND = {
    "one re-assigned name": "    z = z * 0.9999 + 0.001 * sin(z * {k} + y)",
    "distinct names": "    z{i} = z{p} * 0.9999 + 0.001 * sin(z{q} * {k} + y) + 0.0001 * z{q}",
}


@pytest.mark.parametrize("shape", TEN_THOUSAND.values(), ids=TEN_THOUSAND.keys())
def test_10000_statements(tmp_path: Path, shape: str) -> None:
    lines = ["from math import sin", "", "", "def f(x, y):", "    z = x", "    z0 = x"]
    for i in range(1, 10_000 - 2):
        lines.append(shape.format(i=i, p=i - 1, q=max(0, i - 7), k=1 + i / 10_000))
    lines.append("    return z" + ("" if "{i}" not in shape else str(10_000 - 3)))
    assert len(lines) - 4 == 10_000
    src = "\n".join(lines) + "\n"
    _compile_and_check_cli(src, tmp_path, (0.3, 0.2))


def test_sanity_oracle_detects_wrong_gradient() -> None:
    """The checker itself fails on a wrong gradient (so the tests above can fail)."""

    class Wrong:
        @staticmethod
        def f(x, y):
            return x * y

        @staticmethod
        def grad_f(x, y):
            return (y, x + 1e-3)

        @staticmethod
        def value_and_grad_f(x, y):
            return x * y, (y, x + 1e-3)

    with pytest.raises(AssertionError):
        check("def f(x, y):\n    return x * y\n", compiled=Wrong())
    assert math.isfinite(fd_grad(lambda x: x * x, (2.0,))[0])


def test_subsumption_skips_a_step_rewritten_before_it() -> None:
    # Found by the long program fuzz: an affine step rewritten by subsumption was then offered
    # as a candidate by its old terms (KeyError inside adc). It must simply compile.
    text = (Path(__file__).parent / "data" / "subsume_rewritten_step.txt").read_text()
    compiled = ad_compiler.compile_source(text, "fuzz.py")
    assert len(compiled.traces["f"].steps) > 30
    compile(compiled.source, "fuzz_grad.py", "exec")
