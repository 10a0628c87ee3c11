"""The documentation holds together: every checked block is read by a test, every page in docs/
is reachable from the README, and every link between pages leads somewhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .docs import ROOT, block, markers, page, pages

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def _blocks_read_by_tests() -> set[tuple[str, str]]:
    """(page, marker) of every `block(PAGE, MARKER)` call in the tests, PAGE a string or a
    module-level name bound to one."""
    read = set()
    for path in (ROOT / "tests").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "block"
                and len(node.args) == 2
            ):
                continue
            name, marker = node.args
            if isinstance(name, ast.Name):
                name = ast.Constant(names.get(name.id))
            if isinstance(name, ast.Constant) and isinstance(marker, ast.Constant):
                read.add((name.value, marker.value))
    return read


def test_every_marked_block_is_read_by_a_test() -> None:
    marked = {(name, marker) for name in pages() for marker in markers(name)}
    read = _blocks_read_by_tests()
    assert marked - read == set(), "marked blocks no test reads"
    assert read - marked == set(), "blocks tests read that no page marks"


def test_every_marker_is_unique_and_marks_a_fenced_block() -> None:
    for name in pages():
        for marker in markers(name):
            assert block(name, marker).endswith("\n"), (name, marker)


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _links(name: str) -> list[tuple[Path, str]]:
    """(target file, anchor) of every relative link on the page `name`."""
    found = []
    for target in _LINK.findall(_CODE.sub("", page(name))):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        found.append(((ROOT / name).parent / path if path else ROOT / name, anchor))
    return found


def test_every_docs_page_is_linked_from_another_page() -> None:
    linked = {
        target.resolve()
        for name in pages()
        for target, _ in _links(name)
        if target.resolve() != (ROOT / name).resolve()
    }
    for name in pages()[1:]:
        assert (ROOT / name).resolve() in linked, name


def test_every_link_between_pages_leads_somewhere() -> None:
    for name in pages():
        for target, anchor in _links(name):
            relative = target.resolve().relative_to(ROOT).as_posix()
            assert target.exists(), (name, relative)
            if anchor:
                headings = re.findall(r"^#+ (.*)$", target.read_text(encoding="utf-8"), re.M)
                assert anchor in {_slug(h) for h in headings}, (name, relative, anchor)
