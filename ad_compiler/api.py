"""The visible chain: parse -> reverse -> optimize -> emit -> load, and the Python entry points."""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import cost, emit, graph, load, optimize, parse, report, reverse
from .errors import CompileError, Source, run_deep
from .ir import Program, Trace
from .rules import HELPERS

RESERVED_FUNCTIONS = set(HELPERS)


T = TypeVar("T")


@dataclass
class Compiled:
    """A compiled source: its traces, the generated programs and module source, and the module.

    Attribute access falls through to the generated module: `compiled.grad_f(1.0, 2.0)`.
    """

    filename: str
    traces: dict[str, Trace]
    programs: list[Program]
    source: str
    _module: types.ModuleType | None = field(default=None, repr=False)

    @property
    def module(self) -> types.ModuleType:
        """The generated module, loaded from a real file."""
        if self._module is None:
            self._module = load.load_source(self.source, Path(self.filename).stem)
        return self._module

    def load_in_memory(self) -> types.ModuleType:
        """The generated module, loaded without writing any file (what the CLI uses)."""
        if self._module is None:
            self._module = load.load_in_memory(self.source, Path(self.filename).stem)
        return self._module

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
        """The seed's primal and adjoint tables at `values` (the rest from the defaults), as
        `adc run` prints them; `notation` 'v' (v_i) or 'z' (the slide's z_t)."""
        name = self.function_name(function)
        trace = self.traces[name]
        inputs = report.point(trace, dict(values or {}), self.filename)
        report.primal_values(trace, inputs, self.filename)  # outside the domain: located
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
        inputs = report.point(trace, dict(values), self.filename) if values else None
        return graph.computation_graph(trace, inputs, notation, partials, self.filename)

    def cost_report(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        function: str | None = None,
        timing: bool = True,
        repeat: int = 7,
    ) -> cost.CostReport:
        """The seed's complexity facts, as `adc cost` prints them; timed at `values` (or the
        defaults, or a random point) unless `timing` is False."""
        name = self.function_name(function)
        trace = self.traces[name]
        chosen, note = None, "timing=False"
        if timing:
            primal = getattr(self.module, name)
            chosen, note = cost.timing_point(trace, primal, dict(values or {}), self.filename)
        module = self.module if chosen is not None else None
        return cost.cost_report(trace, self.source, module, chosen, note, repeat)


def _check_generated_names(mod: parse.Module) -> None:
    """Reject a function whose name is one adc generates for another (`grad_f` beside `f`), or
    one of the array helpers generated code calls."""
    generated: dict[str, str] = {}
    for name in mod.functions:
        if name in RESERVED_FUNCTIONS:
            raise mod.source.error(
                mod.functions[name],
                f"function name `{name}` would shadow what the generated code calls",
                f"rename `{name}`",
            )
        for made in (name, f"grad_{name}", f"value_and_grad_{name}"):
            if made in generated and generated[made] != name:
                other = generated[made]
                clash = name if made != name else other
                raise mod.source.error(
                    mod.functions[clash],
                    f"function name `{made}` clashes with the gradient adc generates for "
                    f"`{other if made != other else name}`",
                    f"rename `{made}`",
                )
            generated[made] = name


def compile_source(
    text: str,
    filename: str = "<source>",
    function: str | None = None,
    wrt: Sequence[str] | None = None,
    passes: Sequence[str] | None = None,
    backend: str = "python",
) -> Compiled:
    """Compile source text: every function (or only `function`), gradients w.r.t. `wrt`, with
    the optimisation passes named in `passes` (default: all of optimize.PASSES), as plain
    Python or (backend 'numba', scalar functions only) compiled by numba."""

    def work() -> Compiled:
        mod = parse.read_module(Source(text, filename))
        names = list(mod.functions)
        if function is not None:
            if function not in mod.functions:
                raise CompileError(
                    f"no function `{function}` in {filename}",
                    filename=filename,
                    hint="functions here: " + ", ".join(names),
                )
            names = [function]
        _check_generated_names(mod)
        traces = {n: parse.lower_function(mod, n) for n in names}
        programs: list[Program] = []
        for name, trace in traces.items():
            selected = list(wrt) if wrt else None
            if selected is not None:
                for w in selected:
                    if w not in trace.params:
                        raise mod.source.error(
                            mod.functions[name],
                            f"`{name}` has no parameter `{w}` to differentiate by",
                            "parameters: " + ", ".join(trace.params),
                        )
            programs += optimize.optimize_programs(reverse.programs(trace, selected), passes)
        if backend == "numba":
            _check_numba(mod, traces)
        source = emit.module_source(programs, Path(filename).name, parse.identifiers(mod), backend)
        return Compiled(filename, traces, programs, source)

    return on_deep_stack(work, filename)


def _check_numba(mod: parse.Module, traces: dict[str, Trace]) -> None:
    """The numba backend compiles scalar code: no numpy arrays, and numba installed."""
    for name, trace in traces.items():
        if trace.arrays:
            raise mod.source.error(
                mod.functions[name],
                f"the numba backend compiles scalar functions only; `{name}` is array code",
                "compile array code with the default backend (leave out --backend numba)",
            )
    try:
        importlib.import_module("numba")
    except ImportError:
        raise CompileError(
            "the numba backend needs numba, which is not installed",
            filename=mod.source.filename,
            hint="pip install numba (or the project's extra: pip install 'adc[numba]')",
        ) from None


def on_deep_stack(work: Callable[[], T], filename: str) -> T:
    """Run compiler work on the deep stack; exhausting even that is a located error."""
    try:
        return run_deep(work)
    except (RecursionError, MemoryError) as exc:
        raise CompileError(
            f"the input is too large or deeply nested to compile ({type(exc).__name__})",
            filename=filename,
            hint="split the expression into several assignments",
        ) from None


def read_source(path: str | Path) -> str:
    """The text of a source file; a missing or undecodable file is a CompileError."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise CompileError(f"no such file: {p}", filename=str(p), hint="check the path") from None
    except IsADirectoryError:
        raise CompileError(f"{p} is a directory", filename=str(p), hint="name a .py file") from None
    except OSError as exc:
        raise CompileError(
            f"cannot read {p}: {exc.strerror}", filename=str(p), hint="check its permissions"
        ) from None
    return parse.decode(data, str(p))


def compile_file(
    path: str | Path,
    function: str | None = None,
    wrt: Sequence[str] | None = None,
    passes: Sequence[str] | None = None,
    backend: str = "python",
) -> Compiled:
    """Compile a source file (see `compile_source`)."""
    return compile_source(read_source(path), str(path), function, wrt, passes, backend)


# ---------------------------------------------------------------------------------------------
# Live functions
# ---------------------------------------------------------------------------------------------


def _function_source(fn: types.FunctionType, seen: set[str], parts: dict[str, str]) -> None:
    """Collect `fn`'s source and what it refers to (helpers, constants, imports) into parts."""
    if fn.__name__ in seen:
        return
    seen.add(fn.__name__)
    text = textwrap.dedent(inspect.getsource(fn))
    tree = ast.parse(text)
    fdef = tree.body[0]
    if isinstance(fdef, ast.FunctionDef):
        fdef.decorator_list = []
        text = ast.unparse(fdef)
    globals_ = fn.__globals__
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or node.id not in globals_:
            continue
        value = globals_[node.id]
        name = node.id
        if isinstance(value, types.ModuleType) and value.__name__ in ("math", "numpy"):
            alias = "" if name == value.__name__ else f" as {name}"
            parts.setdefault(f"import:{name}", f"import {value.__name__}{alias}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.setdefault(f"const:{name}", f"{name} = {value!r}")
        elif isinstance(value, types.FunctionType) and value is not fn:
            _function_source(value, seen, parts)
        elif callable(value):
            owner = getattr(value, "__module__", None) or ""
            lib = "numpy" if owner.startswith("numpy") or type(value).__name__ == "ufunc" else owner
            if lib in ("math", "numpy") and hasattr(value, "__name__"):
                alias = "" if name == value.__name__ else f" as {name}"
                parts.setdefault(f"import:{name}", f"from {lib} import {value.__name__}{alias}")
    parts[f"def:{fn.__name__}"] = text


def _compile_live(fn: Callable[..., Any], wrt: Sequence[str] | None) -> Compiled:
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"adc can differentiate Python functions, not {type(fn).__name__}")
    parts: dict[str, str] = {}
    _function_source(fn, set(), parts)
    order = sorted(parts, key=lambda k: ("import", "const", "def").index(k.split(":")[0]))
    text = "\n".join(parts[k] for k in order) + "\n"
    filename = inspect.getsourcefile(fn) or "<function>"
    return compile_source(text, filename, fn.__name__, wrt)


def grad(fn: Callable[..., Any], wrt: Sequence[str] | None = None) -> Callable[..., tuple]:
    """The gradient of a live function: a callable returning one partial per parameter."""
    return getattr(_compile_live(fn, wrt).module, f"grad_{fn.__name__}")


def value_and_grad(
    fn: Callable[..., Any], wrt: Sequence[str] | None = None
) -> Callable[..., tuple]:
    """A callable returning (value, gradient tuple) of a live function."""
    return getattr(_compile_live(fn, wrt).module, f"value_and_grad_{fn.__name__}")


__all__ = [
    "Compiled",
    "compile_source",
    "compile_file",
    "read_source",
    "grad",
    "value_and_grad",
]
