"""The documentation's pages and the code blocks the tests check in them.

A checked block is a fenced code block on the line right after a marker
`<!-- check: NAME -->`, where NAME is unique on its page. Pages are named by their path from
the repository root: `README.md`, `docs/teaching.md`.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- check: ([\w-]+) -->$", flags=re.M)
_FENCED = re.compile(r"```[^\n`]*\n(.*?)^```$", flags=re.S | re.M)


def pages() -> list[str]:
    """Every page: the README and each Markdown file in docs/."""
    return ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]


def page(name: str) -> str:
    """The text of the page `name`."""
    return (ROOT / name).read_text(encoding="utf-8")


def markers(name: str) -> list[str]:
    """The names of the markers on the page `name`, in order."""
    return MARKER.findall(page(name))


def block(name: str, marker: str) -> str:
    """The contents of the fenced block right after `<!-- check: MARKER -->` on the page `name`,
    up to and including the newline before the closing fence."""
    text = page(name)
    tag = f"<!-- check: {marker} -->"
    lines = list(re.finditer(rf"^{re.escape(tag)}$\n?", text, flags=re.M))
    if len(lines) != 1:
        raise AssertionError(f"{name}: the marker `{tag}` occurs {len(lines)} times, not once")
    found = _FENCED.match(text, lines[0].end())
    if found is None:
        raise AssertionError(f"{name}: the marker `{tag}` is not followed by a fenced block")
    return found.group(1)
