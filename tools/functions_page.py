"""The table of every supported function, generated from the table of primitives.

    python tools/functions_page.py      # rewrite the table in docs/functions.md

One row per entry of `ad_compiler.core.primitives.TABLE`: how the source spells it, the
arguments it takes, its type in the lecture's model, and its derivative. tests/test_docs.py
checks that the page holds exactly what `render()` gives.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ad_compiler.core.primitives import TABLE, Param, Primitive, Unary  # noqa: E402

PAGE = ROOT / "docs" / "functions.md"
START = "<!-- functions:start -->"
END = "<!-- functions:end -->"

# The entries the source writes with operators or brackets rather than a name.
WRITTEN = {
    "affine": "`a + b`, `a - b`, `-a`, `c * a`, `a / c` (c a constant)",
    "product": "`a * b`, `a / b`, `a ** c` (c a constant)",
    "cpow": "`c ** a` (c a positive constant)",
    "index": "`x[i]`, `x[1:, ::2]`, `x[..., None]` (constant indices)",
    "compare": "`a > b`, `a <= b`, `a == b`, ... (np.where's condition)",
}

_TYPES = {1: "1 (affine)", 2: "2 (product)", 3: "3"}


def spellings(entry: Primitive) -> str:
    """How the source spells the entry, as code spans."""
    if entry.name in WRITTEN:
        return WRITTEN[entry.name]
    out = []
    for lib, name in entry.spellings:
        if lib == "math":
            out.append(f"`math.{name}`")
        elif lib == "numpy":
            out.append(f"`np.{name}`")
        elif lib == "builtins":
            out.append(f"`{name}`")
        elif lib == "method":
            out.append(f"`x.{name}(...)`")
        elif lib == "attribute":
            out.append(f"`x.{name}`")
        else:
            out.append(f"`a {name} b`")
    out += [f"`math.{name}(x, base)`" for lib, name in entry.overloads]
    return ", ".join(out)


def _param(p: Param) -> str:
    if p.kind == "operands":
        most = f", at most {p.most}" if p.most else ""
        return f"*{p.name} (values or numbers, at least {p.least}{most})"
    if p.kind == "arrays":
        return f"*{p.name} (at least {p.least})"
    if p.kind == "sequence":
        return f"[{p.name}] (a list or tuple of values or numbers)"
    if p.kind == "condition":
        return f"{p.name} (one comparison)"
    if p.kind == "static":
        text = f"{p.name}= (a constant{', text' if p.text else ''}"
        if p.optional and p.default is not None:
            text += f", default {p.default!r}"
        elif p.optional:
            text += ", optional"
        return text + ")"
    return p.name


def arguments(entry: Primitive) -> str:
    """The arguments the entry takes."""
    if isinstance(entry, Unary):
        return "x"
    if entry.kind != "call":
        return {"compare": "a, b", "cpow": "a", "index": "x"}.get(entry.name, "a, b, ...")
    parts: list[str] = []
    operands: list[str] = []
    for p in entry.signature:
        if p.kind == "operand":
            operands.append(p.name)
            continue
        if operands:
            parts.append(", ".join(operands) + " (values or numbers)")
            operands = []
        parts.append(_param(p))
    if operands:
        parts.append(", ".join(operands) + " (values or numbers)")
    text = ", ".join(parts)
    if entry.indexed:
        text += "; then `[k]`, a constant"
        if entry.parts is not None:
            text += f" below {entry.parts}"
    return text


def derivative(entry: Primitive) -> str:
    """The entry's derivative, or the rule its adjoint follows."""
    if isinstance(entry, Unary):
        return f"h'(u) = {entry.formula}"
    return re.sub(r"^Type \d( \([^)]*\))?: ", "", entry.explain)


def kind(entry: Primitive) -> str:
    """Its type in the lecture's model, or that it is not differentiated."""
    if not entry.differentiated:
        return "not differentiated"
    return _TYPES[entry.type]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The table, one row per entry of the table of primitives."""
    rows = [
        "",
        "| primitive | spelled | arguments | type | derivative |",
        "|---|---|---|---|---|",
    ]
    for entry in TABLE:
        cells = (entry.name, spellings(entry), arguments(entry), kind(entry), derivative(entry))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows) + "\n"


def table_on_page(text: str) -> str:
    """The generated block of the page's text."""
    assert text.count(START) == 1 and text.count(END) == 1
    return text[text.index(START) + len(START) : text.index(END)]


def write() -> None:
    """Replace the table on the page (only that) with `render()`."""
    text = PAGE.read_text(encoding="utf-8")
    old = START + table_on_page(text) + END
    PAGE.write_text(text.replace(old, START + render() + END), encoding="utf-8")


if __name__ == "__main__":
    write()
