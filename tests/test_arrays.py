"""Arrays in the language: method forms, broadcasting, shapes, and `adc run` with arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import SAMPLES, compile_text, run_adc


def fd_grad(fn, args, i, h=1e-6):
    """Central differences of fn along every entry of argument i."""
    x = np.asarray(args[i], dtype=float)
    out = np.zeros_like(x)
    for k in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[k] = h
        up, down = list(args), list(args)
        up[i] = x + step if x.shape else float(x + h)
        down[i] = x - step if x.shape else float(x - h)
        out[k] = (fn(*up) - fn(*down)) / (2 * h)
    return out


def check(src: str, args: tuple, name: str = "f") -> tuple:
    compiled = compile_text(src)
    plain: dict = {}
    exec(src, plain)
    assert getattr(compiled, name)(*args) == pytest.approx(plain[name](*args), rel=1e-12)
    grads = getattr(compiled, f"grad_{name}")(*args)
    for i, (g, a) in enumerate(zip(grads, args)):
        assert np.shape(g) == np.shape(a)
        if isinstance(a, float):
            assert type(g) is float
        else:
            assert g.dtype == np.float64
        np.testing.assert_allclose(g, fd_grad(plain[name], args, i), rtol=1e-6, atol=1e-8)
    return grads


RNG = np.random.default_rng(0)
A, B = RNG.normal(size=(4, 3)), RNG.normal(size=(3, 2))


def test_method_forms() -> None:
    src = (
        "import numpy as np\n\ndef f(a, b):\n"
        "    c = a.T.sum(axis=1) + a.mean(axis=0) * 2\n"
        "    return (a.dot(b)).reshape(-1).sum() + c.sum() + a.reshape(3, 4).mean()\n"
    )
    check(src, (A, B))


@pytest.mark.parametrize(
    "other", [2.5, np.array([0.5, -1.0, 2.0]), np.array([[0.3], [1.2], [-0.7], [2.0]])]
)
def test_broadcasting_against_scalars_rows_and_columns(other) -> None:
    src = (
        "import numpy as np\n\ndef f(a, s):\n    return np.sum(np.tanh(a * s + s) / (1 + s * s))\n"
    )
    check(src, (A, other))


def test_python_floats_stay_floats_beside_arrays() -> None:
    src = "import numpy as np\n\ndef f(w, b, c):\n    return np.sum((w + b) ** 2) * c\n"
    gw, gb, gc = check(src, (np.array([1.0, 2.0]), 0.5, 3.0))
    assert type(gb) is float and type(gc) is float


def test_indexing_where_and_selections() -> None:
    src = (
        "import numpy as np\n\ndef f(a, b):\n"
        "    first = a[0] + a[-1, ::2].sum() + a[1:3, 1:].mean()\n"
        "    relu = np.where(a > 0, a, 0.0)\n"
        "    return np.sum(first) + np.sum(relu @ b) + np.maximum(a, 0.2).sum()"
        " + np.clip(a, -0.5, None).sum() + np.minimum(b, 0).sum()\n"
    )
    check(src, (A, B))


def test_an_input_only_a_condition_reads_gets_zeros_of_its_shape() -> None:
    src = "import numpy as np\n\ndef f(a, c):\n    return np.sum(np.where(c > 0, a, 2 * a))\n"
    compiled = compile_text(src)
    ga, gc = compiled.grad_f(A, A.copy())
    assert gc.shape == A.shape and not gc.any()


def test_array_index_must_be_constant() -> None:
    with pytest.raises(Exception) as err:
        compile_text("import numpy as np\n\ndef f(a, i):\n    return np.sum(a[i])\n")
    assert "index must be a constant" in str(err.value)


def test_where_needs_a_comparison() -> None:
    with pytest.raises(Exception) as err:
        compile_text("import numpy as np\n\ndef f(a, c):\n    return np.sum(np.where(c, a, 0))\n")
    assert "np.where's condition must be one comparison" in str(err.value)


def test_adc_run_with_arrays(tmp_path) -> None:
    X = RNG.normal(size=(5, 3))
    np.save(tmp_path / "X.npy", X)
    y = [1.0, 2.0, 0.0, -1.0, 0.5]
    proc = run_adc(
        "run", str(SAMPLES / "least_squares.py"), "w=zeros(3)", "b=0.5",
        f"X=@{tmp_path / 'X.npy'}", f"y={y}", "--format", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    r = np.array(y) - 0.5
    assert data["value"] == pytest.approx(np.mean(r * r), rel=1e-14)
    np.testing.assert_allclose(data["gradient"]["w"], -2 * X.T @ r / 5, rtol=1e-12)
    assert data["gradient"]["b"] == pytest.approx(-2 * r.mean(), rel=1e-12)
    text = run_adc(
        "run", str(SAMPLES / "least_squares.py"), "w=zeros(3)", "b=0.5",
        f"X=@{tmp_path / 'X.npy'}", f"y={y}",
    ).stdout  # fmt: skip
    assert "v-1 = X" in text and "(5, 3) in [" in text


def test_adc_run_rejects_an_unreadable_array(tmp_path) -> None:
    proc = run_adc("run", str(SAMPLES / "least_squares.py"), "X=@nope.npy")
    assert proc.returncode == 1
    assert "cannot load nope.npy" in proc.stderr and "Traceback" not in proc.stderr


def test_batched_matmul_sums_its_broadcast_axes() -> None:
    src = "import numpy as np\n\ndef f(X, A, w):\n    return np.sum(np.tanh((X * A) @ w))\n"
    check(src, (RNG.normal(size=(3, 4)), RNG.normal(size=(2, 1, 1)), RNG.normal(size=4)))
