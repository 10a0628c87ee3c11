"""GD, SGD and mini-batch SGD on one problem for the same number of gradient evaluations.

The problem: L2-regularised logistic regression (samples/logistic_regression.py, lam = 0.01)
on scikit-learn's breast_cancer data, labels -1/+1, 80% for training, features standardised,
all through `ad_compiler.train`. One epoch of each method uses every training example's
gradient once (GD: one full step; SGD: n single-example steps; mini-batch: n/B steps of B),
so after the same number of epochs the three runs have used the same number of gradient
evaluations. The optimum f* is scikit-learn's LogisticRegression for the same objective
(C = 1 / (lam n)); the figure shows f(w) - f* after each epoch against gradient evaluations.

    python samples/scripts/compare_methods.py [--epochs 100] [--out FILE.png]

Needs scikit-learn and matplotlib (pip install adc[train]).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ad_compiler.train import TrainResult, plot_history, train  # noqa: E402

SAMPLE = ROOT / "samples" / "logistic_regression.py"
LAM = 0.01
#: method -> (learning rate, extra options); each lr was the best of a small grid at 30 epochs.
RUNS: dict[str, tuple[float, dict]] = {
    "gd": (2.0, {}),
    "sgd": (0.01, {}),
    "minibatch": (0.3, {"batch": 32}),
}


def optimum(result: TrainResult) -> float:
    """f* on the training split: scikit-learn's LogisticRegression for the same objective."""
    from sklearn.linear_model import LogisticRegression

    X, y = result.split.X_train, result.split.y_train
    fit = LogisticRegression(C=1 / (LAM * len(y)), tol=1e-12, max_iter=100_000).fit(X, y)
    model = result.model
    return float(model.primal(w=fit.coef_[0], b=float(fit.intercept_[0]), X=X, y=y, **model.hyper))


def compare(epochs: int = 100, seed: int = 0) -> tuple[dict[str, TrainResult], float]:
    """The three runs (same data split, same epochs) and the optimum f*."""
    results = {
        method: train(
            SAMPLE,
            data="breast_cancer",
            method=method,
            lr=lr,
            epochs=epochs,
            seed=seed,
            labels="pm1",
            settings={"lam": LAM},
            **extra,
        )
        for method, (lr, extra) in RUNS.items()
    }
    return results, optimum(results["gd"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "docs" / "figures" / "compare_methods.png"))
    args = parser.parse_args(argv)
    results, fstar = compare(args.epochs, args.seed)
    n = results["gd"].split.n_train
    print(f"logistic regression, lam={LAM}, breast_cancer: n={n} training examples, f* = {fstar!r}")
    print(
        f"{'method':<10} {'lr':>5} {'steps':>7} {'gradient evals':>15} {'f - f*':>10} "
        f"{'held-out acc':>12} {'time':>7}"
    )
    for method, r in results.items():
        print(
            f"{method:<10} {r.lr:>5g} {r.steps:>7} {r.gradient_evaluations:>15} "
            f"{r.history[-1] - fstar:>10.2e} {100 * r.test_accuracy:>11.2f}% {r.seconds:>6.2f}s"
        )
    labels = {
        "gd": "GD (lr {lr:g}, 1 step per epoch)",
        "sgd": "SGD (lr {lr:g}, {per} steps of 1 per epoch)",
        "minibatch": "mini-batch SGD (lr {lr:g}, {per} steps of B=32 per epoch)",
    }
    curves, xs = {}, {}
    for method, r in results.items():
        label = labels[method].format(lr=r.lr, per=r.steps // max(r.epochs, 1))
        curves[label] = [max(v - fstar, 1e-16) for v in r.history]
        xs[label] = [epoch * n for epoch in range(len(r.history))]
    plot_history(
        curves,
        args.out,
        title=f"L2 logistic regression (lam = {LAM:g}) on breast_cancer, n = {n}\n"
        f"{args.epochs} epochs = {args.epochs * n} gradient evaluations for each method",
        xlabel="gradient evaluations (examples)",
        ylabel="f(w) - f*",
        x=xs,
        log=True,
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
