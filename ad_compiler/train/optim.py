"""First-order optimizers driven by generated `value_and_grad_*` functions.

The lecture's four methods, for an objective f(w) = 1/n sum_i l_i(w) given as a function
`value_and_grad(**params, **data) -> (value, gradients)` such as the `value_and_grad_loss`
that adc generates for `def loss(w, X, y)`:

- `gd`: w_{t+1} = w_t - eta_t * grad f(w_t), the full data at every step;
- `sgd`: w_{t+1} = w_t - eta_t * grad l_{I_t}(w_t), one index I_t drawn uniformly per step;
- `minibatch_sgd`: the average of B stochastic gradients per step, drawn with or without
  replacement;
- `subgradient_descent`: full-data steps along any subgradient g_t; not a descent method, so
  the best iterate seen is returned.

The module needs numpy only and imports nothing else from adc.

Conventions shared by every method:

- `params` maps each trained parameter's name to its initial value (an array, a list, or a
  Python float, which stays a Python float), or to a shape (a tuple, or an int n for (n,)),
  initialised by `init`: "zeros" (w0 = 0, the lecture's initialisation) or "normal" (seeded
  N(0, 0.01^2) entries).
- `data` maps names to arrays whose first axis indexes the examples; all must have the same
  length n. A batch keeps that axis: the single example i is `X[i:i+1]`, `y[i:i+1]`. The
  function must return the *mean* loss over the examples it is given, so that the gradient of
  a batch is the average of its examples' gradients. Constants such as a regularisation weight
  belong in a default value or a `functools.partial`, not in `data`.
- The function is called by keyword with the params and the (batch of) data; its signature
  is checked first and a ValueError names the unknown and the missing arguments.
- The gradient tuple maps to the params in one of two ways, chosen by its length: one entry
  per trained param, in the order of `params` (a function compiled with `wrt=[...]` in that
  order), or one entry per parameter of the function's signature, in signature order (a
  function compiled without `wrt`), from which the trained ones are picked by name. When both
  lengths agree the first reading is used, so list `params` in the gradient's order.
- `schedule` gives the step size of step t = 1, 2, ... (counted over all epochs): "constant"
  (lr), "sqrt" (lr / sqrt(t)), or a callable t -> step size.
- One generator, `np.random.default_rng(seed)`, draws the initial point (init="normal") and
  then the examples, so the same seed gives identical results.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "OptimResult",
    "gd",
    "minibatch_sgd",
    "sgd",
    "subgradient_descent",
]

#: The `value_and_grad` convention: called by keyword, returns (loss, gradient tuple).
ValueAndGrad = Callable[..., tuple[Any, Sequence[Any]]]
#: A parameter's initial value (array-like or Python float) or its shape (tuple or int).
ParamSpec = Any
Schedule = str | Callable[[int], float]
Callback = Callable[[int, float, dict[str, Any]], Any]

_INITS = ("zeros", "normal")
_INIT_STD = 0.01
_SAMPLING = ("sgd", "minibatch_sgd")


@dataclass
class OptimResult:
    """What an optimizer returns.

    params: the final iterate (the best one seen, for `subgradient_descent`), one float64
        array per trained param with its initial shape, or a Python float for a param given
        as a float (or as the shape `()`).
    history: the full-data loss of the initial point, then of the current iterate after each
        epoch (epochs + 1 entries).
    steps: the number of parameter updates.
    gradient_evaluations: the number of examples whose gradients the updates used (n per
        full-data step, 1 per sgd step, B per mini-batch step), to compare methods at equal
        cost. The full-data evaluations made only to record `history` are not counted.
    method: "gd", "sgd", "minibatch_sgd" or "subgradient_descent".
    """

    params: dict[str, Any]
    history: list[float] = field(default_factory=list)
    steps: int = 0
    gradient_evaluations: int = 0
    method: str = ""


# ---------------------------------------------------------------------------------------------
# Public methods


def gd(
    value_and_grad: ValueAndGrad,
    params: Mapping[str, ParamSpec],
    data: Mapping[str, Any] | None = None,
    *,
    lr: float = 0.1,
    epochs: int = 100,
    schedule: Schedule = "constant",
    init: str = "zeros",
    seed: int | None = 0,
    callback: Callback | None = None,
) -> OptimResult:
    """Full-batch gradient descent: w_{t+1} = w_t - eta_t * grad f(w_t), one step per epoch.

    Each step evaluates `value_and_grad` on all of `data` (or with the params alone when
    `data` is None, counted as one gradient evaluation per step). `callback(epoch, loss,
    params)` is called after each epoch, epoch = 1, 2, .... See the module docstring for
    `params`, `data`, the gradient tuple, `schedule`, `init` and `seed`.
    """
    problem = _Problem(value_and_grad, params, data, "gd", lr, epochs, schedule, init, seed)
    return problem.run(lambda: iter([None]), callback, keep_best=False)


def sgd(
    value_and_grad: ValueAndGrad,
    params: Mapping[str, ParamSpec],
    data: Mapping[str, Any] | None = None,
    *,
    lr: float = 0.1,
    epochs: int = 100,
    schedule: Schedule = "constant",
    init: str = "zeros",
    seed: int | None = 0,
    callback: Callback | None = None,
) -> OptimResult:
    """Stochastic gradient descent: w_{t+1} = w_t - eta_t * grad l_{I_t}(w_t).

    Each step draws one index I_t uniformly from {0, ..., n-1}, independently of the others
    (with replacement), and evaluates `value_and_grad` on that single example with its batch
    axis kept (`X[i:i+1]`). An epoch is n steps. `data` is required. A decaying schedule
    ("sqrt") makes the iterates converge; a constant one leaves them in a noise ball.
    """
    problem = _Problem(value_and_grad, params, data, "sgd", lr, epochs, schedule, init, seed)
    n = problem.require_data()
    rng = problem.rng

    def epoch() -> Iterator[slice]:
        for i in rng.integers(0, n, size=n):
            yield slice(int(i), int(i) + 1)

    return problem.run(epoch, callback, keep_best=False)


def minibatch_sgd(
    value_and_grad: ValueAndGrad,
    params: Mapping[str, ParamSpec],
    data: Mapping[str, Any] | None = None,
    *,
    batch_size: int = 32,
    replace: bool = False,
    lr: float = 0.1,
    epochs: int = 100,
    schedule: Schedule = "constant",
    init: str = "zeros",
    seed: int | None = 0,
    callback: Callback | None = None,
) -> OptimResult:
    """Mini-batch SGD: each step follows the average gradient of a batch of B examples.

    Without replacement (the default) every epoch draws a fresh permutation of the n examples
    and walks it in consecutive batches of `batch_size`, keeping the last, smaller batch, so
    each example is used exactly once per epoch. With `replace=True` each step draws B indices
    uniformly and independently, and an epoch is ceil(n / B) steps. `data` is required.
    """
    problem = _Problem(
        value_and_grad, params, data, "minibatch_sgd", lr, epochs, schedule, init, seed
    )
    n = problem.require_data()
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    size = int(batch_size)
    rng = problem.rng

    def without_replacement() -> Iterator[np.ndarray]:
        order = rng.permutation(n)
        for start in range(0, n, size):
            yield order[start : start + size]

    def with_replacement() -> Iterator[np.ndarray]:
        for _ in range(-(-n // size)):
            yield rng.integers(0, n, size=size)

    return problem.run(with_replacement if replace else without_replacement, callback, False)


def subgradient_descent(
    value_and_grad: ValueAndGrad,
    params: Mapping[str, ParamSpec],
    data: Mapping[str, Any] | None = None,
    *,
    lr: float = 0.1,
    epochs: int = 100,
    schedule: Schedule = "sqrt",
    init: str = "zeros",
    seed: int | None = 0,
    callback: Callback | None = None,
) -> OptimResult:
    """Subgradient descent: w_{t+1} = w_t - eta_t * g_t, g_t any subgradient of f at w_t.

    Full-data steps as in `gd` (one per epoch), for non-smooth convex objectives (hinge, L1)
    whose `value_and_grad` returns a subgradient. The objective need not decrease from step
    to step, so `params` of the result is the best iterate seen (lowest full-data loss; ties
    keep the earliest), while `history` records the loss of the current iterate after each
    epoch, so `min(history)` is the loss of the returned params. The default schedule is
    "sqrt" (lr / sqrt(t)).
    """
    problem = _Problem(
        value_and_grad, params, data, "subgradient_descent", lr, epochs, schedule, init, seed
    )
    return problem.run(lambda: iter([None]), callback, keep_best=True)


# ---------------------------------------------------------------------------------------------
# The shared engine


class _Problem:
    """A validated call: initial params, data, schedule, and how to call the function."""

    def __init__(
        self,
        fn: ValueAndGrad,
        params: Mapping[str, ParamSpec],
        data: Mapping[str, Any] | None,
        method: str,
        lr: float,
        epochs: int,
        schedule: Schedule,
        init: str,
        seed: int | None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"value_and_grad must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.fname = getattr(fn, "__name__", "value_and_grad")
        self.method = method
        self.lr = _check_lr(lr)
        self.epochs = _check_epochs(epochs)
        self.step_size = _schedule(schedule, self.lr)
        if init not in _INITS:
            raise ValueError(f"unknown init {init!r}; use one of {', '.join(map(repr, _INITS))}")
        if not isinstance(params, Mapping) or not params:
            raise ValueError("params must be a non-empty dict: name -> initial value or shape")
        self.data, self.n = _check_data(data)
        if self.n is None and method in _SAMPLING:
            raise ValueError(f"{method} samples examples, so it needs data (got none)")
        self.names = [_check_name(name, "params") for name in params]
        both = sorted(set(self.names) & set(self.data))
        if both:
            raise ValueError(f"names in both params and data: {', '.join(both)}")
        self.signature = self._check_signature()
        self.rng = np.random.default_rng(seed)
        self.scalar = {}
        self.initial: dict[str, Any] = {}
        for name in self.names:
            self.initial[name], self.scalar[name] = _initial(name, params[name], init, self.rng)
        self.mapping: list[int] | None = None
        self.expected = 0

    # -- validation ---------------------------------------------------------------------------

    def _check_signature(self) -> list[str] | None:
        """The names of the function's parameters, after checking the call will bind."""
        try:
            sig = inspect.signature(self.fn)
        except (TypeError, ValueError):
            return None
        named = [
            p
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY)
        ]
        keyword = {p.name for p in named if p.kind != p.POSITIONAL_ONLY}
        takes_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        given = {**{name: "params" for name in self.names}, **{k: "data" for k in self.data}}
        unknown = [] if takes_any else [name for name in given if name not in keyword]
        missing = [
            p.name
            for p in named
            if p.default is p.empty and (p.name not in given or p.kind == p.POSITIONAL_ONLY)
        ]
        if unknown or missing:
            problems = []
            if unknown:
                listed = ", ".join(f"{name!r} (from {given[name]})" for name in unknown)
                problems.append(f"it has no parameter {listed}")
            if missing:
                problems.append(
                    "nothing is given for its parameter "
                    + ", ".join(repr(name) for name in missing)
                )
            raise ValueError(
                f"cannot call {self.fname}{sig} by keyword: {'; '.join(problems)} "
                f"(params: {', '.join(self.names)}; data: {', '.join(self.data) or 'none'})"
            )
        return [p.name for p in named]

    def require_data(self) -> int:
        """n, for the stochastic methods (checked at construction)."""
        assert self.n is not None
        return self.n

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, params: dict[str, Any], batch: Any) -> tuple[float, dict[str, Any]]:
        """The loss and the gradients of the trained params on a batch (None: all the data)."""
        data = self.data if batch is None else {k: v[batch] for k, v in self.data.items()}
        out = self.fn(**params, **data)
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise ValueError(
                f"{self.fname} must return (value, gradients), got {type(out).__name__}"
            )
        value, grads = out
        if isinstance(grads, tuple | list):
            grads = list(grads)
        elif len(self.names) == 1:
            grads = [grads]
        else:
            raise ValueError(
                f"{self.fname} must return its gradients as a tuple, got {type(grads).__name__}"
            )
        picked = {name: grads[i] for name, i in zip(self.names, self._indices(len(grads)))}
        return _loss(value, self.fname), picked

    def _indices(self, count: int) -> list[int]:
        """Where each trained param's gradient sits in a gradient tuple of `count` entries."""
        if self.mapping is not None and count == self.expected:
            return self.mapping
        if self.mapping is not None:
            raise ValueError(f"{self.fname} returned {count} gradients, {self.expected} before")
        if count == len(self.names):
            self.mapping = list(range(count))
        elif self.signature is not None and count == len(self.signature):
            self.mapping = [self.signature.index(name) for name in self.names]
        else:
            options = f"{len(self.names)} (one per trained param: {', '.join(self.names)})"
            if self.signature is not None:
                options += (
                    f" or {len(self.signature)} (one per parameter of the signature: "
                    f"{', '.join(self.signature)})"
                )
            raise ValueError(f"{self.fname} returned {count} gradients; expected {options}")
        self.expected = count
        return self.mapping

    def update(self, params: dict[str, Any], grads: dict[str, Any], eta: float) -> dict[str, Any]:
        """w - eta * g for every trained param, as new objects (the old ones stay valid)."""
        new = {}
        for name in self.names:
            w, g = params[name], np.asarray(grads[name], dtype=np.float64)
            shape = np.shape(w)
            if g.shape != shape:
                raise ValueError(
                    f"the gradient for {name!r} has shape {g.shape}, but {name!r} has shape {shape}"
                )
            new[name] = float(w - eta * g) if self.scalar[name] else w - eta * g
        return new

    # -- the loop -----------------------------------------------------------------------------

    def run(
        self,
        epoch_batches: Callable[[], Iterator[Any]],
        callback: Callback | None,
        keep_best: bool,
    ) -> OptimResult:
        """Run `epochs` epochs; each batch of `epoch_batches()` is one step (None: all data)."""
        n = 1 if self.n is None else self.n
        params = dict(self.initial)
        loss, full_grads = self.evaluate(params, None)
        history = [loss]
        best, best_loss = params, loss
        steps = evaluations = 0
        for epoch in range(1, self.epochs + 1):
            for batch in epoch_batches():
                if batch is None:
                    grads = full_grads if full_grads is not None else self.evaluate(params, None)[1]
                    evaluations += n
                else:
                    grads = self.evaluate(params, batch)[1]
                    evaluations += _batch_len(batch)
                full_grads = None
                steps += 1
                params = self.update(params, grads, self.step_size(steps))
            loss, full_grads = self.evaluate(params, None)
            history.append(loss)
            if keep_best and loss < best_loss:
                best, best_loss = params, loss
            if callback is not None:
                callback(epoch, loss, dict(params))
        return OptimResult(
            params=dict(best if keep_best else params),
            history=history,
            steps=steps,
            gradient_evaluations=evaluations,
            method=self.method,
        )


# ---------------------------------------------------------------------------------------------
# Helpers


def _check_lr(lr: Any) -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    return float(lr)


def _check_epochs(epochs: Any) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    return int(epochs)


def _check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{where} names must be identifiers, got {name!r}")
    return name


def _schedule(schedule: Schedule, lr: float) -> Callable[[int], float]:
    """The step size of step t = 1, 2, ...; checks the schedule before any step is taken."""
    if isinstance(schedule, str):
        if schedule == "constant":
            return lambda t: lr
        if schedule == "sqrt":
            return lambda t: lr / math.sqrt(t)
    elif callable(schedule):

        def call(t: int) -> float:
            eta = schedule(t)
            if isinstance(eta, bool) or not isinstance(eta, numbers.Real | np.floating):
                raise ValueError(f"schedule({t}) must return a number, got {eta!r}")
            if not (math.isfinite(eta) and eta >= 0):
                raise ValueError(f"schedule({t}) must be a finite step size >= 0, got {eta!r}")
            return float(eta)

        return call
    raise ValueError(
        f"unknown schedule {schedule!r}; use 'constant' (lr), 'sqrt' (lr / sqrt(t)) "
        "or a callable t -> step size"
    )


def _check_data(data: Mapping[str, Any] | None) -> tuple[dict[str, np.ndarray], int | None]:
    """The data as arrays sharing a first axis of length n (None: no data)."""
    if data is None:
        return {}, None
    if not isinstance(data, Mapping):
        raise ValueError(f"data must be a dict name -> array, got {type(data).__name__}")
    if not data:
        return {}, None
    arrays = {}
    for name, value in data.items():
        _check_name(name, "data")
        array = np.asarray(value)
        if array.ndim == 0:
            raise ValueError(
                f"data[{name!r}] is a scalar, but data holds arrays whose first axis indexes "
                "the examples; give constants as a default value or with functools.partial"
            )
        arrays[name] = array
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise ValueError(f"data arrays must have the same length (first axis): {listed}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError("data has no examples (length 0)")
    return arrays, n


def _initial(name: str, spec: Any, init: str, rng: np.random.Generator) -> tuple[Any, bool]:
    """A param's initial value from its spec, and whether it is a Python-float scalar."""
    if isinstance(spec, bool):
        raise ValueError(f"params[{name!r}] must be an initial value or a shape, got {spec!r}")
    if isinstance(spec, numbers.Integral):
        if spec < 1:
            raise ValueError(
                f"params[{name!r}] = {spec} is read as a shape (n,) and must be >= 1; "
                "give 0.0 for a scalar starting at zero"
            )
        spec = (int(spec),)
    if isinstance(spec, tuple):
        if not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0 for d in spec
        ):
            raise ValueError(f"params[{name!r}] = {spec!r} is not a shape of non-negative ints")
        shape = tuple(int(d) for d in spec)
        if init == "zeros":
            value = np.zeros(shape)
        else:
            value = rng.normal(0.0, _INIT_STD, size=shape)
        return (float(value), True) if shape == () else (value, False)
    if isinstance(spec, numbers.Real) and not isinstance(spec, np.ndarray):
        return float(spec), True
    try:
        value = np.array(spec, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"params[{name!r}] must be an initial value or a shape, got {type(spec).__name__}"
        ) from exc
    return value, False


def _loss(value: Any, fname: str) -> float:
    array = np.asarray(value, dtype=np.float64)
    if array.size != 1:
        raise ValueError(f"{fname} must return a scalar loss, got shape {array.shape}")
    return float(array.reshape(()))


def _batch_len(batch: Any) -> int:
    if isinstance(batch, slice):
        return batch.stop - batch.start
    return len(batch)
