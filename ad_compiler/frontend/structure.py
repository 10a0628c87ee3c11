"""Functions with loops and branches: their statements lowered to a structured trace.

A function whose body, or the body of a function it calls, has `for`, `while`, `if`, `break`,
`continue`, a comparison, `and`/`or`/`not` or `a if c else b` keeps that structure (the
straight-line lowering serves every other function). Straight-line stretches become `Region`s,
lowered to forms and steps as any function is; loops and branches become `Loop` and `Branch`
nodes around their own lists of nodes. A variable the source assigns inside a loop or a branch
becomes a *slot* (a variable of the generated code, with the source's name): a region reads it
like any variable and gives it its new value with a store at its end.

Before lowering, the statements are put in a shape where every `return`, `break` and
`continue` is the last statement of its branch: what follows an `if` that may exit moves into
the branches that fall through it.
"""

from __future__ import annotations

import ast
import copy
import itertools
from collections.abc import Callable, Iterable, Iterator

from ..core.expr import Const, Expr, Var
from ..core.ir import Branch, Jump, Loop, Node, Region, Step
from ..core.primitives import rule
from .fence import COMPARE_OPS, Module, is_docstring
from .forms import Builder, Form
from .lower import Lowering
from .normalise import order, renumbered, split, subsume

EXITS = (ast.Return, ast.Break, ast.Continue)
_SPACE = 1_000_000  # step ids of one region: its base, then at most this many more
WHILE_CAP = 1_000_000  # the most iterations a `while` runs by default


# ---------------------------------------------------------------------------------------------
# Which functions keep their structure
# ---------------------------------------------------------------------------------------------


def _structured_nodes(fdef: ast.FunctionDef) -> Iterator[ast.AST]:
    """The nodes of the body that need structure (comparisons inside np.where's condition
    aside: the straight-line lowering takes those)."""
    conditions: set[int] = set()
    for node in ast.walk(fdef):
        if isinstance(node, ast.Call) and _is_where(node):
            if node.args:
                conditions.add(id(node.args[0]))
            conditions |= {id(k.value) for k in node.keywords if k.arg == "condition"}
    for node in ast.walk(fdef):
        if isinstance(node, (ast.For, ast.While, ast.If, ast.Break, ast.Continue)):
            yield node
        elif isinstance(node, (ast.IfExp, ast.BoolOp)):
            yield node
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node
        elif isinstance(node, ast.Compare) and id(node) not in conditions:
            yield node


def _is_where(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "where"


def needs_structure(mod: Module, name: str) -> bool:
    """Whether function `name`, or a function it calls, has loops, branches or comparisons."""
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen or current not in mod.functions:
            continue
        seen.add(current)
        fdef = mod.functions[current]
        if next(_structured_nodes(fdef), None) is not None:
            return True
        pending += [
            n.func.id
            for n in ast.walk(fdef)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        ]
    return False


# ---------------------------------------------------------------------------------------------
# Exits last: return, break and continue end their branches
# ---------------------------------------------------------------------------------------------


def _always_exits(stmts: list[ast.stmt]) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, EXITS):
        return True
    if isinstance(last, ast.If):
        return _always_exits(last.body) and _always_exits(last.orelse)
    return False


def _may_exit(stmts: list[ast.stmt]) -> bool:
    """Whether a statement of `stmts` may exit them (a break or continue inside a loop of
    theirs belongs to that loop; a return does not)."""
    for stmt in stmts:
        if isinstance(stmt, EXITS):
            return True
        if isinstance(stmt, ast.If) and (_may_exit(stmt.body) or _may_exit(stmt.orelse)):
            return True
        if isinstance(stmt, (ast.For, ast.While)):
            if any(isinstance(n, ast.Return) for n in ast.walk(stmt)):
                return True
    return False


def exits_last(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """`stmts` with what follows an `if` that may exit moved into its branches that fall
    through, so that every exit ends its branch; code after an exit is dropped (the lowering
    reports it first)."""
    out: list[ast.stmt] = []
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, EXITS):
            out.append(stmt)
            return out
        if isinstance(stmt, ast.If):
            shaped = copy.copy(stmt)
            shaped.body, shaped.orelse = exits_last(stmt.body), exits_last(stmt.orelse)
            rest = stmts[i + 1 :]
            if rest and (_may_exit(shaped.body) or _may_exit(shaped.orelse)):
                out.append(_then(shaped, exits_last(rest)))
                return out
            out.append(shaped)
        elif isinstance(stmt, (ast.For, ast.While)):
            shaped = copy.copy(stmt)
            shaped.body = exits_last(stmt.body)
            out.append(shaped)
        else:
            out.append(stmt)
    return out


def _then(branch: ast.If, rest: list[ast.stmt]) -> ast.If:
    """`branch` with `rest` run after it wherever it falls through."""
    shaped = copy.copy(branch)
    shaped.body = _then_block(branch.body, rest)
    shaped.orelse = _then_block(branch.orelse, rest)
    return shaped


def _then_block(block: list[ast.stmt], rest: list[ast.stmt]) -> list[ast.stmt]:
    if _always_exits(block):
        return block
    if block and isinstance(block[-1], ast.If) and _may_exit([block[-1]]):
        return [*block[:-1], _then(block[-1], rest)]
    return [*block, *rest]


def assigned_names(stmts: Iterable[ast.stmt]) -> list[str]:
    """The names the statements assign (loop targets included), in order of appearance."""
    names: dict[str, None] = {}
    for stmt in stmts:
        for node in ast.walk(stmt):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)):
                targets = [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        names[name.id] = None
    return list(names)


# ---------------------------------------------------------------------------------------------
# Lowering
# ---------------------------------------------------------------------------------------------

RESULT = "result"  # the name shown for the slot a function's returns in branches give a value


class _Shared:
    """What every lowering of one compiled function shares: ids and slots."""

    def __init__(self, d: int, while_cap: int) -> None:
        self.regions = itertools.count(1)
        self.slot_ids = itertools.count(-d, -1)  # below the inputs' ids 1-d..0
        self.slots: dict[int, str] = {}
        self.while_cap = while_cap

    def base(self) -> int:
        """The id the steps of a new region start after."""
        return next(self.regions) * _SPACE

    def slot(self, name: str) -> int:
        """A new slot, shown as `name`."""
        slot = next(self.slot_ids)
        self.slots[slot] = name
        return slot


class Structured(Lowering):
    """Lowers a function's body, loops and branches kept, into a list of nodes."""

    def __init__(
        self, mod: Module, env: dict[str, Form], stack: tuple[str, ...], shared: _Shared
    ) -> None:
        super().__init__(mod, Builder(shared.base()), env, stack)
        self.shared = shared
        self.nodes: list[Node] = []
        self.slot_of: dict[str, int] = {}
        self.dirty: dict[str, None] = {}  # slot-backed names assigned since the region began
        self.loops = 0  # how many loops the statement being lowered is inside

    # -- the function -------------------------------------------------------------------------

    def whole(self, fdef: ast.FunctionDef) -> int:
        """Lower the function's body into `nodes`; the variable holding its value."""
        self.function = fdef.name
        self.locals = set(self.env) | set(assigned_names(fdef.body))
        stmts = list(fdef.body)
        if stmts and is_docstring(stmts[0]):
            stmts = stmts[1:]
        self._reject_after_exits(stmts)
        shaped = exits_last(stmts)
        if not _always_exits(shaped):
            raise self.src.error(
                fdef,
                f"function `{fdef.name}` has no `return`",
                "end it with `return <expression>`",
            )
        last = shaped[-1]
        if isinstance(last, ast.Return) and not _returns_inside(shaped[:-1]):
            self.run(shaped[:-1])
            self.b.at(last, self.src)
            returned = self._returned(last)  # may end the region: self.b is read after it
            output = self.b.variable(returned)
            self.close()
            return output
        self._slot(RESULT, RESULT)
        self.run(shaped)
        self.close()
        return self.slot_of[RESULT]

    def _reject_after_exits(self, stmts: list[ast.stmt]) -> None:
        """Python runs no statement after a return, break or continue: say so."""
        word = {ast.Return: "return", ast.Break: "break", ast.Continue: "continue"}
        for i, stmt in enumerate(stmts):
            if isinstance(stmt, EXITS) and i != len(stmts) - 1:
                raise self.src.error(
                    stmts[i + 1], f"code after `{word[type(stmt)]}` is never run", "remove it"
                )
            for field in ("body", "orelse"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    self._reject_after_exits(inner)

    # -- blocks, regions and slots ------------------------------------------------------------

    def run(self, stmts: list[ast.stmt]) -> None:
        for stmt in stmts:
            self.b.at(stmt, self.src)
            self.structured_statement(stmt)

    def nested(self, lower: Callable[[], object], loop: bool = False) -> list[Node]:
        """The nodes `lower` makes, in a block of their own; the names are as before after it
        (the ones it assigns are slots, bound again by the caller)."""
        outer_nodes, outer_env = self.nodes, dict(self.env)
        self.nodes = []
        self.loops += loop
        lower()
        self.close()
        self.loops -= loop
        nodes, self.nodes = self.nodes, outer_nodes
        self.env = outer_env
        return nodes

    def _slot(self, name: str, shown: str | None = None) -> int:
        if name not in self.slot_of:
            self.slot_of[name] = self.shared.slot(shown or name)
        return self.slot_of[name]

    def slots_for(self, names: Iterable[str]) -> None:
        """Make `names` slots before a loop or branch that assigns them: a value they hold now
        is stored, and what reads their slots now keeps its value."""
        slots = set()
        for name in names:
            slot = self._slot(name)
            slots.add(slot)
            if name in self.env and not _is_atom(self.env[name], slot):
                self.dirty[name] = None
        self.protect(slots, set(names))

    def protect(self, slots: set[int], names: set[str]) -> None:
        """Names other than `names` whose forms read `slots` get the values they read now."""
        for name, form in list(self.env.items()):
            if name not in names and _reads(form, slots):
                var = self.b.variable(form)
                self.env[name] = Form.atom(self._copy(var) if var in slots else var)

    def close(self) -> None:
        """End the region being built: store the slots assigned in it, and begin another."""
        self.protect({self.slot_of[n] for n in self.dirty}, set(self.dirty))
        stores: list[tuple[int, int]] = []
        for name in self.dirty:
            slot = self.slot_of[name]
            if name in self.env and not _is_atom(self.env[name], slot):
                stores.append((slot, self.b.variable(self.env[name])))
            self.env[name] = Form.atom(slot)
        self.dirty = {}
        steps = subsume(self.b.ordered())
        steps = split(steps, self.b.table)
        steps = order(steps, [s.index for s in steps])
        if steps or stores:
            self.nodes.append(Region(steps, stores))
        self.b = Builder(self.shared.base())

    def assign(self, target: ast.Name, value: Form) -> None:
        super().assign(target, value)
        if target.id in self.slot_of:
            self.dirty[target.id] = None

    def _set(self, name: str, value: Form) -> None:
        self.env[name] = value
        self.dirty[name] = None

    def _after(self, names: Iterable[str]) -> None:
        """After a loop or branch, its names hold their slots."""
        for name in names:
            self.env[name] = Form.atom(self.slot_of[name])

    # -- statements ---------------------------------------------------------------------------

    def structured_statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.If):
            self.branch(stmt)
        elif isinstance(stmt, ast.For):
            self.for_loop(stmt)
        elif isinstance(stmt, ast.While):
            self.while_loop(stmt)
        elif isinstance(stmt, (ast.Break, ast.Continue)):
            kind = "break" if isinstance(stmt, ast.Break) else "continue"
            self.close()
            self.nodes.append(Jump(kind, stmt.lineno, stmt.col_offset + 1))
        elif isinstance(stmt, ast.Return):
            if self.loops:
                raise self.src.error(
                    stmt,
                    "`return` inside a loop is not supported",
                    "assign the value to a name, `break`, and return it after the loop",
                )
            self._set(RESULT, self._returned(stmt))
        else:
            self.statement(stmt)

    def _returned(self, stmt: ast.Return) -> Form:
        if stmt.value is None:
            raise self.src.error(stmt, "`return` needs a value", "return an expression")
        return self.expr(stmt.value)

    def branch(self, stmt: ast.If) -> None:
        test = self.test(stmt.test)
        names = assigned_names(stmt.body) + assigned_names(stmt.orelse)
        self.slots_for(names)
        self.close()
        then = self.nested(lambda: self.run(stmt.body))
        orelse = self.nested(lambda: self.run(stmt.orelse))
        self.nodes.append(Branch(test, then, orelse, stmt.lineno, stmt.col_offset + 1))
        self._after(names)

    def for_loop(self, stmt: ast.For) -> None:
        if stmt.orelse:
            raise self.src.error(stmt.orelse[0], "`for ... else` is not supported", "drop `else`")
        if not isinstance(stmt.target, ast.Name):
            raise self.src.error(
                stmt.target, "a `for` loop's target must be one name", "write `for i in ...`"
            )
        kind, args = self.iteration(stmt.iter)
        target = stmt.target.id
        names = [target, *assigned_names(stmt.body)]
        self.slots_for(names)
        self.close()

        def body() -> None:
            self.env[target] = Form.atom(self.slot_of[target])
            self.run(stmt.body)

        nodes = self.nested(body, loop=True)
        line, col = stmt.lineno, stmt.col_offset + 1
        self.nodes.append(Loop(kind, self.slot_of[target], args, nodes, line=line, col=col))
        self._after(names)

    def iteration(self, node: ast.expr) -> tuple[str, tuple[Expr, ...]]:
        """What a `for` loop runs over: ('range', its arguments) or ('items', the value)."""
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "range"
            and "range" not in self.locals
        ):
            if node.keywords or not 1 <= len(node.args) <= 3:
                raise self.src.error(
                    node, "`range` takes one to three arguments", "write range(n) or range(a, b)"
                )
            return "range", tuple(self.argument(a) for a in node.args)
        return "items", (self.argument(node),)

    def argument(self, node: ast.expr) -> Expr:
        """An operand of a loop's header: a number, or the variable holding the value."""
        form = self.expr(node)
        if form.is_const():
            return Const(form.const)
        return Var(self.b.variable(form))

    def while_loop(self, stmt: ast.While) -> None:
        if stmt.orelse:
            raise self.src.error(stmt.orelse[0], "`while ... else` is not supported", "drop `else`")
        names = assigned_names(stmt.body)
        self.slots_for(names)
        self.close()
        tests: list[int] = []
        head = self.nested(lambda: tests.append(self.test(stmt.test)))
        body = self.nested(lambda: self.run(stmt.body), loop=True)
        self.nodes.append(
            Loop(
                "while",
                None,
                (),
                body,
                head=head,
                test=tests[0],
                cap=self.shared.while_cap,
                line=stmt.lineno,
                col=stmt.col_offset + 1,
            )
        )
        self._after(names)

    # -- tests and the expressions that need structure ----------------------------------------

    def test(self, node: ast.expr) -> int:
        """The variable holding the truth of `node` (a comparison's, or `node != 0`'s)."""
        form = self.expr(node)
        if isinstance(node, (ast.Compare, ast.BoolOp)) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            return self.b.variable(form)
        return self.compare("!=", form, Form(0), node)

    def expr(self, node: ast.expr) -> Form:
        if isinstance(node, ast.Compare):
            return self.comparison(node)
        if isinstance(node, ast.BoolOp):
            parts = [lambda v=v: self.expr(v) for v in node.values]
            return self.short_circuit(parts, node, isinstance(node.op, ast.And))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return Form.atom(self.compare("==", self.expr(node.operand), Form(0), node))
        if isinstance(node, ast.IfExp):
            return self.choice(node)
        return super().expr(node)

    def compare(self, op: str, a: Form, b: Form, node: ast.AST) -> int:
        """The variable holding `a op b`."""
        self.b.at(node, self.src)
        if a.is_const() and b.is_const():
            truth = {
                ">": a.const > b.const,
                "<": a.const < b.const,
                ">=": a.const >= b.const,
                "<=": a.const <= b.const,
                "==": a.const == b.const,
                "!=": a.const != b.const,
            }[op]
            return self.b.add("affine", (), (truth,))
        left = (None, a.const) if a.is_const() else (self.b.variable(a), None)
        right = (None, b.const) if b.is_const() else (self.b.variable(b), None)
        variables = tuple(v for v, _ in (left, right) if v is not None)
        return self.b.add("compare", variables, (op, (left[1], right[1])))

    def comparison(self, node: ast.Compare) -> Form:
        """`a < b`, and a chain `a < b < c` as `a < b and b < c`, b evaluated once."""
        left = self.expr(node.left)
        tests: list[tuple[str, Form, Form]] = []
        for op_node, right_node in zip(node.ops, node.comparators):
            op = COMPARE_OPS.get(type(op_node))
            if op is None:
                raise self.src.error(
                    node, "this comparison is not supported", "use > < >= <= == or !="
                )
            right = self.settle(self.expr(right_node))
            tests.append((op, left, right))
            left = right
        parts = [
            lambda op=op, a=a, b=b: Form.atom(self.compare(op, a, b, node)) for op, a, b in tests
        ]
        if len(parts) == 1:
            return parts[0]()
        return self.short_circuit(parts, node, stop_when_false=True)

    def short_circuit(
        self, parts: list[Callable[[], Form]], node: ast.AST, stop_when_false: bool
    ) -> Form:
        """The value of `and` (stop_when_false) or `or` over `parts`, each part lowered only
        where the ones before it did not decide, inside a branch."""
        key = f"<{'and' if stop_when_false else 'or'} {next(self.shared.regions)}>"
        slot = self._slot(key, "test")
        self._set(key, parts[0]())
        op = "!=" if stop_when_false else "=="  # the parts so far decide nothing
        for part in parts[1:]:
            self.close()
            undecided = self.b.add("compare", (slot,), (op, (None, 0)))
            self.close()
            then = self.nested(lambda part=part: self._set(key, part()))
            self.nodes.append(Branch(undecided, then, [], node.lineno, node.col_offset + 1))
            self.env[key] = Form.atom(slot)
        self.close()
        return Form.atom(self._copy(slot))

    def choice(self, node: ast.IfExp) -> Form:
        """`a if c else b`: only the chosen operand is computed."""
        test = self.test(node.test)
        key = f"<choice {next(self.shared.regions)}>"
        slot = self._slot(key, "choice")
        self.close()
        then = self.nested(lambda: self._set(key, self.expr(node.body)))
        orelse = self.nested(lambda: self._set(key, self.expr(node.orelse)))
        self.nodes.append(Branch(test, then, orelse, node.lineno, node.col_offset + 1))
        self.env[key] = Form.atom(slot)
        return Form.atom(self._copy(slot))

    def _copy(self, slot: int) -> int:
        """A step holding the slot's value now (the slot may change later)."""
        return self.b.add("affine", (slot,), (0, 1))

    # -- calls of the file's functions --------------------------------------------------------

    def inlined(self, name: str, fdef: ast.FunctionDef, bound: dict[str, Form]) -> Form:
        if not needs_structure(self.mod, name):
            return super().inlined(name, fdef, bound)
        self.close()
        inner = Structured(self.mod, bound, (*self.stack, name), self.shared)
        result = inner.whole(fdef)
        self.nodes += inner.nodes
        return Form.atom(self._copy(result) if result in self.shared.slots else result)


def _returns_inside(stmts: list[ast.stmt]) -> bool:
    return any(isinstance(n, ast.Return) for s in stmts for n in ast.walk(s))


def _is_atom(form: Form, var: int | None) -> bool:
    """Whether `form` is one variable (that variable, when `var` is given), scaled by 1."""
    single = form.single()
    if single is None or single[0] != 1 or len(single[1]) != 1 or single[1][0][1] != 1:
        return False
    return var is None or single[1][0][0] == var


def _reads(form: Form, variables: set[int]) -> bool:
    return any(v in variables for m, _ in form.terms.values() for v, _ in m)


# ---------------------------------------------------------------------------------------------
# Finishing: dead steps out, steps numbered z1..zT in order
# ---------------------------------------------------------------------------------------------


def walk_nodes(nodes: list[Node]) -> Iterator[Node]:
    """Every node, nested ones included, in program order (a while loop's head first)."""
    for node in nodes:
        yield node
        if isinstance(node, Loop):
            yield from walk_nodes(node.head)
            yield from walk_nodes(node.body)
        elif isinstance(node, Branch):
            yield from walk_nodes(node.then)
            yield from walk_nodes(node.orelse)


def _variables_read(nodes: list[Node], output: int) -> set[int]:
    read = {output}
    for node in walk_nodes(nodes):
        if isinstance(node, Region):
            for s in node.steps:
                read.update(s.args)
            read.update(v for _, v in node.stores)
        elif isinstance(node, Loop):
            read.update(a.id for a in node.args if isinstance(a, Var))
            if node.test is not None:
                read.add(node.test)
        elif isinstance(node, Branch):
            read.add(node.test)
    return read


def _prune(nodes: list[Node], output: int) -> None:
    """Drop the steps and stores nothing reads (a step that may fail stays)."""
    while True:
        read = _variables_read(nodes, output)
        changed = False
        for node in walk_nodes(nodes):
            if isinstance(node, Region):
                steps = [s for s in node.steps if s.index in read or rule(s).may_fail(s)]
                stores = [(slot, v) for slot, v in node.stores if slot in read]
                changed |= len(steps) != len(node.steps) or len(stores) != len(node.stores)
                node.steps, node.stores = steps, stores
        if not changed:
            return


def _renumber(nodes: list[Node], number: dict[int, int]) -> None:
    def var(v: int) -> int:
        return number.get(v, v)

    for node in walk_nodes(nodes):
        if isinstance(node, Region):
            node.steps = renumbered(node.steps, number)
            node.stores = [(slot, var(v)) for slot, v in node.stores]
        elif isinstance(node, Loop):
            node.args = tuple(Var(var(a.id)) if isinstance(a, Var) else a for a in node.args)
            node.test = None if node.test is None else var(node.test)
        elif isinstance(node, Branch):
            node.test = var(node.test)


def lower_structured(
    mod: Module, name: str, env: dict[str, Form], d: int
) -> tuple[list[Node], list[Step], int, dict[int, str]]:
    """Function `name`, its parameters bound in `env`, as nodes: (the nodes, every step in
    order, numbered z1..zT, the variable holding the value, the slots' names)."""
    shared = _Shared(d, WHILE_CAP)
    lowering = Structured(mod, env, (name,), shared)
    output = lowering.whole(mod.functions[name])
    nodes = lowering.nodes
    _prune(nodes, output)
    steps = [s for node in walk_nodes(nodes) if isinstance(node, Region) for s in node.steps]
    number = {s.index: t + 1 for t, s in enumerate(steps)}
    _renumber(nodes, number)
    flat = [s for node in walk_nodes(nodes) if isinstance(node, Region) for s in node.steps]
    return nodes, flat, number.get(output, output), dict(shared.slots)
