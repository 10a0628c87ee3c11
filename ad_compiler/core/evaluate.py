"""The reference evaluator: the value of an expression, and of a list of statements, computed
directly from the IR. Tests hold the generated code against it; the teaching tables read
their values from it.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy

from .expr import (
    Call,
    Const,
    Expr,
    Index,
    Lit,
    Neg,
    Select,
    Seq,
    Temp,
    Var,
    index_value,
    literal_value,
)
from .ir import Assign
from .runtime import HELPERS


def library(lib: str) -> Mapping[str, Callable[..., Any]] | Any:
    """The namespace that a Call's `lib` refers to."""
    if lib == "math":
        return math
    if lib == "numpy":
        return numpy
    if lib == "adc":
        return HELPERS
    return builtins


def evaluate(expr: Expr, env: Mapping[Var | Temp, Any]) -> Any:
    """The value of `expr` with variables, adjoints and temporaries taken from `env`."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, (Var, Temp)):
        return env[expr]
    if isinstance(expr, Neg):
        return -evaluate(expr.operand, env)
    if isinstance(expr, Select):
        chosen = expr.normal if evaluate(expr.test, env) else expr.singular
        return evaluate(chosen, env)
    if isinstance(expr, Lit):
        return literal_value(expr.value)
    if isinstance(expr, Index):
        keys = [evaluate(k, env) for k in expr.keys]
        return evaluate(expr.value, env)[index_value(expr.index, keys)]
    if isinstance(expr, Seq):
        return [evaluate(e, env) for e in expr.items]
    if isinstance(expr, Call):
        ns = library(expr.lib)
        if isinstance(ns, dict):
            fn = ns[expr.fn]
        else:
            fn = ns
            for part in expr.fn.split("."):  # numpy's `linalg.solve`
                fn = getattr(fn, part)
        keywords = {k: evaluate(v, env) for k, v in expr.keywords}
        return fn(*(evaluate(a, env) for a in expr.args), **keywords)
    a, b = evaluate(expr.left, env), evaluate(expr.right, env)
    return _BINARY[expr.op](a, b)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "@": lambda a, b: a @ b,
    "%": lambda a, b: a % b,
    "//": lambda a, b: a // b,
}


def execute(body: Sequence[Assign], env: dict[Var | Temp, Any]) -> list[Any]:
    """Run `body` on `env` (updated in place); the value each line leaves in its target."""
    values = []
    for a in body:
        value = evaluate(a.expr, env)
        if a.accumulate:  # in place or not, the same value: earlier values stay as they were
            value = env[a.target] + value
        env[a.target] = value
        values.append(value)
    return values
