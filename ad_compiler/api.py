"""The Python entry points: compile a file, a source text or a live function; the compiled
result with its teaching outputs; gradients of live functions and their check."""

from __future__ import annotations

import ast
import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backend.load import write_atomic
from .backend.passes import PASSES
from .core.errors import CompileError, Source, source_lines
from .frontend.live import live_source
from .frontend.module import read_module
from .pipeline import Build, build, on_deep_stack, read_source
from .teach import cost, graph, points
from .teach import tables as report
from .teach.check import CheckResult, compare
from .teach.graph import INSTALL_HINT, PICTURE_FORMATS, GraphvizMissing
from .teach.points import parse_values
from .train.loop import parse_settings
from .train.loop import run as run_training
from .train.loop import setup as setup_training
from .train.plots import plot_history

__all__ = [
    "PASSES",
    "CheckResult",
    "CompileError",
    "Compiled",
    "check_grad",
    "check_output_path",
    "check_points",
    "compile_file",
    "compile_source",
    "default_function",
    "grad",
    "graph_bytes",
    "open_function",
    "parse_settings",
    "parse_values",
    "passes_named",
    "plot_history",
    "read_source",
    "run_training",
    "setup_training",
    "value_and_grad",
    "write_output",
]


class Compiled(Build):
    """A compiled source: its traces, the generated programs and module source, and the module.

    Attribute access falls through to the generated module: `compiled.grad_f(1.0, 2.0)`.
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.module, name)

    # -- teaching outputs: each displays as HTML (the graph as SVG) in a notebook ---------------

    def function_name(self, function: str | None = None) -> str:
        """`function`, or the only function compiled; several need one named."""
        if function is None:
            if len(self.traces) != 1:
                names = ", ".join(self.traces)
                raise ValueError(f"{self.filename} has several functions ({names}): name one")
            return next(iter(self.traces))
        if function not in self.traces:
            raise ValueError(f"no function {function} in {self.filename}")
        return function

    def trace_report(self, function: str | None = None) -> report.TraceReport:
        """The trace z1..zT of a function, as `adc trace` lists it."""
        return report.TraceReport(self.traces[self.function_name(function)])

    def run_report(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        function: str | None = None,
        notation: str = "v",
    ) -> report.RunReport:
        """The lecture's primal and adjoint tables at `values` (the rest from the defaults), as
        `adc run` prints them; `notation` 'v' (v_i) or 'z' (the slide's z_t)."""
        name = self.function_name(function)
        trace = self.traces[name]
        inputs = points.point(trace, dict(values or {}), self.filename)
        points.primal_values(trace, inputs, self.filename)  # outside the domain: located
        value, grads = getattr(self.module, f"value_and_grad_{name}")(*inputs.values())
        wrt = next(p.wrt for p in self.programs if p.name == name)
        return report.run_report(trace, inputs, value, grads, notation, self.filename, wrt)

    def computation_graph(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        function: str | None = None,
        notation: str = "z",
        partials: bool = False,
    ) -> graph.Graph:
        """The computation graph, as `adc graph` draws it; with `values`, each node's value
        and adjoint there. `partials` labels each edge with dz_c/dz_t."""
        trace = self.traces[self.function_name(function)]
        inputs = points.point(trace, dict(values), self.filename) if values else None
        return graph.computation_graph(trace, inputs, notation, partials, self.filename)

    def cost_report(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        function: str | None = None,
        timing: bool = True,
        repeat: int = 7,
    ) -> cost.CostReport:
        """The lecture's complexity facts, as `adc cost` prints them; timed at `values` (or the
        defaults, or a random point) unless `timing` is False."""
        name = self.function_name(function)
        trace = self.traces[name]
        chosen, note = None, "timing=False"
        if timing:
            primal = getattr(self.module, name)
            chosen, note = cost.timing_point(trace, primal, dict(values or {}), self.filename)
        module = self.module if chosen is not None else None
        return cost.cost_report(trace, self.source, module, chosen, note, repeat)


def compile_source(
    text: str,
    filename: str = "<source>",
    function: str | None = None,
    wrt: Sequence[str] | None = None,
    passes: Sequence[str] | None = None,
    backend: str = "python",
) -> Compiled:
    """Compile source text: every function (or only `function`), gradients w.r.t. `wrt`, with
    the optimisation passes named in `passes` (default: all of them), as plain Python or
    (backend 'numba', scalar functions only) compiled by numba."""
    made = build(text, filename, function, wrt, passes, backend)
    return Compiled(made.filename, made.traces, made.programs, made.source)


def compile_file(
    path: str | Path,
    function: str | None = None,
    wrt: Sequence[str] | None = None,
    passes: Sequence[str] | None = None,
    backend: str = "python",
) -> Compiled:
    """Compile a source file (see `compile_source`)."""
    return compile_source(read_source(path), str(path), function, wrt, passes, backend)


@dataclass
class _LiveCompiled:
    """A live function compiled: the result, and the values its generated functions take
    before the function's own parameters."""

    compiled: Compiled
    name: str
    bound: tuple[Any, ...]

    def function(self, prefix: str) -> Callable[..., Any]:
        """The generated `{prefix}{name}` with the bound values passed."""
        made = getattr(self.compiled.module, f"{prefix}{self.name}")
        return functools.partial(made, *self.bound) if self.bound else made


def _compile_live(fn: Callable[..., Any], wrt: Sequence[str] | None) -> _LiveCompiled:
    source = live_source(fn, wrt)
    try:
        compiled = compile_source(source.text, source.filename, source.name, source.wrt)
    except CompileError as error:
        source.relocate(error)
        raise
    return _LiveCompiled(compiled, source.name, source.bound)


def grad(fn: Callable[..., Any], wrt: Sequence[str] | None = None) -> Callable[..., tuple]:
    """The gradient of a live function: a callable taking `fn`'s arguments and returning one
    partial per parameter (of `wrt`, by default all). Numbers and arrays `fn` reads from its
    module or closure are constants, read when `grad` is called."""
    return _compile_live(fn, wrt).function("grad_")


def value_and_grad(
    fn: Callable[..., Any], wrt: Sequence[str] | None = None
) -> Callable[..., tuple]:
    """A callable returning (value, gradient tuple) of a live function; see `grad`."""
    return _compile_live(fn, wrt).function("value_and_grad_")


def check_grad(
    fn: Callable[..., Any],
    *args: Any,
    tol: float = 1e-6,
    wrt: Sequence[str] | None = None,
    elementwise: bool = False,
    seed: int = 0,
) -> CheckResult:
    """Compile `fn`, and check its generated gradient at `args` against finite differences
    of `fn` itself: a number by its partial, an array along a random unit direction (drawn
    with `seed`) or, `elementwise`, element by element. Where `fn` or its gradient is
    undefined at `args`, the result says so (`.undefined`) and is not `.ok`."""
    params = list(inspect.signature(fn).parameters)
    if len(args) != len(params):
        raise TypeError(f"{fn.__name__} takes {len(params)} arguments, got {len(args)}")
    gradient = _compile_live(fn, wrt).function("grad_")
    point = dict(zip(params, args))
    names = list(wrt or params)
    return compare(fn.__name__, fn, gradient, point, names, tol, elementwise=elementwise, seed=seed)


# ---------------------------------------------------------------------------------------------
# What the `adc` command does, less its argument parsing and printing
# ---------------------------------------------------------------------------------------------


def default_function(text: str, filename: str) -> str:
    """The function a command works on by default: the last one no other function calls."""

    def pick() -> str:
        mod = read_module(Source(text, filename))
        called: set[str] = set()
        for fdef in mod.functions.values():
            for node in ast.walk(fdef):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    if node.func.id != fdef.name:
                        called.add(node.func.id)
        roots = [n for n in mod.functions if n not in called]
        return (roots or list(mod.functions))[-1]

    return on_deep_stack(pick, filename)


def open_function(path: str, function: str | None = None) -> tuple[Compiled, str]:
    """The file at `path` compiled for one function (by default its main one), and its name."""
    text = read_source(path)
    if function is None:
        function = default_function(text, path)
    return compile_source(text, path, function), function


def passes_named(spec: str | None, filename: str) -> list[str] | None:
    """The optimisation passes a `--passes` value names: all (None), none, or a comma-separated
    list of PASSES."""
    if spec is None or spec.strip() == "all":
        return None
    if spec.strip() == "none":
        return []
    names = [p.strip() for p in spec.split(",") if p.strip()]
    for name in names:
        if name not in PASSES:
            raise CompileError(
                f"unknown optimisation pass `{name}`",
                filename=filename,
                hint=f"--passes takes all, none or some of: {', '.join(PASSES)}",
            )
    return names


def check_output_path(source: str | Path, output: str | Path, filename: str) -> Path:
    """`output` as a path adc may write: not the source itself, not a directory, in a
    directory that exists."""
    src, out = Path(source), Path(output)
    if _same_file(src, out):
        raise CompileError(
            f"refusing to overwrite the input file {filename}",
            filename=filename,
            hint="choose another output with -o",
        )
    if out.is_dir():
        raise CompileError(
            f"the output {out} is a directory",
            filename=filename,
            hint="name a file, e.g. -o f_grad.py",
        )
    if out.parent and not out.parent.exists():
        raise CompileError(
            f"output directory {out.parent} does not exist",
            filename=filename,
            hint="create it first",
        )
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        if b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return a.resolve() == b.resolve()


def write_output(path: Path, data: str | bytes, filename: str) -> None:
    """Write `data` to `path` atomically; a failure is a CompileError at `filename`."""
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise CompileError(
            f"cannot write {path}: {exc.strerror}", filename=filename, hint="check the path"
        ) from None


def graph_bytes(drawing: graph.Graph, output: str, filename: str) -> bytes:
    """The computation graph as the file `output` names it: DOT text, or an SVG or PNG
    picture drawn by Graphviz."""
    kind = Path(output).suffix.lower().lstrip(".")
    if kind not in ("dot", "gv", *PICTURE_FORMATS):
        raise CompileError(
            f"cannot tell the picture format of {output}",
            filename=filename,
            hint="name the output OUT.dot (needs nothing), OUT.svg or OUT.png (need Graphviz)",
        )
    if kind not in PICTURE_FORMATS:
        return drawing.to_dot().encode("utf-8")
    try:
        return drawing.picture(kind)
    except GraphvizMissing as exc:
        raise CompileError(
            f"writing {output} needs Graphviz, but {exc.missing}",
            filename=filename,
            hint=f"{INSTALL_HINT}; -o OUT.dot needs neither",
        ) from None


def check_points(
    compiled: Compiled,
    function: str,
    values: Mapping[str, Any],
    *,
    tol: float = 1e-6,
    count: int = 5,
    seed: int = 0,
    elementwise: bool = False,
) -> list[CheckResult]:
    """The generated gradient of `function` against finite differences of its generated
    primal, at `values` (the rest from the defaults) or at `count` random points where the
    function is defined; arrays along random directions drawn with `seed`, or `elementwise`.
    Random points are drawn for numbers only: code that may take arrays needs `values`."""
    filename = compiled.filename
    trace = compiled.traces[function]
    module = compiled.load_in_memory()
    primal = getattr(module, function)
    gradient = getattr(module, f"grad_{function}")
    points.check_parameters(values, trace, filename)
    if values:
        chosen = [points.point(trace, values, filename)]
    else:
        missing = [p for p in trace.params if p not in trace.defaults]
        if trace.arrays and missing:
            raise CompileError(
                f"`{function}` may take arrays, and adc check draws random points only for numbers",
                filename=filename,
                line=trace.line,
                source_line=_line(trace.source_text, trace.line),
                hint="pass a point: "
                + " ".join(f"{p}=VALUE" for p in missing)
                + f", an array as {missing[0]}=[0.5, -0.25], zeros(3) or @file.npy",
            )
        chosen = points.random_points(primal, trace.params, trace.defaults, count, seed)
        if not chosen:
            raise CompileError(
                f"found no point where `{function}` is defined",
                filename=filename,
                line=trace.line,
                source_line=_line(trace.source_text, trace.line),
                hint="pass a point: " + " ".join(f"{p}=VALUE" for p in trace.params),
            )
    for at in chosen:
        try:
            with np.errstate(all="ignore"):
                value = primal(*at.values())
        except (TypeError, AttributeError) as exc:
            raise CompileError(
                f"`{function}` cannot take these values: {exc}",
                filename=filename,
                line=trace.line,
                source_line=_line(trace.source_text, trace.line),
                hint="give each parameter the shape the function expects, e.g. w=[0.5, -0.25]",
            ) from None
        except (ArithmeticError, ValueError):
            continue  # undefined at this point: the check says so
        if np.ndim(value) != 0:
            raise CompileError(
                f"`{function}` returns an array of shape {np.shape(value)}, not a number",
                filename=filename,
                line=trace.line,
                source_line=_line(trace.source_text, trace.line),
                hint="adc check checks a function whose value is one number: name one with "
                "--function",
            )
    return [
        compare(
            function, primal, gradient, at, trace.params, tol, elementwise=elementwise, seed=seed
        )
        for at in chosen
    ]


def _line(text: str, line: int) -> str:
    """Line `line` of a source text, or ''."""
    lines = source_lines(text)
    return lines[line - 1] if 0 < line <= len(lines) else ""
