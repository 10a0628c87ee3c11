"""The source of a live Python function, for compiling it: its text (and its helpers') placed at
their lines in their files, the imports and numbers it reads written as lines, and the arrays
and other values it reads passed as leading parameters."""

from __future__ import annotations

import ast
import inspect
import linecache
import math
import re
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import CompileError

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
class LiveSource:
    """What compiling a live function needs: the text and file to compile, the function's
    name, the parameters to differentiate by, the values its generated functions take first,
    and how to place an error of the compiled text in the real files."""

    text: str
    filename: str
    name: str
    wrt: Sequence[str] | None
    bound: tuple[Any, ...]
    relocate: Callable[[CompileError], None]


def live_source(fn: Callable[..., Any], wrt: Sequence[str] | None) -> LiveSource:
    """The source to compile for the live function `fn`, differentiated by `wrt`."""
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
    return LiveSource(
        text,
        live.main.filename,
        name,
        chosen,
        tuple(live.inputs[b] for b in bound),
        lambda error: live.relocate(error, origins),
    )
