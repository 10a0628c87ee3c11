"""The generated module: standalone, deterministic, readable, written atomically and safely."""

from __future__ import annotations

import ast
import inspect
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ad_compiler import compile_file
from ad_compiler.backend.load import write_atomic
from ad_compiler.backend.passes import PASSES
from ad_compiler.teach.tables import trace_dict

from .conftest import SAMPLES, compile_text, run_adc

MIXED = """
import math
import numpy as np
from math import exp

def helper(a, b):
    return a * b + exp(-a)

def loss(w, x=0.5, y=-1.0):
    return math.log(1 + math.exp(-y * helper(w, x))) + np.tanh(w) ** 2
"""


def test_module_imports_only_math_and_numpy() -> None:
    source = compile_text(MIXED).source
    tree = ast.parse(source)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported == {"numpy"}
    (by_name,) = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert by_name.module == "math" and {a.name for a in by_name.names} == {"exp", "log"}
    assert "ad_compiler" not in source
    scalar = compile_file(SAMPLES / "baydin.py").source
    assert "numpy" not in scalar and "from math import cos, log, sin\n" in scalar
    # math's own module only where a name is not available: math.inf, or a parameter `exp`
    assert "import math\n" in compile_text("def f(x):\n    return x ** 0.5\n").source
    hidden = compile_text("import math\n\ndef f(x, exp):\n    return math.exp(x) * exp\n")
    assert "from math import" not in hidden.source and "math.exp(x)" in hidden.source
    assert hidden.grad_f(0.5, 2.0) == pytest.approx((2 * math.exp(0.5), math.exp(0.5)))


def test_module_reparses_and_compiles() -> None:
    for text in [MIXED, (SAMPLES / "slide.py").read_text()]:
        source = compile_text(text).source
        compile(ast.parse(source), "generated.py", "exec")


def test_every_function_has_primal_grad_and_value_and_grad() -> None:
    c = compile_text(MIXED)
    for name in ("helper", "loss"):
        for made in (name, f"grad_{name}", f"value_and_grad_{name}"):
            assert callable(getattr(c, made))
    value, grads = c.value_and_grad_loss(0.3)
    assert value == c.loss(0.3) and grads == c.grad_loss(0.3)
    assert isinstance(grads, tuple) and len(grads) == 3
    assert isinstance(c.grad_helper(1.0, 2.0), tuple)


def test_compilation_is_byte_identical_across_runs_and_processes(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(MIXED)
    first = compile_file(path).source
    assert compile_file(path).source == first
    outs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(SAMPLES.parent))
        proc = subprocess.run(
            [sys.executable, "-m", "cli.main", "compile", str(path), "-o", "-"],
            capture_output=True,
            env=env,
            check=True,
        )
        outs.append(proc.stdout)
    assert outs[0] == outs[1] == first.encode()


def test_generated_module_runs_in_an_interpreter_without_ad_compiler(tmp_path: Path) -> None:
    out = tmp_path / "baydin_grad.py"
    proc = run_adc("compile", str(SAMPLES / "baydin.py"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    script = (
        "import importlib.util, sys\n"
        "try:\n    import ad_compiler\nexcept ImportError:\n    pass\n"
        "else:\n    sys.exit('ad_compiler is importable here')\n"
        f"spec = importlib.util.spec_from_file_location('g', {str(out)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(repr(m.value_and_grad_f(2.0, 5.0)))\n"
    )
    # -I: isolated (no PYTHONPATH, no user site); -S: no site-packages at all.
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    value, (g1, g2) = eval(proc.stdout)
    assert value == pytest.approx(math.log(2) + 10 - math.sin(5), rel=1e-15)
    assert (g1, g2) == pytest.approx((5.5, 2 - math.cos(5)), rel=1e-15)


# Without the clean-up passes, the seed and one line per edge; with them, the seed and the
# copies z2bar = z5bar (into z5 = z2 + z4) and z5bar = z4 (the seed times z4) are gone; `fuse`
# then sums each adjoint's contributions in one line: z4bar, z1bar, w1bar and w2bar.
@pytest.mark.parametrize(
    "passes, lines",
    [(["dead-code"], 1 + 10), ([p for p in PASSES if p != "fuse"], 1 + 10 - 3), (None, 4)],
)
def test_each_adjoint_line_names_its_trace_step(passes: list[str] | None, lines: int) -> None:
    compiled = compile_file(SAMPLES / "slide.py", passes=passes)
    steps = {f"{s['var']} = {s['expr']}" for s in trace_dict(compiled.traces["f"])["steps"]}
    source = compiled.source
    grad = source[source.index("def grad_f") : source.index("def value_and_grad_f")]
    tail = grad[grad.index("# reverse sweep") :].splitlines()[1:]
    sweep = [line for line in tail if line.strip() and "return " not in line]
    assert len(sweep) == lines
    for line in sweep:
        code, _, comment = line.partition("  # ")
        assert re.match(r"\s+\w+ = ", code), line
        assert comment.startswith("seed: dz6/dz6") or set(comment.split("; ")) <= steps, line


def test_generated_functions_are_inspectable() -> None:
    compiled = compile_file(SAMPLES / "baydin.py")
    text = inspect.getsource(compiled.grad_f)
    assert text.startswith("def grad_f(x1=2.0, x2=5.0):")
    assert Path(inspect.getsourcefile(compiled.grad_f)).read_text() == compiled.source


def test_default_output_sits_beside_the_input(tmp_path: Path) -> None:
    src = tmp_path / "model.py"
    src.write_text((SAMPLES / "slide.py").read_text())
    proc = run_adc("compile", str(src), cwd=SAMPLES.parent)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "model_grad.py"
    assert out.read_text() == compile_file(src).source
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py", "model_grad.py"]


def test_stdout_output_writes_no_file(tmp_path: Path) -> None:
    src = tmp_path / "model.py"
    src.write_text((SAMPLES / "slide.py").read_text())
    proc = run_adc("compile", str(src), "-o", "-")
    assert proc.returncode == 0 and proc.stdout == compile_file(src).source
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]


@pytest.mark.parametrize("spelling", ["same", "dot-slash", "symlink"])
def test_adc_refuses_to_overwrite_its_input(tmp_path: Path, spelling: str) -> None:
    src = tmp_path / "model.py"
    text = (SAMPLES / "slide.py").read_text()
    src.write_text(text)
    target = {"same": str(src), "dot-slash": "./model.py", "symlink": str(tmp_path / "link.py")}
    if spelling == "symlink":
        (tmp_path / "link.py").symlink_to(src)
    proc = run_adc("compile", str(src), "-o", target[spelling], cwd=tmp_path)
    assert proc.returncode == 1
    assert "refusing to overwrite the input" in proc.stderr and "Traceback" not in proc.stderr
    assert src.read_text() == text


def test_interrupted_write_leaves_old_file_and_no_debris(tmp_path, monkeypatch) -> None:
    out = tmp_path / "out.py"
    out.write_text("old contents\n")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(out, "new contents\n" * 1000)
    assert out.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.py"]


def test_wrt_restricts_and_orders_the_tuple_and_skips_other_work(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "from math import sin, exp\n\ndef f(T1, T2, t3):\n    return sin(T1 * T2) + exp(t3) * t3\n"
    )
    proc = run_adc("compile", str(src), "--wrt", "t3,T1", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    ns: dict = {}
    exec(compile(proc.stdout, "gen", "exec"), ns)
    t1, t2, t3 = 0.4, 1.3, -0.2
    assert ns["grad_f"](t1, t2, t3) == pytest.approx(
        (math.exp(t3) * (1 + t3), t2 * math.cos(t1 * t2)), rel=1e-14
    )
    grad_src = proc.stdout[proc.stdout.index("def grad_f") : proc.stdout.index("def value_and")]
    assert "T2bar" not in grad_src  # no adjoint is computed for a parameter not asked for
    only = run_adc("compile", str(src), "--wrt", "t3", "-o", "-").stdout
    g = only[only.index("def grad_f") : only.index("def value_and")]
    assert "T1bar" not in g and "T2bar" not in g and "sin" not in g and "cos" not in g


def test_wrt_unknown_parameter_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("def f(x):\n    return x * x\n")
    proc = run_adc("compile", str(src), "--wrt", "y", "-o", "-")
    assert proc.returncode == 1 and "no parameter `y`" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.py")))
def test_every_line_is_written_as_astor_would_write_it(sample: str) -> None:
    import astor

    path = SAMPLES / sample
    source = compile_file(path, passes=[]).source + compile_file(path).source
    checked = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            for stmt in node.body[1:]:
                if isinstance(stmt, (ast.Assign, ast.AugAssign)):
                    line = source.splitlines()[stmt.lineno - 1].partition("  #")[0].strip()
                    assert astor.to_source(stmt, pretty_source="".join).strip() == line
                    checked += 1
    assert checked > 20
