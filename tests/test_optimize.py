"""The optimisation passes: each one changes what the generated code does, never its results."""

from __future__ import annotations

import ast
import itertools
import textwrap
import tracemalloc

import numpy as np
import pytest

from ad_compiler import optimize, parse
from ad_compiler.errors import Source

from .conftest import SAMPLES, compile_text

ALL = list(optimize.PASSES)


def function_node(source: str, name: str) -> ast.FunctionDef:
    """The `def name` of a generated module."""
    tree = ast.parse(source)
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def assigned(fn: ast.FunctionDef) -> list[str]:
    """The names the function assigns, in order."""
    return [t.id for n in fn.body if isinstance(n, ast.Assign) for t in n.targets]


def called(fn: ast.FunctionDef) -> set[str]:
    """The attribute names of every call in the function (`np.logaddexp` -> logaddexp)."""
    return {
        n.func.attr
        for n in ast.walk(fn)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }


def trace_of(text: str, name: str = "f"):
    mod = parse.read_module(Source(textwrap.dedent(text), "t.py"))
    return parse.lower_function(mod, name)


LOGISTIC = (SAMPLES / "logistic_regression.py").read_text()
MLP = (SAMPLES / "mlp.py").read_text()


def logistic_args(seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 5))
    return rng.normal(size=5), 0.3, X, np.sign(rng.normal(size=40)), 0.1


def mlp_args(seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    m, d = 6, 4
    return (
        rng.normal(size=(m, d)),
        rng.normal(size=(m, m)),
        rng.normal(size=m),
        rng.normal(size=(30, d)),
        (rng.random(30) < 0.5).astype(float),
    )


# ---------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------


def test_shape_parents_follow_elementwise_steps_and_know_scalars() -> None:
    trace = trace_of(
        """
        import numpy as np

        def f(x, A):
            u = np.exp(-x)
            s = np.sum(u)
            v = A @ u
            return s * np.mean(v + 1)
        """
    )
    parent = optimize.shape_parents(trace)
    x, A = trace.inputs
    by_op = {s.op: s.index for s in trace.steps}
    assert parent[by_op["exp"]] == x  # exp(-x) has x's shape
    assert parent[by_op["sum"]] is optimize.SCALAR
    assert parent[by_op["matmul"]] == by_op["matmul"]  # nothing cheaper tells A @ u's shape
    assert parent[x] == x and parent[A] == A


def test_gradient_skips_what_only_the_value_needs() -> None:
    on = compile_text(LOGISTIC, function="loss", wrt=["w", "b"])
    off = compile_text(LOGISTIC, function="loss", wrt=["w", "b"], passes=["dead-code"])
    assert "logaddexp" not in called(function_node(on.source, "grad_loss"))
    assert "logaddexp" in called(function_node(off.source, "grad_loss"))
    assert "logaddexp" in called(function_node(on.source, "value_and_grad_loss"))


def test_shape_only_reads_keep_a_value_that_is_needed_anyway() -> None:
    # z = exp(x) is needed by its own adjoint, so the mean's adjoint reads z, not x.
    text = "import numpy as np\n\ndef f(x):\n    return np.mean(np.exp(x))\n"
    grad = function_node(compile_text(text).source, "grad_f")
    line = next(n for n in grad.body if "_unmean" in ast.unparse(n))
    assert "_unmean(z2bar, z1," in ast.unparse(line)


# ---------------------------------------------------------------------------------------------
# Sigmoids
# ---------------------------------------------------------------------------------------------


def test_a_spelled_out_sigmoid_is_one_line_and_its_adjoint_reuses_its_value() -> None:
    source = compile_text(MLP, function="loss").source
    grad = function_node(source, "grad_loss")
    lines = [ast.unparse(n) for n in grad.body]
    assert "z5 = 1 / (np.exp(-z2) + 1)" in lines  # the source's arithmetic, in one line
    assert "z2bar = z5bar * z5 * (1 - z5)" in lines  # the seed's a(1 - a)
    assert not {"z3", "z4", "z8", "z9", "z3bar", "z4bar"} & set(assigned(grad))
    assert "z5 = sigmoid(z2), steps z3..z5: dz5/dz2 = z5 * (1 - z5)" in source


def test_sigmoid_is_not_fused_when_its_inner_steps_are_read_elsewhere() -> None:
    text = """
    import numpy as np

    def f(x):
        e = np.exp(-x)
        return np.sum(1 / (e + 1) + e)
    """
    source = compile_text(text).source
    assert {"z1", "z2", "z3"} <= set(assigned(function_node(source, "grad_f")))
    assert "sigmoid(" not in source


def test_sigmoid_is_not_fused_in_scalar_code() -> None:
    text = "import math\n\ndef f(x):\n    return 1 / (1 + math.exp(-x))\n"
    grad = function_node(compile_text(text).source, "grad_f")
    assert {"z1", "z2", "z3"} <= set(assigned(grad))


def test_fused_sigmoid_gradient_matches_finite_differences() -> None:
    text = "import numpy as np\n\ndef f(x):\n    return np.sum(1 / (1 + np.exp(-x)) * x)\n"
    compiled = compile_text(text)
    x = np.linspace(-30.0, 30.0, 13)
    (got,) = compiled.grad_f(x)
    s = 1 / (1 + np.exp(-x))
    want = s + x * s * (1 - s)  # by hand: d/dx (x s(x)) = s + x s'(x)
    h = 1e-6
    fd = np.array(
        [(compiled.f(x + h * e) - compiled.f(x - h * e)) / (2 * h) for e in np.eye(len(x))]
    )
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# Releasing arrays
# ---------------------------------------------------------------------------------------------


def deleted(fn: ast.FunctionDef) -> list[tuple[int, str]]:
    return [
        (i, t.id)
        for i, n in enumerate(fn.body)
        if isinstance(n, ast.Delete)
        for t in n.targets
        if isinstance(t, ast.Name)
    ]


@pytest.mark.parametrize("text, name", [(LOGISTIC, "loss"), (MLP, "loss")])
def test_released_names_are_never_read_again(text: str, name: str) -> None:
    source = compile_text(text, function=name).source
    for fname in (f"grad_{name}", f"value_and_grad_{name}"):
        fn = function_node(source, fname)
        dels = deleted(fn)
        assert dels, "array code releases its intermediates"
        for i, var in dels:
            later = {
                n.id for stmt in fn.body[i + 1 :] for n in ast.walk(stmt) if isinstance(n, ast.Name)
            }
            assert var not in later, f"{var} is read after `del {var}`"


def test_scalar_code_releases_nothing() -> None:
    source = compile_text(
        "import math\n\ndef f(x, y):\n    return math.sin(x * y) + x / y\n"
    ).source
    assert "del " not in source


def test_parameters_and_scalars_are_not_released() -> None:
    source = compile_text(LOGISTIC, function="loss").source
    names = {v for _, v in deleted(function_node(source, "grad_loss"))}
    assert not names & {"w", "b", "X", "y", "lam"}
    assert "z6" not in names and "z8" not in names  # np.mean and np.sum give scalars


def peak_bytes(fn, args: tuple) -> int:
    fn(*args)
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def hand_mlp(t1, t2, t3, X, y):
    """The seed's backprop for samples/mlp.py, vectorised over the batch, by hand."""
    a2 = 1 / (1 + np.exp(-(X @ t1.T)))
    a3 = 1 / (1 + np.exp(-(a2 @ t2.T)))
    z4 = a3 @ t3
    d4 = (1 / (1 + np.exp(-z4)) - y) / len(y)
    d3 = np.outer(d4, t3) * a3 * (1 - a3)
    d2 = (d3 @ t2) * a2 * (1 - a2)
    return d2.T @ X, d3.T @ a2, a3.T @ d4


def test_releasing_halves_the_peak_memory_of_the_mlp_gradient() -> None:
    rng = np.random.default_rng(1)
    n, d, m = 2_000, 20, 32
    args = (
        rng.normal(size=(m, d)),
        rng.normal(size=(m, m)),
        rng.normal(size=m),
        rng.normal(size=(n, d)),
        (rng.random(n) < 0.5).astype(float),
    )
    wrt = ["theta1", "theta2", "theta3"]
    on = compile_text(MLP, function="loss", wrt=wrt)
    off = compile_text(MLP, function="loss", wrt=wrt, passes=[p for p in ALL if p != "release"])
    for got, want in zip(on.grad_loss(*args), hand_mlp(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
    with_release = peak_bytes(on.grad_loss, args)
    assert with_release <= 0.6 * peak_bytes(off.grad_loss, args)
    assert with_release <= 1.05 * peak_bytes(hand_mlp, args)  # as little as by hand


# ---------------------------------------------------------------------------------------------
# Every subset of passes gives the same numbers
# ---------------------------------------------------------------------------------------------

SUBSETS = [list(c) for k in range(len(ALL) + 1) for c in itertools.combinations(ALL, k)]


@pytest.mark.parametrize("passes", SUBSETS, ids=lambda p: "+".join(p) or "none")
@pytest.mark.parametrize(
    "text, wrt, args",
    [
        (LOGISTIC, ["w", "b"], logistic_args()),
        (MLP, ["theta1", "theta2", "theta3"], mlp_args()),
    ],
    ids=["logistic", "mlp"],
)
def test_passes_never_change_results(passes: list[str], text: str, wrt: list[str], args) -> None:
    reference = compile_text(text, function="loss", wrt=wrt, passes=["dead-code"])
    compiled = compile_text(text, function="loss", wrt=wrt, passes=passes)
    want_value, want_grad = reference.value_and_grad_loss(*args)
    value, grad = compiled.value_and_grad_loss(*args)
    assert value == want_value
    # s (1 - s) rounds differently from the three steps' chain rule: equal to rounding only
    same = (
        (lambda a, b: np.allclose(a, b, rtol=1e-13, atol=0))
        if "sigmoid" in passes
        else np.array_equal
    )
    for got, want in zip(compiled.grad_loss(*args), want_grad):
        assert same(got, want)
    for got, want in zip(grad, want_grad):
        assert same(got, want)
        assert np.shape(got) == np.shape(want)


def test_unknown_pass_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown passes"):
        compile_text("def f(x):\n    return x * x\n", passes=["fold-everything"])
