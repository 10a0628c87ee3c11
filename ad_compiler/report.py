"""Reports that read the IR and never feed back into it: the trace listing and the seed's
primal/adjoint tables, as text, Markdown or JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import CompileError, source_lines
from .ir import BinOp, Const, Expr, Temp, Trace, Var, evaluate, execute, namer, show
from .reverse import adjoint_body, primal_body
from .rules import rule

# ---------------------------------------------------------------------------------------------
# The trace listing
# ---------------------------------------------------------------------------------------------


def trace_dict(trace: Trace) -> dict[str, Any]:
    """The trace as JSON-ready data: function, inputs, steps (var, type, expr, args), output."""
    name = namer(trace, "z")
    return {
        "function": trace.name,
        "inputs": list(trace.params),
        "steps": [
            {
                "var": name(s.index),
                "type": rule(s).type,
                "expr": rule(s).show(s, name),
                "args": [name(a) for a in s.args],
            }
            for s in trace.steps
        ],
        "output": name(trace.output),
    }


def trace_text(trace: Trace) -> str:
    """The trace as the slide writes it: one line per step, with its type."""
    data = trace_dict(trace)
    lines = [
        f"{trace.name}({', '.join(trace.params)}): T = {len(trace.steps)} steps, "
        f"E = {trace.edges} edges"
    ]
    width = max((len(f"{s['var']} = {s['expr']}") for s in data["steps"]), default=0)
    for s in data["steps"]:
        lines.append(f"  {s['var'] + ' = ' + s['expr']:<{width}}   Type {s['type']}")
    lines.append(f"return {data['output']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The primal and adjoint tables
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a table: `var = expr` and the value it takes."""

    var: str
    expr: str
    value: Any


@dataclass
class RunReport:
    """A function run at one point: its inputs, value, gradient, and both traces as rows."""

    function: str
    inputs: dict[str, Any]
    value: Any
    gradient: dict[str, Any]
    primal: list[Row]
    adjoint: list[Row]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data in the documented layout."""
        return {
            "function": self.function,
            "inputs": self.inputs,
            "value": self.value,
            "gradient": self.gradient,
            "primal": [{"var": r.var, "expr": r.expr, "value": r.value} for r in self.primal],
            "adjoint": [{"var": r.var, "expr": r.expr, "value": r.value} for r in self.adjoint],
        }

    def to_json(self) -> str:
        """The report as JSON (non-finite numbers as strings)."""
        return json.dumps(_json_safe(self.to_dict()), indent=2)

    def to_text(self) -> str:
        """The seed's two tables as plain text, then the value and gradient."""
        out = ["Forward primal trace"]
        out += _text_rows(self.primal)
        out += ["", "Reverse adjoint trace"]
        out += _text_rows(self.adjoint)
        out += ["", self._summary()]
        return "\n".join(out)

    def to_markdown(self) -> str:
        """The seed's two tables as GitHub Markdown."""
        out = ["**Forward primal trace**", "", "| variable | expression | value |", "|---|---|---|"]
        out += [f"| `{r.var}` | `{r.expr}` | {format_value(r.value)} |" for r in self.primal]
        out += ["", "**Reverse adjoint trace**", "", "| adjoint | expression | value |"]
        out += ["|---|---|---|"]
        out += [f"| `{r.var}` | `{r.expr}` | {format_value(r.value)} |" for r in self.adjoint]
        out += ["", self._summary()]
        return "\n".join(out)

    def _summary(self) -> str:
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.inputs.items())
        grads = "\n".join(f"d{self.function}/d{k} = {_full(v)}" for k, v in self.gradient.items())
        return f"{self.function}({args}) = {_full(self.value)}\n{grads}"


def format_value(value: Any) -> str:
    """A value as a table shows it: integers plainly, others to three decimals, arrays as
    their shape and range."""
    if isinstance(value, bool):
        return str(int(value))
    shape = getattr(value, "shape", None)
    if shape:
        import numpy as np

        if value.size == 0:
            return f"{shape} empty"
        low, high, mean = np.min(value), np.max(value), np.mean(value)
        return (
            f"{shape} in [{format_value(float(low))}, {format_value(float(high))}], "
            f"mean {format_value(float(mean))}"
        )
    if shape == ():
        value = value.item()
    if isinstance(value, (int, float)):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        if 1e-3 <= abs(v) < 1e6:
            return f"{v:.3f}".rstrip("0").rstrip(".")
        return f"{v:.3e}"
    return str(value)


def _short(value: Any) -> str:
    """An argument in the summary line: a number, or an array's shape."""
    shape = getattr(value, "shape", None)
    return f"array{shape}" if shape else format_value(value)


def _full(value: Any) -> str:
    """A result in full precision: repr for numbers, numpy's printing for arrays."""
    if getattr(value, "shape", None):
        import numpy as np

        return np.array2string(np.asarray(value), precision=6, threshold=20)
    if hasattr(value, "item"):
        value = value.item()
    return repr(value)


def _text_rows(rows: list[Row]) -> list[str]:
    w_var = max(len(r.var) for r in rows)
    w_expr = max(len(r.expr) for r in rows)
    return [f"  {r.var:<{w_var}} = {r.expr:<{w_expr}} = {format_value(r.value)}" for r in rows]


def _json_safe(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _json_safe(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_json_safe(v) for v in data]
    if isinstance(data, float) and not math.isfinite(data):
        return str(data)
    if hasattr(data, "tolist"):
        return _json_safe(data.tolist())
    return data


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


def run_report(
    trace: Trace,
    inputs: Mapping[str, Any],
    value: Any,
    gradient: tuple,
    notation: str = "v",
    filename: str = "",
) -> RunReport:
    """The seed's primal and adjoint tables for `trace` at `inputs`.

    `value` and `gradient` are what the generated code returned; the tables come from the
    reference evaluator, one row per step and one per edge of the reverse sweep.
    """
    name = namer(trace, notation)
    env = primal_values(trace, inputs, filename)
    primal: list[Row] = []
    for v, p in zip(trace.inputs, trace.params):
        primal.append(Row(name(v), p if notation == "v" else "input", env[Var(v)]))
    for s in trace.steps:
        primal.append(Row(name(s.index), rule(s).show(s, name), env[Var(s.index)]))
    primal.append(Row("y" if notation == "v" else trace.name, name(trace.output), value))

    body, _ = adjoint_body(trace, trace.params)
    values = execute(body, env)
    adjoint: list[Row] = []
    for line, val in zip(body, values):
        target = _show_target(line.target, name)
        if line.kind == "seed":
            text = "ybar" if notation == "v" else "1"
        elif line.kind == "temp" or line.partial is None:
            text = show(line.expr, name)
        else:
            assert line.step is not None
            text = show(_edge(Var(line.step, True), line.partial), name)
        if line.accumulate:
            text = f"{target} + {text}"
        adjoint.append(Row(target, text, val))
    for v, p in zip(trace.inputs, trace.params):
        label = f"{p}bar" if notation == "v" else f"d{trace.name}/d{p}"
        adjoint.append(Row(label, name(v) + "bar", env.get(Var(v, True), 0.0)))
    grads = dict(zip(trace.params, gradient))
    return RunReport(trace.name, dict(inputs), value, grads, primal, adjoint)


def _show_target(target: Var | Temp, name: Any) -> str:
    if isinstance(target, Temp):
        return f"t{target.id}"
    return name(target.id) + ("bar" if target.bar else "")


def _edge(gbar: Expr, partial: Expr) -> Expr:
    """gbar * partial as the seed writes it: `v1bar / v-1`, `v5bar * (-1)`, `v3bar * cos(v0)`."""
    if isinstance(partial, BinOp) and partial.op == "/" and partial.left == Const(1):
        return BinOp("/", gbar, partial.right)
    return BinOp("*", gbar, partial)
