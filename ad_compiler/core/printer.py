"""Printing expressions."""

from __future__ import annotations

from collections.abc import Callable

from .expr import (
    Call,
    Const,
    Expr,
    Index,
    Lit,
    Neg,
    Select,
    Temp,
    Var,
    index_text,
    show_number,
)

_PRECEDENCE = {
    "+": 1,
    "-": 1,
    "*": 2,
    "/": 2,
    "@": 2,
    "neg": 3,
    "**": 4,
    ">": 0,
    "<": 0,
    ">=": 0,
    "<=": 0,
    "==": 0,
    "!=": 0,
}


def show(
    expr: Expr,
    name: Callable[[int], str],
    digits: int | None = None,
    temp_name: Callable[[int], str] = lambda k: f"t{k}",
) -> str:
    """Infix text of `expr` with variables named by `name` (adjoints get a 'bar' suffix)."""

    def go(e: Expr, outer: int) -> str:
        if isinstance(e, Const):
            text = show_number(e.value, digits)
            return f"({text})" if text.startswith("-") and outer > 0 else text
        if isinstance(e, Var):
            return name(e.id) + ("bar" if e.bar else "")
        if isinstance(e, Temp):
            return temp_name(e.id)
        if isinstance(e, Neg):
            text = "-" + go(e.operand, _PRECEDENCE["neg"])
            return f"({text})" if outer > 0 else text
        if isinstance(e, Call):
            parts = [go(a, 0) for a in e.args] + [f"{k}={go(v, 0)}" for k, v in e.keywords]
            return f"{e.fn}(" + ", ".join(parts) + ")"
        if isinstance(e, Select):
            return go(e.normal, outer)
        if isinstance(e, Lit):
            v = e.value
            if isinstance(v, tuple) and v and v[0] == "index":
                return f"[{index_text(v[1])}]"
            return repr(v)
        if isinstance(e, Index):
            return f"{go(e.value, 5)}[{index_text(e.index)}]"
        p = _PRECEDENCE[e.op]
        right_p = p + 1 if e.op in "-/" else p
        if e.op == "**":
            left, right = go(e.left, p + 1), go(e.right, p)
            text = f"{left}^{right}"
        else:
            left, right = go(e.left, p), go(e.right, right_p)
            text = f"{left} {e.op} {right}"
        return f"({text})" if outer > p else text

    return go(expr, 0)
