"""From source text to traces: the file's top level read through the fence, then each function
lowered to its trace and normalised.
"""

from __future__ import annotations

import ast

from ..core.errors import Source
from ..core.ir import Step, Trace
from ..core.primitives import SPELLINGS, rule
from .fence import (
    CONSTANTS,
    MODULES,
    STATEMENT_HINTS,
    Module,
    check_function,
    check_name,
    importable,
    is_docstring,
    is_main_guard,
)
from .forms import Builder, Form
from .lower import Lowering, default_value
from .normalise import schedule, split, subsume
from .structure import lower_structured, needs_structure


def read_module(source: Source) -> Module:
    """Parse the file and fence its top level: imports, numeric constants, functions."""
    if "\0" in source.text:
        before = source.text[: source.text.index("\0")]
        line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        raise source.error_at(
            line, col, "the file contains a null byte", "remove it: source is plain text"
        )
    try:
        tree = ast.parse(source.text, filename=source.filename)
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = exc.offset or 1
        raise source.error_at(
            line, col, f"invalid Python syntax: {exc.msg}", "fix the syntax; see Python's grammar"
        ) from None
    except ValueError as exc:
        raise source.error_at(
            1, 1, f"cannot parse the file: {exc}", "write plain UTF-8 Python source"
        ) from None
    except (MemoryError, RecursionError):
        raise source.error_at(
            1,
            1,
            "the file is nested too deeply for Python's parser",
            "split deep expressions into several assignments",
        ) from None
    mod = Module(source, tree)
    body = list(tree.body)
    if body and is_docstring(body[0]):
        body = body[1:]
    for stmt in body:
        _module_statement(mod, stmt)
    if not mod.functions:
        raise source.error_at(
            1, 1, "no function to differentiate", "define one: `def f(x):\\n    return x * x`"
        )
    return mod


def _module_statement(mod: Module, stmt: ast.stmt) -> None:
    src = mod.source
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for alias in stmt.names:
            check_name(src, stmt, alias.asname or alias.name)
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.name not in MODULES:
                raise src.error(
                    stmt, f"import of `{alias.name}` is not allowed", "import only math or numpy"
                )
            mod.modules[alias.asname or alias.name] = alias.name
    elif isinstance(stmt, ast.ImportFrom):
        if stmt.module not in MODULES or stmt.level:
            raise src.error(
                stmt, f"import from `{stmt.module}` is not allowed", "import only math or numpy"
            )
        for alias in stmt.names:
            if alias.name == "*":
                raise src.error(stmt, "`import *` is not allowed", "name what you import")
            known = {name for lib, name in SPELLINGS if lib == stmt.module}
            if stmt.module == "numpy" and alias.name == "tau":
                raise src.error(stmt, "numpy has no `tau`", "write `from math import tau`")
            if alias.name not in CONSTANTS and alias.name not in known:
                raise src.error(
                    stmt,
                    f"`{stmt.module}.{alias.name}` is not supported",
                    "import one of: " + ", ".join(importable(stmt.module)) + ", pi, e",
                )
            mod.imported[alias.asname or alias.name] = (stmt.module, alias.name)
    elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or stmt.value is None:
            raise src.error(
                stmt, "only `NAME = number` is allowed at module level", "assign one constant"
            )
        name = targets[0].id
        check_name(src, targets[0], name)
        lowering = Lowering(mod, Builder(), {}, ())
        form = lowering.expr(stmt.value)
        if not form.is_const():
            raise src.error(
                stmt.value,
                "module-level values must be numeric constants",
                "compute it inside a function, or write the number",
            )
        mod.constants[name] = form.const
    elif isinstance(stmt, ast.FunctionDef):
        check_function(src, stmt)
        if stmt.name in mod.functions:
            raise src.error(stmt, f"function `{stmt.name}` is defined twice", "rename one of them")
        mod.functions[stmt.name] = stmt
    elif is_main_guard(stmt) or is_docstring(stmt):
        return
    else:
        message, hint = STATEMENT_HINTS.get(
            type(stmt),
            ("only imports, numeric constants and functions are allowed at module level", ""),
        )
        raise src.error(stmt, message, hint or "move this code into a function, or remove it")


def lower_function(mod: Module, name: str) -> Trace:
    """The trace of function `name` of the module."""
    fdef = mod.functions[name]
    params = tuple(a.arg for a in fdef.args.args)
    if len(set(params)) != len(params):
        raise mod.source.error(fdef, "a parameter name is repeated", "rename it")
    d = len(params)
    env = {p: Form.atom(i - d + 1) for i, p in enumerate(params)}
    body, slots = None, {}
    if needs_structure(mod, name):
        body, steps, output, slots = lower_structured(mod, name, env, d)
    else:
        steps, output = _straight_line(mod, name, env)
    defaults = fdef.args.defaults
    first = d - len(defaults)
    default_values = {params[first + i]: default_value(mod, n) for i, n in enumerate(defaults)}
    return Trace(
        name=name,
        params=params,
        steps=steps,
        output=output,
        defaults=default_values,
        line=fdef.lineno,
        source_text=mod.source.text,
        arrays=mod.arrays,
        body=body,
        slots=slots,
    )


def _straight_line(mod: Module, name: str, env: dict[str, Form]) -> tuple[list[Step], int]:
    """The steps of a function without loops or branches, and the variable it returns."""
    fdef = mod.functions[name]
    builder = Builder()
    lowering = Lowering(mod, builder, env, (name,))
    result = lowering.body(fdef)
    builder.line = fdef.body[-1].lineno
    if result.is_const():
        output = builder.add("affine", (), (result.const,))
    else:
        output = builder.variable(result)
    steps = subsume(builder.ordered())
    steps = split(steps, builder.table)
    checks = [s.index for s in steps if rule(s).may_fail(s)]
    return schedule(steps, output, checks)
