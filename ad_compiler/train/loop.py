"""Training a compiled loss on a data set: the glue behind `adc train` (no click here).

- `setup(file, data=..., ...)`: the model (ad_compiler.train.model), the prepared data
  (ad_compiler.train.data), the trained parameters' shapes and a trial call of the function
  on the data, so every problem shows before training starts, as a `Plan`;
- `run(plan, callback)`: one of ad_compiler.optim's methods on the plan, returning a
  `TrainResult` (parameters, loss history, final losses, accuracies, counts);
- `train(file, data=..., ...)`: `run(setup(...))`;
- `parse_settings(pairs)`: `--set NAME=VALUE` as hyperparameter values.

Bad options and a diverging run are CompileErrors with a location and a hint, never a
traceback.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import CompileError
from . import optim
from .data import Data, Split, load_data, prepare
from .model import Model, accuracy, load_model, param_shapes, predict, show_shape

__all__ = ["METHODS", "Plan", "TrainResult", "parse_settings", "run", "setup", "train"]

#: `adc train --method` -> the optimizer of ad_compiler.optim.
METHODS: dict[str, Callable[..., optim.OptimResult]] = {
    "gd": optim.gd,
    "sgd": optim.sgd,
    "minibatch": optim.minibatch_sgd,
    "subgradient": optim.subgradient_descent,
}


@dataclass
class Plan:
    """A validated training run, not yet started: the model, the data, shapes and options."""

    model: Model
    split: Split
    data_name: str
    shapes: dict[str, tuple]
    method: str
    lr: float
    epochs: int
    batch: int
    seed: int | None
    init: str
    schedule: str


def setup(
    file: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | Data,
    function: str | None = None,
    method: str = "gd",
    lr: float = 0.1,
    epochs: int = 100,
    batch: int = 32,
    seed: int | None = 0,
    shapes: Mapping[str, Any] | Sequence[str] | None = None,
    init: str = "zeros",
    settings: Mapping[str, float] | None = None,
    labels: str = "raw",
    positive: float | None = None,
    classify: bool = False,
    test_size: float = 0.2,
    target: str | int | None = None,
    raw: bool = False,
    schedule: str | None = None,
) -> Plan:
    """Everything `train` does before the first step: compile, load, split, check the shapes.

    Every problem with the file, the data or the options is raised here as a CompileError.
    """
    model = load_model(file, function, settings)
    _check_options(model, method, lr, epochs, batch, init, schedule)
    dataset = data if isinstance(data, Data) else load_data(data, target)
    split = prepare(
        dataset,
        classify=classify or None,
        labels=labels,
        positive=positive,
        test_size=test_size,
        seed=seed,
        raw=raw,
        where=dataset.name if isinstance(data, Data) else os.fspath(data),
    )
    chosen = param_shapes(model, split.d, shapes)
    _try_shapes(model, chosen, split, init, seed)
    return Plan(
        model=model,
        split=split,
        data_name=dataset.name,
        shapes=chosen,
        method=method,
        lr=float(lr),
        epochs=int(epochs),
        batch=int(batch),
        seed=seed,
        init=init,
        schedule=schedule or ("sqrt" if method == "subgradient" else "constant"),
    )


def _check_options(
    model: Model, method: str, lr: float, epochs: int, batch: int, init: str, schedule: str | None
) -> None:
    if method not in METHODS:
        raise model.error(None, f"unknown method `{method}`", "use " + ", ".join(METHODS))
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise model.error(
            None,
            f"the learning rate {lr!r} is not positive",
            "give --lr a positive number, e.g. --lr 0.1",
        )
    if not (isinstance(epochs, int) and epochs >= 0):
        raise model.error(None, f"epochs {epochs!r} is negative", "give --epochs a count >= 0")
    if not (isinstance(batch, int) and batch >= 1):
        raise model.error(None, f"batch size {batch!r} is not positive", "give --batch a size >= 1")
    if init not in ("zeros", "normal"):
        raise model.error(None, f"unknown init `{init}`", "use zeros or normal")
    if schedule not in (None, "constant", "sqrt"):
        raise model.error(None, f"unknown schedule `{schedule}`", "use constant or sqrt")


def _try_shapes(
    model: Model, shapes: Mapping[str, tuple], split: Split, init: str, seed: int | None
) -> None:
    """Run the function once on a few training rows: shapes that do not fit are clean errors."""
    X, y = split.X_train, split.y_train
    rows = slice(0, min(len(y), 4))
    params = _initial(shapes, init, seed)
    hint = (
        "shapes used: "
        + _shapes_text(model, shapes, X, y)
        + "; give the trained ones with --shape NAME=DIMS (e.g. --shape theta1=16,d, d being "
        "the number of features; --shape b= for a scalar)"
    )
    for batch in (slice(None), rows):
        try:
            with np.errstate(all="ignore"):
                value = model.call(model.primal, params, X[batch], y[batch])
                if np.size(value) == 1:  # a gradient refuses an array of losses
                    value, grads = model.call(model.value_and_grad, params, X[batch], y[batch])
        except (ValueError, TypeError, IndexError, ArithmeticError) as exc:
            raise model.error(
                None, f"`{model.function}` cannot run on the data with these shapes: {exc}", hint
            ) from None
        if np.size(value) != 1:
            raise model.error(
                None,
                f"`{model.function}` returns an array of shape {np.shape(value)} on the data, "
                "not a scalar loss",
                "return the mean loss over the examples, e.g. np.mean(...)",
            )
        for name, g in zip(model.trained, grads):
            if np.shape(g) != shapes[name]:
                raise model.error(
                    None,
                    f"the gradient of `{name}` has shape {np.shape(g)}, but `{name}` has shape "
                    f"{shapes[name]}",
                    hint,
                )
    if model.predict is not None:
        try:
            with np.errstate(all="ignore"):
                prob = np.asarray(predict(model, params, X))
        except (ValueError, TypeError, IndexError, ArithmeticError) as exc:
            raise model.error(
                model.predict_line,
                f"`predict` cannot run on the data with these shapes: {exc}",
                hint,
            ) from None
        if prob.shape != (len(y),):
            raise model.error(
                model.predict_line,
                f"`predict` returns shape {prob.shape} for {len(y)} examples",
                "return one probability of the positive label per row of X",
            )


def _shapes_text(model: Model, shapes: Mapping[str, tuple], X: np.ndarray, y: np.ndarray) -> str:
    parts = [f"{name} {show_shape(shape)}" for name, shape in shapes.items()]
    data = {"X": X, "y": y}
    parts += [f"{name} {show_shape(data[name].shape)}" for name in model.data_params]
    return ", ".join(parts)


def _initial(shapes: Mapping[str, tuple], init: str, seed: int | None) -> dict[str, Any]:
    """Initial values drawn as ad_compiler.optim draws them (same generator, same order)."""
    rng = np.random.default_rng(seed)
    values: dict[str, Any] = {}
    for name, shape in shapes.items():
        value = np.zeros(shape) if init == "zeros" else rng.normal(0.0, 0.01, size=shape)
        values[name] = float(value) if shape == () else value
    return values


@dataclass
class TrainResult:
    """What `train` did and what it reached.

    loss: the function on the training split at the returned params (for subgradient descent
    the best iterate, so min(history)); test_loss: the same on the held-out split (None
    without one). train_accuracy/test_accuracy: fractions in [0, 1], None for regression or
    without `predict` (accuracy_note says why).
    """

    model: Model
    split: Split
    data_name: str
    method: str
    lr: float
    epochs: int
    batch: int | None
    schedule: str
    init: str
    seed: int | None
    shapes: dict[str, tuple]
    params: dict[str, Any]
    history: list[float]
    loss: float
    test_loss: float | None
    steps: int
    gradient_evaluations: int
    seconds: float
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    accuracy_note: str | None = None

    def report(self) -> str:
        """The final report `adc train` prints."""
        s = self.split
        features = "standardised" if s.mean is not None else "raw"
        lines = [
            f"data: {self.data_name}, {s.n_train} training / {s.n_test} held-out examples, "
            f"{s.d} features ({features}); {s.task}",
            f"function: {self.model.function}({', '.join(self.model.trace.params)}); trained "
            + ", ".join(f"{n} {show_shape(sh)}" for n, sh in self.shapes.items())
            + (
                "; " + ", ".join(f"{k}={_fmt(v)}" for k, v in self.model.hyper.items())
                if self.model.hyper
                else ""
            ),
            f"method: {self.method}, lr {_fmt(self.lr)} ({self.schedule}), "
            + (f"batch {self.batch}, " if self.method == "minibatch" else "")
            + f"init {self.init}, seed {self.seed}",
            f"epochs: {self.epochs}",
            f"steps: {self.steps}",
            f"gradient evaluations: {self.gradient_evaluations}",
            f"time: {self.seconds:.2f} s",
            f"initial loss: {self.history[0]!r}",
            f"final loss: {self.loss!r}",
        ]
        if self.test_loss is not None:
            lines.append(f"held-out loss: {self.test_loss!r}")
        if self.train_accuracy is not None:
            lines.append(f"train accuracy: {_pct(self.train_accuracy, s.n_train)}")
            if self.test_accuracy is not None:
                lines.append(f"held-out accuracy: {_pct(self.test_accuracy, s.n_test)}")
        elif self.accuracy_note:
            lines.append(f"accuracy: {self.accuracy_note}")
        return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _pct(fraction: float, n: int) -> str:
    return f"{100 * fraction:.2f}% ({int(round(fraction * n))}/{n})"


def run(plan: Plan, callback: Callable[[int, float], Any] | None = None) -> TrainResult:
    """Run a planned training; `callback(epoch, loss)` after every epoch (full training loss).

    A loss that becomes nan or inf stops the run with a CompileError.
    """
    model, split, method = plan.model, plan.split, plan.method
    fn = partial(model.value_and_grad, **model.hyper) if model.hyper else model.value_and_grad
    train_data = {"X": split.X_train, "y": split.y_train}
    train_data = {k: train_data[k] for k in model.data_params}

    def on_epoch(epoch: int, loss: float, _params: dict[str, Any]) -> None:
        if not math.isfinite(loss):
            raise _Diverged(epoch, loss)
        if callback is not None:
            callback(epoch, loss)

    kwargs: dict[str, Any] = dict(
        lr=plan.lr,
        epochs=plan.epochs,
        schedule=plan.schedule,
        init=plan.init,
        seed=plan.seed,
        callback=on_epoch,
    )
    if method == "minibatch":
        kwargs["batch_size"] = plan.batch
    start = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            result = METHODS[method](fn, dict(plan.shapes), train_data, **kwargs)
    except _Diverged as exc:
        raise model.error(
            None,
            f"the loss diverged to {exc.loss} at epoch {exc.epoch} ({method}, lr {plan.lr:g})",
            "lower the learning rate with --lr"
            + (" or use --schedule sqrt" if plan.schedule == "constant" else ""),
        ) from None
    except (ValueError, TypeError, IndexError, ArithmeticError) as exc:
        raise model.error(
            None,
            f"training `{model.function}` failed: {exc}",
            "check the shapes (--shape) and the learning rate (--lr)",
        ) from None
    seconds = time.perf_counter() - start

    params = result.params
    with np.errstate(all="ignore"):
        loss = float(model.call(model.primal, params, split.X_train, split.y_train))
        test_loss = (
            float(model.call(model.primal, params, split.X_test, split.y_test))
            if split.n_test
            else None
        )
    out = TrainResult(
        model=model,
        split=split,
        data_name=plan.data_name,
        method=method,
        lr=plan.lr,
        epochs=plan.epochs,
        batch=plan.batch if method == "minibatch" else None,
        schedule=plan.schedule,
        init=plan.init,
        seed=plan.seed,
        shapes=dict(plan.shapes),
        params=params,
        history=list(result.history),
        loss=loss,
        test_loss=test_loss,
        steps=result.steps,
        gradient_evaluations=result.gradient_evaluations,
        seconds=seconds,
    )
    if split.classification:
        if model.predict is None:
            out.accuracy_note = f"unavailable: {Path(model.file).name} has no `predict` function"
        else:
            out.train_accuracy = accuracy(model, params, split.X_train, split.positive_train)
            if split.n_test:
                out.test_accuracy = accuracy(model, params, split.X_test, split.positive_test)
    return out


class _Diverged(Exception):
    def __init__(self, epoch: int, loss: float) -> None:
        super().__init__(epoch, loss)
        self.epoch, self.loss = epoch, loss


def train(
    file: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | Data,
    callback: Callable[[int, float], Any] | None = None,
    **options: Any,
) -> TrainResult:
    """Train a function of `file` on `data`: `run(setup(file, data=data, **options), callback)`.

    `data` is a bundled data set's name, a .csv/.npz/.npy path or a `Data`. Options (see
    `setup`): function (default `loss`), method (gd, sgd, minibatch, subgradient), lr, epochs,
    batch, seed, shapes, init, settings (hyperparameter values), labels, positive, classify,
    test_size, target, raw, schedule (default: sqrt for subgradient, constant otherwise).
    """
    return run(setup(file, data=data, **options), callback)


def parse_settings(pairs: Sequence[str], where: str = "<input>") -> dict[str, float]:
    """NAME=VALUE strings (`--set lam=0.01`) as a dict of floats."""
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        try:
            value = float(text)
        except ValueError:
            value = None
        if not sep or not name.strip().isidentifier() or value is None:
            raise CompileError(
                f"cannot read the setting `{pair}`",
                filename=where,
                hint="write NAME=NUMBER for a parameter with a default value, e.g. --set lam=0.01",
            )
        values[name.strip()] = value
    return values
