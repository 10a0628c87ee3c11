"""Gradient checking: generated gradients against central finite differences.

The numeric derivative is Ridders' extrapolation of central differences: the step shrinks
geometrically and a Neville tableau extrapolates to h -> 0, keeping the answer whose error
estimate is smallest. That controls the step size without a tuning knob.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

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
    """One parameter: the generated partial, the numeric one, and how far apart they are."""

    name: str
    analytic: float
    numeric: float
    error: float


@dataclass
class CheckResult:
    """A gradient check at one point. `error` is |analytic - numeric| / max(1, |both|)."""

    function: str
    point: dict[str, float]
    rows: list[CheckRow]
    tol: float

    @property
    def max_error(self) -> float:
        """The largest error over the parameters (nan counts as infinitely large)."""
        return max(
            (r.error if not math.isnan(r.error) else math.inf for r in self.rows), default=0.0
        )

    @property
    def ok(self) -> bool:
        """Whether every parameter is within tolerance."""
        return self.max_error <= self.tol

    def __bool__(self) -> bool:
        return self.ok

    def to_text(self) -> str:
        """The per-parameter table and a verdict line."""
        args = ", ".join(f"{k}={format_value(v)}" for k, v in self.point.items())
        width = max([len("parameter")] + [len(r.name) for r in self.rows])
        out = [
            f"{self.function} at {args}",
            f"  {'parameter':<{width}}  {'analytic':<24}  {'numeric':<24}  error",
        ]
        for r in self.rows:
            out.append(f"  {r.name:<{width}}  {r.analytic!r:<24}  {r.numeric!r:<24}  {r.error:.1e}")
        verdict = "OK" if self.ok else "FAILED"
        out.append(f"{verdict}: largest error {self.max_error:.1e} (tolerance {self.tol:g})")
        return "\n".join(out)


def _error(a: float, n: float) -> float:
    if a == n:
        return 0.0
    return abs(a - n) / max(1.0, abs(a), abs(n))


def compare(
    function: str,
    primal: Callable[..., float],
    gradient: Sequence[float],
    point: Mapping[str, float],
    wrt: Sequence[str],
    tol: float,
) -> CheckResult:
    """Check `gradient` (one entry per `wrt`) against Ridders' differences of `primal`."""
    names = list(point)
    rows = []
    for name, analytic in zip(wrt, gradient):
        i = names.index(name)
        base = [point[n] for n in names]

        def along(t: float, i: int = i, base: list[float] = base) -> float:
            args = list(base)
            args[i] = t
            return float(primal(*args))

        numeric, _ = ridders(along, base[i])
        rows.append(CheckRow(name, float(analytic), numeric, _error(float(analytic), numeric)))
    return CheckResult(function, dict(point), rows, tol)


