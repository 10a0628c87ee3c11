"""`adc`: the command line. Argument parsing and printing only; the work is ad_compiler.api's."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ad_compiler import __version__, api
from ad_compiler.api import CompileError

F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(fn: F) -> F:
    """Report bad input as one located message on stderr with exit status 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CompileError as exc:
            click.echo(exc.render(), err=True)
            sys.exit(1)
        except (RecursionError, MemoryError) as exc:
            error = CompileError(
                f"the input is too large to process ({type(exc).__name__})",
                filename=str(kwargs.get("file", "<input>")),
                hint="split the function into smaller ones",
            )
            click.echo(error.render(), err=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug in adc: still no traceback for the user
            click.echo(
                f"adc: internal error: {type(exc).__name__}: {exc}\n"
                "hint: this is a bug in adc; please report it with the input file",
                err=True,
            )
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(__version__, prog_name="adc")
def main() -> None:
    """adc: compile Python functions to readable reverse-mode gradient code."""


@main.command("compile")
@click.argument("file")
@click.option("-o", "--output", help="Output path; '-' for stdout. Default: <stem>_grad.py.")
@click.option("--function", "function", help="Compile only this function.")
@click.option("--wrt", help="Comma-separated parameters to differentiate by, in this order.")
@click.option(
    "--backend",
    type=click.Choice(["python", "numba"]),
    default="python",
    show_default=True,
    help="numba: the same functions compiled by numba.njit, cached on disk (scalar code).",
)
@click.option(
    "--passes",
    "passes",
    metavar="all|none|P1,P2",
    help=f"Optimisation passes to run (default all: {', '.join(api.PASSES)}).",
)
@clean_errors
def compile_cmd(
    file: str,
    output: str | None,
    function: str | None,
    wrt: str | None,
    backend: str,
    passes: str | None,
) -> None:
    """Write a module with f, grad_f and value_and_grad_f for every function in FILE."""
    names = [w.strip() for w in wrt.split(",") if w.strip()] if wrt else None
    chosen = api.passes_named(passes, file)
    out = None
    if output != "-":
        src = Path(file)
        out = api.check_output_path(src, output or src.with_name(f"{src.stem}_grad.py"), file)
    compiled = api.compile_source(api.read_source(file), file, function, names, chosen, backend)
    if out is None:
        click.echo(compiled.source, nl=False)
        return
    api.write_output(out, compiled.source, file)
    made = ", ".join(p.name for p in compiled.programs)
    click.echo(f"wrote {out} ({made})", err=True)


@main.command("trace")
@click.argument("file")
@click.option("--function", "function", help="The function to show (default: the main one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@clean_errors
def trace_cmd(file: str, function: str | None, fmt: str) -> None:
    """Print the SSA trace z1..zT of a function in the lecture's computation model."""
    compiled, function = api.open_function(file, function)
    report = compiled.trace_report(function)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.to_text())


@main.command("run")
@click.argument("file")
@click.argument("values", nargs=-1)
@click.option("--function", "function", help="The function to run (default: the main one).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "markdown", "latex", "json"]), default="text"
)
@click.option("--notation", type=click.Choice(["v", "z"]), default="v", help="v_i or z_t names.")
@click.option("--explain", is_flag=True, help="Under each adjoint row, the rule behind it.")
@clean_errors
def run_cmd(
    file: str,
    values: tuple[str, ...],
    function: str | None,
    fmt: str,
    notation: str,
    explain: bool,
) -> None:
    """Compile, run at NAME=VALUE ... and print the primal and adjoint traces."""
    compiled, function = api.open_function(file, function)
    compiled.load_in_memory()
    given = api.parse_values(values, file)
    report = compiled.run_report(given, function=function, notation=notation)
    if fmt == "json":
        click.echo(report.to_json(explain))
    elif fmt == "markdown":
        click.echo(report.to_markdown(explain))
    elif fmt == "latex":
        click.echo(report.to_latex(explain), nl=False)
    else:
        click.echo(report.to_text(explain))


@main.command("graph")
@click.argument("file")
@click.argument("values", nargs=-1)
@click.option("--function", "function", help="The function to draw (default: the main one).")
@click.option(
    "-o", "--output", help="OUT.dot, OUT.svg or OUT.png (Graphviz); default: DOT on stdout."
)
@click.option("--partials", is_flag=True, help="Label each edge with its local partial.")
@click.option("--notation", type=click.Choice(["z", "v"]), default="z", help="z_t or v_i names.")
@clean_errors
def graph_cmd(
    file: str,
    values: tuple[str, ...],
    function: str | None,
    output: str | None,
    partials: bool,
    notation: str,
) -> None:
    """Draw the computation graph of a function's trace: inputs, one node per step, one edge
    per argument. With NAME=VALUE ..., each node's value and adjoint at that point."""
    compiled, function = api.open_function(file, function)
    given = api.parse_values(values, file)
    graph = compiled.computation_graph(
        given or None, function=function, notation=notation, partials=partials
    )
    if output is None or output == "-":
        click.echo(graph.to_dot(), nl=False)
        return
    out = api.check_output_path(file, output, file)
    api.write_output(out, api.graph_bytes(graph, output, file), file)
    click.echo(f"wrote {out} ({graph.title()})", err=True)


@main.command("cost")
@click.argument("file")
@click.argument("values", nargs=-1)
@click.option("--function", "function", help="The function to measure (default: the main one).")
@clean_errors
def cost_cmd(file: str, values: tuple[str, ...], function: str | None) -> None:
    """The lecture's complexity facts: V, E, T, the operations of the generated primal and
    gradient by kind against the Baur-Strassen bound, a naive forward-mode gradient's, and the
    measured times (at NAME=VALUE ..., the defaults, or a random point)."""
    compiled, function = api.open_function(file, function)
    compiled.load_in_memory()
    report = compiled.cost_report(api.parse_values(values, file), function=function)
    click.echo(report.to_text())


@main.command("check")
@click.argument("file")
@click.argument("values", nargs=-1)
@click.option("--function", "function", help="The function to check (default: the main one).")
@click.option("--tol", type=float, default=1e-6, show_default=True, help="Largest error allowed.")
@click.option("--points", type=int, default=5, show_default=True, help="Random points to try.")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for random points and directions."
)
@click.option(
    "--elementwise", is_flag=True, help="Check every element of an array, not one direction."
)
@clean_errors
def check_cmd(
    file: str,
    values: tuple[str, ...],
    function: str | None,
    tol: float,
    points: int,
    seed: int,
    elementwise: bool,
) -> None:
    """Check the generated gradient against finite differences at NAME=VALUE ... or at random
    points (numbers only): an array along a random direction, or every element. Exits 1 when
    an error exceeds --tol or the function is undefined at a point."""
    compiled, function = api.open_function(file, function)
    given = api.parse_values(values, file)
    results = api.check_points(
        compiled, function, given, tol=tol, count=points, seed=seed, elementwise=elementwise
    )
    click.echo("\n\n".join(r.to_text() for r in results))
    if not all(r.ok for r in results):
        sys.exit(1)


@main.command("train")
@click.argument("file")
@click.option("--function", "function", help="The loss to train (default: `loss`).")
@click.option(
    "--data",
    "source",
    required=True,
    metavar="SOURCE",
    help="breast_cancer, diabetes, iris, digits (bundled with scikit-learn), or a .csv/.npz file.",
)
@click.option("--target", help="Target column of a CSV/NPZ table: name or index (default: last).")
@click.option(
    "--method",
    type=click.Choice(["gd", "sgd", "minibatch", "subgradient"]),
    default="gd",
    show_default=True,
)
@click.option("--lr", type=float, default=0.1, show_default=True, help="Step size.")
@click.option("--schedule", type=click.Choice(["constant", "sqrt"]), help="lr or lr/sqrt(t).")
@click.option("--batch", type=int, default=32, show_default=True, help="Mini-batch size.")
@click.option("--epochs", type=int, default=100, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the split and SGD.")
@click.option("--shape", "shapes", multiple=True, metavar="NAME=DIMS", help="e.g. theta1=16,d.")
@click.option("--init", type=click.Choice(["zeros", "normal"]), default="zeros", show_default=True)
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE", help="A hyperparameter.")
@click.option("--labels", type=click.Choice(["raw", "pm1", "01"]), default="raw", show_default=True)
@click.option("--positive", type=float, help="Class K vs the rest (iris, digits: default 1).")
@click.option("--classify", is_flag=True, help="Treat the target as classes (for accuracy).")
@click.option("--test-size", type=float, default=0.2, show_default=True, help="Held-out share.")
@click.option("--raw", is_flag=True, help="Do not standardise the features.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write the loss curve to this PNG.")
@clean_errors
def train_cmd(
    file: str,
    function: str | None,
    source: str,
    target: str | None,
    method: str,
    lr: float,
    schedule: str | None,
    batch: int,
    epochs: int,
    seed: int,
    shapes: tuple[str, ...],
    init: str,
    settings: tuple[str, ...],
    labels: str,
    positive: float | None,
    classify: bool,
    test_size: float,
    raw: bool,
    plot: str | None,
) -> None:
    """Train FILE's loss on a data set: X and y receive the data, parameters with defaults are
    hyperparameters (--set), the others are trained. Progress on stderr, the report on stdout."""
    plan = api.setup_training(
        file,
        data=source,
        function=function,
        method=method,
        lr=lr,
        epochs=epochs,
        batch=batch,
        seed=seed,
        shapes=list(shapes),
        init=init,
        settings=api.parse_settings(settings, file),
        labels=labels,
        positive=positive,
        classify=classify,
        test_size=test_size,
        target=target,
        raw=raw,
        schedule=schedule,
    )
    with click.progressbar(
        length=plan.epochs,
        label=f"{plan.method} on {plan.data_name}",
        file=sys.stderr,
        show_pos=True,
        item_show_func=_train_loss_text,
    ) as bar:
        result = api.run_training(plan, lambda epoch, loss: bar.update(1, loss))
    if plot:
        api.plot_history(result, plot)
        click.echo(f"wrote {plot}", err=True)
    click.echo(result.report())


def _train_loss_text(loss: float | None) -> str | None:
    return None if loss is None else f"loss {loss:.6g}"


if __name__ == "__main__":
    main()
