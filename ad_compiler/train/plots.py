"""Loss curves as a PNG figure (matplotlib, imported on use)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..backend.load import write_atomic
from ..core.errors import CompileError
from .loop import TrainResult

__all__ = ["plot_history"]


def plot_history(
    curves: Mapping[str, Sequence[float]] | TrainResult,
    path: str | os.PathLike[str],
    *,
    title: str = "",
    xlabel: str = "epoch",
    ylabel: str = "training loss",
    x: Mapping[str, Sequence[float]] | None = None,
    log: bool = False,
) -> None:
    """Loss curves on one figure, written to `path` as a PNG through a temporary file.

    `curves` maps labels to losses (or is a TrainResult: its history by epoch); `x` gives each
    curve's x values (default 0, 1, ...).
    """
    if isinstance(curves, TrainResult):
        r = curves
        title = title or f"{r.model.function} on {r.data_name}: {r.method}, lr {r.lr:g}"
        curves = {r.method: r.history}
    target = Path(path)
    if not target.parent.is_dir():
        raise CompileError(
            f"cannot write the plot: the directory {target.parent} does not exist",
            filename=str(target),
            hint="create it first, or give --plot another path",
        )
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        raise CompileError(
            "--plot needs matplotlib, which is not installed",
            filename=str(target),
            hint="pip install matplotlib (or adc[train])",
        ) from None
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    try:
        for label, values in curves.items():
            xs = list(x[label]) if x is not None else list(range(len(values)))
            ax.plot(xs, list(values), label=label, linewidth=1.4)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    try:
        write_atomic(target, buffer.getvalue())
    except OSError as exc:
        raise CompileError(
            f"cannot write {target}: {exc.strerror}", filename=str(target), hint="check the path"
        ) from None
