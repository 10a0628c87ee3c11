"""The peer suite's workloads W1-W5: source text, arguments at fixed points and seeds, and the
hand-written gradient each peer's gradient is checked against.

Every peer differentiates the same source text: the sample file itself (for W3, bench_core's
chain), with its one `from math import ...` or `import numpy as np` line pointed at the peer's
own operations (`autograd.numpy`, `jax.numpy`, `torch`, and NumPy itself for Tangent). The
hand-written gradients are bench_core's (W1, W2) and bench_arrays' (W4, W5); W3's is made here
from a hand-derived template for one pair of the chain's statements, unrolled over the pairs.

This module is also imported by the workers that run in Tangent's environment, so it needs
only NumPy and the repository (bench_core and bench_arrays import ad_compiler: NumPy, astor).
"""

from __future__ import annotations

import ast
import atexit
import importlib.util
import math
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bench_arrays  # noqa: E402
import bench_core  # noqa: E402

# The point W3 is differentiated at (the chain is deterministic; W4/W5 use bench_arrays' seeds).
CHAIN_ARGS = (0.3, 0.7)


@dataclass(frozen=True)
class Workload:
    """One function to differentiate, where, and its hand-written gradient."""

    key: str  # "W1" ... "W5"
    label: str
    source: str  # the module's text, as the sample (or bench_core's chain generator) has it
    path: Path | None  # the sample file (None: generated source)
    function: str  # the function differentiated
    params: tuple[str, ...]  # its parameters, in order
    wrt: tuple[int, ...]  # positions of the parameters differentiated
    args: tuple  # the point: floats and float64 arrays
    hand: Callable[..., tuple]  # the hand-written gradient, over args, one entry per wrt

    @property
    def wrt_names(self) -> list[str]:
        """The names of the parameters differentiated."""
        return [self.params[i] for i in self.wrt]


def _params(source: str, function: str) -> tuple[str, ...]:
    """The parameter names of `function` in `source`."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return tuple(a.arg for a in node.args.args)
    raise ValueError(f"no function {function}")


def _workload(
    key: str,
    label: str,
    source: str | Path,
    function: str,
    wrt: list[str],
    args: tuple,
    hand: Callable[..., tuple],
) -> Workload:
    """A Workload of `source` (text, or a sample file to read)."""
    path = source if isinstance(source, Path) else None
    text = path.read_text() if path else str(source)
    params = _params(text, function)
    wrt_at = tuple(map(params.index, wrt))
    return Workload(key, label, text, path, function, params, wrt_at, args, hand)


def chain_workload(steps: int) -> Workload:
    """W3: bench_core's scalar chain of about `steps` trace steps, at CHAIN_ARGS."""
    source = bench_core.chain_of(steps)
    return _workload(
        "W3",
        f"W3 scalar chain, {steps:,} ops",
        source,
        "chain",
        ["x", "y"],
        CHAIN_ARGS,
        hand_chain(source),
    )


def workloads(chain_steps: int = 1_000) -> list[Workload]:
    """W1-W5 at their fixed points (W4 and W5 with bench_arrays' data, seed 0)."""
    sample = (ROOT / "samples").joinpath
    (
        (log_label, log_path, log_wrt, log_args, log_hand),
        (
            mlp_label,
            mlp_path,
            mlp_wrt,
            mlp_args,
            mlp_hand,
        ),
    ) = bench_arrays.workloads()
    return [
        _workload(
            "W1",
            "W1 baydin: ln(x1) + x1*x2 - sin(x2), at (2, 5)",
            sample("baydin.py"),
            "f",
            ["x1", "x2"],
            (2.0, 5.0),
            bench_core.hand_baydin,
        ),
        _workload(
            "W2",
            "W2 slide: (sin(2 pi w1/w2) + 3 w1/w2 - exp(2 w2)) (...), at (1.5, 0.5)",
            sample("slide.py"),
            "f",
            ["w1", "w2"],
            (1.5, 0.5),
            bench_core.hand_slide,
        ),
        chain_workload(chain_steps),
        _workload("W4", log_label, log_path, "loss", log_wrt, log_args, log_hand),
        _workload("W5", mlp_label, mlp_path, "loss", mlp_wrt, mlp_args, mlp_hand),
    ]


# ---------------------------------------------------------------------------------------------
# The same source, on a peer's operations
# ---------------------------------------------------------------------------------------------

_MATH_IMPORT = re.compile(r"^from math import (.+)$", re.M)
_NUMPY_IMPORT = re.compile(r"^import numpy as np$", re.M)
_MODULES_DIR: Path | None = None


class Unsupported(Exception):
    """A peer cannot differentiate a workload as it is written; the message says why."""


def peer_source(source: str, math_module: str | None, numpy_module: str | None) -> str:
    """`source` with its `from math import ...` line importing from `math_module` and its
    `import numpy as np` line importing `numpy_module` as np. A None module for a line the
    source has raises Unsupported: that peer's version must be written by hand."""
    for pattern, module, what in (
        (_MATH_IMPORT, math_module, "math"),
        (_NUMPY_IMPORT, numpy_module, "numpy"),
    ):
        count = len(pattern.findall(source))
        if count > 1:
            raise ValueError(f"more than one `{what}` import line")
        if count and module is None:
            raise Unsupported(f"no drop-in replacement for {what}")
        if count:
            source = pattern.sub(
                rf"from {module} import \1" if what == "math" else f"import {module} as np",
                source,
            )
    return source


def write_module(source: str, name: str) -> Path:
    """Write `source` as `name`.py in this process's temporary folder (removed at exit)."""
    global _MODULES_DIR
    if _MODULES_DIR is None:
        _MODULES_DIR = Path(tempfile.mkdtemp(prefix="adc-bench-peers-"))
        atexit.register(shutil.rmtree, _MODULES_DIR, ignore_errors=True)
    path = _MODULES_DIR / f"{name}.py"
    path.write_text(source)
    return path


def load_module(source: str, name: str) -> ModuleType:
    """Import `source` from a real file (Tangent reads the function's source back)."""
    path = write_module(source, name)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def peer_function(
    w: Workload, math_module: str | None, numpy_module: str | None, tag: str
) -> Callable[..., Any]:
    """The workload's function, its source importing the peer's operations."""
    module = load_module(peer_source(w.source, math_module, numpy_module), f"{w.key}_{tag}")
    return getattr(module, w.function)


def primal_function(w: Workload) -> Callable[..., Any]:
    """The workload's function as written (math / NumPy): the primal every gradient is
    compared with."""
    return peer_function(w, "math", "numpy", "primal")


# ---------------------------------------------------------------------------------------------
# W3's hand-written gradient
# ---------------------------------------------------------------------------------------------

_PAIR = (
    re.compile(r"a = sin\(a\) \* (?P<k>[0-9.e+-]+) \+ b \* 0\.25"),
    re.compile(r"b = a \* b \+ cos\(b\) \* (?P<k>[0-9.e+-]+)"),
)


def chain_coefficients(source: str) -> list[tuple[float, float]]:
    """The (k1, k2) of each pair `a = sin(a) * k1 + b * 0.25; b = a * b + cos(b) * k2` of a
    bench_core chain; anything else in the function is an error (the template below would
    no longer be its gradient)."""
    (fdef,) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    lines = [ast.unparse(s) for s in fdef.body]
    if lines[:2] != ["a = x", "b = y"] or lines[-1] != "return a + b" or len(lines) % 2 == 0:
        raise ValueError("not a bench_core chain")
    pairs = []
    for first, second in zip(lines[2:-1:2], lines[3:-1:2]):
        m1, m2 = _PAIR[0].fullmatch(first), _PAIR[1].fullmatch(second)
        if not (m1 and m2):
            raise ValueError(f"not a bench_core chain pair: {first!r}, {second!r}")
        pairs.append((float(m1["k"]), float(m2["k"])))
    return pairs


def hand_chain_source(pairs: list[tuple[float, float]]) -> str:
    """Straight-line source of the chain's gradient, one hand-derived template per pair.

    Forward:  a_i = sin(a_{i-1}) k1 + b_{i-1} / 4;  b_i = a_i b_{i-1} + cos(b_{i-1}) k2.
    Reverse, with (ga, gb) the adjoints of (a_i, b_i), starting from 1, 1 for a_n + b_n:
        ga += gb b_{i-1}                                   (b_i's dependence on a_i)
        gb  = gb (a_i - sin(b_{i-1}) k2) + ga / 4          (adjoint of b_{i-1})
        ga  = ga cos(a_{i-1}) k1                           (adjoint of a_{i-1})
    """
    lines = ["def grad_chain(x, y):", "    a0 = x", "    b0 = y"]
    for i, (k1, k2) in enumerate(pairs, 1):
        lines.append(f"    a{i} = sin(a{i - 1}) * {k1!r} + b{i - 1} * 0.25")
        lines.append(f"    b{i} = a{i} * b{i - 1} + cos(b{i - 1}) * {k2!r}")
    lines += ["    ga = 1.0", "    gb = 1.0"]
    for i in range(len(pairs), 0, -1):
        k1, k2 = pairs[i - 1]
        lines.append(f"    ga = ga + gb * b{i - 1}")
        lines.append(f"    gb = gb * (a{i} - sin(b{i - 1}) * {k2!r}) + ga * 0.25")
        lines.append(f"    ga = ga * cos(a{i - 1}) * {k1!r}")
    lines.append("    return ga, gb")
    return "\n".join(lines) + "\n"


def hand_chain(source: str) -> Callable[[float, float], tuple[float, float]]:
    """The hand-written gradient of a bench_core chain, compiled by Python."""
    namespace: dict[str, Any] = {"sin": math.sin, "cos": math.cos}
    code = compile(hand_chain_source(chain_coefficients(source)), "<hand chain>", "exec")
    exec(code, namespace)
    return namespace["grad_chain"]


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

RTOL = 1e-9


def as_arrays(values: Any) -> list[np.ndarray]:
    """A gradient (a tuple of floats or arrays) as a list of float64 arrays."""
    if not isinstance(values, (tuple, list)):
        values = (values,)
    return [np.asarray(v, dtype=np.float64) for v in values]


TINY = float(np.finfo(np.float64).tiny)  # the smallest normal float64, 2.2e-308


def underflows(values: Any) -> bool:
    """Whether every entry of a gradient is below the normal range (zero or subnormal), where
    relative comparison means nothing: the long W3 chains' gradients vanish like this."""
    return all(float(np.max(np.abs(a), initial=0.0)) < TINY for a in as_arrays(values))


def gradient_error(got: Any, want: Any, rtol: float = RTOL) -> str | None:
    """None if `got` equals `want` to `rtol` (absolute tolerance 1e-12 of each entry's largest
    magnitude, for entries that cancel to ~0; entries of both below the normal range, 2.2e-308,
    count as equal); otherwise what differs."""
    got_a, want_a = as_arrays(got), as_arrays(want)
    if len(got_a) != len(want_a):
        return f"{len(got_a)} gradients, expected {len(want_a)}"
    worst = 0.0
    for g, w in zip(got_a, want_a):
        if g.shape != w.shape:
            return f"shape {g.shape}, expected {w.shape}"
        scale = max(float(np.max(np.abs(w))) if w.size else 0.0, TINY / 1e-12)
        if not np.allclose(g, w, rtol=rtol, atol=1e-12 * scale):
            if not np.all(np.isfinite(g)):
                return "non-finite gradient"
            err = np.abs(g - w) / np.maximum(np.abs(w), 1e-12 * scale + 1e-300)
            worst = max(worst, float(np.max(err)))
    return f"max relative error {worst:.1e}" if worst else None


def _shift(x: Any, d: Any, h: float) -> Any:
    return x + h * d


def check_by_differences(w: Workload, rtol: float = 1e-5) -> None:
    """Check w's hand-written gradient against central differences of its primal along a random
    direction (W3's chain contracts to a fixed point, so its gradient is checked on a chain of
    3 pairs, built by the same template). Raises AssertionError if they disagree."""
    if w.key == "W3":
        w = _workload(
            "W3",
            "",
            bench_core.chain_source(3),
            "chain",
            ["x", "y"],
            CHAIN_ARGS,
            hand_chain(bench_core.chain_source(3)),
        )
    f = primal_function(w)
    rng = np.random.default_rng(1)
    grads = as_arrays(w.hand(*w.args))
    dirs = [rng.normal(size=np.shape(w.args[i])) for i in w.wrt]
    h = 1e-6
    plus, minus = list(w.args), list(w.args)
    for i, d in zip(w.wrt, dirs):
        plus[i], minus[i] = _shift(w.args[i], d, h), _shift(w.args[i], d, -h)
    fd = (f(*plus) - f(*minus)) / (2 * h)
    exact = sum(float(np.sum(g * d)) for g, d in zip(grads, dirs))
    assert math.isclose(fd, exact, rel_tol=rtol), (w.key, fd, exact)
