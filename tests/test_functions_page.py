"""docs/functions.md lists every primitive of the table, as tools/functions_page.py writes it."""

from __future__ import annotations

from ad_compiler.core.primitives import TABLE
from tools.functions_page import PAGE, WRITTEN, render, spellings, table_on_page


def test_the_page_holds_the_table_generated_now() -> None:
    assert table_on_page(PAGE.read_text(encoding="utf-8")) == render(), (
        "docs/functions.md is out of date: run `python tools/functions_page.py`"
    )


def test_every_primitive_has_one_row_and_a_spelling() -> None:
    rows = [line for line in render().splitlines() if line.startswith("| ")][1:]
    assert [row.split(" | ")[0][2:] for row in rows] == [entry.name for entry in TABLE]
    for entry in TABLE:
        assert spellings(entry), entry.name
    assert set(WRITTEN) <= {entry.name for entry in TABLE}
    assert all(not entry.spellings for entry in TABLE if entry.name in WRITTEN)


def test_the_page_is_linked_from_the_language_page() -> None:
    assert "](functions.md)" in (PAGE.parent / "language.md").read_text(encoding="utf-8")
