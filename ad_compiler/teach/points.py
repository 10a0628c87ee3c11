"""Points to evaluate a function at: values given as NAME=VALUE text, the defaults, random points
where the function is defined, and every variable's value there by the reference evaluator."""

from __future__ import annotations

import ast
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..backend.reverse import primal_body
from ..core.errors import CompileError, source_lines
from ..core.evaluate import evaluate
from ..core.expr import Temp, Var
from ..core.ir import Trace, namer
from ..core.primitives import rule


def parse_values(pairs: tuple[str, ...], file: str) -> dict[str, Any]:
    """NAME=VALUE arguments: a number, a list literal, zeros(...)/ones(...), or @FILE."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise CompileError(
                f"cannot read the argument `{pair}`",
                filename=file,
                hint="write NAME=VALUE, e.g. x1=2, w=zeros(30), X=@data.npy or v=[1, 2]",
            )
        values[name.strip()] = parse_value(text.strip(), name.strip(), file)
    return values


def parse_value(text: str, name: str, file: str) -> Any:
    try:
        return float(text)
    except ValueError:
        pass
    if text.startswith("@"):
        return _load_array(Path(text[1:]), name, file)
    match = re.fullmatch(r"(zeros|ones)\(\s*\(?([\d\s,]*)\)?\s*\)", text)
    if match:
        dims = tuple(int(d) for d in match.group(2).replace(" ", "").split(",") if d)
        return (np.zeros if match.group(1) == "zeros" else np.ones)(dims)
    try:
        literal = ast.literal_eval(text)
        array = np.array(literal, dtype=float)
    except (ValueError, SyntaxError, TypeError):
        raise CompileError(
            f"`{text}` is not a value (for {name})",
            filename=file,
            hint="a number, a list like [1, 2], zeros(3), ones(2, 3) or @file.npy",
        ) from None
    return array


def _load_array(path: Path, name: str, file: str) -> Any:
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False).astype(float)
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                return archive[name if name in keys else keys[0]].astype(float)
        return np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=1)
    except (OSError, ValueError) as exc:
        raise CompileError(
            f"cannot load {path} (for {name}): {exc}",
            filename=file,
            hint="give a .npy, .npz or numeric .csv file",
        ) from None


def check_parameters(given: Mapping[str, Any], trace: Trace, filename: str = "") -> None:
    """Every name in `given` must be a parameter of the trace's function."""
    for name in given:
        if name not in trace.params:
            raise CompileError(
                f"`{trace.name}` has no parameter `{name}`",
                filename=filename or "<source>",
                hint="parameters: " + ", ".join(trace.params),
            )


def point(trace: Trace, given: Mapping[str, Any], filename: str = "") -> dict[str, Any]:
    """Every parameter's value, in order: given, else its default; a missing one is an error."""
    check_parameters(given, trace, filename)
    values: dict[str, Any] = {}
    for p in trace.params:
        if p in given:
            values[p] = given[p]
        elif p in trace.defaults:
            values[p] = trace.defaults[p]
        else:
            raise CompileError(
                f"no value for `{p}` and no default",
                filename=filename or "<source>",
                hint=f"pass {p}=VALUE",
            )
    return values


def primal_values(trace: Trace, inputs: Mapping[str, Any], filename: str = "") -> dict:
    """The value of every variable at `inputs`, by the reference evaluator."""
    env: dict[Var | Temp, Any] = {Var(trace.input_id(p)): inputs[p] for p in trace.params}
    for line in primal_body(trace):
        try:
            env[line.target] = evaluate(line.expr, env)
        except (ArithmeticError, ValueError) as exc:
            step = trace.step(line.step or 0)
            name = namer(trace, "z")
            raise CompileError(
                f"evaluating {name(step.index)} = {rule(step).show(step, name)} failed: {exc}",
                filename=filename or "<source>",
                line=step.line,
                col=max(step.col, 1),
                source_line=source_lines(trace.source_text)[step.line - 1]
                if trace.source_text
                else "",
                hint="choose a point inside the function's domain",
            ) from None
    return env


def random_points(
    primal: Callable[..., Any],
    params: Sequence[str],
    defaults: Mapping[str, float],
    count: int,
    seed: int,
) -> list[dict[str, float]]:
    """Up to `count` random points where `primal` returns a finite number."""
    rng = random.Random(seed)
    points: list[dict[str, float]] = []
    for _ in range(200 * count):
        if len(points) == count:
            break
        point = {}
        for p in params:
            base = float(defaults.get(p, 0.0))
            point[p] = base + rng.uniform(-1.0, 1.0) * max(1.0, abs(base))
        try:
            value = primal(*point.values())
        except (ArithmeticError, ValueError):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value):
            points.append(point)
    return points
