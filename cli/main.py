"""`adc`: thin click commands over ad_compiler's api and report."""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ad_compiler import __version__
from ad_compiler.api import Compiled, compile_source, on_deep_stack, read_source
from ad_compiler.check import compare, random_points
from ad_compiler.errors import CompileError, Source, source_lines
from ad_compiler.graph import INSTALL_HINT, PICTURE_FORMATS, GraphvizMissing
from ad_compiler.load import write_atomic
from ad_compiler.optimize import PASSES
from ad_compiler.parse import Module, read_module
from ad_compiler.report import check_parameters, trace_dict, trace_text
from ad_compiler.report import point as point_of

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


def _default_function(mod: Module) -> str:
    """The function a command works on by default: the last one no other function calls."""
    called: set[str] = set()
    for fdef in mod.functions.values():
        for node in ast.walk(fdef):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id != fdef.name:
                    called.add(node.func.id)
    roots = [n for n in mod.functions if n not in called]
    return (roots or list(mod.functions))[-1]


def _main_function(text: str, file: str) -> str:
    """The default function of a source, found on the compiler's deep stack."""
    return on_deep_stack(lambda: _default_function(read_module(Source(text, file))), file)


def _compile(
    file: str,
    function: str | None,
    wrt: list[str] | None = None,
    backend: str = "python",
    passes: list[str] | None = None,
) -> Compiled:
    text = read_source(file)
    return compile_source(text, file, function, wrt, passes=passes, backend=backend)


def _passes(spec: str | None, file: str) -> list[str] | None:
    """The optimisation passes `--passes` names: all (None), none, or a comma-separated list."""
    if spec is None or spec.strip() == "all":
        return None
    if spec.strip() == "none":
        return []
    names = [p.strip() for p in spec.split(",") if p.strip()]
    for name in names:
        if name not in PASSES:
            raise CompileError(
                f"unknown optimisation pass `{name}`",
                filename=file,
                hint=f"--passes takes all, none or some of: {', '.join(PASSES)}",
            )
    return names


def _pick(file: str, function: str | None) -> tuple[Compiled, str]:
    text = read_source(file)
    if function is None:
        function = _main_function(text, file)
    compiled = compile_source(text, file, function)
    compiled.traces[function].source_text = text
    return compiled, function


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
    help=f"Optimisation passes to run (default all: {', '.join(PASSES)}).",
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
    compiled = _compile(file, function, names, backend, _passes(passes, file))
    if output == "-":
        click.echo(compiled.source, nl=False)
        return
    src = Path(file)
    out = Path(output) if output else src.with_name(f"{src.stem}_grad.py")
    _check_output(src, out, file)
    write_atomic(out, compiled.source)
    made = ", ".join(p.name for p in compiled.programs)
    click.echo(f"wrote {out} ({made})", err=True)


def _check_output(src: Path, out: Path, file: str) -> None:
    """An output path adc may write: not the input, not a directory, in a directory that
    exists."""
    if _same_file(src, out):
        raise CompileError(
            f"refusing to overwrite the input file {file}",
            filename=file,
            hint="choose another output with -o",
        )
    if out.is_dir():
        raise CompileError(
            f"the output {out} is a directory", filename=file, hint="name a file, e.g. -o f_grad.py"
        )
    if out.parent and not out.parent.exists():
        raise CompileError(
            f"output directory {out.parent} does not exist", filename=file, hint="create it first"
        )


def _same_file(a: Path, b: Path) -> bool:
    try:
        if b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return a.resolve() == b.resolve()


@main.command("trace")
@click.argument("file")
@click.option("--function", "function", help="The function to show (default: the main one).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@clean_errors
def trace_cmd(file: str, function: str | None, fmt: str) -> None:
    """Print the SSA trace z1..zT of a function in the seed's computation model."""
    compiled, function = _pick(file, function)
    trace = compiled.traces[function]
    if fmt == "json":
        click.echo(json.dumps(trace_dict(trace), indent=2))
    else:
        click.echo(trace_text(trace))


def _parse_values(pairs: tuple[str, ...], file: str) -> dict[str, Any]:
    """NAME=VALUE arguments: a number, a list literal, zeros(...)/ones(...), or @FILE."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise CompileError(
                f"cannot read the argument `{pair}`",
                filename=file,
                hint="write NAME=VALUE, e.g. x1=2, w=zeros(30), X=@data.npy or v=[1, 2]",
            )
        values[name.strip()] = _value(text.strip(), name.strip(), file)
    return values


def _value(text: str, name: str, file: str) -> Any:
    import numpy as np

    try:
        return float(text)
    except ValueError:
        pass
    if text.startswith("@"):
        return _load_array(Path(text[1:]), name, file)
    match = re.fullmatch(r"(zeros|ones)\(\s*\(?([\d\s,]*)\)?\s*\)", text)
    if match:
        dims = tuple(int(d) for d in match.group(2).replace(" ", "").split(",") if d)
        return (np.zeros if match.group(1) == "zeros" else np.ones)(dims)
    try:
        literal = ast.literal_eval(text)
        array = np.array(literal, dtype=float)
    except (ValueError, SyntaxError, TypeError):
        raise CompileError(
            f"`{text}` is not a value (for {name})",
            filename=file,
            hint="a number, a list like [1, 2], zeros(3), ones(2, 3) or @file.npy",
        ) from None
    return array


def _load_array(path: Path, name: str, file: str) -> Any:
    import numpy as np

    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False).astype(float)
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                return archive[name if name in keys else keys[0]].astype(float)
        return np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=1)
    except (OSError, ValueError) as exc:
        raise CompileError(
            f"cannot load {path} (for {name}): {exc}",
            filename=file,
            hint="give a .npy, .npz or numeric .csv file",
        ) from None


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
    compiled, function = _pick(file, function)
    compiled.load_in_memory()
    report = compiled.run_report(_parse_values(values, file), function=function, notation=notation)
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
    compiled, function = _pick(file, function)
    given = _parse_values(values, file)
    graph = compiled.computation_graph(
        given or None, function=function, notation=notation, partials=partials
    )
    if output is None or output == "-":
        click.echo(graph.to_dot(), nl=False)
        return
    out = Path(output)
    kind = out.suffix.lower().lstrip(".")
    if kind not in ("dot", "gv", *PICTURE_FORMATS):
        raise CompileError(
            f"cannot tell the picture format of {output}",
            filename=file,
            hint="name the output OUT.dot (needs nothing), OUT.svg or OUT.png (need Graphviz)",
        )
    _check_output(Path(file), out, file)
    if kind in PICTURE_FORMATS:
        try:
            data = graph.picture(kind)
        except GraphvizMissing as exc:
            raise CompileError(
                f"writing {output} needs Graphviz, but {exc.missing}",
                filename=file,
                hint=f"{INSTALL_HINT}; -o OUT.dot needs neither",
            ) from None
    else:
        data = graph.to_dot().encode("utf-8")
    try:
        write_atomic(out, data)
    except OSError as exc:
        raise CompileError(
            f"cannot write {output}: {exc.strerror}", filename=file, hint="check the path"
        ) from None
    click.echo(f"wrote {out} ({graph.title()})", err=True)


@main.command("cost")
@click.argument("file")
@click.argument("values", nargs=-1)
@click.option("--function", "function", help="The function to measure (default: the main one).")
@clean_errors
def cost_cmd(file: str, values: tuple[str, ...], function: str | None) -> None:
    """The seed's complexity facts: V, E, T, the operations of the generated primal and
    gradient by kind against the Baur-Strassen bound, a naive forward-mode gradient's, and the
    measured times (at NAME=VALUE ..., the defaults, or a random point)."""
    compiled, function = _pick(file, function)
    compiled.load_in_memory()
    report = compiled.cost_report(_parse_values(values, file), function=function)
    click.echo(report.to_text())


@main.command("check")
@click.argument("file")
@click.argument("values", nargs=-1)
@click.option("--function", "function", help="The function to check (default: the main one).")
@click.option("--tol", type=float, default=1e-6, show_default=True, help="Largest error allowed.")
@click.option("--points", type=int, default=5, show_default=True, help="Random points to try.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for random points.")
@clean_errors
def check_cmd(
    file: str, values: tuple[str, ...], function: str | None, tol: float, points: int, seed: int
) -> None:
    """Check the generated gradient against finite differences at NAME=VALUE ... or at random
    points. Exits 1 when an error exceeds --tol."""
    compiled, function = _pick(file, function)
    trace = compiled.traces[function]
    module = compiled.load_in_memory()
    primal = getattr(module, function)
    gradient = getattr(module, f"grad_{function}")
    given = _parse_values(values, file)
    check_parameters(given, trace, file)
    if given:
        chosen = [point_of(trace, given, file)]
    else:
        chosen = random_points(primal, trace.params, trace.defaults, points, seed)
        if not chosen:
            raise CompileError(
                f"found no point where `{function}` is defined",
                filename=file,
                line=trace.line,
                source_line=_line(file, trace.line),
                hint="pass a point: " + " ".join(f"{p}=VALUE" for p in trace.params),
            )
    results = []
    for point in chosen:
        try:
            grads = gradient(*point.values())
        except (ArithmeticError, ValueError) as exc:
            raise CompileError(
                f"the gradient fails at this point: {exc}",
                filename=file,
                line=trace.line,
                source_line=_line(file, trace.line),
                hint="choose a point inside the function's domain",
            ) from None
        results.append(compare(function, primal, grads, point, trace.params, tol))
    click.echo("\n\n".join(r.to_text() for r in results))
    if not all(r.ok for r in results):
        sys.exit(1)


def _line(file: str, line: int) -> str:
    """Line `line` of a readable source file, or ''."""
    try:
        lines = source_lines(read_source(file))
    except CompileError:
        return ""
    return lines[line - 1] if 0 < line <= len(lines) else ""


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
    from ad_compiler import train as training

    plan = training.setup(
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
        settings=training.parse_settings(settings, file),
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
        result = training.run(plan, lambda epoch, loss: bar.update(1, loss))
    if plot:
        training.plot_history(result, plot)
        click.echo(f"wrote {plot}", err=True)
    click.echo(result.report())


def _train_loss_text(loss: float | None) -> str | None:
    return None if loss is None else f"loss {loss:.6g}"


if __name__ == "__main__":
    main()
