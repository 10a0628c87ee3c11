"""Loops, branches and comparisons in scalar code: the generated f computes what the source
computes, and grad_f is the derivative of the path that runs, against mpmath.

The oracle runs the source itself with `math` replaced by mpmath's functions at 50 digits and
differentiates it numerically (`mpmath.diff`), one partial per float parameter; integer
parameters (trip counts) stay ints. It never uses adc.
"""

from __future__ import annotations

import math
import types
from typing import Any

import mpmath
import pytest

import ad_compiler
from ad_compiler.core.errors import CompileError
from tests.docs import block

_MP = types.SimpleNamespace(
    **{
        name: getattr(mpmath, name)
        for name in ("sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "atan", "cosh", "sinh")
    },
    fabs=mpmath.fabs,
    pi=math.pi,
    e=math.e,
)


def _import(name: str, *args: Any, **kwargs: Any) -> Any:
    if name == "math":
        return _MP
    raise ImportError(name)


def oracle(source: str, name: str, args: tuple) -> list[Any]:
    """d name/d each float argument at `args`, by mpmath.diff on the source at 50 digits."""
    namespace: dict[str, Any] = {
        "__builtins__": {
            "__import__": _import,
            "abs": abs,
            "range": range,
            "max": max,
            "min": min,
            "len": len,
        }
    }
    exec(compile(source, "<oracle>", "exec"), namespace)
    fn = namespace[name]
    grads = []
    with mpmath.workdps(50):
        point = [mpmath.mpf(a) if isinstance(a, float) else a for a in args]
        for i, a in enumerate(args):
            if not isinstance(a, float):
                grads.append(None)
                continue

            def partial(t: Any, i: int = i) -> Any:
                return fn(*point[:i], t, *point[i + 1 :])

            grads.append(mpmath.diff(partial, point[i]))
    return grads


def plain(source: str, name: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(source, "<source>", "exec"), namespace)
    return namespace[name]


def check(source: str, points: list[tuple], name: str = "f") -> ad_compiler.api.Compiled:
    """Compile `source`; at each point, f equals the source bit for bit and grad_f matches
    the oracle (rel 1e-9); value_and_grad_f gives both."""
    compiled = ad_compiler.compile_source(source, "cf.py")
    mod = compiled.load_in_memory()
    f, grad_f, both = (getattr(mod, p + name) for p in ("", "grad_", "value_and_grad_"))
    reference = plain(source, name)
    for point in points:
        expected = reference(*point)
        assert f(*point) == expected, (point, f(*point), expected)
        grads = grad_f(*point)
        value, grads2 = both(*point)
        assert value == expected
        assert grads == grads2
        for g, o in zip(grads, oracle(source, name, point)):
            if o is None:
                assert g == 0.0
                continue
            assert abs(g - float(o)) <= 1e-9 * max(1.0, abs(float(o))), (point, grads, o)
    return compiled


def test_for_range_sum() -> None:
    check(
        "import math\n\ndef f(x, n):\n    s = 0.0\n    for i in range(n):\n"
        "        s = s + math.sin(x * i)\n    return s\n",
        [(0.7, 0), (0.7, 1), (0.3, 5), (-1.2, 12)],
    )


def test_if_else_is_the_path_that_runs() -> None:
    source = (
        "def f(x):\n    if x > 0:\n        y = x * x\n    else:\n        y = -x\n    return y + 1\n"
    )
    compiled = check(source, [(1.5,), (-0.5,)])
    # at the boundary, the derivative of the branch taken (`x > 0` is false at 0): -1
    assert compiled.load_in_memory().grad_f(0.0) == (-1.0,)


def test_huber_with_returns_in_branches() -> None:
    source = (
        "def f(r, delta=1.0):\n"
        "    if abs(r) <= delta:\n"
        "        return 0.5 * r * r\n"
        "    elif r > 0:\n"
        "        return delta * (r - 0.5 * delta)\n"
        "    else:\n"
        "        return delta * (-r - 0.5 * delta)\n"
    )
    check(source, [(0.3, 1.0), (2.5, 1.0), (-3.0, 0.5), (0.2, 0.1)])


def test_while_newton_sqrt() -> None:
    source = (
        "def f(a, tol=1e-12):\n"
        "    x = a\n"
        "    while abs(x * x - a) > tol:\n"
        "        x = x - (x * x - a) / (2 * x)\n"
        "    return x\n"
    )
    compiled = check(source, [(2.0, 1e-12), (9.0, 1e-12), (0.25, 1e-12)])
    g = compiled.load_in_memory().grad_f(2.0, 1e-12)[0]
    assert abs(g - 0.5 / math.sqrt(2.0)) < 1e-12


def test_break_and_continue() -> None:
    source = (
        "def f(x, n):\n"
        "    s = 1.0\n"
        "    for i in range(n):\n"
        "        if i == 2:\n"
        "            continue\n"
        "        s = s * x + 1\n"
        "        if s > 10:\n"
        "            break\n"
        "    return s\n"
    )
    check(source, [(1.5, 20), (0.5, 20), (3.0, 4), (1.1, 0)])


def test_nested_loops_and_integer_arithmetic() -> None:
    source = (
        "def f(x, y, n):\n"
        "    s = 0.0\n"
        "    for i in range(n):\n"
        "        for j in range(i, n, 2):\n"
        "            s = s + x * y / (i + j + 1) + x ** 2 * (i - j)\n"
        "    return s\n"
    )
    check(source, [(0.5, 2.0, 4), (-1.0, 0.25, 1), (1.0, 1.0, 0)])


def test_conditional_expression_and_boolean_operators() -> None:
    source = (
        "def f(x, y):\n"
        "    a = x if x > 0 else 0.1 * x\n"
        "    if x > 0 and y > 0 or not y < 2:\n"
        "        a = a * y\n"
        "    if 0 < x < 1:\n"
        "        a = a + x * x\n"
        "    return a\n"
    )
    check(source, [(0.5, 1.0), (1.5, 1.0), (-0.5, 3.0), (-0.5, -1.0), (0.5, -2.0)])


def test_a_parameter_reassigned_in_a_loop() -> None:
    source = (
        "import math\n\ndef f(x, n):\n    for k in range(n):\n        x = math.sin(x) + 0.5 * x\n"
        "    return x * x\n"
    )
    check(source, [(0.4, 3), (2.0, 10), (1.0, 0)])


def test_branch_inside_a_loop_and_loop_inside_a_branch() -> None:
    source = (
        "import math\n\n"
        "def f(x, y, n):\n"
        "    s = 0.0\n"
        "    if y > 0:\n"
        "        for i in range(n):\n"
        "            if s < 1:\n"
        "                s = s + math.exp(x * 0.1 * i)\n"
        "            else:\n"
        "                s = s * y\n"
        "    else:\n"
        "        s = x * y\n"
        "    return s\n"
    )
    check(source, [(0.3, 1.2, 5), (0.3, -1.0, 5), (2.0, 0.9, 7)])


def test_a_helper_with_a_loop_called_twice() -> None:
    source = (
        "def poly(x, n):\n"
        "    p = 1.0\n"
        "    for k in range(n):\n"
        "        p = p * x + 1.0\n"
        "    return p\n\n"
        "def f(x, y):\n"
        "    return poly(x, 3) * poly(y, 2)\n"
    )
    check(source, [(0.5, 2.0), (-1.5, 0.25)])


def test_while_counter_with_break() -> None:
    source = (
        "def f(x):\n"
        "    k = 0\n"
        "    s = x\n"
        "    while k < 100:\n"
        "        s = s * 0.5 + x\n"
        "        k = k + 1\n"
        "        if s > 3:\n"
        "            break\n"
        "    return s\n"
    )
    check(source, [(0.1,), (1.0,), (5.0,)])


def test_a_while_loop_that_never_ends_stops_at_its_cap() -> None:
    source = "def f(x):\n    while x > 0:\n        x = x + 1\n    return x\n"
    mod = ad_compiler.compile_source(source, "cf.py").load_in_memory()
    with pytest.raises(RuntimeError, match="ran 1000000 times without ending"):
        mod.f(1.0)
    assert mod.f(-1.0) == -1.0


def test_return_inside_a_loop_is_refused_with_a_hint() -> None:
    source = "def f(x):\n    for i in range(3):\n        return x\n    return x\n"
    with pytest.raises(CompileError) as caught:
        ad_compiler.compile_source(source, "cf.py")
    assert caught.value.line == 3


def test_the_language_page_shows_what_adc_writes_for_a_loop() -> None:
    source = block("docs/language.md", "loop-source")
    written = ad_compiler.compile_source(source, "loop.py").source
    assert block("docs/language.md", "loop-grad") in written
    check(source, [(0.5, 4), (1.5, 0), (-2.0, 7)])


def test_the_tape_records_only_what_a_later_iteration_overwrites() -> None:
    """A loop reading only its own variable and parameters records nothing: the reverse
    loop sets i again, and x never changes."""
    source = (
        "def f(x, n):\n    s = 0.0\n    for i in range(n):\n        s = s + x * i\n    return s\n"
    )
    written = ad_compiler.compile_source(source, "loop.py").source
    assert "_tape" not in written
    check(source, [(0.5, 4)])
    source = block("docs/language.md", "loop-source")
    written = ad_compiler.compile_source(source, "loop.py").source
    assert written.count(".append(") == 2  # s (read by the partial of s * x), in both gradients
