"""Restricted Python to the seed's computation model.

The fence rejects everything outside the language with the line that caused it. Expressions
lower to *forms*: const + sum of coeff * monomial, a monomial being a product of variables to
constant powers. A form becomes a trace step only when something needs it as one variable, so
constants fold into the steps that use them (`sin(2*pi*w1/w2)` is one Type 3 step of the
monomial `w1 * w2^-1`) and identical steps are created once. Normalisation then rewrites affine
steps that contain another affine step's terms to use that step, splits affine steps into
binary ones in source order (the seed's tables), drops dead steps and numbers them z1..zT.
"""

from __future__ import annotations

import ast
import heapq
import math
from dataclasses import dataclass, field

from .errors import CompileError, Source, source_lines
from .ir import Number, Step, Trace
from .rules import SOURCE_NAMES, fold

Monomial = tuple[tuple[int, Number], ...]

# ---------------------------------------------------------------------------------------------
# Forms
# ---------------------------------------------------------------------------------------------


def _key(m: Monomial) -> Monomial:
    return tuple(sorted(m))


@dataclass
class Form:
    """const + sum of coeff * monomial, terms in order of first appearance."""

    const: Number = 0
    terms: dict[Monomial, tuple[Monomial, Number]] = field(default_factory=dict)

    @staticmethod
    def atom(var: int) -> Form:
        m: Monomial = ((var, 1),)
        return Form(0, {m: (m, 1)})

    def is_const(self) -> bool:
        return not self.terms

    def single(self) -> tuple[Number, Monomial] | None:
        """(coeff, monomial) when the form is exactly one term with no constant."""
        if self.const == 0 and len(self.terms) == 1:
            m, c = next(iter(self.terms.values()))
            return c, m
        return None


def _mono_mul(a: Monomial, b: Monomial) -> Monomial:
    """a * b as the source spelled it: `x * x` stays two factors, so overflow and division by
    zero happen exactly where Python's own evaluation has them."""
    return a + b


def _mono_pow(a: Monomial, k: Number) -> Monomial:
    """Every power of monomial a times k."""
    return tuple((v, p * k) for v, p in a)


# ---------------------------------------------------------------------------------------------
# The step builder: one per compiled function
# ---------------------------------------------------------------------------------------------


class Builder:
    """Creates steps, computing each distinct step once, and remembers source order."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.table: dict[tuple, int] = {}
        self.line = 0
        self.col = 0
        self.clock = 0
        self.order: dict[int, int] = {}
        self.born: dict[Monomial, int] = {}
        self.calls: dict[tuple, Form] = {}

    def note(self, m: Monomial) -> Monomial:
        """Record when monomial m first appeared, so its step is ordered there."""
        if len(m) > 1 or m[0][1] != 1:
            key = _key(m)
            if key not in self.born:
                self.clock += 1
                self.born[key] = self.clock
        return m

    def add(self, op: str, args: tuple[int, ...], params: tuple, born: int | None = None) -> int:
        if op == "affine":
            key = (op, params[0], tuple(sorted(zip(args, params[1:]))))
        elif op == "product":
            key = (op, tuple(sorted(zip(args, params))))
        else:
            key = (op, args, params)
        found = self.table.get(key)
        if found is not None:
            return found
        index = len(self.steps) + 1
        self.steps.append(Step(index, op, args, params, self.line, self.col))
        self.table[key] = index
        self.clock += 1
        self.order[index] = self.clock if born is None else born
        return index

    def at(self, node: ast.AST, src: Source) -> None:
        """Place the steps created next at `node` (1-based line and character column)."""
        self.line = getattr(node, "lineno", self.line) or self.line
        text = src.line_text(self.line)
        byte_col = getattr(node, "col_offset", 0) or 0
        self.col = len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore")) + 1

    def ordered(self) -> list[Step]:
        """The steps in order of first appearance in the source."""
        return sorted(self.steps, key=lambda s: self.order[s.index])

    def monomial(self, m: Monomial) -> int:
        """The variable holding monomial m."""
        if len(m) == 1 and m[0][1] == 1:
            return m[0][0]
        born = self.born.get(_key(m))
        return self.add("product", tuple(v for v, _ in m), tuple(p for _, p in m), born)

    def variable(self, f: Form) -> int:
        """The variable holding form f."""
        single = f.single()
        if single is not None and single[0] == 1:
            return self.monomial(single[1])
        merged: dict[int, Number] = {}
        for m, c in f.terms.values():
            var = self.monomial(m)
            merged[var] = merged.get(var, 0) + c
        merged = {v: c for v, c in merged.items() if c != 0}
        if len(merged) == 1 and f.const == 0 and next(iter(merged.values())) == 1:
            return next(iter(merged))
        return self.add("affine", tuple(merged), (f.const, *merged.values()))

    def term(self, f: Form) -> tuple[Number, Monomial]:
        """f as coeff * monomial, materialising f when it is not a single term."""
        single = f.single()
        if single is not None:
            return single
        return 1, ((self.variable(f), 1),)


# ---------------------------------------------------------------------------------------------
# The module and its names
# ---------------------------------------------------------------------------------------------

CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
ARRAY_FUNCTIONS = {
    "sum", "mean", "dot", "matmul", "transpose", "reshape", "logaddexp", "maximum", "minimum",
    "clip", "where",
}  # fmt: skip
METHODS = {"sum", "mean", "dot", "transpose", "reshape", "clip"}
_COMPARE_OPS = {
    ast.Gt: ">",
    ast.Lt: "<",
    ast.GtE: ">=",
    ast.LtE: "<=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "open", "getattr", "globals", "vars"}
MODULES = {"math", "numpy"}

_STATEMENT_HINTS: dict[type, tuple[str, str]] = {
    ast.For: ("loops are not supported", "unroll the loop by hand, or use NumPy array operations"),
    ast.While: ("loops are not supported", "unroll the loop by hand; the trace is straight-line"),
    ast.AsyncFor: ("loops are not supported", "unroll the loop by hand"),
    ast.If: (
        "`if` is not supported: the trace is straight-line",
        "write one branch-free expression (abs() is available)",
    ),
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

_EXPRESSION_HINTS: dict[type, tuple[str, str]] = {
    ast.Lambda: ("lambdas are not supported", "define a module-level function; it is inlined"),
    ast.ListComp: ("comprehensions are not supported", "write the terms out, or use NumPy"),
    ast.SetComp: ("comprehensions are not supported", "write the terms out"),
    ast.DictComp: ("comprehensions are not supported", "write the terms out"),
    ast.GeneratorExp: ("comprehensions are not supported", "write the terms out"),
    ast.Subscript: ("subscripts are not supported on scalars", "pass each value as a parameter"),
    ast.Compare: (
        "comparisons are not supported: the trace is straight-line",
        "write a branch-free expression (abs() is available)",
    ),
    ast.BoolOp: ("`and`/`or` are not supported", "write a branch-free arithmetic expression"),
    ast.IfExp: ("conditional expressions are not supported", "write a branch-free expression"),
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

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


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


def _check_name(src: Source, node: ast.AST, name: str) -> None:
    if name.startswith("__") and name.endswith("__"):
        raise src.error(node, f"dunder name `{name}` is not allowed", "rename it")


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
    if body and _is_docstring(body[0]):
        body = body[1:]
    for stmt in body:
        _module_statement(mod, stmt)
    if not mod.functions:
        raise source.error_at(
            1, 1, "no function to differentiate", "define one: `def f(x):\\n    return x * x`"
        )
    return mod


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_main_guard(stmt: ast.stmt) -> bool:
    test = stmt.test if isinstance(stmt, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _module_statement(mod: Module, stmt: ast.stmt) -> None:
    src = mod.source
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        for alias in stmt.names:
            _check_name(src, stmt, alias.asname or alias.name)
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
            known = SOURCE_NAMES[stmt.module].keys() | (
                ARRAY_FUNCTIONS if stmt.module == "numpy" else set()
            )
            if stmt.module == "numpy" and alias.name == "tau":
                raise src.error(stmt, "numpy has no `tau`", "write `from math import tau`")
            if alias.name not in CONSTANTS and alias.name not in known:
                raise src.error(
                    stmt,
                    f"`{stmt.module}.{alias.name}` is not supported",
                    "import one of: " + ", ".join(sorted(SOURCE_NAMES[stmt.module])) + ", pi, e",
                )
            mod.imported[alias.asname or alias.name] = (stmt.module, alias.name)
    elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or stmt.value is None:
            raise src.error(
                stmt, "only `NAME = number` is allowed at module level", "assign one constant"
            )
        name = targets[0].id
        _check_name(src, targets[0], name)
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
        _check_function(src, stmt)
        if stmt.name in mod.functions:
            raise src.error(stmt, f"function `{stmt.name}` is defined twice", "rename one of them")
        mod.functions[stmt.name] = stmt
    elif _is_main_guard(stmt) or _is_docstring(stmt):
        return
    else:
        message, hint = _STATEMENT_HINTS.get(
            type(stmt),
            ("only imports, numeric constants and functions are allowed at module level", ""),
        )
        raise src.error(stmt, message, hint or "move this code into a function, or remove it")


def _check_function(src: Source, fdef: ast.FunctionDef) -> None:
    _check_name(src, fdef, fdef.name)
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
        _check_name(src, arg, arg.arg)


# ---------------------------------------------------------------------------------------------
# Lowering one function
# ---------------------------------------------------------------------------------------------


def _local_names(fdef: ast.FunctionDef) -> set[str]:
    """The names Python makes local to `fdef`: its parameters and every assignment target."""
    names = {a.arg for a in fdef.args.args}
    for stmt in fdef.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


class Lowering:
    """Lowers statements and expressions of one function body into forms and steps."""

    def __init__(
        self, mod: Module, builder: Builder, env: dict[str, Form], stack: tuple[str, ...]
    ) -> None:
        self.mod = mod
        self.src = mod.source
        self.b = builder
        self.env = env
        self.stack = stack
        self.function = stack[-1] if stack else ""
        self.locals: set[str] = set(env)  # Python's locals of the function: params, targets

    # -- statements ---------------------------------------------------------------------------

    def body(self, fdef: ast.FunctionDef) -> Form:
        """Lower the body of `fdef`; the form it returns."""
        self.function = fdef.name
        self.locals = _local_names(fdef)
        stmts = list(fdef.body)
        if stmts and _is_docstring(stmts[0]):
            stmts = stmts[1:]
        for i, stmt in enumerate(stmts):
            self.b.at(stmt, self.src)
            if isinstance(stmt, ast.Return):
                if i != len(stmts) - 1:
                    raise self.src.error(
                        stmts[i + 1], "code after `return` is never run", "remove it"
                    )
                if stmt.value is None:
                    raise self.src.error(stmt, "`return` needs a value", "return an expression")
                return self.expr(stmt.value)
            self.statement(stmt)
        raise self.src.error(
            fdef,
            f"function `{fdef.name}` has no `return`",
            "end it with `return <expression>`",
        )

    def statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign):
            if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
                raise self.src.error(
                    stmt, "only `name = expression` assignments are supported", "assign one name"
                )
            self.assign(stmt.targets[0], self.expr(stmt.value))
        elif isinstance(stmt, ast.AnnAssign):
            if not isinstance(stmt.target, ast.Name) or stmt.value is None:
                raise self.src.error(
                    stmt, "only `name: type = expression` is supported", "assign a value"
                )
            self.assign(stmt.target, self.expr(stmt.value))
        elif isinstance(stmt, ast.AugAssign):
            if not isinstance(stmt.target, ast.Name):
                raise self.src.error(
                    stmt, "only `name op= expression` is supported", "assign to a plain name"
                )
            op = _BINOPS.get(type(stmt.op))
            if op is None:
                raise self.src.error(
                    stmt, "this augmented assignment is not supported", "use += -= *= /= or **="
                )
            current = self.name(stmt.target)
            self.assign(stmt.target, self.binary(op, current, self.expr(stmt.value), stmt))
        elif isinstance(stmt, ast.Pass):
            return
        elif isinstance(stmt, ast.Expr):
            if _is_docstring(stmt):
                raise self.src.error(stmt, "strings are not supported", "use a # comment")
            raise self.src.error(
                stmt, "this expression has no effect", "assign it to a name or return it"
            )
        else:
            message, hint = _STATEMENT_HINTS.get(
                type(stmt), (f"`{type(stmt).__name__}` statements are not supported", "")
            )
            raise self.src.error(stmt, message, hint or "use assignments and one `return`")

    def assign(self, target: ast.Name, value: Form) -> None:
        _check_name(self.src, target, target.id)
        self.env[target.id] = value

    # -- expressions --------------------------------------------------------------------------

    def expr(self, node: ast.expr) -> Form:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) and self.mod.arrays:
            a, b = self.array_operand(node.left), self.array_operand(node.right)
            return Form.atom(self.b.add("matmul", (a, b), ()))
        if isinstance(node, ast.Subscript) and self.mod.arrays:
            x = self.array_operand(node.value)
            return Form.atom(self.b.add("index", (x,), (self.index(node.slice),)))
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise self.src.error(
                    node,
                    f"operator `{_op_text(node.op)}` is not supported",
                    "use + - * / ** (and math functions)",
                )
            left = self.expr(node.left)
            right = self.expr(node.right)
            return self.binary(op, left, right, node)
        if isinstance(node, ast.UnaryOp):
            operand = self.expr(node.operand)
            if isinstance(node.op, ast.USub):
                return _scale(operand, -1)
            if isinstance(node.op, ast.UAdd):
                return operand
            raise self.src.error(
                node, f"operator `{_op_text(node.op)}` is not supported", "use unary - or +"
            )
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute) and node.attr == "T" and self.mod.arrays:
            if not (isinstance(node.value, ast.Name) and node.value.id in self.mod.modules):
                x = self.array_operand(node.value)
                return Form.atom(self.b.add("transpose", (x,), (None,)))
        if isinstance(node, ast.Attribute):
            lib, attr = self.attribute(node)
            if attr in CONSTANTS:
                return Form(CONSTANTS[attr])
            raise self.src.error(
                node, f"`{lib}.{attr}` is not a number", f"call it: `{lib}.{attr}(x)`"
            )
        message, hint = _EXPRESSION_HINTS.get(
            type(node), (f"`{type(node).__name__}` expressions are not supported", "")
        )
        raise self.src.error(node, message, hint or "use numbers, names, + - * / ** and calls")

    def constant(self, node: ast.Constant) -> Form:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "strings" if isinstance(value, (str, bytes)) else f"`{value!r}`"
            raise self.src.error(
                node,
                f"{kind} are not supported"
                if kind == "strings"
                else f"{kind} is not a real number",
                "use an int or float literal",
            )
        return Form(_tame(value, self.src, node))

    def name(self, node: ast.Name) -> Form:
        ident = node.id
        _check_name(self.src, node, ident)
        if ident in self.env:
            form = self.env[ident]
            settled = self.settle(form)
            if settled is not form:
                self.env[ident] = settled
            return settled
        if ident in self.locals:
            raise self.src.error(
                node,
                f"`{ident}` is read before it is assigned",
                f"an assignment anywhere in `{self.function}` makes `{ident}` local to all of "
                "it (Python raises UnboundLocalError here); rename the local variable",
            )
        if ident in self.mod.constants:
            return Form(self.mod.constants[ident])
        if ident in self.mod.imported:
            lib, attr = self.mod.imported[ident]
            if attr in CONSTANTS:
                return Form(CONSTANTS[attr])
            raise self.src.error(node, f"`{ident}` is a function", f"call it: `{ident}(x)`")
        if ident in self.mod.functions:
            raise self.src.error(node, f"`{ident}` is a function", f"call it: `{ident}(...)`")
        if ident in CONSTANTS:
            raise self.src.error(
                node, f"undefined name `{ident}`", f"import it: `from math import {ident}`"
            )
        raise self.src.error(
            node, f"undefined name `{ident}`", "define it before use, or make it a parameter"
        )

    def settle(self, form: Form) -> Form:
        """The form as a name holds it: a constant or a scaled variable, never a longer sum.

        Keeping names symbolic would let a re-assigned sum grow by a term per statement
        (`z = z * 0.9 + sin(z)`), making the trace quadratic in the source.
        """
        if form.is_const():
            return form
        single = form.single()
        if single is None:
            return Form.atom(self.b.variable(form))
        c, m = single
        if len(m) == 1 and m[0][1] == 1:
            return form
        atom = ((self.b.monomial(m), 1),)
        return Form(0, {atom: (atom, c)})

    def attribute(self, node: ast.Attribute) -> tuple[str, str]:
        """(library, attribute) for `math.x` / `np.x`; anything else is rejected."""
        base = node.value
        if isinstance(base, ast.Name) and base.id in ("math", "np", "numpy"):
            if base.id not in self.mod.modules:
                module = "numpy as np" if base.id == "np" else base.id
                raise self.src.error(
                    base, f"`{base.id}` is not imported", f"add `import {module}` at the top"
                )
        if not isinstance(base, ast.Name) or base.id not in self.mod.modules:
            raise self.src.error(
                node,
                "attribute access is limited to math.<name> and numpy.<name>",
                "import math or numpy and call its functions",
            )
        self.not_shadowed(base)
        _check_name(self.src, node, node.attr)
        lib = self.mod.modules[base.id]
        if lib == "numpy" and node.attr == "tau":
            raise self.src.error(node, "numpy has no `tau`", "write `2 * np.pi` or `math.tau`")
        return lib, node.attr

    def not_shadowed(self, base: ast.Name) -> None:
        """A module name the function also assigns is a local variable there, not the module."""
        if base.id in self.locals:
            raise self.src.error(
                base,
                f"`{base.id}` is a variable in `{self.function}`, not the module",
                f"rename the variable `{base.id}`",
            )

    def binary(self, op: str, a: Form, b: Form, node: ast.AST) -> Form:
        self.b.at(node, self.src)
        if a.is_const() and b.is_const():
            return Form(_fold(op, a.const, b.const, self.src, node))
        if op == "+":
            return _add(a, b)
        if op == "-":
            return _add(a, _scale(b, -1))
        if op == "*":
            if a.is_const():
                return _scale(b, a.const)
            if b.is_const():
                return _scale(a, b.const)
            ca, ma = self.b.term(a)
            cb, mb = self.b.term(b)
            m = self.b.note(_mono_mul(ma, mb))
            return Form(0, {_key(m): (m, ca * cb)})
        if op == "/":
            if b.is_const():
                if b.const == 0:
                    raise self.src.error(node, "division by zero", "divide by a nonzero number")
                return _scale(a, 1 / b.const)
            cb, mb = self.b.term(b)
            if len(mb) > 1 or mb[0][1] != 1:
                mb = ((self.b.monomial(mb), 1),)  # a / (x*y) divides once, as Python does
            inv = Form(0, {_key(_mono_pow(mb, -1)): (_mono_pow(mb, -1), 1)})
            return self.binary("*", a if cb == 1 else _scale(a, 1 / cb), inv, node)
        return self.power(a, b, node)

    def power(self, a: Form, b: Form, node: ast.AST) -> Form:
        if not b.is_const():
            if a.is_const():
                return self.constant_power(a.const, b, node)
            raise self.src.error(
                node,
                "the exponent must be a constant",
                "for x > 0 write exp(y * log(x)) instead of x ** y",
            )
        k = b.const
        if k == 0:
            return Form(1)
        if k == 1:
            return a
        single = a.single()
        if single is not None and single[0] == 1 and len(single[1]) == 1 and single[1][0][1] == 1:
            m2 = self.b.note(((single[1][0][0], k),))
            return Form(0, {_key(m2): (m2, 1)})
        # (c*x*y)**k is not rewritten to c**k * x**k * y**k: that overflows where Python doesn't.
        m2 = self.b.note(((self.b.variable(a), k),))
        return Form(0, {_key(m2): (m2, 1)})

    def constant_power(self, base: Number, exponent: Form, node: ast.AST) -> Form:
        if not base > 0:
            raise self.src.error(
                node,
                "a constant base of `**` must be positive",
                "write exp(y * log(c)) for c > 0, or move the sign outside",
            )
        self.b.at(node, self.src)
        return self.unary("cpow", "math", exponent, extra=(base,), node=node)

    def call(self, node: ast.Call) -> Form:
        func = node.func
        if isinstance(func, ast.Name) and func.id in self.locals:
            raise self.src.error(
                func,
                f"`{func.id}` is a number, not a function",
                f"write `{func.id} * (...)` to multiply",
            )
        if isinstance(func, ast.Name) and func.id in self.mod.functions:
            return self.inline(func.id, node)
        array_fn = self.array_function(func)
        if array_fn is not None:
            fn, receiver = array_fn
            args = ([receiver] if receiver is not None else []) + list(node.args)
            return self.array_call(fn, args, node)
        lib, fn = self.callee(func)
        if node.keywords:
            raise self.src.error(
                node.keywords[0].value, f"`{fn}` takes no keyword arguments", "pass x alone"
            )
        if len(node.args) != 1:
            raise self.src.error(
                node,
                f"`{fn}` takes exactly one argument here",
                "write log(x) / log(b) for a logarithm base b" if fn == "log" else "pass one value",
            )
        arg = self.expr(node.args[0])
        self.b.at(node, self.src)
        return self.unary(fn, lib, arg, node=node)

    # -- arrays -------------------------------------------------------------------------------

    def array_function(self, func: ast.expr) -> tuple[str, ast.expr | None] | None:
        """(numpy function, method receiver or None) when `func` names an array operation."""
        if not self.mod.arrays:
            return None
        if isinstance(func, ast.Attribute):
            base = func.value
            if isinstance(base, ast.Name) and base.id in self.mod.modules:
                self.not_shadowed(base)
                if self.mod.modules[base.id] == "numpy" and func.attr in ARRAY_FUNCTIONS:
                    return func.attr, None
                return None
            if func.attr in METHODS:
                return func.attr, base
            raise self.src.error(
                func,
                f"method `.{func.attr}()` is not supported",
                "array methods: " + ", ".join(f".{m}()" for m in sorted(METHODS)) + " and .T",
            )
        if isinstance(func, ast.Name) and func.id in self.mod.imported:
            lib, attr = self.mod.imported[func.id]
            if lib == "numpy" and attr in ARRAY_FUNCTIONS:
                return attr, None
        return None

    def array_operand(self, node: ast.expr) -> int:
        """The variable holding an array expression (constants are not arrays here)."""
        form = self.expr(node)
        if form.is_const():
            raise self.src.error(
                node, "this operand must be an array, not a constant", "pass it as a parameter"
            )
        return self.b.variable(form)

    def operand(self, node: ast.expr) -> tuple[int | None, Number | None]:
        """(variable, None) for an expression, or (None, constant) for a constant."""
        form = self.expr(node)
        if form.is_const():
            return None, form.const
        return self.b.variable(form), None

    def static(self, node: ast.expr | None, what: str) -> object:
        """A compile-time constant argument: None, an int, or a tuple of ints."""
        if node is None or (isinstance(node, ast.Constant) and node.value is None):
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return node.value
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(self.static(e, what) for e in node.elts)
        form = self.expr(node)
        if not form.is_const():
            raise self.src.error(node, f"{what} must be a constant", f"write the {what} literally")
        value = form.const
        return int(value) if float(value).is_integer() else value

    def index(self, node: ast.expr) -> tuple:
        """The canonical form of a constant index (see ir.index_value)."""
        if isinstance(node, ast.Tuple):
            return ("t", tuple(self.index(e) for e in node.elts))
        if isinstance(node, ast.Slice):
            parts = [self.static(p, "slice bound") for p in (node.lower, node.upper, node.step)]
            return ("s", *parts)
        if isinstance(node, ast.Constant) and node.value is Ellipsis:
            return ("e",)
        if isinstance(node, ast.Constant) and node.value is None:
            return ("n",)
        value = self.static(node, "index")
        if not isinstance(value, int):
            raise self.src.error(node, "indices must be integer constants", "e.g. x[0], X[:, 1:]")
        return ("i", value)

    def array_call(self, fn: str, args: list[ast.expr], node: ast.Call) -> Form:
        """An array operation `fn(*args, **keywords)` as one step."""
        kw = {k.arg: k.value for k in node.keywords}
        spec = _ARRAY_SIGNATURES[fn]
        bound: dict[str, ast.expr | None] = dict.fromkeys(spec)
        varargs = fn in ("reshape", "transpose")
        if (len(args) > len(spec) and not varargs) or any(k not in spec for k in kw):
            raise self.src.error(
                node, f"bad arguments for `{fn}`", f"{fn} takes ({', '.join(spec)})"
            )
        for name, value in zip(spec, args):
            bound[name] = value
        for name, value in kw.items():
            bound[name] = value
        if fn in ("sum", "mean"):
            x = self.array_operand(_required(self.src, bound, "a", fn, node))
            keep = self.static(bound["keepdims"], "keepdims")
            params = (self.static(bound["axis"], "axis"), bool(keep))
            return Form.atom(self.b.add(fn, (x,), params))
        if fn in ("dot", "matmul"):
            a = self.array_operand(_required(self.src, bound, "a", fn, node))
            b = self.array_operand(_required(self.src, bound, "b", fn, node))
            return Form.atom(self.b.add(fn, (a, b), ()))
        if fn == "transpose":
            x = self.array_operand(_required(self.src, bound, "a", fn, node))
            extra = [self.static(a, "axes") for a in args[2:]]
            axes = self.static(bound["axes"], "axes")
            if extra:
                axes = (axes, *extra)
            return Form.atom(self.b.add("transpose", (x,), (axes,)))
        if fn == "reshape":
            x = self.array_operand(_required(self.src, bound, "a", fn, node))
            shape = self.static(_required(self.src, bound, "shape", fn, node), "shape")
            extra = tuple(self.static(a, "shape") for a in args[2:])
            if extra:
                shape = (shape, *extra)
            return Form.atom(self.b.add("reshape", (x,), (shape,)))
        if fn == "clip":
            x = self.array_operand(_required(self.src, bound, "a", fn, node))
            lo = self.static(bound["a_min"], "bound")
            hi = self.static(bound["a_max"], "bound")
            return Form.atom(self.b.add("clip", (x,), (lo, hi)))
        names = ("condition", "x", "y") if fn == "where" else ("x1", "x2")
        variables: list[int] = []
        consts: list[Number | None] = []
        for name in names:
            value = _required(self.src, bound, name, fn, node)
            if fn == "where" and name == "condition":
                var, const = self.condition(value), None
            else:
                var, const = self.operand(value)
            if var is not None:
                variables.append(var)
            consts.append(const)
        if not variables:
            raise self.src.error(node, f"`{fn}` of constants", "compute the constant yourself")
        return Form.atom(self.b.add(fn, tuple(variables), (tuple(consts),)))

    def condition(self, node: ast.expr) -> int:
        """The variable holding a comparison (np.where's condition; never differentiated)."""
        if not isinstance(node, ast.Compare) or len(node.ops) != 1:
            raise self.src.error(
                node, "np.where's condition must be one comparison", "e.g. np.where(x > 0, x, 0)"
            )
        op = _COMPARE_OPS.get(type(node.ops[0]))
        if op is None:
            raise self.src.error(node, "unsupported comparison", "use > < >= <= == or !=")
        left, right = self.operand(node.left), self.operand(node.comparators[0])
        variables = tuple(v for v, _ in (left, right) if v is not None)
        if not variables:
            raise self.src.error(node, "a comparison of constants", "compare an array")
        return self.b.add("compare", variables, (op, (left[1], right[1])))

    def callee(self, func: ast.expr) -> tuple[str, str]:
        """(library, our op name) of a called unary function, or an error."""
        if isinstance(func, ast.Name):
            ident = func.id
            if ident in FORBIDDEN_CALLS or (ident.startswith("__") and ident.endswith("__")):
                raise self.src.error(
                    func, f"`{ident}` is never allowed", "adc compiles arithmetic only"
                )
            if ident in self.env or ident in self.mod.constants:
                raise self.src.error(
                    func,
                    f"`{ident}` is a number, not a function",
                    f"write `{ident} * (...)` to multiply",
                )
            if ident == "abs":
                return "builtins", "abs"
            if ident in self.mod.imported:
                lib, attr = self.mod.imported[ident]
                if attr in SOURCE_NAMES[lib]:
                    return lib, SOURCE_NAMES[lib][attr]
            hint = _supported_functions()
            if ident in SOURCE_NAMES["math"]:
                hint = f"import it: `from math import {ident}`, or call `math.{ident}(x)`"
            raise self.src.error(func, f"unknown function `{ident}`", hint)
        if isinstance(func, ast.Attribute):
            lib, attr = self.attribute(func)
            if attr in SOURCE_NAMES[lib]:
                return lib, SOURCE_NAMES[lib][attr]
            raise self.src.error(func, f"`{lib}.{attr}` is not supported", _supported_functions())
        raise self.src.error(func, "only named functions can be called", _supported_functions())

    def unary(
        self, fn: str, lib: str, arg: Form, extra: tuple = (), node: ast.AST | None = None
    ) -> Form:
        if arg.is_const():
            return Form(self.fold_unary(fn, arg.const, extra, node, lib))
        scale: Number = 1
        offset: Number = arg.const
        inner = Form(0, arg.terms)
        single = inner.single()
        if single is not None:
            scale, m = single
            var = self.b.monomial(m)
        else:
            offset = 0
            var = self.b.variable(arg)
        step = self.b.add(fn, (var,), (scale, offset, lib, *extra))
        return Form.atom(step)

    def fold_unary(
        self, fn: str, value: Number, extra: tuple, node: ast.AST | None, lib: str = "math"
    ) -> Number:
        try:
            if fn == "cpow":
                return _tame(extra[0] ** value, self.src, node)
            result = fold(fn, lib, value)
        except (ValueError, OverflowError, ZeroDivisionError) as exc:
            raise self.src.error(
                node, f"`{fn}` of the constant {value!r} fails: {exc}", "check the domain"
            ) from None
        return result

    def inline(self, name: str, node: ast.Call) -> Form:
        """The form of a call to another function of the file, its body inlined."""
        if name in self.stack:
            raise self.src.error(
                node,
                f"recursion is not supported (`{name}` calls itself through "
                + " -> ".join((*self.stack[self.stack.index(name) :], name))
                + ")",
                "write the computation out without recursion",
            )
        fdef = self.mod.functions[name]
        params = [a.arg for a in fdef.args.args]
        defaults = fdef.args.defaults
        bound: dict[str, Form] = {}
        if len(node.args) > len(params):
            raise self.src.error(
                node,
                f"`{name}` takes {len(params)} argument{'s' * (len(params) != 1)}, "
                f"not {len(node.args)}",
                f"call it as {name}({', '.join(params)})",
            )
        for pname, arg in zip(params, node.args):
            if isinstance(arg, ast.Starred):
                raise self.src.error(arg, "`*args` is not supported", "pass arguments by position")
            bound[pname] = self.expr(arg)
        for kw in node.keywords:
            if kw.arg is None or kw.arg not in params or kw.arg in bound:
                raise self.src.error(
                    kw.value, f"bad keyword argument for `{name}`", f"parameters: {params}"
                )
            bound[kw.arg] = self.expr(kw.value)
        first_default = len(params) - len(defaults)
        for i, pname in enumerate(params):
            if pname not in bound:
                if i < first_default:
                    raise self.src.error(
                        node,
                        f"missing argument `{pname}` for `{name}`",
                        f"call it as {name}({', '.join(params)})",
                    )
                bound[pname] = Form(default_value(self.mod, defaults[i - first_default]))
        bound = {p: self.settle(form) for p, form in bound.items()}
        key = (name, tuple(_form_key(bound[p]) for p in params))
        if key in self.b.calls:  # helpers are pure: the same call gives the same value
            return self.b.calls[key]
        line = self.b.line
        inner = Lowering(self.mod, self.b, bound, (*self.stack, name))
        result = inner.body(fdef)
        self.b.line = line
        # A call's value is a scaled variable, as a name's is: `h(x) * h(x)` through nested
        # helpers would otherwise double its factors at every level.
        self.b.calls[key] = self.settle(result)
        return self.b.calls[key]


_ARRAY_SIGNATURES: dict[str, tuple[str, ...]] = {
    "sum": ("a", "axis", "keepdims"),
    "mean": ("a", "axis", "keepdims"),
    "dot": ("a", "b"),
    "matmul": ("a", "b"),
    "transpose": ("a", "axes"),
    "reshape": ("a", "shape"),
    "clip": ("a", "a_min", "a_max"),
    "where": ("condition", "x", "y"),
    "logaddexp": ("x1", "x2"),
    "maximum": ("x1", "x2"),
    "minimum": ("x1", "x2"),
}


def _required(
    src: Source, bound: dict[str, ast.expr | None], name: str, fn: str, node: ast.AST
) -> ast.expr:
    value = bound[name]
    if value is None:
        raise src.error(node, f"`{fn}` needs its `{name}` argument", f"pass {name}")
    return value


def _form_key(form: Form) -> tuple:
    """A hashable identity of a settled form (a constant or a scaled variable)."""
    return (form.const, tuple((k, c) for k, (_, c) in form.terms.items()))


def default_value(mod: Module, node: ast.expr) -> Number:
    """The numeric value of a parameter default."""
    form = Lowering(mod, Builder(), {}, ()).expr(node)
    if not form.is_const():
        raise mod.source.error(node, "a default must be a numeric constant", "e.g. `x=2.0`")
    return form.const


def _supported_functions() -> str:
    return (
        "supported: " + ", ".join(sorted(SOURCE_NAMES["math"])) + ", abs, and this file's functions"
    )


def _op_text(op: ast.AST) -> str:
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


def _add(a: Form, b: Form) -> Form:
    terms = dict(a.terms)
    for k, (m, c) in b.terms.items():
        if k in terms:
            c0 = terms[k][1] + c
            if c0 == 0:
                del terms[k]
            else:
                terms[k] = (terms[k][0], c0)
        else:
            terms[k] = (m, c)
    return Form(a.const + b.const, terms)


def _scale(a: Form, k: Number) -> Form:
    if k == 0:
        return Form(0)
    return Form(a.const * k, {key: (m, c * k) for key, (m, c) in a.terms.items()})


_INT_LIMIT = 2**53


def _tame(value: Number, src: Source, node: ast.AST | None) -> Number:
    """value, with ints past 2**53 turned into floats; too large to be a float is an error."""
    if isinstance(value, complex):
        raise src.error(node, "this constant is complex", "keep constants real")
    if isinstance(value, int) and abs(value) > _INT_LIMIT:
        try:
            return float(value)
        except OverflowError:
            raise src.error(
                node, "constant too large for a float", "use a smaller number"
            ) from None
    return value


def _fold(op: str, a: Number, b: Number, src: Source, node: ast.AST) -> Number:
    """a op b for constants, as Python computes it; errors Python would raise are reported."""
    try:
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif op == "/":
            r = a / b
        else:
            if isinstance(a, int) and isinstance(b, int) and abs(a) > 1 and abs(b) > 2048:
                a = float(a)
            r = a**b
    except ZeroDivisionError:
        raise src.error(node, "division by zero in a constant", "change the constant") from None
    except OverflowError:
        raise src.error(node, "constant too large for a float", "use a smaller number") from None
    return _tame(r, src, node)


# ---------------------------------------------------------------------------------------------
# Normalisation into the seed's trace
# ---------------------------------------------------------------------------------------------

_SUBSUME_SCAN = 512


def _subsume(steps: list[Step]) -> list[Step]:
    """Rewrite each affine step that holds all the terms of another affine step to use it."""
    affine = {s.index: s for s in steps if s.op == "affine" and len(s.args) >= 2}
    index: dict[int, list[int]] = {}
    for s in affine.values():
        for a in s.args:
            index.setdefault(a, []).append(s.index)
    out = list(steps)
    by_pos = {s.index: i for i, s in enumerate(steps)}
    for s in sorted(affine.values(), key=lambda s: len(s.args)):
        if len(s.args) < 3:
            continue
        terms = list(zip(s.args, s.params[1:]))
        const = s.params[0]
        while True:
            best = _largest_subset(s.index, dict(terms), index, affine)
            if best is None:
                break
            b, r = best
            removed = set(b.args)
            first = next(i for i, (a, _) in enumerate(terms) if a in removed)
            kept = [(a, c) for a, c in terms if a not in removed]
            before = sum(1 for a, _ in terms[:first] if a not in removed)
            terms = kept[:before] + [(b.index, r)] + kept[before:]
            const -= r * b.params[0]
        if len(terms) != len(s.args):
            args = tuple(a for a, _ in terms)
            new = Step(s.index, "affine", args, (const, *(c for _, c in terms)), s.line, s.col)
            out[by_pos[s.index]] = new
            affine[s.index] = new
    return out


def _largest_subset(
    owner: int, terms: dict[int, Number], index: dict[int, list[int]], affine: dict[int, Step]
) -> tuple[Step, Number] | None:
    """The largest other affine step whose terms are all in `terms` (up to sign)."""
    hits: dict[int, int] = {}
    for a in terms:
        for cand in index.get(a, ())[:_SUBSUME_SCAN]:
            if cand != owner and cand not in terms:
                hits[cand] = hits.get(cand, 0) + 1
    best: tuple[Step, Number] | None = None
    for cand, n in hits.items():
        b = affine[cand]
        if n != len(b.args) or n > len(terms) or (n == len(terms) and cand > owner):
            continue
        if any(a not in terms for a in b.args):  # b was itself rewritten since `index` was made
            continue
        ratios = {terms[a] / c for a, c in zip(b.args, b.params[1:])}
        if len(ratios) == 1 and next(iter(ratios)) in (1, -1):
            if best is None or len(b.args) > len(best[0].args):
                best = (b, next(iter(ratios)))
    return best


def _split(steps: list[Step], builder_table: dict[tuple, int]) -> list[Step]:
    """Split affine steps of more than two variables into binary steps, in term order."""
    out: list[Step] = []
    table = dict(builder_table)
    next_id = max((s.index for s in steps), default=0) + 1
    for s in steps:
        if s.op != "affine" or len(s.args) <= 2:
            out.append(s)
            continue
        coeffs = s.params[1:]
        prev_args = s.args[:2]
        prev_params: tuple = (s.params[0], *coeffs[:2])
        for j in range(2, len(s.args)):
            key = ("affine", prev_params[0], tuple(sorted(zip(prev_args, prev_params[1:]))))
            piece = table.get(key)
            if piece is None:
                piece = next_id
                next_id += 1
                table[key] = piece
                out.append(Step(piece, "affine", prev_args, prev_params, s.line, s.col))
            prev_args = (piece, s.args[j])
            prev_params = (0, 1, coeffs[j])
        out.append(Step(s.index, "affine", prev_args, prev_params, s.line, s.col))
    return out


def _schedule(steps: list[Step], output: int) -> tuple[list[Step], int]:
    """Drop steps the output does not need; order the rest stably; number them 1..T."""
    by_id = {s.index: s for s in steps}
    position = {s.index: i for i, s in enumerate(steps)}
    live: set[int] = set()
    stack = [output]
    while stack:
        v = stack.pop()
        if v in by_id and v not in live:
            live.add(v)
            stack.extend(by_id[v].args)
    waiting = {v: sum(1 for a in set(by_id[v].args) if a in live) for v in live}
    users: dict[int, list[int]] = {}
    for v in live:
        for a in set(by_id[v].args):
            if a in live:
                users.setdefault(a, []).append(v)
    ready = [(position[v], v) for v in live if waiting[v] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, v = heapq.heappop(ready)
        order.append(v)
        for u in users.get(v, ()):
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, (position[u], u))
    number = {v: t + 1 for t, v in enumerate(order)}

    def rename(a: int) -> int:
        return number.get(a, a)

    final = [
        Step(
            number[v],
            by_id[v].op,
            tuple(rename(a) for a in by_id[v].args),
            by_id[v].params,
            by_id[v].line,
            by_id[v].col,
        )
        for v in order
    ]
    return final, rename(output)


def lower_function(mod: Module, name: str) -> Trace:
    """The trace of function `name` of the module."""
    fdef = mod.functions[name]
    params = tuple(a.arg for a in fdef.args.args)
    if len(set(params)) != len(params):
        raise mod.source.error(fdef, "a parameter name is repeated", "rename it")
    d = len(params)
    env = {p: Form.atom(i - d + 1) for i, p in enumerate(params)}
    builder = Builder()
    lowering = Lowering(mod, builder, env, (name,))
    result = lowering.body(fdef)
    builder.line = fdef.body[-1].lineno
    if result.is_const():
        output = builder.add("affine", (), (result.const,))
    else:
        output = builder.variable(result)
    steps = _subsume(builder.ordered())
    steps = _split(steps, builder.table)
    steps, output = _schedule(steps, output)
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
        arrays=mod.arrays,
    )


def parse(text: str, filename: str = "<source>") -> tuple[Module, dict[str, Trace]]:
    """Every function of the source, lowered to its trace (in file order)."""
    source = Source(text, filename)
    mod = read_module(source)
    traces = {name: lower_function(mod, name) for name in mod.functions}
    return mod, traces


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
