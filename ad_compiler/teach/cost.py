"""The lecture's complexity facts for one function, counted from the code adc generates.

The Baur-Strassen/Griewank theorem of the lecture: if every step is Type 1, 2 or 3 and h'(u)
costs about what h(u) does, the reverse mode computes df/dw in O(T), a constant times the cost
of f, however many inputs w has. This module reports, for one function: V, E and T; the
operations of the generated `f`, `grad_f` and `value_and_grad_f` by kind (read from their
AST); the ratio against the constant `BAUR_STRASSEN`; a naive forward-mode gradient (one
tangent pass over every node per input, generated the same way) whose cost grows as T * n; and
the measured time of each.

Reads the IR and the generated code; never feeds back into the pipeline.
"""

from __future__ import annotations

import ast
import math
import statistics
import timeit
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..backend.emit import Names
from ..backend.load import load_in_memory
from ..core.expr import Expr, Var, add, mul
from ..core.ir import Trace
from ..core.primitives import rule
from .points import point, primal_values, random_points

# The theorem's constant as Griewank and Walther state it for operation counts (Evaluating
# Derivatives, 2nd ed., 2008, the cheap gradient principle; Baur and Strassen 1983 prove 3 for
# multiplications and divisions alone): f and its gradient together cost at most 5 times the
# operations of f.
# For a binary step the reverse sweep adds at most 2 multiplications (adjoint times partial)
# and 2 additions (accumulating into the parents' adjoints) to its 1 operation: 1 + 4 = 5.
BAUR_STRASSEN = 5

_BINARY = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.MatMult: "@",
}
_COMPARE = {ast.Gt: ">", ast.Lt: "<", ast.GtE: ">=", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}
_ORDER = ["+", "-", "*", "/", "**", "@", "neg", ">", "<", ">=", "<=", "==", "!=", "if", "[]"]


def count_operations(function: ast.FunctionDef) -> Counter[str]:
    """The operations in a function's body by kind: `+ - * / ** @`, `neg` (unary minus of a
    computed value), comparisons, `if` (a conditional expression), `[]` (indexing), and calls
    by function name (`sin`, `exp`, `_unbroadcast`). Literals, names and assignments are free."""
    counts: Counter[str] = Counter()
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, ast.BinOp):
                counts[_BINARY[type(node.op)]] += 1
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
                if not isinstance(node.operand, (ast.Constant, ast.Attribute)):  # -2, -math.inf
                    counts["neg"] += 1
            elif isinstance(node, ast.Compare):
                for op in node.ops:
                    counts[_COMPARE[type(op)]] += 1
            elif isinstance(node, ast.IfExp):
                counts["if"] += 1
            elif isinstance(node, ast.Subscript):
                counts["[]"] += 1
            elif isinstance(node, ast.Call):
                func = node.func
                counts[func.attr if isinstance(func, ast.Attribute) else ast.unparse(func)] += 1
    return counts


def function_operations(source: str, name: str) -> Counter[str]:
    """`count_operations` of the function `name` defined in the module `source`."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return count_operations(node)
    raise KeyError(f"no function {name} in the generated module")


# ---------------------------------------------------------------------------------------------
# The naive forward mode: one tangent pass over every node per input
# ---------------------------------------------------------------------------------------------


def tangent_source(trace: Trace) -> str:
    """A module defining `tangent(x_1..x_n, dx_1..dx_n)`: the primal and, node by node, the
    directional derivative dz_t = sum over parents of dz_t/dz_parent * dz_parent, returning
    (z_T, dz_T). Calling it once per input with a unit direction is the naive gradient.
    Scalar functions only."""
    if trace.arrays:
        raise ValueError("the naive forward mode here is for scalar functions")
    taken = set(trace.params) | {"math", "tangent"}
    names = Names(trace, taken, {"math": "math"})
    prefix = "d_"
    while any(p.startswith(prefix) for p in trace.params):
        prefix += "_"
    for v in [*trace.inputs, *(s.index for s in trace.steps)]:
        names.adjoint[v] = prefix + names.primal[v]  # the adjoint slots hold tangents here
    body: list[str] = []
    for s in trace.steps:
        r = rule(s)
        body.append(f"    {names.primal[s.index]} = {names.text(r.primal(s))}")
        tangent: Expr | None = None
        for i, parent in enumerate(s.args):
            term = mul(r.partial(s, i), Var(parent, True))
            tangent = term if tangent is None else add(tangent, term)
        assert tangent is not None
        body.append(f"    {names.adjoint[s.index]} = {names.text(tangent)}")
    out = trace.output
    body.append(f"    return {names.primal[out]}, {names.adjoint[out]}")
    args = [names.primal[v] for v in trace.inputs] + [names.adjoint[v] for v in trace.inputs]
    return "import math\n\n\ndef tangent(" + ", ".join(args) + "):\n" + "\n".join(body) + "\n"


def naive_gradient(tangent: Callable[..., tuple], point: Sequence[float]) -> tuple[float, ...]:
    """The gradient by the naive forward mode: one tangent pass per input."""
    n = len(point)
    grads = []
    for j in range(n):
        direction = [0.0] * n
        direction[j] = 1.0
        grads.append(tangent(*point, *direction)[1])
    return tuple(grads)


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Median seconds per call of each function at one point."""

    point: dict[str, Any]
    primal: float
    gradient: float
    value_and_grad: float
    naive: float | None
    repeat: int

    def ratios(self) -> dict[str, float]:
        """Each time over the primal's."""
        out = {"gradient": self.gradient / self.primal}
        out["value_and_grad"] = self.value_and_grad / self.primal
        if self.naive is not None:
            out["naive"] = self.naive / self.primal
        return out


@dataclass
class CostReport:
    """The lecture's complexity facts for one function (see the module's docstring)."""

    function: str
    params: tuple[str, ...]
    T: int  # noqa: N815 - the lecture's names
    E: int  # noqa: N815
    primal: Counter[str]
    gradient: Counter[str]
    value_and_grad: Counter[str]
    tangent: Counter[str] | None  # one naive forward pass
    timing: Timing | None = None
    timing_note: str = ""
    bound: int = BAUR_STRASSEN
    tangent_function: Callable[..., tuple] | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """The number of inputs, which is the number of naive forward passes."""
        return len(self.params)

    @property
    def V(self) -> int:  # noqa: N802
        """Nodes: the inputs and the T steps."""
        return self.n + self.T

    def totals(self) -> dict[str, int]:
        """Total operations of f, grad_f, value_and_grad_f and the naive forward gradient."""
        out = {
            "primal": sum(self.primal.values()),
            "gradient": sum(self.gradient.values()),
            "value_and_grad": sum(self.value_and_grad.values()),
        }
        if self.tangent is not None:
            out["naive"] = self.n * sum(self.tangent.values())
        return out

    def ratios(self) -> dict[str, float]:
        """Each total over the primal's."""
        totals = self.totals()
        primal = totals["primal"] or 1
        return {k: v / primal for k, v in totals.items() if k != "primal"}

    def within_bound(self) -> bool:
        """Whether f and its gradient together cost at most `bound` times f's operations."""
        return self.ratios()["value_and_grad"] <= self.bound

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: sizes, operations by kind, totals, ratios and times."""
        ops = {"primal": self.primal, "gradient": self.gradient}
        ops["value_and_grad"] = self.value_and_grad
        if self.tangent is not None:
            ops["naive"] = Counter({k: self.n * v for k, v in self.tangent.items()})
        data: dict[str, Any] = {
            "function": self.function,
            "V": self.V,
            "E": self.E,
            "T": self.T,
            "n": self.n,
            "operations": {k: dict(sorted(v.items())) for k, v in ops.items()},
            "totals": self.totals(),
            "ratios": self.ratios(),
            "bound": self.bound,
        }
        if self.timing is not None:
            t = self.timing
            data["seconds"] = {
                "primal": t.primal,
                "gradient": t.gradient,
                "value_and_grad": t.value_and_grad,
                "naive": t.naive,
            }
        return data

    def to_text(self) -> str:
        """The report `adc cost` prints."""
        g, vg = f"grad_{self.function}", f"value_and_grad_{self.function}"
        out = [
            f"{self.function}({', '.join(self.params)}): V = {self.V} nodes "
            f"({self.n} inputs + T = {self.T} steps), E = {self.E} edges",
            "",
        ]
        columns = [(self.function, self.primal), (g, self.gradient), (vg, self.value_and_grad)]
        if self.tangent is not None:
            naive = Counter({k: self.n * v for k, v in self.tangent.items()})
            columns.append((f"naive forward ({self.n} passes)", naive))
        out += _table(columns)
        r, totals = self.ratios(), self.totals()
        verdict = "within" if self.within_bound() else "above"
        out += [
            "",
            f"{g} / {self.function} = {r['gradient']:.2f} operations; {vg} / {self.function} = "
            f"{r['value_and_grad']:.2f}, {verdict} the Baur-Strassen bound of {self.bound} for "
            "a function and its gradient together",
        ]
        if self.tangent is not None:
            per_pass = sum(self.tangent.values())
            out.append(
                f"naive forward mode: {self.n} tangent passes x {per_pass} operations = "
                f"{totals['naive']} = {totals['naive'] / totals['value_and_grad']:.2f} x {vg} "
                "(it grows as T * n, the reverse mode as T)"
            )
        out += ["", *self._time_lines()]
        return "\n".join(out)

    def _time_lines(self) -> list[str]:
        if self.timing is None:
            return [f"time: not measured ({self.timing_note})"]
        t, r = self.timing, self.timing.ratios()
        at = ", ".join(f"{k}={_number(v)}" for k, v in t.point.items())
        f = self.function
        rows = [
            (f, t.primal, ""),
            (f"grad_{f}", t.gradient, f"{r['gradient']:.2f} x {f}"),
            (f"value_and_grad_{f}", t.value_and_grad, f"{r['value_and_grad']:.2f} x {f}"),
        ]
        if t.naive is not None:
            rows.append((f"naive forward ({self.n} passes)", t.naive, f"{r['naive']:.2f} x {f}"))
        width = max(len(name) for name, _, _ in rows)
        lines = [f"time per call at {at} (median of {t.repeat} runs):"]
        for name, seconds, ratio in rows:
            lines.append(f"  {name:<{width}}  {_seconds(seconds):>9}  {ratio}".rstrip())
        return lines


def _number(value: Any) -> str:
    return repr(float(value)) if isinstance(value, (int, float)) else "array"


def _seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _table(columns: list[tuple[str, Counter[str]]]) -> list[str]:
    kinds = sorted(
        {k for _, c in columns for k in c},
        key=lambda k: (_ORDER.index(k) if k in _ORDER else len(_ORDER), k),
    )
    rows = [["operations", *(name for name, _ in columns)]]
    rows += [[f"  {k}", *(str(c.get(k, 0)) for _, c in columns)] for k in kinds]
    rows.append(["  total", *(str(sum(c.values())) for _, c in columns)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        (f"{r[0]:<{widths[0]}}" + "".join(f"  {c:>{w}}" for c, w in zip(r[1:], widths[1:])))
        for r in rows
    ]


def seconds_per_call(fn: Callable[..., Any], args: Sequence[Any], repeat: int = 7) -> float:
    """Median seconds per call of fn(*args), each run at least 5 ms long."""
    timer = timeit.Timer("fn(*args)", globals={"fn": fn, "args": tuple(args)})
    number = 1
    while timer.timeit(number) < 0.005:
        number *= 4
    return statistics.median(t / number for t in timer.repeat(repeat, number))


def measure(
    module: Any,
    function: str,
    point: Mapping[str, Any],
    tangent: Callable[..., tuple] | None = None,
    repeat: int = 7,
) -> Timing:
    """Time f, grad_f, value_and_grad_f and (given `tangent`) the naive gradient at `point`."""
    args = list(point.values())
    primal = seconds_per_call(getattr(module, function), args, repeat)
    gradient = seconds_per_call(getattr(module, f"grad_{function}"), args, repeat)
    both = seconds_per_call(getattr(module, f"value_and_grad_{function}"), args, repeat)
    naive = None
    if tangent is not None:
        naive = seconds_per_call(lambda *a: naive_gradient(tangent, a), args, repeat)
    return Timing(dict(point), primal, gradient, both, naive, repeat)


def timing_point(
    trace: Trace, primal: Callable[..., Any], given: Mapping[str, Any], filename: str = ""
) -> tuple[dict[str, Any] | None, str]:
    """Where to time a function: the given values (the rest from defaults), the defaults, or a
    random point where `primal` is defined; else None and why not."""
    if given or all(p in trace.defaults for p in trace.params):
        chosen = point(trace, given, filename)
        primal_values(trace, chosen, filename)  # a point outside the domain is a located error
        return chosen, ""
    if trace.arrays:
        return None, "pass NAME=VALUE for the array parameters to time it"
    found = random_points(primal, trace.params, trace.defaults, 1, seed=0)
    if not found:
        return None, f"found no point where `{trace.name}` is defined; pass NAME=VALUE"
    return found[0], ""


def cost_report(
    trace: Trace,
    source: str,
    module: Any | None = None,
    point: Mapping[str, Any] | None = None,
    timing_note: str = "",
    repeat: int = 7,
) -> CostReport:
    """The cost report of `trace`, whose generated module is `source`; timed at `point` when
    given with the loaded `module` (else `timing_note` says why not)."""
    name = trace.name
    tangent_ops: Counter[str] | None = None
    tangent = None
    if not trace.arrays:
        text = tangent_source(trace)
        tangent_ops = function_operations(text, "tangent")
        tangent = load_in_memory(text, f"{name}_tangent").tangent
    report = CostReport(
        name,
        trace.params,
        len(trace.steps),
        trace.edges,
        function_operations(source, name),
        function_operations(source, f"grad_{name}"),
        function_operations(source, f"value_and_grad_{name}"),
        tangent_ops,
        timing_note=timing_note,
        tangent_function=tangent,
    )
    if module is not None and point is not None:
        report.timing = measure(module, name, point, tangent, repeat)
    return report


def fitted_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of log y against log x: 1 for linear growth, 2 for quadratic."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    num = sum((a - mx) * (b - my) for a, b in zip(lx, ly))
    return num / sum((a - mx) ** 2 for a in lx)
