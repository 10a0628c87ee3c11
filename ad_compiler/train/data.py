"""Data sets for training: loading one, then labelling, splitting and standardising it.

- `load_data(source, target)`: a data set bundled with scikit-learn (`breast_cancer`,
  `diabetes`, `iris`, `digits`, read from the package's own files, never downloaded) or a
  CSV/NPZ/NPY file with a chosen target column, as a `Data` (float64 features X, target y);
- `prepare(data, ...)`: labels (`raw`, `pm1`, `01`; class K vs the rest for a multi-class
  set), a held-out split (stratified for classification) and standardisation with the
  training split's statistics, as a `Split`.

Bad data (a missing file, a non-numeric column, a single class) is a CompileError located in
the data file, at the row and cell for a CSV, never a traceback.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import Source
from ..frontend.fence import decode

__all__ = ["DATASETS", "LABELS", "Data", "Split", "load_data", "prepare"]

#: Bundled scikit-learn data sets: name -> (loader, is a classifier's data set).
DATASETS: dict[str, tuple[str, bool]] = {
    "breast_cancer": ("load_breast_cancer", True),
    "diabetes": ("load_diabetes", False),
    "iris": ("load_iris", True),
    "digits": ("load_digits", True),
}

LABELS = ("raw", "pm1", "01")
_DATA_FILES = (".csv", ".npz", ".npy")


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
