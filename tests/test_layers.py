"""The house's one import direction, read from the code's own import statements (those inside
functions included): each module imports only modules of its own layer or of layers below it,
no set of modules imports itself around a cycle, and `cli` imports only the public API.

The layers, lowest first, are the ones docs/design.md describes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Lowest first; a module's layer is the longest prefix of its dotted name listed here.
LAYERS = (
    "ad_compiler.core",
    "ad_compiler.frontend",
    "ad_compiler.backend",
    "ad_compiler.pipeline",
    "ad_compiler.teach",
    "ad_compiler.train",
    "ad_compiler.api",
    "ad_compiler",
    "cli",
)
#: What `cli` may import of adc.
PUBLIC = {"ad_compiler", "ad_compiler.api"}


def module_name(path: Path, root: Path = ROOT) -> str:
    """The dotted name of the module at `path` under `root`."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the two packages, by dotted name."""
    found = {}
    for package in ("ad_compiler", "cli"):
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` imports, anywhere in its file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in known else base for t in targets]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def layer(name: str) -> int:
    """The index in LAYERS of the layer `name` belongs to."""
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS.index(best)


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    found = modules(root)
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Imports that run from a layer to a higher one."""
    return [
        f"{a} imports {b}"
        for a, targets in sorted(edges.items())
        for b in sorted(targets)
        if layer(b) > layer(a)
    ]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_import_runs_down_the_layers() -> None:
    wrong = upward(graph())
    assert not wrong, "imports that run up the layers:\n" + "\n".join(wrong)


def test_no_modules_import_each_other_in_a_cycle() -> None:
    found = cycles(graph())
    assert not found, f"import cycles: {found}"


def test_cli_imports_only_the_public_api() -> None:
    edges = graph()
    for name, targets in edges.items():
        if name.startswith("cli"):
            adc = {t for t in targets if t.startswith("ad_compiler")}
            assert adc <= PUBLIC, f"{name} imports {sorted(adc - PUBLIC)}"


def test_every_module_has_a_layer() -> None:
    for name in modules():
        assert layer(name) >= 0


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        (
            {
                "ad_compiler/core/a.py": "from ..frontend import b\n",
                "ad_compiler/frontend/b.py": "",
            },
            "upward",
        ),
        (
            {
                "ad_compiler/core/a.py": "def f():\n    from . import b\n",
                "ad_compiler/core/b.py": "from .a import f\n",
            },
            "cycle",
        ),
        (
            {
                "ad_compiler/backend/e.py": "from .. import __version__\n",
                "ad_compiler/__init__.py": "",
            },
            "upward",
        ),
        ({"cli/main.py": "from ad_compiler.core import a\n", "ad_compiler/core/a.py": ""}, "cli"),
    ],
)
def test_the_checks_catch_what_they_are_for(tmp_path: Path, files: dict, problem: str) -> None:
    """An upward import (lazy or not), a cycle through a function-level import, and cli reaching
    below the API are each caught on a little tree of files."""
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for parent in path.relative_to(tmp_path).parents:
            init = tmp_path / parent / "__init__.py"
            if parent.parts and not init.exists():
                init.write_text("")
    edges = graph(tmp_path)
    found = {
        "upward": bool(upward(edges)),
        "cycle": bool(cycles(edges)),
        "cli": any(
            not {t for t in targets if t.startswith("ad_compiler")} <= PUBLIC
            for name, targets in edges.items()
            if name.startswith("cli")
        ),
    }
    assert found[problem], edges
