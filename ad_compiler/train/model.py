"""The function being trained, as a model: its data, trained and hyperparameters, and shapes.

- `load_model(file, function, settings)`: the function compiled with wrt = its trained
  parameters (all but `X`, `y` and those with default values, which are hyperparameters
  that `settings` may override), plus the file's `predict` when there is one, as a `Model`;
- `param_shapes(model, d, given)`: each trained parameter's shape, given (`parse_shape` reads
  `--shape NAME=DIMS`) or inferred (the right operand of `X @ p` gets (d,), any other a
  scalar);
- `predict(model, params, X)` and `accuracy(...)`: the file's `predict` at given parameters.

A function that cannot be trained is a CompileError at its line in the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import CompileError, Source
from ..core.ir import Trace
from ..frontend.module import read_module
from ..pipeline import build as compile_source
from ..pipeline import read_source

__all__ = [
    "DATA_PARAMS",
    "Model",
    "accuracy",
    "load_model",
    "matmul_operands",
    "param_shapes",
    "parse_shape",
    "predict",
    "show_shape",
]

#: The parameters that receive the data: features X (one row per example) and target y.
DATA_PARAMS = ("X", "y")


@dataclass
class Model:
    """A loss compiled for training, and its file's `predict` when there is one."""

    file: str
    function: str
    trace: Trace
    source: Source
    value_and_grad: Callable[..., Any]
    primal: Callable[..., Any]
    trained: list[str]
    data_params: list[str]
    hyper: dict[str, float]
    predict: Callable[..., Any] | None = None
    predict_params: list[str] = field(default_factory=list)
    predict_defaults: dict[str, float] = field(default_factory=dict)
    predict_line: int = 0

    def error(self, line: int | None, message: str, hint: str) -> CompileError:
        """A CompileError at `line` of the file (None: the function's `def` line)."""
        line = self.trace.line if line is None else line
        text = self.source.line_text(line)
        col = len(text) - len(text.lstrip()) + 1
        return CompileError(
            message, filename=self.file, line=line, col=col, source_line=text, hint=hint
        )

    def call(self, fn: Callable[..., Any], params: Mapping[str, Any], X: Any, y: Any) -> Any:
        """fn(**params, X=X, y=y, **hyper): the function's own keyword convention."""
        data = {"X": X, "y": y}
        return fn(**params, **{k: data[k] for k in self.data_params}, **self.hyper)


def _default_loss(functions: list[str], file: str) -> str:
    if "loss" in functions:
        return "loss"
    if len(functions) == 1:
        return functions[0]
    raise CompileError(
        f"{file} has no function `loss`, so adc cannot tell which function to train",
        filename=file,
        hint="name it with --function; functions here: " + ", ".join(functions),
    )


def load_model(
    file: str | os.PathLike[str],
    function: str | None = None,
    settings: Mapping[str, float] | None = None,
) -> Model:
    """Compile `function` (default: `loss`) for training and find its hyperparameters.

    Parameters X and y receive the data; parameters with a default value are hyperparameters
    (`settings` overrides their values); the rest are trained, in signature order, and the
    function is compiled with wrt = those.
    """
    file = os.fspath(file)
    text = read_source(file)
    source = Source(text, file)
    functions = list(read_module(source).functions)
    if function is None:
        function = _default_loss(functions, file)
    plain = compile_source(text, file, function)
    trace = plain.traces[function]
    params = list(trace.params)
    data_params = [p for p in DATA_PARAMS if p in params]
    hyper = {p: float(v) for p, v in trace.defaults.items() if p not in DATA_PARAMS}
    trained = [p for p in params if p not in DATA_PARAMS and p not in hyper]
    model = Model(
        file=file,
        function=function,
        trace=trace,
        source=source,
        value_and_grad=lambda **kw: None,
        primal=lambda **kw: None,
        trained=trained,
        data_params=data_params,
        hyper=hyper,
    )
    if "X" not in params:
        raise model.error(
            None,
            f"`{function}` has no parameter `X` to receive the data",
            "name the features parameter X (one row per example) and the target y; every "
            "other parameter without a default is trained",
        )
    if not trained:
        raise model.error(
            None,
            f"`{function}` has nothing to train: its parameters are the data (X, y) and "
            "hyperparameters with default values",
            "give the trained parameters no default value",
        )
    for name, value in (settings or {}).items():
        if name not in hyper:
            kind = (
                "receives the data"
                if name in DATA_PARAMS
                else "is trained"
                if name in trained
                else "is not a parameter"
            )
            raise model.error(
                None,
                f"cannot set `{name}`: it {kind} of `{function}`",
                "--set takes a parameter with a default value: "
                + (", ".join(hyper) if hyper else f"`{function}` has none"),
            )
        hyper[name] = float(value)
    compiled = compile_source(text, file, function, trained)
    module = compiled.load_in_memory()
    model.value_and_grad = getattr(module, f"value_and_grad_{function}")
    model.primal = getattr(module, function)
    if function != "predict" and "predict" in functions:
        _attach_predict(model, text)
    return model


def _attach_predict(model: Model, text: str) -> None:
    """The file's `predict`, checked to take only trained params, X and hyperparameters."""
    compiled = compile_source(text, model.file, "predict")
    trace = compiled.traces["predict"]
    model.predict_line = trace.line
    known = set(model.trained) | {"X"} | set(model.hyper)
    unknown = [p for p in trace.params if p not in known and p not in trace.defaults]
    if "X" not in trace.params or unknown:
        raise model.error(
            trace.line,
            "`predict` has no parameter X"
            if "X" not in trace.params
            else f"`predict` needs {', '.join(unknown)}",
            f"predict takes the trained parameters of `{model.function}` "
            f"({', '.join(model.trained)}) and X, and returns the probability of the positive "
            "label",
        )
    model.predict = compiled.load_in_memory().predict
    model.predict_params = list(trace.params)
    model.predict_defaults = {p: float(v) for p, v in trace.defaults.items()}


def parse_shape(text: str, d: int | None = None, where: str = "<input>") -> tuple[str, tuple]:
    """`NAME=DIMS` (`theta1=16,30`, `w=d`, `b=` or `b=()`) as (name, shape).

    A dimension `d` stands for the number of features.
    """
    name, sep, dims = text.partition("=")
    name, dims = name.strip(), dims.strip().strip("()").replace(" ", "")
    parts = [p for p in dims.split(",") if p] if dims else []
    ok = sep and name.isidentifier() and all(re.fullmatch(r"\d+|d", p) for p in parts)
    if not ok or (parts and dims.endswith(",,")):
        raise CompileError(
            f"cannot read the shape `{text}`",
            filename=where,
            hint="write NAME=DIMS: --shape theta1=16,30, --shape w=d (d: the number of "
            "features), --shape b= for a scalar",
        )
    shape = []
    for p in parts:
        if p == "d":
            if d is None:
                raise CompileError(
                    f"`d` in `{text}` needs the data", filename=where, hint="give --data"
                )
            shape.append(d)
        else:
            shape.append(int(p))
    if any(n == 0 for n in shape):
        raise CompileError(
            f"the shape `{text}` has a zero dimension",
            filename=where,
            hint="every dimension must be at least 1",
        )
    return name, tuple(shape)


def matmul_operands(trace: Trace) -> list[str]:
    """The parameters that are the right operand of `X @ p` (or `np.dot(X, p)`) in the trace."""
    if "X" not in trace.params:
        return []
    x = trace.input_id("X")
    ids = {trace.input_id(p): p for p in trace.params}
    found = []
    for step in trace.steps:
        if step.op in ("matmul", "dot") and len(step.args) == 2 and step.args[0] == x:
            name = ids.get(step.args[1])
            if name is not None and name not in found:
                found.append(name)
    return found


def param_shapes(
    model: Model, d: int, given: Mapping[str, Any] | Sequence[str] | None = None
) -> dict[str, tuple]:
    """The shape of each trained parameter: given (`{"theta1": (16, 30)}` or `["theta1=16,30"]`),
    else (d,) for the right operand of `X @ p`, else () (a Python float)."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        given = dict(parse_shape(text, d, model.file) for text in given)
    shapes: dict[str, tuple] = {}
    for name, shape in given.items():
        if name not in model.trained:
            kind = (
                "receives the data"
                if name in DATA_PARAMS
                else "is a hyperparameter (it has a default value)"
                if name in model.hyper
                else "is not a parameter"
            )
            raise model.error(
                None,
                f"--shape {name}: `{name}` {kind} of `{model.function}`",
                "give shapes of the trained parameters: " + ", ".join(model.trained),
            )
        if isinstance(shape, int):
            shape = (shape,)
        shapes[name] = tuple(int(n) for n in shape)
    matmul = matmul_operands(model.trace)
    for name in model.trained:
        if name not in shapes:
            shapes[name] = (d,) if name in matmul else ()
    return {name: shapes[name] for name in model.trained}


def show_shape(shape: tuple) -> str:
    """(30,), (16, 30) or `scalar`."""
    return "scalar" if shape == () else str(tuple(shape))


def predict(model: Model, params: Mapping[str, Any], X: np.ndarray) -> Any:
    """The file's `predict` at `params` on the rows of X, with the model's hyperparameters."""
    assert model.predict is not None
    values = {**model.predict_defaults, **model.hyper, **params, "X": X}
    return model.predict(**{p: values[p] for p in model.predict_params})


def accuracy(model: Model, params: Mapping[str, Any], X: np.ndarray, positive: Any) -> float:
    """The fraction of rows where predict(...) > 0.5 agrees with the positive class."""
    with np.errstate(all="ignore"):
        prob = np.asarray(predict(model, params, X), dtype=np.float64)
    return float(np.mean((prob > 0.5) == np.asarray(positive, dtype=bool)))
