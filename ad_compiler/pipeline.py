"""The visible chain: source -> fence -> trace -> reverse -> passes -> emit -> module."""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .backend import emit, load, loops, reverse
from .backend.passes import chosen_passes, optimize_programs
from .core.errors import CompileError, Source, run_deep
from .core.ir import Program, Trace
from .core.runtime import HELPERS
from .frontend.fence import Module, decode, identifiers
from .frontend.module import lower_function, read_module

T = TypeVar("T")

RESERVED_FUNCTIONS = set(HELPERS)


@dataclass
class Build:
    """A compiled source: its traces, the generated programs and module source, and the module."""

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


def _check_generated_names(mod: Module) -> None:
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


def build(
    text: str,
    filename: str = "<source>",
    function: str | None = None,
    wrt: Sequence[str] | None = None,
    passes: Sequence[str] | None = None,
    backend: str = "python",
) -> Build:
    """Compile source text: every function (or only `function`), gradients w.r.t. `wrt`, with
    the optimisation passes named in `passes` (default: all of backend.passes.PASSES), as plain
    Python or (backend 'numba', scalar functions only) compiled by numba."""

    if backend not in emit.BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(emit.BACKENDS)}")
    chosen_passes(passes)  # an unknown pass is reported before any work

    def work() -> Build:
        mod = read_module(Source(text, filename))
        names = list(mod.functions)
        if function is not None:
            if function not in mod.functions:
                raise CompileError(
                    f"no function `{function}` in {filename}",
                    filename=filename,
                    hint="functions here: " + ", ".join(names),
                )
            names = [function]
        if backend == "numba":
            _check_numba(mod, names)
        _check_generated_names(mod)
        traces = {n: lower_function(mod, n) for n in names}
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
            if trace.body is not None:
                programs += loops.programs(trace, selected)
            else:
                programs += optimize_programs(reverse.programs(trace, selected), passes)
        source = emit.module_source(programs, Path(filename).name, identifiers(mod), backend)
        return Build(filename, traces, programs, source)

    return on_deep_stack(work, filename)


def _check_numba(mod: Module, names: Sequence[str]) -> None:
    """The numba backend compiles scalar code: no numpy arrays, and numba installed."""
    for name in names:
        if mod.arrays:
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
    return decode(data, str(p))
