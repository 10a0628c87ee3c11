"""ad_compiler.optim: gd, sgd, minibatch_sgd and subgradient_descent on hand-written
`value_and_grad` functions in the generated convention: called by keyword, returning
`(value, gradient_tuple)` with the mean loss over the examples given."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from ad_compiler.train.optim import OptimResult, gd, minibatch_sgd, sgd, subgradient_descent

N, D = 200, 5


@pytest.fixture(scope="module")
def regression():
    """Well-conditioned least-squares data, and the optimum from np.linalg.lstsq."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = X @ rng.normal(size=D) + 0.1 * rng.normal(size=N)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    return {"X": X, "y": y}, w_star, float(np.mean((X @ w_star - y) ** 2))


@pytest.fixture(scope="module")
def classification():
    """Linearly non-separable data with labels in {-1, +1}."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(N, D))
    y = np.where(X @ rng.normal(size=D) + 0.5 * rng.normal(size=N) > 0, 1.0, -1.0)
    return {"X": X, "y": y}


def value_and_grad_lsq(w, X, y):
    """mean((X @ w - y)**2) and (dloss/dw,), as compiled with wrt=["w"]."""
    r = X @ w - y
    return np.mean(r**2), (2 * X.T @ r / len(y),)


def lsq(w, X, y):
    return float(np.mean((X @ w - y) ** 2))


def value_and_grad_logistic(w, X, y, lam=0.01):
    """mean(log1p(exp(-y * X @ w))) + lam/2 |w|^2 and (dloss/dw,)."""
    m = -y * (X @ w)
    value = np.mean(np.logaddexp(0.0, m)) + lam / 2 * (w @ w)
    sig = np.exp(-np.logaddexp(0.0, -m))  # sigmoid(m)
    return value, (-(X.T @ (y * sig)) / len(y) + lam * w,)


def lasso(mu):
    """mean((X @ w - y)**2) + mu |w|_1 with the subgradient 2 X^T r / m + mu sign(w)."""

    def value_and_grad_lasso(w, X, y):
        r = X @ w - y
        value = np.mean(r**2) + mu * np.abs(w).sum()
        return value, (2 * X.T @ r / len(y) + mu * np.sign(w),)

    return value_and_grad_lasso


def value_and_grad_hinge(w, X, y, lam=0.01):
    """mean(max(0, 1 - y * X @ w)) + lam/2 |w|^2 and a subgradient."""
    margin = y * (X @ w)
    active = margin < 1
    value = np.mean(np.maximum(0.0, 1 - margin)) + lam / 2 * (w @ w)
    return value, (-(X[active].T @ y[active]) / len(y) + lam * w,)


def ista(X, y, mu, steps=5000):
    """The lasso optimum by proximal gradient, as a reference."""
    w = np.zeros(X.shape[1])
    lr = 1 / (2 * np.linalg.eigvalsh(X.T @ X / len(y)).max())
    for _ in range(steps):
        z = w - lr * 2 * X.T @ (X @ w - y) / len(y)
        w = np.sign(z) * np.maximum(np.abs(z) - lr * mu, 0.0)
    return w


class Recorder:
    """Wraps a value_and_grad(w, X, y, idx) and records the example indices of every call."""

    def __init__(self, fn=value_and_grad_lsq):
        self.fn = fn
        self.calls: list[np.ndarray] = []
        self.shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def __call__(self, w, X, y, idx):
        self.calls.append(np.array(idx))
        self.shapes.append((X.shape, y.shape))
        return self.fn(w=w, X=X, y=y)

    def steps(self, n):
        """The step calls, grouped by epoch: each epoch's steps end with a full-data call."""
        assert len(self.calls[0]) == n  # the initial loss
        epochs, current = [], []
        for idx in self.calls[1:]:
            if len(idx) == n and np.array_equal(idx, np.arange(n)):
                epochs.append(current)
                current = []
            else:
                current.append(idx)
        assert current == []
        return epochs


def indexed(data):
    return {**data, "idx": np.arange(len(data["y"]))}


# ---------------------------------------------------------------------------------------------
# Convergence


def test_gd_reaches_lstsq(regression):
    data, w_star, best = regression
    result = gd(value_and_grad_lsq, {"w": D}, data, lr=0.3, epochs=200)
    assert isinstance(result, OptimResult)
    assert result.method == "gd"
    assert result.steps == 200
    assert result.gradient_evaluations == 200 * N
    assert abs(result.history[-1] - best) <= 1e-6 * best
    assert abs(lsq(result.params["w"], **data) - best) <= 1e-6 * best
    np.testing.assert_allclose(result.params["w"], w_star, atol=1e-6)


def test_sgd_with_sqrt_schedule_ends_near_optimum(regression):
    data, w_star, best = regression
    result = sgd(value_and_grad_lsq, {"w": D}, data, lr=0.05, epochs=20, schedule="sqrt")
    assert result.method == "sgd"
    assert result.steps == result.gradient_evaluations == 20 * N
    # measured: initial loss 3.29, final 0.00956 against the optimum 0.00946 (1.0% above it)
    assert result.history[-1] < 0.01 * result.history[0]
    assert result.history[-1] <= 1.05 * best
    assert np.abs(result.params["w"] - w_star).max() < 0.03


@pytest.mark.parametrize("replace", [False, True])
def test_minibatch_sgd_ends_near_optimum(regression, replace):
    data, w_star, best = regression
    result = minibatch_sgd(
        value_and_grad_lsq,
        {"w": D},
        data,
        batch_size=16,
        replace=replace,
        lr=0.2,
        epochs=30,
        schedule="sqrt",
    )
    assert result.method == "minibatch_sgd"
    steps_per_epoch = math.ceil(N / 16)
    assert result.steps == 30 * steps_per_epoch
    assert result.gradient_evaluations == (30 * N if not replace else result.steps * 16)
    # measured: 0.02% above the optimum without replacement, 0.4% with replacement
    assert result.history[-1] < 0.01 * result.history[0]
    assert result.history[-1] <= 1.02 * best
    assert np.abs(result.params["w"] - w_star).max() < 0.03


def test_gd_history_is_monotone_on_logistic(classification):
    seen = []
    result = gd(
        value_and_grad_logistic,
        {"w": D},
        classification,
        lr=0.5,
        epochs=100,
        callback=lambda epoch, loss, params: seen.append((epoch, loss, params["w"].copy())),
    )
    assert len(result.history) == 101
    assert result.history[0] == pytest.approx(math.log(2))  # w0 = 0
    assert all(b <= a for a, b in zip(result.history, result.history[1:]))
    assert result.history[-1] < 0.6 * result.history[0]
    # the callback saw every epoch, with the recorded loss and the current iterate
    assert [e for e, _, _ in seen] == list(range(1, 101))
    assert [loss for _, loss, _ in seen] == result.history[1:]
    np.testing.assert_array_equal(seen[-1][2], result.params["w"])
    assert value_and_grad_logistic(result.params["w"], **classification)[0] == result.history[-1]
    # measured: the gradient's norm falls from 0.415 to 0.0122 in 100 steps
    grad0 = value_and_grad_logistic(np.zeros(D), **classification)[1][0]
    grad = value_and_grad_logistic(result.params["w"], **classification)[1][0]
    assert np.linalg.norm(grad) < 0.05 * np.linalg.norm(grad0)


# ---------------------------------------------------------------------------------------------
# Sampling


def test_sgd_draws_one_example_per_step_uniformly(regression):
    n = 20
    data = indexed({k: v[:n] for k, v in regression[0].items()})
    rec = Recorder()
    epochs = 500
    result = sgd(rec, {"w": D}, data, lr=0.01, epochs=epochs, seed=3)
    assert result.steps == result.gradient_evaluations == epochs * n
    by_epoch = rec.steps(n)
    assert len(by_epoch) == epochs and all(len(steps) == n for steps in by_epoch)
    # one example per step, batch axis kept: X[i:i+1], y[i:i+1]
    step_shapes = [s for s, idx in zip(rec.shapes, rec.calls) if len(idx) != n]
    assert len(step_shapes) == epochs * n
    assert set(step_shapes) == {((1, D), (1,))}
    draws = np.concatenate([np.concatenate(steps) for steps in by_epoch])
    counts = np.bincount(draws, minlength=n)
    expected = len(draws) / n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 43.8  # chi-square with 19 degrees of freedom, p = 0.001
    # independent draws (with replacement), not a permutation per epoch
    repeats = sum(len(np.unique(np.concatenate(steps))) < n for steps in by_epoch)
    assert repeats > 0.99 * epochs


def test_minibatch_without_replacement_visits_each_example_once_per_epoch(regression):
    n = 50
    data = indexed({k: v[:n] for k, v in regression[0].items()})
    rec = Recorder()
    result = minibatch_sgd(rec, {"w": D}, data, batch_size=16, lr=0.05, epochs=5)
    by_epoch = rec.steps(n)
    assert len(by_epoch) == 5
    orders = []
    for steps in by_epoch:
        assert [len(b) for b in steps] == [16, 16, 16, 2]
        order = np.concatenate(steps)
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
        orders.append(order)
    assert len({tuple(o) for o in orders}) == 5  # a fresh permutation each epoch
    assert not np.array_equal(orders[0], np.arange(n))
    assert result.steps == 20 and result.gradient_evaluations == 5 * n


def test_minibatch_with_replacement_draws_b_per_step(regression):
    n = 50
    data = indexed({k: v[:n] for k, v in regression[0].items()})
    rec = Recorder()
    result = minibatch_sgd(rec, {"w": D}, data, batch_size=16, replace=True, epochs=200)
    by_epoch = rec.steps(n)
    assert all([len(b) for b in steps] == [16] * 4 for steps in by_epoch)
    assert result.steps == 800 and result.gradient_evaluations == 800 * 16
    # with replacement, batches repeat examples (P(no repeat in 16 of 50) is about 6%)
    batches = [b for steps in by_epoch for b in steps]
    assert sum(len(np.unique(b)) < 16 for b in batches) > 0.8 * len(batches)
    counts = np.bincount(np.concatenate(batches), minlength=n)
    expected = 800 * 16 / n
    assert float(((counts - expected) ** 2 / expected).sum()) < 85.4  # 49 dof, p = 0.001


def test_batch_larger_than_data_is_one_full_batch(regression):
    n = 10
    data = indexed({k: v[:n] for k, v in regression[0].items()})
    rec = Recorder()
    result = minibatch_sgd(rec, {"w": D}, data, batch_size=32, epochs=3)
    assert [sorted(b.tolist()) for steps in rec.steps(n) for b in steps] == [list(range(n))] * 3
    assert result.steps == 3 and result.gradient_evaluations == 3 * n


# ---------------------------------------------------------------------------------------------
# Schedules


def value_and_grad_linear(w, c):
    """f(w) = mean(c) . w: the gradient is constant, so each step moves w by exactly eta*c."""
    return float(np.mean(c, axis=0) @ w), (np.mean(c, axis=0),)


C = np.array([1.0, -2.0, 0.5])


def steps_taken(result_params, seen, w0):
    path = [w0] + [p["w"] for p in seen]
    return [float((a - b) @ C / (C @ C)) for a, b in zip(path, path[1:])]


@pytest.mark.parametrize(
    "schedule, expected",
    [
        ("constant", lambda t: 0.3),
        ("sqrt", lambda t: 0.3 / math.sqrt(t)),
        (lambda t: 1.0 / t**2, lambda t: 1.0 / t**2),
    ],
)
def test_schedule_is_applied_per_step(schedule, expected):
    seen = []
    result = gd(
        value_and_grad_linear,
        {"w": 3},
        {"c": C[None, :]},
        lr=0.3,
        epochs=8,
        schedule=schedule,
        callback=lambda e, loss, p: seen.append(p),
    )
    etas = steps_taken(result.params, seen, np.zeros(3))
    np.testing.assert_allclose(etas, [expected(t) for t in range(1, 9)], rtol=1e-12)


def test_sqrt_schedule_counts_steps_not_epochs():
    """sgd on 4 identical examples: each epoch moves w by lr * sum of 1/sqrt(t) over 4 steps."""
    seen = []
    sgd(
        value_and_grad_linear,
        {"w": 3},
        {"c": np.tile(C, (4, 1))},
        lr=0.3,
        epochs=3,
        schedule="sqrt",
        callback=lambda e, loss, p: seen.append(p),
    )
    moved = steps_taken(None, seen, np.zeros(3))
    expected = [0.3 * sum(1 / math.sqrt(t) for t in range(4 * e + 1, 4 * e + 5)) for e in range(3)]
    np.testing.assert_allclose(moved, expected, rtol=1e-12)


def test_subgradient_descent_defaults_to_sqrt_schedule():
    seen = []
    subgradient_descent(
        value_and_grad_linear,
        {"w": 3},
        {"c": C[None, :]},
        lr=0.3,
        epochs=5,
        callback=lambda e, loss, p: seen.append(p),
    )
    etas = steps_taken(None, seen, np.zeros(3))
    np.testing.assert_allclose(etas, [0.3 / math.sqrt(t) for t in range(1, 6)], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Initialisation and reproducibility


def test_w0_is_zero_by_default(regression):
    data = regression[0]
    first = []

    def spy(w, X, y):
        first.append(np.array(w))
        return value_and_grad_lsq(w, X, y)

    for method in (gd, sgd, minibatch_sgd, subgradient_descent):
        first.clear()
        result = method(spy, {"w": D}, data, epochs=0)
        np.testing.assert_array_equal(first[0], np.zeros(D))
        np.testing.assert_array_equal(result.params["w"], np.zeros(D))
        assert result.history == [lsq(np.zeros(D), **data)]
        assert result.steps == result.gradient_evaluations == 0
    assert gd(spy, {"w": (D,)}, data, epochs=0).params["w"].shape == (D,)


def test_normal_init_is_seeded():
    def value_and_grad_sq(W):
        return float((W**2).sum()), (2 * W,)

    def start(seed):
        return gd(value_and_grad_sq, {"W": (40, 25)}, init="normal", seed=seed, epochs=0)

    a, b, c = start(1), start(1), start(2)
    w = a.params["W"]
    assert w.shape == (40, 25) and w.dtype == np.float64
    np.testing.assert_array_equal(w, b.params["W"])
    assert not np.array_equal(w, c.params["W"])
    assert abs(w.mean()) < 0.002 and 0.009 < w.std() < 0.011  # N(0, 0.01^2)
    # an explicit initial value is used as given, whatever init says
    given = gd(value_and_grad_sq, {"W": np.ones((2, 2))}, init="normal", epochs=0)
    np.testing.assert_array_equal(given.params["W"], np.ones((2, 2)))


def test_same_seed_same_result_different_seed_different(regression):
    data = regression[0]
    for method in (sgd, functools.partial(minibatch_sgd, batch_size=8)):
        runs = [
            method(value_and_grad_lsq, {"w": D}, data, lr=0.01, epochs=3, seed=s) for s in (7, 7, 8)
        ]
        assert runs[0].history == runs[1].history
        np.testing.assert_array_equal(runs[0].params["w"], runs[1].params["w"])
        assert runs[0].history[1:] != runs[2].history[1:]
        assert not np.array_equal(runs[0].params["w"], runs[2].params["w"])


def test_initial_arrays_are_not_modified_and_results_are_float64(regression):
    data, _, _ = regression
    w0 = np.arange(D)  # int dtype
    result = sgd(value_and_grad_lsq, {"w": w0}, data, lr=0.01, epochs=1)
    np.testing.assert_array_equal(w0, np.arange(D))
    assert result.params["w"].dtype == np.float64 and result.params["w"].shape == (D,)
    assert result.history[0] == pytest.approx(lsq(np.arange(D, dtype=float), **data))


# ---------------------------------------------------------------------------------------------
# Several params, scalars, and the two gradient-tuple layouts


def affine_parts(w, b, X, y):
    r = X @ w + b - y
    return np.mean(r**2), 2 * X.T @ r / len(y), 2 * np.mean(r)


def test_scalar_param_stays_a_python_float(regression):
    data = regression[0]

    def value_and_grad_affine(w, b, X, y):  # wrt=["b", "w"]: in that order
        value, dw, db = affine_parts(w, b, X, y)
        assert isinstance(b, float)
        return value, (db, dw)

    result = gd(value_and_grad_affine, {"b": 1.5, "w": D}, data, lr=0.3, epochs=100)
    assert type(result.params["b"]) is float
    assert list(result.params) == ["b", "w"]
    X1 = np.hstack([data["X"], np.ones((N, 1))])
    sol = np.linalg.lstsq(X1, data["y"], rcond=None)[0]
    np.testing.assert_allclose(result.params["w"], sol[:D], atol=1e-8)
    assert result.params["b"] == pytest.approx(sol[D], abs=1e-8)


def test_gradient_per_signature_parameter_is_picked_by_name(regression):
    data = regression[0]

    def value_and_grad_all(w, b, X, y):  # compiled without wrt: one entry per parameter
        value, dw, db = affine_parts(w, b, X, y)
        return value, (dw, db, np.full(X.shape, np.nan), np.full(y.shape, np.nan))

    def value_and_grad_wb(w, b, X, y):
        value, dw, db = affine_parts(w, b, X, y)
        return value, (dw, db)

    kwargs = dict(lr=0.1, epochs=3, seed=5)
    a = sgd(value_and_grad_all, {"w": D, "b": 0.0}, data, **kwargs)
    b = sgd(value_and_grad_wb, {"w": D, "b": 0.0}, data, **kwargs)
    assert a.history == b.history
    np.testing.assert_array_equal(a.params["w"], b.params["w"])
    assert a.params["b"] == b.params["b"]

    # training only b: one entry per signature parameter, b is the second
    c = gd(functools.partial(value_and_grad_all, w=np.zeros(D)), {"b": 0.0}, data, epochs=200)
    assert c.params["b"] == pytest.approx(np.mean(data["y"]), rel=1e-9)


def test_scalar_problem_without_data():
    """A generated-style scalar function of two params (math only, Python floats)."""

    def value_and_grad_f(x1, x2):
        value = (x1 - 3.0) ** 2 + 2 * (x2 + 1.0) ** 2 + math.sin(x1 * x2) * 0.0
        return value, (2 * (x1 - 3.0), 4 * (x2 + 1.0))

    result = gd(value_and_grad_f, {"x1": 0.0, "x2": 0.0}, lr=0.1, epochs=200)
    assert type(result.params["x1"]) is float and type(result.params["x2"]) is float
    assert result.params["x1"] == pytest.approx(3.0) and result.params["x2"] == pytest.approx(-1.0)
    assert result.gradient_evaluations == 200  # one "example" per step without data


# ---------------------------------------------------------------------------------------------
# Subgradient descent


def test_subgradient_descent_on_lasso_returns_best_iterate(regression):
    data, _, _ = regression
    mu = 0.5
    fn = lasso(mu)
    w_ref = ista(data["X"], data["y"], mu)
    f_ref = float(fn(w_ref, **data)[0])
    finals = []
    result = subgradient_descent(
        fn, {"w": D}, data, lr=0.2, epochs=2000, callback=lambda e, loss, p: finals.append(p)
    )
    assert result.method == "subgradient_descent"
    assert len(result.history) == 2001
    assert result.gradient_evaluations == 2000 * N
    best = min(result.history)
    assert float(fn(result.params["w"], **data)[0]) == best
    # measured: initial 3.29, best 2e-7 relative above the ISTA optimum (1.329)
    assert best < 0.5 * result.history[0]
    assert best <= f_ref * (1 + 1e-4)
    # the objective is not monotone: the last iterate is not the best
    assert any(b > a for a, b in zip(result.history, result.history[1:]))
    assert result.history[-1] > best
    assert not np.array_equal(result.params["w"], finals[-1]["w"])


def test_subgradient_descent_on_hinge(classification):
    result = subgradient_descent(value_and_grad_hinge, {"w": D}, classification, lr=1.0, epochs=500)
    best = min(result.history)
    assert result.history[0] == pytest.approx(1.0)  # w0 = 0: every margin is 0
    # measured: best 0.214 (from 1.0), accuracy 0.94
    assert best < 0.25
    assert float(value_and_grad_hinge(result.params["w"], **classification)[0]) == best
    accuracy = np.mean(np.sign(classification["X"] @ result.params["w"]) == classification["y"])
    assert accuracy > 0.9


# ---------------------------------------------------------------------------------------------
# Bad calls


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda d: gd(value_and_grad_lsq, {"w": D}, {**d, "Z": d["y"]}),
            r"no parameter 'Z' \(from data\)",
        ),
        (lambda d: gd(value_and_grad_lsq, {"w": D}, {"X": d["X"]}), r"parameter 'y'"),
        (lambda d: gd(value_and_grad_lsq, {"v": D}, d), r"'v' \(from params\).*parameter 'w'"),
        (
            lambda d: gd(value_and_grad_lsq, {"w": D}, {"X": d["X"], "y": d["y"][:-1]}),
            r"same length.*X has 200, y has 199",
        ),
        (lambda d: gd(value_and_grad_lsq, {"w": D}, d, schedule="cosine"), r"unknown schedule"),
        (lambda d: gd(value_and_grad_lsq, {"w": D}, d, schedule=3), r"unknown schedule"),
        (lambda d: sgd(value_and_grad_lsq, {"w": D}, d, init="ones"), r"unknown init 'ones'"),
        (lambda d: gd(value_and_grad_lsq, {"w": D}, d, lr=-1.0), r"lr must be"),
        (lambda d: gd(value_and_grad_lsq, {"w": D}, d, epochs=-1), r"epochs must be"),
        (lambda d: minibatch_sgd(value_and_grad_lsq, {"w": D}, d, batch_size=0), r"batch_size"),
        (lambda d: sgd(value_and_grad_lsq, {"w": D}), r"sgd samples examples, so it needs data"),
        (lambda d: gd(value_and_grad_lsq, {"w": D, "X": D}, d), r"both params and data: X"),
        (lambda d: gd(value_and_grad_lsq, {"w": 0}, d), r"read as a shape"),
        (lambda d: gd(value_and_grad_lsq, {}, d), r"non-empty dict"),
        (lambda d: gd(value_and_grad_lsq, {"w": D}, {**d, "lam": 0.1}), r"data\['lam'\] is a"),
        (
            lambda d: gd(lambda w, X, y: (0.0, (np.zeros(2),)), {"w": 3}, d),
            r"gradient for 'w' has shape \(2,\), but 'w' has shape \(3,\)",
        ),
        (
            lambda d: gd(value_and_grad_logistic, {"w": D, "lam": 0.1}, d),
            r"returned 1 gradients; expected 2 .*w, lam.* or 4 .*w, X, y, lam",
        ),
    ],
)
def test_bad_calls_raise_value_error(regression, call, message):
    with pytest.raises(ValueError, match=message):
        call(regression[0])


def test_bad_schedule_value_is_reported(regression):
    with pytest.raises(ValueError, match=r"schedule\(1\) must be a finite step size"):
        gd(value_and_grad_lsq, {"w": D}, regression[0], schedule=lambda t: -1.0)


def test_message_shows_the_signature(regression):
    with pytest.raises(ValueError) as info:
        gd(value_and_grad_lsq, {"w": D}, {"X": regression[0]["X"], "Z": regression[0]["y"]})
    text = str(info.value)
    assert "value_and_grad_lsq(w, X, y)" in text
    assert "'Z' (from data)" in text and "'y'" in text
