"""Forms: what an expression lowers to before it becomes trace steps.

A form is const + sum of coeff * monomial, a monomial being a product of variables to constant
powers. A form becomes a trace step only when something needs it as one variable, so constants
fold into the steps that use them (`sin(2*pi*w1/w2)` is one Type 3 step of the monomial
`w1 * w2^-1`). The `Builder` creates the steps, each distinct step once, and remembers the
order in which the source first spelled them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..core.errors import Source
from ..core.expr import Number, times
from ..core.ir import Step

Monomial = tuple[tuple[int, Number], ...]


def monomial_key(m: Monomial) -> Monomial:
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


def monomial_product(a: Monomial, b: Monomial) -> Monomial:
    """a * b as the source spelled it: `x * x` stays two factors, so overflow and division by
    zero happen exactly where Python's own evaluation has them."""
    return a + b


def monomial_power(a: Monomial, k: Number) -> Monomial:
    """Every power of monomial a times k."""
    return tuple((v, p * k) for v, p in a)


# ---------------------------------------------------------------------------------------------
# The step builder: one per compiled function
# ---------------------------------------------------------------------------------------------


class Builder:
    """Creates steps, computing each distinct step once, and remembers source order."""

    def __init__(self, base: int = 0) -> None:
        self.base = base  # the ids of the steps made here start after it
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
            key = monomial_key(m)
            if key not in self.born:
                self.clock += 1
                self.born[key] = self.clock
        return m

    def add(self, op: str, args: tuple[int, ...], params: tuple, born: int | None = None) -> int:
        if op == "affine":
            spelled = ((a, c, getattr(c, "divisor", 0)) for a, c in zip(args, params[1:]))
            key = (op, params[0], tuple(sorted(spelled)))
        elif op == "product":
            key = (op, tuple(sorted(zip(args, params))))
        else:
            key = (op, args, params)
        found = self.table.get(key)
        if found is not None:
            return found
        index = self.base + len(self.steps) + 1
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
        born = self.born.get(monomial_key(m))
        return self.add("product", tuple(v for v, _ in m), tuple(p for _, p in m), born)

    def variable(self, f: Form) -> int:
        """The variable holding form f."""
        single = f.single()
        if single is not None and single[0] == 1:
            return self.monomial(single[1])
        merged: dict[int, Number] = {}
        for m, c in f.terms.values():
            var = self.monomial(m)
            merged[var] = merged[var] + c if var in merged else c
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




def add_forms(a: Form, b: Form) -> Form:
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


def scale_form(a: Form, k: Number) -> Form:
    if k == 0:
        return Form(0)
    return Form(a.const * k, {key: (m, times(c, k)) for key, (m, c) in a.terms.items()})


INT_LIMIT = 2**53


def tame(value: Number, src: Source, node: ast.AST | None) -> Number:
    """value, with ints past 2**53 turned into floats; too large to be a float is an error."""
    if isinstance(value, complex):
        raise src.error(node, "this constant is complex", "keep constants real")
    if isinstance(value, int) and abs(value) > INT_LIMIT:
        try:
            return float(value)
        except OverflowError:
            raise src.error(
                node, "constant too large for a float", "use a smaller number"
            ) from None
    return value


def fold_binary(op: str, a: Number, b: Number, src: Source, node: ast.AST) -> Number:
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
    return tame(r, src, node)


def form_key(form: Form) -> tuple:
    """A hashable identity of a settled form (a constant or a scaled variable)."""
    return (form.const, tuple((k, c) for k, (_, c) in form.terms.items()))
