"""Point 2 of the issue: source text that is not in the language is a located compile error.

Hypothesis writes source files as BYTES, in families:

- `python`: arbitrary Python from hypothesmith's grammar (`from_grammar`, and `from_node` for
  libcst-built modules), and the same text placed inside a function body;
- `soup`: a grammar of our own that writes near-miss programs: real functions with defaults,
  annotations, decorators and docstrings whose bodies mix every Python statement (for, while,
  if, try, with, class, def, async, global, del, yield, match...) and expression (lambdas,
  comprehensions, subscripts, attributes, calls, strings, f-strings, walrus, dunder names,
  eval/exec/__import__...) with the language's own arithmetic;
- `mutated`: samples/*.py and the valid programs below with bytes flipped, random bytes and
  tokens inserted, ranges deleted, lines duplicated or dropped, and truncation at every kind
  of position (anywhere, inside a multi-byte character, right after a bracket, colon,
  backslash, quote or keyword); every byte offset of the samples is also tried in order;
- `deep`: nesting to a few thousand levels (parentheses, unary minus, nested calls, binary
  chains, containers, lambdas, blocks, long bodies) and, separately, chains of helpers;
- `literals`: huge and degenerate numbers (10**10**10, 5,000-digit ints, 1e999, long floats,
  complex results, domain errors of folded constants) in every position a number can take;
- `encodings`: non-UTF-8 bytes, BOMs, UTF-16/latin-1 files, coding cookies, null bytes, CRLF
  and CR line ends, tabs, form feeds and other separators, invisible characters;
- `empty`: empty and whitespace-only files.

Each example is written to a fresh directory and run through the CLI in-process with click's
CliRunner (`compile FILE -o OUT`, then `trace FILE`), in a forked checking process (forked once,
replaced after a failure) that is killed past a hard limit and runs under a memory limit, so a
hang, a crash or an exponential blow-up is a failure and not a stuck test run; each command may
use 10 s of CPU and a whole example 30 s (CPU time: a loaded machine stretches wall time, not
the work done). The property: exit status 0 or 1; no traceback and no "internal error"
anywhere; `result.exception` is None or SystemExit; on 1, stderr opens with
`FILE:LINE:COL: error: ...` (LINE within the file), a `hint:` line follows, stdout is empty
and no output or temporary file exists; on 0, the output parses, defines `grad_...` and
holds only whitelisted names (tests/test_safety.py), and `trace` accepts the file too. The
input file is never changed. A separate property holds the location
to the line Python counts: the source line printed under the location is that line.

The CI profile is derandomized (fixed seed) and sized to run in about a minute; set
ADC_FUZZ_EXAMPLES to run every test with that many examples and a random seed. The two deep
families' hypothesis runs are marked `fuzz`: `make test` tries each of their kinds once at a
fixed size instead, and `make fuzz` runs them (`pytest -m fuzz`) before the long run,
tools/fuzz_frontend.py, which draws from all families at once.
"""

from __future__ import annotations

import ast
import atexit
import os
import pickle
import re
import resource
import select
import shutil
import signal
import sys
import tempfile
import textwrap
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import hypothesmith
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLES
from tests.test_safety import assert_only_whitelisted

# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------

LONG = os.environ.get("ADC_FUZZ_EXAMPLES")
# A hang or a blow-up is work: the limits are CPU seconds of the checking process, which other
# processes on the machine do not stretch (wall-clock limits failed on a loaded machine: one
# compile took 10.6 s of wall time). One `adc compile` or `adc trace` using more is a failure.
# The largest inputs drawn (200 chained helpers: about 20,000 trace steps in 603 generated
# functions) take about 3 s of CPU for both commands.
COMMAND_SECONDS = 10.0
HARD_SECONDS = 30.0  # the checking child is killed past this much CPU for one example ...
STUCK_SECONDS = 600.0  # ... or this much wall time (a child that waits forever uses no CPU)
MEMORY_BYTES = 8 << 30  # the checking child's address space


def fuzz_settings(ci_examples: int, *, shrink: bool = True) -> settings:
    """The CI profile (fixed seed, `ci_examples`), or the long one when ADC_FUZZ_EXAMPLES is set."""
    phases = list(Phase) if shrink else [Phase.explicit, Phase.reuse, Phase.generate]
    return settings(
        max_examples=int(LONG) if LONG else ci_examples,
        derandomize=not LONG,
        database=None,
        deadline=None,  # wall time: the checking process's CPU limits bound an example instead
        suppress_health_check=list(HealthCheck),
        phases=phases,
        print_blob=True,
    )


# ---------------------------------------------------------------------------------------------
# The property
# ---------------------------------------------------------------------------------------------

_RUNNER = CliRunner()


def _main():
    from cli.main import main

    return main


def python_lines(data: bytes) -> list[str]:
    """The file's lines as Python's tokenizer counts them (\\r\\n, \\r or \\n end a line)."""
    text = data.decode("utf-8-sig", errors="replace")
    return re.split(r"\r\n|\r|\n", text)


def _describe(command: str, result) -> str:
    return (
        f"`adc {command}` exit {result.exit_code}, exception {result.exception!r}\n"
        f"--- stdout ---\n{result.stdout[:2000]}\n--- stderr ---\n{result.stderr[:2000]}"
    )


def _assert_clean(result, command: str, src: Path, data: bytes) -> None:
    """The part of the property every command shares."""
    info = _describe(command, result)
    everything = result.stdout + result.stderr + result.output
    assert "Traceback" not in everything, info
    assert "internal error" not in everything, info
    assert result.exception is None or isinstance(result.exception, SystemExit), info
    assert result.exit_code in (0, 1), info
    if result.exit_code == 1:
        assert result.stdout == "", info
        lines = result.stderr.splitlines()
        assert lines, info
        m = re.match(rf"^{re.escape(str(src))}:(\d+):(\d+): error: \S", lines[0])
        assert m, info
        line, col = int(m.group(1)), int(m.group(2))
        assert 1 <= line <= len(python_lines(data)) + 1, f"line {line} is not in the file\n{info}"
        assert col >= 1, info
        assert any(ln.startswith("hint: ") and ln[6:].strip() for ln in lines[1:]), info


def _timed(main, args: list[str]):
    """The CLI's result for args; more than COMMAND_SECONDS of CPU (this process's, all its
    threads: adc compiles on one of its own) is a failure."""
    start = time.process_time()
    result = _RUNNER.invoke(main, args)
    took = time.process_time() - start
    assert took <= COMMAND_SECONDS, (
        f"`adc {args[0]}` used {took:.1f} s of CPU (limit {COMMAND_SECONDS:.0f} s)\n"
        + _describe(args[0], result)[:500]
    )
    return result


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user + system, all threads) process `pid` has used, from /proc; None
    where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def on_a_deep_stack(fn: Callable[..., object], *args: object) -> None:
    """fn(*args) on a thread with a large stack and recursion limit: our own ast.parse of a
    deeply nested file must not fail where adc (which does the same) succeeds."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            failure.append(exc)

    old_limit, old_size = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(max(old_limit, 200_000))
    threading.stack_size(512 * 1024 * 1024)
    try:
        worker = threading.Thread(target=target)
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if failure:
        raise failure[0]


def check_source(data: bytes, root: Path) -> str:
    """Run `compile` and `trace` on `data` as root/f.py; raise AssertionError on a violation.

    Returns the outcome, e.g. "compile=1 trace=1".
    """
    main = _main()
    src = root / "f.py"
    out = root / "out.py"
    src.write_bytes(data)
    compiled = _timed(main, ["compile", str(src), "-o", str(out)])
    _assert_clean(compiled, "compile", src, data)
    info = _describe("compile", compiled)
    if compiled.exit_code == 0:
        assert out.exists(), info
        text = out.read_text(encoding="utf-8")
        assert "def grad_" in text, info
        on_a_deep_stack(assert_only_whitelisted, ast.parse(text), data.decode("utf-8-sig"))
        expected = ["f.py", "out.py"]
    else:
        assert not out.exists(), f"a failed compile left {out.name}\n{info}"
        expected = ["f.py"]
    assert sorted(os.listdir(root)) == expected, (os.listdir(root), info)
    traced = _timed(main, ["trace", str(src)])
    _assert_clean(traced, "trace", src, data)
    if compiled.exit_code == 0:
        assert traced.exit_code == 0, "trace rejects a file compile accepts\n" + _describe(
            "trace", traced
        )
        assert traced.stdout.strip(), _describe("trace", traced)
    assert sorted(os.listdir(root)) == expected, os.listdir(root)
    assert src.read_bytes() == data, "adc changed its input"
    return f"compile={compiled.exit_code} trace={traced.exit_code}"


class Worker:
    """A forked child that runs checks one at a time; killed and replaced when it hangs or dies.

    Forking once per worker instead of once per example keeps the cost per example down; a
    child that failed an example is replaced, so no state of a failure carries over.
    """

    def __init__(self) -> None:
        self.pid = 0

    def _start(self) -> None:
        _main()  # import adc once, before forking
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(down_w)
            os.close(up_r)
            try:
                # an exponential blow-up is a MemoryError in adc, not a machine out of memory
                resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
                self._serve(down_r, up_w)
            finally:
                os._exit(0)
        os.close(down_r)
        os.close(up_w)
        self.pid, self.down, self.up = pid, down_w, up_r

    @staticmethod
    def _send(fd: int, payload: object) -> None:
        blob = pickle.dumps(payload)
        view = memoryview(len(blob).to_bytes(8, "little") + blob)
        while view:
            view = view[os.write(fd, view) :]

    @staticmethod
    def _read_exactly(fd: int, n: int, over: Callable[[], bool] | None = None) -> bytes | None:
        """n bytes from fd; None at end of file; TimeoutError once over() says the limit is
        passed (checked every half second while nothing arrives)."""
        out = bytearray()
        while len(out) < n:
            if over is not None:
                while not select.select([fd], [], [], 0.5)[0]:
                    if over():
                        raise TimeoutError
            chunk = os.read(fd, n - len(out))
            if not chunk:
                return None
            out += chunk
        return bytes(out)

    def _serve(self, down: int, up: int) -> None:
        while True:
            header = self._read_exactly(down, 8, None)
            if header is None:
                return
            body = self._read_exactly(down, int.from_bytes(header, "little"), None)
            check_name, data = pickle.loads(body or b"")
            root = Path(tempfile.mkdtemp(prefix="adc-fuzz-"))
            try:
                payload = ("ok", CHECKS[check_name](data, root))
            except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent
                payload = ("fail", "".join(traceback.format_exception(exc))[-6000:])
            finally:
                shutil.rmtree(root, ignore_errors=True)
            self._send(up, payload)

    def _forget(self) -> None:
        os.close(self.down)
        os.close(self.up)
        self.pid = 0

    def stop(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self._forget()

    def _limit(self) -> Callable[[], bool]:
        """Whether the child has used HARD_SECONDS of CPU since now, or STUCK_SECONDS of wall
        time (without /proc, HARD_SECONDS of wall time)."""
        pid, start, cpu = self.pid, time.monotonic(), cpu_seconds(self.pid)

        def over() -> bool:
            wall = time.monotonic() - start
            if cpu is None:
                return wall > HARD_SECONDS
            used = cpu_seconds(pid)
            return wall > STUCK_SECONDS or (used is not None and used - cpu > HARD_SECONDS)

        return over

    def run(self, check_name: str, data: bytes) -> tuple[str, str]:
        """(ok|fail, text) of CHECKS[check_name](data); raises AssertionError on a hang/crash."""
        if self.pid and os.waitpid(self.pid, os.WNOHANG)[0]:
            self._forget()
        if not self.pid:
            self._start()
        try:
            self._send(self.down, (check_name, data))
            over = self._limit()
            header = self._read_exactly(self.up, 8, over)
            body = header and self._read_exactly(self.up, int.from_bytes(header, "little"), over)
        except TimeoutError:
            self.stop()
            raise AssertionError(
                f"hang: `adc compile`/`trace` used more than {HARD_SECONDS:.0f} s of CPU "
                f"(or ran {STUCK_SECONDS:.0f} s) on {len(data)} bytes: {data[:300]!r}"
            ) from None
        except BrokenPipeError:
            body = None
        if not body:
            _, status = os.waitpid(self.pid, 0)
            self._forget()
            raise AssertionError(f"the checking process died (status {status}) on {data[:300]!r}")
        kind, text = pickle.loads(body)
        if kind == "fail":
            self.stop()  # a fresh child for the next example
        return kind, text


_WORKER = Worker()
atexit.register(_WORKER.stop)


def isolated(data: bytes, check: str = "source") -> str:
    """The check (CHECKS) of `data`, in the worker process, with a hard time limit."""
    kind, text = _WORKER.run(check, data)
    if kind == "fail":
        raise AssertionError(f"input ({len(data)} bytes): {data[:1500]!r}\n{text}")
    return text


# ---------------------------------------------------------------------------------------------
# Corpus of valid programs (the mutation seeds)
# ---------------------------------------------------------------------------------------------

VALID = [
    '"""Docstring."""\n\nimport math\n\n\ndef f(x, y=2.0):\n    """Doc."""\n'
    "    z = math.sin(x) * y + math.exp(-x)\n    z += x ** 2\n    return z / y\n",
    "from math import cos, e, log, pi, sqrt\n\nK = 2 * pi\n\n\ndef helper(a, b=0.5):\n"
    "    return a * b + cos(K * a)\n\n\ndef f(x1, x2=0.3):\n    t = helper(x1, b=x2)\n"
    "    t *= sqrt(1 + x1 * x1)\n    t -= log(2 + x2 ** 2) + e ** x2\n    return t\n",
    "import numpy as np\n\n\ndef f(w, b=0.1):\n"
    "    return np.tanh(w * 3.0 + b) + np.arcsin(b) - np.abs(w) / 2\n",
    "import math\n\n\ndef f(é, π=3.0):\n    # a comment with ünïcödé\n"
    "    return math.atan(é) * π + abs(é - π) ** 0.5\n",
    "def g(a):\n    return a * a\n\n\ndef f(x, y):\n    a = g(x) + g(y)\n    a **= 0.5\n"
    "    a /= 1 + x * y\n    return -a + +x\n\n\nif __name__ == '__main__':\n    print(f(1, 2))\n",
    "import math\n\nRATE = 0.5\n\n\ndef loss(w, x=0.5):\n"
    "    return math.log(1 + math.exp(-w * x * RATE)) + 2 ** w\n",
]


def _corpus() -> list[bytes]:
    files = sorted(SAMPLES.glob("*.py"))
    return [p.read_bytes() for p in files] + [t.encode("utf-8") for t in VALID]


CORPUS = _corpus()

# ---------------------------------------------------------------------------------------------
# (a) Arbitrary Python
# ---------------------------------------------------------------------------------------------


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogatepass")


def in_function(body: str, params: str = "x, y=1.0") -> str:
    """`body` placed inside a function that otherwise is in the language."""
    inside = textwrap.indent(body, "    ")
    return f"import math\n\n\ndef f({params}):\n    z = x * y\n{inside}\n    return z\n"


# Deferred: building hypothesmith's grammar takes seconds, paid when a test first draws from
# it rather than by every process that merely collects this file (each xdist worker does).
_grammar = st.deferred(hypothesmith.from_grammar)
python_grammar = _grammar.map(_encode)
python_nodes = st.deferred(hypothesmith.from_node).map(_encode)
python_in_function = _grammar.map(lambda s: _encode(in_function(s)))

# Our own grammar: near-miss programs.
NAMES = [
    "x", "y", "z", "z1", "xbar", "_t0", "a", "math", "np", "numpy", "sin", "abs", "f", "g",
    "e", "pi", "tau", "self", "cls", "_", "match", "case", "type", "print", "range", "len",
    "__import__", "__builtins__", "__class__", "__name__", "__dict__", "eval", "exec", "open",
    "compile", "getattr", "globals", "vars", "locals", "breakpoint", "é", "π",
]  # fmt: skip
NUMBERS = [
    "0", "1", "2.5", "-1", "1e-3", "1e999", "10**10**10", "0x1F", "0o17", "0b101", "1_000",
    "1j", "3.14j", ".5", "5.", "1e308", "2**53", "9" * 40, "0.1", "0e0", "00", "1__0", "0x",
]  # fmt: skip
STRINGS = [
    "'s'", '"s"', '"""doc"""', "b'x'", "f'{x}'", "f'{x!r:>{y}}'", "r'\\d'", "u'x'", "''",
    "'\\N{BULLET}'", "'\\x00'", "rb'\\x'",
]  # fmt: skip
ATTRIBUTES = [
    "sin", "exp", "pi", "real", "T", "shape", "sum", "__class__", "__dict__", "__bases__",
    "__globals__", "__builtins__", "system", "path", "load", "arcsin", "fabs",
]  # fmt: skip
BINOPS = ["+", "-", "*", "/", "**", "//", "%", "@", "<<", ">>", "|", "&", "^"]
COMPARE = ["<", ">", "==", "!=", "<=", ">=", "is", "is not", "in", "not in"]
FUNCS = [
    "math.sin", "math.log", "math.floor", "np.sum", "np.arcsin", "numpy.tanh", "sin", "abs",
    "f", "g", "h", "max", "print", "eval", "exec", "__import__", "getattr", "open", "lambda",
]  # fmt: skip


def _atoms() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NAMES),
        st.sampled_from(NUMBERS),
        st.integers(-(10**6), 10**6).map(str),
        st.floats(allow_nan=False).map(repr),
        st.sampled_from(STRINGS),
        st.sampled_from(["...", "None", "True", "False", "[]", "()", "{}"]),
    )


def _compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    two = st.tuples(inner, inner)
    return st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(BINOPS), inner),
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(BINOPS), inner),
        st.builds(lambda op, a: f"{op}{a}", st.sampled_from(["-", "+", "~", "not "]), inner),
        st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(COMPARE), inner),
        two.map(lambda t: f"{t[0]} and {t[1]}"),
        st.builds(lambda a, b, c: f"{a} if {b} else {c}", inner, inner, inner),
        st.builds(
            lambda fn, args: f"{fn}({', '.join(args)})",
            st.sampled_from(FUNCS) | inner,
            st.lists(
                inner | inner.map(lambda a: f"k={a}") | inner.map(lambda a: f"*{a}"), max_size=3
            ),
        ),
        st.builds(lambda a, n: f"{a}.{n}", inner, st.sampled_from(ATTRIBUTES)),
        two.map(lambda t: f"{t[0]}[{t[1]}]"),
        two.map(lambda t: f"{t[0]}[{t[1]}:]"),
        inner.map(lambda a: f"lambda t: {a}"),
        two.map(lambda t: f"[{t[0]} for t in {t[1]}]"),
        two.map(lambda t: f"{{{t[0]}: t for t in {t[1]}}}"),
        two.map(lambda t: f"({t[0]} for t in {t[1]} if t)"),
        inner.map(lambda a: f"(w := {a})"),
        inner.map(lambda a: f"(yield {a})"),
        inner.map(lambda a: f"await {a}"),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + ", ".join(xs) + ")"),
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        two.map(lambda t: f"{{{t[0]}, {t[1]}}}"),
        inner.map(lambda a: f"f'{{{a}}}'"),
        inner.map(lambda a: f"({a})"),
    )


expressions = st.recursive(_atoms(), _compound, max_leaves=5)
targets = st.sampled_from(
    ["z", "y", "x", "t", "z1", "xbar", "a, b", "a[0]", "a.b", "*a, b", "__x__", "math", "e"]
)


STATEMENTS = [
    "return", "pass", "break", "continue", "del z", "global z", "nonlocal z", "import os",
    "import math", "import numpy as np", "from math import sin", "from math import *",
    "from . import x", "import math as __builtins__", "raise", "raise ValueError", "yield",
    "yield from z", "print(z)", "__import__('os').system('true')", "exec('z = 1')",
    "z = eval('1')", '"""a docstring"""', "...",
]  # fmt: skip
HEADS = [
    "for t in {e}:", "async for t in {e}:", "while {e}:", "if {e}:", "with {e} as t:",
    "async with {e}:", "try:", "class C:", "class C(object):", "def h(t):", "async def h(t):",
    "def h(t={e}) -> {e}:", "lambda: 0", "match {e}:", "else:", "@property\ndef h(self):",
    "@{e}\ndef h():",
]  # fmt: skip
IMPORTS = [
    "import math", "import numpy as np", "import numpy", "import os", "import math as m",
    "from math import sin, cos, exp, log, pi, e", "from numpy import arcsin", "import sys, math",
    "from math import floor",
]  # fmt: skip
PARAMS = [
    "x", "x, y", "x, y=2.0", "x=1.0", "*args", "x, **kw", "x, *, y", "x, /, y", "x: float",
    "x=math.pi", "x, x", "self", "__x__", "x, y=eval('1')", "",
]  # fmt: skip


def _simple_statements() -> st.SearchStrategy[str]:
    e = expressions
    return st.one_of(
        st.builds(lambda t, v: f"{t} = {v}", targets, e),
        st.builds(lambda t, op, v: f"{t} {op}= {v}", targets, st.sampled_from(BINOPS), e),
        st.builds(lambda t, v: f"{t}: float = {v}", targets, e),
        targets.map(lambda t: f"{t}: int"),
        st.builds(lambda t, v: f"{t} = z = {v}", targets, e),
        e,
        e.map(lambda v: f"return {v}"),
        st.sampled_from(STATEMENTS),
        e.map(lambda v: f"assert {v}"),
        e.map(lambda v: f"raise {v}"),
    )


@st.composite
def _block(draw, depth: int = 0) -> list[str]:
    """A list of lines at indentation 0 (the caller indents)."""
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        compound = depth < 2 and draw(st.integers(0, 3)) == 0
        if not compound:
            lines.append(draw(_simple_statements()))
            continue
        e = draw(expressions)
        inner = [("    " + ln) for ln in draw(_block(depth + 1))]
        head = draw(st.sampled_from(HEADS)).format(e=e)
        lines.append(head)
        if head.startswith("match"):
            lines += ["    case 1:"] + ["    " + ln for ln in inner]
        else:
            lines += inner
        if head == "try:":
            tail = draw(st.sampled_from(["except Exception:", "except* ValueError:", "finally:"]))
            lines += [tail, "    pass"]
        elif head.startswith("if") and draw(st.booleans()):
            lines += ["else:", "    z = 0"]
    return lines


@st.composite
def soup(draw) -> bytes:
    """A module of imports, constants, functions and stray statements."""
    parts: list[str] = []
    if draw(st.booleans()):
        parts.append('"""Module docstring."""')
    for _ in range(draw(st.integers(0, 3))):
        parts.append(draw(st.sampled_from(IMPORTS)))
    for _ in range(draw(st.integers(0, 2))):
        parts.append(
            f"{draw(st.sampled_from(['K', 'RATE', '__all__', 'X']))} = {draw(expressions)}"
        )
    for i in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(["f", "g", "helper", f"f{i}", "grad_f", "__init__", "abs"]))
        params = draw(st.sampled_from(PARAMS))
        deco = draw(st.sampled_from(["", "", "@staticmethod\n", "@functools.cache\n"]))
        body = draw(_block())
        if draw(st.booleans()):
            body.append(f"return {draw(expressions)}")
        parts.append(f"{deco}def {name}({params}):\n" + textwrap.indent("\n".join(body), "    "))
    if draw(st.booleans()):
        parts.append("\n".join(draw(_block())))
    if draw(st.booleans()):
        parts.append("if __name__ == '__main__':\n    f(1.0)")
    order = draw(st.permutations(parts)) if draw(st.booleans()) else parts
    return _encode("\n\n\n".join(order) + "\n")


# ---------------------------------------------------------------------------------------------
# (b) Mutations
# ---------------------------------------------------------------------------------------------

TOKENS = [
    b"(", b")", b"[", b"]", b"{", b"}", b":", b",", b".", b";", b"**", b"//", b"=", b"==",
    b":=", b"->", b"@", b"\\", b"'", b'"', b'"""', b"#", b"...", b"lambda ", b"def ",
    b"return ", b"yield ", b"await ", b"async ", b"not ", b"if x:", b"for i in x:",
    b"global x\n", b"import os\n", b"__import__", b"__class__", b"eval(", b"x[0]", b"f'{",
    b"1e999", b"10**10**10", b"0x", b"1_", b"j", b"\n", b"\r", b"\r\n", b"\t", b"\x0c",
    b"\x0b", b"\x00", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\xc2\x85",
    b"    ", b" ", b"-", b"+", b"*", b"/", b"%", b"<", b"x", b"math.", b"np.", b"sin(",
    b"abs(", b"e", b"pi", b"0", b"1.5", b"9" * 60, b"z1", b"xbar", b"\xf0\x9f\x98\x80",
]  # fmt: skip
CUT_AFTER = [
    b"(", b"[", b":", b"\\", b"'", b'"', b"def", b"return", b"=", b"**", b"#", b"\n",
    b",", b".", b"import", b"\xc3", b"\xcf", b"\xe2", b" ",
]  # fmt: skip


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(
                ["flip", "bytes", "token", "delete", "duplicate", "drop", "swap", "cut"]
            )
        )
        n = len(data)
        at = draw(st.integers(0, n))
        if op == "flip" and n:
            i = min(at, n - 1)
            data[i] ^= draw(st.integers(1, 255))
        elif op == "bytes":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "token":
            data[at:at] = draw(st.sampled_from(TOKENS)) * draw(st.integers(1, 3))
        elif op == "delete":
            data[at : at + draw(st.integers(1, 20))] = b""
        elif op in ("duplicate", "drop", "swap"):
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            if op == "duplicate":
                lines.insert(i, lines[i])
            elif op == "drop":
                del lines[i]
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
        elif op == "cut":
            kind = draw(st.sampled_from(["anywhere", "after", "inside a character"]))
            if kind == "after":
                token = draw(st.sampled_from(CUT_AFTER))
                spots = [m.end() for m in re.finditer(re.escape(token), bytes(data))]
                at = draw(st.sampled_from(spots)) if spots else at
            elif kind == "inside a character":
                spots = [i for i, b in enumerate(data) if b >= 0xC0]
                at = draw(st.sampled_from(spots)) + 1 if spots else at
            del data[at:]
    return bytes(data)


# ---------------------------------------------------------------------------------------------
# (c) Deep nesting
# ---------------------------------------------------------------------------------------------

HEAD = "import math\nfrom math import sin\n\n\ndef g(t):\n    return t * 0.5\n\n\n"


def _ret(expr: str) -> str:
    return HEAD + f"def f(x, y=1.0):\n    return {expr}\n"


def _blocks(n: int, head: str) -> str:
    n = min(n, 300)  # source grows as n**2
    lines = [" " * (4 * (i + 1)) + head for i in range(n)]
    return (
        HEAD
        + "def f(x):\n"
        + "\n".join(lines)
        + "\n"
        + " " * (4 * (n + 1))
        + "x = 1\n    return x\n"
    )


DEEP: dict[str, Callable[[int], str]] = {
    "parentheses": lambda n: _ret("(" * n + "x" + ")" * n),
    "unary minus": lambda n: _ret("-" * n + "x"),
    "unary minus and plus": lambda n: _ret("-+" * (n // 2) + "x"),
    "invert": lambda n: _ret("~" * n + "x"),
    "not": lambda n: _ret("not " * n + "x"),
    "nested sin": lambda n: _ret("sin(" * n + "x" + ")" * n),
    "nested math.exp": lambda n: _ret("math.exp(" * n + "x" + ")" * n),
    "nested abs": lambda n: _ret("abs(" * n + "x" + ")" * n),
    "nested helper calls": lambda n: _ret("g(" * n + "x" + ")" * n),
    "sum chain": lambda n: _ret("x" + " + x" * n),
    "mixed chain": lambda n: _ret("x" + "".join(f" {'+-*/'[i % 4]} y" for i in range(n))),
    "power tower": lambda n: _ret("x" + " ** 1" * n),
    "negated powers": lambda n: _ret("-x ** " * n + "1"),
    "lists": lambda n: _ret("[" * n + "x" + "]" * n),
    "sets": lambda n: _ret("{" * n + "x" + "}" * n),
    "lambdas": lambda n: _ret("lambda: " * n + "x"),
    "attribute chain": lambda n: _ret("math" + ".sin" * n + "(x)"),
    "subscript chain": lambda n: _ret("x" + "[0]" * n),
    "call chain": lambda n: _ret("g(x)" + "(x)" * n),
    "string concatenation": lambda n: _ret("x * " + "'a' " * n),
    "unclosed parentheses": lambda n: _ret("(" * n + "x"),
    "closing parentheses": lambda n: _ret("x" + ")" * n),
    "deep constant": lambda n: "X = " + "-" * n + "1\n\n\ndef f(x):\n    return x * X\n",
    "deep default": lambda n: "def f(x=" + "-" * n + "1.0):\n    return x * x\n",
    "deep decorator": lambda n: "@" + "(" * n + "g" + ")" * n + "\ndef f(x):\n    return x\n",
    "if blocks": lambda n: _blocks(n, "if x:"),
    "for blocks": lambda n: _blocks(n, "for x in y:"),
    "statements": lambda n: (
        HEAD
        + "def f(x, y=1.0):\n"
        + "".join(f"    x = sin(x) * 0.5 + x * y + {i}\n" for i in range(n))
        + "    return x\n"
    ),
    "growing sum": lambda n: (
        HEAD
        + "def f(x, y=1.0):\n    z = x\n"
        + "".join("    z = z + x * y\n" for _ in range(n))
        + "    return z\n"
    ),
    "many parameters": lambda n: (
        "def f("
        + ", ".join(f"p{i}" for i in range(n))
        + "):\n    return "
        + " + ".join(f"p{i}" for i in range(n))
        + "\n"
    ),
    "many functions": lambda n: "\n\n".join(
        f"def f{i}(x):\n    return x * {i}\n" for i in range(n)
    ),
}

HELPER_CHAINS: dict[str, Callable[[int], str]] = {
    "affine chain": lambda n: "\n\n".join(
        ["def h0(x):\n    return x * 1.001 + 0.001\n"]
        + [f"def h{i}(x):\n    return h{i - 1}(x) * 0.999 + 0.001\n" for i in range(1, n)]
        + [f"def f(x):\n    return h{n - 1}(x)\n"]
    ),
    "sin chain": lambda n: (
        "from math import sin\n\n\n"
        + "\n\n".join(
            ["def h0(x):\n    return sin(x)\n"]
            + [f"def h{i}(x):\n    return sin(h{i - 1}(x))\n" for i in range(1, n)]
            + [f"def f(x):\n    return h{n - 1}(x)\n"]
        )
    ),
    "two calls per level": lambda n: "\n\n".join(
        ["def h0(x):\n    return x * 1.001\n"]
        + [f"def h{i}(x):\n    return h{i - 1}(x) * h{i - 1}(x)\n" for i in range(1, n)]
        + [f"def f(x):\n    return h{n - 1}(x)\n"]
    ),
}

DEPTHS = [1, 2, 10, 99, 100, 101, 199, 200, 201, 500, 990, 999, 1000, 1001, 2000, 2999, 3000]
depths = st.sampled_from(DEPTHS) | st.integers(1, 3000)
deep = st.builds(lambda kind, n: _encode(DEEP[kind](n)), st.sampled_from(sorted(DEEP)), depths)
# Every function of a file gets its own gradient with its helpers inlined, so a chain of n
# helpers compiles to O(n^2) lines by design (docs/language.md says so): chains stop at 200 here.
chain_depths = st.sampled_from([d for d in DEPTHS if d <= 200]) | st.integers(1, 200)
helper_chains = st.builds(
    lambda kind, n: _encode(HELPER_CHAINS[kind](n)),
    st.sampled_from(sorted(HELPER_CHAINS)),
    chain_depths,
)

# ---------------------------------------------------------------------------------------------
# (d) Huge literals
# ---------------------------------------------------------------------------------------------

HUGE = [
    "10**10**10", "10 ** 10 ** 10 - 10 ** 10 ** 10", "2 ** 100000", "2.0 ** 1024", "10.0 ** 400",
    "1e999", "-1e999", "1e-999", "1e308 * 10", "1e308 * 1e308 - 1e308 * 1e308", "0.0 ** -1",
    "0 ** -1", "1 / 0.0", "(-8) ** (1 / 3)", "(-1) ** 0.5", "2 ** 53 + 1", "2 ** 1023 * 2",
    "9" * 4300, "9" * 4301, "9" * 5000, "-" + "9" * 5000, "1" + "0" * 400, "1" + "0" * 308,
    "9" * 5000 + ".0", "0." + "0" * 5000 + "1", "1" + "0" * 5000 + "e-5000", "1e" + "9" * 400,
    "0x" + "f" * 5000, "0b" + "1" * 5000, "1_000_000" * 1, "1" + "_0" * 2000, "1" * 100 + "j",
    "math.exp(1000)", "math.log(0)", "math.sqrt(-1)", "math.asin(2)", "math.tan(math.pi / 2)",
    "math.exp(1e999)", "abs(-1e999)", "pi ** 1000", "e ** 1000", "2 ** 1e308", "1e-320 / 1e308",
    "float('inf')", "1e999 * 0", "10 ** -400", "3" * 17 + "." + "3" * 17,
    "((9 ** 2000) ** 2000) ** 2000", "(10 ** 300) ** 2", "0.1 ** 400 * 10 ** 400",
]  # fmt: skip
_P = "import math\nfrom math import e, pi\n\n\n"
HUGE_TEMPLATES = [
    _P + "def f(x):\n    return x * ({lit})\n",
    _P + "def f(x):\n    return {lit}\n",
    _P + "C = {lit}\n\n\ndef f(x):\n    return x * C\n",
    _P + "def f(x={lit}):\n    return x * x\n",
    _P + "def f(x):\n    return x ** ({lit})\n",
    _P + "def f(x):\n    return ({lit}) ** x\n",
    _P + "def f(x):\n    return math.sin(x * ({lit}))\n",
    _P + "def f(x):\n    y = x\n    y **= {lit}\n    return y\n",
    _P + "def f(x):\n    return x / ({lit}) + x * x\n",
]
literals = st.builds(
    lambda tpl, lit, sign: _encode(tpl.format(lit=sign + lit)),
    st.sampled_from(HUGE_TEMPLATES),
    st.sampled_from(HUGE) | st.integers().map(str) | st.floats().map(repr),
    st.sampled_from(["", "-", "+", "--"]),
)

# ---------------------------------------------------------------------------------------------
# (e) Encodings, line ends and odd characters; (f) empty files
# ---------------------------------------------------------------------------------------------

SEPARATORS = ["\r\n", "\r", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
ODD = ["\u200b", "\u202e", "\u00a0", "\ufeff", "\x00", "\t", "\x0c", "ﬁ", "ｘ", "é", "\U0001f600"]
COOKIES = [
    "# -*- coding: latin-1 -*-\n", "# coding: utf-16\n", "# coding: foobar\n",
    "# vim: set fileencoding=ascii :\n", "#!/usr/bin/env python\n# coding=cp1252\n",
]  # fmt: skip


BAD_BYTES = [
    b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82",
    b"\xc3", b"\x00", b"\xff\xfe",
]  # fmt: skip


@st.composite
def encodings(draw) -> bytes:
    text = draw(st.sampled_from(CORPUS)).decode("utf-8")
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["line ends", "odd", "tabs", "cookie", "indent", "separator"]))
        if op == "line ends":
            text = text.replace("\n", draw(st.sampled_from(["\r\n", "\r", "\n\r"])))
        elif op == "odd":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(ODD)) + text[at:]
        elif op == "tabs":
            text = text.replace("    ", draw(st.sampled_from(["\t", "\t ", " \t", "  \t"])), 1)
        elif op == "cookie":
            text = draw(st.sampled_from(COOKIES)) + text
        elif op == "indent":
            text = text.replace("\n    ", "\n" + draw(st.sampled_from(["\x0c    ", "\u00a0   "])))
        else:
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(SEPARATORS)) + text[at:]
    how = draw(st.sampled_from(["utf-8", "utf-8", "bom", "utf-16", "latin-1", "bytes"]))
    if how == "bom":
        data = b"\xef\xbb\xbf" * draw(st.integers(1, 2)) + text.encode("utf-8")
    elif how == "utf-16":
        data = text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"])))
    elif how == "latin-1":
        data = text.encode("latin-1", errors="replace")
    else:
        data = text.encode("utf-8")
    if how == "bytes":
        bad = draw(st.sampled_from(BAD_BYTES))
        at = draw(st.integers(0, len(data)))
        data = data[:at] + bad + data[at:]
    return data


BLANKS = [
    b"", b"\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n", b"\xff\xfe", b"#", b"# c\n", b"\\", b"\\\n",
    b"\x00", b"pass\n", b'"""doc"""\n', b"import math\n", b"X = 1\n", b"\x1a", b"\r", b";",
    b"if __name__ == '__main__':\n    pass\n", b"\r\n" * 3,
]  # fmt: skip
empty = st.text(alphabet=" \t\n\r\x0c\x0b", max_size=40).map(_encode) | st.sampled_from(BLANKS)

# ---------------------------------------------------------------------------------------------
# The tests (CI profile: ~60 s together)
# ---------------------------------------------------------------------------------------------

# hypothesmith compiles what it draws, and Python warns about `'str'()` and the like
NO_WARNINGS = pytest.mark.filterwarnings("ignore::SyntaxWarning", "ignore::DeprecationWarning")


@NO_WARNINGS
@fuzz_settings(150)
@given(python_grammar)
def test_arbitrary_python(data: bytes) -> None:
    isolated(data)


@NO_WARNINGS
@fuzz_settings(20)
@given(python_nodes)
def test_arbitrary_python_from_libcst_nodes(data: bytes) -> None:
    isolated(data)


@NO_WARNINGS
@fuzz_settings(100)
@given(python_in_function)
def test_arbitrary_python_inside_a_function(data: bytes) -> None:
    isolated(data)


@NO_WARNINGS
@fuzz_settings(250)
@given(soup())
def test_near_miss_programs(data: bytes) -> None:
    isolated(data)


@fuzz_settings(500)
@given(mutated())
def test_mutated_programs(data: bytes) -> None:
    isolated(data)


# The deep families are the slow ones (a second or more an example): `make test` tries each
# kind once at a fixed size, `make fuzz` (the `fuzz` marker) draws sizes to 3,000 and 200.
@pytest.mark.parametrize("kind", sorted(DEEP))
def test_each_kind_of_deep_nesting(kind: str) -> None:
    isolated(_encode(DEEP[kind](1001)))  # past CPython's default recursion limit


@pytest.mark.parametrize("kind", sorted(HELPER_CHAINS))
def test_each_kind_of_helper_chain(kind: str) -> None:
    isolated(_encode(HELPER_CHAINS[kind](50)))


@pytest.mark.fuzz
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@fuzz_settings(80, shrink=False)
@given(deep)
def test_deep_nesting(data: bytes) -> None:
    isolated(data)


@pytest.mark.fuzz
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@fuzz_settings(15, shrink=False)
@given(helper_chains)
def test_deep_helper_chains(data: bytes) -> None:
    isolated(data)


@fuzz_settings(200)
@given(literals)
def test_huge_literals(data: bytes) -> None:
    isolated(data)


@fuzz_settings(250)
@given(encodings())
def test_encodings_and_line_ends(data: bytes) -> None:
    isolated(data)


@fuzz_settings(80)
@given(empty)
def test_empty_and_blank_files(data: bytes) -> None:
    isolated(data)


def _truncation_corpus() -> list[pytest.param]:
    files = [SAMPLES / "baydin.py", SAMPLES / "slide.py"]
    out = [pytest.param(p.read_bytes(), id=p.name) for p in files]
    return out + [pytest.param(VALID[3].encode("utf-8"), id="non-ASCII")]


@pytest.mark.parametrize("data", _truncation_corpus())
def test_truncated_at_every_byte(data: bytes) -> None:
    """Every prefix of a valid file (cut inside tokens, strings and UTF-8 characters)."""
    root = Path(tempfile.mkdtemp(prefix="adc-cut-"))
    try:
        for end in range(len(data) + 1):
            for entry in root.iterdir():
                entry.unlink()
            try:
                check_source(data[:end], root)
            except AssertionError as exc:
                raise AssertionError(f"cut at byte {end} of {len(data)}:\n{exc}") from None
    finally:
        shutil.rmtree(root, ignore_errors=True)


# Small inputs the fuzzing above has failed on, kept as plain examples.
_A, _B = "a" * 40, "b" * 40
_PARAMS = [f"p{i}" for i in range(14)]
FOUND = {
    "14 parameters": f"def f({', '.join(_PARAMS)}):\n    return {' + '.join(_PARAMS)}\n",
    "two long parameter names": f"def f({_A}, {_B}):\n    return {_A} * {_B}\n",
    "x * 1e308": "def f(x):\n    return x * 1e308\n",
    "return 1e308": "def f(x):\n    return 1e308\n",
    "10 ** 308": "def f(x):\n    return x * 10 ** 308\n",
    "default 1e999": "def f(x=1e999):\n    return x * x\n",
    "default 1e308 * 10": "def f(x=1e308 * 10):\n    return x * x\n",
}


@pytest.mark.parametrize("text", FOUND.values(), ids=FOUND.keys())
def test_inputs_fuzzing_has_found(text: str) -> None:
    isolated(text.encode("utf-8"))


# The location is the line Python counts: a file whose comments hold characters that
# str.splitlines() (but not Python) treats as line breaks, or that ends its lines with CR.

ERRORS = [
    "def f(x):\n    y = x  # note\n    return x[0]\n",
    "import math\n\n\ndef f(x):  # here\n    z = math.sin(x)  # s\n    return z + 'a'\n",
    "X = 1.0  # c\nY = 2.0  # d\n\n\ndef f(x):\n    return x << X\n",
    "def f(x):\n    return x\n\n\n# trailing\nprint(1)\n",
    "def f(x):  # a\n    y = (x +  # b\n         2  # c\n    return y\n",
]


@st.composite
def misplaced_lines(draw) -> bytes:
    lines = draw(st.sampled_from(ERRORS)).split("\n")
    odd = st.text(alphabet="ab \x0c\x0b\x1c\x1d\x1e\x85\u2028\u2029", min_size=1, max_size=6)
    for i, line in enumerate(lines):
        if "#" in line and draw(st.booleans()):
            lines[i] = line + draw(odd)
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return "\n".join(lines).replace("\n", end).encode("utf-8")


def check_location(data: bytes, root: Path) -> str:
    """The source line printed under FILE:LINE:COL is line LINE as Python counts lines."""
    main = _main()
    src = root / "f.py"
    src.write_bytes(data)
    result = _RUNNER.invoke(main, ["compile", str(src), "-o", "-"])
    _assert_clean(result, "compile", src, data)
    assert result.exit_code == 1, _describe("compile", result)
    lines = result.stderr.splitlines()
    line = int(re.match(rf"^{re.escape(str(src))}:(\d+):", lines[0]).group(1))
    physical = python_lines(data)
    if line > len(physical) or lines[1].startswith("hint: "):
        return "no source line"
    # A diagnostic shows characters that break lines (form feed, NEL, U+2028...) as spaces.
    breaks = str.maketrans(dict.fromkeys("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " "))
    text = physical[line - 1].expandtabs(1).translate(breaks)
    shown = text.lstrip()
    if len(shown) > 200:
        shown = shown[:200] + " ..."
    assert lines[1] == "    " + shown, (
        f"the error is placed on line {line}, which is {physical[line - 1]!r}, but shows "
        f"{lines[1][4:]!r}\n{result.stderr}"
    )
    return "ok"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"def f(x):\n    y = x  # \xc2\x85 c\n    return x[0]\n", id="NEL"),
        pytest.param(b"def f(x):\n    y = x  # \xe2\x80\xa8 c\n    return x[0]\n", id="U+2028"),
        pytest.param(b"def f(x):\n    y = x  # \x0c c\n    return x[0]\n", id="form feed"),
        pytest.param(b"def f(x):\n    y = x  # \x1c c\n    return x[0]\n", id="file separator"),
        pytest.param(b"def f(x):\r    y = x\r    return x[0]\r", id="CR"),
        pytest.param(b"def f(x):\r\n    y = x\r\n    return x[0]\r\n", id="CRLF"),
    ],
)
def test_error_shows_the_line_python_counts(data: bytes) -> None:
    isolated(data, "location")


@fuzz_settings(80)
@given(misplaced_lines())
def test_error_shows_the_line_python_counts_fuzzed(data: bytes) -> None:
    isolated(data, "location")


CHECKS: dict[str, Callable[[bytes, Path], str]] = {
    "source": check_source,
    "location": check_location,
}

# Every family, for tools/fuzz_frontend.py: name -> (strategy, check, weight in the long run).
FAMILIES: dict[str, tuple[st.SearchStrategy[bytes], str, int]] = {
    "python": (python_grammar, "source", 2),
    "python-nodes": (python_nodes, "source", 1),
    "python-in-function": (python_in_function, "source", 2),
    "soup": (soup(), "source", 3),
    "mutated": (mutated(), "source", 4),
    "deep": (deep, "source", 1),
    "helper-chains": (helper_chains, "source", 1),
    "literals": (literals, "source", 2),
    "encodings": (encodings(), "source", 3),
    "empty": (empty, "source", 1),
    "locations": (misplaced_lines(), "location", 1),
}
