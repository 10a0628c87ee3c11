"""The Python entry points: compile a file, a source text or a live function; the compiled
result with its teaching outputs; gradients of live functions and their check."""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import math
import os
import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .backend.load import write_atomic
from .backend.passes import PASSES
from .core.errors import CompileError, Source, source_lines
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


# ---------------------------------------------------------------------------------------------
# Live functions
# ---------------------------------------------------------------------------------------------

_LIBRARIES = ("math", "numpy")
# Array dtypes a live function may read as constants: booleans, integers and reals.
_ARRAY_KINDS = "biuf"


@dataclass(frozen=True)
class _Site:
    """A place in a real file: its 1-based line and column and the line's text."""

    filename: str
    line: int
    col: int
    text: str


@dataclass
class _Block:
    """A live function's source as adc compiles it, and the file's line each line came from."""

    fn: types.FunctionType
    filename: str
    first: int  # the file's line of the block's first line
    original: list[str]  # the file's lines
    plain: list[str]  # dedented, decorators blanked: the lines `fdef` was parsed from
    indents: list[int]  # characters of indentation taken off each line
    fdef: ast.FunctionDef
    lines: list[str] = field(default_factory=list)  # `plain` with the edits made
    edits: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    calls: dict[int, ast.Call] = field(default_factory=dict)  # by the id of the callee's node

    def __post_init__(self) -> None:
        self.lines = list(self.plain)
        for node in ast.walk(self.fdef):
            if isinstance(node, ast.Call):
                self.calls[id(node.func)] = node

    @property
    def name(self) -> str:
        return self.fn.__code__.co_name

    @property
    def locals(self) -> set[str]:
        """The function's parameters and local variables."""
        code = self.fn.__code__
        return {*code.co_varnames, *code.co_cellvars}

    def place(self, row: int, col: int) -> _Site:
        """The file's place of 0-based `row` and character column `col` of `plain`."""
        return _Site(
            self.filename, self.first + row, col + self.indents[row] + 1, self.original[row]
        )

    def site(self, row: int, col: int) -> _Site:
        """The file's place of 0-based `row` and character column `col` of `lines`."""
        return self.place(row, _unedit(col, self.edits.get(row, [])))

    def node_site(self, node: ast.AST) -> _Site:
        """The file's place of a node of `fdef`."""
        row = node.lineno - 1
        return self.place(row, _char_col(self.plain[row], node.col_offset))

    def def_site(self) -> _Site:
        """The file's place of the `def`."""
        return self.node_site(self.fdef)

    def replace(self, row: int, col: int, end: int, text: str) -> None:
        """Write `text` in place of columns `col` to `end` of `plain`'s line `row`."""
        shift = sum(added - removed for at, removed, added in self.edits.get(row, []) if at < col)
        line = self.lines[row]
        self.lines[row] = line[: col + shift] + text + line[end + shift :]
        self.edits.setdefault(row, []).append((col, end - col, len(text)))


def _unedit(col: int, edits: list[tuple[int, int, int]]) -> int:
    """A column of a line with `edits` made, as a column of the line before them."""
    shift = 0
    for at, removed, added in sorted(edits):
        start = at + shift
        if col < start:
            break
        if col < start + added:
            return at
        shift += added - removed
    return col - shift


def _char_col(line: str, byte_col: int) -> int:
    """The character column of a UTF-8 byte offset into `line`."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _paren_after(lines: list[str], row: int, col: int) -> tuple[int, int]:
    """The place just after the `(` that opens a call whose callee ends at (row, col)."""
    while row < len(lines):
        line = lines[row]
        while col < len(line) and line[col] in " \t\\":
            col += 1
        if col < len(line) and line[col] == "(":
            return row, col + 1
        if col < len(line) and line[col] != "#":
            break
        row, col = row + 1, 0
    raise AssertionError("a call without its parenthesis")


def _names_read(fdef: ast.FunctionDef, defaults: Sequence[ast.expr]) -> list[ast.Name]:
    """The names `fdef` reads in its body and in `defaults` (not in annotations), in source
    order."""
    roots: list[ast.AST] = [*defaults, *fdef.body]
    nodes = [node for root in roots for node in ast.walk(root)]
    annotations = {
        id(sub)
        for node in nodes
        if isinstance(node, (ast.AnnAssign, ast.arg)) and node.annotation is not None
        for sub in ast.walk(node.annotation)
    }
    names = [
        node
        for node in nodes
        if isinstance(node, ast.Name)
        and isinstance(node.ctx, ast.Load)
        and id(node) not in annotations
    ]
    return sorted(names, key=lambda n: (n.lineno, n.col_offset))


def _library(value: object) -> str | None:
    """'math' or 'numpy' for a function (or other name) of that library, else None."""
    owner = getattr(value, "__module__", None) or ""
    if isinstance(value, np.ufunc) or owner == "numpy" or owner.startswith("numpy."):
        return "numpy"
    return "math" if owner == "math" else None


def _kind(value: object) -> str:
    """What `value` is, in words: 'a list', 'the module `os`'."""
    if isinstance(value, types.ModuleType):
        return f"the module `{value.__name__}`"
    if isinstance(value, np.ndarray):
        return f"a numpy array of {value.dtype}"
    if isinstance(value, type):
        return f"the class `{value.__name__}`"
    if inspect.isbuiltin(value):
        return f"the built-in function `{value.__name__}`"
    name = type(value).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _same(a: object, b: object) -> bool:
    """Whether two values a name refers to are one value for adc."""
    if a is b:
        return True
    numbers = (int, float, np.integer, np.floating)
    if isinstance(a, numbers) and isinstance(b, numbers) and type(a) is type(b):
        return bool(a == b) or (a != a and b != b)
    return False


def _no_source(code: types.CodeType) -> CompileError:
    filename, name = code.co_filename, code.co_name
    if filename == "<stdin>":
        why = "it was typed at the interactive prompt"
    elif filename == "<string>":
        why = "it was made by exec() or python -c"
    elif filename.startswith("<"):
        why = f"it was made from the text {filename}, not a file"
    else:
        why = f"{filename} cannot be read"
    return CompileError(
        f"Python cannot find the source of `{name}`: {why}",
        filename=filename,
        line=code.co_firstlineno,
        hint=f"define `{name}` in a .py file and import it, or pass its text to "
        "ad_compiler.compile_source",
    )


def _lambda_error(code: types.CodeType) -> CompileError:
    text = linecache.getline(code.co_filename, code.co_firstlineno).rstrip("\r\n")
    return CompileError(
        "lambdas are not supported",
        filename=code.co_filename,
        line=code.co_firstlineno,
        col=max(text.find("lambda"), 0) + 1,
        source_line=text,
        hint="define the function with `def` in a .py file, and pass that",
    )


def _read_block(fn: types.FunctionType) -> _Block:
    """`fn`'s source, as the file holds it and as adc compiles it."""
    code = fn.__code__
    if code.co_name == "<lambda>":
        raise _lambda_error(code)
    try:
        original, first = inspect.getsourcelines(code)
    except (OSError, TypeError):
        raise _no_source(code) from None
    filename = inspect.getsourcefile(code) or code.co_filename
    original = [line.rstrip("\r\n") for line in original]
    prefix = original[0][: len(original[0]) - len(original[0].lstrip(" \t"))]
    indents = [len(prefix) if line.startswith(prefix) else 0 for line in original]
    lines = [line[cut:] for line, cut in zip(original, indents)]
    try:
        tree = ast.parse("\n".join(lines) + "\n")
    except SyntaxError:
        tree = None
    fdef = tree.body[0] if tree and tree.body else None
    if not isinstance(fdef, (ast.FunctionDef, ast.AsyncFunctionDef)) or fdef.name != code.co_name:
        raise CompileError(
            f"{filename} has changed since `{code.co_name}` was defined",
            filename=filename,
            line=first,
            source_line=original[0],
            hint="reload its module (importlib.reload) or restart Python, then call grad again",
        )
    for row in [*range(fdef.lineno - 1), *range(fdef.end_lineno or len(lines), len(lines))]:
        lines[row] = ""  # decorators, and anything after the function
    return _Block(fn, filename, first, original, lines, indents, fdef)  # type: ignore[arg-type]


def _written_defaults(block: _Block) -> list[ast.expr]:
    """Write each default that Python holds as a finite number as that number (it was
    computed when the function was defined); the defaults left as they are."""
    nodes = block.fdef.args.defaults
    values = block.fn.__defaults__ or ()
    left = []
    for node, value in zip(nodes, values[len(values) - len(nodes) :]):
        number = _number(value)
        if number is None or node.lineno != node.end_lineno or isinstance(node, ast.Constant):
            left.append(node)
            continue
        row = node.lineno - 1
        line = block.plain[row]
        end = _char_col(line, node.end_col_offset or 0)
        block.replace(row, _char_col(line, node.col_offset), end, repr(number))
    return left


def _number(value: object) -> int | float | None:
    """`value` as a Python number a literal writes exactly, or None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        return None
    number = int(value) if isinstance(value, (int, np.integer)) else float(value)
    return number if math.isfinite(number) and number == value else None


class _LiveModule:
    """A live function, the functions it calls and the values it reads, as one source text
    whose errors are placed in the files the functions came from."""

    def __init__(self, fn: types.FunctionType) -> None:
        self.blocks: dict[str, _Block] = {}
        self.values: dict[str, object] = {}  # what each name of the module means
        self.reader: dict[str, str] = {}  # the function that first read each name
        self.sites: dict[str, _Site] = {}  # where it first did
        self.lines: dict[str, str] = {}  # imports and constants, by name
        self.inputs: dict[str, Any] = {}  # values passed as leading arguments, by name
        self.reads: dict[str, set[str]] = {}  # the inputs each function reads itself
        self.calls: dict[str, list[tuple[str, ast.Call]]] = {}  # its calls of other functions
        self.pending: list[_Block] = []  # functions whose names are still to be resolved
        self.main = self._function(fn)
        self.values[self.main.name] = fn
        self.reader[self.main.name] = self.main.name
        self.sites[self.main.name] = self.main.def_site()
        while self.pending:
            self._resolve(self.pending.pop())
        self.needs = self._needs()

    @property
    def params(self) -> list[str]:
        return [a.arg for a in self.main.fdef.args.args]

    @property
    def bound(self) -> list[str]:
        """The inputs of the compiled function, which come before its own parameters."""
        return sorted(self.needs[self.main.name])

    def _function(self, fn: types.FunctionType) -> _Block:
        block = _read_block(fn)
        self.blocks[block.name] = block
        self.reads[block.name] = set()
        self.calls[block.name] = []
        self.pending.append(block)
        return block

    def _resolve(self, block: _Block) -> None:
        """Bind each name `block` reads from its module or its closure."""
        fn, code = block.fn, block.fn.__code__
        local = block.locals
        for node in _names_read(block.fdef, _written_defaults(block)):
            name = node.id
            if name in local:
                continue
            if name in code.co_freevars:
                cell = fn.__closure__[code.co_freevars.index(name)]  # type: ignore[index]
                try:
                    value = cell.cell_contents
                except ValueError:  # not yet assigned: an undefined name for the compiler
                    continue
            elif name in fn.__globals__:
                value = fn.__globals__[name]
            else:  # a builtin, or undefined: the compiler knows which
                continue
            self._bind(name, value, block, node)

    def _bind(self, name: str, value: object, block: _Block, node: ast.Name) -> None:
        site = block.node_site(node)
        if name in self.inputs:
            self.reads[block.name].add(name)
        if name in self.values:
            if not _same(self.values[name], value):
                raise CompileError(
                    f"`{name}` is one value in `{self.reader[name]}` and another in `{block.name}`",
                    filename=site.filename,
                    line=site.line,
                    col=site.col,
                    source_line=site.text,
                    hint="adc compiles them into one module: rename one of them",
                )
            self._note_call(name, block, node)
            return
        self.values[name], self.reader[name], self.sites[name] = value, block.name, site
        library = _library(value)
        if isinstance(value, types.ModuleType) and value.__name__ in _LIBRARIES:
            alias = "" if name == value.__name__ else f" as {name}"
            self.lines[name] = f"import {value.__name__}{alias}"
        elif library is not None and callable(value) and hasattr(value, "__name__"):
            alias = "" if name == value.__name__ else f" as {name}"
            self.lines[name] = f"from {library} import {value.__name__}{alias}"
        elif isinstance(value, types.FunctionType):
            self._helper(name, value, site)
            self._note_call(name, block, node)
        elif _number(value) is not None:
            self.lines[name] = f"{name} = {_number(value)!r}"
        elif isinstance(value, (float, np.floating)):  # inf, nan, more precise than a float
            self._input(name, value, block)
        elif isinstance(value, np.ndarray) and value.dtype.kind in _ARRAY_KINDS:
            copy = np.array(value, copy=True)
            copy.setflags(write=False)
            self._input(name, copy, block)
        else:
            raise self._unsupported(name, value, site)

    def _input(self, name: str, value: Any, block: _Block) -> None:
        self.inputs[name] = value
        self.reads[block.name].add(name)

    def _helper(self, name: str, fn: types.FunctionType, site: _Site) -> None:
        real = fn.__code__.co_name
        if real == "<lambda>":
            raise CompileError(
                "lambdas are not supported",
                filename=site.filename,
                line=site.line,
                col=site.col,
                source_line=site.text,
                hint=f"define `{name}` with `def`; calls to it are inlined",
            )
        if real != name:
            raise CompileError(
                f"`{name}` is the function `{real}` under another name",
                filename=site.filename,
                line=site.line,
                col=site.col,
                source_line=site.text,
                hint=f"call it by its own name, `{real}`",
            )
        self._function(fn)

    def _note_call(self, name: str, block: _Block, node: ast.Name) -> None:
        call = block.calls.get(id(node))
        if name in self.blocks and call is not None:
            self.calls[block.name].append((name, call))

    @staticmethod
    def _unsupported(name: str, value: object, site: _Site) -> CompileError:
        if isinstance(value, types.ModuleType):
            hint = "a compiled function can use only the modules math and numpy"
        elif isinstance(value, (list, tuple)):
            hint = f"make `{name}` a numpy array (np.asarray), or pass its items as parameters"
        else:
            hint = (
                "a compiled function can read numbers, numpy arrays of numbers, math, numpy "
                f"and Python functions; pass `{name}` as a parameter instead"
            )
        return CompileError(
            f"`{name}` is {_kind(value)}, which adc cannot compile",
            filename=site.filename,
            line=site.line,
            col=site.col,
            source_line=site.text,
            hint=hint,
        )

    def _needs(self) -> dict[str, set[str]]:
        """The inputs each function reads itself or through the functions it calls."""
        needs = {name: set(reads) for name, reads in self.reads.items()}
        changed = True
        while changed:
            changed = False
            for name, calls in self.calls.items():
                for callee, _ in calls:
                    extra = needs[callee] - needs[name]
                    if extra:
                        needs[name] |= extra
                        changed = True
        for name, calls in self.calls.items():
            block = self.blocks[name]
            for callee, call in calls:
                clash = sorted(needs[callee] & block.locals)
                if clash:
                    site = block.node_site(call)
                    raise CompileError(
                        f"`{name}` has its own `{clash[0]}` and calls `{callee}`, which reads "
                        f"the module-level `{clash[0]}`",
                        filename=site.filename,
                        line=site.line,
                        col=site.col,
                        source_line=site.text,
                        hint=f"rename the `{clash[0]}` of `{name}`",
                    )
        return needs

    def text(self) -> tuple[str, list[_Site | tuple[_Block, int] | None]]:
        """The source text to compile, and where each of its lines came from: a function's
        line, the place a value written as a line was read, or nothing (a blank line)."""
        for name, block in self.blocks.items():
            params = "".join(f"{p}, " for p in sorted(self.needs[name]))
            if params:
                row = block.fdef.lineno - 1
                opening = re.compile(rf"def\s+{re.escape(name)}\s*\(")
                col = opening.search(block.plain[row]).end()  # type: ignore[union-attr]
                block.replace(row, col, col, params)
            for callee, call in self.calls[name]:
                args = "".join(f"{p}, " for p in sorted(self.needs[callee]))
                if args:
                    end = call.func
                    row = (end.end_lineno or end.lineno) - 1
                    col = _char_col(block.plain[row], end.end_col_offset or 0)
                    row, col = _paren_after(block.plain, row, col)
                    block.replace(row, col, col, args)
        lines: list[str] = [""] * (self.main.first - 1)
        origins: list[_Site | tuple[_Block, int] | None] = [None] * len(lines)
        for row, line in enumerate(self.main.lines):
            lines.append(line)
            origins.append((self.main, row))
        extra = dict(self.lines)
        modules = [v for v in self.values.values() if isinstance(v, types.ModuleType)]
        arrays = any(isinstance(v, np.ndarray) for v in self.inputs.values())
        if arrays and not any(m.__name__ == "numpy" for m in modules):
            alias = next(a for a in ("numpy", "np", "numpy_", "np_") if a not in self.values)
            extra[alias] = "import numpy" if alias == "numpy" else f"import numpy as {alias}"
            self.sites.setdefault(alias, self.main.def_site())
        lines.append("")
        origins.append(None)
        for name, line in extra.items():
            lines.append(line)
            origins.append(self.sites[name])
        for block in self.blocks.values():
            if block is not self.main:
                lines.append("")
                origins.append(None)
                for row, line in enumerate(block.lines):
                    lines.append(line)
                    origins.append((block, row))
        return "\n".join(lines) + "\n", origins

    def relocate(
        self, error: CompileError, origins: list[_Site | tuple[_Block, int] | None]
    ) -> None:
        """Place `error` in the real file: at the line it names, or, for a line written for a
        value, where the value was read."""
        origin = origins[error.line - 1] if 0 < error.line <= len(origins) else None
        if isinstance(origin, tuple) and error.source_line:
            site = origin[0].site(origin[1], error.col - 1)
        elif isinstance(origin, _Site) and error.source_line:
            site = origin
        else:
            where = self.main.def_site()
            site = _Site(where.filename, where.line, 1, "")
        error.filename, error.line, error.col = site.filename, site.line, site.col
        error.source_line = site.text


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
    if not isinstance(fn, types.FunctionType):
        raise TypeError(
            f"adc differentiates Python functions written with `def`, not {_kind(fn)}; "
            "write a function that computes the value and pass that"
        )
    if hasattr(fn, "__wrapped__"):
        inner = inspect.unwrap(fn)
        code = inner.__code__ if isinstance(inner, types.FunctionType) else fn.__code__
        raise CompileError(
            f"`{fn.__name__}` is wrapped by a decorator",
            filename=code.co_filename,
            line=code.co_firstlineno,
            source_line=linecache.getline(code.co_filename, code.co_firstlineno).rstrip("\r\n"),
            hint=f"differentiate the function itself ({fn.__name__}.__wrapped__), or drop the "
            "decorator",
        )
    live = _LiveModule(fn)
    name, params, bound = live.main.name, live.params, live.bound
    where = live.main.def_site()
    for w in wrt or ():
        if w not in params:
            raise CompileError(
                f"`{name}` has no parameter `{w}` to differentiate by",
                filename=where.filename,
                line=where.line,
                col=where.col,
                source_line=where.text,
                hint="parameters: " + ", ".join(params),
            )
    if bound and not params:
        raise CompileError(
            f"`{name}` has no parameters to differentiate by",
            filename=where.filename,
            line=where.line,
            col=where.col,
            source_line=where.text,
            hint="the values it reads from its module are constants; give it a parameter",
        )
    chosen = list(wrt or params) if bound else wrt
    text, origins = live.text()
    try:
        compiled = compile_source(text, live.main.filename, name, chosen)
    except CompileError as error:
        live.relocate(error, origins)
        raise
    return _LiveCompiled(compiled, name, tuple(live.inputs[b] for b in bound))


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
