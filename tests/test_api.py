"""The Python API: compile_source, compile_file, grad and value_and_grad of live functions."""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import subprocess
import sys
from math import cos

import numpy as np
import pytest

import ad_compiler
from ad_compiler import CompileError

from .conftest import ROOT, SAMPLES
from .docs import block

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


# ---------------------------------------------------------------------------------------------
# What is checked before any compiling, and errors that carry their place
# ---------------------------------------------------------------------------------------------

BROKEN = "def f(x):\n    return foo(x)\n"  # compiling it fails: `foo` is unknown


def test_a_bad_backend_or_pass_is_refused_before_any_compiling() -> None:
    with pytest.raises(ValueError, match="unknown backend 'fortran'"):
        ad_compiler.compile_source(BROKEN, backend="fortran")
    with pytest.raises(ValueError, match="unknown passes"):
        ad_compiler.compile_source(BROKEN, passes=["fold", "nope"])
    with pytest.raises(CompileError, match="unknown function `foo`"):
        ad_compiler.compile_source(BROKEN)  # the same source reaches the compiler otherwise


def test_numba_refuses_array_code_before_lowering_it() -> None:
    with pytest.raises(CompileError, match="the numba backend compiles scalar functions only"):
        ad_compiler.compile_source("import numpy as np\n\n\n" + BROKEN, backend="numba")


def test_an_output_path_that_cannot_be_written_is_reported_before_compiling(tmp_path) -> None:
    from click.testing import CliRunner

    from cli.main import main

    source = tmp_path / "f.py"
    source.write_text(BROKEN)
    result = CliRunner().invoke(main, ["compile", str(source), "-o", str(tmp_path / "no/f.py")])
    assert result.exit_code == 1
    assert "output directory" in result.stderr and "does not exist" in result.stderr
    assert "foo" not in result.stderr


def test_a_domain_error_through_the_api_shows_its_source_line() -> None:
    compiled = ad_compiler.compile_source(
        "import math\n\n\ndef f(x):\n    y = x + 1\n    return math.log(y)\n", filename="f.py"
    )
    with pytest.raises(CompileError) as caught:
        compiled.run_report({"x": -2.0})
    error = caught.value
    assert (error.filename, error.line) == ("f.py", 6)
    assert error.source_line == "    return math.log(y)"
    assert "    return math.log(y)\n           ^" in error.render()


# ---------------------------------------------------------------------------------------------
# Live functions: where their source is, where their errors are, what they read
# ---------------------------------------------------------------------------------------------


def _import(tmp_path, monkeypatch, name: str, text: str):
    """The module `name`, written to a file in tmp_path and imported from it."""
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def _place(error: CompileError) -> tuple[str, int, int, str]:
    return error.filename, error.line, error.col, error.source_line


def test_a_function_without_source_is_a_clear_error() -> None:
    namespace: dict = {}
    exec(
        compile("import math\n\n\ndef f(x):\n    return math.sin(x)\n", "<string>", "exec"),
        namespace,
    )
    with pytest.raises(CompileError) as caught:
        ad_compiler.grad(namespace["f"])
    error = caught.value
    assert error.message == (
        "Python cannot find the source of `f`: it was made by exec() or python -c"
    )
    assert _place(error) == ("<string>", 4, 1, "")
    assert "compile_source" in error.hint and "import it" in error.hint
    exec(compile("def g(x):\n    return x\n", "<typed>", "exec"), namespace)
    with pytest.raises(CompileError, match="made from the text <typed>, not a file"):
        ad_compiler.value_and_grad(namespace["g"])


LIVE_ERROR = "\n".join(  # what README.md shows: grad of a function typed into `python -c`
    [
        "import ad_compiler",
        "def f(x):",
        "    return x * x",
        "try:",
        "    ad_compiler.grad(f)",
        "except ad_compiler.CompileError as error:",
        "    print(error)",
    ]
)


def test_grad_under_python_c_says_why_and_what_to_do() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", LIVE_ERROR], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout == block("README.md", "live-no-source")
    assert proc.stdout.startswith("<string>:2:1: error: Python cannot find the source of `f`")


def test_a_lambda_is_refused_where_it_is_written(tmp_path, monkeypatch) -> None:
    mod = _import(tmp_path, monkeypatch, "lam", "import math\n\nsquare = lambda x: x * x\n")
    with pytest.raises(CompileError) as caught:
        ad_compiler.grad(mod.square)
    assert caught.value.message == "lambdas are not supported"
    assert _place(caught.value) == (str(tmp_path / "lam.py"), 3, 10, "square = lambda x: x * x")


def test_what_is_not_a_python_function_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not a partial"):
        ad_compiler.grad(functools.partial(live, 1.0))
    with pytest.raises(TypeError, match="not the built-in function `exp`"):
        ad_compiler.value_and_grad(math.exp)
    with pytest.raises(TypeError, match="not a _lru_cache_wrapper"):
        ad_compiler.grad(functools.lru_cache(live))


DEEP = (
    "import math\n"
    + "# padding\n" * 117
    + "class Model:\n"  # line 119
    + "    @staticmethod\n"
    + "    def loss(x, ñ):\n"  # line 121
    + "        y = math.sin(x)\n"
    + "        return ñ * 2 + (y << 3)\n"  # line 123: `y << 3` at column 25
)


def test_errors_are_at_the_line_and_column_of_the_file(tmp_path, monkeypatch) -> None:
    mod = _import(tmp_path, monkeypatch, "deep", DEEP)
    with pytest.raises(CompileError) as caught:
        ad_compiler.grad(mod.Model.loss)
    error = caught.value
    assert error.message == "operator `<<` is not supported"
    assert _place(error) == (str(tmp_path / "deep.py"), 123, 25, "        return ñ * 2 + (y << 3)")
    assert error.render().splitlines()[1:3] == [
        "    return ñ * 2 + (y << 3)",
        "                    ^",
    ]


HELPERS = """\
import numpy as np

X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.25]])


def model(w):
    return X @ w


def loss(w, __b__=2.0):
    return np.sum(model(w)) + (w << 2)
"""


def test_errors_after_inserted_arguments_keep_their_places(tmp_path, monkeypatch) -> None:
    # `loss` reads X through `model`, so both take it as a first argument: `def loss(X, w,
    # __b__=2.0)`, `model(X, w)`; the columns after those insertions are the file's
    mod = _import(tmp_path, monkeypatch, "helpers", HELPERS)
    with pytest.raises(CompileError) as caught:
        ad_compiler.grad(mod.loss)
    assert caught.value.message == "dunder name `__b__` is not allowed"
    assert _place(caught.value) == (
        str(tmp_path / "helpers.py"),
        10,
        13,
        "def loss(w, __b__=2.0):",
    )
    mod = _import(tmp_path, monkeypatch, "helpers2", HELPERS.replace("__b__", "b"))
    with pytest.raises(CompileError) as caught:
        ad_compiler.grad(mod.loss)
    assert caught.value.message == "operator `<<` is not supported"
    assert _place(caught.value) == (
        str(tmp_path / "helpers2.py"),
        11,
        32,
        "    return np.sum(model(w)) + (w << 2)",
    )


def test_errors_in_a_helper_are_in_the_helper_s_file(tmp_path, monkeypatch) -> None:
    _import(tmp_path, monkeypatch, "other", "def h(a):\n    return a ** 2 << 3\n")
    text = "from other import h\n\n\ndef f(a):\n    return h(a) + a\n"
    uses = _import(tmp_path, monkeypatch, "uses", text)
    with pytest.raises(CompileError) as caught:
        ad_compiler.grad(uses.f)
    assert caught.value.message == "operator `<<` is not supported"
    assert _place(caught.value) == (str(tmp_path / "other.py"), 2, 12, "    return a ** 2 << 3")


def test_an_unsupported_import_is_reported_where_it_is_read(tmp_path, monkeypatch) -> None:
    mod = _import(
        tmp_path, monkeypatch, "gcd", "from math import gcd\n\n\ndef f(x):\n    return gcd(x, 2)\n"
    )
    with pytest.raises(CompileError) as caught:
        ad_compiler.grad(mod.f)
    assert caught.value.message == "`math.gcd` is not supported"
    assert _place(caught.value) == (str(tmp_path / "gcd.py"), 5, 12, "    return gcd(x, 2)")


REGRESSION = """\
import numpy as np

X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.25]])
y = np.array([1.0, 0.0, 2.0])
RATE = 0.1
POWER = 2


def predict(w, b):
    return X @ w + b


def loss(w, b):
    return np.mean((predict(w, b) - y) ** POWER) + RATE * np.sum(w * w)
"""


def _loss_gradient(X, y, rate, w, b):
    """The gradient of mean((X @ w + b - y)^2) + rate * |w|^2, by hand."""
    r = X @ w + b - y
    return 2 * X.T @ r / len(y) + 2 * rate * w, 2 * np.mean(r)


def test_module_level_arrays_and_numbers_are_constants(tmp_path, monkeypatch) -> None:
    mod = _import(tmp_path, monkeypatch, "regression", REGRESSION)
    w, b = np.array([0.3, -0.2]), 0.4
    gw, gb = _loss_gradient(mod.X, mod.y, 0.1, w, b)
    grads = ad_compiler.grad(mod.loss)(w, b)
    assert len(grads) == 2 and grads[0].shape == (2,)
    np.testing.assert_allclose(grads[0], gw, rtol=1e-13)
    assert grads[1] == pytest.approx(gb, rel=1e-13)
    value, (only_b,) = ad_compiler.value_and_grad(mod.loss, wrt=["b"])(w, b=b)
    assert value == pytest.approx(mod.loss(w, b), rel=1e-14)
    assert only_b == pytest.approx(gb, rel=1e-13)
    with pytest.raises(CompileError, match="`loss` has no parameter `X` to differentiate by"):
        ad_compiler.grad(mod.loss, wrt=["X"])


def test_values_are_read_when_grad_is_called(tmp_path, monkeypatch) -> None:
    mod = _import(tmp_path, monkeypatch, "regression_later", REGRESSION)
    w, b = np.array([0.3, -0.2]), 0.4
    before = _loss_gradient(mod.X.copy(), mod.y.copy(), 0.1, w, b)
    g = ad_compiler.grad(mod.loss)
    mod.X[0, 0] = 10.0  # changed in place
    mod.y = np.zeros(3)  # rebound
    mod.RATE = 2.0
    np.testing.assert_allclose(g(w, b)[0], before[0], rtol=1e-13)
    after = _loss_gradient(mod.X, mod.y, 2.0, w, b)
    np.testing.assert_allclose(ad_compiler.grad(mod.loss)(w, b)[0], after[0], rtol=1e-13)
    assert not np.allclose(before[0], after[0])


FACTORY = """\
import math

import numpy as np

top = 100.0


def make(scale, A):
    top = 1.0

    def inner(x, k=2.0 * top):  # Python computes k = 2.0 here, from this `top`
        return math.sin(scale * x) * k

    def quadratic(w):
        return np.sum((A @ w) ** 2) * scale

    return inner, quadratic
"""


def test_closure_cells_are_constants(tmp_path, monkeypatch) -> None:
    mod = _import(tmp_path, monkeypatch, "factory", FACTORY)
    A = np.array([[1.0, 2.0], [3.0, -1.0]])
    inner, quadratic = mod.make(1.5, A)
    value, grads = ad_compiler.value_and_grad(inner)(0.7)
    assert value == pytest.approx(inner(0.7), rel=1e-14)
    assert grads[0] == pytest.approx(_fd(inner, (0.7, 2.0), 0), rel=1e-8)
    assert grads[1] == pytest.approx(_fd(inner, (0.7, 2.0), 1), rel=1e-8)
    assert ad_compiler.grad(inner, wrt=["x"])(0.7, 5.0)[0] == pytest.approx(
        _fd(inner, (0.7, 5.0), 0), rel=1e-8
    )
    w = np.array([0.3, -0.2])
    (gw,) = ad_compiler.grad(quadratic)(w)
    np.testing.assert_allclose(gw, 2 * 1.5 * A.T @ (A @ w), rtol=1e-13)


def test_a_number_that_cannot_be_written_is_passed_in(tmp_path, monkeypatch) -> None:
    mod = _import(
        tmp_path,
        monkeypatch,
        "capped",
        "import math\n\nCAP = math.inf\n\n\ndef f(x):\n    return min(x * x, CAP)\n",
    )
    value, grads = ad_compiler.value_and_grad(mod.f)(3.0)
    assert (value, grads) == (9.0, (6.0,))


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        ("[1.0, 2.0]", "`DATA` is a list, which adc cannot compile", "np.asarray"),
        ("{'a': 1.0}", "`DATA` is a dict, which adc cannot compile", "as a parameter"),
        ("True", "`DATA` is a bool, which adc cannot compile", "as a parameter"),
        ("os", "`DATA` is the module `os`, which adc cannot compile", "math and numpy"),
        ("np.array(['a'])", "`DATA` is a numpy array of <U1, which adc cannot compile", "numbers"),
    ],
)
def test_a_global_adc_cannot_compile_is_a_clear_error(
    value, message, hint, tmp_path, monkeypatch
) -> None:
    text = (
        f"import os\n\nimport numpy as np\n\nDATA = {value}\n\n\ndef f(x):\n    return x * DATA\n"
    )
    mod = _import(tmp_path, monkeypatch, "reads", text)
    with pytest.raises(CompileError) as caught:
        ad_compiler.grad(mod.f)
    assert caught.value.message == message and hint in caught.value.hint
    assert _place(caught.value) == (str(tmp_path / "reads.py"), 9, 16, "    return x * DATA")


CLASHES = """\
import functools

import numpy as np

from other import g
from other import g as gee

X = np.array([1.0, 2.0])


def two_xs(w):
    return g(w) + np.sum(X * w)


def alias(w):
    return gee(w)


def own_x(w, X):
    return g(w) + X


def logged(fn):
    @functools.wraps(fn)
    def wrapper(x):
        return fn(x)

    return wrapper


@logged
def wrapped(x):
    return x


def nothing():
    return np.sum(X)
"""


def test_names_adc_cannot_put_in_one_module_are_clear_errors(tmp_path, monkeypatch) -> None:
    _import(
        tmp_path,
        monkeypatch,
        "other",
        "import numpy as np\n\nX = np.ones(2)\n\n\ndef g(w):\n    return np.sum(X * w)\n",
    )
    mod = _import(tmp_path, monkeypatch, "clashes", CLASHES)
    here, there = str(tmp_path / "clashes.py"), str(tmp_path / "other.py")
    expected = [
        (mod.two_xs, "`X` is one value in `two_xs` and another in `g`", there, 7, 19),
        (mod.alias, "`gee` is the function `g` under another name", here, 16, 12),
        (
            mod.own_x,
            "`own_x` has its own `X` and calls `g`, which reads the module-level `X`",
            here,
            20,
            12,
        ),
        (mod.wrapped, "`wrapped` is wrapped by a decorator", here, 31, 1),
        (mod.nothing, "`nothing` has no parameters to differentiate by", here, 36, 1),
    ]
    for fn, message, path, line, col in expected:
        with pytest.raises(CompileError) as caught:
            ad_compiler.grad(fn)
        error = caught.value
        assert (error.message, error.filename, error.line, error.col) == (
            message,
            path,
            line,
            col,
        ), fn


def test_a_changed_source_file_is_reported(tmp_path, monkeypatch) -> None:
    mod = _import(tmp_path, monkeypatch, "changing", "def f(x):\n    return x * x\n")
    (tmp_path / "changing.py").write_text("X = 1.0\n\n\ndef g(x):\n    return x\n")
    with pytest.raises(CompileError) as caught:
        ad_compiler.grad(mod.f)
    assert caught.value.message == f"{tmp_path / 'changing.py'} has changed since `f` was defined"
    assert "reload" in caught.value.hint


def test_readme_live_example_runs(tmp_path) -> None:
    script = tmp_path / "live_example.py"
    checks = (
        "\nw, b = np.zeros(2), 0.5\n"
        "r = X @ w + b - y\n"
        "gw, gb = ad_compiler.grad(loss)(w, b)\n"
        "assert np.allclose(gw, 2 * X.T @ r / 3, rtol=1e-14, atol=0)\n"
        "assert abs(gb - 2 * np.mean(r)) < 1e-14\n"
        "print(len(ad_compiler.grad(loss)(w, b)))\n"
    )
    script.write_text(block("README.md", "live-constants") + checks)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "2\n"
