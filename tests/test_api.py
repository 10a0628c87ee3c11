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
