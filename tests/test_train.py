"""`adc train` and ad_compiler.train: the training results docs/training.md quotes, data
loading, labels and splits, shapes, and clean errors for bad data."""

from __future__ import annotations

import importlib.util
import re
import sys

import numpy as np
import pytest

# `adc train`'s bundled data sets come from scikit-learn, which the `test` extra installs: without
# it this file fails to import (a failure, not a skip that would hide the command untested).
import sklearn  # noqa: F401
from click.testing import CliRunner

from ad_compiler import CompileError
from ad_compiler.train import loop
from ad_compiler.train.data import Split, load_data, prepare
from ad_compiler.train.loop import parse_settings
from ad_compiler.train.model import Model, load_model, matmul_operands, param_shapes, parse_shape
from cli.main import main

from .conftest import ROOT, SAMPLES, run_adc
from .docs import block, page

LOGISTIC = SAMPLES / "logistic_regression.py"
LEAST_SQUARES = SAMPLES / "least_squares.py"
MLP = SAMPLES / "mlp.py"
HINGE = SAMPLES / "hinge.py"
SCRIPT = ROOT / "samples" / "scripts" / "compare_methods.py"
PNG = b"\x89PNG\r\n\x1a\n"

# The settings docs/training.md quotes.
LAM = 0.01
LOGISTIC_RUN = dict(data="breast_cancer", labels="pm1", settings={"lam": LAM}, lr=1.0, epochs=1000)
LSQ_RUN = dict(data="diabetes", lr=0.2, epochs=3000)
MLP_RUN = dict(
    data="breast_cancer",
    method="minibatch",
    shapes=["theta1=16,d", "theta2=16,16", "theta3=16"],
    init="normal",
    lr=0.5,
    epochs=200,
    batch=32,
    seed=0,
)


def sklearn_optimum(split: Split, model: Model, lam: float) -> float:
    """Our objective at scikit-learn's optimum of the same objective.

    LogisticRegression minimises C sum_i logloss_i + |w|^2 / 2 with an unpenalised intercept,
    which is (mean logloss + lam/2 |w|^2) / lam for C = 1 / (lam n)."""
    from sklearn.linear_model import LogisticRegression

    X, y = split.X_train, split.y_train
    fit = LogisticRegression(C=1 / (lam * len(y)), tol=1e-12, max_iter=100_000).fit(X, y)
    return float(model.primal(w=fit.coef_[0], b=float(fit.intercept_[0]), X=X, y=y, lam=lam))


def lstsq_mse(split: Split) -> float:
    """The least-squares optimum's MSE on the training split (a column of ones for b)."""
    A = np.c_[split.X_train, np.ones(split.n_train)]
    coef = np.linalg.lstsq(A, split.y_train, rcond=None)[0]
    return float(np.mean((A @ coef - split.y_train) ** 2))


def figures(stdout: str) -> dict[str, str]:
    """The `key: value` lines of adc train's report."""
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def percent(text: str) -> float:
    return float(re.match(r"([\d.]+)%", text).group(1)) / 100


# ---------------------------------------------------------------------------------------------
# The results of the issue, through the Python function


def test_logistic_l2_gd_reaches_sklearns_optimum_and_95_percent() -> None:
    result = loop.train(LOGISTIC, **LOGISTIC_RUN)
    fstar = sklearn_optimum(result.split, result.model, LAM)
    assert abs(result.loss - fstar) / fstar <= 1e-4
    assert result.loss == result.history[-1]
    assert result.test_accuracy >= 0.95 and result.train_accuracy >= 0.95
    assert result.split.n_train == 456 and result.split.n_test == 113
    assert result.gradient_evaluations == 1000 * 456 and result.steps == 1000


def test_least_squares_gd_reaches_the_lstsq_mse() -> None:
    result = loop.train(LEAST_SQUARES, **LSQ_RUN)
    best = lstsq_mse(result.split)
    assert abs(result.loss - best) / best <= 1e-6
    assert result.train_accuracy is None and result.accuracy_note is None  # regression
    assert result.test_loss is not None


def test_mlp_minibatch_sgd_reaches_96_percent_held_out() -> None:
    result = loop.train(MLP, **MLP_RUN)
    assert result.shapes == {"theta1": (16, 30), "theta2": (16, 16), "theta3": (16,)}
    assert result.test_accuracy >= 0.96
    assert result.history[-1] < 0.5 * result.history[0]
    assert result.gradient_evaluations == 200 * 456 and result.steps == 200 * 15


def _hinge_lp_optimum(split: Split, lam: float) -> float:
    """min mean(max(0, 1 - y (Xw + b))) + lam |w|_1 as a linear program (scipy's HiGHS)."""
    from scipy.optimize import linprog

    X, y = split.X_train, split.y_train
    n, d = X.shape
    # variables: w+ (d), w- (d), b+, b-, slacks (n)
    c = np.r_[lam * np.ones(2 * d), 0.0, 0.0, np.ones(n) / n]
    yx = y[:, None] * X
    A = np.c_[-yx, yx, -y, y, -np.eye(n)]
    res = linprog(c, A_ub=A, b_ub=-np.ones(n), bounds=[(0, None)] * len(c), method="highs")
    assert res.status == 0
    return float(res.fun)


def test_subgradient_descent_decreases_the_l1_hinge_objective() -> None:
    result = loop.train(
        HINGE, data="breast_cancer", method="subgradient", labels="pm1", lr=0.5, epochs=300
    )
    history = result.history
    assert history[0] == 1.0  # w = 0, b = 0: every margin is 0
    assert result.loss == min(history) < 0.15 * history[0]
    assert history[-1] < history[10] < history[1] < history[0]
    assert result.schedule == "sqrt"
    optimum = _hinge_lp_optimum(result.split, 0.01)
    assert optimum <= result.loss <= 1.05 * optimum
    assert result.test_accuracy >= 0.95


# ---------------------------------------------------------------------------------------------
# The same results through `adc train`


def test_adc_train_logistic_prints_the_optimum_accuracy_and_plots(tmp_path) -> None:
    png = tmp_path / "loss.png"
    proc = run_adc(
        "train", str(LOGISTIC), "--data", "breast_cancer", "--labels", "pm1",
        "--set", f"lam={LAM}", "--lr", "1", "--epochs", "1000", "--plot", str(png),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    shown = figures(proc.stdout)
    plan = loop.setup(LOGISTIC, **{k: v for k, v in LOGISTIC_RUN.items()})
    fstar = sklearn_optimum(plan.split, plan.model, LAM)
    assert abs(float(shown["final loss"]) - fstar) / fstar <= 1e-4
    assert percent(shown["held-out accuracy"]) >= 0.95
    assert percent(shown["train accuracy"]) >= 0.95
    assert shown["epochs"] == "1000" and shown["gradient evaluations"] == str(1000 * 456)
    assert shown["method"].startswith("gd, lr 1 (constant)")
    assert "lam=0.01" in shown["function"] and "w (30,), b scalar" in shown["function"]
    assert png.read_bytes()[:8] == PNG


def test_adc_train_least_squares_and_mlp_print_their_results() -> None:
    proc = run_adc(
        "train", str(LEAST_SQUARES), "--data", "diabetes", "--lr", "0.2", "--epochs", "3000"
    )
    assert proc.returncode == 0, proc.stderr
    shown = figures(proc.stdout)
    best = lstsq_mse(loop.setup(LEAST_SQUARES, **LSQ_RUN).split)
    assert abs(float(shown["final loss"]) - best) / best <= 1e-6
    assert "accuracy" not in proc.stdout and "held-out loss" in shown

    proc = run_adc(
        "train", str(MLP), "--data", "breast_cancer", "--method", "minibatch",
        "--shape", "theta1=16,d", "--shape", "theta2=16,16", "--shape", "theta3=16",
        "--init", "normal", "--lr", "0.5", "--epochs", "200", "--batch", "32", "--seed", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shown = figures(proc.stdout)
    assert percent(shown["held-out accuracy"]) >= 0.96
    assert shown["gradient evaluations"] == str(200 * 456)
    assert float(shown["final loss"]) == pytest.approx(loop.train(MLP, **MLP_RUN).loss)


def test_adc_train_says_when_accuracy_is_unavailable(tmp_path) -> None:
    source = LOGISTIC.read_text().split("\n\ndef predict")[0] + "\n"
    path = tmp_path / "nopredict.py"
    path.write_text(source)
    proc = run_adc("train", str(path), "--data", "breast_cancer", "--labels", "pm1")
    assert proc.returncode == 0, proc.stderr
    assert "accuracy: unavailable: nopredict.py has no `predict` function" in proc.stdout


# ---------------------------------------------------------------------------------------------
# The comparison script


def _load_script():
    spec = importlib.util.spec_from_file_location("compare_methods", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["compare_methods"] = module
    spec.loader.exec_module(module)
    return module


def test_compare_methods_uses_equal_gradient_evaluations_and_writes_its_png(
    tmp_path, capsys
) -> None:
    script = _load_script()
    out = tmp_path / "compare.png"
    assert script.main(["--epochs", "3", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    table = {row[0]: row for row in rows if row and row[0] in ("gd", "sgd", "minibatch")}
    assert set(table) == {"gd", "sgd", "minibatch"}
    assert {row[3] for row in table.values()} == {str(3 * 456)}  # gradient evaluations
    assert [table[m][2] for m in ("gd", "sgd", "minibatch")] == ["3", str(3 * 456), "45"]


def test_the_docs_link_the_committed_comparison_figure() -> None:
    figure = ROOT / "docs" / "figures" / "compare_methods.png"
    assert figure.read_bytes()[:8] == PNG
    assert "(figures/compare_methods.png)" in page("docs/training.md")


def test_the_docs_training_example_is_what_adc_prints(tmp_path) -> None:
    command = block("docs/training.md", "train-command").split()
    shown = block("docs/training.md", "train-report")
    error = block("docs/training.md", "train-error")
    assert command[:2] == ["adc", "train"]
    proc = run_adc(*command[1:])
    assert proc.returncode == 0, proc.stderr

    got, want = figures(proc.stdout), figures(shown)
    assert list(got) == list(want) and proc.stdout.count("\n") == shown.count("\n")
    for key, value in want.items():
        if key.endswith("loss"):  # the last digits may differ with another BLAS
            assert float(got[key]) == pytest.approx(float(value), rel=1e-9), key
        elif key != "time":
            assert got[key] == value, key
    (tmp_path / "houses.csv").write_text("size,colour,price\n1.0,2,3\n2.5,red,4\n")
    proc = run_adc("train", str(LEAST_SQUARES), "--data", "houses.csv", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == error


# ---------------------------------------------------------------------------------------------
# Bad data and bad shapes: exit 1, `error:` and a hint, no traceback


def _fails(proc, *phrases: str) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"^\S+:\d+:\d+: error: ", proc.stderr, flags=re.M), proc.stderr
    assert "\nhint: " in proc.stderr
    for phrase in phrases:
        assert phrase in proc.stderr, proc.stderr
    return proc.stderr


def test_missing_data_file(tmp_path) -> None:
    _fails(
        run_adc("train", str(LEAST_SQUARES), "--data", str(tmp_path / "nope.csv")),
        "no such data file",
    )


def test_unknown_data_set() -> None:
    err = _fails(
        run_adc("train", str(LEAST_SQUARES), "--data", "housing"), "unknown data set `housing`"
    )
    assert "breast_cancer, diabetes, iris, digits" in err


def test_non_numeric_csv_column(tmp_path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("size,colour,price\n1.0,2,3\n2.5,red,4\n")
    err = _fails(
        run_adc("train", str(LEAST_SQUARES), "--data", str(path)),
        "column `colour` is not numeric: this row holds `red`",
    )
    assert err.startswith(f"{path}:3:5: error:")


def test_shape_that_does_not_fit_the_data() -> None:
    err = _fails(
        run_adc("train", str(LEAST_SQUARES), "--data", "diabetes", "--shape", "w=3"),
        "`loss` cannot run on the data with these shapes",
        "w (3,), b scalar, X (354, 10)",
        "--shape NAME=DIMS",
    )
    assert "least_squares.py:6:1: error:" in err


def test_mlp_without_shapes_is_a_clean_error() -> None:
    _fails(
        run_adc("train", str(MLP), "--data", "breast_cancer"),
        "theta1 scalar, theta2 scalar, theta3 scalar",
    )


def test_function_without_x(tmp_path) -> None:
    err = _fails(
        run_adc("train", str(SAMPLES / "slide.py"), "--data", "diabetes"),
        "`f` has no parameter `X` to receive the data",
    )
    assert "slide.py:6:1: error:" in err


def test_other_clean_errors() -> None:
    cases = [
        (["--data", "diabetes", "--set", "lam=1"], "cannot set `lam`: it is not a parameter"),
        (["--data", "diabetes", "--shape", "X=3"], "--shape X: `X` receives the data"),
        (["--data", "diabetes", "--shape", "w=a,b"], "cannot read the shape `w=a,b`"),
        (["--data", "diabetes", "--labels", "pm1"], "regression data set"),
        (["--data", "diabetes", "--lr", "100"], "the loss diverged"),
        (["--data", "diabetes", "--lr", "-1"], "is not positive"),
        (["--data", "diabetes", "--target", "x"], "does not apply to the bundled data set"),
        (["--data", "diabetes", "--function", "nope"], "no function `nope`"),
        (["--data", "iris", "--classify", "--positive", "7"], "no class 7"),
    ]
    runner = CliRunner()
    for args, phrase in cases:  # in process: the subprocess tests above cover the real command
        result = runner.invoke(main, ["train", str(LEAST_SQUARES), *args])
        assert result.exit_code == 1, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "error: " in result.stderr and "\nhint: " in result.stderr, result.stderr
        assert phrase in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------
# Data loading, labels, split, shapes (in process)


def test_csv_with_a_header_picks_the_target_by_name_or_index(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,t\n1,2,0\n3,4,1\n5,6,0\n")
    data = load_data(path)
    assert data.feature_names == ["a", "b"] and data.target_name == "t"
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(data.y, [0, 1, 0])
    assert load_data(path, "a").feature_names == ["b", "t"]
    np.testing.assert_array_equal(load_data(path, "0").y, [1, 3, 5])
    np.testing.assert_array_equal(load_data(path, -2).y, [2, 4, 6])
    with pytest.raises(CompileError, match="no column `zz`"):
        load_data(path, "zz")
    with pytest.raises(CompileError, match="out of range"):
        load_data(path, 5)


def test_csv_without_header_and_bad_rows(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("1,2,3\n4,5,6\n")
    data = load_data(path)
    assert data.X.shape == (2, 2) and list(data.y) == [3, 6]
    path.write_text("1,2,3\n4,5\n")
    with pytest.raises(CompileError, match="row has 2 columns") as info:
        load_data(path)
    assert info.value.line == 2
    path.write_text("x,y\n1,\n")
    with pytest.raises(CompileError, match="column `y` is not numeric: this row is empty"):
        load_data(path)


def test_npz_with_x_and_y_or_a_single_table(tmp_path) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    np.savez(tmp_path / "xy.npz", X=X, y=y)
    data = load_data(tmp_path / "xy.npz")
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)
    np.savez(tmp_path / "table.npz", table=np.c_[X, y])
    data = load_data(tmp_path / "table.npz", 0)
    np.testing.assert_array_equal(data.y, X[:, 0])
    assert data.X.shape == (20, 3)
    np.savez(tmp_path / "two.npz", a=X, b=y)
    with pytest.raises(CompileError, match="holds arrays a, b"):
        load_data(tmp_path / "two.npz")
    np.savez(tmp_path / "text.npz", X=np.array([["a", "b"]]), y=np.array([1.0]))
    with pytest.raises(CompileError, match="array X is not numeric"):
        load_data(tmp_path / "text.npz")


def test_training_on_a_csv_file_through_adc(tmp_path) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    path = tmp_path / "linear.csv"
    rows = ["target,f1,f2,f3"] + [f"{t},{a},{b},{c}" for t, (a, b, c) in zip(y, X)]
    path.write_text("\n".join(rows) + "\n")
    proc = run_adc(
        "train", str(LEAST_SQUARES), "--data", str(path), "--target", "target",
        "--raw", "--lr", "0.2", "--epochs", "500", "--test-size", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shown = figures(proc.stdout)
    assert float(shown["final loss"]) < 1e-20
    assert "200 training / 0 held-out examples, 3 features (raw)" in shown["data"]


def test_labels_split_and_standardisation() -> None:
    data = load_data("breast_cancer")
    split = prepare(data, labels="pm1", test_size=0.2, seed=3)
    assert set(np.unique(split.y_train)) == {-1.0, 1.0}
    np.testing.assert_array_equal(split.positive_train, split.y_train > 0)
    share = data.y.mean()  # stratified: both splits keep the share of positives
    assert abs(split.positive_train.mean() - share) < 0.005
    assert abs(split.positive_test.mean() - share) < 0.01
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(split.X_train.std(axis=0), 1, rtol=1e-12)
    assert np.abs(split.X_test.mean(axis=0)).max() > 1e-3  # the test split's own stats unused
    raw = prepare(data, raw=True, seed=3)
    assert raw.mean is None and set(np.unique(raw.y_train)) == {0.0, 1.0}
    np.testing.assert_allclose(raw.X_train, split.X_train * split.scale + split.mean, atol=1e-9)

    iris = prepare(load_data("iris"), labels="pm1")
    assert iris.task.startswith("class 1 vs the rest") and iris.positive_train.mean() < 0.5
    digits = prepare(load_data("digits"), labels="01", positive=3)
    assert set(np.unique(digits.y_train)) == {0.0, 1.0}
    assert abs(digits.y_train.mean() - 0.1) < 0.01


def test_shapes_hyperparameters_and_trained_parameters() -> None:
    model = load_model(LOGISTIC, settings={"lam": 0.5})
    assert model.trained == ["w", "b"] and model.hyper == {"lam": 0.5}
    assert matmul_operands(model.trace) == ["w"]
    assert param_shapes(model, 7) == {"w": (7,), "b": ()}
    assert param_shapes(model, 7, ["b=()", "w=d"]) == {"w": (7,), "b": ()}
    mlp = load_model(MLP)
    assert mlp.trained == ["theta1", "theta2", "theta3"] and mlp.predict is not None
    assert param_shapes(mlp, 5, {"theta1": (4, 5), "theta2": (4, 4), "theta3": 4}) == {
        "theta1": (4, 5),
        "theta2": (4, 4),
        "theta3": (4,),
    }
    with pytest.raises(CompileError, match="is trained"):
        load_model(LOGISTIC, settings={"w": 1.0})
    assert parse_shape("b=") == ("b", ())
    assert parse_shape("t=16, 30") == ("t", (16, 30))
    assert parse_settings(["lam=1e-3"]) == {"lam": 0.001}
