"""Training a compiled loss on a data set: the glue behind `adc train` (no click here).

The pieces, each usable alone:

- `load_data(source, target)`: a data set bundled with scikit-learn (`breast_cancer`,
  `diabetes`, `iris`, `digits`, read from the package's own files, never downloaded) or a
  CSV/NPZ/NPY file with a chosen target column, as a `Data` (float64 features X, target y);
- `prepare(data, ...)`: labels (`raw`, `pm1`, `01`; class K vs the rest for a multi-class
  set), a held-out split (stratified for classification) and standardisation with the
  training split's statistics, as a `Split`;
- `load_model(file, function, settings)`: the function compiled with wrt = its trained
  parameters (all but `X`, `y` and those with default values, which are hyperparameters
  that `settings` may override), plus the file's `predict` when there is one, as a `Model`;
- `param_shapes(model, d, given)`: each trained parameter's shape, given or inferred (the
  right operand of `X @ p` gets (d,), any other a scalar);
- `setup(file, data=..., ...)`: all of the above plus a trial call of the function on the
  data, so every problem shows before training starts, as a `Plan`;
- `run(plan, callback)`: one of ad_compiler.optim's methods on the plan, returning a
  `TrainResult` (parameters, loss history, final losses, accuracies, counts);
- `train(file, data=..., ...)`: `run(setup(...))`;
- `plot_history(results, path)`: loss curves as a PNG (matplotlib, imported on use).

Bad input of any kind (a missing file, a non-numeric column, shapes the function cannot use,
a diverging run) is a CompileError with a location and a hint, never a traceback.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..backend.load import write_atomic
from ..core.errors import CompileError, Source
from ..core.ir import Trace
from ..frontend.fence import decode
from ..frontend.module import read_module
from ..pipeline import build as compile_source
from ..pipeline import read_source
from . import optim

__all__ = [
    "DATASETS",
    "METHODS",
    "Data",
    "Model",
    "Plan",
    "Split",
    "TrainResult",
    "load_data",
    "load_model",
    "param_shapes",
    "parse_settings",
    "parse_shape",
    "plot_history",
    "prepare",
    "run",
    "setup",
    "train",
]

#: Bundled scikit-learn data sets: name -> (loader, is a classifier's data set).
DATASETS: dict[str, tuple[str, bool]] = {
    "breast_cancer": ("load_breast_cancer", True),
    "diabetes": ("load_diabetes", False),
    "iris": ("load_iris", True),
    "digits": ("load_digits", True),
}

#: `adc train --method` -> the optimizer of ad_compiler.optim.
METHODS: dict[str, Callable[..., optim.OptimResult]] = {
    "gd": optim.gd,
    "sgd": optim.sgd,
    "minibatch": optim.minibatch_sgd,
    "subgradient": optim.subgradient_descent,
}

DATA_PARAMS = ("X", "y")
LABELS = ("raw", "pm1", "01")
_DATA_FILES = (".csv", ".npz", ".npy")


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


@dataclass
class Data:
    """A data set: features X (n, d) and target y (n,), both float64."""

    X: np.ndarray
    y: np.ndarray
    name: str
    classifier: bool = False  # a classifier's data set (labels are classes)
    feature_names: list[str] = field(default_factory=list)
    target_name: str = "target"


def _place(where: str, text: str = "") -> Source:
    """Where a data error is reported: the data file (or the data set's name)."""
    return Source(text, where)


def load_data(source: str | os.PathLike[str], target: str | int | None = None) -> Data:
    """A bundled data set by name, or a .csv/.npz/.npy file with `target` as the y column.

    `target` is a header name or a column index (negative counts from the end); the default is
    the last column. An NPZ file holds arrays `X` and `y`, or a single 2-D table.
    """
    text = os.fspath(source)
    if text in DATASETS:
        if target is not None:
            raise _place(text).error_at(
                1,
                1,
                f"--target does not apply to the bundled data set `{text}`",
                "its target is fixed; use --target with a CSV or NPZ file",
            )
        return _bundled(text)
    path = Path(text)
    if not path.exists():
        if path.suffix.lower() in _DATA_FILES or os.sep in text or "/" in text:
            raise _place(text).error_at(1, 1, f"no such data file: {text}", "check the path")
        raise _place(text).error_at(
            1,
            1,
            f"unknown data set `{text}`",
            "bundled data sets: " + ", ".join(DATASETS) + "; or give a .csv, .npz or .npy file",
        )
    if path.is_dir():
        raise _place(text).error_at(
            1, 1, f"{text} is a directory", "give a .csv, .npz or .npy file"
        )
    suffix = path.suffix.lower()
    if suffix == ".npz" or suffix == ".npy":
        return _load_numpy(path, target)
    return _load_csv(path, target)


def _bundled(name: str) -> Data:
    try:
        from sklearn import datasets
    except ImportError:
        raise _place(name).error_at(
            1,
            1,
            f"the data set `{name}` comes with scikit-learn, which is not installed",
            "pip install scikit-learn (or adc[train]), or give a .csv or .npz file",
        ) from None
    loader, classifier = DATASETS[name]
    bunch = getattr(datasets, loader)()
    return Data(
        X=np.asarray(bunch.data, dtype=np.float64),
        y=np.asarray(bunch.target, dtype=np.float64),
        name=name,
        classifier=classifier,
        feature_names=[str(f) for f in getattr(bunch, "feature_names", [])],
        target_name="target",
    )


def _column_index(target: str | int | None, names: list[str], where: str) -> int:
    """The index of the target column among `names` (header names or positions)."""
    count = len(names)
    if target is None:
        return count - 1
    text = str(target).strip()
    if text in names:
        return names.index(text)
    if re.fullmatch(r"-?\d+", text):
        index = int(text)
        if -count <= index < count:
            return index % count
        raise _place(where).error_at(
            1,
            1,
            f"target column {index} is out of range: the data has {count} columns",
            f"give an index from 0 to {count - 1} (or -1 for the last)",
        )
    raise _place(where).error_at(
        1, 1, f"no column `{text}` in {where}", "columns: " + ", ".join(names)
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell_place(src: Source, start: int, end: int, c: int) -> tuple[int, int]:
    """The line and column where cell `c` of the CSV record on lines start..end begins (commas
    inside quotes do not split cells; leading blanks are skipped)."""
    record = "\n".join(src.lines[start - 1 : end])
    starts, quoted = [0], False
    for i, ch in enumerate(record):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            starts.append(i + 1)
    offset = starts[c] if c < len(starts) else 0
    offset += len(record[offset:]) - len(record[offset:].lstrip(" \t"))
    before = record[:offset]
    return start + before.count("\n"), offset - (before.rfind("\n") + 1) + 1


def _load_csv(path: Path, target: str | int | None) -> Data:
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _place(where).error_at(
            1, 1, f"cannot read {where}: {exc}", "give a UTF-8 CSV file"
        ) from None
    content = decode(data, where)  # bytes that are not UTF-8 are an error at their place
    src = _place(where, content)  # errors show the row and a caret under the cell
    reader = csv.reader(io.StringIO(content))
    rows: list[tuple[int, int, list[str]]] = []  # each record's first and last line, its cells
    try:
        end = 0
        for row in reader:
            start, end = end + 1, reader.line_num
            if any(cell.strip() for cell in row):
                rows.append((start, end, row))
    except csv.Error as exc:
        raise src.error_at(
            reader.line_num, 1, f"cannot read {where}: {exc}", "give a comma-separated file"
        ) from None
    if not rows:
        raise src.error_at(1, 1, f"{where} holds no rows", "give a CSV file with a row per example")
    top, _, first = rows[0]
    header = not all(_is_number(cell) for cell in first)
    width = len(first)
    names = [cell.strip() for cell in first] if header else [str(i) for i in range(width)]
    body = rows[1:] if header else rows
    if not body:
        raise src.error_at(top, 1, f"{where} has a header but no data rows", "add the examples")
    if width < 2:
        raise src.error_at(
            top, 1, f"{where} has one column", "a CSV needs feature columns and a target column"
        )
    values = np.empty((len(body), width))
    for r, (start, end, row) in enumerate(body):
        if len(row) != width:
            raise src.error_at(
                start,
                1,
                f"row has {len(row)} columns, the {'header' if header else 'first row'} has "
                f"{width}",
                "every row needs the same number of comma-separated cells",
            )
        for c, cell in enumerate(row):
            try:
                values[r, c] = float(cell)
            except ValueError:
                column = f"`{names[c]}`" if header else f"{c}"
                shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in cell.strip())
                what = "is empty" if not shown else f"holds `{shown}`"
                line, col = _cell_place(src, start, end, c)
                raise src.error_at(
                    line,
                    col,
                    f"column {column} is not numeric: this row {what}",
                    "every column must hold numbers; encode categories as numbers, "
                    "fill or drop missing values, or remove the column",
                ) from None
            if not math.isfinite(values[r, c]):
                line, col = _cell_place(src, start, end, c)
                raise src.error_at(
                    line,
                    col,
                    "the data holds nan or inf values",
                    "fill or drop the missing values",
                )
    index = _column_index(target, names, where)
    features = [i for i in range(width) if i != index]
    return Data(
        X=values[:, features],
        y=values[:, index],
        name=path.name,
        feature_names=[names[i] for i in features],
        target_name=names[index],
    )


def _numeric(array: np.ndarray, what: str, where: str) -> np.ndarray:
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        raise _place(where).error_at(
            1,
            1,
            f"{what} is not numeric (dtype {array.dtype})",
            "store numbers: encode categories as numbers first",
        )
    return np.asarray(array, dtype=np.float64)


def _load_numpy(path: Path, target: str | int | None) -> Data:
    where = str(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise _place(where).error_at(
            1, 1, f"cannot load {where}: {exc}", "give an .npz or .npy file saved by numpy"
        ) from None
    if isinstance(loaded, np.ndarray):
        arrays = {"table": loaded}
    else:
        with loaded:
            try:
                arrays = {key: loaded[key] for key in loaded.files}
            except ValueError as exc:
                raise _place(where).error_at(
                    1, 1, f"cannot load {where}: {exc}", "store numeric arrays, not objects"
                ) from None
    if "X" in arrays and "y" in arrays:
        if target is not None:
            raise _place(where).error_at(
                1,
                1,
                f"{where} holds arrays X and y, so --target does not apply",
                "drop --target, or store a single table",
            )
        X = _numeric(arrays["X"], "array X", where)
        y = _numeric(arrays["y"], "array y", where)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise _place(where).error_at(
                1,
                1,
                f"X has shape {X.shape} and y {y.shape}",
                "X needs shape (n, d) and y shape (n,)",
            )
        names = [str(i) for i in range(X.shape[1])]
        return Data(X=X, y=y, name=path.name, feature_names=names, target_name="y")
    if len(arrays) != 1:
        raise _place(where).error_at(
            1,
            1,
            f"{where} holds arrays {', '.join(arrays)}",
            "store arrays named X and y, or a single 2-D table with the target as a column",
        )
    ((key, table),) = arrays.items()
    table = _numeric(table, f"array {key}", where)
    if table.ndim != 2 or table.shape[1] < 2:
        raise _place(where).error_at(
            1,
            1,
            f"array {key} has shape {table.shape}",
            "a table needs shape (n, columns) with at least two columns",
        )
    names = [str(i) for i in range(table.shape[1])]
    index = _column_index(target, names, where)
    features = [i for i in range(table.shape[1]) if i != index]
    return Data(
        X=table[:, features],
        y=table[:, index],
        name=path.name,
        feature_names=[names[i] for i in features],
        target_name=names[index],
    )


# ---------------------------------------------------------------------------------------------
# Labels, held-out split, standardisation
# ---------------------------------------------------------------------------------------------


@dataclass
class Split:
    """Training and held-out data after labelling and standardisation.

    positive_*: for classification, whether each example is of the positive class (what
    accuracy compares with); None for regression. mean/scale: the standardisation, from the
    training split (None with raw features).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classification: bool
    positive_train: np.ndarray | None = None
    positive_test: np.ndarray | None = None
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    task: str = ""

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    @property
    def d(self) -> int:
        return self.X_train.shape[1]


def _labels(
    data: Data, labels: str, positive: float | None, where: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """The labels given to y, which examples are positive, and a description of the task."""
    y = data.y
    classes = np.unique(y)
    if len(classes) < 2:
        raise _place(where).error_at(
            1,
            1,
            f"the target `{data.target_name}` has a single class",
            "classification needs examples of at least two classes",
        )
    if positive is None and len(classes) == 2:
        positive_mask = y == classes[1]
        own = True
        task = f"{_num(classes[1])} vs {_num(classes[0])}"
    else:
        k = 1.0 if positive is None else float(positive)
        if k not in classes:
            raise _place(where).error_at(
                1,
                1,
                f"no class {_num(k)} in the target `{data.target_name}`",
                "--positive K takes one of the classes: "
                + ", ".join(_num(c) for c in classes[:20])
                + (" ..." if len(classes) > 20 else ""),
            )
        positive_mask = y == k
        own = len(classes) == 2 and k == classes[1]
        task = f"class {_num(k)} vs the rest"
    if labels == "pm1":
        values = np.where(positive_mask, 1.0, -1.0)
        task += ", labels -1/+1"
    elif labels == "01" or not own:
        values = positive_mask.astype(np.float64)
        task += ", labels 0/1"
    else:
        values = y.astype(np.float64)
        task += ", labels " + "/".join(_num(c) for c in classes)
    return values, positive_mask, task


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _split_indices(
    n: int, test_size: float, seed: int | None, strata: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled training and held-out indices; each stratum keeps its share in both."""
    rng = np.random.default_rng(seed)
    if test_size == 0:
        return rng.permutation(n), np.array([], dtype=int)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == s) for s in (0, 1)]
    train, test = [], []
    for group in groups:
        order = rng.permutation(group)
        cut = int(round(test_size * len(order)))
        test.append(order[:cut])
        train.append(order[cut:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def prepare(
    data: Data,
    *,
    classify: bool | None = None,
    labels: str = "raw",
    positive: float | None = None,
    test_size: float = 0.2,
    seed: int | None = 0,
    raw: bool = False,
    where: str | None = None,
) -> Split:
    """Labels, a held-out split (stratified for classification) and standardisation.

    Classification is the data set's own (breast_cancer, iris, digits) or `classify=True`. Its
    task is binary: the two classes of a binary target (the larger value is positive), or class
    `positive` (default 1) vs the rest. `labels` gives y: "pm1" -1/+1, "01" 0/1, "raw" the
    data's own values (0/1 for a class-vs-rest task). Features are standardised with the
    training split's mean and standard deviation unless `raw`.
    """
    where = where or data.name
    if labels not in LABELS:
        raise _place(where).error_at(1, 1, f"unknown labels `{labels}`", "use raw, pm1 or 01")
    if not (isinstance(test_size, int | float) and 0 <= test_size < 1):
        raise _place(where).error_at(
            1, 1, f"test size {test_size!r} is not in [0, 1)", "e.g. --test-size 0.2"
        )
    classification = data.classifier if classify is None else (classify or data.classifier)
    X = np.asarray(data.X, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(data.y):
        raise _place(where).error_at(
            1, 1, f"features of shape {X.shape} and a target of {len(data.y)}", "X is (n, d)"
        )
    if not np.all(np.isfinite(X)) or not np.all(np.isfinite(data.y)):
        raise _place(where).error_at(
            1, 1, "the data holds nan or inf values", "fill or drop the missing values"
        )
    positive_mask = None
    if classification:
        y, positive_mask, task = _labels(data, labels, positive, where)
    else:
        if labels != "raw" or positive is not None:
            raise _place(where).error_at(
                1,
                1,
                f"`{data.name}` is a regression data set, so --labels/--positive do not apply",
                "add --classify to treat its target as classes",
            )
        y, task = np.asarray(data.y, dtype=np.float64), "regression"
    train_idx, test_idx = _split_indices(len(y), float(test_size), seed, positive_mask)
    if len(train_idx) == 0:
        raise _place(where).error_at(1, 1, "the training split is empty", "lower --test-size")
    if positive_mask is not None and len(np.unique(positive_mask[train_idx])) < 2:
        raise _place(where).error_at(
            1, 1, "the training split has a single class", "use more data or --test-size 0"
        )
    X_train, X_test = X[train_idx], X[test_idx]
    mean = scale = None
    if not raw:
        mean = X_train.mean(axis=0)
        scale = X_train.std(axis=0)
        scale[scale == 0] = 1.0
        X_train, X_test = (X_train - mean) / scale, (X_test - mean) / scale
    return Split(
        X_train=X_train,
        y_train=y[train_idx],
        X_test=X_test,
        y_test=y[test_idx],
        classification=classification,
        positive_train=None if positive_mask is None else positive_mask[train_idx],
        positive_test=None if positive_mask is None else positive_mask[test_idx],
        mean=mean,
        scale=scale,
        task=task,
    )


# ---------------------------------------------------------------------------------------------
# The function: data, trained parameters, hyperparameters, shapes
# ---------------------------------------------------------------------------------------------


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
                out = model.call(model.value_and_grad, params, X[batch], y[batch])
        except (ValueError, TypeError, IndexError, ArithmeticError) as exc:
            raise model.error(
                None, f"`{model.function}` cannot run on the data with these shapes: {exc}", hint
            ) from None
        value, grads = out
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
                prob = np.asarray(_predict(model, params, X))
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


def _predict(model: Model, params: Mapping[str, Any], X: np.ndarray) -> Any:
    assert model.predict is not None
    values = {**model.predict_defaults, **model.hyper, **params, "X": X}
    return model.predict(**{p: values[p] for p in model.predict_params})


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


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


class _Diverged(Exception):
    def __init__(self, epoch: int, loss: float) -> None:
        super().__init__(epoch, loss)
        self.epoch, self.loss = epoch, loss


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


def accuracy(model: Model, params: Mapping[str, Any], X: np.ndarray, positive: Any) -> float:
    """The fraction of rows where predict(...) > 0.5 agrees with the positive class."""
    with np.errstate(all="ignore"):
        prob = np.asarray(_predict(model, params, X), dtype=np.float64)
    return float(np.mean((prob > 0.5) == np.asarray(positive, dtype=bool)))


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def plot_history(
    curves: Mapping[str, Sequence[float]] | TrainResult,
    path: str | os.PathLike[str],
    *,
    title: str = "",
    xlabel: str = "epoch",
    ylabel: str = "training loss",
    x: Mapping[str, Sequence[float]] | None = None,
    log: bool = False,
) -> None:
    """Loss curves on one figure, written to `path` as a PNG through a temporary file.

    `curves` maps labels to losses (or is a TrainResult: its history by epoch); `x` gives each
    curve's x values (default 0, 1, ...).
    """
    if isinstance(curves, TrainResult):
        r = curves
        title = title or f"{r.model.function} on {r.data_name}: {r.method}, lr {r.lr:g}"
        curves = {r.method: r.history}
    target = Path(path)
    if not target.parent.is_dir():
        raise CompileError(
            f"cannot write the plot: the directory {target.parent} does not exist",
            filename=str(target),
            hint="create it first, or give --plot another path",
        )
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        raise CompileError(
            "--plot needs matplotlib, which is not installed",
            filename=str(target),
            hint="pip install matplotlib (or adc[train])",
        ) from None
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    try:
        for label, values in curves.items():
            xs = list(x[label]) if x is not None else list(range(len(values)))
            ax.plot(xs, list(values), label=label, linewidth=1.4)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    try:
        write_atomic(target, buffer.getvalue())
    except OSError as exc:
        raise CompileError(
            f"cannot write {target}: {exc.strerror}", filename=str(target), hint="check the path"
        ) from None
