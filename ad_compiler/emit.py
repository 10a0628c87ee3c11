"""Programs to Python source: the only user of astor.

Every generated name is chosen against the user's identifiers, so nothing the user called a
variable (`z1`, `xbar`, `math`, `grad_f` ...) can be shadowed. Each adjoint line carries a
comment naming the trace step whose edge it is.
"""

from __future__ import annotations

import ast
import keyword
import math
from collections.abc import Iterable, Sequence
from typing import Any

import astor

from . import __version__
from .ir import (
    Assign,
    BinOp,
    Call,
    Const,
    Expr,
    Index,
    Lit,
    Neg,
    Program,
    Select,
    Temp,
    Trace,
    Var,
    walk,
)
from .rules import HELPERS, lib_of, rule

_COMMENT_COLUMN = 40


def _fresh(base: str, taken: set[str]) -> str:
    name = base
    while name in taken or keyword.iskeyword(name):
        name += "_"
    taken.add(name)
    return name


class Names:
    """Python names for one trace's variables, adjoints and temporaries."""

    def __init__(
        self,
        trace: Trace,
        taken: Iterable[str],
        modules: dict[str, str],
        bare: Iterable[str] = (),
    ) -> None:
        self.trace = trace
        self.modules = modules
        self.bare = frozenset(bare)  # math functions imported by name
        self.shadowed = set(taken) | set(trace.params)  # names that hide builtins like abs
        used = set(taken) | set(trace.params) | set(modules.values())
        self.primal: dict[int, str] = {v: p for v, p in zip(trace.inputs, trace.params)}
        for s in trace.steps:
            self.primal[s.index] = _fresh(f"z{s.index}", used)
        self.adjoint: dict[int, str] = {}
        for v in [*trace.inputs, *(s.index for s in trace.steps)]:
            self.adjoint[v] = _fresh(self.primal[v] + "bar", used)
        self._used = used
        self._temps: dict[int, str] = {}

    def of(self, node: Var | Temp) -> str:
        if isinstance(node, Temp):
            if node.id not in self._temps:
                self._temps[node.id] = _fresh(f"_t{node.id}", self._used)
            return self._temps[node.id]
        return (self.adjoint if node.bar else self.primal)[node.id]


def _number(value: float | int, names: Names | None) -> ast.expr:
    if isinstance(value, float) and not math.isfinite(value):
        assert names is not None
        attr = "nan" if math.isnan(value) else "inf"
        node: ast.expr = ast.Attribute(
            ast.Name(names.modules["math"], ast.Load()), attr, ast.Load()
        )
        return ast.UnaryOp(ast.USub(), node) if value < 0 else node
    if value < 0 or (value == 0 and math.copysign(1, value) < 0):
        return ast.UnaryOp(ast.USub(), ast.Constant(-value))
    return ast.Constant(value)


_AST_OPS = {
    "+": ast.Add,
    "-": ast.Sub,
    "*": ast.Mult,
    "/": ast.Div,
    "**": ast.Pow,
    "@": ast.MatMult,
}
_AST_COMPARE = {
    ">": ast.Gt,
    "<": ast.Lt,
    ">=": ast.GtE,
    "<=": ast.LtE,
    "==": ast.Eq,
    "!=": ast.NotEq,
}


def _index_ast(canonical: Any) -> ast.expr:
    """The AST of a canonical index, as it stands inside brackets."""
    kind = canonical[0]
    if kind == "i":
        return _number(canonical[1], None)
    if kind == "s":
        parts = [None if v is None else _number(v, None) for v in canonical[1:]]
        return ast.Slice(*parts)
    if kind == "e":
        return ast.Constant(Ellipsis)
    if kind == "n":
        return ast.Constant(None)
    return ast.Tuple([_index_ast(c) for c in canonical[1]], ast.Load())


def _literal(value: Any, names: Names) -> ast.expr:
    if isinstance(value, tuple) and value and value[0] == "index":
        np_name = ast.Name(names.modules["numpy"], ast.Load())
        return ast.Subscript(ast.Attribute(np_name, "s_", ast.Load()), _index_ast(value[1]))
    if isinstance(value, tuple):
        return ast.Tuple([_literal(v, names) for v in value], ast.Load())
    if value is None or isinstance(value, bool):
        return ast.Constant(value)
    return _number(value, names)


def to_ast(expr: Expr, names: Names) -> ast.expr:
    """The Python expression for `expr`."""
    if isinstance(expr, Const):
        return _number(expr.value, names)
    if isinstance(expr, (Var, Temp)):
        return ast.Name(names.of(expr), ast.Load())
    if isinstance(expr, Neg):
        return ast.UnaryOp(ast.USub(), to_ast(expr.operand, names))
    if isinstance(expr, Call):
        args = [to_ast(a, names) for a in expr.args]
        if expr.lib == "adc":
            func: ast.expr = ast.Name(expr.fn, ast.Load())
        elif expr.lib == "builtins":
            if expr.fn == "abs" and "abs" in names.shadowed:
                func = ast.Attribute(
                    ast.Name(names.modules["math"], ast.Load()), "fabs", ast.Load()
                )
            else:
                func = ast.Name(expr.fn, ast.Load())
        elif expr.lib == "math" and expr.fn in names.bare:
            func = ast.Name(expr.fn, ast.Load())
        else:
            func = ast.Attribute(ast.Name(names.modules[expr.lib], ast.Load()), expr.fn, ast.Load())
        keywords = [ast.keyword(k, to_ast(v, names)) for k, v in expr.keywords]
        return ast.Call(func, args, keywords)
    if isinstance(expr, Select):
        return ast.IfExp(
            to_ast(expr.test, names), to_ast(expr.normal, names), to_ast(expr.singular, names)
        )
    if isinstance(expr, Lit):
        return _literal(expr.value, names)
    if isinstance(expr, Index):
        return ast.Subscript(to_ast(expr.value, names), _index_ast(expr.index), ast.Load())
    assert isinstance(expr, BinOp)
    left, right = to_ast(expr.left, names), to_ast(expr.right, names)
    if expr.op in _AST_COMPARE:
        return ast.Compare(left, [_AST_COMPARE[expr.op]()], [right])
    return ast.BinOp(left, _AST_OPS[expr.op](), right)


def _statement(line: Assign, names: Names) -> ast.stmt:
    target = ast.Name(names.of(line.target), ast.Store())
    expr, op = line.expr, ast.Add()
    if line.accumulate and isinstance(expr, Neg):
        expr, op = expr.operand, ast.Sub()
    value = to_ast(expr, names)
    if line.accumulate:
        value = ast.BinOp(ast.Name(names.of(line.target), ast.Load()), op, value)
    return ast.Assign([target], value)


def _render(nodes: Sequence[ast.AST]) -> list[str]:
    """astor's rendering of each node, one physical line each."""
    if not nodes:
        return []
    text = astor.to_source(ast.Module(list(nodes), []), pretty_source="".join)
    lines = text.splitlines()
    assert len(lines) == len(nodes), "a generated statement spans several lines"
    return lines


def _comment(line: Assign, trace: Trace, names: Names) -> str:
    """The trace step a line comes from, written with the names the code uses."""

    def name(v: int) -> str:
        return names.primal[v]

    if line.note:
        return line.note.format(*(name(v) for v in line.note_vars))
    if line.kind == "seed":
        return f"seed: d{name(trace.output)}/d{name(trace.output)} = 1"
    if line.step is None or line.kind == "primal":
        return ""
    step = trace.step(line.step)
    text = f"{name(step.index)} = {rule(step).show(step, name)}"
    if line.kind == "temp":
        return f"partial product for {text}"
    return text


def _signature(program: Program, names: Names) -> str:
    """The `def` line, on one line however many parameters there are."""
    trace = program.trace
    args = [ast.arg(p) for p in trace.params]
    defaults = [_number(trace.defaults[p], names) for p in trace.params if p in trace.defaults]
    fdef = ast.FunctionDef(
        program.name, ast.arguments([], args, None, [], [], None, defaults), [ast.Pass()], [], None
    )
    return astor.to_source(fdef, pretty_source="".join).splitlines()[0]


def _docstring(program: Program) -> str:
    fname = program.trace.name
    grads = ", ".join(f"d{fname}/d{p}" for p in program.wrt)
    if program.grads is None:
        return f"The primal {fname}, as a trace of {len(program.trace.steps)} steps."
    if program.value is None:
        return f"Gradient of {fname}: ({grads})."
    return f"Value and gradient of {fname}: ({fname}, ({grads}))."


def function_source(program: Program, names: Names, lines: dict[int, str]) -> str:
    """The `def` of one program; `lines` holds each statement's rendered line by id."""
    out = [_signature(program, names), f'    """{_docstring(program)}"""']
    reverse_started = False
    for i, line in enumerate(program.body):
        if line.kind != "primal" and not reverse_started:
            out.append("    # reverse sweep")
            reverse_started = True
        out.append("    " + lines[id(line)])
        if i in program.releases:
            out.append("    del " + ", ".join(names.of(n) for n in program.releases[i]))
    results: list[ast.expr] = []
    if program.value is not None:
        results.append(to_ast(program.value, names))
    if program.grads is not None:
        grads = ast.Tuple([to_ast(g, names) for g in program.grads], ast.Load())
        results.append(grads)
    ret = results[0] if len(results) == 1 else ast.Tuple(results, ast.Load())
    out.append("    " + _render([ast.Return(ret)])[0])
    return "\n".join(out)


def _render_lines(programs: Sequence[Program], names: Names) -> dict[int, str]:
    """Each distinct statement of `programs` rendered once, with its comment, by id."""
    # Passes rewrite a line the same way in grad_f and value_and_grad_f, into two objects
    # that are equal: each is rendered once.
    by_id: dict[int, tuple] = {}
    unique: dict[tuple, Assign] = {}
    for program in programs:
        for line in program.body:
            if id(line) not in by_id:
                key = (line.target, line.expr, line.accumulate, line.kind, line.step, line.note,
                       line.note_vars)  # fmt: skip
                by_id[id(line)] = key
                unique.setdefault(key, line)
    codes = _render([_statement(line, names) for line in unique.values()])
    comments: dict[tuple, str] = {}
    rendered: dict[tuple, str] = {}
    for (key, line), code in zip(unique.items(), codes):
        ckey = (line.kind, line.step, line.note)
        if ckey not in comments:
            comments[ckey] = _comment(line, programs[0].trace, names)
        comment = comments[ckey]
        rendered[key] = f"{code:<{_COMMENT_COLUMN - 4}}  # {comment}" if comment else code
    return {i: rendered[key] for i, key in by_id.items()}


def _safe_text(text: str) -> str:
    """text for a docstring: anything but letters, digits and `._- ` becomes `?`, so no file
    name can end the docstring or smuggle an escape into the generated module."""
    return "".join(ch if ch.isalnum() and ch.isascii() or ch in "._- " else "?" for ch in text)


BACKENDS = ("python", "numba")


def module_source(
    programs: Sequence[Program],
    source_name: str,
    user_names: Iterable[str],
    backend: str = "python",
) -> str:
    """The whole generated module for `programs` (each trace's f, grad_f, value_and_grad_f);
    with backend 'numba' every function is compiled by `numba.njit`, cached on disk."""
    assert backend in BACKENDS, backend
    taken = set(user_names) | {p.name for p in programs}
    uses_numpy = any(
        p.trace.arrays or any(lib_of(s) == "numpy" for s in p.trace.steps) for p in programs
    )
    modules = {"math": _fresh("math", taken)}
    if uses_numpy:
        modules["numpy"] = _fresh("np", taken)
    header = [
        f'"""Gradients of {_safe_text(source_name)}, generated by adc {__version__}.',
        "",
        "Do not edit: compile the source again. Functions: "
        + ", ".join(p.name for p in programs)
        + '."""',
    ]
    imports: list[str] = []
    if uses_numpy:
        imports.append(f"import numpy as {modules['numpy']}")
    decorator = ""
    if backend == "numba":
        modules["numba"] = _fresh("numba", taken)
        alias = modules["numba"]
        imports.append("import numba" if alias == "numba" else f"import numba as {alias}")
        decorator = f"@{alias}.njit(cache=True)\n"
    exprs = {id(line.expr): line.expr for p in programs for line in p.body}
    exprs |= {id(r): r for p in programs for r in p.results()}
    calls = {(n.lib, n.fn) for e in exprs.values() for n in walk(e) if isinstance(n, Call)}
    helpers = sorted(fn for lib, fn in calls if lib == "adc")
    # `sin(x)` rather than `math.sin(x)`: one lookup instead of two. Only a parameter or a
    # generated function could hide such a name.
    hidden = {q for p in programs for q in p.trace.params} | {p.name for p in programs}
    hidden |= set(modules.values()) | set(helpers)
    bare = sorted({fn for lib, fn in calls if lib == "math"} - hidden)
    parts: list[str] = []
    for name in helpers:
        text = HELPERS[name].strip()
        parts.append(
            text.replace("np.", modules["numpy"] + ".") if modules["numpy"] != "np" else text
        )
    by_trace: dict[int, list[Program]] = {}
    for program in programs:
        by_trace.setdefault(id(program.trace), []).append(program)
    for group in by_trace.values():
        names = Names(group[0].trace, taken, modules, bare)
        lines = _render_lines(group, names)
        parts += [decorator + function_source(program, names, lines) for program in group]
    if bare:
        imports.insert(0, f"from math import {', '.join(bare)}")
    math_alias = modules["math"]
    if any(f"{math_alias}." in part for part in parts):  # math.inf, math.fabs, a hidden name
        imports.insert(0, "import math" if math_alias == "math" else f"import math as {math_alias}")
    return "\n\n\n".join(["\n".join(header + imports), *parts]) + "\n"
