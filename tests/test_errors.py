"""Point 4 and point 10: everything outside the language is one located, hinted error.

Every case runs the real `adc compile` and checks the exact `FILE:LINE:COL: error:` line, the
source line under it, a caret under the offending character, a `hint:` line, exit status 1,
an empty stdout, and no traceback anywhere.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.conftest import run_adc

H = "import math\nimport numpy as np\n\n\n"  # 4 header lines: the def is on line 5

# (id, source, line, col, text starting at line:col). Columns are 1-based characters.
CASES: list[tuple[str, str, int, int, str]] = [
    # loops
    (
        "return in a loop",
        "def f(x):\n    for i in range(3):\n        return x\n    return x\n",
        3,
        9,
        "return",
    ),
    (
        "for else",
        "def f(x):\n    for i in range(3):\n        x = x + 1\n    else:\n        x = 0\n"
        "    return x\n",
        5,
        9,
        "x = 0",
    ),
    ("for over pairs", "def f(x):\n    for i, j in x:\n        x = i\n    return x\n", 2, 9, "i,"),
    (
        "module-level for",
        "for i in range(3):\n    pass\n\n\ndef f(x):\n    return x\n",
        1,
        1,
        "for",
    ),
    # if
    ("module-level if", "X = 1\nif X:\n    X = 2\n\n\ndef f(x):\n    return x\n", 2, 1, "if"),
    # lambda
    ("lambda", "def f(x):\n    g = lambda t: t * 2\n    return g(x)\n", 2, 9, "lambda"),
    ("module-level lambda", "g = lambda t: t\n\n\ndef f(x):\n    return x\n", 1, 5, "lambda"),
    # comprehensions
    ("list comprehension", "def f(x, y):\n    z = [t for t in (x, y)]\n    return x\n", 2, 9, "[t"),
    ("set comprehension", "def f(x, y):\n    z = {t for t in (x, y)}\n    return x\n", 2, 9, "{t"),
    ("dict comprehension", "def f(x, y):\n    return {t: t for t in (x, y)}\n", 2, 12, "{t:"),
    (
        "generator expression",
        "def f(x, y):\n    z = (t for t in (x, y))\n    return x\n",
        2,
        9,
        "(t",
    ),
    # attribute access beyond the whitelist
    ("x.real", "def f(x, y):\n    return x.real + y\n", 2, 12, "x.real"),
    ("os.path", "def f(x, y):\n    z = os.path\n    return x\n", 2, 9, "os.path"),
    ("os.path.join call", "def f(x, y):\n    return os.path.join(x) * y\n", 2, 12, "os.path"),
    ("math.pi.real", H + "def f(x):\n    return x * math.pi.real\n", 6, 16, "math.pi.real"),
    ("math.gamma", H + "def f(x):\n    return math.gamma(x) + 1\n", 6, 12, "math.gamma"),
    ("np.cumsum", H + "def f(x):\n    return 2 * np.cumsum(x)\n", 6, 16, "np.cumsum"),
    ("math not imported", "def f(x):\n    return x + math.sin(x)\n", 2, 16, "math.sin"),
    # subscripts
    ("subscript", "def f(x, y):\n    return x[0] + y\n", 2, 12, "x[0]"),
    ("subscript assign", "def f(x, y):\n    y[0] = x\n    return x\n", 2, 5, "y[0]"),
    # strings
    ("string", "def f(x):\n    z = 'abc'\n    return x\n", 2, 9, "'abc'"),
    ("string operand", "def f(x):\n    return x * 'a'\n", 2, 16, "'a'"),
    ("f-string", "def f(x):\n    return f'{x}'\n", 2, 12, "f'"),
    ("bytes", "def f(x):\n    return b'x' + x\n", 2, 12, "b'x'"),
    ("string statement", "def f(x):\n    y = x\n    'not a docstring'\n    return y\n", 3, 5, "'"),
    ("module-level string constant", "S = 'abc'\n\n\ndef f(x):\n    return x\n", 1, 5, "'abc'"),
    ("string default", "def f(x, y='a'):\n    return x\n", 1, 12, "'a'"),
    # unknown calls
    ("unknown function", "def f(x, y):\n    return foo(x) + y\n", 2, 12, "foo"),
    ("builtin divmod", "def f(x, y):\n    return x + divmod(x, y)\n", 2, 16, "divmod"),
    ("print call", "def f(x):\n    return print(x)\n", 2, 12, "print"),
    ("print statement", "def f(x):\n    print(x)\n    return x\n", 2, 5, "print"),
    ("sin not imported", "def f(x):\n    return sin(x)\n", 2, 12, "sin"),
    ("call of a parameter", "def f(x, y):\n    return x(2) + y\n", 2, 12, "x(2)"),
    ("call of a constant", "A = 2\n\n\ndef f(x):\n    return A(x)\n", 5, 12, "A(x)"),
    ("call of a call", "def f(x):\n    return (x)(x)\n", 2, 13, "x)"),
    ("sin of two arguments", H + "def f(x):\n    return math.sin(x, 2)\n", 6, 12, "math.sin"),
    (
        "helper given too many arguments",
        "def g(a):\n    return a\n\n\ndef f(x):\n    return g(x, x)\n",
        6,
        12,
        "g(x, x)",
    ),
    (
        "helper missing an argument",
        "def g(a, b):\n    return a * b\n\n\ndef f(x):\n    return g(x)\n",
        6,
        12,
        "g(x)",
    ),
    # recursion
    ("direct recursion", "def f(x, y):\n    return f(x - 1, y) + x\n", 2, 12, "f(x - 1"),
    (
        "mutual recursion",
        "def f(x, y):\n    return g(x, y) + 1\n\n\ndef g(x, y):\n    return f(x, y) * 2\n",
        6,
        12,
        "f(x, y)",
    ),
    # global
    ("global", "G = 1.0\n\n\ndef f(x):\n    global G\n    return x * G\n", 5, 5, "global"),
    # *args
    ("*args parameter", "def f(*args):\n    return 1.0\n", 1, 8, "args"),
    ("**kwargs parameter", "def f(x, **kw):\n    return x\n", 1, 12, "kw"),
    ("keyword-only parameter", "def f(x, *, y):\n    return x\n", 1, 13, "y"),
    (
        "*args in a helper call",
        "def g(a, b):\n    return a * b\n\n\ndef f(x, y):\n    return g(*x)\n",
        6,
        14,
        "*x",
    ),
    ("*args in a math call", H + "def f(x):\n    return math.sin(*x)\n", 6, 21, "*x"),
    # try
    (
        "try",
        "def f(x):\n    try:\n        y = x\n    except Exception:\n        y = 0\n    return y\n",
        2,
        5,
        "try",
    ),
    ("with", "def f(x):\n    with x:\n        pass\n    return x\n", 2, 5, "with"),
    # exec, eval, __import__, open
    ("exec", "def f(x):\n    return exec('1') + x\n", 2, 12, "exec"),
    ("eval", "def f(x):\n    return x * eval('x')\n", 2, 16, "eval"),
    ("__import__", "def f(x):\n    y = __import__('math')\n    return x\n", 2, 9, "__import__"),
    (
        "module-level __import__",
        "os = __import__('os')\n\n\ndef f(x):\n    return x\n",
        1,
        6,
        "__import__",
    ),
    ("open", "def f(x):\n    return open('out', 'w')\n", 2, 12, "open"),
    # missing return
    ("missing return", "def f(x, y):\n    z = x * y\n", 1, 1, "def f"),
    (
        "missing return in a helper",
        "def g(x):\n    z = x\n\n\ndef f(x):\n    return g(x)\n",
        1,
        1,
        "def g",
    ),
    ("bare return", "def f(x):\n    z = x\n    return\n", 3, 5, "return"),
    # undefined names
    ("undefined name", "def f(x):\n    return x + y\n", 2, 16, "y"),
    ("used before assignment", "def f(x):\n    z = w * 2\n    w = x\n    return z\n", 2, 9, "w"),
    ("undefined pi", "def f(x):\n    return pi * x\n", 2, 12, "pi"),
    ("undefined in a constant", "A = B * 2\n\n\ndef f(x):\n    return x\n", 1, 5, "B"),
    # imports of other modules
    ("import os", "import os\n\n\ndef f(x):\n    return x\n", 1, 1, "import os"),
    ("import scipy", "import math\nimport scipy\n\n\ndef f(x):\n    return x\n", 2, 1, "import"),
    ("import math, os", "import math, os\n\n\ndef f(x):\n    return x\n", 1, 1, "import"),
    ("from os import path", "from os import path\n\n\ndef f(x):\n    return x\n", 1, 1, "from"),
    (
        "from math import gamma",
        "from math import gamma\n\n\ndef f(x):\n    return x\n",
        1,
        1,
        "from",
    ),
    ("from math import *", "from math import *\n\n\ndef f(x):\n    return x\n", 1, 1, "from"),
    ("import in a function", "def f(x):\n    import math\n    return x\n", 2, 5, "import"),
    # operators
    (">>", "def f(x):\n    return x >> 2\n", 2, 12, "x >>"),
    ("&", "def f(x):\n    return 1 + (x & 2)\n", 2, 17, "x &"),
    ("@", "def f(x, y):\n    return x @ y\n", 2, 12, "x @"),
    ("|", "def f(x, y):\n    return x | y\n", 2, 12, "x |"),
    ("~", "def f(x):\n    return ~x\n", 2, 12, "~x"),
    ("<<=", "def f(x):\n    x <<= 2\n    return x\n", 2, 5, "x <<="),
    # comparisons and boolean operators
    ("comparison is", "def f(x, y):\n    return x is y\n", 2, 12, "x is"),
    ("comparison in", "def f(x, y):\n    z = 2 * (x in y)\n    return z\n", 2, 14, "x in"),
    # a negative constant base
    ("negative constant base", "def f(x):\n    return (-2) ** x\n", 2, 12, "(-2)"),
    # literals that are not real numbers
    ("True", "def f(x):\n    return x * True\n", 2, 16, "True"),
    ("False", "def f(x):\n    return False\n", 2, 12, "False"),
    ("None", "def f(x):\n    return x + None\n", 2, 16, "None"),
    ("complex", "def f(x):\n    return x * 1j\n", 2, 16, "1j"),
    ("bool default", "def f(x, y=True):\n    return x\n", 1, 12, "True"),
    # tuples and other containers
    ("tuple return", "def f(x, y):\n    return x, y\n", 2, 12, "x, y"),
    ("parenthesised tuple return", "def f(x, y):\n    return (x, y)\n", 2, 12, "(x, y)"),
    ("list", "def f(x):\n    return [x]\n", 2, 12, "[x]"),
    ("tuple unpacking", "def f(x, y):\n    a, b = x, y\n    return a\n", 2, 5, "a, b"),
    ("walrus", "def f(x):\n    return (z := x)\n", 2, 13, "z :="),
    # other statements
    ("class", "class A:\n    pass\n\n\ndef f(x):\n    return x\n", 1, 1, "class"),
    ("nested def", "def f(x):\n    def g(t):\n        return t\n    return g(x)\n", 2, 5, "def g"),
    ("decorator", "@staticmethod\ndef f(x):\n    return x\n", 1, 2, "staticmethod"),
    ("module-level call", "print('hi')\n\n\ndef f(x):\n    return x\n", 1, 1, "print"),
    ("assert", "def f(x):\n    assert x\n    return x\n", 2, 5, "assert"),
    ("code after return", "def f(x):\n    return x\n    y = 2\n", 3, 5, "y = 2"),
    ("duplicate function", "def f(x):\n    return x\n\n\ndef f(x):\n    return x\n", 5, 1, "def"),
    ("no function", "X = 1.0\n", 1, 1, "X"),
    ("division by constant zero", "def f(x):\n    return x / 0\n", 2, 12, "x /"),
    # columns are characters, not bytes; tabs and CRLF
    ("after non-ASCII", "def f(x, é):\n    return é + x[0]\n", 2, 16, "x[0]"),
    ("tab indent", "def f(x):\n\treturn x[0]\n", 2, 9, "x[0]"),
    ("CRLF line ends", "def f(x):\r\n    return x[0]\r\n", 2, 12, "x[0]"),
]


def _error_lines(result, path: Path) -> list[str]:
    """Common checks; the stderr lines."""
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "internal error" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines, "no message on stderr"
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: error: \S", lines[0]), lines[0]
    hints = [ln for ln in lines if ln.startswith("hint: ")]
    assert len(hints) == 1 and hints[0][len("hint: ") :].strip(), result.stderr
    return lines


def assert_located(result, path: Path, line: int, col: int, source_line: str | None) -> None:
    """Exit 1, `FILE:LINE:COL: error:`, source line, caret under col, hint, no traceback."""
    lines = _error_lines(result, path)
    prefix = f"{path}:{line}:{col}: error: "
    assert lines[0].startswith(prefix), f"expected {prefix!r}, got {lines[0]!r}"
    assert len(lines[0]) > len(prefix) + 3
    if source_line is None:
        assert lines[1].startswith("hint: ")
        return
    text = source_line.rstrip("\r\n").expandtabs(1)
    shown = text.lstrip()
    indent = len(text) - len(shown)
    assert len(lines) == 4, result.stderr
    assert lines[1].strip() == shown.strip()
    assert lines[2].strip() == "^"
    caret = lines[2].index("^")
    if col - 1 < len(text):
        assert caret == 4 + (col - 1) - indent
        assert lines[1][caret] == text[col - 1]
    else:  # a syntax error just past the end of the line
        assert caret == len(lines[1])
    assert lines[3].startswith("hint: ")


@pytest.mark.parametrize(
    ("source", "line", "col", "token"),
    [pytest.param(s, ln, c, t, id=i) for i, s, ln, c, t in CASES],
)
def test_rejected_construct(write, source: str, line: int, col: int, token: str) -> None:
    source_line = source.splitlines()[line - 1]
    # the hand-computed column really is where the offending text starts
    assert source_line[col - 1 :].startswith(token), (source_line, col, token)
    path = write(source, name="bad.py")
    if "\r\n" in source:
        path.write_bytes(source.encode("utf-8"))
    result = run_adc("compile", str(path), "-o", "-")
    assert_located(result, path, line, col, source_line)


def test_cases_are_distinct() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len({c[1] for c in CASES}) == len(CASES)


# ---------------------------------------------------------------------------------------------
# Files that cannot be read, and files that are not Python
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["compile", "trace", "run"])
def test_missing_file(tmp_path: Path, command: str) -> None:
    path = tmp_path / "nope.py"
    result = run_adc(command, str(path))
    lines = _error_lines(result, path)
    assert "nope.py" in lines[0]
    assert not path.exists()


@pytest.mark.parametrize("command", ["compile", "trace", "run"])
def test_directory_as_file(tmp_path: Path, command: str) -> None:
    path = tmp_path / "dir.py"
    path.mkdir()
    result = run_adc(command, str(path))
    lines = _error_lines(result, path)
    assert "director" in lines[0]


@pytest.mark.parametrize("command", ["compile", "trace", "run"])
def test_unknown_function(write, command: str) -> None:
    path = write("def f(x):\n    return x * x\n\n\ndef g(y):\n    return y\n")
    extra = ["-o", "-"] if command == "compile" else []
    result = run_adc(command, str(path), "--function", "nope", *extra)
    lines = _error_lines(result, path)
    assert "nope" in lines[0]
    assert "f" in lines[-1] and "g" in lines[-1]


@pytest.mark.parametrize(
    ("data", "line", "col"),
    [
        pytest.param(b"def f(x):\n    return x * 2  # caf\xe9\n", 2, 24, id="in a comment"),
        pytest.param(b"def f(x):\n    return x \xff 2\n", 2, 14, id="in code"),
        pytest.param(b"\xff\xfedef f(x):\n    return x\n", 1, 1, id="first byte"),
        pytest.param(
            b"def f(x):\n    return x * 2  # \xc3\xa9t\xe9\n", 2, 23, id="after a multibyte char"
        ),
    ],
)
def test_non_utf8(tmp_path: Path, data: bytes, line: int, col: int) -> None:
    raw_line = data.split(b"\n")[line - 1]
    try:
        raw_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    assert len(raw_line[:bad].decode("utf-8")) + 1 == col  # hand count == character column
    path = tmp_path / "latin.py"
    path.write_bytes(data)
    result = run_adc("compile", str(path), "-o", "-")
    source_line = data.decode("utf-8", errors="replace").splitlines()[line - 1]
    assert_located(result, path, line, col, source_line)


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# only a comment\n", '"""Only a docstring."""\n', "X = 1\n"]
)
def test_file_without_a_function(write, text: str) -> None:
    path = write(text)
    result = run_adc("compile", str(path), "-o", "-")
    lines = _error_lines(result, path)
    assert lines[0].startswith(f"{path}:1:1: error: ")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("def f(x):\n    return x +\n", 2),
        ("def f(x)\n    return x\n", 1),
        ("def f(x):\nreturn x\n", 2),
        ("def f(x):\n    return (x * 2\n", 2),
        ("def f(x):\n    return x\n  y = 1\n", 3),
    ],
)
def test_syntax_error(write, text: str, line: int) -> None:
    try:
        compile(text, "f.py", "exec")
    except SyntaxError as exc:
        expected = (exc.lineno, exc.offset)
    else:
        raise AssertionError("the sample is valid Python")
    assert expected[0] == line
    path = write(text)
    result = run_adc("compile", str(path), "-o", "-")
    assert_located(result, path, expected[0], expected[1], text.splitlines()[line - 1])
    assert "syntax" in result.stderr.splitlines()[0].lower()


def test_null_byte(tmp_path: Path) -> None:
    path = tmp_path / "null.py"
    path.write_bytes(b"def f(x):\n    return x\x00 * 2\n")
    result = run_adc("compile", str(path), "-o", "-")
    lines = _error_lines(result, path)
    # the null byte is on line 2, column 13
    assert lines[0].startswith(f"{path}:2:13: error: "), lines[0]


def _timed(*args: str, cwd: Path | None = None):
    """`adc ARGS` in process, which must not take a minute of CPU (this process's, all its
    threads: wall time would fail on a loaded machine)."""
    start = time.process_time()
    result = run_adc(*args, cwd=cwd)
    assert time.process_time() - start < 60
    return result


def test_deeply_nested_parentheses(write) -> None:
    text = "def f(x):\n    return " + "(" * 2000 + "x" + ")" * 2000 + "\n"
    path = write(text)
    result = _timed("compile", str(path), "-o", "-")
    lines = _error_lines(result, path)
    assert lines[0].startswith(f"{path}:2:")


def test_deeply_nested_unary_minus(write) -> None:
    text = "def f(x):\n    return " + "-" * 20_000 + "x\n"
    path = write(text)
    result = _timed("compile", str(path), "-o", "-")
    lines = _error_lines(result, path)
    # a message that says what is wrong, not an empty reason
    assert not lines[0].rstrip().endswith(":"), lines[0]


def test_deeply_nested_helpers_compile_or_fail_cleanly(write) -> None:
    parts = ["def h0(x):\n    return x * 1.001 + 0.001\n"]
    for i in range(1, 300):
        parts.append(f"def h{i}(x):\n    return h{i - 1}(x) * 0.999 + 0.001\n")
    parts.append("def f(x):\n    return h299(x)\n")
    path = write("\n\n".join(parts))
    result = _timed("compile", str(path), "--function", "f", "-o", "-")
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert "def grad_f(x):" in result.stdout


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ("def f(x):\n    return x * 10 ** 10 ** 10\n", 2, 16),
        ("BIG = 10 ** 10 ** 10\n\n\ndef f(x):\n    return x * BIG\n", 1, 7),
        ("def f(x):\n    return x * 2 ** 10000\n", 2, 16),
        ("def f(x):\n    return x * 10.0 ** 400\n", 2, 16),
    ],
)
def test_huge_constant(write, text: str, line: int, col: int) -> None:
    path = write(text)
    result = _timed("compile", str(path), "-o", "-")
    assert_located(result, path, line, col, text.splitlines()[line - 1])


def test_huge_int_literal(write) -> None:
    text = "def f(x):\n    return x * " + "9" * 5000 + "\n"
    path = write(text)
    result = _timed("compile", str(path), "-o", "-")
    lines = _error_lines(result, path)
    assert lines[0].startswith(f"{path}:2:")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("def f(x):\n    return x * 1e400\n", id="x * 1e400"),
        pytest.param("def f(x):\n    return x * 1e400 - x\n", id="x * 1e400 - x"),
        pytest.param("INF = 1e400\n\n\ndef f(x):\n    return INF * x\n", id="constant"),
    ],
)
def test_infinite_float_literal(write, text: str) -> None:
    """1e400 is a literal Python reads as inf: compiled or rejected cleanly, never a crash."""
    path = write(text)
    result = _timed("compile", str(path), "-o", "-")
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr, result.stderr
    if result.returncode != 0:
        _error_lines(result, path)


# ---------------------------------------------------------------------------------------------
# compile and trace never execute the input
# ---------------------------------------------------------------------------------------------

EVIL = {
    "top-level open": "open('PWNED', 'w')\n\n\ndef f(x):\n    return x\n",
    "top-level constant": "X = open('PWNED', 'w')\n\n\ndef f(x):\n    return x\n",
    "default": "def f(x=open('PWNED', 'w')):\n    return x\n",
    "default via __import__": ("def f(x=__import__('os').system('touch PWNED')):\n    return x\n"),
    "import os": "import os\nos.system('touch PWNED')\n\n\ndef f(x):\n    return x\n",
    "decorator": "@open('PWNED', 'w')\ndef f(x):\n    return x\n",
    "annotation": "def f(x: open('PWNED', 'w')) -> open('PWNED', 'w'):\n    return x\n",
    "class body": "class A:\n    open('PWNED', 'w')\n\n\ndef f(x):\n    return x\n",
    "main guard": (
        "def f(x):\n    return x * x\n\n\nif __name__ == '__main__':\n    open('PWNED', 'w')\n"
    ),
    "function body": "def f(x):\n    open('PWNED', 'w')\n    return x\n",
}


@pytest.mark.parametrize("command", ["compile", "trace"])
@pytest.mark.parametrize("text", EVIL.values(), ids=EVIL.keys())
def test_input_is_never_executed(tmp_path: Path, text: str, command: str) -> None:
    path = tmp_path / "evil.py"
    path.write_text(text, encoding="utf-8")
    extra = ["-o", "-"] if command == "compile" else []
    result = run_adc(command, "evil.py", *extra, cwd=tmp_path)
    assert not (tmp_path / "PWNED").exists()
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 1)
    if result.returncode == 1:
        _error_lines(result, Path("evil.py"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.py"]
