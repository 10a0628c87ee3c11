"""Programs to Python source: each line written as text, the `def` and `return` lines by astor.

Every generated name is chosen against the user's identifiers, so nothing the user called a
variable (`z1`, `xbar`, `math`, `grad_f` ...) can be shadowed. Each adjoint line carries a
comment naming the trace step whose edge it is.
"""

from __future__ import annotations

import ast
import keyword
import math
from collections.abc import Iterable, Iterator, Sequence

import astor

from ..core.expr import (
    Call,
    Const,
    Expr,
    Lit,
    Temp,
    Var,
    accumulated,
)
from ..core.ir import (
    Assign,
    ForCode,
    IfCode,
    JumpCode,
    Pop,
    Program,
    Push,
    RaiseCode,
    Statement,
    Trace,
    WhileCode,
)
from ..core.primitives import lib_of, rule
from ..core.printer import PythonPrinter
from ..core.runtime import HELPERS, helper_source
from ..core.version import VERSION

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
        elsewhere: Iterable[str] = (),
    ) -> None:
        self.trace = trace
        self.modules = modules
        self.bare = frozenset(bare)  # math functions that may be imported by name
        self.calls: set[tuple[str, str]] = set()  # (library, function) of each call written
        self.shadowed = set(taken) | set(trace.params)  # names that hide builtins like abs
        used = set(taken) | set(trace.params) | set(modules.values())
        self.primal: dict[int, str] = {v: p for v, p in zip(trace.inputs, trace.params)}
        # A slot (a variable of the source) keeps its name unless this function's parameters,
        # the module's functions and imports have it; other functions' parameters may.
        mine = (set(taken) - set(elsewhere)) | set(trace.params) | set(modules.values())
        mine |= set(HELPERS)
        for slot, name in sorted(trace.slots.items(), reverse=True):
            self.primal[slot] = _fresh(name, mine)
            used.add(self.primal[slot])
        for s in trace.steps:
            self.primal[s.index] = _fresh(f"z{s.index}", used)
        self.adjoint: dict[int, str] = {}
        slots = sorted(trace.slots, reverse=True)
        for v in [*trace.inputs, *slots, *(s.index for s in trace.steps)]:
            self.adjoint[v] = _fresh(self.primal[v] + "bar", used)
        self._used = used
        self._temps: dict[int, str] = {}
        self.text = PythonPrinter(self)

    def of(self, node: Var | Temp) -> str:
        """The name of a variable, adjoint or temporary."""
        if isinstance(node, Temp):
            if node.id not in self._temps:
                self._temps[node.id] = _fresh(node.hint or f"_t{node.id}", self._used)
            return self._temps[node.id]
        return (self.adjoint if node.bar else self.primal)[node.id]

    def function(self, call: Call) -> str:
        """How the code names a called function (recorded, for the imports and helpers)."""
        self.calls.add((call.lib, call.fn))
        if call.lib == "adc" or (call.lib == "math" and call.fn in self.bare):
            return call.fn
        if call.lib == "builtins":
            if call.fn == "abs" and "abs" in self.shadowed:
                return self.modules["math"] + ".fabs"
            return call.fn
        return f"{self.modules[call.lib]}.{call.fn}"


def _statement_text(line: Assign, names: Names) -> str:
    """One line of code."""
    target = names.of(line.target)
    expr = line.expr
    if line.accumulate:
        expr = accumulated(line.target, expr)
        if line.inplace:  # into the adjoint's own array
            return f"{target} {expr.op}= {names.text(expr.right)}"
    text = names.text(expr)
    value = line.expr.value if isinstance(line.expr, Lit) else None
    if isinstance(value, tuple) and value and value[0] != "index":  # astor's `x = 1, 2`
        text = text[1:-1].rstrip(",") + ("," if len(value) == 1 else "")
    return f"{target} = {text}"


def to_ast(expr: Expr, names: Names) -> ast.expr:
    """The Python expression for `expr`, as a syntax tree."""
    return ast.parse(names.text(expr), mode="eval").body


def _render(nodes: Sequence[ast.AST]) -> list[str]:
    """astor's rendering of each node, one physical line each."""
    if not nodes:
        return []
    text = astor.to_source(ast.Module(list(nodes), []), pretty_source="".join)
    lines = text.splitlines()
    assert len(lines) == len(nodes), "a generated statement spans several lines"
    return lines


def _comment(line: Assign, trace: Trace, names: Names, fused: bool = False) -> str:
    """The trace steps a line comes from, written with the names the code uses."""

    def name(v: int) -> str:
        return names.primal[v]

    if line.fused:
        texts = (_comment(part, trace, names, True) for part in line.fused)
        return "; ".join(dict.fromkeys(text for text in texts if text))
    if line.note:
        return line.note.format(*(name(v) for v in line.note_vars))
    if line.kind == "seed":
        return f"seed: d{name(trace.output)}/d{name(trace.output)} = 1"
    if line.step is None:
        return ""
    step = trace.step(line.step)
    if line.kind == "primal":  # only a fused line shows its primal steps
        return f"{name(step.index)} = {rule(step).show(step, name)}" if fused else ""
    if line.kind == "check":
        return "fails here as f does; its value is not needed"
    text = f"{name(step.index)} = {rule(step).show(step, name)}"
    if line.kind == "temp":
        return f"partial product for {text}"
    return text


def _signature(program: Program, names: Names) -> str:
    """The `def` line, on one line however many parameters there are."""
    trace = program.trace
    args = [ast.arg(p) for p in trace.params]
    defaults = [to_ast(Const(trace.defaults[p]), names) for p in trace.params
                if p in trace.defaults]  # fmt: skip
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


_FORWARD_KINDS = ("primal", "check", "store", "count")


def function_source(program: Program, names: Names, lines: dict[int, tuple[str, str]]) -> str:
    """The `def` of one program; `lines` holds each assignment's code and comment by id."""
    out = [_signature(program, names), f'    """{_docstring(program)}"""']
    reverse_started = False
    for i, line in enumerate(program.body):
        forward = not isinstance(line, Assign) or line.kind in _FORWARD_KINDS
        if not forward and not reverse_started:
            out.append("    # reverse sweep")
            reverse_started = True
        out += _statement_lines(line, names, lines, 1)
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


def _statement_lines(
    line: Statement, names: Names, lines: dict[int, tuple[str, str]], depth: int
) -> list[str]:
    """The lines of one statement (a loop or branch with its body) at indentation `depth`."""
    pad = "    " * depth
    if isinstance(line, Assign):
        if line.guard is not None:
            return [f"{pad}if {names.text(line.guard)}:", _with_comment(lines[id(line)], depth + 1)]
        return [_with_comment(lines[id(line)], depth)]
    if isinstance(line, ForCode):
        target = "_" if line.target is None else names.of(line.target)
        head = f"{pad}for {target} in {names.text(line.iterable)}:"
        return [head, *_block(line.body, names, lines, depth + 1)]
    if isinstance(line, WhileCode):
        return [f"{pad}while True:", *_block(line.body, names, lines, depth + 1)]
    if isinstance(line, IfCode):
        test = names.text(line.test)
        if not line.body and not line.orelse:
            return []
        if not line.body:
            test = f"not {test}" if isinstance(line.test, (Var, Temp)) else f"not ({test})"
            return [f"{pad}if {test}:", *_block(line.orelse, names, lines, depth + 1)]
        out = [f"{pad}if {test}:", *_block(line.body, names, lines, depth + 1)]
        if line.orelse:
            out += [f"{pad}else:", *_block(line.orelse, names, lines, depth + 1)]
        return out
    if isinstance(line, JumpCode):
        return [pad + line.kind]
    if isinstance(line, Push):
        values = [names.text(v) for v in line.values]
        value = values[0] if len(values) == 1 else "(" + ", ".join(values) + ")"
        return [f"{pad}{names.of(line.tape)}.append({value})"]
    if isinstance(line, Pop):
        targets = ", ".join(names.of(t) for t in line.targets)
        return [f"{pad}{targets} = {names.of(line.tape)}.pop()"]
    assert isinstance(line, RaiseCode)
    return [f"{pad}raise RuntimeError({line.message!r})"]


def _block(
    body: Sequence[Statement], names: Names, lines: dict[int, tuple[str, str]], depth: int
) -> list[str]:
    out = [text for line in body for text in _statement_lines(line, names, lines, depth)]
    return out or ["    " * depth + "pass"]


def _with_comment(rendered: tuple[str, str], depth: int) -> str:
    code, comment = rendered
    width = _COMMENT_COLUMN - 4 * depth
    return "    " * depth + (f"{code:<{width}}  # {comment}" if comment else code)


def assignments(body: Sequence[Statement]) -> Iterator[Assign]:
    """Every assignment of a body, those inside loops and branches included, in order."""
    for line in body:
        if isinstance(line, Assign):
            yield line
        elif isinstance(line, (ForCode, WhileCode)):
            yield from assignments(line.body)
        elif isinstance(line, IfCode):
            yield from assignments(line.body)
            yield from assignments(line.orelse)


def _render_lines(programs: Sequence[Program], names: Names) -> dict[int, tuple[str, str]]:
    """Each assignment of `programs` as code and comment, by id."""
    comments: dict[tuple, str] = {}
    rendered: dict[int, tuple[str, str]] = {}
    for program in programs:
        for line in assignments(program.body):
            if id(line) in rendered:
                continue
            ckey = (line.kind, line.step, line.note, line.note_vars,
                    tuple((p.kind, p.step, p.note, p.note_vars) for p in line.fused))  # fmt: skip
            comment = comments.get(ckey)
            if comment is None:
                comment = comments[ckey] = _comment(line, program.trace, names)
            rendered[id(line)] = (_statement_text(line, names), comment)
    return rendered


def _safe_text(text: str) -> str:
    """text for a docstring: anything but letters, digits and `._- ` becomes `?`, so no file
    name can end the docstring or smuggle an escape into the generated module."""
    return "".join(ch if ch.isalnum() and ch.isascii() or ch in "._- " else "?" for ch in text)


BACKENDS = ("python", "numba")
_MATH_FUNCTIONS = frozenset(
    name for name in dir(math) if not name.startswith("_") and callable(getattr(math, name))
)


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
        f'"""Gradients of {_safe_text(source_name)}, generated by adc {VERSION}.',
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
    # `sin(x)` rather than `math.sin(x)`: one lookup instead of two. Only a parameter or a
    # generated function could hide such a name.
    hidden = {q for p in programs for q in p.trace.params} | {p.name for p in programs}
    hidden |= {q for p in programs for q in p.trace.slots.values()}
    hidden |= set(modules.values()) | set(HELPERS)
    functions: list[str] = []
    calls: set[tuple[str, str]] = set()
    by_trace: dict[int, list[Program]] = {}
    for program in programs:
        by_trace.setdefault(id(program.trace), []).append(program)
    for group in by_trace.values():
        trace = group[0].trace
        elsewhere = {q for p in programs if p.trace is not trace for q in p.trace.params}
        elsewhere -= {p.name for p in programs}
        names = Names(trace, taken, modules, _MATH_FUNCTIONS - hidden, elsewhere)
        lines = _render_lines(group, names)
        functions += [decorator + function_source(program, names, lines) for program in group]
        calls |= names.calls
    bare = sorted({fn for lib, fn in calls if lib == "math"} - hidden)
    parts: list[str] = []
    for name in sorted(fn for lib, fn in calls if lib == "adc"):
        text = helper_source(name)
        parts.append(
            text.replace("np.", modules["numpy"] + ".") if modules["numpy"] != "np" else text
        )
    parts += functions
    if bare:
        imports.insert(0, f"from math import {', '.join(bare)}")
    math_alias = modules["math"]
    if any(f"{math_alias}." in part for part in parts):  # math.inf, math.fabs, a hidden name
        imports.insert(0, "import math" if math_alias == "math" else f"import math as {math_alias}")
    return "\n\n\n".join(["\n".join(header + imports), *parts]) + "\n"
