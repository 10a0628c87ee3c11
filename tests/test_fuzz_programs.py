"""Property-based tests: random programs of adc's language against independent oracles.

A hypothesis strategy writes whole source files: imports (`import math`, `import numpy as np`,
`import numpy`, `from math import sin, ...`, `from numpy import arcsin, ...`), module constants,
up to two helper functions and the main function `f` of one to four parameters, whose bodies mix
assignment, re-assignment and `+= -= *= /= **=` before the final `return`. Expressions nest
`+ - * / **` (constant exponents, and `c ** expr` for a positive constant `c`), unary `-` and
`+`, abs and every unary function in every spelling (`math.asin`, `np.arcsin`, `numpy.asin`,
bare `asin`), numbers, `pi`, `e`, `math.tau` and the module's constants, and calls of the
helpers (defaults, keywords). Names come from a pool full of what the emitter generates
(`grad_f`, `z1`, `v1`, `_t0`, `xbar`, `dx`, `math_`, a parameter called `math` or `abs`, ...).

For each program, at a point of [-2, 2]^d inside its domain:

- the source itself, run by plain Python on floats, gives the reference primal;
- the oracle gradient comes from running the same source with `math`, `numpy` and `abs`
  replaced by mpmath at 50 digits and differentiating numerically (`mpmath.diff`, one partial
  per parameter); constants stay the floats the source computes (`math.pi`, `math.sqrt(2)`),
  so the oracle differentiates the very function the source computes; it never uses adc;
- adc's generated module re-parses (`ast.parse`, `compile`), its `f` agrees with the source
  (rel 1e-9, abs 1e-12), its `grad_f` with the oracle (rel 1e-7, abs 1e-9) and its
  `value_and_grad_f` with both. A CompileError, a crash or an exception of generated code is a
  failure too.

Points (the first drawn by hypothesis, the others uniform from a seed it draws; coordinates are
0 or at least 1e-6 in magnitude) are rejected where the source raises or returns a complex,
non-finite or > 1e8 value, and where the point is not a fair test of float arithmetic:

- on floats or exactly, a function meets its singular point (sqrt(0), asin(1), 0 ** 0.5), as in
  `asin(tanh(40))` where tanh(40) is 1.0: the chain rule multiplies inf by 0 there;
- an intermediate is complex (`abs((-x) ** 1.5)` is real in Python);
- the source's float value is off its 50-digit value by more than a tenth of the tolerance;
- perturbing every result of the oracle by 1e-14 (some 90 rounding errors) moves its value or
  gradient by more than half the tolerance (cancellation);
- the gradient is a sum of contributions that cancel (`asin(u) / u` at u ~ 1e-16: the chain
  rule computes 1e16 - 1e16): 1e-14 times the sum over paths of |the product of the local
  partials| exceeds half the tolerance, so no float reverse sweep can meet it;
- the oracle gradient moves by more than 1e-4 (relatively) between the point and a point 1e-9
  away (kinks of abs, poles);
- mpmath.diff's gradient disagrees with forward mode at 50 digits (the chain rule on mpmath
  numbers, `Dual`): the function oscillates on a scale finer than mpmath.diff's step
  (`1e-30 * sin(2 ** 90x)`), so difference quotients cannot see its derivative;
- sin, cos or tan meets an argument beyond 1e30 (a float there says nothing about the exact
  value, and mpmath would need millions of digits of pi);
- a power is beyond 2 ** +-1100, far outside the float range (`10 ** (7 ** 10 ** 5)`,
  `x ** (7 ** 10 ** 5)`): Python would compute an int ** int exactly and mpmath an mpf ** int
  by repeated squaring, each for hours and gigabytes. Points are first run through the watched
  source, and Python runs the plain source only where no such power occurs.

A program is rejected as a whole (`assume`) when none of 20 points is valid, or when adc
proves at compile time that it always raises or leaves the reals (`1 / (x - x)`,
`t = (-2.5) ** 0.5`) and the source indeed does at 20 points.

The profile `ci` (used here) checks 2,000 programs from a fixed seed, reports a failing program
unshrunk, and requires every construct of REQUIRED_FEATURES among the programs checked; `long`
(ADC_FUZZ_EXAMPLES, default 100,000, random seed, shrinking) is what `make fuzz` runs, through
tools/fuzz_programs.py.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import operator
import os
import random
import sys
import tempfile
import traceback
import types
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy
import pytest
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

import ad_compiler

# ---------------------------------------------------------------------------------------------
# Tolerances and profiles
# ---------------------------------------------------------------------------------------------

PRIMAL_RTOL, PRIMAL_ATOL = 1e-9, 1e-12  # generated f against the source run by Python
GRAD_RTOL, GRAD_ATOL = 1e-7, 1e-9  # generated gradient against the 50-digit oracle
VALUE_LIMIT = 1e8  # |f| above this is rejected
COND_VALUE_RTOL, COND_VALUE_ATOL = PRIMAL_RTOL / 10, PRIMAL_ATOL / 10  # float source vs mpmath
COND_GRAD_RTOL, COND_GRAD_ATOL = 1e-4, GRAD_ATOL  # oracle gradient at x vs at x + ~1e-9
# The oracle with every result off by ~1e-14 (90 ulps) must stay within half the tolerances.
COND_ROUND_VALUE = (PRIMAL_RTOL / 2, PRIMAL_ATOL / 2)
COND_ROUND_GRAD = (GRAD_RTOL / 2, GRAD_ATOL / 2)
PERTURB = 1e-9
PERTURB_DIRECTION = (1.0, -0.8, 0.6, -0.9)  # a different step per parameter: off any diagonal
DOMAIN = 2.0  # each coordinate of a point is drawn from [-DOMAIN, DOMAIN] ...
TINY = 1e-6  # ... and is 0 or at least this large: see `points`
POINT_TRIES = 20  # points tried per program before the program is rejected
MP_DPS = 50

CI_EXAMPLES = 2000
MIN_ACCEPTED_FRACTION = 0.6  # checked programs / generated programs in the CI run

_PROFILE = dict(
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
    report_multiple_bugs=False,
)
# No shrinking in CI: one shrink step is a whole check, and hypothesis gives up after five
# minutes; the failing program is reported as generated (`make fuzz` shrinks).
settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    derandomize=True,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    **_PROFILE,
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("ADC_FUZZ_EXAMPLES", "100000")),
    derandomize=False,
    **_PROFILE,
)

# ---------------------------------------------------------------------------------------------
# The language, as the generator spells it
# ---------------------------------------------------------------------------------------------

FUNCTIONS = (
    "sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "asin", "acos", "atan",
    "abs",
)  # fmt: skip
MATH_NAMES = {fn: fn for fn in FUNCTIONS} | {"abs": "fabs"}
NUMPY_NAMES = {fn: fn for fn in FUNCTIONS} | {"asin": "arcsin", "acos": "arccos", "atan": "arctan"}
NUMPY_EXTRA = {"abs": ("absolute",), "asin": ("asin",), "acos": ("acos",), "atan": ("atan",)}

# Parameter and local names: plain ones and what the emitter generates.
VARIABLES = (
    "x", "y", "w", "a", "b", "t", "u", "x1", "x2", "w1", "w2",
    "f", "grad_f", "value_and_grad_f", "grad_g", "value_and_grad_g", "grad_h",
    "z1", "z2", "z3", "z4", "z10", "v0", "v1", "v2", "_t0", "_t1", "_t2",
    "xbar", "ybar", "z1bar", "z2bar", "w1bar", "x1bar", "dx", "dy", "dz1",
    "math_", "np_", "numpy_", "math", "np", "numpy", "abs", "builtins", "inf", "nan",
    "K", "SCALE",
)  # fmt: skip
# Helper function names (never `f`; `grad_<g>` is never chosen beside `<g>`).
HELPERS = ("g", "h", "helper", "grad_h", "value_and_grad_h", "z1", "v1", "_t0", "xbar", "dx")
CONSTANT_NAMES = ("K", "RATE", "C", "TWO_PI", "z4", "v2", "_t3", "dxbar", "SCALE", "grad_k")

INTS = (1, 2, 3, 4, 5, 7, 10)  # no literal 0: `x / 0` always raises
FLOATS = (0.5, 1.5, 0.1, 2.25, 0.75, 3.0, 1e-3, 0.3, 2.5)
EXPONENTS = (2, 3, -1, -2, -3, 0, 1, 4, 0.5, 1.5, -0.5, 2.5, -1.5, 2.0)
BASES = ("2", "3", "0.5", "1.5", "10")
AUGMENTED = ("+=", "-=", "*=", "/=", "**=")
PARTIAL = ("log", "sqrt", "asin", "acos")  # defined on part of the line only

# Weighted choices, the first entry being what hypothesis shrinks towards.
NODES = (
    ("binop",) * 9 + ("power",) * 3 + ("cpow",) + ("unary",) * 2 + ("call",) * 8 + ("helper",) * 2
)
# One table per depth, leaves first: 14%, 26%, 40%, 53%, 70% leaves, then only leaves (depth 5).
NODES_AT_DEPTH = tuple(("leaf",) * n + NODES for n in (4, 9, 17, 28, 58))
NUMBERS = ("int", "float", "constant")
STATEMENTS = ("assign",) * 3 + ("reassign",) * 2 + ("augment",) * 3

Draw = Callable[[st.SearchStrategy], Any]


@dataclass
class FileContext:
    """File-level choices: the import lines and what they make available."""

    math_alias: str | None = None  # 'math' after `import math`
    numpy_alias: str | None = None  # 'np' or 'numpy'
    bare: dict[str, str] = field(default_factory=dict)  # function -> bare name imported
    bare_constants: list[str] = field(default_factory=list)  # 'pi', 'e' imported bare
    lines: list[str] = field(default_factory=list)

    def bound(self) -> set[str]:
        """Names the imports bind at module level."""
        out = {a for a in (self.math_alias, self.numpy_alias) if a}
        return out | set(self.bare.values()) | set(self.bare_constants)

    def spellings(self, shadowed: set[str]) -> dict[str, list[str]]:
        """How each function can be called where the names `shadowed` are variables."""
        out: dict[str, list[str]] = {fn: [] for fn in FUNCTIONS}
        for fn in FUNCTIONS:
            if self.math_alias and self.math_alias not in shadowed:
                out[fn].append(f"{self.math_alias}.{MATH_NAMES[fn]}")
            if self.numpy_alias and self.numpy_alias not in shadowed:
                for name in (NUMPY_NAMES[fn], *NUMPY_EXTRA.get(fn, ())):
                    out[fn].append(f"{self.numpy_alias}.{name}")
            if fn in self.bare and self.bare[fn] not in shadowed:
                out[fn].append(self.bare[fn])
        if "abs" not in shadowed:
            out["abs"].append("abs")
        return out

    def named_constants(self, shadowed: set[str]) -> list[str]:
        """pi, e and tau as the imports spell them."""
        out = [c for c in self.bare_constants if c not in shadowed]
        if self.math_alias and self.math_alias not in shadowed:
            out += [f"{self.math_alias}.{c}" for c in ("pi", "e", "tau")]
        if self.numpy_alias and self.numpy_alias not in shadowed:
            out += [f"{self.numpy_alias}.{c}" for c in ("pi", "e")]
        return out


@dataclass
class Scope:
    """What an expression inside one function may use."""

    names: list[str]  # variables bound so far (parameters, assigned locals)
    constants: list[str]  # numbers by name: module constants, pi, math.e, ...
    positive: list[str]  # positive constants by name, for `c ** expr`
    spellings: dict[str, list[str]]  # function -> how to call it here
    helpers: list[tuple[str, list[str], int]]  # (name, parameters, how many have defaults)
    called: set[str] = field(default_factory=set)  # helpers called so far


_INTEGERS: dict[tuple[int, int], st.SearchStrategy[int]] = {}


def _integer(draw: Draw, low: int, high: int) -> int:
    """An integer of [low, high]; strategies are cached, as building one costs more than a draw."""
    strategy = _INTEGERS.get((low, high))
    if strategy is None:
        strategy = _INTEGERS[low, high] = st.integers(low, high)
    return draw(strategy)


def _choice(draw: Draw, options: Sequence[Any]) -> Any:
    return options[_integer(draw, 0, len(options) - 1)]


def _percent(draw: Draw) -> int:
    return _integer(draw, 0, 99)


def _some(draw: Draw, options: Sequence[Any], low: int, high: int) -> list[Any]:
    """Between low and high distinct elements of options."""
    pool = list(options)
    return [pool.pop(_integer(draw, 0, len(pool) - 1)) for _ in range(_integer(draw, low, high))]


def _imports(draw: Draw) -> FileContext:
    ctx = FileContext()
    if _percent(draw) < 65:
        ctx.math_alias = "math"
        ctx.lines.append("import math")
    numpy_kind = _percent(draw)
    if numpy_kind < 35:
        ctx.numpy_alias = "np"
        ctx.lines.append("import numpy as np")
    elif numpy_kind < 50:
        ctx.numpy_alias = "numpy"
        ctx.lines.append("import numpy")
    if _percent(draw) < 55:
        fns = _some(draw, FUNCTIONS, 1, 8)
        consts = [c for c in ("pi", "e") if _percent(draw) < 40]
        ctx.bare.update({fn: MATH_NAMES[fn] for fn in fns})
        ctx.bare_constants += consts
        names = sorted({MATH_NAMES[fn] for fn in fns} | set(consts))
        ctx.lines.append("from math import " + ", ".join(names))
    if _percent(draw) < 15:
        rest = [fn for fn in FUNCTIONS if fn not in ctx.bare and fn != "abs"]
        fns = _some(draw, rest, 1, 4)
        ctx.bare.update({fn: NUMPY_NAMES[fn] for fn in fns})
        ctx.lines.append("from numpy import " + ", ".join(NUMPY_NAMES[fn] for fn in fns))
    return ctx


def _module_constants(draw: Draw, ctx: FileContext, taken: set[str]) -> tuple[list[str], list[str]]:
    """Appends `NAME = constant` lines; returns (the names, the positive ones)."""
    names: list[str] = []
    positive: list[str] = []
    for _ in range(_integer(draw, 0, 3)):
        name = _choice(draw, [c for c in CONSTANT_NAMES if c not in taken and c not in names])
        named = ctx.named_constants(set())
        kinds = ["literal", "negative", "ratio"]
        kinds += (
            ["named"] * bool(named) + ["derived"] * bool(names) + ["sqrt"] * bool(ctx.math_alias)
        )
        kind = _choice(draw, kinds)
        if kind == "literal":
            text, pos = repr(_choice(draw, FLOATS + (1, 2, 3))), True
        elif kind == "negative":
            text, pos = f"-{_choice(draw, FLOATS)}", False
        elif kind == "ratio":
            text, pos = f"1 / {_choice(draw, (3, 7, 8))}", True
        elif kind == "named":
            text, pos = f"2 * {_choice(draw, named)}", True
        elif kind == "derived":
            other = _choice(draw, names)
            text, pos = f"{other} * {_choice(draw, (0.5, 2))} + 1", other in positive
        else:
            text, pos = f"{ctx.math_alias}.sqrt({_choice(draw, (2, 3, 0.5))})", True
        ctx.lines.append(f"{name} = {text}")
        names.append(name)
        if pos:
            positive.append(name)
    return names, positive


def _leaf(draw: Draw, scope: Scope, operand: bool = False) -> str:
    """A name (the newest twice as often: statements build on each other), or a number."""
    names = scope.names[::-1] + scope.names[:-3:-1]
    kind = _choice(draw, names if operand and names else names * 3 + list(NUMBERS))
    if kind not in NUMBERS:
        return kind
    if kind == "float":
        return repr(_choice(draw, FLOATS))
    if kind == "constant" and scope.constants:
        return _choice(draw, scope.constants)
    return repr(_choice(draw, INTS))


def _call(draw: Draw, scope: Scope, fn: str, arg: str) -> str:
    return f"{_choice(draw, scope.spellings[fn])}({arg})"


def _safe_call(draw: Draw, scope: Scope, fn: str, fns: list[str], depth: int) -> str:
    """A call of `fn` whose argument is mostly inside its domain."""
    u = _expr(draw, scope, depth + 1, True)
    square = f"({u} * {u} + {_choice(draw, (0.1, 0.5, 1))})"
    if fn in ("log", "sqrt"):
        if "abs" in fns and _percent(draw) < 50:
            arg = f"{_call(draw, scope, 'abs', u)} + {_choice(draw, (0.5, 0.25, 1))}"
        else:
            arg = square
    elif fn in ("asin", "acos"):
        squash = [g for g in ("tanh", "sin", "cos") if g in fns]
        if squash:
            arg = f"{_choice(draw, (0.5, 0.9, 1))} * {_call(draw, scope, _choice(draw, squash), u)}"
        else:
            arg = f"{u} / {square}"
    elif fn in ("exp", "sinh", "cosh"):
        squash = [g for g in ("tanh", "sin", "cos", "atan") if g in fns]
        arg = _call(draw, scope, _choice(draw, squash), u) if squash else f"-{square}"
    elif fn == "tan":
        arg = f"{u} / {square}"
    else:
        arg = u
    return _call(draw, scope, fn, arg)


def _helper_call(
    draw: Draw, scope: Scope, depth: int, helper: tuple[str, list[str], int] | None = None
) -> str:
    name, params, defaults = helper or _choice(draw, scope.helpers)
    scope.called.add(name)
    given_args = len(params) - (defaults if _percent(draw) < 15 else 0)
    args = [_expr(draw, scope, depth + 1) for _ in range(given_args)]
    if args and _percent(draw) < 25:
        args[-1] = f"{params[given_args - 1]}={args[-1]}"  # the last one by keyword
    return f"{name}({', '.join(args)})"


def _expr(draw: Draw, scope: Scope, depth: int = 0, operand: bool = False) -> str:
    """An expression nested at most 5 deep below `depth`.

    An `operand` (of a function, of `**`) is a name rather than a number when it is a leaf:
    functions of constants fold at compile time, and out of their domain make the whole file a
    compile error (`asin(3)`), which would waste the program.
    """
    kind = "leaf" if depth >= len(NODES_AT_DEPTH) else _choice(draw, NODES_AT_DEPTH[depth])
    if kind == "leaf":
        return _leaf(draw, scope, operand)
    fns = [fn for fn in FUNCTIONS if scope.spellings[fn]]
    if kind == "binop":
        op = _choice(draw, "+-*/")
        left, right = _expr(draw, scope, depth + 1), _expr(draw, scope, depth + 1)
        if op == "-" and left == right:
            right = f"0.5 * {right}"  # `t - t` is the constant 0: rarely wanted
        return f"({left} {op} {right})"
    if kind == "power":
        return f"({_expr(draw, scope, depth + 1, True)} ** {_choice(draw, EXPONENTS)})"
    if kind == "cpow":
        base = _choice(draw, BASES + tuple(scope.positive))
        return f"({base} ** {_expr(draw, scope, depth + 1, True)})"
    if kind == "unary":
        return f"({_choice(draw, '-+')}{_expr(draw, scope, depth + 1)})"
    if kind == "call" and fns:
        fn = _choice(draw, fns)
        if _percent(draw) < (50 if fn in PARTIAL else 20):
            return _safe_call(draw, scope, fn, fns, depth)
        return _call(draw, scope, fn, _expr(draw, scope, depth + 1, True))
    if kind == "helper" and scope.helpers:
        return _helper_call(draw, scope, depth)
    return _leaf(draw, scope, operand)


def _function(
    draw: Draw,
    ctx: FileContext,
    name: str,
    params: list[str],
    defaults: int,
    local_names: list[str],
    constants: tuple[list[str], list[str]],
    helpers: list[tuple[str, list[str], int]],
    reach: dict[str, set[str]] | None = None,
) -> tuple[str, set[str]]:
    """One function definition, statements then `return`, and the helpers it calls.

    With `reach` (each helper's callees), every helper is made reachable from this function.
    """
    targets = _some(draw, local_names, 0, 3)
    bound = set(params) | set(targets)  # Python makes these names local in the whole body
    scope = Scope(
        names=list(params),
        constants=[c for c in constants[0] if c not in bound] + ctx.named_constants(bound),
        positive=[c for c in constants[1] if c not in bound],
        spellings=ctx.spellings(bound),
        helpers=helpers,
    )
    body: list[str] = []
    for _ in range(_integer(draw, 0, 5)):
        kind = _choice(draw, STATEMENTS)
        fresh = [t for t in targets if t not in scope.names]
        if kind == "assign" and fresh:
            target = _choice(draw, fresh)
            body.append(f"{target} = {_expr(draw, scope)}")
            scope.names.append(target)
        elif kind == "reassign":
            body.append(f"{_choice(draw, scope.names)} = {_expr(draw, scope)}")
        else:
            target, op = _choice(draw, scope.names), _choice(draw, AUGMENTED)
            value = repr(_choice(draw, EXPONENTS)) if op == "**=" else _expr(draw, scope)
            if op == "-=" and value == target:
                value = f"0.5 * {value}"  # `t -= t` makes t the constant 0: rarely wanted
            body.append(f"{target} {op} {value}")
    result = _expr(draw, scope)
    for helper in helpers if reach is not None else ():
        reached = set(scope.called)
        for _ in helpers:
            reached |= {c for g in reached for c in reach[g]}  # type: ignore[index]
        if helper[0] not in reached:  # f calls every helper, directly or through another
            result = f"{result} + {_helper_call(draw, scope, 1, helper)}"
    body.append(f"return {result}")
    first_default = len(params) - defaults
    signature = [
        p if i < first_default else f"{p}={_choice(draw, (0.5, -1.25, 2, 0.3))}"
        for i, p in enumerate(params)
    ]
    text = "\n".join([f"def {name}({', '.join(signature)}):", *("    " + s for s in body)])
    return text, scope.called


def _helper_names(draw: Draw) -> list[str]:
    names: list[str] = []
    for _ in range(_integer(draw, 0, 2)):
        chosen = {"f", *names}
        options = [
            h
            for h in HELPERS
            if h not in chosen
            and not any(h in (f"grad_{g}", f"value_and_grad_{g}") for g in chosen)
            and not any(g in (f"grad_{h}", f"value_and_grad_{h}") for g in chosen)
        ]
        names.append(_choice(draw, options))
    return names


@st.composite
def programs(draw: Draw) -> str:
    """The source text of a random program of the language whose main function is `f`."""
    ctx = _imports(draw)
    helper_names = _helper_names(draw)
    constants = _module_constants(draw, ctx, ctx.bound() | set(helper_names))
    taken = ctx.bound() | set(helper_names)
    variables = [v for v in VARIABLES if v not in taken]
    local_names = [v for v in variables if v not in constants[0]]  # parameters may shadow them
    defs: list[str] = []
    helpers: list[tuple[str, list[str], int]] = []
    reach: dict[str, set[str]] = {}
    for name in helper_names:
        params = _some(draw, variables, 1, 3)
        defaults = _integer(draw, 0, 1)
        text, reach[name] = _function(
            draw, ctx, name, params, defaults, local_names, constants, list(helpers)
        )
        defs.append(text)
        helpers.append((name, params, defaults))
    params = _some(draw, variables, 1, 4)
    main, _ = _function(draw, ctx, "f", params, 0, local_names, constants, helpers, reach)
    defs = [main, *defs] if defs and _percent(draw) < 30 else [*defs, main]
    head = ["\n".join(ctx.lines)] if ctx.lines else []
    return "\n\n\n".join(head + defs) + "\n"


def _not_tiny(x: float) -> float:
    return x if x == 0 or abs(x) >= TINY else math.copysign(TINY, x)


@functools.cache
def points(n: int) -> st.SearchStrategy[tuple[float, ...]]:
    """A point of [-DOMAIN, DOMAIN]^n by hypothesis: its favourite floats (0, 1, 2, 1e-6 ...).

    Coordinates are 0 or of magnitude >= TINY: hypothesis likes magnitudes such as 1e-308,
    where squares and reciprocals in any gradient formula under- or overflow although the
    function is tame (`x / x` at 1e-200), a question of its own kept out of this property.
    """
    coordinate = st.floats(-DOMAIN, DOMAIN, allow_nan=False, allow_infinity=False).map(_not_tiny)
    return st.tuples(*[coordinate] * n)


class PointSource:
    """Points for one program: the first drawn by hypothesis, then uniform ones from a seed it
    draws (hypothesis's floats cluster on 0 and other special values, often repeating)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.rng: random.Random | None = None

    def __call__(self, n: int) -> tuple[float, ...]:
        if self.rng is None:
            seed = self.data.draw(st.integers(0, 2**32 - 1), label="seed of the later points")
            self.rng = random.Random(seed)
            return self.data.draw(points(n), label="first point tried")
        return tuple(_not_tiny(self.rng.uniform(-DOMAIN, DOMAIN)) for _ in range(n))


# ---------------------------------------------------------------------------------------------
# The oracles: the source run by Python on floats, and on mpmath numbers at 50 digits
# ---------------------------------------------------------------------------------------------

_MP_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "sin": mpmath.sin,
    "cos": mpmath.cos,
    "tan": mpmath.tan,
    "exp": mpmath.exp,
    "log": mpmath.log,
    "sqrt": mpmath.sqrt,
    "tanh": mpmath.tanh,
    "sinh": mpmath.sinh,
    "cosh": mpmath.cosh,
    "asin": mpmath.asin,
    "acos": mpmath.acos,
    "atan": mpmath.atan,
    "abs": mpmath.fabs,
}
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}
_AST_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
# The relative error each mpf result gets in the oracle's "rounded" mode: up to about 90 ulps,
# in a fixed pattern of signs and sizes (sizes differ, so neighbours cannot cancel exactly), so
# the oracle can estimate how float rounding moves the value and the gradient.
ROUNDING = 1e-14
_ROUNDING_STEPS = tuple(
    (1 if bit == "1" else -1) * (0.25 + 0.75 * (k * 0.6180339887498949 % 1))
    for k, bit in enumerate(f"{0x9E3779B97F4A7C15:064b}")
)
_OP = "oracle_op_"  # the name instrumented code calls; the generator never uses it


class _Instrument(ast.NodeTransformer):
    """Every `a op b` and `t op= b` of the source through the oracle's own operator."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        op = ast.Constant(_AST_OPERATORS[type(node.op)])
        return ast.Call(ast.Name(_OP, ast.Load()), [op, node.left, node.right], [])

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.stmt:
        self.generic_visit(node)
        assert isinstance(node.target, ast.Name)
        op = ast.Constant(_AST_OPERATORS[type(node.op)])
        load = ast.Name(node.target.id, ast.Load())
        value = ast.Call(ast.Name(_OP, ast.Load()), [op, load, node.value], [])
        return ast.Assign([ast.Name(node.target.id, ast.Store())], value)


@functools.lru_cache(maxsize=4)
def _instrumented(source: str) -> types.CodeType:
    tree = ast.fix_missing_locations(_Instrument().visit(ast.parse(source)))
    return compile(tree, "<fuzz oracle>", "exec")


# Beyond this, a float's sin/cos/tan says nothing about the exact one (its ulp exceeds 2 pi by
# far), and mpmath would reduce the argument with millions of digits of pi: minutes per call.
TRIG_LIMIT = mpmath.mpf(10) ** 30
# A power whose result is beyond 2 ** +-POWER_BITS is beyond the float range (2 ** 1024).
POWER_BITS = 1100


def _beyond_floats(a: Any, b: Any) -> bool:
    """Whether a ** b is beyond 2 ** +-POWER_BITS: Python computes an int ** int exactly (for
    hours when it is 10 ** (7 ** 10 ** 5)), and mpmath an mpf ** int by repeated squaring at a
    precision that grows with the exponent (gigabytes for the same exponent)."""
    real = (int, float, mpmath.mpf)
    if not isinstance(a, real) or not isinstance(b, real) or abs(b) <= 1 or a in (0, 1, -1):
        return False
    return abs(b) * abs(float(mpmath.log(abs(mpmath.mpf(a)), 2))) > POWER_BITS


class Traced:
    """The source's `f` run by Python with every operation watched; it never uses adc.

    The source is executed as written, except that each `+ - * / **` (and `op=`) goes through
    a function that computes it with Python's operator. With `exact`, math, numpy and abs are
    mpmath's on the values that depend on the inputs (mpf, at 50 digits), and in `rounded` mode
    every mpf result is perturbed by a relative ROUNDING; constants (`math.sqrt(2)`, `pi`) are
    the floats the source computes. Without `exact`, everything is the real math, numpy and abs.
    It remembers whether a function met its singular point (sqrt(0), asin(+-1), acos(+-1),
    0 ** k for k < 1), where the chain rule multiplies an infinite local derivative by zero,
    and whether an intermediate was complex (Python's `abs((-1.0) ** 1.5)` is real).
    """

    def __init__(self, source: str, exact: bool = True) -> None:
        self.exact = exact
        self.rounded = False
        self.count = 0
        self.singular = False
        self.complex = False
        self.beyond = False  # met sin/cos/tan of an argument beyond TRIG_LIMIT
        self.huge = False  # met a power beyond 2 ** +-POWER_BITS
        shims: dict[str, Any] = {}
        for lib, module in (("math", math), ("numpy", numpy)):
            names: dict[str, Any] = {}
            for fn in FUNCTIONS:
                spelled = [MATH_NAMES[fn]] if lib == "math" else [NUMPY_NAMES[fn]]
                for name in spelled + ([] if lib == "math" else list(NUMPY_EXTRA.get(fn, ()))):
                    names[name] = self._unary(fn, getattr(module, name))
            # pi is the source's float pi, not mpmath's: sin(pi) is 1.2e-16 in both
            known = [c for c in ("pi", "e", "tau") if hasattr(module, c)]
            constants = {c: float(getattr(module, c)) for c in known}
            shims[lib] = types.SimpleNamespace(**names, **constants)

        def import_(name: str, globals: Any = None, locals: Any = None, fromlist=(), level=0):
            if name in shims and not level:
                return shims[name]
            raise ImportError(f"the oracle knows only math and numpy, not {name}")

        namespace: dict[str, Any] = {
            "__name__": "fuzz_oracle",
            "__builtins__": {"__import__": import_, "abs": self._unary("abs", abs)},
            _OP: self._operator,
        }
        with mpmath.workdps(MP_DPS):  # module constants at 50 digits
            exec(_instrumented(source), namespace)
        self.f = namespace["f"]

    def __call__(self, *args: Any) -> Any:
        self.count = 0  # the same perturbation for the same operation at every point
        if not self.exact:
            return self.f(*args)
        with numpy.errstate(all="ignore"):  # np.sqrt(-1.0) of a constant: nan, rejected
            return self.f(*args)

    def _round(self, value: Any) -> Any:
        if isinstance(value, (complex, numpy.complexfloating, mpmath.mpc)):
            self.complex = True  # abs((-1.0) ** 1.5) is real: Python's, not the language's
        elif self.rounded and isinstance(value, mpmath.mpf):
            self.count += 1
            step = _ROUNDING_STEPS[self.count % len(_ROUNDING_STEPS)]
            return value * (1 + step * ROUNDING)
        return value

    def _unary(self, fn: str, real: Callable[[Any], Any]) -> Callable[[Any], Any]:
        exact = _MP_FUNCTIONS[fn]
        singular = {"sqrt": (0,), "asin": (-1, 1), "acos": (-1, 1)}.get(fn, ())

        def call(u: Any) -> Any:
            if isinstance(u, PathBound):
                return u.unary(fn)
            if u in singular:
                self.singular = True
            if self.exact and isinstance(u, (mpmath.mpf, mpmath.mpc)):
                if fn in ("sin", "cos", "tan") and abs(u) > TRIG_LIMIT:
                    self.beyond = True
                    raise ValueError(f"{fn} of an argument beyond 1e30")
                return self._round(exact(u))
            # A constant: computed as the source computes it (and adc folds it), on floats.
            value = real(u)
            return float(value) if self.exact and not isinstance(value, complex) else value

        return call

    def _operator(self, op: str, a: Any, b: Any) -> Any:
        if op == "**" and _beyond_floats(a, b):
            self.huge = True
            raise OverflowError("a power beyond 2 ** 1100")
        if op == "**" and a == 0 and isinstance(b, (int, float, mpmath.mpf)) and 0 != b < 1:
            self.singular = True
        return self._round(_OPERATORS[op](a, b))


class PathBound:
    """A value and, per input, the sum over all paths of |the product of the local partials|.

    Forward mode on absolute values: where the gradient is a sum of contributions that cancel
    (`asin(u) / u` at u = 1e-16: 1e16 - 1e16), any reverse sweep on floats loses about
    ROUNDING * this bound, however exactly the function itself is computed. The oracle's own
    rules, used only to reject such points; the gradient compared is mpmath.diff's.
    """

    __slots__ = ("value", "bound")

    def __init__(self, value: Any, bound: list[Any]) -> None:
        self.value, self.bound = value, bound

    @staticmethod
    def inputs(point: Sequence[float]) -> list[PathBound]:
        n = len(point)
        return [PathBound(mpmath.mpf(x), [mpmath.mpf(i == j) for j in range(n)]) for i, x in
                enumerate(point)]  # fmt: skip

    def _scaled(self, factor: Any) -> list[Any]:
        return [abs(factor) * b for b in self.bound]

    @staticmethod
    def _parts(other: Any) -> tuple[Any, list[Any] | None]:
        return (other.value, other.bound) if isinstance(other, PathBound) else (other, None)

    def _combine(self, value: Any, mine: Any, other: Any, their: Any) -> PathBound:
        bound = self._scaled(mine)
        _, other_bound = self._parts(other)
        if other_bound is not None:
            bound = [a + abs(their) * b for a, b in zip(bound, other_bound)]
        return PathBound(value, bound)

    def __add__(self, other: Any) -> PathBound:
        v, _ = self._parts(other)
        return self._combine(self.value + v, 1, other, 1)

    __radd__ = __add__

    def __sub__(self, other: Any) -> PathBound:
        v, _ = self._parts(other)
        return self._combine(self.value - v, 1, other, 1)

    def __rsub__(self, other: Any) -> PathBound:
        return PathBound(other - self.value, self.bound)

    def __mul__(self, other: Any) -> PathBound:
        v, _ = self._parts(other)
        return self._combine(self.value * v, v, other, self.value)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> PathBound:
        v, _ = self._parts(other)
        return self._combine(self.value / v, 1 / v, other, self.value / v**2)

    def __rtruediv__(self, other: Any) -> PathBound:
        return PathBound(other / self.value, self._scaled(other / self.value**2))

    def __pow__(self, k: Any) -> PathBound:
        return PathBound(self.value**k, self._scaled(k * self.value ** (k - 1)))

    def __rpow__(self, base: Any) -> PathBound:
        value = base**self.value
        return PathBound(value, self._scaled(mpmath.log(base) * value))

    def __neg__(self) -> PathBound:
        return PathBound(-self.value, self.bound)

    def __pos__(self) -> PathBound:
        return self

    def unary(self, fn: str) -> PathBound:
        u = self.value
        if fn in ("sin", "cos", "tan") and abs(u) > TRIG_LIMIT:
            raise ValueError(f"{fn} of an argument beyond 1e30")
        slope = {
            "sin": lambda: mpmath.cos(u),
            "cos": lambda: mpmath.sin(u),
            "tan": lambda: 1 + mpmath.tan(u) ** 2,
            "exp": lambda: mpmath.exp(u),
            "log": lambda: 1 / u,
            "sqrt": lambda: 1 / (2 * mpmath.sqrt(u)),
            "tanh": lambda: mpmath.sech(u) ** 2,
            "sinh": lambda: mpmath.cosh(u),
            "cosh": lambda: mpmath.sinh(u),
            "asin": lambda: 1 / mpmath.sqrt(1 - u * u),
            "acos": lambda: 1 / mpmath.sqrt(1 - u * u),
            "atan": lambda: 1 / (1 + u * u),
            "abs": lambda: 1,
        }[fn]()
        return PathBound(_MP_FUNCTIONS[fn](u), self._scaled(slope))


class Dual(PathBound):
    """Forward mode at 50 digits: a value and its exact derivative per input (the chain rule,
    signed). Used only to reject points where mpmath.diff's difference quotients cannot see
    the derivative: `sin(2 ** 90x) * 1e-30` oscillates with amplitude 1e-30 on a scale of
    1e-28, far below mpmath.diff's step, so its quotients report a derivative near 0 that the
    chain rule (and any AD tool) puts at O(1)."""

    __slots__ = ()

    def _scaled(self, factor: Any) -> list[Any]:
        return [factor * b for b in self.bound]

    def _combine(self, value: Any, mine: Any, other: Any, their: Any) -> PathBound:
        bound = self._scaled(mine)
        _, other_bound = self._parts(other)
        if other_bound is not None:
            bound = [a + their * b for a, b in zip(bound, other_bound)]
        return Dual(value, bound)

    @staticmethod
    def inputs(point: Sequence[float]) -> list[PathBound]:
        return [Dual(b.value, b.bound) for b in PathBound.inputs(point)]

    def __add__(self, other: Any) -> PathBound:
        return self._combine(self.value + self._parts(other)[0], 1, other, 1)

    __radd__ = __add__

    def __sub__(self, other: Any) -> PathBound:
        return self._combine(self.value - self._parts(other)[0], 1, other, -1)

    def __rsub__(self, other: Any) -> PathBound:
        return Dual(other - self.value, self._scaled(-1))

    def __mul__(self, other: Any) -> PathBound:
        v, _ = self._parts(other)
        return self._combine(self.value * v, v, other, self.value)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> PathBound:
        v, _ = self._parts(other)
        return self._combine(self.value / v, 1 / v, other, -self.value / v**2)

    def __rtruediv__(self, other: Any) -> PathBound:
        return Dual(other / self.value, self._scaled(-other / self.value**2))

    def __pow__(self, k: Any) -> PathBound:
        return Dual(self.value**k, self._scaled(k * self.value ** (k - 1)))

    def __rpow__(self, base: Any) -> PathBound:
        value = base**self.value
        return Dual(value, self._scaled(mpmath.log(base) * value))

    def __neg__(self) -> PathBound:
        return Dual(-self.value, self._scaled(-1))

    def unary(self, fn: str) -> PathBound:
        u = self.value
        if fn in ("sin", "cos", "tan") and abs(u) > TRIG_LIMIT:
            raise ValueError(f"{fn} of an argument beyond 1e30")
        slope = {
            "sin": lambda: mpmath.cos(u),
            "cos": lambda: -mpmath.sin(u),
            "tan": lambda: 1 + mpmath.tan(u) ** 2,
            "exp": lambda: mpmath.exp(u),
            "log": lambda: 1 / u,
            "sqrt": lambda: 1 / (2 * mpmath.sqrt(u)),
            "tanh": lambda: mpmath.sech(u) ** 2,
            "sinh": lambda: mpmath.cosh(u),
            "cosh": lambda: mpmath.sinh(u),
            "asin": lambda: 1 / mpmath.sqrt(1 - u * u),
            "acos": lambda: -1 / mpmath.sqrt(1 - u * u),
            "atan": lambda: 1 / (1 + u * u),
            "abs": lambda: mpmath.sign(u),
        }[fn]()
        return Dual(_MP_FUNCTIONS[fn](u), self._scaled(slope))


def forward_gradient(traced: Traced, point: Sequence[float]) -> list[Any] | None:
    """The gradient by forward mode at 50 digits (see Dual), or None where it fails."""
    traced.rounded = False
    with mpmath.workdps(MP_DPS):
        try:
            out = traced(*Dual.inputs(point))
        except (ArithmeticError, ValueError, TypeError):
            return None
    return out.bound if isinstance(out, PathBound) else [mpmath.mpf(0)] * len(point)


def path_bounds(traced: Traced, point: Sequence[float]) -> list[Any] | None:
    """Per input, the sum over paths of |products of local partials| (see PathBound)."""
    traced.rounded = False
    with mpmath.workdps(MP_DPS):
        try:
            out = traced(*PathBound.inputs(point))
        except (ArithmeticError, ValueError, TypeError):
            return None
    return out.bound if isinstance(out, PathBound) else [mpmath.mpf(0)] * len(point)


def float_singular(traced: Traced, point: Sequence[float]) -> bool:
    """Whether, on floats, a function meets its singular point (asin(tanh(40)) is asin(1.0))."""
    traced.singular = False
    with _errstate():
        try:
            traced(*point)
        except (ArithmeticError, ValueError):
            return True
    return traced.singular


def huge_power(traced: Traced, point: Sequence[float]) -> bool:
    """Whether the watched source meets a power beyond 2 ** +-1100 at `point` (where the plain
    source could compute an integer for hours)."""
    traced.huge = False
    with _errstate(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            traced(*point)
        except (ArithmeticError, ValueError, TypeError):
            pass
    return traced.huge


def _run_module(source: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"__name__": "fuzz_source"}
    exec(compile(source, "<fuzz source>", "exec"), namespace)
    return namespace["f"]


def plain_function(source: str) -> Callable[..., Any]:
    """The source's `f`, as Python runs it."""
    return _run_module(source)


def _errstate() -> Any:
    """NumPy raising, as math does, where it would otherwise warn and return inf or nan."""
    return numpy.errstate(over="raise", divide="raise", invalid="raise", under="ignore")


def plain_value(fn: Callable[..., Any], point: Sequence[float]) -> float | None:
    """fn(*point) by Python on floats; None where it raises or is not a real value <= 1e8."""
    with _errstate(), warnings.catch_warnings():
        warnings.simplefilter("error", numpy.exceptions.ComplexWarning)
        try:
            value = fn(*point)
        except (ArithmeticError, ValueError, numpy.exceptions.ComplexWarning):
            return None
        except TypeError as exc:  # math.sin of a complex intermediate, ...
            if "complex" not in str(exc):
                raise
            return None
    if isinstance(value, (complex, numpy.complexfloating)):
        return None
    value = float(value)
    if not math.isfinite(value) or abs(value) > VALUE_LIMIT:
        return None
    return value


def _real(value: Any) -> mpmath.mpf | None:
    if isinstance(value, (int, float)):
        return mpmath.mpf(value)
    if isinstance(value, mpmath.mpf) and mpmath.isfinite(value):
        return value
    return None  # complex, infinite or nan


def mp_value_and_grad(
    fn: Traced, point: Sequence[float], rounded: bool = False
) -> tuple[mpmath.mpf, list[mpmath.mpf]] | None:
    """fn and its partials at `point` by mpmath at 50 digits (mpmath.diff, one per parameter).

    None where either is not real, or where the value met a singular point of a function.
    """
    args = [mpmath.mpf(x) for x in point]
    fn.rounded = rounded
    fn.singular = fn.complex = False
    with mpmath.workdps(MP_DPS):
        try:
            value = _real(fn(*args))
            if value is None or fn.singular or fn.complex:
                return None
            grad = []
            for i in range(len(args)):

                def partial(t: Any, i: int = i) -> Any:
                    return fn(*args[:i], t, *args[i + 1 :])

                d = _real(mpmath.diff(partial, args[i]))
                if d is None:
                    return None
                grad.append(d)
        except (ArithmeticError, ValueError):
            return None
    return value, grad


def close(actual: float, expected: Any, rtol: float, atol: float) -> bool:
    """|actual - expected| <= atol + rtol * |expected|, actual a finite real."""
    if isinstance(actual, (complex, numpy.complexfloating)):
        return False
    actual = float(actual)
    expected = mpmath.mpf(expected)
    return math.isfinite(actual) and abs(actual - expected) <= atol + rtol * abs(expected)


@dataclass
class Reference:
    """What the oracles say at a valid point."""

    point: tuple[float, ...]
    value: float  # the source run by Python
    grad: list[mpmath.mpf]  # the mpmath gradient


def _agree(a: Sequence[Any], b: Sequence[Any], rtol: float, atol: float) -> bool:
    """Each b_i within atol + rtol * |a_i| of a_i (both mpmath numbers)."""
    return all(abs(x - y) <= atol + rtol * abs(x) for x, y in zip(a, b))


def reference(
    plain: Callable[..., Any],
    mp: Traced,
    floats: Traced,
    point: tuple[float, ...],
    stats: Counter,
) -> Reference | None:
    """The oracles at `point`, or None (counted in stats) where the point is not a fair test."""
    if huge_power(floats, point):
        stats["point rejected: a power beyond 2 ** +-1100"] += 1
        return None
    value = plain_value(plain, point)
    if value is None:
        stats["point rejected: the source raises, or its value is complex, inf or > 1e8"] += 1
        return None
    if float_singular(floats, point):
        stats["point rejected: on floats, sqrt(0.0), asin(1.0) ... on the way"] += 1
        return None
    exact = mp_value_and_grad(mp, point)
    if exact is None:
        if mp.beyond:
            stats["point rejected: sin, cos or tan of an argument beyond 1e30"] += 1
        elif mp.complex:
            stats["point rejected: a complex intermediate"] += 1
        elif mp.singular:
            stats["point rejected: sqrt(0), asin(1), 0 ** 0.5 ... on the way"] += 1
        else:
            stats["point rejected: the 50-digit value or gradient is not real"] += 1
        return None
    if not _agree([exact[0]], [value], COND_VALUE_RTOL, COND_VALUE_ATOL):
        stats["point rejected: the float source is off its 50-digit value"] += 1
        return None
    rounded = mp_value_and_grad(mp, point, rounded=True)
    if (
        rounded is None
        or not _agree([exact[0]], [rounded[0]], *COND_ROUND_VALUE)
        or not _agree(exact[1], rounded[1], *COND_ROUND_GRAD)
    ):
        stats["point rejected: rounding errors of 1e-14 move value or gradient"] += 1
        return None
    forward = forward_gradient(mp, point)
    if forward is None or not _agree(exact[1], forward, *COND_ROUND_GRAD):
        stats["point rejected: the function oscillates finer than mpmath.diff's step"] += 1
        return None
    bounds = path_bounds(mp, point)
    if bounds is None or not all(
        ROUNDING * b <= (GRAD_ATOL + GRAD_RTOL * abs(g)) / 2 for b, g in zip(bounds, exact[1])
    ):
        stats["point rejected: the gradient's paths cancel (asin(u) / u at u ~ 0)"] += 1
        return None
    moved = tuple(
        x + PERTURB * (abs(x) + 1e-3) * PERTURB_DIRECTION[i % len(PERTURB_DIRECTION)]
        for i, x in enumerate(point)
    )
    near = mp_value_and_grad(mp, moved)
    if near is None or not _agree(exact[1], near[1], COND_GRAD_RTOL, COND_GRAD_ATOL):
        stats["point rejected: the gradient changes 1e-9 away (kink, pole)"] += 1
        return None
    return Reference(point, value, exact[1])


# ---------------------------------------------------------------------------------------------
# The property
# ---------------------------------------------------------------------------------------------


class Mismatch(AssertionError):
    """adc's output disagrees with the oracles (or adc failed on a valid program)."""


def real_throughout(mp: Traced, point: Sequence[float]) -> bool:
    """Whether the source computes only real numbers at `point` (dead code included)."""
    mp.rounded = mp.complex = False
    with mpmath.workdps(MP_DPS):
        try:
            value = mp(*(mpmath.mpf(x) for x in point))
        except (ArithmeticError, ValueError):
            return False
    return _real(value) is not None and not mp.complex


# What adc reports when constant folding proves that a statement always raises (`1 / (x - x)`)
# or leaves the reals (`t = (-2.5) ** 0.5`, even where t is never used).
FOLDED_ERRORS = ("division by zero", "fails:", "is complex", "too large for a float")


def _fail(message: str, source: str, point: Sequence[float] | None = None) -> Mismatch:
    where = "" if point is None else f"\npoint: f{tuple(point)!r}"
    return Mismatch(f"{message}{where}\nprogram:\n{source}")


def _generated(call: Callable[[], Any], what: str, source: str, point: Sequence[float]) -> Any:
    """What generated code returns; an exception is a failure. NumPy's overflow and division
    warnings are not: inf from 1 + u * u (u = 1e200) in an adjoint can be the right answer."""
    with numpy.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call()
        except Exception as exc:  # any exception of generated code is a finding
            raise _fail(
                f"generated {what} raised {type(exc).__name__}: {exc}", source, point
            ) from exc


def compare(compiled: Any, source: str, ref: Reference) -> None:
    """Assert adc's f, grad_f and value_and_grad_f agree with the oracles at ref.point."""
    pt = ref.point
    n = len(pt)

    def grad_ok(grad: Any) -> bool:
        return (
            isinstance(grad, tuple)
            and len(grad) == n
            and all(close(g, e, GRAD_RTOL, GRAD_ATOL) for g, e in zip(grad, ref.grad))
        )

    expected = f"value {ref.value!r}, gradient {tuple(mpmath.nstr(g, 17) for g in ref.grad)}"
    value = _generated(lambda: compiled.f(*pt), "f", source, pt)
    if not close(value, ref.value, PRIMAL_RTOL, PRIMAL_ATOL):
        raise _fail(f"primal mismatch: f = {value!r}, expected {expected}", source, pt)
    grad = _generated(lambda: compiled.grad_f(*pt), "grad_f", source, pt)
    if not grad_ok(grad):
        raise _fail(f"gradient mismatch: grad_f = {grad!r}, expected {expected}", source, pt)
    both = _generated(lambda: compiled.value_and_grad_f(*pt), "value_and_grad_f", source, pt)
    if not (
        isinstance(both, tuple)
        and len(both) == 2
        and close(both[0], ref.value, PRIMAL_RTOL, PRIMAL_ATOL)
        and grad_ok(both[1])
    ):
        raise _fail(f"value_and_grad_f = {both!r}, expected {expected}", source, pt)


# What a checked program exercised; the CI run must exercise all of REQUIRED_FEATURES.
_SPELLING_TO_FUNCTION = (
    {f"math.{MATH_NAMES[fn]}": fn for fn in FUNCTIONS}
    | {f"{np}.{NUMPY_NAMES[fn]}": fn for fn in FUNCTIONS for np in ("np", "numpy")}
    | {f"{np}.{n}": fn for fn, ns in NUMPY_EXTRA.items() for n in ns for np in ("np", "numpy")}
    | {MATH_NAMES[fn]: fn for fn in FUNCTIONS}
    | {NUMPY_NAMES[fn]: fn for fn in FUNCTIONS}
    | {"abs": "abs"}
)
_EMITTER_NAMES = (
    "grad_f", "value_and_grad_f", "grad_g", "z1", "z2", "v1", "_t0", "_t1", "xbar", "z1bar",
    "w1bar", "dx", "math_", "np_", "math", "np", "numpy", "abs", "f",
)  # fmt: skip
_OPERATOR_NAMES = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
REQUIRED_FEATURES = (
    {f"function {fn}" for fn in FUNCTIONS}
    | {f"spelling {s}" for s in ("math.f", "np.f", "numpy.f", "bare f", "abs")}
    | {f"operator {op}" for op in ("+", "-", "*", "/", "**", "c ** expr", "unary -", "unary +")}
    | {f"statement {op}" for op in (*AUGMENTED, "assignment", "re-assignment")}
    | {f"name {n}" for n in _EMITTER_NAMES}
    | {"helper call", "helper calling a helper", "keyword argument", "default argument"}
    | {"module constant", "constant pi", "constant e", "constant tau", "3 or 4 parameters"}
    | {"import math", "import numpy as np", "import numpy", "from math import", "from numpy import"}
)


def features(source: str) -> set[str]:
    """The constructs of the language a program uses (see REQUIRED_FEATURES)."""
    tree = ast.parse(source)
    helpers = {d.name for d in tree.body if isinstance(d, ast.FunctionDef) and d.name != "f"}
    out: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                out.add(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
        elif isinstance(stmt, ast.ImportFrom):
            out.add(f"from {stmt.module} import")
        elif isinstance(stmt, ast.Assign):
            out.add("module constant")
        elif isinstance(stmt, ast.FunctionDef):
            params = [a.arg for a in stmt.args.args]
            if stmt.name == "f" and len(params) >= 3:
                out.add("3 or 4 parameters")
            if stmt.args.defaults:
                out.add("default argument")
            bound = set(params)
            for node in ast.walk(stmt):
                if isinstance(node, ast.Assign):
                    name = node.targets[0].id  # type: ignore[attr-defined]
                    out.add("statement " + ("re-assignment" if name in bound else "assignment"))
                    bound.add(name)
                elif isinstance(node, ast.AugAssign):
                    out.add(f"statement {_OPERATOR_NAMES[type(node.op)]}=")
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and (node.func.id in helpers)
                ):
                    out.add("helper call" if stmt.name == "f" else "helper calling a helper")
                    if node.keywords:
                        out.add("keyword argument")
            out |= {f"name {n}" for n in bound if n in _EMITTER_NAMES}
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            op = _OPERATOR_NAMES[type(node.op)]
            out.add(f"operator {op}")
            if op == "**" and not isinstance(node.right, (ast.Constant, ast.UnaryOp)):
                out.add("operator c ** expr")
        elif isinstance(node, ast.UnaryOp):
            out.add(f"operator unary {'-' if isinstance(node.op, ast.USub) else '+'}")
        elif isinstance(node, ast.Call):
            spelled = ast.unparse(node.func)
            fn = _SPELLING_TO_FUNCTION.get(spelled)
            if fn is not None:
                out.add(f"function {fn}")
                style = spelled.split(".")[0] + ".f" if "." in spelled else "bare f"
                out.add("spelling " + ("abs" if spelled == "abs" else style))
        elif isinstance(node, (ast.Name, ast.Attribute)):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in ("pi", "e", "tau") and not isinstance(getattr(node, "ctx", None), ast.Store):
                out.add(f"constant {name}")
    return out


def check_program(
    source: str,
    next_point: Callable[[int], tuple[float, ...]],
    stats: Counter,
    compile_source: Callable[..., Any] = ad_compiler.compile_source,
) -> tuple[float, ...] | None:
    """Compile `source`, check its output, and compare at the first valid point it is given.

    Returns the point checked, or None when no valid point was found (or adc proved at compile
    time that the program always raises). Raises Mismatch on any disagreement.
    """
    stats["programs"] += 1
    plain = plain_function(source)
    n = len(inspect.signature(plain).parameters)
    mp = Traced(source)
    floats = Traced(source, exact=False)
    try:
        compiled = compile_source(source, filename="fuzz.py")
    except Exception as exc:
        if not isinstance(exc, ad_compiler.CompileError):
            trace = "".join(traceback.format_exception(exc))
            raise _fail(f"adc crashed:\n{trace}", source) from exc
        if not any(text in exc.message for text in FOLDED_ERRORS):
            raise _fail(f"adc rejected a valid program:\n{exc}", source) from None
        for _ in range(POINT_TRIES):
            point = next_point(n)
            if huge_power(floats, point):
                continue
            if plain_value(plain, point) is not None and real_throughout(mp, point):
                raise _fail(f"adc rejected a program valid here:\n{exc}", source, point) from None
        stats["program rejected: adc proves it raises or leaves the reals"] += 1
        return None
    try:
        compile(compiled.source, "<generated>", "exec")  # parses it (no AST objects made)
    except SyntaxError as exc:
        raise _fail(f"generated source does not parse: {exc}\n{compiled.source}", source) from None
    for _ in range(POINT_TRIES):
        ref = reference(plain, mp, floats, next_point(n), stats)
        if ref is not None:
            compare(compiled, source, ref)
            stats["checked"] += 1
            stats.update(features(source))
            return ref.point
    stats["program rejected: no valid point"] += 1
    return None


def make_property(
    profile: str,
    stats: Counter,
    on_program: Callable[[Counter], None] | None = None,
    on_mismatch: Callable[[Mismatch], None] | None = None,
    keep_going: bool = False,
    **overrides: Any,
) -> Callable[[], None]:
    """The property as a hypothesis test of a settings profile (and overrides), counting into
    stats; on_program is called after each program, on_mismatch with each failure. With
    keep_going, a mismatch is counted (and passed to on_mismatch) but does not fail the run."""

    @settings(settings.get_profile(profile), **overrides)
    @given(source=programs(), data=st.data())
    def property_(source: str, data: st.DataObject) -> None:
        note(f"program:\n{source}")
        try:
            point = check_program(source, PointSource(data), stats)
        except Mismatch as exc:
            stats["mismatches"] += 1
            if on_mismatch is not None:
                on_mismatch(exc)
            if not keep_going:
                raise
            return
        finally:
            if on_program is not None:
                on_program(stats)
        assume(point is not None)

    return property_


COUNTS = ("programs", "checked", "mismatch", "point rejected", "program rejected")


def summary(stats: Counter) -> str:
    """The counts of a run (not the features), one `name: count` per line."""
    return "\n".join(f"{stats[k]:8d} {k}" for k in sorted(stats) if k.startswith(COUNTS))


def scratch_cache() -> tempfile.TemporaryDirectory:
    """A temporary directory for adc's generated modules (one file per program), in memory
    where there is a tmpfs: adc fsyncs every module it writes, 5 ms each on a disk."""
    shm = "/dev/shm"
    memory = os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK)
    return tempfile.TemporaryDirectory(prefix="adc-fuzz-", dir=shm if memory else None)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_random_programs_agree_with_the_oracles(monkeypatch) -> None:
    """The `ci` profile: 2,000 programs from a fixed seed, each checked at a valid point."""
    stats: Counter = Counter()
    with scratch_cache() as cache:
        monkeypatch.setattr(tempfile, "tempdir", cache)  # adc's module cache lives under it
        make_property("ci", stats)()
    counts = summary(stats)
    print(f"\nfuzz (ci):\n{counts}")
    assert stats["checked"] >= CI_EXAMPLES, counts
    assert stats["checked"] >= MIN_ACCEPTED_FRACTION * stats["programs"], counts
    assert stats["mismatches"] == 0, counts
    missing = sorted(f for f in REQUIRED_FEATURES if not stats[f])
    assert not missing, f"no checked program used: {missing}"


# The check itself: it must fail on wrong output, and its oracle must be right.

SQUARE = "import math\n\n\ndef f(x, y):\n    return math.sin(x) * y + x * x\n"
SQUARE_POINT = (0.5, -1.25)
SQUARE_VALUE = math.sin(0.5) * -1.25 + 0.25
SQUARE_GRAD = (math.cos(0.5) * -1.25 + 1.0, math.sin(0.5))


class FakeCompiled:
    """A stand-in for adc's output with chosen defects."""

    def __init__(self, value_error=0.0, grad_error=0.0, both_error=0.0, arity=2, crash=None):
        self.value_error, self.grad_error, self.both_error = value_error, grad_error, both_error
        self.arity, self.crash = arity, crash
        self.source = "def f(x, y):\n    return x\n"

    def f(self, x: float, y: float) -> float:
        return SQUARE_VALUE * (1 + self.value_error)

    def grad_f(self, x: float, y: float) -> tuple:
        if self.crash is not None:
            raise self.crash
        return tuple(g * (1 + self.grad_error) for g in SQUARE_GRAD)[: self.arity]

    def value_and_grad_f(self, x: float, y: float) -> tuple:
        return SQUARE_VALUE, tuple(g * (1 + self.both_error) for g in SQUARE_GRAD)


def _check_with(fake: Any) -> tuple[float, ...] | None:
    def compile_source(text: str, filename: str) -> Any:
        if isinstance(fake, Exception):
            raise fake
        return fake

    return check_program(SQUARE, lambda n: SQUARE_POINT, Counter(), compile_source)


def test_the_check_passes_right_output() -> None:
    assert _check_with(FakeCompiled()) == SQUARE_POINT
    assert _check_with(ad_compiler.compile_source(SQUARE, "square.py")) == SQUARE_POINT


@pytest.mark.parametrize(
    "fake, message",
    [
        (FakeCompiled(grad_error=1e-6), "gradient mismatch"),
        (FakeCompiled(grad_error=-2e-7), "gradient mismatch"),
        (FakeCompiled(value_error=1e-8), "primal mismatch"),
        (FakeCompiled(both_error=1e-6), "value_and_grad_f"),
        (FakeCompiled(arity=1), "gradient mismatch"),
        (FakeCompiled(crash=ZeroDivisionError("float division by zero")), "grad_f raised"),
        (ad_compiler.CompileError("unknown function `sin`", hint="-"), "rejected a valid"),
        (ad_compiler.CompileError("division by zero", hint="-"), "rejected a program valid"),
        (KeyError("z3"), "adc crashed"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_the_check_catches_wrong_output(fake: Any, message: str) -> None:
    with pytest.raises(Mismatch, match=message):
        _check_with(fake)


def test_the_oracle_is_right_by_hand() -> None:
    """The 50-digit oracle's value and gradient against the derivative worked out by hand."""
    value, grad = mp_value_and_grad(Traced(SQUARE), SQUARE_POINT)  # type: ignore[misc]
    assert abs(value - SQUARE_VALUE) < 1e-15
    assert all(abs(g - e) < 1e-15 for g, e in zip(grad, SQUARE_GRAD))
    with mpmath.workdps(MP_DPS):  # and exactly: cos(1/2) * (-5/4) + 1, sin(1/2)
        exact = (mpmath.cos(mpmath.mpf(1) / 2) * mpmath.mpf(-1.25) + 1, mpmath.sin(0.5))
        assert all(abs(g - e) < mpmath.mpf(10) ** -40 for g, e in zip(grad, exact))


@pytest.mark.parametrize(
    "source, point, reason",
    [
        ("import math\ndef f(x):\n    return math.log(x)\n", (-1.0,), "the source raises"),
        ("def f(x):\n    return 1 / x\n", (1e-9,), "> 1e8"),
        ("def f(x):\n    return abs(x) * 3\n", (0.0,), "changes 1e-9 away"),
        ("def f(x):\n    return (x + 1e5) - 1e5\n", (0.3,), "rounding errors"),
        # asin's slope at cos(x) ~ 1 - 5e-13 hangs on the last bits of cos(x)
        (
            "import math\ndef f(x):\n    return 1.5**x / math.asin(1 * math.cos(x))\n",
            (-1e-6,),
            "rounding",
        ),
        ("import math\ndef f(x):\n    return math.tan(x)\n", (1.5707963,), "changes 1e-9 away"),
        ("def f(x):\n    return (x + 1e20) - 1e20\n", (0.3,), "off its 50-digit value"),
        ("import math\ndef f(x):\n    return math.asin(math.tanh(x))\n", (40.0,), "on floats"),
        ("import math\ndef f(x):\n    return math.acos(x / x)\n", (0.7,), "on floats"),
        # on floats 5.6e-17 ** 0.5, exactly 0 ** 0.5
        ("def f(x):\n    return (((x + 0.1) - 0.1) - x) ** 0.5\n", (0.3,), "asin(1), 0 ** 0.5"),
        ("def f(x):\n    return abs((-x) ** 1.5)\n", (0.7,), "complex intermediate"),
        # 1 / (u sqrt(1 - u^2)) - asin(u) / u^2: 1e6 - 1e6
        ("import math\ndef f(x):\n    return math.asin(x) / x\n", (1e-6,), "paths cancel"),
        ("import math\ndef f(x):\n    return math.sin(x * 1e40) * 1e-50\n", (1.0,), "beyond 1e30"),
        # Python would compute 7 ** 100000 (84,510 digits), then 10 ** that: for ever
        ("def f(x):\n    return x * (10 ** (7 ** (10 ** 5)))\n", (1.0,), "power beyond"),
        ("def f(x):\n    return x ** (7 ** (10 ** 5))\n", (1.5,), "power beyond"),
        ("def f(x):\n    return 2 ** (x * 1e6)\n", (1.5,), "power beyond"),
    ],
)
def test_ill_conditioned_points_are_rejected(source: str, point: tuple, reason: str) -> None:
    stats: Counter = Counter()
    plain = plain_function(source)
    assert reference(plain, Traced(source), Traced(source, exact=False), point, stats) is None
    assert [k for k in stats if reason in k], stats


def test_a_program_with_a_huge_int_power_is_rejected_without_running_it() -> None:
    # adc rejects the constant; the check then asks the source whether it raises everywhere,
    # and the plain source would compute 10 ** (7 ** 100000) exactly, for ever.
    source = "def f(x):\n    t = 7 ** (10 ** 5)\n    return x * (10 ** t)\n"
    stats: Counter = Counter()
    assert check_program(source, lambda n: (1.5,) * n, stats) is None
    assert stats["program rejected: adc proves it raises or leaves the reals"] == 1, stats


def test_path_bounds_add_the_absolute_contributions() -> None:
    source = "import math\ndef f(x, y):\n    return math.sin(x) * y - (x - y) / y\n"
    bounds = path_bounds(Traced(source), (0.5, -2.0))
    assert bounds is not None
    # d/dx: cos(x) y and 1/y; d/dy: sin(x), then 1/y and (x - y)/y^2 (two paths to y)
    expected = (abs(math.cos(0.5) * -2.0) + 0.5, math.sin(0.5) + 0.5 + 2.5 / 4)
    assert all(abs(b - e) < 1e-14 for b, e in zip(bounds, expected)), bounds


def test_points_where_the_two_oracles_disagree_are_rejected(monkeypatch) -> None:
    # mpmath.diff's quotients cannot see an oscillation finer than their step; forward mode
    # can. Where they disagree, the point is rejected rather than blamed on adc.
    source = "import math\ndef f(x):\n    return math.sin(x) * x\n"
    args = (plain_function(source), Traced(source), Traced(source, exact=False), (0.5,))
    assert reference(*args, Counter()) is not None
    monkeypatch.setattr(
        sys.modules[__name__], "forward_gradient", lambda traced, point: [mpmath.mpf(1e-3)]
    )
    stats: Counter = Counter()
    assert reference(*args, stats) is None
    assert list(stats) == ["point rejected: the function oscillates finer than mpmath.diff's step"]


def test_forward_mode_oracle_is_the_chain_rule() -> None:
    source = "import math\ndef f(x, y):\n    return math.cos(x * y) / (1 + x) - math.acos(y / 3)\n"
    x, y = 0.7, -1.3
    dx = -math.sin(x * y) * y / (1 + x) - math.cos(x * y) / (1 + x) ** 2
    dy = -math.sin(x * y) * x / (1 + x) + 1 / (3 * math.sqrt(1 - (y / 3) ** 2))
    got = forward_gradient(Traced(source), (x, y))
    assert got is not None
    assert [float(g) for g in got] == pytest.approx([dx, dy], rel=1e-14)


def test_constants_are_the_sources_floats() -> None:
    """sin(pi) is 1.2246e-16 for the source, for adc's folding, and so for the oracle."""
    source = "import math\ndef f(x):\n    return math.sin(math.pi) * x + math.sqrt(2) ** 2\n"
    value, grad = mp_value_and_grad(Traced(source), (1.0,))  # type: ignore[misc]
    assert grad[0] == math.sin(math.pi)
    with mpmath.workdps(MP_DPS):
        assert value == mpmath.mpf(math.sin(math.pi)) + mpmath.mpf(math.sqrt(2) ** 2)


def test_well_conditioned_points_are_accepted() -> None:
    stats: Counter = Counter()
    source = "import math\ndef f(x):\n    return math.asin(math.tanh(x)) + abs(x) ** 0.5\n"
    ref = reference(
        plain_function(source), Traced(source), Traced(source, exact=False), (3.0,), stats
    )
    assert ref is not None, stats
    assert abs(ref.grad[0] - (1 / math.cosh(3.0) + 0.5 / math.sqrt(3.0))) < 1e-14


def test_generated_programs_are_in_the_language() -> None:
    """Every program of a small sample runs under plain Python and uses only what it imports."""

    @settings(max_examples=200, derandomize=True, deadline=None, database=None)
    @given(programs())
    def run(source: str) -> None:
        ast.parse(source)
        assert "def f(" in source
        plain_function(source)  # module-level code (imports, constants) runs
        Traced(source)

    run()
