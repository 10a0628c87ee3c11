"""The teaching pictures of docs/teaching.md, drawn by adc from the lecture's two examples.

- docs/figures/baydin_table.png: the Baydin et al. primal and adjoint tables at (2, 5), drawn
  with matplotlib's mathtext from the LaTeX `adc run samples/baydin.py --format latex` prints
  (saved beside it as baydin_table.tex; the PNG stores that text's SHA-256);
- docs/figures/slide_graph.dot and .svg: the slide's computation graph, `adc graph
  samples/slide.py` and the SVG Graphviz draws from it;
- docs/figures/slide_graph_values.dot and .svg: the same graph at w1 = 1.5, w2 = 0.5 with each
  node's value and adjoint and each edge's local partial (`adc graph samples/slide.py w1=1.5
  w2=0.5 --partials`).

    python samples/scripts/teaching_figures.py      # needs matplotlib, and Graphviz for SVG

tests/test_teaching.py checks that the committed files are what this produces now.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ad_compiler import compile_file  # noqa: E402
from ad_compiler.teach.tables import Row, RunReport  # noqa: E402

FIGURES = ROOT / "docs" / "figures"
GRAPHS = {"slide_graph": ({}, False), "slide_graph_values": ({"w1": 1.5, "w2": 0.5}, True)}


def baydin_report() -> RunReport:
    """The lecture's table: samples/baydin.py at its defaults (2, 5)."""
    return compile_file(ROOT / "samples" / "baydin.py").run_report()


def slide_graphs() -> dict[str, str]:
    """The DOT text of each slide graph, by file stem."""
    compiled = compile_file(ROOT / "samples" / "slide.py")
    return {
        stem: compiled.computation_graph(values or None, partials=partials).to_dot()
        for stem, (values, partials) in GRAPHS.items()
    }


def draw_table(report: RunReport, png: Path, digest: str) -> None:
    """Both tables side by side, as the lecture's slide shows them, each cell in mathtext."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(len(report.primal), len(report.adjoint))
    fig = plt.figure(figsize=(14, 0.55 * rows + 1.0))
    renderer = fig.canvas.get_renderer()
    step = 1 / (rows + 2.2)

    def column(x: float, cells: list[str]) -> float:
        """Cells top to bottom from x; the right edge of the widest, in figure coordinates."""
        right = x
        for i, text in enumerate(cells):
            if not text:
                continue
            t = fig.text(x, 1 - (i + 2) * step, text, fontsize=12, va="center")
            box = t.get_window_extent(renderer).transformed(fig.transFigure.inverted())
            right = max(right, box.x1)
        return right + 0.012

    def table(x: float, title: str, body: list[Row], columns: int) -> float:
        fig.text(x, 1 - step, title, fontsize=13, weight="bold", va="center")
        for c in range(columns):
            texts = [r.tex[c] if len(r.tex) > c else "" for r in body]
            equals = "= " if c == 1 else ""  # the concrete column, as the lecture writes it
            cells = [f"${equals}{_display(t)}$" if t else "" for t in texts]
            x = column(x, cells)
        return column(x, [_value(r) for r in body])

    right = table(0.01, "Forward primal trace", report.primal, 1)
    table(right + 0.03, "Reverse adjoint trace", report.adjoint, 2)
    fig.savefig(png, dpi=110, metadata={"Source": digest}, bbox_inches="tight", pad_inches=0.2)
    plt.close(fig)


def _display(tex: str) -> str:
    """A cell in display style, so the partials read as fractions."""
    return tex.replace(r"\frac", r"\dfrac")


def _value(row: Row) -> str:
    from ad_compiler.teach.tables import format_value

    return f"$= {format_value(row.value)}$"


def main() -> None:
    report = baydin_report()
    latex = report.to_latex()
    (FIGURES / "baydin_table.tex").write_text(latex, encoding="utf-8")
    digest = hashlib.sha256(latex.encode("utf-8")).hexdigest()
    draw_table(report, FIGURES / "baydin_table.png", digest)
    from ad_compiler.teach.graph import graphviz_missing

    for stem, dot in slide_graphs().items():
        (FIGURES / f"{stem}.dot").write_text(dot, encoding="utf-8")
        missing = graphviz_missing()
        if missing:
            print(f"not drawing {stem}.svg: {missing}")
            continue
        import graphviz

        svg = graphviz.Source(dot).pipe(format="svg").decode("utf-8")
        (FIGURES / f"{stem}.svg").write_text(svg, encoding="utf-8")
    print(f"wrote {FIGURES}/baydin_table.png, .tex, slide_graph*.dot, slide_graph*.svg")


if __name__ == "__main__":
    main()
