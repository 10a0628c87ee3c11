"""What users see, computed through the public entry points only (the Python API and the `adc`
command in process), for tools/record_goldens.py to record and tests/test_goldens.py to compare.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy
from click.testing import CliRunner

import ad_compiler
from cli.main import main as adc

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
NUMPY_SCALARS = ROOT / "tests" / "golden" / "numpy_scalars.json"

SCALAR_SAMPLES = ("baydin", "chain", "slide")
ARRAY_SAMPLES = ("hinge", "least_squares", "logistic_regression", "mlp")
CHAIN_STEPS = (10, 100, 1000)

# A point for each sample's `adc run`/`graph`/`check` (the scalar ones also run at defaults).
X3 = "X=[[1, 2], [3, 4], [5, 6]]"
POINTS: dict[str, tuple[str, ...]] = {
    "baydin": ("x1=2", "x2=5"),
    "chain": ("x1=0.5", "x3=-1.25"),
    "slide": ("w1=1.5", "w2=0.5"),
    "hinge": ("w=[0.5, -0.25]", "b=0.1", X3, "y=[1, -1, 1]"),
    "least_squares": ("w=[0.5, -0.25]", "b=0.1", X3, "y=[1, 2, 3]"),
    "logistic_regression": ("w=[0.5, -0.25]", "b=0.1", X3, "y=[1, -1, 1]", "lam=0.1"),
    "mlp": (
        "theta1=[[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]]",
        "theta2=[[0.1, 0.2, 0.3], [0.4, -0.5, 0.6], [0.7, 0.8, -0.9]]",
        "theta3=[0.5, -0.5, 0.25]",
        X3,
        "y=[1, 0, 1]",
    ),
}


def _sample(name: str) -> Path:
    return SAMPLES / f"{name}.py"


def module_outputs() -> dict[str, str]:
    """Every generated module to keep byte-identical, by golden file name."""
    from samples.scripts.chain import chain_source

    out: dict[str, str] = {}
    for name in SCALAR_SAMPLES + ARRAY_SAMPLES:
        text = _sample(name).read_text(encoding="utf-8")
        out[f"{name}_grad.py"] = ad_compiler.compile_source(text, f"{name}.py").source
        bare = ad_compiler.compile_source(text, f"{name}.py", passes=[]).source
        out[f"{name}_nopasses_grad.py"] = bare
        if name in SCALAR_SAMPLES:
            numba = ad_compiler.compile_source(text, f"{name}.py", backend="numba").source
            out[f"{name}_numba_grad.py"] = numba
    for steps in CHAIN_STEPS:
        text = chain_source(steps)
        out[f"chain{steps}_grad.py"] = ad_compiler.compile_source(text, "chain.py").source
    return out


def _invoke(*args: str) -> str:
    """What `adc ARGS...` prints (stdout, then stderr) and its exit status, run in process."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(adc, list(args), catch_exceptions=False)
    finally:
        os.chdir(cwd)
    return f"{result.stdout}--- stderr ---\n{result.stderr}--- exit {result.exit_code}\n"


def cli_commands() -> dict[str, tuple[str, ...]]:
    """The teaching commands whose output is kept byte-identical, by golden file name."""
    commands: dict[str, tuple[str, ...]] = {}
    for name in SCALAR_SAMPLES + ARRAY_SAMPLES:
        path = f"samples/{name}.py"
        point = POINTS[name]
        commands[f"{name}_trace.txt"] = ("trace", path)
        commands[f"{name}_trace.json"] = ("trace", path, "--format", "json")
        for fmt in ("text", "json", "markdown", "latex"):
            commands[f"{name}_run_{fmt}.txt"] = ("run", path, *point, "--format", fmt)
        z_explain = ("--notation", "z", "--explain")
        commands[f"{name}_run_z_explain.txt"] = ("run", path, *point, *z_explain)
        commands[f"{name}_graph.dot"] = ("graph", path)
        commands[f"{name}_graph_values.dot"] = ("graph", path, *point, "--partials")
        commands[f"{name}_compile.py"] = ("compile", path, "-o", "-")
        if name in SCALAR_SAMPLES:
            commands[f"{name}_run_defaults.txt"] = ("run", path)
            commands[f"{name}_check.txt"] = ("check", path, *point)
            commands[f"{name}_check_random.txt"] = ("check", path, "--points", "3")
    return commands


def cli_outputs() -> dict[str, str]:
    """What each of `cli_commands` prints."""
    return {name: _invoke(*args) for name, args in cli_commands().items()}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def corpus_digests(source: str) -> dict[str, str]:
    """The sha256 of the module (or of the error) a corpus program compiles to, with all
    passes and with none."""
    out: dict[str, str] = {}
    for key, passes in (("all", None), ("none", [])):
        try:
            text = ad_compiler.compile_source(source, "corpus.py", passes=passes).source
        except ad_compiler.CompileError as exc:
            text = "error: " + exc.render()
        out[key] = _digest(text)
    return out


# numpy's elementwise functions round some arguments differently depending on the SIMD kernels
# the CPU lets numpy pick (with AVX-512, np.exp(0.659...) is an ulp off glibc's exp, which
# numpy uses without it). adc folds numpy calls of constants with numpy, so a golden module can
# hold such a float: corpus program 883 does. The goldens are compared with numpy's functions
# giving, for every scalar argument they met while being recorded, the value they gave then:
# what users saw on the machine that recorded them, reproduced on any CPU.


# numpy's one-argument functions, named before any of them is replaced
UNARY_UFUNCS = sorted(
    name
    for name in dir(numpy)
    if isinstance(getattr(numpy, name), numpy.ufunc) and getattr(numpy, name).nin == 1
)


def _scalar_key(args: tuple, kwargs: dict) -> str | None:
    """float.hex of a call's one argument if it is a real scalar that numpy computes with in
    float64 (a Python int or float, a numpy integer or float64), None for any other call."""
    if len(args) != 1 or kwargs:
        return None
    (x,) = args
    if isinstance(x, (bool, numpy.bool_)) or not isinstance(
        x, (int, float, numpy.integer, numpy.float64)
    ):
        return None
    try:
        return float(x).hex()
    except OverflowError:
        return None


def load_numpy_scalars() -> dict[str, dict[str, str]]:
    """The recorded table: function name -> float.hex(argument) -> float.hex(value)."""
    return json.loads(NUMPY_SCALARS.read_text(encoding="utf-8"))


@contextmanager
def numpy_scalars(
    table: dict[str, dict[str, str]], *, record: bool = False
) -> Iterator[dict[str, dict[str, str]]]:
    """numpy's one-argument functions give the values in `table` for the scalar arguments it
    holds (every other call is numpy's own); with record=True, every scalar call's value is
    added to `table` instead."""

    def patched(name: str, original: numpy.ufunc):
        def call(*args, **kwargs):
            key = _scalar_key(args, kwargs)
            if key is None:
                return original(*args, **kwargs)
            if record:
                value = original(*args, **kwargs)
                if isinstance(value, numpy.float64):
                    table.setdefault(name, {})[key] = float(value).hex()
                return value
            known = table.get(name, {}).get(key)
            if known is None:
                return original(*args, **kwargs)
            return numpy.float64(float.fromhex(known))

        return call

    saved = {name: getattr(numpy, name) for name in UNARY_UFUNCS}
    try:
        for name, original in saved.items():
            setattr(numpy, name, patched(name, original))
        yield table
    finally:
        for name, original in saved.items():
            setattr(numpy, name, original)
