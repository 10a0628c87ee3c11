"""Teaching outputs: the computation graph, LaTeX/Markdown/HTML tables, --explain, the cost
report, and the pictures docs/teaching.md shows, all generated from the trace.

Golden files in tests/golden/ hold every output format on the seed's two examples. They are
written by the code, never by hand: after an intended change, regenerate them with

    ADC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_teaching.py -k golden

and review the diff. The structural tests below do not read the goldens.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import ad_compiler
from ad_compiler import compile_file
from ad_compiler.backend.load import load_in_memory
from ad_compiler.core.primitives import rule
from ad_compiler.teach.cost import BAUR_STRASSEN, fitted_slope, naive_gradient, tangent_source
from cli.main import main

from .conftest import ROOT, SAMPLES, run_adc
from .docs import block, page

GOLDEN = ROOT / "tests" / "golden"
FIGURES = ROOT / "docs" / "figures"
UPDATE = os.environ.get("ADC_UPDATE_GOLDEN") == "1"
TEACHING = "docs/teaching.md"

# The seed's two examples and the points the lecture shows them at.
EXAMPLES = {
    "baydin": (SAMPLES / "baydin.py", ()),  # its defaults are the seed's (2, 5)
    "slide": (SAMPLES / "slide.py", ("w1=1.5", "w2=0.5")),
}
SLIDE_EDGES = {
    ("w1", "z1"),
    ("w2", "z1"),
    ("z1", "z2"),
    ("w2", "z3"),
    ("z1", "z4"),
    ("z3", "z4"),
    ("z2", "z5"),
    ("z4", "z5"),
    ("z5", "z6"),
    ("z4", "z6"),
}


def adc(*args: str) -> str:
    """`adc ARGS` run in this process (the real click command); its stdout."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with ADC_UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden; if the change is intended, regenerate with "
        "ADC_UPDATE_GOLDEN=1 and review the diff"
    )


# ---------------------------------------------------------------------------------------------
# Golden files: every output format on both examples
# ---------------------------------------------------------------------------------------------

RUN_FORMATS = [
    ("text", "v", False),
    ("text", "z", False),
    ("text", "v", True),
    ("text", "z", True),
    ("markdown", "v", False),
    ("markdown", "z", True),
    ("latex", "v", False),
    ("latex", "z", False),
    ("latex", "v", True),
    ("json", "v", False),
    ("json", "z", True),
]
SUFFIX = {"text": "txt", "markdown": "md", "latex": "tex", "json": "json"}


@pytest.mark.parametrize("example", EXAMPLES)
@pytest.mark.parametrize(("fmt", "notation", "explain"), RUN_FORMATS)
def test_golden_run(example: str, fmt: str, notation: str, explain: bool) -> None:
    path, values = EXAMPLES[example]
    args = ["run", str(path), *values, "--format", fmt, "--notation", notation]
    args += ["--explain"] if explain else []
    name = f"{example}_run_{notation}{'_explain' if explain else ''}.{SUFFIX[fmt]}"
    check_golden(name, adc(*args))


GRAPHS = {"plain": (), "values": ("--partials",), "v": ("--notation", "v")}


@pytest.mark.parametrize("example", EXAMPLES)
@pytest.mark.parametrize("kind", GRAPHS)
def test_golden_graph(example: str, kind: str) -> None:
    path, values = EXAMPLES[example]
    args = ["graph", str(path), *(values if kind == "values" else ()), *GRAPHS[kind]]
    check_golden(f"{example}_graph_{kind}.dot", adc(*args))


@pytest.mark.parametrize("example", EXAMPLES)
def test_golden_html(example: str) -> None:
    path, values = EXAMPLES[example]
    compiled = compile_file(path)
    point = dict(v.split("=") for v in values)
    run = compiled.run_report({k: float(v) for k, v in point.items()})
    check_golden(f"{example}_trace.html", compiled.trace_report()._repr_html_())
    check_golden(f"{example}_run.html", run._repr_html_())


@pytest.mark.parametrize("example", EXAMPLES)
def test_golden_cost(example: str) -> None:
    """The cost report's counts (its timing lines vary, so they are compared by shape)."""
    report = compile_file(EXAMPLES[example][0]).cost_report(timing=False)
    check_golden(f"{example}_cost.txt", report.to_text() + "\n")
    check_golden(f"{example}_cost.json", json.dumps(report.to_dict(), indent=2) + "\n")


def test_every_golden_is_checked() -> None:
    made = {
        f"{e}_run_{n}{'_explain' if x else ''}.{SUFFIX[f]}"
        for e in EXAMPLES
        for f, n, x in RUN_FORMATS
    }
    made |= {f"{e}_graph_{k}.dot" for e in EXAMPLES for k in GRAPHS}
    made |= {
        f"{e}_{k}" for e in EXAMPLES for k in ("trace.html", "run.html", "cost.txt", "cost.json")
    }
    theirs = {"corpus.json", "numpy_scalars.json"}  # tests/test_goldens.py's
    assert {p.name for p in GOLDEN.iterdir() if p.is_file() and p.name not in theirs} == made


# ---------------------------------------------------------------------------------------------
# 1. The computation graph
# ---------------------------------------------------------------------------------------------


def _dot_edges(dot: str) -> list[tuple[str, str]]:
    return re.findall(r'^  "([^"]+)" -> "([^"]+)"', dot, flags=re.M)


def _dot_nodes(dot: str) -> dict[str, str]:
    return dict(re.findall(r'^  "([^"]+)" \[label="((?:[^"\\]|\\.)*)"', dot, flags=re.M))


def test_slide_graph_is_the_slides() -> None:
    """Nodes w1, w2, z1..z6 labelled with their operations, the 10 edges of the slide in the
    direction data flows, z6 the output: read from the DOT text adc prints."""
    dot = adc("graph", str(SAMPLES / "slide.py"))
    nodes = _dot_nodes(dot)
    assert list(nodes) == ["w1", "w2", "z1", "z2", "z3", "z4", "z5", "z6"]
    assert nodes["z1"] == "z1 = w1 * w2^-1" and nodes["z2"] == "z2 = sin(2*pi*z1)"
    assert nodes["z4"] == "z4 = 3*z1 - z3" and nodes["z6"] == "z6 = z5 * z4"
    edges = _dot_edges(dot)
    assert len(edges) == 10 and set(edges) == SLIDE_EDGES
    assert re.search(r'^  "z6" \[.*peripheries=2', dot, flags=re.M)  # the output, doubled
    assert 'label="f(w1, w2): V = 8 nodes, E = 10 edges"' in dot
    graph = compile_file(SAMPLES / "slide.py").computation_graph()
    assert (graph.V, graph.E) == (8, 10)


def test_baydin_graph_in_the_tables_numbering() -> None:
    dot = adc("graph", str(SAMPLES / "baydin.py"), "--notation", "v")
    assert list(_dot_nodes(dot)) == ["v-1", "v0", "v1", "v2", "v3", "v4", "v5"]
    assert set(_dot_edges(dot)) == {
        ("v-1", "v1"),
        ("v-1", "v2"),
        ("v0", "v2"),
        ("v0", "v3"),
        ("v1", "v4"),
        ("v2", "v4"),
        ("v4", "v5"),
        ("v3", "v5"),
    }


def test_graph_values_follow_the_seeds_recursion() -> None:
    """At a point every node's adjoint is the seed's Step 3, sum over children c of
    adjoint(c) * dz_c/dz_t, the output's is 1, and the inputs' are the generated gradient."""
    compiled = compile_file(SAMPLES / "slide.py")
    graph = compiled.computation_graph({"w1": 1.5, "w2": 0.5}, partials=True)
    adjoint = {n.var: n.adjoint for n in graph.nodes}
    assert adjoint[graph.output] == 1.0
    for node in graph.nodes:
        if node.var == graph.output:
            continue
        total = sum(adjoint[e.child] * e.partial_value for e in graph.edges if e.parent == node.var)
        assert node.adjoint == pytest.approx(total, rel=1e-14)
    grads = compiled.grad_f(1.5, 0.5)
    assert [adjoint[-1], adjoint[0]] == pytest.approx(list(grads), rel=1e-14)
    # a few partials worked out by hand: dz1/dw1 = 1/w2, dz1/dw2 = -w1/w2^2, dz3/dw2 = 2e^(2w2)
    partial = {(graph.name(e.parent), graph.name(e.child)): e.partial_value for e in graph.edges}
    assert partial["w1", "z1"] == pytest.approx(2.0)
    assert partial["w2", "z1"] == pytest.approx(-6.0)
    assert partial["w2", "z3"] == pytest.approx(2 * math.exp(1.0))
    dot = graph.to_dot()
    assert '"w1" -> "z1" [label="dz1/dw1 = 1 / w2 = 2"];' in dot
    assert "z1 = w1 * w2^-1\\n= 3\\nz1bar = 77.16" in dot


def test_graph_cli_writes_dot_and_checks_the_output(tmp_path: Path) -> None:
    out = tmp_path / "g.dot"
    proc = run_adc("graph", str(SAMPLES / "slide.py"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == adc("graph", str(SAMPLES / "slide.py"))
    assert "V = 8 nodes, E = 10 edges" in proc.stderr
    proc = run_adc("graph", str(SAMPLES / "slide.py"), "-o", str(tmp_path / "missing" / "g.svg"))
    assert proc.returncode == 1 and "does not exist" in proc.stderr


# The environment, not a missing feature: Graphviz's `dot` is a system program (CI's .ci/run
# installs it); without it, test_graph_without_dot_says_how_to_install_it checks the message.
needs_graphviz = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="environment: Graphviz's `dot` program is not on PATH (apt-get install graphviz; "
    ".ci/run installs it)",
)


@needs_graphviz
@pytest.mark.parametrize("kind", ["svg", "png"])
def test_graph_pictures_with_graphviz(kind: str, tmp_path: Path) -> None:
    out = tmp_path / f"slide.{kind}"
    proc = run_adc(
        "graph", str(SAMPLES / "slide.py"), "w1=1.5", "w2=0.5", "--partials", "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    if kind == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    else:
        svg = data.decode()
        assert svg.startswith("<?xml") and "<svg" in svg
        titles = re.findall(r"<title>(.*?)</title>", svg)
        assert {f"z{t}" for t in range(1, 7)} | {"w1", "w2"} <= set(titles)
        assert sum("&#45;&gt;" in t for t in titles) == 10  # the 10 edges, as w1-&gt;z1


def _no_dot_path(tmp_path: Path) -> str:
    """A PATH without Graphviz's dot."""
    empty = tmp_path / "bin"
    empty.mkdir()
    return str(empty)


def test_graph_without_dot_says_how_to_install_it(tmp_path: Path) -> None:
    env = {"PATH": _no_dot_path(tmp_path)}
    out = tmp_path / "g.svg"
    proc = run_adc("graph", str(SAMPLES / "slide.py"), "-o", str(out), env=env)
    assert proc.returncode == 1 and proc.stdout == "" and not out.exists()
    lines = proc.stderr.splitlines()
    assert lines[0] == (
        f"{SAMPLES / 'slide.py'}:1:1: error: writing {out} needs Graphviz, but the `dot` "
        "program is not on PATH"
    )
    assert lines[1].startswith("hint: install Graphviz's `dot` program (`apt-get install graphviz`")
    assert "pip install graphviz" in lines[1] and "-o OUT.dot needs neither" in lines[1]
    # DOT needs nothing
    proc = run_adc("graph", str(SAMPLES / "slide.py"), "-o", str(tmp_path / "g.dot"), env=env)
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------------------------
# 2. LaTeX and Markdown
# ---------------------------------------------------------------------------------------------

# Commands of LaTeX itself (no package): what the tables may use.
CORE_MACROS = {
    "\\",
    "multicolumn",
    "textbf",
    "hline",
    "medskip",
    "quad",
    "footnotesize",
    "bar",
    "overline",
    "frac",
    "partial",
    "times",
    "cdot",
    "ln",
    "sin",
    "cos",
    "tan",
    "exp",
    "sinh",
    "cosh",
    "tanh",
    "arcsin",
    "arccos",
    "arctan",
    "sqrt",
    "pi",
    "infty",
    "mathrm",
    "mathit",
    "mathtt",
    "geq",
    "leq",
    "neq",
    ";",
    "{",
    "}",
    "$",
    "&",
    "#",
    "%",
    "_",
    "^",
    "~",
    "textbackslash",
    "alpha",
    "beta",
    "gamma",
    "delta",
    "theta",
    "lambda",
    "mu",
    "sigma",
    "omega",
}


def check_latex(text: str) -> list[str]:
    """Parse `text` strictly (pylatexenc): balanced braces, math and environments, only
    `tabular`s whose every row has the columns its spec declares, only core LaTeX commands.
    Returns the math of every cell."""
    from pylatexenc.latexwalker import (
        LatexEnvironmentNode,
        LatexMacroNode,
        LatexMathNode,
        LatexSpecialsNode,
        LatexWalker,
    )

    nodes = LatexWalker(text, tolerant_parsing=False).get_latex_nodes()[0]
    macros: set[str] = set()
    maths: list[str] = []

    def walk(nodelist) -> None:
        for n in nodelist or []:
            if n is None:
                continue
            if isinstance(n, LatexMacroNode):
                macros.add(n.macroname)
            if isinstance(n, LatexMathNode):
                maths.append(n.latex_verbatim()[1:-1])
            if isinstance(n, LatexEnvironmentNode):
                assert n.environmentname == "tabular", n.environmentname
            walk(getattr(n, "nodelist", None))
            args = getattr(getattr(n, "nodeargd", None), "argnlist", None) or []
            walk([a for a in args if a is not None])

    walk(nodes)
    assert macros <= CORE_MACROS, macros - CORE_MACROS
    tabulars = [n for n in nodes if isinstance(n, LatexEnvironmentNode)]
    assert len(tabulars) == 2
    for table in tabulars:
        columns = len(table.nodeargd.argnlist[-1].latex_verbatim().strip("{}"))
        amps, spans = 0, 0
        for n in table.nodelist:
            if isinstance(n, LatexSpecialsNode) and n.specials_chars == "&":
                amps += 1
            elif isinstance(n, LatexMacroNode) and n.macroname == "multicolumn":
                width = next(g for g in table.nodelist[table.nodelist.index(n) + 1 :] if g)
                spans = int(width.latex_verbatim().strip("{}"))
            elif isinstance(n, LatexMacroNode) and n.macroname == "\\":
                assert amps == columns - 1 or (amps == 0 and spans == columns), table
                amps, spans = 0, 0
    return maths


def _latex(path: Path, *args: str) -> str:
    return adc("run", str(path), *args, "--format", "latex")


def test_latex_is_the_seeds_notation() -> None:
    tex = _latex(SAMPLES / "baydin.py")
    check_latex(tex)
    for row in [
        r"$v_{-1} = x_1$ & $= 2$ \\",
        r"$v_1 = \ln v_{-1}$ & $= 0.693$ \\",
        r"$v_2 = v_{-1} \times v_0$ & $= 10$ \\",
        r"$y = v_5$ & $= 11.652$ \\",
        r"$\bar{v}_5 = \bar{y}$ &  & $= 1$ \\",
        r"$\bar{v}_3 = \bar{v}_5 \frac{\partial v_5}{\partial v_3}$ & $= \bar{v}_5 \times (-1)$ "
        r"& $= -1$ \\",
        r"$\bar{v}_0 = \bar{v}_3 \frac{\partial v_3}{\partial v_0}$ & $= \bar{v}_3 \times \cos "
        r"v_0$ & $= -0.284$ \\",
        r"$\bar{v}_{-1} = \bar{v}_{-1} + \bar{v}_1 \frac{\partial v_1}{\partial v_{-1}}$ & "
        r"$= \bar{v}_{-1} + \bar{v}_1/v_{-1}$ & $= 5.5$ \\",
        r"$\bar{x}_2 = \bar{v}_0$ &  & $= 1.716$ \\",
    ]:
        assert row in tex.splitlines(), row


def test_latex_notation_z_is_the_slides() -> None:
    tex = _latex(SAMPLES / "slide.py", "w1=1.5", "w2=0.5", "--notation", "z")
    maths = check_latex(tex)
    for cell in [
        r"z_1 = w_1 \cdot w_2^{-1}",
        r"z_2 = \sin(2\pi z_1)",
        r"z_3 = \exp(2 w_2)",
        r"z_4 = 3 z_1 - z_3",
        r"z_5 = z_2 + z_4",
        r"z_6 = z_5 \cdot z_4",
        r"\bar{z}_6 = 1",
        r"\frac{\partial f}{\partial w_1} = \bar{w}_1",
    ]:
        assert cell in maths, cell


@pytest.mark.parametrize(
    "args",
    [
        ("baydin.py", "--explain"),
        ("slide.py", "w1=1.5", "w2=0.5", "--notation", "z", "--explain"),
        ("chain.py",),
        ("least_squares.py", "w=zeros(2)", "b=0", "X=[[1, 2], [3, 4], [5, 6]]", "y=[1, 2, 3]"),
        (
            "mlp.py",
            "--function",
            "loss",
            "theta1=ones(3, 2)",
            "theta2=ones(3, 3)",
            "theta3=ones(3)",
            "X=ones(4, 2)",
            "y=[0, 1, 0, 1]",
        ),
    ],
)
def test_latex_parses_and_each_cell_typesets(args: tuple[str, ...]) -> None:
    """Every table parses; every scalar example's math is typeset by matplotlib's mathtext."""
    from matplotlib.mathtext import MathTextParser

    tex = _latex(SAMPLES / args[0], *args[1:])
    maths = check_latex(tex)
    if args[0] not in ("least_squares.py", "mlp.py"):
        parser = MathTextParser("path")
        for m in maths:
            parser.parse(f"${m}$")


LATEX_ENGINES = ["pdflatex", "lualatex", "xelatex", "tectonic"]


def test_latex_compiles_with_an_engine(tmp_path: Path) -> None:
    engine = next((e for e in LATEX_ENGINES if shutil.which(e)), None)
    if engine is None:
        pytest.skip(
            "environment: no LaTeX engine (pdflatex, lualatex, xelatex, tectonic) on PATH; "
            "test_latex_parses_* check the text with a parser"
        )
    body = _latex(SAMPLES / "baydin.py", "--explain")
    body += _latex(SAMPLES / "slide.py", "w1=1.5", "w2=0.5", "--notation", "z")
    doc = tmp_path / "tables.tex"
    doc.write_text("\\documentclass{article}\n\\begin{document}\n" + body + "\\end{document}\n")
    args = (
        [engine, doc.name]
        if engine == "tectonic"
        else [engine, "-interaction=nonstopmode", "-halt-on-error", doc.name]
    )
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "tables.pdf").exists()


def test_latex_escapes_text_and_names() -> None:
    from ad_compiler.core.printer import TexPrinter, tex_text

    assert tex_text("p * x^(p-1) 100% a_b {c} & #") == (r"p * x\^{}(p-1) 100\% a\_b \{c\} \& \#")
    tex = TexPrinter(compile_file(SAMPLES / "mlp.py").traces["loss"], "z")
    assert tex.symbol("theta1") == r"\theta_1" and tex.symbol("x1", bar=True) == r"\bar{x}_1"
    assert (
        tex.symbol("lam") == r"\mathit{lam}"
        and tex.symbol("lam", True) == r"\overline{\mathit{lam}}"
    )
    assert tex.symbol("w_out") == r"w_{out}" and tex.symbol("X") == "X"


def _markdown_tables(text: str) -> list[list[list[str]]]:
    """The tables GitHub's Markdown (GFM) sees in `text`: rows of cell texts."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    tables: list[list[list[str]]] = []
    in_cell = False
    for tok in tokens:
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            tables[-1].append([])
        elif tok.type in ("th_open", "td_open", "th_close", "td_close"):
            in_cell = tok.type.endswith("open")
        elif tok.type == "inline" and in_cell:
            tables[-1][-1].append(tok.content)
    return tables


def test_markdown_renders_as_github_tables() -> None:
    compiled = compile_file(SAMPLES / "slide.py")
    report = compiled.run_report({"w1": 1.5, "w2": 0.5}, notation="z")
    for explain in (False, True):
        text = adc(
            "run",
            str(SAMPLES / "slide.py"),
            "w1=1.5",
            "w2=0.5",
            "--format",
            "markdown",
            "--notation",
            "z",
            *(["--explain"] if explain else []),
        )
        primal, adjoint = _markdown_tables(text)
        assert primal[0] == ["variable", "expression", "value"]
        assert [row[:2] for row in primal[1:]] == [
            [f"`{r.var}`", f"`{r.expr}`"] for r in report.primal
        ]
        assert len(adjoint) == len(report.adjoint) + 1
        assert all(len(row) == (4 if explain else 3) for row in adjoint)
        assert [row[1] for row in adjoint[1:]] == [f"`{r.expr}`" for r in report.adjoint]
    from ad_compiler.teach.tables import _md_code

    # a `|` inside a cell is escaped, so the cell stays one cell
    assert _markdown_tables(f"| a |\n|---|\n| {_md_code('x|y')} |\n")[0][1] == ["`x|y`"]


# ---------------------------------------------------------------------------------------------
# 3. Notebook display
# ---------------------------------------------------------------------------------------------


class _Tables(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _html_tables(text: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(text)
    return parser.tables


def test_notebook_shows_trace_and_run_as_html_tables() -> None:
    from IPython.core.formatters import DisplayFormatter

    compiled = compile_file(SAMPLES / "baydin.py")
    formats, _ = DisplayFormatter().format(compiled.trace_report())
    (steps,) = _html_tables(formats["text/html"])
    assert steps[0] == ["variable", "expression", "type", "reads"]
    assert steps[1] == ["z1", "log(x1)", "Type 3", "x1"] and len(steps) == 1 + 5 + 1
    run = compiled.run_report({"x1": 2.0, "x2": 5.0})
    formats, _ = DisplayFormatter().format(run)
    primal, adjoint = _html_tables(formats["text/html"])
    assert [r[0] for r in primal[1:]] == [r.var for r in run.primal]
    assert adjoint[-2] == ["x1bar", "v-1bar", "5.5"] and len(adjoint) == 12
    assert "<script" not in formats["text/html"]


@needs_graphviz
def test_notebook_shows_the_graph_as_svg() -> None:
    from IPython.core.formatters import DisplayFormatter

    graph = compile_file(SAMPLES / "slide.py").computation_graph()
    formats, _ = DisplayFormatter().format(graph)
    assert "image/svg+xml" in formats and "text/html" not in formats
    assert "<title>z6</title>" in formats["image/svg+xml"]


def test_notebook_without_graphviz_shows_dot_and_the_install_hint(monkeypatch) -> None:
    from IPython.core.formatters import DisplayFormatter

    from ad_compiler.teach import graph as graph_module

    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    graph = compile_file(SAMPLES / "slide.py").computation_graph()
    formats, _ = DisplayFormatter().format(graph)
    assert "image/svg+xml" not in formats
    assert "the `dot` program is not on PATH" in formats["text/html"]
    assert "apt-get install graphviz" in formats["text/html"]
    assert "&quot;z5&quot; -&gt; &quot;z6&quot;" in formats["text/html"]


# ---------------------------------------------------------------------------------------------
# 4. The cost report
# ---------------------------------------------------------------------------------------------


def test_cost_counts_the_generated_code() -> None:
    """V, E, T; the operations of f by kind (ln(x1) + x1*x2 - sin(x2): one each of log, *,
    sin, +, -) and of the gradient; ratios within the bound of 5."""
    report = compile_file(SAMPLES / "baydin.py").cost_report(timing=False)
    assert (report.V, report.E, report.T, report.n) == (7, 8, 5, 2)
    assert dict(report.primal) == {"log": 1, "*": 1, "sin": 1, "+": 1, "-": 1}
    # grad_f checks log's domain (`x1 <= 0`, then log(x1) there), as value_and_grad_f's log does
    assert report.gradient["<="] == report.gradient["log"] == 1
    assert report.totals()["value_and_grad"] == 5 + report.totals()["gradient"] - 2
    slide = compile_file(SAMPLES / "slide.py").cost_report(timing=False)
    assert (slide.V, slide.E, slide.T) == (8, 10, 6)
    for r in (report, slide):
        assert r.within_bound() and r.ratios()["value_and_grad"] <= BAUR_STRASSEN


def test_cost_counts_agree_with_the_module_source() -> None:
    """The counts are the operators and calls of the generated functions' text."""
    compiled = compile_file(SAMPLES / "slide.py")
    report = compiled.cost_report(timing=False)
    import inspect

    module = compiled.module
    for name, counts in [("f", report.primal), ("grad_f", report.gradient)]:
        body = inspect.getsource(getattr(module, name)).split('"""')[2]
        code = "\n".join(line.split("#")[0] for line in body.splitlines())
        assert counts["sin"] == len(re.findall(r"\bsin\(", code))
        assert counts["/"] == code.count(" / ")
        assert counts["+"] == code.count(" + ")


@pytest.mark.parametrize("name", ["baydin.py", "slide.py", "chain.py"])
def test_naive_forward_gradient_is_the_gradient(name: str) -> None:
    compiled = compile_file(SAMPLES / name)
    trace = next(iter(compiled.traces.values()))
    tangent = load_in_memory(tangent_source(trace)).tangent
    for point in [
        [0.7 + 0.1 * i for i in range(len(trace.params))],
        [1.3 - 0.05 * i for i in range(len(trace.params))],
    ]:
        assert naive_gradient(tangent, point) == pytest.approx(
            getattr(compiled, f"grad_{trace.name}")(*point), rel=1e-12
        )


def test_cost_grows_linearly_and_the_naive_forward_mode_quadratically() -> None:
    """The seed's point on the chain family (n = T/2 + 1): counts from the generated code."""
    sys.path.insert(0, str(SAMPLES / "scripts"))
    from chain import chain_source

    sizes = [20, 80, 320]
    totals = []
    for steps in sizes:
        compiled = ad_compiler.compile_source(chain_source(steps), "chain.py")
        report = compiled.cost_report(timing=False)
        assert report.T == steps and report.E == 3 * steps // 2
        totals.append(report.totals())
    for key, slope in [("primal", 1), ("gradient", 1), ("value_and_grad", 1), ("naive", 2)]:
        assert fitted_slope(sizes, [t[key] for t in totals]) == pytest.approx(slope, abs=0.05)
    # exactly linear in T: the same operations per step at every size; the naive forward mode
    # is n = T/2 + 1 passes, each linear in T
    for key in ("primal", "gradient", "value_and_grad"):
        pairs = zip(totals[1:], sizes[1:])
        assert len({(t[key] - totals[0][key]) / (s - sizes[0]) for t, s in pairs}) == 1, key
    passes = [t["naive"] / (s // 2 + 1) for t, s in zip(totals, sizes)]
    assert len({(p - passes[0]) / (s - sizes[0]) for p, s in zip(passes[1:], sizes[1:])}) == 1


def test_samples_chain_is_the_generators() -> None:
    sys.path.insert(0, str(SAMPLES / "scripts"))
    from chain import chain_source

    assert (SAMPLES / "chain.py").read_text() == chain_source(10)


TIME_BLOCK = re.compile(
    r"time per call at (?P<at>.*) \(median of 7 runs\):\n"
    r"  f +(?P<f>[\d.]+ [mun]?s)\n"
    r"  grad_f +(?P<g>[\d.]+ [mun]?s)  (?P<gr>[\d.]+) x f\n"
    r"  value_and_grad_f +(?P<vg>[\d.]+ [mun]?s)  (?P<vgr>[\d.]+) x f\n"
    r"  naive forward \((?P<n>\d+) passes\) +(?P<nf>[\d.]+ [mun]?s)  (?P<nr>[\d.]+) x f\n$"
)


@pytest.mark.parametrize("example", EXAMPLES)
def test_cost_cli_prints_counts_and_times(example: str) -> None:
    path = EXAMPLES[example][0]
    proc = run_adc("cost", str(path))
    assert proc.returncode == 0, proc.stderr
    counts, timing = proc.stdout.split("\n\ntime per call")
    golden = (GOLDEN / f"{example}_cost.txt").read_text()
    assert golden.startswith(counts + "\n\ntime: not measured")
    m = TIME_BLOCK.fullmatch("time per call" + timing)
    assert m, timing
    assert float(m["gr"]) > 0 and float(m["nr"]) > float(m["gr"]) * 0.5
    if example == "baydin":
        assert m["at"] == "x1=2.0, x2=5.0"  # the defaults


def test_cost_at_a_point_and_without_one(write) -> None:
    path = write("import numpy as np\n\n\ndef f(w, X):\n    return np.sum(X @ w)\n")
    out = adc("cost", str(path))
    assert out.endswith(
        "time: not measured (pass NAME=VALUE for the array parameters to time it)\n"
    )
    assert "naive forward" not in out
    out = adc("cost", str(path), "w=[1, 2]", "X=[[1, 2], [3, 4]]")
    assert "time per call at w=array, X=array (median of 7 runs):" in out
    proc = run_adc("cost", str(SAMPLES / "slide.py"), "w1=1", "w2=0")
    assert proc.returncode == 1 and "error: evaluating z1 = w1 * w2^-1 failed" in proc.stderr


def test_cost_says_above_where_a_partial_costs_more_than_the_step(write) -> None:
    """asin's derivative 1/sqrt(1 - u^2) costs several operations: above the bound of 5."""
    path = write("import math\n\n\ndef f(x=0.5):\n    return math.asin(x)\n")
    report = ad_compiler.compile_file(path).cost_report(timing=False)
    assert not report.within_bound() and report.ratios()["value_and_grad"] > BAUR_STRASSEN
    assert "above the Baur-Strassen bound of 5" in report.to_text()


def test_api_reports_pick_the_function_and_honour_wrt() -> None:
    compiled = ad_compiler.compile_file(SAMPLES / "baydin.py", wrt=["x2"])
    report = compiled.run_report()
    assert report.gradient == {"x2": pytest.approx(1.7163378145367738)}
    two = ad_compiler.compile_source("def g(x):\n    return x\n\n\ndef f(x):\n    return g(x)\n")
    with pytest.raises(ValueError, match="several functions"):
        two.trace_report()
    assert two.trace_report(function="f").to_dict()["function"] == "f"
    assert repr(two.computation_graph(function="f")) == "<Graph f(x): V = 1 nodes, E = 0 edges>"


# ---------------------------------------------------------------------------------------------
# 5. --explain
# ---------------------------------------------------------------------------------------------


def test_explain_names_the_rule_of_every_adjoint_row() -> None:
    """Under each adjoint row, the rule of the step whose edge it is: its Type and, for Type 3,
    which h; the types match the trace's steps."""
    compiled = compile_file(SAMPLES / "slide.py")
    trace = compiled.traces["f"]
    text = adc("run", str(SAMPLES / "slide.py"), "w1=1.5", "w2=0.5", "--notation", "z", "--explain")
    lines = text.split("Reverse adjoint trace\n")[1].split("\n\n")[0].splitlines()
    rows, notes = lines[0::2], lines[1::2]
    assert len(rows) == len(notes) == 13
    assert notes[0].strip() == "seed: dz6/dz6 = 1"
    for row, note in zip(rows[1:11], notes[1:11]):
        target = row.split("=")[0].strip()
        child = int(re.match(r"\s*dz(\d+)/d", note)[1])
        step = trace.step(child)
        assert f"by Type {rule(step).type} (" in note, (row, note)
        parent = re.match(r"\s*dz\d+/d(\w+?) ", note)[1]
        assert target == parent + "bar"
    assert (
        "dz2/dz1 = 2*pi * cos(2*pi * z1) by Type 3 (unary): h'(u) with h = sin, "
        "h'(u) = cos(u), u = 2*pi*z1" in text
    )
    assert "dz1/dw2 = -(w1 / w2 / w2) by Type 2 (product): the power rule" in text
    assert "dz4/dz3 = -1 by Type 1 (affine): the partial is the coefficient" in text
    assert notes[-1].strip() == "the gradient: df/dw2 is the adjoint of w2"


def test_explain_in_json_and_latex() -> None:
    data = json.loads(adc("run", str(SAMPLES / "baydin.py"), "--format", "json", "--explain"))
    assert all("rule" in r for r in data["adjoint"]) and all(
        "rule" not in r for r in data["primal"]
    )
    assert data["adjoint"][5]["rule"].startswith("dv3/dv0 = cos(v0) by Type 3")
    plain = json.loads(adc("run", str(SAMPLES / "baydin.py"), "--format", "json"))
    assert all(set(r) == {"var", "expr", "value"} for r in plain["adjoint"])
    tex = _latex(SAMPLES / "baydin.py", "--explain")
    assert (
        r"\multicolumn{3}{l}{\quad\footnotesize $\frac{\partial v_3}{\partial v_0} = \cos "
        r"v_0$ by Type 3 (unary): h'(u) with h = sin, h'(u) = cos(u)} \\"
    ) in tex


# ---------------------------------------------------------------------------------------------
# 6. The pictures docs/teaching.md shows are what the tools make now
# ---------------------------------------------------------------------------------------------


def _png_source(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as image:
        return image.info["Source"]


def _figures():
    sys.path.insert(0, str(SAMPLES / "scripts"))
    import teaching_figures

    return teaching_figures


def test_committed_table_picture_is_the_latex_adc_prints() -> None:
    tex = (FIGURES / "baydin_table.tex").read_text()
    assert tex == _latex(SAMPLES / "baydin.py") == _figures().baydin_report().to_latex()
    assert _png_source(FIGURES / "baydin_table.png") == hashlib.sha256(tex.encode()).hexdigest()


def test_committed_graphs_are_what_adc_draws() -> None:
    graphs = _figures().slide_graphs()
    assert graphs["slide_graph"] == adc("graph", str(SAMPLES / "slide.py"))
    assert graphs["slide_graph_values"] == adc(
        "graph", str(SAMPLES / "slide.py"), "w1=1.5", "w2=0.5", "--partials"
    )
    for stem, dot in graphs.items():
        assert (FIGURES / f"{stem}.dot").read_text() == dot


@needs_graphviz
@pytest.mark.parametrize("stem", ["slide_graph", "slide_graph_values"])
def test_committed_svgs_are_what_graphviz_draws(stem: str) -> None:
    """The committed SVG holds the nodes, edges and labels Graphviz draws from the committed
    DOT (coordinates depend on the fonts installed, so they are not compared)."""

    def content(svg: str) -> list[str]:
        return re.findall(r"<(?:title|text)\b[^>]*>(.*?)</(?:title|text)>", svg)

    dot = (FIGURES / f"{stem}.dot").read_text()
    import graphviz

    drawn = graphviz.Source(dot).pipe(format="svg").decode()
    committed = (FIGURES / f"{stem}.svg").read_text()
    assert content(committed) == content(drawn)
    assert "z6 = z5 * z4" in content(committed) and len(content(committed)) > 20


def test_committed_cost_plot_is_from_the_counts_adc_makes_now() -> None:
    """cost.json holds the plotted numbers and cost.png their hash; the counts of the small
    sizes are recomputed, and the curves have the slopes the seed says."""
    text = (FIGURES / "cost.json").read_text()
    assert _png_source(FIGURES / "cost.png") == hashlib.sha256(text.encode()).hexdigest()
    rows = json.loads(text)["rows"]
    sizes = [r["T"] for r in rows]
    assert sizes[0] == 10 and sizes[-1] == 100_000
    sys.path.insert(0, str(SAMPLES / "scripts"))
    from cost_plot import measure

    for row in rows:
        if row["T"] <= 1000:
            fresh = measure(row["T"], budget=0, timing=False)
            assert fresh["operations"] == row["operations"], row["T"]
    ops = {k: [r["operations"][k] for r in rows] for k in ("primal", "gradient", "naive")}
    assert fitted_slope(sizes, ops["gradient"]) == pytest.approx(1, abs=0.02)
    assert fitted_slope(sizes, ops["naive"]) == pytest.approx(2, abs=0.05)
    ratios = [g / p for g, p in zip(ops["gradient"], ops["primal"])]
    assert max(ratios) <= BAUR_STRASSEN
    seconds = {k: [r["seconds"][k] for r in rows] for k in ("primal", "gradient", "naive")}
    assert fitted_slope(sizes, seconds["gradient"]) < 1.3
    assert fitted_slope(sizes, seconds["naive"]) > 1.7


# ---------------------------------------------------------------------------------------------
# docs/teaching.md shows these outputs as adc prints them
# ---------------------------------------------------------------------------------------------


def test_docs_explain_block_is_what_adc_prints() -> None:
    shown = block(TEACHING, "baydin-explain")
    out = adc("run", str(SAMPLES / "baydin.py"), "--explain")
    assert (
        "Reverse adjoint trace\n" + out.split("Reverse adjoint trace\n")[1].split("\n\n")[0] + "\n"
        == shown
    )


def test_docs_latex_block_is_what_adc_prints() -> None:
    assert block(TEACHING, "baydin-latex") == _latex(SAMPLES / "baydin.py")


def test_docs_dot_block_is_what_adc_prints() -> None:
    assert block(TEACHING, "slide-dot") == adc("graph", str(SAMPLES / "slide.py"))


def test_docs_cost_block_is_what_adc_prints() -> None:
    shown = block(TEACHING, "slide-cost")
    golden = (GOLDEN / "slide_cost.txt").read_text()
    counts = golden.split("\n\ntime: not measured")[0]
    assert shown.startswith(counts + "\n\ntime per call at ")
    assert TIME_BLOCK.fullmatch("time per call" + shown.split("\n\ntime per call")[1])


def test_docs_show_the_pictures() -> None:
    for picture in ["baydin_table.png", "slide_graph.svg", "slide_graph_values.svg", "cost.png"]:
        assert f"(figures/{picture})" in page(TEACHING), picture
        assert (FIGURES / picture).exists()


def test_docs_notebook_example_runs() -> None:
    namespace: dict = {}
    exec(block(TEACHING, "notebook"), namespace)
    assert "<table>" in namespace["compiled"].trace_report()._repr_html_()


def test_docs_cost_table_and_figures_are_the_plotted_numbers() -> None:
    sys.path.insert(0, str(SAMPLES / "scripts"))
    from cost_plot import summary_table

    data = json.loads((FIGURES / "cost.json").read_text())
    assert summary_table(data) in page(TEACHING)
    rows = data["rows"]
    sizes = [r["T"] for r in rows]

    def slope(kind: str, key: str) -> str:
        return f"{fitted_slope(sizes, [r[kind][key] for r in rows]):.2f}"

    text = " ".join(page(TEACHING).split())  # the prose, whatever its line breaks
    assert f"slope {slope('operations', 'primal')} for f and grad_f" in text
    assert slope("operations", "gradient") == "1.00"
    assert f"grow with slope {slope('operations', 'naive')}, as T * n" in text
    times = (slope("seconds", "primal"), slope("seconds", "gradient"), slope("seconds", "naive"))
    assert "with slopes {} for f, {} for grad_f and {} for the naive".format(*times) in text
    ratios = [r["seconds"]["gradient"] / r["seconds"]["primal"] for r in rows]
    assert f"grad_f takes {min(ratios):.1f} to {max(ratios):.1f} times f" in text
    last = rows[-1]
    ops, secs = last["operations"], last["seconds"]
    assert (
        f"they need {ops['naive'] / 1e9:.1f} billion operations for what the reverse sweep does "
        f"in {ops['gradient']:,}" in text
    )
    assert (
        f"would take about {round(secs['naive'] / 60)} minutes (one pass timed, times n) against "
        f"grad_f's {secs['gradient'] * 1e3:.0f} ms" in text
    )


def test_report_methods_take_precedence_over_generated_functions() -> None:
    """A source function called `cost_report` is reached through `compiled.module`."""
    compiled = ad_compiler.compile_source("def cost_report(x):\n    return x * x\n")
    assert compiled.cost_report(timing=False).function == "cost_report"
    assert compiled.module.cost_report(3.0) == 9.0 and compiled.grad_cost_report(3.0) == (6.0,)
