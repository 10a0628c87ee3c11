"""The fence: what adc's language allows, checked on the syntax tree before anything is
lowered, with the hint each rejection gives.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

from ..core.errors import CompileError, Source, source_lines
from ..core.expr import Number
from ..core.primitives import BUILTINS, SPELLINGS

CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
COMPARE_OPS = {
    ast.Gt: ">",
    ast.Lt: "<",
    ast.GtE: ">=",
    ast.LtE: "<=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "open", "getattr", "globals", "vars"}
MODULES = {"math", "numpy"}

STATEMENT_HINTS: dict[type, tuple[str, str]] = {
    ast.Try: ("`try` is not supported", "remove it: the generated code raises where yours does"),
    ast.With: ("`with` is not supported", "remove it; only arithmetic belongs in the function"),
    ast.Global: ("`global` is not supported", "pass the value as a parameter or use a constant"),
    ast.Nonlocal: ("`nonlocal` is not supported", "pass the value as a parameter"),
    ast.FunctionDef: (
        "nested functions are not supported",
        "define the helper at module level; calls to it are inlined",
    ),
    ast.AsyncFunctionDef: ("async functions are not supported", "use a plain `def`"),
    ast.ClassDef: ("classes are not supported", "use module-level functions"),
    ast.Import: ("imports belong at module level", "move the import to the top of the file"),
    ast.ImportFrom: ("imports belong at module level", "move the import to the top of the file"),
    ast.Raise: ("`raise` is not supported", "remove it"),
    ast.Assert: ("`assert` is not supported", "remove it"),
    ast.Delete: ("`del` is not supported", "remove it"),
}

EXPRESSION_HINTS: dict[type, tuple[str, str]] = {
    ast.Lambda: ("lambdas are not supported", "define a module-level function; it is inlined"),
    ast.ListComp: ("comprehensions are not supported", "write a `for` loop, or use NumPy"),
    ast.SetComp: ("comprehensions are not supported", "write the terms out"),
    ast.DictComp: ("comprehensions are not supported", "write the terms out"),
    ast.GeneratorExp: ("comprehensions are not supported", "write a `for` loop"),
    ast.Subscript: ("subscripts are not supported on scalars", "pass each value as a parameter"),
    ast.List: ("lists are not supported", "pass each value as a parameter"),
    ast.Tuple: (
        "tuples are not supported",
        "return a single scalar; write one function per output",
    ),
    ast.Dict: ("dicts are not supported", "pass each value as a parameter"),
    ast.Set: ("sets are not supported", "pass each value as a parameter"),
    ast.JoinedStr: ("strings are not supported", "the language is numeric"),
    ast.Starred: ("`*args` is not supported", "pass each argument by position"),
    ast.NamedExpr: ("`:=` is not supported", "assign on its own line"),
    ast.Await: ("`await` is not supported", "use a plain function"),
    ast.Yield: ("`yield` is not supported", "return a single value"),
    ast.YieldFrom: ("`yield` is not supported", "return a single value"),
}

BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


@dataclass
class Module:
    """What the fence found at module level."""

    source: Source
    tree: ast.Module | None = None
    modules: dict[str, str] = field(default_factory=dict)  # alias -> 'math' | 'numpy'
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (lib, attr)
    constants: dict[str, Number] = field(default_factory=dict)
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)

    @property
    def arrays(self) -> bool:
        """Whether the file imports numpy: its functions may then take arrays."""
        return "numpy" in self.modules.values() or any(
            lib == "numpy" for lib, _ in self.imported.values()
        )


def identifiers(mod: Module) -> set[str]:
    """The names generated code shares a scope with: functions and their parameters.

    User locals never reach generated code (they become z1..zT), so only these can clash.
    """
    names = set(mod.functions)
    for fdef in mod.functions.values():
        names.update(a.arg for a in fdef.args.args)
    return names


def check_name(src: Source, node: ast.AST, name: str) -> None:
    if name.startswith("__") and name.endswith("__"):
        raise src.error(node, f"dunder name `{name}` is not allowed", "rename it")


def is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def is_main_guard(stmt: ast.stmt) -> bool:
    test = stmt.test if isinstance(stmt, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def check_function(src: Source, fdef: ast.FunctionDef) -> None:
    check_name(src, fdef, fdef.name)
    if fdef.decorator_list:
        raise src.error(fdef.decorator_list[0], "decorators are not supported", "remove it")
    a = fdef.args
    if a.vararg or a.kwarg:
        raise src.error(
            a.vararg or a.kwarg, "`*args`/`**kwargs` are not supported", "name each parameter"
        )
    if a.posonlyargs or a.kwonlyargs:
        node = (a.posonlyargs or a.kwonlyargs)[0]
        raise src.error(node, "only plain positional parameters are supported", "drop `/` and `*`")
    for arg in a.args:
        check_name(src, arg, arg.arg)


def local_names(fdef: ast.FunctionDef) -> set[str]:
    """The names Python makes local to `fdef`: its parameters and every assignment target."""
    names = {a.arg for a in fdef.args.args}
    for stmt in fdef.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def supported_functions() -> str:
    """The hint for an unknown function: math's functions, the builtins, the file's own."""
    names = [*importable("math"), *sorted(BUILTINS)]
    return "supported: " + ", ".join(names) + ", and this file's functions"


def importable(lib: str) -> list[str]:
    """The names of library `lib` that the table spells, sorted."""
    return sorted({name for where, name in SPELLINGS if where == lib and "." not in name})


def operator_text(op: ast.AST) -> str:
    return {
        ast.FloorDiv: "//",
        ast.Mod: "%",
        ast.MatMult: "@",
        ast.LShift: "<<",
        ast.RShift: ">>",
        ast.BitOr: "|",
        ast.BitAnd: "&",
        ast.BitXor: "^",
        ast.Invert: "~",
        ast.Not: "not",
    }.get(type(op), type(op).__name__)


def decode(data: bytes, filename: str) -> str:
    """Source bytes as text; bytes that are not UTF-8 are a located error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        line_start = before.rfind(b"\n") + 1
        col = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        lines = source_lines(data.decode("utf-8", errors="replace"))
        raise CompileError(
            "the file is not valid UTF-8",
            filename=filename,
            line=line,
            col=col,
            source_line=lines[line - 1] if line <= len(lines) else "",
            hint="save the file as UTF-8",
        ) from None
