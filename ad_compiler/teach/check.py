"""Gradient checking: generated gradients against central finite differences, partial by
partial for numbers, and for arrays along a random direction or element by element.

The numeric derivative is Ridders' extrapolation of central differences: the step shrinks
geometrically and a Neville tableau extrapolates to h -> 0, keeping the answer whose error
estimate is smallest. That controls the step size without a tuning knob.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .tables import format_value

_SHRINK = 1.4
_TABLEAU = 10
_SAFE = 2.0


def ridders(f: Callable[[float], float], x: float, h: float | None = None) -> tuple[float, float]:
    """df/dx at x by Ridders' method, and an estimate of its error.

    Without a first step h, several are tried (a step spanning several oscillations of f
    extrapolates to nonsense, and says so in its error estimate) and the best is kept.
    """
    if h is not None:
        return _ridders(f, x, h)
    scale = max(1.0, abs(x))
    tries = [_ridders(f, x, r * scale) for r in (0.1, 1e-2, 1e-3, 1e-4)]
    return min(tries, key=lambda t: (math.isnan(t[0]), t[1]))


def _ridders(f: Callable[[float], float], x: float, h: float) -> tuple[float, float]:
    """Ridders' method from first step h, shrunk until f is defined on both sides."""

    def central(step: float) -> float:
        return (f(x + step) - f(x - step)) / (2 * step)

    for _ in range(40):
        try:
            first = central(h)
            if math.isfinite(first):
                break
        except (ArithmeticError, ValueError):
            pass
        h /= 8
    else:
        return math.nan, math.inf
    table = [[first]]
    best, err = first, math.inf
    for i in range(1, _TABLEAU):
        h /= _SHRINK
        try:
            row = [central(h)]
        except (ArithmeticError, ValueError):
            break
        factor = _SHRINK * _SHRINK
        for j in range(1, i + 1):
            row.append((row[j - 1] * factor - table[i - 1][j - 1]) / (factor - 1))
            factor *= _SHRINK * _SHRINK
            estimate = max(abs(row[j] - row[j - 1]), abs(row[j] - table[i - 1][j - 1]))
            if estimate <= err:
                best, err = row[j], estimate
        table.append(row)
        if abs(row[i] - table[i - 1][i - 1]) >= _SAFE * err:
            break
    return best, err


@dataclass(frozen=True)
class CheckRow:
    """One parameter: the generated derivative, the numeric one, and how far apart they are.

    For a number these are its partials. For an array (`shape` set) they are the derivatives
    along a random unit direction v, <grad, v> and d/dt f(x + t v), or, elementwise, the
    partials of the element `index` whose error is largest. `undefined` says why no numeric
    derivative exists ('' when one does).
    """

    name: str
    analytic: float
    numeric: float
    error: float
    shape: tuple[int, ...] | None = None
    index: tuple[int, ...] | None = None
    undefined: str = ""


@dataclass
class CheckResult:
    """A gradient check at one point. `error` is |analytic - numeric| / max(1, |both|).

    `domain` says why the function or its gradient is undefined at the point ('' when both
    are defined); then no row is checked.
    """

    function: str
    point: dict[str, Any]
    rows: list[CheckRow]
    tol: float
    elementwise: bool = False
    seed: int = 0
    domain: str = ""

    @property
    def undefined(self) -> str:
        """Why the check could not be made at this point: '' when it was."""
        return self.domain or next((r.undefined for r in self.rows if r.undefined), "")

    @property
    def max_error(self) -> float:
        """The largest error over the parameters checked (nan counts as infinitely large)."""
        return max(
            (
                r.error if not math.isnan(r.error) else math.inf
                for r in self.rows
                if not r.undefined
            ),
            default=0.0,
        )

    @property
    def ok(self) -> bool:
        """Whether the check was made and every parameter is within tolerance."""
        return not self.undefined and self.max_error <= self.tol

    def __bool__(self) -> bool:
        return self.ok

    def to_text(self) -> str:
        """The per-parameter table and a verdict line."""
        args = ", ".join(f"{k}={_show(v)}" for k, v in self.point.items())
        out = [f"{self.function} at {args}"]
        if not self.domain:
            if any(r.shape is not None for r in self.rows):
                out += self._array_table()
            else:
                out += self._scalar_table()
        out.append(self.verdict())
        return "\n".join(out)

    def verdict(self) -> str:
        """OK, FAILED (an error above tolerance) or UNDEFINED (the check could not be made)."""
        if self.domain:
            return f"UNDEFINED at this point: {self.domain}; nothing was checked"
        largest = f"largest error {self.max_error:.1e} (tolerance {self.tol:g})"
        if self.max_error > self.tol:
            return f"FAILED: {largest}"
        if self.undefined:
            return f"UNDEFINED at this point: {self.undefined}"
        return f"OK: {largest}"

    def _scalar_table(self) -> list[str]:
        width = max([len("parameter")] + [len(r.name) for r in self.rows])
        out = [f"  {'parameter':<{width}}  {'analytic':<24}  {'numeric':<24}  error"]
        for r in self.rows:
            numeric, error = _numeric_and_error(r)
            out.append(f"  {r.name:<{width}}  {r.analytic!r:<24}  {numeric:<24}  {error}")
        return out

    def _array_table(self) -> list[str]:
        if self.elementwise:
            intro = "  every element's partial; a row shows its parameter's worst element"
            cells = [["parameter", "shape", "element"]]
            cells += [[r.name, _shape(r.shape), _index(r.index)] for r in self.rows]
        else:
            intro = (
                f"  an array along a random unit direction v (seed {self.seed}): "
                "<grad, v> against d/dt f(x + t v)"
            )
            cells = [["parameter", "shape"]] + [[r.name, _shape(r.shape)] for r in self.rows]
        widths = [max(len(row[j]) for row in cells) for j in range(len(cells[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
        out = [intro, f"  {lines[0]}  {'analytic':<24}  {'numeric':<24}  error"]
        for line, r in zip(lines[1:], self.rows):
            numeric, error = _numeric_and_error(r)
            out.append(f"  {line}  {r.analytic!r:<24}  {numeric:<24}  {error}")
        return out


def _numeric_and_error(row: CheckRow) -> tuple[str, str]:
    if row.undefined:
        return "undefined", "-"
    return repr(row.numeric), f"{row.error:.1e}"


def _shape(shape: tuple[int, ...] | None) -> str:
    return "scalar" if shape is None else str(shape)


def _index(index: tuple[int, ...] | None) -> str:
    return "-" if index is None else "[" + ", ".join(map(str, index)) + "]"


_SHOWN = 10  # arrays with at most this many elements are shown in full in a result's header


def _show(value: Any) -> str:
    """A value as a result's header shows it: a number as the tables do, a small array in
    full, a larger one by its shape."""
    if isinstance(value, (list, tuple)):
        value = np.asarray(value, dtype=float)
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return format_value(value)
    if value.size > _SHOWN:
        return f"{value.shape} array"

    def nested(a: Any) -> str:
        if np.ndim(a) == 0:
            return format_value(float(a))
        return "[" + ", ".join(nested(b) for b in a) + "]"

    return nested(value)


def _error(a: float, n: float) -> float:
    if a == n:
        return 0.0
    return abs(a - n) / max(1.0, abs(a), abs(n))


def compare(
    function: str,
    primal: Callable[..., Any],
    gradient: Callable[..., Sequence[Any]] | Sequence[Any],
    point: Mapping[str, Any],
    wrt: Sequence[str],
    tol: float,
    *,
    elementwise: bool = False,
    seed: int = 0,
) -> CheckResult:
    """Check the gradient w.r.t. `wrt` at `point` against Ridders' differences of `primal`.

    `gradient` is the gradient function (called at the point) or its values, one per `wrt`.
    A number is checked by its partial; an array along one random unit direction drawn with
    `seed`, or, `elementwise`, element by element. Where `primal` or the gradient fails or is
    not a finite real number at the point, or `primal` has no central difference there, the
    result says the point is undefined.
    """
    values = {k: _as_value(v) for k, v in point.items()}
    result = CheckResult(function, dict(point), [], tol, elementwise, seed)
    with np.errstate(all="ignore"):
        grads = _at_point(function, primal, gradient, values, wrt)
        if isinstance(grads, str):
            result.domain = grads
            return result
        rng = np.random.default_rng(seed)
        for name, analytic in zip(wrt, grads):
            x = values[name]
            if not _is_array(x):
                result.rows.append(_partial(function, primal, values, name, float(analytic)))
            elif elementwise:
                result.rows.append(_elements(function, primal, values, name, analytic))
            else:
                v = rng.standard_normal(x.shape)
                norm = float(np.linalg.norm(v))
                v = v / norm if norm else v
                result.rows.append(_directional(function, primal, values, name, analytic, v))
    return result


def _as_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return np.asarray(value, dtype=float)
    return value


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.ndim > 0


_DOMAIN = (ArithmeticError, ValueError)


def _at_point(
    function: str,
    primal: Callable[..., Any],
    gradient: Callable[..., Sequence[Any]] | Sequence[Any],
    values: Mapping[str, Any],
    wrt: Sequence[str],
) -> Sequence[Any] | str:
    """The gradient's values at the point, or why the function or its gradient is undefined
    there."""
    try:
        value = primal(*values.values())
    except _DOMAIN as exc:
        return f"`{function}` fails ({exc})"
    if np.ndim(value) != 0:
        raise TypeError(f"{function} returns an array of shape {np.shape(value)}, not a number")
    if np.iscomplexobj(value):
        return f"`{function}` is the complex number {value}"
    value = float(value)
    if not math.isfinite(value):
        return f"`{function}` is {value}"
    if callable(gradient):
        args = [np.array(v, copy=True) if _is_array(v) else v for v in values.values()]
        try:
            gradient = gradient(*args)
        except _DOMAIN as exc:
            return f"the gradient fails ({exc})"
    for name, g in zip(wrt, gradient):
        if np.iscomplexobj(g):
            return f"the gradient is complex in `{name}`"
        bad = np.asarray(g, dtype=float)
        bad = bad[~np.isfinite(bad)]
        if bad.size:
            return f"the gradient is {bad.flat[0]} in `{name}`"
    return gradient


def _evaluate(primal: Callable[..., Any], values: Mapping[str, Any], name: str, x: Any) -> float:
    args = dict(values)
    args[name] = x
    value = primal(*args.values())
    if np.iscomplexobj(value):
        raise ValueError("a complex value")
    return float(value)


def _no_difference(function: str, along: str) -> str:
    return (
        f"`{function}` has no central difference along {along}: it is undefined arbitrarily "
        "near this point"
    )


def _partial(
    function: str, primal: Callable[..., Any], values: Mapping[str, Any], name: str, a: float
) -> CheckRow:
    numeric, _ = ridders(lambda t: _evaluate(primal, values, name, t), float(values[name]))
    if math.isnan(numeric):
        reason = _no_difference(function, f"`{name}`")
        return CheckRow(name, a, numeric, math.nan, undefined=reason)
    return CheckRow(name, a, numeric, _error(a, numeric))


def _directional(
    function: str,
    primal: Callable[..., Any],
    values: Mapping[str, Any],
    name: str,
    analytic: Any,
    v: np.ndarray,
) -> CheckRow:
    x = values[name]
    g = np.asarray(analytic, dtype=float)
    if g.shape != x.shape:
        return CheckRow(name, math.nan, math.nan, math.inf, x.shape)
    a = float(np.sum(g * v))
    numeric, _ = ridders(lambda t: _evaluate(primal, values, name, x + t * v), 0.0)
    if math.isnan(numeric):
        reason = _no_difference(function, f"`{name}` in a random direction")
        return CheckRow(name, a, numeric, math.nan, x.shape, undefined=reason)
    return CheckRow(name, a, numeric, _error(a, numeric), x.shape)


def _elements(
    function: str, primal: Callable[..., Any], values: Mapping[str, Any], name: str, analytic: Any
) -> CheckRow:
    x = np.asarray(values[name], dtype=float)
    g = np.asarray(analytic, dtype=float)
    if g.shape != x.shape:
        return CheckRow(name, math.nan, math.nan, math.inf, x.shape)
    worst = CheckRow(name, 0.0, 0.0, 0.0, x.shape)
    for i in range(x.size):
        index = tuple(int(k) for k in np.unravel_index(i, x.shape))

        def along(t: float, i: int = i) -> float:
            moved = x.copy()
            moved.flat[i] = t
            return _evaluate(primal, values, name, moved)

        a = float(g.flat[i])
        numeric, _ = ridders(along, float(x.flat[i]))
        if math.isnan(numeric):
            reason = _no_difference(function, f"`{name}{_index(index)}`")
            return CheckRow(name, a, numeric, math.nan, x.shape, index, reason)
        error = _error(a, numeric)
        if i == 0 or error > worst.error:
            worst = CheckRow(name, a, numeric, error, x.shape, index)
    return worst
