"""Lowering one function body: its statements and expressions into forms and trace steps."""

from __future__ import annotations

import ast

from ..core.errors import Source
from ..core.expr import Divided, Number
from ..core.primitives import (
    BUILTINS,
    METHODS,
    OVERLOADS,
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
            entry = self.operator_entry(stmt.op)
            if op is None and entry is None:
                raise self.src.error(
                    stmt, "this augmented assignment is not supported", "use += -= *= /= or **="
                )
            current = self.name(stmt.target)
            value = self.expr(stmt.value)
            if entry is not None:
                self.assign(stmt.target, self.operator_call(entry, current, value, stmt))
            else:
                self.assign(stmt.target, self.binary(op, current, value, stmt))
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
        if isinstance(node, ast.BinOp):
            entry = self.operator_entry(node.op)
            if entry is not None and entry.per_library:
                return self.operator_call(entry, self.expr(node.left), self.expr(node.right), node)
            if entry is not None:
                return self.call_primitive(entry, [node.left, node.right], [], node, "operator")
        if isinstance(node, ast.Subscript) and self.mod.arrays:
            found = self.tuple_call(node.value)
            if found is not None:
                return self.item(found, node)
            x = self.array_operand(node.value)
            index = self.index(node.slice)
            return Form.atom(self.b.add("index", (x,), (index,)))
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
                self.not_a_tuple(entry, node)
                return self.call_primitive(entry, [base], [], node, "attribute")
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
            return self.call_primitive(SPELLINGS[("operator", "**")], [a, b], [], node, "operator")
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
            entry, receiver, lib = found
            self.not_a_tuple(entry, node)
            args = ([receiver] if receiver is not None else []) + list(node.args)
            return self.call_primitive(entry, args, node.keywords, node, lib)
        lib, spelled, entry = self.callee(func)
        if entry.kind == "call":
            self.not_a_tuple(entry, node)
            return self.call_primitive(entry, list(node.args), node.keywords, node, lib)
        fn = entry.name
        overload = OVERLOADS.get((lib, spelled))
        if overload is not None and len(node.args) > 1:
            return self.call_primitive(overload, list(node.args), node.keywords, node, lib)
        if node.keywords:
            raise self.src.error(
                node.keywords[0].value, f"`{fn}` takes no keyword arguments", "pass x alone"
            )
        if len(node.args) != 1:
            raise self.src.error(node, f"`{fn}` takes exactly one argument here", "pass one value")
        arg = self.expr(node.args[0])
        self.b.at(node, self.src)
        return self.unary(fn, lib, arg, node=node)

    # -- arrays -------------------------------------------------------------------------------

    def array_function(self, func: ast.expr) -> tuple[Primitive, ast.expr | None, str] | None:
        """(primitive, method receiver or None, the spelling's library) when `func` names a
        function or method of a file that imports numpy and takes a signature."""
        if not self.mod.arrays:
            return None
        if isinstance(func, ast.Attribute):
            base = func.value
            if isinstance(base, ast.Name) and base.id in self.mod.modules:
                self.not_shadowed(base)
                lib = self.mod.modules[base.id]
                entry = SPELLINGS.get((lib, func.attr))
                return (entry, None, lib) if entry is not None and entry.kind == "call" else None
            submodule = self.submodule(base)
            if submodule is not None:
                lib, name = submodule
                attr = f"{name}.{func.attr}"
                entry = SPELLINGS.get((lib, attr))
                if entry is None:
                    raise self.src.error(func, f"`{lib}.{attr}` is not supported", _linalg())
                return entry, None, lib
            if func.attr in METHODS:
                return METHODS[func.attr], base, "method"
            raise self.src.error(func, f"method `.{func.attr}()` is not supported", _methods())
        if isinstance(func, ast.Name) and func.id in self.mod.imported:
            lib, attr = self.mod.imported[func.id]
            entry = SPELLINGS.get((lib, attr))
            if entry is not None and entry.kind == "call":
                return entry, None, lib
        return None

    def submodule(self, node: ast.expr) -> tuple[str, str] | None:
        """(library, submodule) for `np.linalg`."""
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "linalg"
            and isinstance(node.value, ast.Name)
            and self.mod.modules.get(node.value.id) == "numpy"
        ):
            self.not_shadowed(node.value)
            return "numpy", node.attr
        return None

    def tuple_call(
        self, node: ast.expr
    ) -> tuple[Primitive, list[ast.expr], list[ast.keyword], str] | None:
        """(primitive, arguments, keywords, library) when `node` calls, or reads the attribute
        of, a primitive that gives a tuple (`x.shape`, `np.linalg.slogdet(a)`)."""
        if isinstance(node, ast.Attribute):
            entry = SPELLINGS.get(("attribute", node.attr))
            base = node.value
            if entry is not None and entry.indexed:
                if not (isinstance(base, ast.Name) and base.id in self.mod.modules):
                    return entry, [base], [], "attribute"
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in self.locals
        ):
            found = self.array_function(node.func)
            if found is not None and found[0].indexed:
                entry, receiver, lib = found
                args = ([receiver] if receiver is not None else []) + list(node.args)
                return entry, args, node.keywords, lib
        return None

    def item(
        self,
        found: tuple[Primitive, list[ast.expr], list[ast.keyword], str],
        node: ast.Subscript,
    ) -> Form:
        """One item, a constant index, of what a primitive giving a tuple gives."""
        entry, args, keywords, lib = found
        k = self.static(node.slice, "index")
        if not isinstance(k, int) or isinstance(k, bool):
            raise self.src.error(
                node.slice, "indices must be integer constants", "e.g. x[0], X[:, 1:]"
            )
        if entry.parts is not None:
            if not -entry.parts <= k < entry.parts:
                raise self.src.error(
                    node.slice,
                    f"`{entry.name}` has no item {k}",
                    f"it gives {entry.parts} items: index them 0 to {entry.parts - 1}",
                )
            k %= entry.parts
        return self.call_primitive(entry, args, keywords, node.value, lib, part=k)

    def not_a_tuple(self, entry: Primitive, node: ast.AST) -> None:
        """A primitive that gives a tuple is read only through a constant index."""
        if entry.indexed:
            raise self.src.error(
                node,
                f"`{entry.name}` gives a tuple, which adc does not hold as a value",
                "take one item, e.g. `x.shape[0]` or `np.linalg.slogdet(a)[1]`",
            )

    def operator_entry(self, op: ast.operator) -> Primitive | None:
        """The primitive an operator outside + - * / ** spells here (`@` in array code, `%`
        and `//` everywhere), if any."""
        if type(op) in BINOPS:
            return None
        entry = SPELLINGS.get(("operator", operator_text(op)))
        if entry is not None and (self.mod.arrays or entry.per_library):
            return entry
        return None

    def operator_call(self, entry: Primitive, a: Form, b: Form, node: ast.AST) -> Form:
        """`a op b` for an operator of the table, folded when both are constants."""
        if not entry.per_library:
            return self.call_primitive(entry, [a, b], [], node, "operator")
        if a.is_const() and b.is_const():
            if b.const == 0:
                fold_binary("/", a.const, b.const, self.src, node)  # reports the division
            value = a.const % b.const if entry.name == "mod" else a.const // b.const
            return Form(tame(value, self.src, node))
        return self.call_primitive(entry, [a, b], [], node, "operator")

    def array_operand(self, node: ast.expr | Form, at: ast.AST | None = None) -> int:
        """The variable holding an array expression (constants are not arrays here); a form
        already lowered is reported at `at`."""
        form = node if isinstance(node, Form) else self.expr(node)
        if form.is_const():
            raise self.src.error(
                at if isinstance(node, Form) else node,
                "this operand must be an array, not a constant",
                "pass it as a parameter",
            )
        return self.b.variable(form)

    def operand(self, node: ast.expr | Form) -> tuple[int | None, Number | None]:
        """(variable, None) for an expression, or (None, constant) for a constant."""
        form = node if isinstance(node, Form) else self.expr(node)
        if form.is_const():
            return None, form.const
        return self.b.variable(form), None

    def static(self, node: ast.expr | None, what: str, text: bool = False) -> object:
        """A compile-time constant argument: None, an int, a tuple of ints, or (with `text`)
        a string."""
        if node is None or (isinstance(node, ast.Constant) and node.value is None):
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return node.value
        if text and isinstance(node, ast.Constant) and isinstance(node.value, str):
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
        self,
        entry: Primitive,
        args: list[ast.expr | Form],
        keywords: list[ast.keyword],
        node: ast.AST,
        lib: str = "",
        part: int | None = None,
    ) -> Form:
        """A call of a primitive that takes a signature, `fn(*args, **keywords)`, as one step;
        `lib` is the library the source spelled it in, `part` the constant index of an item
        of a primitive that gives a tuple. Arguments already lowered (forms) are reported at
        `node`."""
        fn, signature = entry.name, entry.signature
        names = [p.name for p in signature]
        kw = {k.arg: k.value for k in keywords}
        varargs = any(p.varargs or p.kind in ("operands", "arrays") for p in signature)
        if (len(args) > len(signature) and not varargs) or any(k not in names for k in kw):
            shown = ", ".join(
                f"*{p.name}" if p.kind in ("operands", "arrays") else p.name for p in signature
            )
            raise self.src.error(node, f"bad arguments for `{fn}`", f"{fn} takes ({shown})")
        bound: dict[str, ast.expr | Form | None] = dict.fromkeys(names)
        for name, value in zip(names, args):
            bound[name] = value
        for name, value in kw.items():
            bound[name] = value
        variables: list[int] = []
        numbers: list[Number | None] = []
        statics: list[object] = []

        def add(value: ast.expr | Form) -> None:
            var, number = self.operand(value)
            variables.extend([var] if var is not None else [])
            numbers.append(number)

        for i, p in enumerate(signature):
            if p.kind in ("operands", "arrays"):
                rest = args[i:]
                if len(rest) < p.least or (p.most is not None and len(rest) > p.most):
                    shown = ", ".join(f"{p.name}{k}" for k in range(1, p.least + 1))
                    raise self.src.error(
                        node, f"bad arguments for `{fn}`", f"{fn} takes ({shown}, ...)"
                    )
                for value in rest:
                    if p.kind == "arrays":
                        variables.append(self.array_operand(value, node))
                    else:
                        add(value)
                continue
            if p.kind == "static":
                statics.append(self.bound_static(entry, p, bound, args[i + 1 :], node))
                continue
            value = _required(self.src, bound, p, fn, node)
            if p.kind == "array":
                variables.append(self.array_operand(value, node))
            elif p.kind == "sequence":
                if not isinstance(value, (ast.List, ast.Tuple)):
                    raise self.src.error(
                        value if isinstance(value, ast.AST) else node,
                        f"`{fn}` needs a list or tuple of values as `{p.name}`",
                        f"write the values out: np.{fn}([a, b])",
                    )
                for item in value.elts:
                    if isinstance(item, (ast.List, ast.Tuple)):  # a list inside is an array
                        item = self.call_primitive(
                            SPELLINGS[("numpy", "array")], [item], [], item, "numpy"
                        )
                    add(item)
            elif p.kind == "condition":
                assert isinstance(value, ast.expr)
                variables.append(self.condition(value))
                numbers.append(None)
            else:
                add(value)
        params = tuple(statics)
        if entry.per_library:
            numpy = lib == "numpy" or (lib in ("operator", "builtins") and self.mod.arrays)
            params = (lib, "numpy" if numpy else "math", *params)
        if part is not None:
            params = (part, *params)
        if entry.takes_numbers():
            if not variables and not entry.constants_ok:
                raise self.src.error(node, f"`{fn}` of constants", "compute the constant yourself")
            params += (tuple(numbers),)
        return Form.atom(self.b.add(fn, tuple(variables), params))

    def bound_static(
        self,
        entry: Primitive,
        p: Param,
        bound: dict[str, ast.expr | Form | None],
        after: list[ast.expr | Form],
        node: ast.AST,
    ) -> object:
        """The value of static parameter `p` of a call of `entry` (`after`: the positional
        arguments after it, which a `varargs` parameter collects)."""
        fn = entry.name
        value = bound[p.name] if p.optional else _required(self.src, bound, p, fn, node)
        if isinstance(value, Form):
            raise self.src.error(
                node, f"{p.what} must be a constant", f"write the {p.what} literally"
            )
        if p.optional and value is None:
            static = p.default
        else:
            static = self.static(value, p.what, p.text)
        if p.varargs:
            extra = tuple(self.static(a, p.what) for a in after if isinstance(a, ast.expr))
            static = (static, *extra) if extra else static
        if p.convert is None:
            return static
        try:
            return p.convert(static)
        except ValueError as exc:
            reason, hint = exc.args[0]
            raise self.src.error(value or node, f"`{fn}`: {reason}", hint) from None

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

    def callee(self, func: ast.expr) -> tuple[str, str, Primitive]:
        """(library, name, primitive) of a called function of the table, or an error."""
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
                return "builtins", ident, BUILTINS[ident]
            if ident in self.mod.imported:
                lib, attr = self.mod.imported[ident]
                entry = SPELLINGS.get((lib, attr))
                if entry is not None:
                    return lib, attr, entry
            hint = supported_functions()
            if ("math", ident) in SPELLINGS:
                hint = f"import it: `from math import {ident}`, or call `math.{ident}(x)`"
            raise self.src.error(func, f"unknown function `{ident}`", hint)
        if isinstance(func, ast.Attribute):
            lib, attr = self.attribute(func)
            entry = SPELLINGS.get((lib, attr))
            if entry is not None:
                return lib, attr, entry
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
        result = self.inlined(name, fdef, bound)
        self.b.line = line
        # A call's value is a scaled variable, as a name's is: `h(x) * h(x)` through nested
        # helpers would otherwise double its factors at every level.
        self.b.calls[key] = self.settle(result)
        return self.b.calls[key]

    def inlined(self, name: str, fdef: ast.FunctionDef, bound: dict[str, Form]) -> Form:
        """The form the body of the file's function `name` returns, its parameters bound."""
        return Lowering(self.mod, self.b, bound, (*self.stack, name)).body(fdef)


def _required(
    src: Source, bound: dict[str, ast.expr | None], param: Param, fn: str, node: ast.AST
) -> ast.expr:
    value = bound[param.name]
    if value is None:
        raise src.error(node, f"`{fn}` needs its `{param.name}` argument", f"pass {param.name}")
    return value


def _linalg() -> str:
    """The hint for an unknown function of numpy.linalg."""
    names = sorted(n for (lib, n) in SPELLINGS if lib == "numpy" and n.startswith("linalg."))
    return "supported: " + ", ".join(f"np.{n}" for n in names)


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
