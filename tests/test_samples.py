"""Every sample compiles, and the seed's models agree with independent derivations."""

from __future__ import annotations

import ast
import math

import numpy as np
import pytest

import ad_compiler

from .conftest import SAMPLES

ALL = sorted(p.name for p in SAMPLES.glob("*.py") if not p.name.endswith("_grad.py"))


@pytest.mark.parametrize("name", ALL)
def test_every_sample_compiles_to_a_valid_module(name: str) -> None:
    compiled = ad_compiler.compile_file(SAMPLES / name)
    compile(ast.parse(compiled.source), name, "exec")
    for fn in compiled.traces:
        assert callable(getattr(compiled, f"value_and_grad_{fn}"))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def seed_backprop(theta1, theta2, theta3, X, y):
    """The lecture's recursion, one example at a time, for the loss L = y log yhat + ...:
    delta(L+1) = y - a(L+1); delta(l) = a(l)(1 - a(l)) sum_k delta_k(l+1) Theta_{k,i}(l);
    dL/dTheta_ij(l) = delta_i(l+1) a_j(l). Our loss is -mean(L), hence the sign and 1/n."""
    grads = [np.zeros_like(theta1), np.zeros_like(theta2), np.zeros_like(theta3)]
    n = len(y)
    for x, label in zip(X, y):
        a1 = x
        a2 = sigmoid(theta1 @ a1)
        a3 = sigmoid(theta2 @ a2)
        a4 = sigmoid(theta3 @ a3)
        delta4 = label - a4  # a scalar: the output layer has one unit
        delta3 = a3 * (1 - a3) * (theta3 * delta4)
        delta2 = a2 * (1 - a2) * (theta2.T @ delta3)
        grads[2] += delta4 * a3
        grads[1] += np.outer(delta3, a2)
        grads[0] += np.outer(delta2, a1)
    return [-g / n for g in grads]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_gradient_is_the_seeds_backprop_recursion(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d, m = 17, 6, 5
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < 0.5).astype(float)
    thetas = [rng.normal(size=(m, d)), rng.normal(size=(m, m)), rng.normal(size=m)]
    compiled = ad_compiler.compile_file(
        SAMPLES / "mlp.py", function="loss", wrt=["theta1", "theta2", "theta3"]
    )
    value, grads = compiled.value_and_grad_loss(*thetas, X, y)
    expected = seed_backprop(*thetas, X, y)
    for got, want in zip(grads, expected):
        assert got.shape == want.shape and got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    yhat = sigmoid(sigmoid(sigmoid(X @ thetas[0].T) @ thetas[1].T) @ thetas[2])
    cross_entropy = -np.mean(y * np.log(yhat) + (1 - y) * np.log(1 - yhat))
    assert value == pytest.approx(cross_entropy, rel=1e-12)


def test_least_squares_gradient_is_the_normal_equations() -> None:
    rng = np.random.default_rng(3)
    X, y, w, b = rng.normal(size=(30, 4)), rng.normal(size=30), rng.normal(size=4), 0.3
    compiled = ad_compiler.compile_file(SAMPLES / "least_squares.py")
    gw, gb, gX, gy = compiled.grad_loss(w, b, X, y)
    r = X @ w + b - y
    np.testing.assert_allclose(gw, 2 * X.T @ r / 30, rtol=1e-12)
    assert isinstance(gb, float) and gb == pytest.approx(2 * r.mean(), rel=1e-12)
    np.testing.assert_allclose(gX, 2 * np.outer(r, w) / 30, rtol=1e-12)
    np.testing.assert_allclose(gy, -2 * r / 30, rtol=1e-12)


def test_logistic_gradient_matches_its_derivation() -> None:
    rng = np.random.default_rng(4)
    n = 40
    X, y = rng.normal(size=(n, 3)), np.sign(rng.normal(size=n))
    w, b, lam = rng.normal(size=3), -0.2, 0.05
    compiled = ad_compiler.compile_file(SAMPLES / "logistic_regression.py", wrt=["w", "b"])
    value, (gw, gb) = compiled.value_and_grad_loss(w, b, X, y, lam)
    m = y * (X @ w + b)
    s = -y * sigmoid(-m) / n
    np.testing.assert_allclose(gw, X.T @ s + lam * w, rtol=1e-12)
    assert gb == pytest.approx(s.sum(), rel=1e-12)
    assert value == pytest.approx(np.mean(np.log1p(np.exp(-m))) + lam / 2 * w @ w, rel=1e-12)


def _softmax_by_hand(z: np.ndarray) -> np.ndarray:
    """Row by row with Python's math: exp(v - max) / fsum(exp(w - max))."""
    out = np.zeros_like(z)
    for i, row in enumerate(z):
        top = max(row)
        e = [math.exp(v - top) for v in row]
        total = math.fsum(e)
        out[i] = [v / total for v in e]
    return out


def _one_hot(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return np.eye(k)[rng.integers(0, k, size=n)]


def test_softmax_sample_is_stable_where_exp_overflows() -> None:
    compiled = ad_compiler.compile_file(SAMPLES / "softmax.py")
    z = np.array([[1000.0, 999.0, 998.0], [-1000.0, 0.0, 1.5], [2.0, 2.0, -3.0]])
    expected = _softmax_by_hand(z)
    np.testing.assert_allclose(compiled.softmax(z), expected, rtol=1e-14)
    logs = [[v - max(row) - math.log(math.fsum(math.exp(w - max(row)) for w in row))
             for v in row] for row in z]  # fmt: skip
    np.testing.assert_allclose(compiled.log_softmax(z), logs, rtol=1e-14)
    assert np.all(np.isfinite(compiled.grad_loss(np.eye(3), 0.0, z, np.eye(3))[0]))


@pytest.mark.parametrize("ties", [False, True])
def test_softmax_losses_gradients_are_their_derivations(ties: bool) -> None:
    """Cross-entropy: dL/dz = (P - Y) / n; Brier: dL/dP = 2 (P - Y) / n through the softmax
    Jacobian, dL/dz = P * (dL/dP - sum_k dL/dP_k P_k). Then dW = X^T dz, db = sum dz,
    dX = dz W^T. With ties for the largest score the shift cancels, and so does any split."""
    rng = np.random.default_rng(7)
    n, d, k = 6, 3, 4
    X, Y = rng.normal(size=(n, d)), _one_hot(rng, n, k)
    W, b = rng.normal(size=(d, k)), rng.normal(size=k)
    if ties:
        X[:, :], W[:, :], b[:] = 0.0, 0.0, [1.0, 1.0, 0.5, 1.0]  # every row ties three ways
    compiled = ad_compiler.compile_file(SAMPLES / "softmax.py")
    P = _softmax_by_hand(X @ W + b)
    dz_loss = (P - Y) / n
    dP = 2 * (P - Y) / n
    dz_brier = P * (dP - np.sum(dP * P, axis=1, keepdims=True))
    for name, dz in (("loss", dz_loss), ("brier", dz_brier)):
        gW, gb, gX, gY = getattr(compiled, f"grad_{name}")(W, b, X, Y)
        np.testing.assert_allclose(gW, X.T @ dz, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(gb, dz.sum(axis=0), rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(gX, dz @ W.T, rtol=1e-11, atol=1e-14)
    _, _, _, gY = compiled.grad_loss(W, b, X, Y)
    np.testing.assert_allclose(gY, -np.log(P) / n, rtol=1e-12)
