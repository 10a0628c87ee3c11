"""The optimisation passes: each one changes what the generated code does, never its results."""

from __future__ import annotations

import ast
import functools
import itertools
import math
import random
import re
import textwrap
import tracemalloc

import numpy as np
import pytest

from ad_compiler.backend import passes as optimize
from ad_compiler.backend import reverse
from ad_compiler.backend.passes import arrays, scalar
from ad_compiler.core.errors import Source
from ad_compiler.frontend import module as parse

from .conftest import SAMPLES, compile_text

ALL = list(optimize.PASSES)
FUZZ = pytest.mark.fuzz  # long property runs: `make fuzz`, not `make test`


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
    parent = arrays.shape_parents(trace)
    x, A = trace.inputs
    by_op = {s.op: s.index for s in trace.steps}
    assert parent[by_op["exp"]] == x  # exp(-x) has x's shape
    assert parent[by_op["sum"]] is arrays.SCALAR
    assert parent[by_op["matmul"]] == by_op["matmul"]  # nothing cheaper tells A @ u's shape
    assert parent[x] == x and parent[A] == A


def test_shape_parents_know_a_broadcast_of_shapes_already_seen() -> None:
    # log(1 + exp(u)) - y * u broadcasts u with y * u, which is y * u's shape whatever y is;
    # x + A broadcasts shapes never seen together, so nothing earlier tells it.
    trace = trace_of(
        """
        import numpy as np

        def f(u, y, x, A):
            return np.mean(np.logaddexp(0, u) - y * u) + np.sum(x + A)
        """
    )
    parent = arrays.shape_parents(trace)
    u, y, x, A = trace.inputs
    by_op = {s.op: s.index for s in trace.steps}
    times = by_op["product"]
    assert parent[by_op["logaddexp"]] == u
    difference = next(s.index for s in trace.steps if set(s.args) == {by_op["logaddexp"], times})
    assert parent[difference] == times
    total = next(s.index for s in trace.steps if set(s.args) == {x, A})
    assert parent[total] == total


def test_mlp_gradient_skips_the_loss_values_logaddexp() -> None:
    """With tanh layers nothing can fail, and the gradient skips the loss's logaddexp; with
    the sigmoid's exp, which can overflow, it computes the loss to give nan where it is not
    finite."""
    tanh = MLP.replace("return 1 / (1 + np.exp(-z))", "return np.tanh(z)")
    assert tanh != MLP
    on = compile_text(tanh, function="loss", wrt=["theta1", "theta2", "theta3"])
    assert "logaddexp" not in called(function_node(on.source, "grad_loss"))
    assert "logaddexp" in called(function_node(on.source, "value_and_grad_loss"))
    sigmoid = compile_text(MLP, function="loss", wrt=["theta1", "theta2", "theta3"])
    grad = function_node(sigmoid.source, "grad_loss")
    assert "logaddexp" in called(grad) and "_defined(" in ast.unparse(grad)


def test_gradient_skips_what_only_the_value_needs() -> None:
    on = compile_text(LOGISTIC, function="loss", wrt=["w", "b"])
    off = compile_text(LOGISTIC, function="loss", wrt=["w", "b"], passes=["dead-code"])
    assert "logaddexp" not in called(function_node(on.source, "grad_loss"))
    assert "logaddexp" in called(function_node(off.source, "grad_loss"))
    assert "logaddexp" in called(function_node(on.source, "value_and_grad_loss"))


def test_shape_only_reads_keep_a_value_that_is_needed_anyway() -> None:
    # z = exp(x) is needed by its own adjoint, so the mean's adjoint reads z, not x.
    text = "import numpy as np\n\ndef f(x):\n    return np.mean(np.exp(x))\n"
    without_uniform = [p for p in ALL if p != "uniform"]
    grad = function_node(compile_text(text, passes=without_uniform).source, "grad_f")
    line = next(n for n in grad.body if "_unmean" in ast.unparse(n))
    assert "_unmean(1.0, z1," in ast.unparse(line)  # the seed z2bar = 1.0, folded


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
    assert {"z1", "z3"} <= set(assigned(grad))  # `fuse` computes z2 = z1 + 1 inside z3's line
    assert "(1 - z3)" not in ast.unparse(grad)


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
# Uniform adjoints kept as numbers; negations moved to numbers or cancelled
# ---------------------------------------------------------------------------------------------


def statements(fn: ast.FunctionDef) -> list[str]:
    return [ast.unparse(n) for n in fn.body]


def helpers_called(fn: ast.FunctionDef) -> set[str]:
    """The bare names called in the function (adc's helpers: `_unmean(...)` -> _unmean)."""
    return {
        n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }


def central_difference(f, args: tuple, i: int, h: float = 1e-6) -> np.ndarray:
    """d f / d args[i], elementwise, by 4th-order central differences: the oracle."""
    x = np.asarray(args[i], dtype=float)
    out = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        values = []
        for step in (-2, -1, 1, 2):
            moved = x.copy()
            moved[k] += step * h
            values.append(f(*args[:i], moved, *args[i + 1 :]))
        out[k] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * h)
    return out


def test_logistic_gradient_keeps_the_means_adjoint_a_number_and_negates_nothing() -> None:
    compiled = compile_text(LOGISTIC, function="loss", wrt=["w", "b"])
    grad = function_node(compiled.source, "grad_loss")
    lines = statements(grad)
    assert not {"_unmean", "_unsum"} & helpers_called(grad)
    assert any(re.fullmatch(r"z\d+bar = z\d+bar / np.size\(z\d+\)", line) for line in lines)
    # no array is negated: the seed's sign goes to the number 1/n, and -(-margins) cancels
    negations = [n for n in ast.walk(grad) if isinstance(n, ast.UnaryOp)]
    assert [ast.unparse(n.operand) for n in negations] == [
        next(line.split(" = ")[0] for line in lines if "np.size" in line)
    ]
    off = compile_text(LOGISTIC, function="loss", wrt=["w", "b"], passes=["dead-code"])
    off_grad = function_node(off.source, "grad_loss")
    assert "_unmean" in helpers_called(off_grad)
    without = compile_text(
        LOGISTIC, function="loss", wrt=["w", "b"], passes=[p for p in ALL if p != "uniform"]
    )
    negated = [n for n in ast.walk(function_node(without.source, "grad_loss"))]
    negated = [n for n in negated if isinstance(n, ast.UnaryOp)]
    assert len(negated) == 3  # -z3 in the primal, -z4 into the sigmoid, -z4bar in the sweep
    args = logistic_args()
    w_oracle = central_difference(compiled.loss, args, 0)
    np.testing.assert_allclose(compiled.grad_loss(*args)[0], w_oracle, rtol=1e-8, atol=1e-10)


def test_a_sums_adjoint_stays_a_number_when_multiplied_by_a_full_array() -> None:
    text = "import numpy as np\n\ndef f(w):\n    return np.sum(w * w) + np.mean(np.exp(w))\n"
    compiled = compile_text(text)
    grad = function_node(compiled.source, "grad_f")
    assert not {"_unsum", "_unmean"} & helpers_called(grad)
    w = np.linspace(-1.0, 1.0, 7)
    (got,) = compiled.grad_f(w)
    assert got.shape == w.shape
    np.testing.assert_allclose(got, 2 * w + np.exp(w) / w.size, rtol=1e-14)


@pytest.mark.parametrize(
    "body, why",
    [
        ("np.mean(x)", "the adjoint is x's own gradient: it must be a whole array"),
        ("np.mean(x * v)", "x's adjoint multiplies by v, which is smaller than x"),
        ("np.sum(np.tanh(x)) * 2.0", "the product reads the adjoint through tanh's partial"),
    ],
)
def test_an_adjoint_stays_an_array_where_a_reader_needs_its_shape(body: str, why: str) -> None:
    text = f"import numpy as np\n\ndef f(x, v):\n    return {body}\n"
    compiled = compile_text(text)
    rng = np.random.default_rng(3)
    x, v = rng.normal(size=(3, 4)), rng.normal(size=4)
    gx, gv = compiled.grad_f(x, v)
    assert np.shape(gx) == x.shape and np.shape(gv) == v.shape, why
    np.testing.assert_allclose(gx, central_difference(compiled.f, (x, v), 0), rtol=1e-7)
    np.testing.assert_allclose(gv, central_difference(compiled.f, (x, v), 1), atol=1e-8)


def test_mean_of_an_argument_keeps_its_array_adjoint() -> None:
    text = "import numpy as np\n\ndef f(x):\n    return np.mean(x)\n"
    grad = function_node(compile_text(text).source, "grad_f")
    assert "_unmean" in helpers_called(grad)


@pytest.mark.parametrize(
    "body, derivative",
    [
        # `z1bar = z2bar * s; xbar = -z1bar` becomes one line `xbar = -3.0 * s`
        ("np.sum(np.logaddexp(0, -x)) * 3.0", lambda x: -3.0 / (1 + np.exp(x))),
        # `-(1.0 * (1 - t * t))` becomes `-1.0 * (1 - t * t)`: one array operation, not two
        ("np.sum(np.tanh(-x))", lambda x: -(1 - np.tanh(-x) ** 2)),
    ],
)
def test_a_negation_of_a_product_with_a_number_moves_to_the_number(body: str, derivative) -> None:
    text = f"import numpy as np\n\ndef f(x):\n    return {body}\n"
    negated = {}
    for name, passes in [("on", None), ("off", [p for p in ALL if p != "uniform"])]:
        compiled = compile_text(text, passes=passes)
        grad = function_node(compiled.source, "grad_f")
        sweep = [n for n in grad.body if isinstance(n, ast.Assign) and "bar" in ast.unparse(n)]
        negated[name] = [
            ast.unparse(n)
            for line in sweep
            for n in ast.walk(line)
            if isinstance(n, ast.UnaryOp) and not isinstance(n.operand, ast.Constant)
        ]
        x = np.linspace(-1.0, 1.0, 5)
        np.testing.assert_allclose(compiled.grad_f(x)[0], derivative(x), rtol=1e-14)
    assert negated["off"] and not negated["on"]


# ---------------------------------------------------------------------------------------------
# Every subset of passes gives the same numbers
# ---------------------------------------------------------------------------------------------

# `fuse` leaves array code as it is (test_fusing_leaves_array_code_alone)
ARRAY_PASSES = [p for p in ALL if p != "fuse"]
SUBSETS = [
    list(c) for k in range(len(ARRAY_PASSES) + 1) for c in itertools.combinations(ARRAY_PASSES, k)
]


def representative(subsets: list[list[str]], passes: list[str], sample: int) -> list[list[str]]:
    """None, all, each pass alone, all but each one, and `sample` others drawn from a fixed
    seed: the subsets `make test` tries; `make fuzz` (the `fuzz` marker) tries every one."""
    chosen = [[], list(passes)]
    chosen += [[p] for p in passes] + [[q for q in passes if q != p] for p in passes]
    others = [s for s in subsets if s not in chosen]
    return chosen + random.Random(20240611).sample(others, min(sample, len(others)))


FAST_SUBSETS = representative(SUBSETS, ARRAY_PASSES, 24)
assert len(SUBSETS) == 2 ** len(ARRAY_PASSES) and all(s in SUBSETS for s in FAST_SUBSETS)


@functools.cache
def reference_compiled(text: str, wrt: tuple[str, ...]):
    """The loss compiled with dead-code elimination only: what every subset is compared with."""
    return compile_text(text, function="loss", wrt=list(wrt), passes=["dead-code"])


@pytest.mark.parametrize(
    "passes",
    [
        pytest.param(s, id="+".join(s) or "none", marks=() if s in FAST_SUBSETS else FUZZ)
        for s in SUBSETS
    ],
)
@pytest.mark.parametrize(
    "text, wrt, args",
    [
        (LOGISTIC, ["w", "b"], logistic_args()),
        (MLP, ["theta1", "theta2", "theta3"], mlp_args()),
    ],
    ids=["logistic", "mlp"],
)
def test_passes_never_change_results(passes: list[str], text: str, wrt: list[str], args) -> None:
    reference = reference_compiled(text, tuple(wrt))
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


# ---------------------------------------------------------------------------------------------
# Scalar clean-up: constants, copies, shared subexpressions
# ---------------------------------------------------------------------------------------------

SLIDE = (SAMPLES / "slide.py").read_text()
BAYDIN = (SAMPLES / "baydin.py").read_text()
CHAIN = "".join(
    f"    a = sin(a) * {0.5 + i / 100} + b * 0.25\n    b = a * b + cos(b) * {0.5 + i / 100}\n"
    for i in range(6)
)
CHAIN = (
    f"from math import sin, cos\n\ndef f(x, y):\n    a = x\n    b = y\n{CHAIN}    return a + b\n"
)


def test_the_seed_is_folded_into_the_lines_that_read_it() -> None:
    # z6 = z5 * z4: z5bar = z6bar * z4 with z6bar = 1.0 is z4 itself (a float: z3 = exp(...))
    off = function_node(compile_text(SLIDE, passes=["dead-code"]).source, "grad_f")
    on = function_node(compile_text(SLIDE, passes=["fold", "dead-code"]).source, "grad_f")
    assert "z6bar" in assigned(off) and "z6bar" not in assigned(on)
    assert "z5bar = z4" in ast.unparse(on) and "z6bar" not in ast.unparse(on)
    # a constant adjoint accumulated into: z7bar = 1.0 (a copy of the seed), z7bar += z8bar * z6
    chain = ast.unparse(function_node(compile_text(CHAIN, passes=["fold"]).source, "grad_f"))
    assert re.search(r"\bz\d+bar = 1\.0 \+ z\d+\n", chain), chain


def test_folding_keeps_the_type_of_an_int_argument() -> None:
    c = compile_text("def f(x, y):\n    return x * y + x\n")
    grads = c.grad_f(2, 3)
    assert grads == (4.0, 2.0) and all(type(g) is float for g in grads)
    assert "ybar = 1.0 * x" in c.source  # x may be an int: the seed makes the product a float


def test_array_gradients_never_become_an_argument_or_an_intermediate() -> None:
    text = "import numpy as np\n\ndef f(x, y):\n    return np.sum(x * y)\n"
    c = compile_text(text)
    x, y = np.arange(3.0), np.arange(3.0) + 1
    gx, gy = c.grad_f(x, y)
    assert gx is not y and gy is not x
    np.testing.assert_array_equal(gx, y)
    np.testing.assert_array_equal(gy, x)


def test_copies_disappear_and_the_copied_adjoint_is_read_instead() -> None:
    # z5 = z2 + z4: z2bar = z5bar; sin's adjoint then reads z5bar (z4 once folded)
    off = function_node(compile_text(SLIDE, passes=["fold", "dead-code"]).source, "grad_f")
    on = function_node(compile_text(SLIDE, passes=["fold", "copies", "dead-code"]).source, "grad_f")
    assert "z2bar" in assigned(off) and "z2bar" not in assigned(on)
    assert len(assigned(on)) == len(assigned(off)) - 2  # z2bar, and z5bar = z4


def _program(text: str, lines: list[tuple]):
    """A gradient program of `text`'s trace whose body is `lines`: (target, expr[, accumulate])."""
    from ad_compiler.core.ir import Assign, Program

    trace = trace_of(text)
    body = [
        Assign(t, e, "edge", step=1, accumulate=bool(rest and rest[0])) for t, e, *rest in lines
    ]
    return Program("grad_f", trace, body, None, (lines[-1][0],), ("x",))


def test_a_copy_is_kept_when_either_name_is_assigned_again() -> None:
    from ad_compiler.core.expr import BinOp, Const, Temp, Var

    a, b, x = Temp(1), Temp(2), Var(0)
    text = "def f(x):\n    return x * x\n"
    kept = _program(text, [(b, x), (a, b), (b, BinOp("*", b, x)), (a, BinOp("+", a, b))])
    assert optimize.propagate_copies(kept).body == kept.body
    gone = _program(text, [(b, BinOp("*", x, x)), (a, b), (Temp(3), BinOp("+", a, Const(1.0)))])
    body = optimize.propagate_copies(gone).body
    assert [line.target for line in body] == [b, Temp(3)]
    assert body[1].expr == BinOp("+", b, Const(1.0))


def test_a_shared_computation_is_done_once_in_the_gradient_only() -> None:
    c = compile_text(SLIDE)
    grad = ast.unparse(function_node(c.source, "grad_f"))
    primal = ast.unparse(function_node(c.source, "f"))
    # sin(2 pi z1) in the primal and cos(2 pi z1) in its adjoint share 2 pi z1
    assert grad.count("6.283185307179586 * z1") == 1 and "cos(_t1)" in grad
    assert "_t" not in primal
    off = ast.unparse(
        function_node(compile_text(SLIDE, passes=["fold", "copies", "dead-code"]).source, "grad_f")
    )
    assert off.count("6.283185307179586 * z1") == 2


def test_a_computation_in_a_branch_is_not_hoisted() -> None:
    from ad_compiler.core.expr import BinOp, Call, Const, Select, Temp, Var

    x = Var(0)
    log = Call("math", "log", (x,))
    guarded = Select(BinOp(">", x, Const(0)), log, Const(0.0))
    program = _program(
        "def f(x):\n    return x * x\n", [(Temp(1), guarded), (Temp(2), BinOp("*", Temp(1), log))]
    )
    assert optimize.eliminate_common_subexpressions(program).body == program.body


SCALAR_SUBSETS = [
    list(c) for k in range(5) for c in itertools.combinations(["fold", "copies", "cse", "fuse"], k)
]


@pytest.mark.parametrize("passes", SCALAR_SUBSETS, ids=lambda p: "+".join(p) or "none")
@pytest.mark.parametrize(
    "text, args",
    [(SLIDE, (0.7, 1.3)), (BAYDIN, (2.0, 5.0)), (CHAIN, (0.3, -0.8))],
    ids=["slide", "baydin", "chain"],
)
def test_scalar_passes_change_no_bit(passes: list[str], text: str, args: tuple) -> None:
    reference = compile_text(text, passes=["dead-code"])
    compiled = compile_text(text, passes=[*passes, "dead-code"])
    assert compiled.grad_f(*args) == reference.grad_f(*args)
    assert compiled.value_and_grad_f(*args) == reference.value_and_grad_f(*args)


def sweep_lines(source: str, name: str = "grad_f") -> list[str]:
    """The reverse sweep's lines of function `name` in a generated module."""
    text = source[source.index(f"def {name}(") :]
    text = text[text.index("# reverse sweep") : text.index("    return ")]
    return [line.strip() for line in text.splitlines()[1:]]


def test_contributions_to_an_adjoint_are_summed_in_one_line() -> None:
    # b feeds sin's partner cos(b), a * b and the next a: three children, one line
    off = sweep_lines(compile_text(CHAIN, passes=[p for p in ALL if p != "fuse"]).source)
    on = sweep_lines(compile_text(CHAIN).source)
    assert len(on) < len(off) / 2
    # b's adjoint: a from a * b, - (... sin(b)) from cos(b), + 0.25 * abar from the next a;
    # -(s) + a written a - s: the same bits, one operation fewer
    b_sum = re.compile(
        r"\w+bar = (\w+bar \* )?\w+ - 0\.5\d* \* (\w+ \* )?sin\(\w+\) \+ 0\.25 \* z\d+bar  #"
    )
    summed = [line for line in on if b_sum.match(line)]
    assert len(summed) == 6 and all("= cos(" in line.partition("#")[2] for line in summed)
    assert not any(re.search(r"= -\(|[-+*(] -\(", line.partition("  #")[0]) for line in on)
    trace_steps = {f"{s.index}" for s in trace_of(CHAIN).steps}
    for line in on:  # each comment is the steps the line does, separated by `; `
        code, _, comment = line.partition("  # ")
        for step in comment.split("; "):
            assert re.fullmatch(r"z(\d+) = .+", step) and step[1:].split(" ")[0] in trace_steps


SLOPES = {  # twelve children of x, and the slope of each at x
    "sin": math.cos,
    "cos": lambda x: -math.sin(x),
    "exp": math.exp,
    "tanh": lambda x: 1 - math.tanh(x) ** 2,
    "atan": lambda x: 1 / (1 + x * x),
    "sinh": math.cosh,
    "cosh": math.sinh,
    "log": lambda x: 1 / x,
    "sqrt": lambda x: 0.5 / math.sqrt(x),
    "asin": lambda x: 1 / math.sqrt(1 - x * x),
    "acos": lambda x: -1 / math.sqrt(1 - x * x),
    "log1p": lambda x: 1 / (1 + x),
}


def test_a_fused_line_stands_for_at_most_a_few_steps() -> None:
    terms = " + ".join(f"{f}(x)" for f in SLOPES)
    imports = f"from math import {', '.join(SLOPES)}\n\n"
    c = compile_text(f"{imports}def f(x):\n    return {terms}\n")
    lines = sweep_lines(c.source)
    assert all(line.partition("  # ")[2].count("; ") < scalar.FUSED_AT_MOST for line in lines)
    assert sum(line.startswith("xbar = ") for line in lines) >= len(SLOPES) / scalar.FUSED_AT_MOST
    exact = sum(slope(0.3) for slope in SLOPES.values())
    assert math.isclose(c.grad_f(0.3)[0], exact, rel_tol=1e-13)


def test_fusing_respects_branches_readers_and_reassignment() -> None:
    from ad_compiler.core.expr import BinOp, Call, Const, Select, Temp, Var

    x, a, b, c = Var(0), Temp(1), Temp(2), Temp(3)
    text = "def f(x):\n    return x * x\n"
    log = Call("math", "log", (x,))
    # a is read once, but inside a branch: evaluated only if the branch is taken
    branch = _program(text, [(a, log), (c, Select(BinOp(">", x, Const(0)), a, Const(0.0)))])
    assert optimize.fuse_lines(branch).body == branch.body
    # a is read once, but b, which it reads, is assigned again in between
    moved = _program(text, [(b, x), (a, BinOp("*", b, x)), (b, log), (c, BinOp("*", a, b))])
    assert [line.target for line in optimize.fuse_lines(moved).body] == [b, a, b, c]
    # b's contributions are read (by a) between them: no one sum
    read = _program(text, [(b, x), (a, BinOp("*", b, x)), (b, log, True), (c, BinOp("*", a, b))])
    fused = optimize.fuse_lines(read).body
    assert [line.accumulate for line in fused if line.target == b] == [False, True]
    # without that reader, b's two lines become one sum; a and b, each read once, are inlined
    free = _program(text, [(b, x), (a, BinOp("*", x, x)), (b, log, True), (c, BinOp("*", a, b))])
    (fused,) = optimize.fuse_lines(free).body
    assert fused.expr == BinOp("*", BinOp("*", x, x), BinOp("+", x, log))
    assert not fused.accumulate and [part.target for part in fused.fused] == [a, b, b, c]


def test_scalar_grad_f_is_value_and_grad_f_without_its_value() -> None:
    programs = reverse.programs(trace_of(CHAIN), ["x", "y"])
    _, grad, both = optimize.optimize_programs(programs)
    assert grad.value is None and grad.grads == both.grads and grad.name == "grad_f"
    shared = {id(line) for line in both.body}
    assert all(id(line) in shared for line in grad.body) and len(grad.body) < len(both.body)
    assert grad.body == optimize.optimize(programs[1]).body  # as if optimised on its own


def test_array_grad_f_is_optimised_on_its_own() -> None:
    # `shapes` lets grad_loss skip the loss's logaddexp; value_and_grad_loss needs it
    programs = reverse.programs(trace_of(LOGISTIC, "loss"), ["w", "b"])
    _, grad, both = optimize.optimize_programs(programs)
    assert grad.body == optimize.optimize(programs[1]).body
    assert "logaddexp" not in str(grad.body) and "logaddexp" in str(both.body)


def test_fusing_leaves_array_code_alone() -> None:
    (program,) = [
        p for p in reverse.programs(trace_of(LOGISTIC, "loss"), ["w", "b"]) if p.name == "grad_loss"
    ]
    assert optimize.fuse_lines(program) is program


def test_cli_passes_option_picks_the_passes() -> None:
    from .conftest import run_adc

    def grad_of(*args: str) -> str:
        proc = run_adc("compile", str(SAMPLES / "slide.py"), "-o", "-", *args)
        assert proc.returncode == 0, proc.stderr
        return ast.unparse(function_node(proc.stdout, "grad_f"))

    plain, folded, default = grad_of("--passes", "none"), grad_of("--passes", "fold"), grad_of()
    assert "z6bar = 1.0" in plain and "z6 = z5 * z4" in plain  # no dead-code: z6 is kept
    assert "z6bar" not in folded and "z2bar = z5bar" in folded
    assert default == grad_of("--passes", "all") and "z2bar" not in default


# ---------------------------------------------------------------------------------------------
# Arrays: accumulating into an adjoint's own array
# ---------------------------------------------------------------------------------------------

INDEXED = """
import numpy as np

def f(x, y):
    return np.mean(x) + np.sum(x * y) + x[0] * x[1] + np.sum(x[1:] * y[:-1])
"""
BROADCAST = """
import numpy as np

def f(A, v, c):
    B = A * v + c
    return np.sum(B * B) + np.mean(v * v) + np.sum(A[0] * v)
"""


def indexed_args() -> tuple:
    rng = np.random.default_rng(3)
    return rng.normal(size=7), rng.normal(size=7)


def broadcast_args() -> tuple:
    rng = np.random.default_rng(4)
    return rng.normal(size=(5, 3)), rng.normal(size=3), 0.4


def without(name: str) -> list[str]:
    return [p for p in ALL if p != name]


def test_indexed_reads_accumulate_into_the_adjoints_own_array() -> None:
    on = compile_text(INDEXED)
    off = compile_text(INDEXED, passes=without("inplace"))
    grad = ast.unparse(function_node(on.source, "grad_f"))
    assert "xbar += _unindex(z5bar, x, np.s_[1])" in grad
    assert "xbar += _unmean(" in grad and "ybar += " in grad
    assert "+=" not in off.source
    x, y = indexed_args()
    # by hand: d/dx = 1/n + y + x1 e0 + x0 e1 + (0, y[:-1]); d/dy = x + (x[1:], 0)
    want_x = np.full(7, 1 / 7) + y
    want_x[0] += x[1]
    want_x[1] += x[0]
    want_x[1:] += y[:-1]
    want_y = x.copy()
    want_y[:-1] += x[1:]
    gx, gy = on.grad_f(x, y)
    np.testing.assert_allclose(gx, want_x, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(gy, want_y, rtol=1e-14, atol=1e-15)


def _accumulating(first: object, *between: tuple):
    """grad_f of an array trace: t1 = first, then `between` lines, then t1 += x; returns t1."""
    from ad_compiler.core.expr import Temp, Var

    text = "import numpy as np\n\ndef f(x):\n    return np.sum(x * x)\n"
    return _program(text, [(Temp(1), first), *between, (Temp(1), Var(0), True)])


def test_accumulation_is_in_place_only_into_a_new_float64_array_nothing_else_holds() -> None:
    from ad_compiler.core.expr import BinOp, Call, Const, Index, Lit, Temp, Var

    x = Var(0)
    mean = Call("adc", "_unmean", (Const(1.0), x, Lit(None), Lit(False)))
    assert optimize.accumulate_in_place(_accumulating(mean)).body[-1].inplace
    # a copy of the array under another name, or a view of it
    for held in (Temp(1), Index(Temp(1), ("s", 1, None, None))):
        program = _accumulating(mean, (Temp(2), held))
        assert not optimize.accumulate_in_place(program).body[-1].inplace
    # the argument itself; a view of it; a new array of the argument's (unknown) dtype
    for first in (x, Call("numpy", "transpose", (x,)), BinOp("*", x, x)):
        assert not optimize.accumulate_in_place(_accumulating(first)).body[-1].inplace
    # a new array of the argument's dtype, times a float64 one: float64
    assert optimize.accumulate_in_place(_accumulating(BinOp("*", x, mean))).body[-1].inplace


def test_in_place_accumulation_is_rendered_as_augmented_assignment_with_its_comment() -> None:
    source = compile_text(INDEXED).source
    lines = [line.strip() for line in source.splitlines() if "+=" in line]
    assert lines and all(re.fullmatch(r"\w+ \+= .+# z\d+ = .+", line) for line in lines)


def test_scalar_code_never_accumulates_in_place() -> None:
    assert "+=" not in compile_text(CHAIN).source


ARRAY_PROGRAMS = [
    (LOGISTIC, "loss", ["w", "b"], logistic_args()),
    (LOGISTIC, "loss", ["w"], logistic_args()),
    (MLP, "loss", ["theta1", "theta2", "theta3"], mlp_args()),
    (MLP, "loss", ["theta2"], mlp_args()),
    (INDEXED, "f", ["x", "y"], indexed_args()),
    (INDEXED, "f", ["y"], indexed_args()),
    (BROADCAST, "f", ["A", "v", "c"], broadcast_args()),
    (BROADCAST, "f", ["v"], broadcast_args()),
]


@pytest.mark.parametrize("text, name, wrt, args", ARRAY_PROGRAMS)
def test_in_place_accumulation_changes_no_bit(text: str, name: str, wrt, args) -> None:
    on = compile_text(text, function=name, wrt=wrt)
    off = compile_text(text, function=name, wrt=wrt, passes=without("inplace"))
    for fname in (f"grad_{name}", f"value_and_grad_{name}"):
        got, want = getattr(on, fname)(*args), getattr(off, fname)(*args)
        if fname.startswith("value"):
            assert got[0] == want[0]
            got, want = got[1], want[1]
        for g, w in zip(got, want):
            assert np.array_equal(g, w) and np.shape(g) == np.shape(w)
            assert np.asarray(g).dtype == np.asarray(w).dtype


@pytest.mark.parametrize("text, name, wrt, args", ARRAY_PROGRAMS)
def test_a_gradient_call_modifies_no_argument_and_returns_arrays_of_its_own(
    text: str, name: str, wrt, args
) -> None:
    compiled = compile_text(text, function=name, wrt=wrt)
    copies = [np.copy(a) for a in args]
    for fname in (f"grad_{name}", f"value_and_grad_{name}"):
        out = getattr(compiled, fname)(*args)
        grads = out[1] if fname.startswith("value") else out
        for a, c in zip(args, copies):
            assert np.array_equal(a, c)
        arrays = [g for g in grads if isinstance(g, np.ndarray)]
        for i, g in enumerate(arrays):
            assert not any(np.shares_memory(g, a) for a in args if isinstance(a, np.ndarray))
            assert not any(np.shares_memory(g, h) for h in arrays[i + 1 :])


def test_a_gradient_asked_for_twice_is_right_in_both_places() -> None:
    text = "import numpy as np\n\ndef f(x, y):\n    return np.sum(x * y) + np.mean(x)\n"
    compiled = compile_text(text, wrt=["x", "x"])
    assert "xbar += " in compiled.source
    x, y = np.arange(4.0), np.arange(4.0) - 1
    first, second = compiled.grad_f(x, y)
    np.testing.assert_array_equal(first, y + 0.25)  # by hand: y + 1/n
    np.testing.assert_array_equal(second, y + 0.25)
