"""Reports that read the IR and never feed back into it: the trace listing and the lecture's
primal/adjoint tables, as text, Markdown, JSON, LaTeX or HTML (a notebook's display)."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..backend.reverse import adjoint_body
from ..core.evaluate import execute
from ..core.expr import (
    BinOp,
    Const,
    Expr,
    Temp,
    Var,
    power,
)
from ..core.ir import Assign, Step, Trace, namer
from ..core.primitives import Primitive, rule
from ..core.printer import TexPrinter, show, tex_number, tex_partial, tex_text
from .points import primal_values

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


@dataclass
class TraceReport:
    """A function's trace as the slide lists it; a notebook shows it as an HTML table."""

    trace: Trace

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (see `trace_dict`)."""
        return trace_dict(self.trace)

    def to_text(self) -> str:
        """The listing `adc trace` prints."""
        return trace_text(self.trace)

    def to_html(self) -> str:
        """The steps as an HTML table: variable, expression, type, arguments."""
        data = self.to_dict()
        rows = [
            [s["var"], s["expr"], f"Type {s['type']}", ", ".join(s["args"])] for s in data["steps"]
        ]
        rows.append(["return", data["output"], "", ""])
        return _html_table(
            _caption(self.trace), ["variable", "expression", "type", "reads"], rows, code=(0, 1, 3)
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<TraceReport {_caption(self.trace)}>"


def _caption(trace: Trace) -> str:
    return (
        f"{trace.name}({', '.join(trace.params)}): T = {len(trace.steps)} steps, "
        f"E = {trace.edges} edges"
    )


# ---------------------------------------------------------------------------------------------
# The primal and adjoint tables
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a table: `var = expr` and the value it takes.

    `tex` holds the row in the lecture's LaTeX notation: for a primal row `v_1 = \\ln v_{-1}`, for
    an adjoint row the general formula and the concrete one (`\\bar{v}_0 = \\bar{v}_3
    \\frac{\\partial v_3}{\\partial v_0}`, `\\bar{v}_3 \\times \\cos v_0`). `rule` says, for an
    adjoint row, which rule of the computation model gave its local partial.
    """

    var: str
    expr: str
    value: Any
    tex: tuple[str, ...] = ()
    rule: str = ""


@dataclass
class RunReport:
    """A function run at one point: its inputs, value, gradient, and both traces as rows."""

    function: str
    inputs: dict[str, Any]
    value: Any
    gradient: dict[str, Any]
    primal: list[Row]
    adjoint: list[Row]
    notation: str = "v"

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        """JSON-ready data in the documented layout (`explain`: each adjoint row's `rule`)."""

        def entry(r: Row, with_rule: bool) -> dict[str, Any]:
            out = {"var": r.var, "expr": r.expr, "value": r.value}
            return out | {"rule": r.rule} if with_rule else out

        return {
            "function": self.function,
            "inputs": self.inputs,
            "value": self.value,
            "gradient": self.gradient,
            "primal": [entry(r, False) for r in self.primal],
            "adjoint": [entry(r, explain) for r in self.adjoint],
        }

    def to_json(self, explain: bool = False) -> str:
        """The report as JSON (non-finite numbers as strings)."""
        return json.dumps(_json_safe(self.to_dict(explain)), indent=2)

    def to_text(self, explain: bool = False) -> str:
        """The lecture's two tables as plain text, then the value and gradient; `explain` adds,
        under each adjoint row, the rule that gave its local partial."""
        out = ["Forward primal trace"]
        out += _text_rows(self.primal)
        out += ["", "Reverse adjoint trace"]
        out += _text_rows(self.adjoint, explain)
        out += ["", self._summary()]
        return "\n".join(out)

    def to_markdown(self, explain: bool = False) -> str:
        """The lecture's two tables as GitHub Markdown (`explain`: a column for the rule)."""
        out = ["**Forward primal trace**", "", "| variable | expression | value |", "|---|---|---|"]
        out += [f"| {_md_code(r.var)} | {_md_code(r.expr)} | {_md_value(r)} |" for r in self.primal]
        out += ["", "**Reverse adjoint trace**", ""]
        if explain:
            out += [
                "| adjoint | expression | value | local partial, by rule |",
                "|---|---|---|---|",
            ]
        else:
            out += ["| adjoint | expression | value |", "|---|---|---|"]
        for r in self.adjoint:
            cells = [_md_code(r.var), _md_code(r.expr), _md_value(r)]
            cells += [_md_text(r.rule)] if explain else []
            out.append("| " + " | ".join(cells) + " |")
        out += [""] + [f"- `{line}`" for line in self._summary().splitlines()]
        return "\n".join(out)

    def to_latex(self, explain: bool = False) -> str:
        """The lecture's two tables as LaTeX `tabular`s in its notation (v_{-1}, \\bar{v}_0), for
        any LaTeX document: no package needed. `explain` adds a line under each adjoint row."""
        out = [f"% {line}" for line in self._summary().splitlines()]
        out += ["\\begin{tabular}{ll}", r"\multicolumn{2}{l}{\textbf{Forward primal trace}} \\"]
        out.append(r"\hline")
        for r in self.primal:
            out.append(f"${r.tex[0]}$ & {_tex_value(r.value)} \\\\")
        out += [r"\end{tabular}", "", r"\medskip", ""]
        out += ["\\begin{tabular}{lll}"]
        out += [r"\multicolumn{3}{l}{\textbf{Reverse adjoint trace}} \\", r"\hline"]
        for r in self.adjoint:
            concrete = f"$= {r.tex[1]}$" if len(r.tex) > 1 and r.tex[1] else ""
            out.append(f"${r.tex[0]}$ & {concrete} & {_tex_value(r.value)} \\\\")
            if explain and r.rule:
                note = r"\quad\footnotesize " + (r.tex[2] if len(r.tex) > 2 else tex_text(r.rule))
                out.append(f"\\multicolumn{{3}}{{l}}{{{note}}} \\\\")
        out.append(r"\end{tabular}")
        return "\n".join(out) + "\n"

    def to_html(self, explain: bool = False) -> str:
        """The two tables as HTML, for a notebook."""
        primal = _html_table(
            "Forward primal trace",
            ["variable", "expression", "value"],
            [[r.var, r.expr, format_value(r.value)] for r in self.primal],
            code=(0, 1),
        )
        head = ["adjoint", "expression", "value"] + (["local partial, by rule"] if explain else [])
        rows = [
            [r.var, r.expr, format_value(r.value)] + ([r.rule] if explain else [])
            for r in self.adjoint
        ]
        adjoint = _html_table("Reverse adjoint trace", head, rows, code=(0, 1))
        summary = "<br>".join(
            f"<code>{html.escape(s)}</code>" for s in self._summary().splitlines()
        )
        return f"<div>\n{primal}\n{adjoint}\n<p>{summary}</p>\n</div>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_text()

    def _summary(self) -> str:
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.inputs.items())
        grads = "\n".join(f"d{self.function}/d{k} = {_full(v)}" for k, v in self.gradient.items())
        return f"{self.function}({args}) = {_full(self.value)}\n{grads}"


def _md_code(text: str) -> str:
    """`text` as a code span in a GitHub table cell."""
    return "`" + text.replace("|", "\\|") + "`"


def _md_text(text: str) -> str:
    return text.replace("|", "\\|")


def _md_value(row: Row) -> str:
    return _md_text(format_value(row.value))


def _html_table(caption: str, head: list[str], rows: list[list[str]], code: tuple = ()) -> str:
    """An HTML table; the columns numbered in `code` in a monospace font."""

    def cell(i: int, text: str, tag: str = "td") -> str:
        body = html.escape(text)
        body = f"<code>{body}</code>" if i in code and text else body
        return f'<{tag} style="text-align:left">{body}</{tag}>'

    out = ["<table>", f'<caption style="text-align:left"><b>{html.escape(caption)}</b></caption>']
    out.append("<tr>" + "".join(cell(-1, h, "th") for h in head) + "</tr>")
    out += ["<tr>" + "".join(cell(i, c) for i, c in enumerate(row)) + "</tr>" for row in rows]
    out.append("</table>")
    return "\n".join(out)


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


def _text_rows(rows: list[Row], explain: bool = False) -> list[str]:
    w_var = max(len(r.var) for r in rows)
    w_expr = max(len(r.expr) for r in rows)
    out = []
    for r in rows:
        out.append(f"  {r.var:<{w_var}} = {r.expr:<{w_expr}} = {format_value(r.value)}")
        if explain and r.rule:
            out.append(" " * (w_var + 5) + r.rule)
    return out


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








def run_report(
    trace: Trace,
    inputs: Mapping[str, Any],
    value: Any,
    gradient: tuple,
    notation: str = "v",
    filename: str = "",
    wrt: Sequence[str] | None = None,
) -> RunReport:
    """The lecture's primal and adjoint tables for `trace` at `inputs`.

    `value` and `gradient` are what the generated code returned (one partial per name of
    `wrt`, by default every parameter); the tables come from the reference evaluator, one row
    per step and one per edge of the reverse sweep.
    """
    name = namer(trace, notation)
    tex = TexPrinter(trace, notation)
    env = primal_values(trace, inputs, filename)
    primal: list[Row] = []
    for v, p in zip(trace.inputs, trace.params):
        if notation == "v":
            row = Row(name(v), p, env[Var(v)], (f"{tex.var(v)} = {tex.symbol(p)}",))
        else:
            row = Row(name(v), "input", env[Var(v)], (tex.var(v),))
        primal.append(row)
    for s in trace.steps:
        formula = f"{tex.var(s.index)} = {tex(_step_expr(s))}"
        primal.append(Row(name(s.index), rule(s).show(s, name), env[Var(s.index)], (formula,)))
    out_name = "y" if notation == "v" else trace.name
    out_tex = f"{tex.symbol(out_name)} = {tex.var(trace.output)}"
    primal.append(Row(out_name, name(trace.output), value, (out_tex,)))

    body, _ = adjoint_body(trace, trace.params)
    values = execute(body, env)
    adjoint = [_adjoint_row(trace, line, val, name, tex) for line, val in zip(body, values)]
    for v, p in zip(trace.inputs, trace.params):
        if notation == "v":
            label, formula = f"{p}bar", f"{tex.symbol(p, bar=True)} = {tex.var(v, bar=True)}"
        else:
            label = f"d{trace.name}/d{p}"
            formula = f"{tex_partial(tex.symbol(trace.name), tex.var(v))} = {tex.var(v, bar=True)}"
        note = f"the gradient: d{trace.name}/d{p} is the adjoint of {name(v)}"
        value_v = env.get(Var(v, True), 0.0)
        adjoint.append(Row(label, name(v) + "bar", value_v, (formula, "", tex_text(note)), note))
    grads = dict(zip(trace.params if wrt is None else wrt, gradient))
    return RunReport(trace.name, dict(inputs), value, grads, primal, adjoint, notation)


def _adjoint_row(trace: Trace, line: Assign, value: Any, name: Callable, tex: TexPrinter) -> Row:
    """One line of the reverse sweep as a row: text, LaTeX, and the rule behind it."""
    target = _show_target(line.target, name)
    target_tex = tex.name(line.target)
    if line.kind == "seed":
        out = trace.output
        note = f"seed: d{name(out)}/d{name(out)} = 1"
        formula = f"{target_tex} = " + (r"\bar{y}" if tex.notation == "v" else "1")
        seed_tex = f"${tex_partial(tex.var(out), tex.var(out))} = 1$: the seed"
        return Row(
            target, "ybar" if tex.notation == "v" else "1", value, (formula, "", seed_tex), note
        )
    assert line.step is not None
    step = trace.step(line.step)
    r = rule(step)
    step_text = f"{name(step.index)} = {r.show(step, name)}"
    if line.kind == "temp":
        note = f"a partial product of {step_text} ({r.explain})"
        formula = f"{target_tex} = {tex(line.expr)}"
        return Row(target, show(line.expr, name), value, (formula, "", tex_text(note)), note)
    assert line.arg is not None and isinstance(line.target, Var)
    child, parent = step.index, step.args[line.arg]
    if line.partial is None:
        text, concrete = show(line.expr, name), tex(line.expr)
        partial_text, partial_tex = "", ""
    else:
        text = show(_edge(Var(child, True), line.partial), name)
        concrete = tex(_edge(Var(child, True), line.partial))
        partial_text, partial_tex = f" = {show(line.partial, name)}", f" = {tex(line.partial)}"
    general = f"{tex.var(child, bar=True)} {tex_partial(tex.var(child), tex.var(parent))}"
    if line.accumulate:
        text, concrete, general = (
            f"{target} + {text}",
            f"{target_tex} + {concrete}",
            f"{target_tex} + {general}",
        )
    how = _rule_text(r, step, name)
    note = f"d{name(child)}/d{name(parent)}{partial_text} by {how}"
    note_tex = f"${tex_partial(tex.var(child), tex.var(parent))}{partial_tex}$ by {tex_text(how)}"
    return Row(target, text, value, (f"{target_tex} = {general}", concrete, note_tex), note)


def _rule_text(r: Primitive, step: Step, name: Callable[[int], str]) -> str:
    """The rule of the computation model behind a step's partials, with h's argument u."""
    shown = r.show(step, name)
    inner = re.fullmatch(r"\w+\((.*)\)", shown)
    if r.type == 3 and "h'(u)" in r.explain and inner and inner[1] != name(step.args[0]):
        return f"{r.explain}, u = {inner[1]}"
    return r.explain


def _show_target(target: Var | Temp, name: Any) -> str:
    if isinstance(target, Temp):
        return f"t{target.id}"
    return name(target.id) + ("bar" if target.bar else "")


def _edge(gbar: Expr, partial: Expr) -> Expr:
    """gbar * partial as the lecture writes it: `v1bar / v-1`, `v5bar * (-1)`, `v3bar * cos(v0)`."""
    if isinstance(partial, BinOp) and partial.op == "/" and partial.left == Const(1):
        return BinOp("/", gbar, partial.right)
    return BinOp("*", gbar, partial)


def _step_expr(step: Step) -> Expr:
    """A step as the lecture writes it: products as powers (`w1 * w2^-1`), others as computed."""
    if step.op == "product":
        factors = [power(Var(a), p) for a, p in zip(step.args, step.params)]
        out = factors[0]
        for f in factors[1:]:
            out = BinOp("*", out, f)
        return out
    return rule(step).primal(step)


def _tex_value(value: Any) -> str:
    """A table's value cell: `$= 0.693$`, or an array's shape and range as text."""
    text = format_value(value)
    if getattr(value, "shape", None):
        return "$=$ " + tex_text(text)
    if text in ("inf", "-inf", "nan"):
        return f"$= {tex_number(float(text))}$"
    scientific = re.fullmatch(r"(-?[\d.]+)e([+-]?\d+)", text)
    if scientific:
        text = rf"{scientific[1]} \times 10^{{{int(scientific[2])}}}"
    return f"$= {text}$"
