"""THE parametrised test over the table of primitives, `ad_compiler.rules.RULES`.

For every op, tiny one-step traces are built by hand (ir.Step / ir.Trace) for several choices
of params, and the rule is held against an independent reference written here with `math`:

(a) `rule.primal(step)`, evaluated with `ir.evaluate`, equals the reference value;
(b) the local partials that `rule.contributions` produces (adjoint = 1, temporaries defined
    first, in order) equal 4th-order central finite differences of the reference along each
    input, to rtol 1e-7;
(c) along a random direction the directional derivative from the partials equals the
    finite-difference directional derivative, and the first-order Taylor remainder shrinks
    like h^2 (a second-order check).

The reference functions take the namespace `m` they compute with: `math` for the values in
(a), and `mpmath` (at 40 digits) for the finite differences, so that the differences carry no
floating-point noise and the comparison measures the rule, not the step size.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np
import pytest

from ad_compiler import ir
from ad_compiler.rules import RULES

# ---------------------------------------------------------------------------------------------
# The independent reference: op -> f(m, params, xs), with m the math namespace to compute in
# ---------------------------------------------------------------------------------------------

Reference = Callable[[Any, tuple, Sequence[Any]], Any]

_H: dict[str, Callable[[Any, Any], Any]] = {
    "sin": lambda m, u: m.sin(u),
    "cos": lambda m, u: m.cos(u),
    "tan": lambda m, u: m.tan(u),
    "exp": lambda m, u: m.exp(u),
    "log": lambda m, u: m.log(u),
    "sqrt": lambda m, u: m.sqrt(u),
    "tanh": lambda m, u: m.tanh(u),
    "sinh": lambda m, u: m.sinh(u),
    "cosh": lambda m, u: m.cosh(u),
    "asin": lambda m, u: m.asin(u),
    "acos": lambda m, u: m.acos(u),
    "atan": lambda m, u: m.atan(u),
    "abs": lambda m, u: m.fabs(u),
}


def _unary_reference(h: Callable[[Any, Any], Any]) -> Reference:
    return lambda m, params, xs: h(m, params[0] * xs[0] + params[1])


def _affine(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    out = params[0]
    for c, x in zip(params[1:], xs):
        out = out + c * x
    return out


def _product(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    out = 1
    for p, x in zip(params, xs):
        out = out * x**p
    return out


def _cpow(m: Any, params: tuple, xs: Sequence[Any]) -> Any:
    scale, offset, _lib, base = params
    return m.exp((scale * xs[0] + offset) * m.log(base))


REFERENCE: dict[str, Reference] = {
    "affine": _affine,
    "product": _product,
    "cpow": _cpow,
    **{fn: _unary_reference(h) for fn, h in _H.items()},
}

# ---------------------------------------------------------------------------------------------
# The cases: param choices per op, and where to sample the inputs
# ---------------------------------------------------------------------------------------------

# Where u = scale * x + offset is sampled, per unary function (well inside the domain).
_U_DOMAIN: dict[str, tuple[float, float]] = {
    "sin": (-3.0, 3.0),
    "cos": (-3.0, 3.0),
    "tan": (-1.3, 1.3),
    "exp": (-3.0, 3.0),
    "log": (0.2, 5.0),
    "sqrt": (0.2, 5.0),
    "tanh": (-2.0, 2.0),
    "sinh": (-2.5, 2.5),
    "cosh": (-2.5, 2.5),
    "asin": (-0.9, 0.9),
    "acos": (-0.9, 0.9),
    "atan": (-3.0, 3.0),
    "abs": (0.1, 3.0),  # either sign; away from the kink
    "cpow": (-2.0, 2.0),
}

_UNARY_PARAMS = [
    (1, 0, "math"),
    (1, 0, "numpy"),
    (2.5, -0.3, "math"),
    (-0.7, 0.4, "numpy"),
    (-1, 0, "math"),
    (0.5, 1.25, "math"),
]

CASES: dict[str, list[tuple]] = {
    "affine": [
        (0.0,),  # no terms: a constant
        (-2.5,),
        (0, 1),  # one term
        (1.5, -3.0),
        (0, 0.25),
        (0, 1, 1),  # two terms
        (0, 1, -1),
        (-1.5, 0.5, -0.25),
        (2, 1 / 3, -2.0),
        (3, 2, -1, 0.1),  # three terms
    ],
    "product": [
        (2,),  # one factor
        (-2,),
        (0.5,),
        (-1,),
        (1, 1),  # two factors
        (1, -1),
        (2, -0.5),
        (1, 1, 1),  # three factors
        (-2, 3, 0.5),
        (-1, -2, -1),
        (1, 1, 1, 1),  # the last direct product
        (1, -1, 2, 1),
        (1, 1, 1, 1, 1),  # the first prefix-product one
        (2, -1, 1, 0.5, -0.5),
        (1, 1, 1, 1, 1, 1),  # six factors
        (1, -1, 2, 0.5, -0.5, 3),
        (-1, -1, -2, -1, -0.5, -3),
        (3, 1, 1, 1, 1, 1, 1, 1),
    ],
    "cpow": [
        (1, 0, "math", 2.0),
        (-0.5, 1.5, "math", 10.0),
        (2, 0.3, "math", 0.5),
        (1.5, -1, "math", math.e),
        (1, 0, "numpy", 3.0),
    ],
    **{fn: list(_UNARY_PARAMS) for fn in _H},
}
CASES["abs"] += [(1, 0, "builtins"), (-2, 0.5, "builtins")]

# Points with a known subgradient: op -> [(u, expected dz/du)] (abs: 0 at the kink).
SUBGRADIENTS: dict[str, list[tuple[float, float]]] = {"abs": [(0.0, 0.0)]}

POINTS = 4
RTOL = 1e-7
ATOL = 1e-12


def _arity(op: str, params: tuple) -> int:
    if op == "affine":
        return len(params) - 1
    if op == "product":
        return len(params)
    return 1


def _sample(op: str, params: tuple, rng: random.Random) -> list[float]:
    """A random point inside the domain of the step."""
    if op == "affine":
        return [rng.uniform(-3, 3) for _ in range(_arity(op, params))]
    if op == "product":
        fractional = any(not float(p).is_integer() for p in params)
        out = []
        for _ in params:
            x = rng.uniform(0.3, 1.8)
            out.append(x if fractional or rng.random() < 0.5 else -x)
        return out
    lo, hi = _U_DOMAIN[op]
    u = rng.uniform(lo, hi)
    if op == "abs" and rng.random() < 0.5:
        u = -u
    scale, offset = params[0], params[1]
    return [(u - offset) / scale]


# ---------------------------------------------------------------------------------------------
# Running one rule on one point
# ---------------------------------------------------------------------------------------------


def _trace(op: str, params: tuple) -> ir.Trace:
    """A one-step trace z_1 = op[params](inputs), inputs v_{1-d}..v_0."""
    d = _arity(op, params)
    names = tuple(f"x{i}" for i in range(d))
    inputs = tuple(i - d + 1 for i in range(d))
    step = ir.Step(1, op, inputs, params)
    trace = ir.Trace("t", names, [step], output=1)
    assert list(step.args) == trace.inputs
    return trace


def _run(step: ir.Step, xs: Sequence[float], gbar: float) -> tuple[Any, list[Any], list[Any]]:
    """(primal value, contributions per argument, `partial` fields per argument)."""
    rule = RULES[step.op]
    env: dict[Any, Any] = {ir.Var(a): x for a, x in zip(step.args, xs)}
    value = ir.evaluate(rule.primal(step), env)
    env[ir.Var(step.index)] = value
    env[ir.Var(step.index, True)] = gbar
    counter = itertools.count(1)

    def fresh() -> ir.Temp:
        return ir.Temp(next(counter))

    temps, edges = rule.contributions(step, ir.Var(step.index, True), fresh)
    for temp, expr in temps:
        assert temp not in env, f"temporary {temp} defined twice"
        env[temp] = ir.evaluate(expr, env)
    positions = sorted(i for i, _, _ in edges)
    assert positions == list(range(len(step.args))), f"edges cover positions {positions}"
    contrib: list[Any] = [None] * len(step.args)
    partial: list[Any] = [None] * len(step.args)
    for i, expr, d in edges:
        contrib[i] = ir.evaluate(expr, env)
        partial[i] = None if d is None else ir.evaluate(d, env)
    return value, contrib, partial


def _close(actual: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    actual, expected = float(actual), float(expected)
    return math.isfinite(actual) and abs(actual - expected) <= atol + rtol * abs(expected)


def _fd4(phi: Callable[[Any], Any], h: Any) -> Any:
    """phi'(0) by the 4th-order central difference."""
    return (-phi(2 * h) + 8 * phi(h) - 8 * phi(-h) + phi(-2 * h)) / (12 * h)


# ---------------------------------------------------------------------------------------------
# THE test
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", sorted(RULES))
def test_rule_against_independent_reference(op: str) -> None:
    # Every op of the table has cases and a reference here, and nothing else does: a primitive
    # added to RULES without a test here fails.
    assert set(CASES) == set(RULES), f"untested: {set(RULES) - set(CASES)}"
    assert set(REFERENCE) == set(RULES), f"no reference: {set(RULES) - set(REFERENCE)}"
    assert CASES[op], f"no param choices for {op}"
    reference = REFERENCE[op]
    rng = random.Random(f"rules-{op}")
    mp = mpmath.mp.clone()
    mp.dps = 40
    h = mp.mpf("1e-8")
    checked = kinks = 0
    for params in CASES[op]:
        step = _trace(op, params).steps[0]
        samples: list[tuple[list[float], Any, list[Any]]] = []
        mparams = tuple(mp.mpf(p) if isinstance(p, (int, float)) else p for p in params)
        for _ in range(POINTS):
            xs = _sample(op, params, rng)
            where = f"{op}{params} at {xs}"
            value, contrib, partial = _run(step, xs, 1.0)

            # (a) the primal
            expected = reference(math, params, xs)
            assert _close(value, expected, 1e-12, 1e-14), f"{where}: value {value} != {expected}"

            # (b) each partial against finite differences of the reference
            mxs = [mp.mpf(x) for x in xs]

            def f_at(point: Sequence[Any], mparams: tuple = mparams) -> Any:
                return reference(mp, mparams, point)

            for i in range(len(xs)):

                def along_i(t: Any, i: int = i, mxs: list = mxs) -> Any:
                    return f_at([x + t if j == i else x for j, x in enumerate(mxs)])

                fd = _fd4(along_i, h)
                assert _close(contrib[i], fd), f"{where}: d/dx{i} {contrib[i]} != fd {fd}"
                if partial[i] is not None:
                    assert _close(partial[i], contrib[i], 1e-15, 0), f"{where}: partial field"
                direct = ir.evaluate(RULES[op].partial(step, i), _env(step, xs, value))
                assert _close(direct, fd), f"{where}: rule.partial({i}) {direct} != fd {fd}"

            # the contributions are linear in the step's adjoint
            gbar = -1.75
            _, scaled, _ = _run(step, xs, gbar)
            for i in range(len(xs)):
                assert _close(scaled[i], gbar * contrib[i], 1e-12, 1e-15), f"{where}: zbar"

            # (c) along a random direction: directional derivative and Taylor remainder
            direction = [rng.gauss(0, 1) for _ in xs]
            norm = math.sqrt(sum(c * c for c in direction)) or 1.0
            direction = [c / norm for c in direction]
            slope = sum(g * c for g, c in zip(contrib, direction))

            def along(t: Any, direction: list = direction, mxs: list = mxs) -> Any:
                return f_at([x + t * c for x, c in zip(mxs, direction)])

            fd_slope = (along(h) - along(-h)) / (2 * h)
            assert _close(slope, fd_slope), f"{where}: slope {slope} != fd {fd_slope}"
            f0 = along(mp.mpf(0))

            def remainder(t: Any, f0: Any = f0, slope: float = slope) -> Any:
                return abs(along(t) - f0 - t * mp.mpf(slope))

            t = mp.mpf("1e-3")
            r1, r2 = remainder(t), remainder(t / 2)
            noise = t * 1e-13 * (1 + sum(abs(g) for g in contrib))
            assert r2 <= r1 / 3 or r1 <= noise, f"{where}: Taylor remainder {r1} -> {r2}"
            checked += 1
            samples.append((xs, value, contrib))

        # with lib "numpy" the step works elementwise on arrays, as numpy code must
        if "numpy" in params:
            arrays = [np.array([xs[i] for xs, _, _ in samples]) for i in range(len(step.args))]
            value, contrib, _ = _run(step, arrays, 1.0)
            assert np.allclose(value, [v for _, v, _ in samples], rtol=1e-13, atol=0)
            for i in range(len(step.args)):
                expected_i = [float(c[i]) for _, _, c in samples]
                assert np.allclose(contrib[i], expected_i, rtol=1e-13, atol=1e-300), f"{params}"

        # the subgradient at a kink
        for u, expected_du in SUBGRADIENTS.get(op, []):
            scale, offset = params[0], params[1]
            x = (u - offset) / scale
            if scale * x + offset != u:  # the kink is not exactly representable here
                continue
            _, contrib, _ = _run(step, [x], 1.0)
            assert contrib[0] == scale * expected_du, f"{op}{params} at u={u}: {contrib[0]}"
            kinks += 1
    assert checked >= 3 * len(CASES[op])
    assert kinks >= len(SUBGRADIENTS.get(op, [])), f"no kink of {op} was checked"


def _env(step: ir.Step, xs: Sequence[float], value: Any) -> dict[Any, Any]:
    env: dict[Any, Any] = {ir.Var(a): x for a, x in zip(step.args, xs)}
    env[ir.Var(step.index)] = value
    return env
