"""Lowering one function body: its statements and expressions into forms and trace steps."""

from __future__ import annotations

import ast

from ..core.errors import Source
from ..core.expr import Divided, Number
from ..core.primitives import (
    BUILTINS,
    METHODS,
    PRIMITIVES,
    SOURCE_NAMES,
    SPELLINGS,
    Param,
    Primitive,
    fold,
)
from .fence import (
    BINOPS,
    COMPARE_OPS,
    CONSTANTS,
    EXPRESSION_HINTS,
    FORBIDDEN_CALLS,
    STATEMENT_HINTS,
    Module,
    check_name,
    is_docstring,
    local_names,
    operator_text,
    supported_functions,
)
from .forms import (
    Builder,
    Form,
    add_forms,
    fold_binary,
    form_key,
    monomial_key,
    monomial_power,
    monomial_product,
    scale_form,
    tame,
)


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
        self.locals = local_names(fdef)
        stmts = list(fdef.body)
        if stmts and is_docstring(stmts[0]):
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
            op = BINOPS.get(type(stmt.op))
            if op is None:
                raise self.src.error(
                    stmt, "this augmented assignment is not supported", "use += -= *= /= or **="
                )
            current = self.name(stmt.target)
            self.assign(stmt.target, self.binary(op, current, self.expr(stmt.value), stmt))
        elif isinstance(stmt, ast.Pass):
            return
        elif isinstance(stmt, ast.Expr):
            if is_docstring(stmt):
                raise self.src.error(stmt, "strings are not supported", "use a # comment")
            raise self.src.error(
                stmt, "this expression has no effect", "assign it to a name or return it"
            )
        else:
            message, hint = STATEMENT_HINTS.get(
                type(stmt), (f"`{type(stmt).__name__}` statements are not supported", "")
            )
            raise self.src.error(stmt, message, hint or "use assignments and one `return`")

    def assign(self, target: ast.Name, value: Form) -> None:
        check_name(self.src, target, target.id)
        self.env[target.id] = value

    # -- expressions --------------------------------------------------------------------------

    def expr(self, node: ast.expr) -> Form:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp) and self.mod.arrays:
            entry = SPELLINGS.get(("operator", operator_text(node.op)))
            if entry is not None:
                return self.call_primitive(entry, [node.left, node.right], [], node)
        if isinstance(node, ast.Subscript) and self.mod.arrays:
            x = self.array_operand(node.value)
            return Form.atom(self.b.add("index", (x,), (self.index(node.slice),)))
        if isinstance(node, ast.BinOp):
            op = BINOPS.get(type(node.op))
            if op is None:
                raise self.src.error(
                    node,
                    f"operator `{operator_text(node.op)}` is not supported",
                    "use + - * / ** (and math functions)",
                )
            left = self.expr(node.left)
            right = self.expr(node.right)
            return self.binary(op, left, right, node)
        if isinstance(node, ast.UnaryOp):
            operand = self.expr(node.operand)
            if isinstance(node.op, ast.USub):
                return scale_form(operand, -1)
            if isinstance(node.op, ast.UAdd):
                return operand
            raise self.src.error(
                node, f"operator `{operator_text(node.op)}` is not supported", "use unary - or +"
            )
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute) and self.mod.arrays:
            entry = SPELLINGS.get(("attribute", node.attr))
            base = node.value
            if entry is not None and not (
                isinstance(base, ast.Name) and base.id in self.mod.modules
            ):
                return self.call_primitive(entry, [base], [], node)
        if isinstance(node, ast.Attribute):
            lib, attr = self.attribute(node)
            if attr in CONSTANTS:
                return Form(CONSTANTS[attr])
            raise self.src.error(
                node, f"`{lib}.{attr}` is not a number", f"call it: `{lib}.{attr}(x)`"
            )
        message, hint = EXPRESSION_HINTS.get(
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
        return Form(tame(value, self.src, node))

    def name(self, node: ast.Name) -> Form:
        ident = node.id
        check_name(self.src, node, ident)
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
        check_name(self.src, node, node.attr)
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
            return Form(fold_binary(op, a.const, b.const, self.src, node))
        if op == "+":
            return add_forms(a, b)
        if op == "-":
            return add_forms(a, scale_form(b, -1))
        if op == "*":
            if a.is_const():
                return scale_form(b, a.const)
            if b.is_const():
                return scale_form(a, b.const)
            ca, ma = self.b.term(a)
            cb, mb = self.b.term(b)
            m = self.b.note(monomial_product(ma, mb))
            return Form(0, {monomial_key(m): (m, ca * cb)})
        if op == "/":
            if b.is_const():
                if b.const == 0:
                    raise self.src.error(node, "division by zero", "divide by a nonzero number")
                return scale_form(a, Divided(b.const))
            cb, mb = self.b.term(b)
            if len(mb) > 1 or mb[0][1] != 1:
                mb = ((self.b.monomial(mb), 1),)  # a / (x*y) divides once, as Python does
            inv = Form(0, {monomial_key(monomial_power(mb, -1)): (monomial_power(mb, -1), 1)})
            return self.binary("*", a if cb == 1 else scale_form(a, Divided(cb)), inv, node)
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
            return Form(0, {monomial_key(m2): (m2, 1)})
        # (c*x*y)**k is not rewritten to c**k * x**k * y**k: that overflows where Python doesn't.
        m2 = self.b.note(((self.b.variable(a), k),))
        return Form(0, {monomial_key(m2): (m2, 1)})

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
        found = self.array_function(func)
        if found is not None:
            entry, receiver = found
            args = ([receiver] if receiver is not None else []) + list(node.args)
            return self.call_primitive(entry, args, node.keywords, node)
        lib, entry = self.callee(func)
        if entry.kind == "call":
            return self.call_primitive(entry, list(node.args), node.keywords, node)
        fn = entry.name
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

    def array_function(self, func: ast.expr) -> tuple[Primitive, ast.expr | None] | None:
        """(primitive, method receiver or None) when `func` names a numpy function or method
        that takes a signature."""
        if not self.mod.arrays:
            return None
        if isinstance(func, ast.Attribute):
            base = func.value
            if isinstance(base, ast.Name) and base.id in self.mod.modules:
                self.not_shadowed(base)
                entry = SPELLINGS.get((self.mod.modules[base.id], func.attr))
                return (entry, None) if entry is not None and entry.kind == "call" else None
            if func.attr in METHODS:
                return METHODS[func.attr], base
            raise self.src.error(func, f"method `.{func.attr}()` is not supported", _methods())
        if isinstance(func, ast.Name) and func.id in self.mod.imported:
            entry = SPELLINGS.get(self.mod.imported[func.id])
            if entry is not None and entry.kind == "call":
                return entry, None
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

    def call_primitive(
        self, entry: Primitive, args: list[ast.expr], keywords: list[ast.keyword], node: ast.AST
    ) -> Form:
        """A call of a primitive that takes a signature, `fn(*args, **keywords)`, as one step."""
        fn, signature = entry.name, entry.signature
        names = [p.name for p in signature]
        kw = {k.arg: k.value for k in keywords}
        varargs = any(p.varargs or p.kind == "operands" for p in signature)
        if (len(args) > len(signature) and not varargs) or any(k not in names for k in kw):
            shown = ", ".join(f"*{p.name}" if p.kind == "operands" else p.name for p in signature)
            raise self.src.error(node, f"bad arguments for `{fn}`", f"{fn} takes ({shown})")
        bound: dict[str, ast.expr | None] = dict.fromkeys(names)
        for name, value in zip(names, args):
            bound[name] = value
        for name, value in kw.items():
            bound[name] = value
        variables: list[int] = []
        numbers: list[Number | None] = []
        statics: list[object] = []
        for i, p in enumerate(signature):
            if p.kind == "operands":
                if len(args) - i < p.least:
                    shown = ", ".join(f"{p.name}{k}" for k in range(1, p.least + 1))
                    raise self.src.error(
                        node, f"bad arguments for `{fn}`", f"{fn} takes ({shown}, ...)"
                    )
                for value in args[i:]:
                    var, number = self.operand(value)
                    variables += [var] if var is not None else []
                    numbers.append(number)
                continue
            if p.kind == "static":
                value = bound[p.name] if p.optional else _required(self.src, bound, p, fn, node)
                static = self.static(value, p.what)
                extra = tuple(self.static(a, p.what) for a in args[i + 1 :]) if p.varargs else ()
                if extra:
                    static = (static, *extra)
                statics.append(p.convert(static) if p.convert else static)
                continue
            value = _required(self.src, bound, p, fn, node)
            if p.kind == "array":
                variables.append(self.array_operand(value))
                continue
            var, number = (
                (self.condition(value), None) if p.kind == "condition" else (self.operand(value))
            )
            variables += [var] if var is not None else []
            numbers.append(number)
        params = tuple(statics)
        if entry.takes_numbers():
            if not variables:
                raise self.src.error(node, f"`{fn}` of constants", "compute the constant yourself")
            params += (tuple(numbers),)
        return Form.atom(self.b.add(fn, tuple(variables), params))

    def condition(self, node: ast.expr) -> int:
        """The variable holding a comparison (np.where's condition; never differentiated)."""
        if not isinstance(node, ast.Compare) or len(node.ops) != 1:
            raise self.src.error(
                node, "np.where's condition must be one comparison", "e.g. np.where(x > 0, x, 0)"
            )
        op = COMPARE_OPS.get(type(node.ops[0]))
        if op is None:
            raise self.src.error(node, "unsupported comparison", "use > < >= <= == or !=")
        left, right = self.operand(node.left), self.operand(node.comparators[0])
        variables = tuple(v for v, _ in (left, right) if v is not None)
        if not variables:
            raise self.src.error(node, "a comparison of constants", "compare an array")
        return self.b.add("compare", variables, (op, (left[1], right[1])))

    def callee(self, func: ast.expr) -> tuple[str, Primitive]:
        """(library, primitive) of a called function of the table, or an error."""
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
            if ident in BUILTINS:
                return "builtins", BUILTINS[ident]
            if ident in self.mod.imported:
                lib, attr = self.mod.imported[ident]
                if attr in SOURCE_NAMES[lib]:
                    return lib, PRIMITIVES[SOURCE_NAMES[lib][attr]]
            hint = supported_functions()
            if ident in SOURCE_NAMES["math"]:
                hint = f"import it: `from math import {ident}`, or call `math.{ident}(x)`"
            raise self.src.error(func, f"unknown function `{ident}`", hint)
        if isinstance(func, ast.Attribute):
            lib, attr = self.attribute(func)
            if attr in SOURCE_NAMES[lib]:
                return lib, PRIMITIVES[SOURCE_NAMES[lib][attr]]
            raise self.src.error(func, f"`{lib}.{attr}` is not supported", supported_functions())
        raise self.src.error(func, "only named functions can be called", supported_functions())

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
                return tame(extra[0] ** value, self.src, node)
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
        key = (name, tuple(form_key(bound[p]) for p in params))
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


def _required(
    src: Source, bound: dict[str, ast.expr | None], param: Param, fn: str, node: ast.AST
) -> ast.expr:
    value = bound[param.name]
    if value is None:
        raise src.error(node, f"`{fn}` needs its `{param.name}` argument", f"pass {param.name}")
    return value


def _methods() -> str:
    """The hint for an unknown method: the method and attribute forms of the table."""
    methods = ", ".join(f".{m}()" for m in sorted(METHODS))
    attributes = ", ".join(f".{n}" for (lib, n) in SPELLINGS if lib == "attribute")
    return f"array methods: {methods} and {attributes}"


def default_value(mod: Module, node: ast.expr) -> Number:
    """The numeric value of a parameter default."""
    form = Lowering(mod, Builder(), {}, ()).expr(node)
    if not form.is_const():
        raise mod.source.error(node, "a default must be a numeric constant", "e.g. `x=2.0`")
    return form.const
