"""The error catalogue: every diagnostic adc can emit, with an example that reaches it.

`CATALOGUE` lists each distinct message (as printed after `error: `, `{...}` where it varies),
the command that reaches it and a complete example file. The tests check that

- A: every reachable entry, run through the real CLI, prints exactly
  `FILE:LINE:COL: error: MESSAGE` at the line and column worked out by hand, the source line and
  a caret under that column (or, for the entries marked `source=False`, no source line), and a
  non-empty `hint:`, on stderr, with exit status 1, an empty stdout and no traceback;
- B: the catalogue and the code agree: every message template in ad_compiler/ and cli/ (read
  with `ast`) is printed by some entry, and every entry's message is one the code can print;
- C: the catalogue block of docs/errors.md is exactly `render_block()` of this list.

`VARIANTS` adds other sites of catalogued messages that must be located as well, and
`test_completeness_checks_catch_a_change` shows that B notices an added or reworded message.

After changing the catalogue, rewrite the block in docs/errors.md with
`python -c "from tests.test_catalogue import write_errors_page; write_errors_page()"`.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, run_adc, run_adc_process

FILE = "example.py"


@dataclass(frozen=True)
class Entry:
    """One diagnostic: its message template and an example that reaches it."""

    message: str  # as printed after `error: `, with `{...}` where it varies
    command: str  # compile, trace, run, check or train
    example: str | bytes  # the complete input file
    line: int  # where the error is reported (1-based)
    col: int  # the 1-based character column
    expect: str  # the exact message this example prints
    args: tuple[str, ...] = ()  # arguments after FILE
    file_arg: str = FILE  # the FILE argument
    setup: str = "write"  # write the example, "mkdir" a directory there, or "none"
    files: tuple[tuple[str, str | bytes], ...] = ()  # more files written beside it (a name
    # ending in / is a directory): data for `adc train`, or a package shadowing an installed one
    reported: str = ""  # the file the error names, when not FILE (a data file, a plot)
    progress: str = ""  # a line `adc train` prints on stderr before an error during training
    source: bool = True  # False: no source line or caret (the error has no place in the file)
    note: str = ""  # catalogue text for entries without a source line to show
    offending: str = ""  # catalogue text for the offending line when it is too long to show
    reachable: bool = True
    reason: str = ""  # why it cannot be reached (reachable=False only)


M = "import math\n\n\n"  # three header lines: `def f` on line 4, its body on line 5
N = "import numpy as np\n\n\n"  # the same with numpy: array mode
G = "def g(a):\n    return a\n\n\n"  # a helper: `def f` on line 5, its body on line 6

LS = N + "def loss(w, X, y):\n    return np.mean((X @ w - y) ** 2)\n"  # `def loss` on line 4
CSV = "a,b,t\n1,2,3\n2,1,0\n3,3,1\n0,1,2\n"  # 4 rows: 3 to train on, 1 held out
CLASSES = "a,b,t\n1,2,0\n2,1,1\n3,3,0\n0,1,1\n4,1,0\n"  # 5 rows of classes 0 and 1: 4 to train


def _npz(**arrays: np.ndarray) -> bytes:
    """The bytes of an .npz file holding `arrays`."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def T(message: str, example: str, line: int, col: int, expect: str, *args: str, **kw) -> Entry:
    """An `adc train` entry: `adc train example.py --data NAME ARGS...`, with the data file
    NAME (default data.csv) holding `data` (default CSV; None: no file is written)."""
    name = kw.pop("name", "data.csv")
    data = kw.pop("data", CSV)
    files = kw.pop("files", ()) + (((name, data),) if data is not None else ())
    args = ("--data", name, *args)
    return Entry(message, "train", example, line, col, expect, args=args, files=files, **kw)


_CHAIN = "\n\n".join(
    ["def h0(x):\n    return x\n"]
    + [f"def h{i}(x):\n    return h{i - 1}(x)\n" for i in range(1, 300)]
    + ["A = h299(1.0)\n\n\ndef f(x):\n    return A * x\n"]
)

# What the reason of each entry only the live API reaches begins with.
LIVE = "only ad_compiler.grad, value_and_grad or check_grad of a live function reaches it"

# fmt: off
CATALOGUE: list[Entry] = [
    # -- reading the file ---------------------------------------------------------------------
    Entry(
        "no such file: {file}", "compile", "", 1, 1, "no such file: example.py",
        setup="none", source=False, note="there is no `example.py`",
    ),
    Entry(
        "{file} is a directory", "compile", "", 1, 1, "example.py is a directory",
        setup="mkdir", source=False, note="`example.py` is a directory",
    ),
    Entry(
        "cannot read {file}: {reason}", "compile", "def f(x):\n    return x\n", 1, 1,
        "cannot read example.py/x: Not a directory",
        file_arg="example.py/x", source=False, note="a path through a file",
    ),
    Entry(
        "the file is not valid UTF-8", "compile", b"def f(x):\n    return x * 2  # caf\xe9\n",
        2, 24, "the file is not valid UTF-8", offending="return x * 2  # caf\\xe9",
    ),
    Entry(
        "the file contains a null byte", "compile", "def f(x):\n    return x\0 * 2\n", 2, 13,
        "the file contains a null byte", offending="return x\\0 * 2",
    ),
    Entry(
        "invalid Python syntax: {reason}", "compile", "def f(x):\n    return x +\n", 2, 15,
        "invalid Python syntax: invalid syntax",
    ),
    Entry(
        "cannot parse the file: {reason}", "compile", "", 1, 1,
        "cannot parse the file: source code string cannot contain null bytes",
        reachable=False,
        reason="ast.parse raises ValueError only for a null byte, which is reported before "
        "parsing, or a lone surrogate, which a strict UTF-8 decoding never yields",
    ),
    Entry(
        "the file is nested too deeply for Python's parser", "compile",
        "def f(x):\n    return " + "-" * 20_000 + "x\n", 1, 1,
        "the file is nested too deeply for Python's parser",
        offending="return -----...x  # 20,000 minus signs",
    ),
    Entry(
        "the input is too large or deeply nested to compile ({error})", "compile",
        "def f(x):\n    return x" + " * 1" * 300_000 + "\n", 1, 1,
        "the input is too large or deeply nested to compile (RecursionError)",
        source=False, note="`return x * 1 * 1 * ... * 1` (300,000 factors)",
    ),
    Entry(
        "the input is too large to process ({error})", "trace", "", 1, 1,
        "the input is too large to process (RecursionError)",
        source=False,
        reachable=False,
        reason="a last resort of the CLI: every command now reads the file on the compiler's "
        "deep stack, which reports such input as too large or deeply nested to compile",
    ),
    # -- module level -------------------------------------------------------------------------
    Entry("no function to differentiate", "compile", "X = 1.0\n", 1, 1,
          "no function to differentiate"),
    Entry(
        "import of `{module}` is not allowed", "compile",
        "import os\n\n\ndef f(x):\n    return x\n", 1, 1, "import of `os` is not allowed",
    ),
    Entry(
        "import from `{module}` is not allowed", "compile",
        "from os import path\n\n\ndef f(x):\n    return x\n", 1, 1,
        "import from `os` is not allowed",
    ),
    Entry(
        "`import *` is not allowed", "compile",
        "from math import *\n\n\ndef f(x):\n    return sin(x)\n", 1, 1, "`import *` is not allowed",
    ),
    Entry(
        "`{module}.{name}` is not supported", "compile",
        "from math import gamma\n\n\ndef f(x):\n    return gamma(x)\n", 1, 1,
        "`math.gamma` is not supported",
    ),
    Entry(
        "only `NAME = number` is allowed at module level", "compile",
        "A = B = 1.0\n\n\ndef f(x):\n    return A * x\n", 1, 1,
        "only `NAME = number` is allowed at module level",
    ),
    Entry(
        "module-level values must be numeric constants", "compile", "", 1, 1,
        "module-level values must be numeric constants",
        reachable=False,
        reason="a module-level value can use only numbers, constants and helpers called with "
        "numbers, so it always folds to a number; any other name is undefined there",
    ),
    Entry(
        "only imports, numeric constants and functions are allowed at module level", "compile",
        "print('hello')\n\n\ndef f(x):\n    return x\n", 1, 1,
        "only imports, numeric constants and functions are allowed at module level",
    ),
    Entry(
        "function `{name}` is defined twice", "compile",
        "def f(x):\n    return x\n\n\ndef f(x):\n    return x * x\n", 5, 1,
        "function `f` is defined twice",
    ),
    Entry(
        "function name `{name}` clashes with the gradient adc generates for `{function}`",
        "compile", "def f(x):\n    return x * x\n\n\ndef grad_f(x):\n    return x\n", 1, 1,
        "function name `grad_f` clashes with the gradient adc generates for `f`",
    ),
    Entry(
        "function name `{name}` would shadow what the generated code calls", "compile",
        "def _unbroadcast(x):\n    return x\n\n\ndef f(x):\n    return x\n", 1, 1,
        "function name `_unbroadcast` would shadow what the generated code calls",
    ),
    Entry(
        "async functions are not supported", "compile",
        "async def g(x):\n    return x\n\n\ndef f(x):\n    return x\n", 1, 1,
        "async functions are not supported",
    ),
    Entry(
        "classes are not supported", "compile",
        "class A:\n    pass\n\n\ndef f(x):\n    return x\n", 1, 1, "classes are not supported",
    ),
    # -- the function's signature -------------------------------------------------------------
    Entry(
        "decorators are not supported", "compile", "@staticmethod\ndef f(x):\n    return x\n",
        1, 2, "decorators are not supported",
    ),
    Entry(
        "`*args`/`**kwargs` are not supported", "compile", "def f(*xs):\n    return 1.0\n", 1, 8,
        "`*args`/`**kwargs` are not supported",
    ),
    Entry(
        "only plain positional parameters are supported", "compile",
        "def f(x, *, y):\n    return x * y\n", 1, 13,
        "only plain positional parameters are supported",
    ),
    Entry(
        "a parameter name is repeated", "compile", "def f(x, x):\n    return x\n", 1, 1,
        "a parameter name is repeated",
    ),
    Entry(
        "dunder name `{name}` is not allowed", "compile",
        "def f(x):\n    __y__ = x\n    return __y__\n", 2, 5, "dunder name `__y__` is not allowed",
    ),
    Entry(
        "a default must be a numeric constant", "compile", "", 1, 1,
        "a default must be a numeric constant",
        reachable=False,
        reason="a default can use only numbers, constants and helpers called with numbers, so "
        "it always folds to a number; a parameter there is an undefined name",
    ),
    # -- statements ---------------------------------------------------------------------------
    Entry(
        "`return` inside a loop is not supported", "compile",
        "def f(x):\n    for i in range(3):\n        return x\n    return x\n", 3, 9,
        "`return` inside a loop is not supported",
    ),
    Entry(
        "`for ... else` is not supported", "compile",
        "def f(x):\n    for i in range(3):\n        x = x * 2\n    else:\n        x = -x\n"
        "    return x\n", 5, 9,
        "`for ... else` is not supported",
    ),
    Entry(
        "`while ... else` is not supported", "compile",
        "def f(x):\n    while x < 3:\n        x = x * 2\n    else:\n        x = -x\n"
        "    return x\n", 5, 9,
        "`while ... else` is not supported",
    ),
    Entry(
        "a `for` loop's target must be one name", "compile",
        "def f(x):\n    for i, j in range(3):\n        x = x * 2\n    return x\n", 2, 9,
        "a `for` loop's target must be one name",
    ),
    Entry(
        "`range` takes one to three arguments", "compile",
        "def f(x):\n    for i in range():\n        x = x * 2\n    return x\n", 2, 14,
        "`range` takes one to three arguments",
    ),
    Entry(
        "`try` is not supported", "compile",
        "def f(x):\n    try:\n        y = x\n    finally:\n        pass\n    return y\n", 2, 5,
        "`try` is not supported",
    ),
    Entry(
        "`with` is not supported", "compile",
        "def f(x):\n    with x:\n        pass\n    return x\n", 2, 5, "`with` is not supported",
    ),
    Entry(
        "`global` is not supported", "compile",
        "G = 2.0\n\n\ndef f(x):\n    global G\n    return x * G\n", 5, 5,
        "`global` is not supported",
    ),
    Entry(
        "`nonlocal` is not supported", "compile", "def f(x):\n    nonlocal y\n    return x\n",
        2, 5, "`nonlocal` is not supported",
    ),
    Entry(
        "nested functions are not supported", "compile",
        "def f(x):\n    def g(t):\n        return t\n    return g(x)\n", 2, 5,
        "nested functions are not supported",
    ),
    Entry(
        "imports belong at module level", "compile",
        "def f(x):\n    import math\n    return math.sin(x)\n", 2, 5,
        "imports belong at module level",
    ),
    Entry(
        "`raise` is not supported", "compile",
        "def f(x):\n    raise ValueError('no')\n    return x\n", 2, 5, "`raise` is not supported",
    ),
    Entry(
        "`assert` is not supported", "compile", "def f(x):\n    assert x > 0\n    return x\n",
        2, 5, "`assert` is not supported",
    ),
    Entry(
        "`del` is not supported", "compile", "def f(x):\n    y = x\n    del y\n    return x\n",
        3, 5, "`del` is not supported",
    ),
    Entry(
        "`{statement}` statements are not supported", "compile",
        "def f(x):\n    match x:\n        case 1:\n            pass\n    return x\n", 2, 5,
        "`Match` statements are not supported",
    ),
    Entry(
        "only `name = expression` assignments are supported", "compile",
        "def f(x):\n    y = z = x\n    return y\n", 2, 5,
        "only `name = expression` assignments are supported",
    ),
    Entry(
        "only `name: type = expression` is supported", "compile",
        "def f(x):\n    y: float\n    return x\n", 2, 5,
        "only `name: type = expression` is supported",
    ),
    Entry(
        "only `name op= expression` is supported", "compile",
        "def f(x):\n    x.real += 1\n    return x\n", 2, 5,
        "only `name op= expression` is supported",
    ),
    Entry(
        "this augmented assignment is not supported", "compile",
        "def f(x):\n    x <<= 2\n    return x\n", 2, 5,
        "this augmented assignment is not supported",
    ),
    Entry(
        "this expression has no effect", "compile", "def f(x):\n    x + 1\n    return x\n", 2, 5,
        "this expression has no effect",
    ),
    Entry(
        "code after `return` is never run", "compile",
        "def f(x):\n    return x\n    x = 2 * x\n", 3, 5, "code after `return` is never run",
    ),
    Entry(
        "`return` needs a value", "compile", "def f(x):\n    y = x\n    return\n", 3, 5,
        "`return` needs a value",
    ),
    Entry(
        "function `{name}` has no `return`", "compile", "def f(x):\n    y = x * x\n", 1, 1,
        "function `f` has no `return`",
    ),
    # -- expressions --------------------------------------------------------------------------
    Entry(
        "lambdas are not supported", "compile",
        "def f(x):\n    g = lambda t: t * 2\n    return g(x)\n", 2, 9, "lambdas are not supported",
    ),
    Entry(
        "comprehensions are not supported", "compile",
        "def f(x, y):\n    z = [t * t for t in (x, y)]\n    return z\n", 2, 9,
        "comprehensions are not supported",
    ),
    Entry(
        "subscripts are not supported on scalars", "compile", "def f(x):\n    return x[0]\n",
        2, 12, "subscripts are not supported on scalars",
    ),
    Entry(
        "this comparison is not supported", "compile", "def f(x, y):\n    return x is y\n", 2, 12,
        "this comparison is not supported",
    ),
    Entry(
        "lists are not supported", "compile", "def f(x):\n    return [x]\n", 2, 12,
        "lists are not supported",
    ),
    Entry(
        "tuples are not supported", "compile", "def f(x, y):\n    return x, y\n", 2, 12,
        "tuples are not supported",
    ),
    Entry(
        "dicts are not supported", "compile", "def f(x):\n    return {'x': x}\n", 2, 12,
        "dicts are not supported",
    ),
    Entry(
        "sets are not supported", "compile", "def f(x):\n    return {x}\n", 2, 12,
        "sets are not supported",
    ),
    Entry(
        "strings are not supported", "compile", "def f(x):\n    label = 'x'\n    return x\n",
        2, 13, "strings are not supported",
    ),
    Entry(
        "`{value}` is not a real number", "compile", "def f(x):\n    return x * True\n", 2, 16,
        "`True` is not a real number",
    ),
    Entry(
        "`*args` is not supported", "compile", M + "def f(x):\n    return math.sin(*x)\n", 5, 21,
        "`*args` is not supported",
    ),
    Entry(
        "`:=` is not supported", "compile", "def f(x):\n    return (y := x)\n", 2, 13,
        "`:=` is not supported",
    ),
    Entry(
        "`await` is not supported", "compile", "def f(x):\n    y = await x\n    return y\n", 2, 9,
        "`await` is not supported",
    ),
    Entry(
        "`yield` is not supported", "compile", "def f(x):\n    y = yield x\n    return y\n", 2, 9,
        "`yield` is not supported",
    ),
    Entry(
        "`{expression}` expressions are not supported", "compile", "", 1, 1,
        "`Slice` expressions are not supported",
        reachable=False,
        reason="every expression node is handled or listed except Slice and FormattedValue, "
        "which occur only inside a subscript or an f-string, both rejected first",
    ),
    Entry(
        "operator `{operator}` is not supported", "compile", "def f(x):\n    return x << 2\n",
        2, 12, "operator `<<` is not supported",
    ),
    Entry(
        "undefined name `{name}`", "compile", "def f(x):\n    return x + y\n", 2, 16,
        "undefined name `y`",
    ),
    Entry(
        "`{name}` is a function", "compile", G + "def f(x):\n    return g + x\n", 6, 12,
        "`g` is a function",
    ),
    Entry(
        "`{module}` is not imported", "compile", "def f(x):\n    return math.sin(x)\n", 2, 12,
        "`math` is not imported",
    ),
    Entry(
        "attribute access is limited to math.<name> and numpy.<name>", "compile",
        "def f(x):\n    return x.real\n", 2, 12,
        "attribute access is limited to math.<name> and numpy.<name>",
    ),
    Entry(
        "`{module}.{name}` is not a number", "compile", M + "def f(x):\n    return x * math.sin\n",
        5, 16, "`math.sin` is not a number",
    ),
    Entry(
        "division by zero", "compile", "def f(x):\n    return x / 0\n", 2, 12, "division by zero",
    ),
    Entry(
        "a constant base of `**` must be positive", "compile",
        "def f(x):\n    return (-2) ** x\n", 2, 12, "a constant base of `**` must be positive",
    ),
    Entry(
        "this constant is complex", "compile", "def f(x):\n    return x * (-8) ** 0.5\n", 2, 16,
        "this constant is complex",
    ),
    Entry(
        "constant too large for a float", "compile", "def f(x):\n    return x * 10.0 ** 400\n",
        2, 16, "constant too large for a float",
    ),
    Entry(
        "division by zero in a constant", "compile", "def f(x):\n    return x * (1 / 0)\n", 2, 17,
        "division by zero in a constant",
    ),
    # -- calls --------------------------------------------------------------------------------
    Entry(
        "`{name}` is never allowed", "compile", "def f(x):\n    return eval('x')\n", 2, 12,
        "`eval` is never allowed",
    ),
    Entry(
        "`{name}` is a number, not a function", "compile",
        "A = 2.0\n\n\ndef f(x):\n    return A(x)\n", 5, 12, "`A` is a number, not a function",
    ),
    Entry(
        "unknown function `{name}`", "compile", "def f(x):\n    return sin(x)\n", 2, 12,
        "unknown function `sin`",
    ),
    Entry(
        "`{name}` is read before it is assigned", "compile",
        "K = 2.0\n\n\ndef f(x):\n    K = K + 1\n    return K * x\n", 5, 9,
        "`K` is read before it is assigned",
    ),
    Entry(
        "`{name}` is a variable in `{function}`, not the module", "compile",
        M + "def f(x):\n    math = x\n    return math.sin(x)\n", 6, 12,
        "`math` is a variable in `f`, not the module",
    ),
    Entry(
        "numpy has no `tau`", "compile", N + "def f(x):\n    return np.tau * x\n", 5, 12,
        "numpy has no `tau`",
    ),
    Entry(
        "only named functions can be called", "compile", "def f(x):\n    return x(2)(3)\n",
        2, 12, "only named functions can be called",
    ),
    Entry(
        "`{function}` takes no keyword arguments", "compile",
        M + "def f(x):\n    return math.sin(x=x)\n", 5, 23, "`sin` takes no keyword arguments",
    ),
    Entry(
        "`{function}` takes exactly one argument here", "compile",
        M + "def f(x):\n    return math.sin(x, 2)\n", 5, 12,
        "`sin` takes exactly one argument here",
    ),
    # Known to fail: adc reports column 1 (indentation), not the call's column 16.
    Entry(
        "`{function}` of the constant {value} fails: {reason}", "compile",
        M + "def f(x):\n    return x + math.log(0)\n", 5, 16,
        "`log` of the constant 0 fails: math domain error",
    ),
    Entry(
        "recursion is not supported (`{name}` calls itself through {chain})", "compile",
        "def f(x):\n    return f(x) + 1\n", 2, 12,
        "recursion is not supported (`f` calls itself through f -> f)",
    ),
    Entry(
        "`{name}` takes {count} argument{s}, not {given}", "compile",
        G + "def f(x):\n    return g(x, x)\n", 6, 12, "`g` takes 1 argument, not 2",
    ),
    Entry(
        "bad keyword argument for `{name}`", "compile", G + "def f(x):\n    return g(b=x)\n",
        6, 16, "bad keyword argument for `g`",
    ),
    Entry(
        "missing argument `{parameter}` for `{name}`", "compile",
        "def g(a, b):\n    return a * b\n\n\ndef f(x):\n    return g(x)\n", 6, 12,
        "missing argument `b` for `g`",
    ),
    # -- arrays (in a file that imports numpy) -------------------------------------------------
    Entry(
        "method `.{name}()` is not supported", "compile", N + "def f(x):\n    return x.cumsum()\n",
        5, 12, "method `.cumsum()` is not supported",
    ),
    Entry(
        "this operand must be an array, not a constant", "compile",
        N + "def f(x):\n    return x + np.sum(2.0)\n", 5, 23,
        "this operand must be an array, not a constant",
    ),
    Entry(
        "{what} must be a constant", "compile", N + "def f(x, i):\n    return x[i]\n", 5, 14,
        "index must be a constant",
    ),
    Entry(
        "indices must be integer constants", "compile", N + "def f(x):\n    return x[0.5]\n",
        5, 14, "indices must be integer constants",
    ),
    Entry(
        "bad arguments for `{function}`", "compile",
        N + "def f(x):\n    return np.sum(x, keep=True)\n", 5, 12, "bad arguments for `sum`",
    ),
    Entry(
        "`{function}` needs its `{argument}` argument", "compile",
        N + "def f(x):\n    return np.dot(x)\n", 5, 12, "`dot` needs its `b` argument",
    ),
    Entry(
        "`{function}` of constants", "compile",
        N + "def f(x):\n    return x + np.maximum(1.0, 2.0)\n", 5, 16, "`maximum` of constants",
    ),
    Entry(
        "`{function}` needs a list or tuple of values as `{parameter}`", "compile",
        N + "def f(x):\n    return np.sum(np.concatenate(x))\n", 5, 34,
        "`concatenate` needs a list or tuple of values as `arrays`",
    ),
    Entry(
        "`{function}`: {reason}", "compile",
        N + "def f(a, b):\n    return np.sum(np.einsum('ij,jk', a, b))\n", 5, 29,
        "`einsum`: subscripts 'ij,jk' are not supported",
    ),
    Entry(
        "`{function}` gives a tuple, which adc does not hold as a value", "compile",
        N + "def f(x):\n    return np.sum(x) * len(x.shape)\n", 5, 28,
        "`shape` gives a tuple, which adc does not hold as a value",
    ),
    Entry(
        "`{function}` has no item {index}", "compile",
        N + "def f(a):\n    return np.linalg.slogdet(a)[2]\n", 5, 33,
        "`slogdet` has no item 2",
    ),
    Entry(
        "np.where's condition must be one comparison", "compile",
        N + "def f(x):\n    return np.where(x, x, 0.0)\n", 5, 21,
        "np.where's condition must be one comparison",
    ),
    Entry(
        "unsupported comparison", "compile",
        N + "def f(x, y):\n    return np.where(x is y, x, y)\n", 5, 21, "unsupported comparison",
    ),
    Entry(
        "a comparison of constants", "compile",
        N + "def f(x):\n    return np.where(1.0 > 0.0, x, 0.0)\n", 5, 21,
        "a comparison of constants",
    ),
    # -- the command line ---------------------------------------------------------------------
    Entry(
        "no function `{function}` in {file}", "compile", "def f(x):\n    return x * x\n", 1, 1,
        "no function `g` in example.py", args=("--function", "g"),
        source=False, note="`example.py` defines only `f`",
    ),
    Entry(
        "`{function}` has no parameter `{parameter}` to differentiate by", "compile",
        "def f(x):\n    return x * x\n", 1, 1, "`f` has no parameter `y` to differentiate by",
        args=("--wrt", "y"),
    ),
    Entry(
        "the numba backend compiles scalar functions only; `{name}` is array code", "compile",
        N + "def f(x):\n    return np.sum(x * x)\n", 4, 1,
        "the numba backend compiles scalar functions only; `f` is array code",
        args=("--backend", "numba"),
    ),
    Entry(
        "the numba backend needs numba, which is not installed", "compile",
        "def f(x):\n    return x * x\n", 1, 1,
        "the numba backend needs numba, which is not installed", args=("--backend", "numba"),
        source=False, files=(("numba/__init__.py", "raise ImportError('no numba here')\n"),),
        note="numba cannot be imported (the example's folder holds a `numba` package that "
        "raises ImportError)",
    ),
    Entry(
        "unknown optimisation pass `{name}`", "compile", "def f(x):\n    return x * x\n", 1, 1,
        "unknown optimisation pass `inline`", args=("--passes", "fold,inline"), source=False,
        note="the argument `--passes fold,inline`",
    ),
    Entry(
        "refusing to overwrite the input file {file}", "compile",
        "def f(x):\n    return x * x\n", 1, 1, "refusing to overwrite the input file example.py",
        args=("-o", FILE), source=False, note="the output is the input",
    ),
    Entry(
        "the output {path} is a directory", "compile", "def f(x):\n    return x * x\n", 1, 1,
        "the output . is a directory", args=("-o", "."), source=False,
        note="the output is the current directory",
    ),
    Entry(
        "output directory {directory} does not exist", "compile",
        "def f(x):\n    return x * x\n", 1, 1, "output directory missing does not exist",
        args=("-o", "missing/out.py"), source=False, note="there is no directory `missing`",
    ),
    Entry(
        "cannot read the argument `{argument}`", "run", "def f(x):\n    return x * x\n", 1, 1,
        "cannot read the argument `x`", args=("x",), source=False, note="the argument `x`",
    ),
    Entry(
        "`{text}` is not a value (for {name})", "run", "def f(x):\n    return x * x\n", 1, 1,
        "`abc` is not a value (for x)", args=("x=abc",), source=False,
        note="the argument `x=abc`",
    ),
    Entry(
        "cannot load {file} (for {name}): {reason}", "run",
        N + "def f(x):\n    return np.sum(x)\n", 1, 1,
        "cannot load missing.npy (for x): [Errno 2] No such file or directory: 'missing.npy'",
        args=("x=@missing.npy",), source=False, note="there is no `missing.npy`",
    ),
    Entry(
        "`{function}` has no parameter `{name}`", "run", "def f(x):\n    return x * x\n", 1, 1,
        "`f` has no parameter `y`", args=("y=1",), source=False, note="the argument `y=1`",
    ),
    Entry(
        "no value for `{parameter}` and no default", "run", "def f(x):\n    return x * x\n",
        1, 1, "no value for `x` and no default", source=False,
        note="`def f(x):` run with no `x=VALUE`",
    ),
    Entry(
        "evaluating {step} = {expression} failed: {reason}", "run",
        M + "def f(x=-1.0):\n    return math.log(x)\n", 5, 12,
        "evaluating z1 = log(x) failed: math domain error",
    ),
    Entry(
        "found no point where `{function}` is defined", "check",
        M + "def f(x):\n    return math.log(-1 - x * x)\n", 4, 1,
        "found no point where `f` is defined",
    ),
    Entry(
        "`{function}` may take arrays, and adc check draws random points only for numbers",
        "check", N + "def f(w):\n    return np.sum(w * w)\n", 4, 1,
        "`f` may take arrays, and adc check draws random points only for numbers",
    ),
    Entry(
        "`{function}` cannot take these values: {reason}", "check",
        N + "def f(w, X):\n    return np.sum(X @ w)\n", 4, 1,
        "`f` cannot take these values: unsupported operand type(s) for @: 'float' and 'float'",
        args=("w=1", "X=2"),
    ),
    Entry(
        "`{function}` returns an array of shape {shape}, not a number", "check",
        N + "def f(w):\n    return np.exp(w)\n", 4, 1,
        "`f` returns an array of shape (2,), not a number", args=("w=[1, 2]",),
    ),
    # -- live functions: ad_compiler.grad and value_and_grad ----------------------------------
    Entry(
        "Python cannot find the source of `{function}`: {reason}", "compile", "", 1, 1,
        "Python cannot find the source of `f`: it was made by exec() or python -c",
        reachable=False,
        reason=f"{LIVE}, when `f` was typed at the prompt, given to python -c or made by exec "
        "(tests/test_api.py)",
    ),
    Entry(
        "{file} has changed since `{function}` was defined", "compile", "", 1, 1,
        "example.py has changed since `f` was defined",
        reachable=False,
        reason=f"{LIVE}, when its file no longer holds `f` where Python compiled it from",
    ),
    Entry(
        "`{function}` is wrapped by a decorator", "compile", "", 1, 1,
        "`f` is wrapped by a decorator",
        reachable=False,
        reason=f"{LIVE}: a function made by functools.wraps (a file's decorators are refused "
        "as `decorators are not supported`)",
    ),
    Entry(
        "`{name}` is one value in `{function}` and another in `{function}`", "compile", "", 1,
        1, "`X` is one value in `g` and another in `f`",
        reachable=False,
        reason=f"{LIVE}: `f` and a helper `g` from another module read different values of "
        "the same name",
    ),
    Entry(
        "`{name}` is the function `{function}` under another name", "compile", "", 1, 1,
        "`gee` is the function `g` under another name",
        reachable=False,
        reason=f"{LIVE}: `f` calls a helper imported as `from other import g as gee`",
    ),
    Entry(
        "`{name}` is {what it is}, which adc cannot compile", "compile", "", 1, 1,
        "`DATA` is a list, which adc cannot compile",
        reachable=False,
        reason=f"{LIVE}: a name it reads from its module or closure is not a number, a numpy "
        "array of numbers, math, numpy or a function (a file can hold only numeric constants)",
    ),
    Entry(
        "`{function}` has its own `{name}` and calls `{function}`, which reads the "
        "module-level `{name}`", "compile", "", 1, 1,
        "`f` has its own `X` and calls `g`, which reads the module-level `X`",
        reachable=False,
        reason=f"{LIVE}: a module-level array `X`, which `g` reads, is passed to `g` through "
        "`f`, whose parameter `X` is another value",
    ),
    Entry(
        "`{function}` has no parameters to differentiate by", "compile", "", 1, 1,
        "`f` has no parameters to differentiate by",
        reachable=False,
        reason=f"{LIVE}: `f` has no parameters and reads an array from its module",
    ),
    # -- adc graph ----------------------------------------------------------------------------
    Entry(
        "cannot tell the picture format of {file}", "graph", "def f(x):\n    return x * x\n",
        1, 1, "cannot tell the picture format of f.pdf", args=("-o", "f.pdf"), source=False,
        note="`-o f.pdf` (the output is .dot, .svg or .png)",
    ),
    Entry(
        "writing {file} needs Graphviz, but {what is missing}", "graph",
        "def f(x):\n    return x * x\n", 1, 1,
        "writing f.svg needs Graphviz, but the Python package `graphviz` is not installed",
        args=("-o", "f.svg"), source=False,
        files=(("graphviz/__init__.py", "raise ImportError('no graphviz here')\n"),),
        note="the `graphviz` package cannot be imported (the example's folder holds a "
        "`graphviz` package that raises ImportError); tests/test_teaching.py removes `dot` "
        "from PATH for the other case",
    ),
    # -- adc train: the data (errors about the data are reported at the data file) -----------
    T(
        "no such data file: {file}", LS, 1, 1, "no such data file: missing.csv",
        name="missing.csv", data=None, reported="missing.csv", source=False,
        note="there is no `missing.csv`",
    ),
    T(
        "unknown data set `{name}`", LS, 1, 1, "unknown data set `housing`", name="housing",
        data=None, reported="housing", source=False,
        note="`housing` is neither a bundled data set nor a file",
    ),
    T(
        "--target does not apply to the bundled data set `{name}`", LS, 1, 1,
        "--target does not apply to the bundled data set `diabetes`", "--target", "0",
        name="diabetes", data=None, reported="diabetes", source=False,
        note="`--target` with a bundled data set",
    ),
    T(
        "the data set `{name}` comes with scikit-learn, which is not installed", LS, 1, 1,
        "the data set `diabetes` comes with scikit-learn, which is not installed",
        name="diabetes", data=None, reported="diabetes", source=False,
        files=(("sklearn/__init__.py", "raise ImportError('no scikit-learn here')\n"),),
        note="scikit-learn cannot be imported (the example's folder holds a `sklearn` package "
        "that raises ImportError)",
    ),
    T(
        "{file} holds no rows", LS, 1, 1, "data.csv holds no rows", data="", reported="data.csv",
        source=False, note="`data.csv` is empty",
    ),
    T(
        "{file} has a header but no data rows", LS, 1, 1, "data.csv has a header but no data rows",
        data="a,b,t\n", reported="data.csv",
    ),
    T(
        "{file} has one column", LS, 1, 1, "data.csv has one column", data="t\n1\n2\n",
        reported="data.csv",
    ),
    T(
        "row has {count} columns, the {first row or header} has {width}", LS, 3, 1,
        "row has 2 columns, the header has 3", data="a,b,t\n1,2,3\n4,5\n", reported="data.csv",
    ),
    T(
        "column {column} is not numeric: this row {holds `text` or is empty}", LS, 3, 5,
        "column `b` is not numeric: this row holds `red`", data="a,b,t\n1,2,3\n2.5,red,4\n",
        reported="data.csv",
    ),
    T(
        "the data holds nan or inf values", LS, 3, 3, "the data holds nan or inf values",
        data="a,b,t\n1,2,3\n1,nan,3\n", reported="data.csv",
    ),
    T(
        "target column {index} is out of range: the data has {count} columns", LS, 1, 1,
        "target column 5 is out of range: the data has 3 columns", "--target", "5",
        reported="data.csv", source=False, note="`--target 5` for a CSV file of 3 columns",
    ),
    T(
        "no column `{name}` in {file}", LS, 1, 1, "no column `price` in data.csv",
        "--target", "price", reported="data.csv", source=False,
        note="`--target price` for a CSV file with columns a, b, t",
    ),
    T(
        "cannot load {file}: {reason}", LS, 1, 1,
        "cannot load data.npz: Object arrays cannot be loaded when allow_pickle=False",
        name="data.npz", data=_npz(X=np.array([1, "a", None], dtype=object)),
        reported="data.npz", source=False, note="an NPZ file holding an object array",
    ),
    T(
        "{array} is not numeric (dtype {dtype})", LS, 1, 1,
        "array X is not numeric (dtype <U1)", name="data.npz",
        data=_npz(X=np.array([["a", "b"]]), y=np.array([1.0])), reported="data.npz",
        source=False, note="an NPZ file whose X holds strings",
    ),
    T(
        "{file} holds arrays X and y, so --target does not apply", LS, 1, 1,
        "data.npz holds arrays X and y, so --target does not apply", "--target", "0",
        name="data.npz", data=_npz(X=np.ones((3, 2)), y=np.ones(3)), reported="data.npz",
        source=False, note="`--target 0` for an NPZ file of X and y",
    ),
    T(
        "X has shape {shape} and y {shape}", LS, 1, 1, "X has shape (3, 2) and y (4,)",
        name="data.npz", data=_npz(X=np.ones((3, 2)), y=np.ones(4)), reported="data.npz",
        source=False, note="an NPZ file of 3 rows of X and 4 values of y",
    ),
    T(
        "{file} holds arrays {names}", LS, 1, 1, "data.npz holds arrays a, b", name="data.npz",
        data=_npz(a=np.ones((3, 2)), b=np.ones(3)), reported="data.npz", source=False,
        note="an NPZ file of arrays `a` and `b`",
    ),
    T(
        "array {name} has shape {shape}", LS, 1, 1, "array t has shape (3,)", name="data.npz",
        data=_npz(t=np.ones(3)), reported="data.npz", source=False,
        note="an NPZ file holding one 1-D array `t`",
    ),
    # -- adc train: labels and the held-out split ---------------------------------------------
    T(
        "the target `{name}` has a single class", LS, 1, 1, "the target `t` has a single class",
        "--classify", data="a,t\n1,0\n2,0\n", reported="data.csv", source=False,
        note="`--classify` for a target column of zeros",
    ),
    T(
        "no class {class} in the target `{name}`", LS, 1, 1, "no class 5 in the target `t`",
        "--classify", "--positive", "5", data=CLASSES, reported="data.csv", source=False,
        note="`--positive 5` for classes 0 and 1",
    ),
    T(
        "`{name}` is a regression data set, so --labels/--positive do not apply", LS, 1, 1,
        "`data.csv` is a regression data set, so --labels/--positive do not apply",
        "--labels", "pm1", reported="data.csv", source=False,
        note="`--labels pm1` without `--classify`",
    ),
    Entry(
        "unknown labels `{labels}`", "train", "", 1, 1, "unknown labels `yes`",
        reachable=False,
        reason="adc train's --labels takes only raw, pm1 or 01 (click rejects any other "
        "value first); only prepare() called from Python can pass another",
    ),
    T(
        "test size {value} is not in [0, 1)", LS, 1, 1, "test size 1.5 is not in [0, 1)",
        "--test-size", "1.5", reported="data.csv", source=False, note="`--test-size 1.5`",
    ),
    Entry(
        "features of shape {shape} and a target of {count}", "train", "", 1, 1,
        "features of shape (3,) and a target of 3",
        reachable=False,
        reason="every file load_data reads gives a 2-D X with one row per target value (it "
        "checks an NPZ file's X and y itself); only a Data made in Python can differ",
    ),
    T(
        "the training split is empty", LS, 1, 1, "the training split is empty",
        "--test-size", "0.6", data="a,t\n1,0\n", reported="data.csv", source=False,
        note="one example, 60% of it held out",
    ),
    T(
        "the training split has a single class", LS, 1, 1,
        "the training split has a single class", "--classify", "--test-size", "0.6",
        data="a,t\n1,0\n2,0\n3,0\n4,1\n", reported="data.csv", source=False,
        note="the one example of class 1 held out",
    ),
    # -- adc train: the function and its parameters -------------------------------------------
    T(
        "{file} has no function `loss`, so adc cannot tell which function to train",
        N + "def f(w, X, y):\n    return np.mean((X @ w - y) ** 2)\n\n\n"
        "def g(w, X, y):\n    return f(w, X, y)\n", 1, 1,
        "example.py has no function `loss`, so adc cannot tell which function to train",
        source=False, note="`example.py` defines `f` and `g`",
    ),
    T(
        "`{function}` has no parameter `X` to receive the data",
        N + "def loss(w, y):\n    return np.mean((w - y) ** 2)\n", 4, 1,
        "`loss` has no parameter `X` to receive the data",
    ),
    T(
        "`{function}` has nothing to train: its parameters are the data (X, y) and "
        "hyperparameters with default values",
        N + "def loss(X, y, lam=0.1):\n    return lam * np.mean(X)\n", 4, 1,
        "`loss` has nothing to train: its parameters are the data (X, y) and hyperparameters "
        "with default values",
    ),
    T(
        "cannot read the setting `{text}`", LS, 1, 1, "cannot read the setting `lam`",
        "--set", "lam", source=False, note="the argument `--set lam`",
    ),
    T(
        "cannot set `{name}`: it {kind} of `{function}`",
        N + "def loss(w, X, y, lam=0.1):\n    return np.mean((X @ w - y) ** 2) + lam * w @ w\n",
        4, 1, "cannot set `q`: it is not a parameter of `loss`", "--set", "q=1",
    ),
    T(
        "`predict` has no parameter X", LS + "\n\ndef predict(w):\n    return w\n", 8, 1,
        "`predict` has no parameter X", "--classify", data=CLASSES,
    ),
    T(
        "`predict` needs {parameters}", LS + "\n\ndef predict(w, X, t):\n    return X @ w * t\n",
        8, 1, "`predict` needs t", "--classify", data=CLASSES,
    ),
    T(
        "cannot read the shape `{text}`", LS, 1, 1, "cannot read the shape `w=a`",
        "--shape", "w=a", source=False, note="the argument `--shape w=a`",
    ),
    Entry(
        "`d` in `{text}` needs the data", "train", "", 1, 1, "`d` in `w=d` needs the data",
        reachable=False,
        reason="adc train always has the data when it reads --shape; only parse_shape() called "
        "from Python without the number of features reaches it",
    ),
    T(
        "the shape `{text}` has a zero dimension", LS, 1, 1, "the shape `w=0` has a zero dimension",
        "--shape", "w=0", source=False, note="the argument `--shape w=0`",
    ),
    T(
        "--shape {name}: `{name}` {kind} of `{function}`", LS, 4, 1,
        "--shape X: `X` receives the data of `loss`", "--shape", "X=3",
    ),
    T(
        "`{function}` cannot run on the data with these shapes: {reason}", LS, 4, 1,
        "`loss` cannot run on the data with these shapes: matmul: Input operand 1 has a "
        "mismatch in its core dimension 0, with gufunc signature (n?,k),(k,m?)->(n?,m?) (size 3 "
        "is different from 2)", "--shape", "w=3",
    ),
    T(
        "`{function}` returns an array of shape {shape} on the data, not a scalar loss",
        N + "def loss(w, X, y):\n    return (X @ w - y) ** 2\n", 4, 1,
        "`loss` returns an array of shape (3,) on the data, not a scalar loss",
    ),
    T(
        "the gradient of `{name}` has shape {shape}, but `{name}` has shape {shape}",
        "", 1, 1,
        "the gradient of `w` has shape (2, 2, 1), but `w` has shape (2, 1)",
        reachable=False,
        reason="a guard against a compiler bug: every adjoint, broadcast matrix products "
        "included, is summed back to its parameter's shape",
    ),
    T(
        "`predict` cannot run on the data with these shapes: {reason}",
        LS + "\n\ndef predict(w, X):\n    return 1 / (1 + np.exp(-(X.T @ w)))\n", 8, 1,
        "`predict` cannot run on the data with these shapes: matmul: Input operand 1 has a "
        "mismatch in its core dimension 0, with gufunc signature (n?,k),(k,m?)->(n?,m?) (size 2 "
        "is different from 4)", "--classify", data=CLASSES,
    ),
    T(
        "`predict` returns shape {shape} for {count} examples",
        LS + "\n\ndef predict(w, X):\n    return np.mean(X @ w)\n", 8, 1,
        "`predict` returns shape () for 4 examples", "--classify", data=CLASSES,
    ),
    # -- adc train: options, training, the plot -----------------------------------------------
    Entry(
        "unknown method `{method}`", "train", "", 1, 1, "unknown method `adam`",
        reachable=False,
        reason="adc train's --method takes only gd, sgd, minibatch or subgradient (click rejects "
        "any other value first); only setup() called from Python can pass another",
    ),
    T(
        "the learning rate {lr} is not positive", LS, 4, 1, "the learning rate 0.0 is not positive",
        "--lr", "0",
    ),
    T("epochs {epochs} is negative", LS, 4, 1, "epochs -1 is negative", "--epochs", "-1"),
    T(
        "batch size {batch} is not positive", LS, 4, 1, "batch size 0 is not positive",
        "--batch", "0",
    ),
    Entry(
        "unknown init `{init}`", "train", "", 1, 1, "unknown init `ones`",
        reachable=False,
        reason="adc train's --init takes only zeros or normal (click rejects any other value "
        "first); only setup() called from Python can pass another",
    ),
    Entry(
        "unknown schedule `{schedule}`", "train", "", 1, 1, "unknown schedule `exp`",
        reachable=False,
        reason="adc train's --schedule takes only constant or sqrt (click rejects any other "
        "value first); only setup() called from Python can pass another",
    ),
    T(
        "the loss diverged to {value} at epoch {epoch} ({method}, lr {lr})", LS, 4, 1,
        "the loss diverged to inf at epoch 1 (gd, lr 1e+200)", "--lr", "1e200", "--epochs", "3",
        progress="gd on data.csv",
    ),
    T(
        "training `{function}` failed: {reason}",
        N + "def loss(w, X, y):\n    return np.mean((X @ w - y) ** 2) + np.mean(X[3])\n", 4, 1,
        "training `loss` failed: index 3 is out of bounds for axis 0 with size 1",
        "--method", "sgd", "--epochs", "1", data=CLASSES, progress="sgd on data.csv",
    ),
    T(
        "cannot write the plot: the directory {directory} does not exist", LS, 1, 1,
        "cannot write the plot: the directory missing does not exist", "--epochs", "1",
        "--plot", "missing/loss.png", reported="missing/loss.png", source=False,
        note="there is no directory `missing`", progress="gd on data.csv",
    ),
    T(
        "--plot needs matplotlib, which is not installed", LS, 1, 1,
        "--plot needs matplotlib, which is not installed", "--epochs", "1", "--plot", "loss.png",
        files=(("matplotlib/__init__.py", "raise ImportError('no matplotlib here')\n"),),
        reported="loss.png", source=False, progress="gd on data.csv",
        note="matplotlib cannot be imported (the example's folder holds a `matplotlib` package "
        "that raises ImportError)",
    ),
    T(
        "cannot write {file}: {reason}", LS, 1, 1,
        "cannot write /proc/loss.png: No such file or directory", "--epochs", "1",
        "--plot", "/proc/loss.png", reported="/proc/loss.png", source=False,
        note="no file can be made in /proc", progress="gd on data.csv",
    ),
]
# fmt: on

REACHABLE = [e for e in CATALOGUE if e.reachable]


def template_regex(message: str) -> str:
    """A catalogue template as a regex: `{...}` placeholders match any text, even none (as
    `argument{s}` does for one argument)."""
    parts = re.split(r"\{[^{}]*\}", message)
    return ".*?".join(re.escape(p) for p in parts)


# ---------------------------------------------------------------------------------------------
# A: every reachable entry prints what the catalogue says
# ---------------------------------------------------------------------------------------------


def _write_example(entry: Entry, tmp_path: Path) -> None:
    target = tmp_path / FILE
    if entry.setup == "mkdir":
        target.mkdir()
    elif entry.setup == "write":
        data = entry.example if isinstance(entry.example, bytes) else entry.example.encode()
        target.write_bytes(data)
    else:
        assert entry.setup == "none"
    for name, content in entry.files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir()
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())


def _source_line(entry: Entry) -> str:
    files = dict(entry.files)
    data = files[entry.reported] if entry.reported in files else entry.example
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    return text.splitlines()[entry.line - 1]


def _hides_a_package(entry: Entry) -> bool:
    """Whether the example's folder holds a package (`numba/__init__.py`...) that stands for a
    library that is not installed: only a fresh process, whose sys.path starts at the folder
    and which has not imported the library yet, sees it."""
    return any(re.fullmatch(r"\w+/__init__\.py", name) for name, _ in entry.files)


def _run_and_check(entry: Entry, tmp_path: Path) -> None:
    _write_example(entry, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    run = run_adc_process if _hides_a_package(entry) else run_adc
    result = run(entry.command, entry.file_arg, *entry.args, cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    source_line = _source_line(entry) if entry.source else None
    path = entry.reported or entry.file_arg
    _assert_diagnostic(result, entry, path, entry.line, entry.col, source_line)


@pytest.mark.parametrize("entry", REACHABLE, ids=[e.message for e in REACHABLE])
def test_diagnostic_is_reachable_and_located(entry: Entry, tmp_path: Path) -> None:
    _run_and_check(entry, tmp_path)


def _assert_diagnostic(
    result, entry: Entry, path: str, line: int, col: int, source_line: str | None
) -> None:
    """`path:line:col: error: entry.expect`, the source line and caret (if any), a hint; for
    an error during training, after exactly the progress line `adc train` printed first."""
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    if entry.progress:
        assert lines[0] == entry.progress, result.stderr
        lines = lines[1:]
    header = re.fullmatch(r"(.+?):(-?\d+):(-?\d+): error: (.+)", lines[0])
    assert header, lines[0]
    got = header[1], int(header[2]), int(header[3])
    message = header[4]
    assert got[1] >= 1 and got[2] >= 1, lines[0]
    assert got == (path, line, col), lines[0]
    assert re.fullmatch(template_regex(entry.message), message), (entry.message, message)
    assert message == entry.expect
    hint = lines[-1]
    assert hint.startswith("hint: ") and hint[len("hint: ") :].strip(), result.stderr
    if source_line is None:
        assert len(lines) == 2, result.stderr
        return
    assert len(lines) == 4, result.stderr
    text = source_line.rstrip("\r\n").expandtabs(1)
    shown = text.lstrip()
    indent = len(text) - len(shown)
    if len(shown) > 200:
        shown = shown[:200] + " ..."
    assert lines[1] == "    " + shown
    assert col - 1 >= indent, "the column points into the indentation"
    caret = col - 1 - indent
    assert lines[2] == "    " + " " * caret + "^", result.stderr
    if col - 1 < len(text):
        assert lines[1][4 + caret] == text[col - 1]
    else:  # a syntax error just past the end of the line
        assert col - 1 == len(text)


# Other places a catalogued message comes from, which must be located just as well. Both are
# known to fail: adc reports line 0, column 1 and no source line for them.
VARIANTS: list[tuple[str, str, str, int, int]] = [
    # (id, the entry's message, example for `adc compile`, line, col)
    (
        "constant fails in a module-level constant",
        "`{function}` of the constant {value} fails: {reason}",
        "import math\nA = math.log(0)\n\n\ndef f(x):\n    return x * A\n",
        2,
        5,
    ),
    (
        "constant fails in a default",
        "`{function}` of the constant {value} fails: {reason}",
        M + "def f(x, y=math.log(0)):\n    return x * y\n",
        4,
        12,
    ),
]


@pytest.mark.parametrize(
    ("message", "example", "line", "col"), [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS]
)
def test_other_sites_are_located(
    message: str, example: str, line: int, col: int, tmp_path: Path
) -> None:
    entry = next(e for e in CATALOGUE if e.message == message)
    (tmp_path / FILE).write_text(example, encoding="utf-8")
    result = run_adc("compile", FILE, cwd=tmp_path)
    _assert_diagnostic(result, entry, FILE, line, col, example.splitlines()[line - 1])


# Catalogued messages that `adc train` prints from its own code too, about the data file: each
# run like a catalogue entry (its `message` is the catalogued one).
# fmt: off
TRAIN_SITES: list[tuple[str, Entry]] = [
    (
        "a data file that is a directory",
        T(
            "{file} is a directory", LS, 1, 1, "data is a directory", name="data", data=None,
            files=(("data/", ""),), reported="data", source=False, note="`data` is a directory",
        ),
    ),
    (
        "a CSV file that is not UTF-8",
        T(
            "the file is not valid UTF-8", LS, 3, 6, "the file is not valid UTF-8", "--epochs", "1",
            data=b"a,b,t\n1,2,3\n2,caf\xe9,0\n", reported="data.csv",
        ),
    ),
    (
        "a CSV file the csv module cannot read",
        T(
            "cannot read {file}: {reason}", LS, 2, 1,
            "cannot read data.csv: field larger than field limit (131072)", "--epochs", "1",
            data="a,b,t\n1," + "2" * 140_000 + ",3\n", reported="data.csv",
        ),
    ),
    (
        "nan in an NPZ file",
        T(
            "the data holds nan or inf values", LS, 1, 1, "the data holds nan or inf values",
            "--epochs", "1", name="data.npz",
            data=_npz(X=np.array([[1.0], [np.nan]]), y=np.array([1.0, 2.0])),
            reported="data.npz", source=False, note="an NPZ file whose X holds nan",
        ),
    ),
]
# fmt: on


@pytest.mark.parametrize("entry", [e for _, e in TRAIN_SITES], ids=[i for i, _ in TRAIN_SITES])
def test_other_train_sites_are_located(entry: Entry, tmp_path: Path) -> None:
    _run_and_check(entry, tmp_path)


# ---------------------------------------------------------------------------------------------
# B: the catalogue and the code agree
# ---------------------------------------------------------------------------------------------

Piece = str | None  # literal text, or None for a placeholder


def _message_arg(call: ast.Call) -> ast.expr | None:
    """The message argument of a call that makes a diagnostic, or None for other calls."""
    func = call.func
    if isinstance(func, ast.Name) and func.id == "CompileError":
        return call.args[0]
    if isinstance(func, ast.Attribute) and func.attr == "error" and len(call.args) == 3:
        return call.args[1]
    if isinstance(func, ast.Attribute) and func.attr == "error_at" and len(call.args) == 4:
        return call.args[2]
    if isinstance(func, ast.Attribute) and func.attr in ("error", "error_at"):
        raise AssertionError(f"a diagnostic call of an unexpected shape: {ast.unparse(call)}")
    return None


def _parameters(fdef: ast.FunctionDef) -> set[str]:
    a = fdef.args
    return {p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)}


class _Templates:
    """Message templates of one module, whose tables of messages may be any module's: lists of
    pieces."""

    def __init__(self, trees: Sequence[ast.Module], where: str) -> None:
        self.where = where
        self.dicts: dict[str, ast.Dict] = {}
        for tree in trees:
            for node in tree.body:
                target = node.target if isinstance(node, ast.AnnAssign) else None
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict):
                    self.dicts.setdefault(target.id, node.value)

    def of(self, node: ast.expr, scope: ast.AST, top: bool = True) -> list[list[Piece]]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [[node.value]]
        if isinstance(node, ast.JoinedStr):
            pieces: list[Piece] = []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    pieces.append(value.value)
                else:
                    pieces.append(None)
            return [pieces]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            lefts = self.of(node.left, scope, top=False)
            rights = self.of(node.right, scope, top=False)
            return [a + b for a in lefts for b in rights]
        if isinstance(node, ast.IfExp):
            return self.of(node.body, scope, top) + self.of(node.orelse, scope, top)
        if isinstance(node, ast.Name) and top:
            if isinstance(scope, ast.FunctionDef) and node.id in _parameters(scope):
                return []  # Source.error passing its caller's message on: the callers are read
            return self.of_name(node.id, scope)
        if not top:  # a computed part of a concatenation, e.g. " -> ".join(...)
            return [[None]]
        raise AssertionError(f"{self.where}: cannot read the message {ast.unparse(node)}")

    def of_name(self, name: str, scope: ast.AST) -> list[list[Piece]]:
        """A message held in a variable: `message, hint = TABLE.get(type(x), (default, ...))`."""
        for node in ast.walk(scope):
            if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple)):
                continue
            names = [t.id for t in node.targets[0].elts if isinstance(t, ast.Name)]
            call = node.value
            if name not in names or not isinstance(call, ast.Call):
                continue
            i = names.index(name)
            func = call.func
            assert isinstance(func, ast.Attribute) and func.attr == "get", ast.unparse(node)
            assert isinstance(func.value, ast.Name), ast.unparse(node)
            table = self.dicts[func.value.id]
            default = call.args[1]
            assert isinstance(default, ast.Tuple), ast.unparse(node)
            out: list[list[Piece]] = []
            for value in table.values:
                assert isinstance(value, ast.Tuple), ast.unparse(value)
                out += self.of(value.elts[i], scope)
            return out + self.of(default.elts[i], scope)
        raise AssertionError(f"{self.where}: cannot find where `{name}` is assigned")


def _scopes(tree: ast.Module) -> dict[ast.AST, ast.AST]:
    """Each node's innermost enclosing function (or the module)."""
    scope_of: dict[ast.AST, ast.AST] = {}
    stack: list[tuple[ast.AST, ast.AST]] = [(tree, tree)]
    while stack:
        node, scope = stack.pop()
        for child in ast.iter_child_nodes(node):
            scope_of[child] = scope
            stack.append((child, child if isinstance(child, ast.FunctionDef) else scope))
    return scope_of


def code_templates(root: Path = ROOT) -> dict[str, str]:
    """Every message template in ad_compiler/ and cli/: regex -> where it is."""
    found: dict[str, str] = {}
    files = sorted((root / "ad_compiler").rglob("*.py")) + sorted((root / "cli").rglob("*.py"))
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in files}
    for path, tree in trees.items():
        templates = _Templates([tree, *trees.values()], path.name)
        scope_of = _scopes(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            arg = _message_arg(node)
            if arg is None:
                continue
            for pieces in templates.of(arg, scope_of[node]):
                regex = "".join(".*?" if p is None else re.escape(p) for p in pieces)
                found.setdefault(regex, f"{path.relative_to(root)}:{node.lineno}")
    return found


def uncatalogued(root: Path = ROOT) -> list[str]:
    """Code templates no catalogue entry prints."""
    return [
        f"{where}: {regex}"
        for regex, where in code_templates(root).items()
        if not any(re.fullmatch(regex, e.expect) for e in CATALOGUE)
    ]


def stale(root: Path = ROOT) -> list[str]:
    """Catalogue entries whose message no code template prints."""
    regexes = list(code_templates(root))
    return [e.expect for e in CATALOGUE if not any(re.fullmatch(r, e.expect) for r in regexes)]


def test_code_templates_are_found() -> None:
    """The extraction itself works: it finds messages of every kind of call and table."""
    found = code_templates()
    for message in (
        "`try` is not supported",  # _STATEMENT_HINTS
        "lambdas are not supported",  # _EXPRESSION_HINTS
        "only imports, numeric constants and functions are allowed at module level",  # default
        "`Match` statements are not supported",  # an f-string default
        "the file contains a null byte",  # error_at
        "`True` is not a real number",  # a conditional expression
        "recursion is not supported (`f` calls itself through f -> f)",  # a concatenation
        "no such file: example.py",  # CompileError in api
        "refusing to overwrite the input file example.py",  # CompileError in cli
        "evaluating z1 = log(x) failed: math domain error",  # CompileError in report
    ):
        assert any(re.fullmatch(regex, message) for regex in found), message


def test_every_code_message_is_catalogued() -> None:
    missing = uncatalogued()
    assert not missing, "diagnostics missing from CATALOGUE:\n" + "\n".join(missing)


def test_every_catalogue_entry_is_in_the_code() -> None:
    entries = stale()
    assert not entries, "catalogue entries no code prints:\n" + "\n".join(entries)


def test_completeness_checks_catch_a_change(tmp_path: Path) -> None:
    """On a copy of the code with a diagnostic added, one reworded and one removed, both
    checks complain: the new message is uncatalogued and the old ones are stale."""
    for package in ("ad_compiler", "cli"):
        for path in (ROOT / package).rglob("*.py"):
            copy = tmp_path / path.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(path.read_text(encoding="utf-8"))
    for name, old, new in [
        ("forms.py", '"division by zero in a constant"', '"the constant divides by zero"'),
        ("fence.py", '"`raise` is not supported"', '"`raise` is never supported"'),
    ]:
        path = tmp_path / "ad_compiler" / "frontend" / name
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")
    parse_py = tmp_path / "ad_compiler" / "frontend" / "fence.py"
    text = parse_py.read_text(encoding="utf-8")
    parse_py.write_text(
        text + "\n\ndef _new(src, node, n):\n"
        '    raise src.error(node, f"a brand-new diagnostic for {n}", "a hint")\n',
        encoding="utf-8",
    )
    assert sorted(re.sub(r"^.*?: ", "", m) for m in uncatalogued(tmp_path)) == sorted(
        [
            re.escape("the constant divides by zero"),
            re.escape("`raise` is never supported"),
            re.escape("a brand-new diagnostic for ") + ".*?",
        ]
    )
    assert sorted(stale(tmp_path)) == ["`raise` is not supported", "division by zero in a constant"]


def test_catalogue_is_consistent() -> None:
    messages = [e.message for e in CATALOGUE]
    assert len(messages) == len(set(messages)), "a message is catalogued twice"
    for _, site in TRAIN_SITES:
        assert site.message in messages, site.message
    for e in CATALOGUE + [site for _, site in TRAIN_SITES]:
        assert re.fullmatch(template_regex(e.message), e.expect), (e.message, e.expect)
        commands = ("compile", "trace", "run", "check", "graph", "cost", "train")
        assert e.command in commands, e.command
        assert not e.reported or e.command == "train", e.message
        assert e.reachable == (not e.reason), e.message
        assert e.reachable == bool(e.example or e.setup != "write"), e.message
        if e.reachable and e.source:
            assert _source_line(e).strip(), e.message
        if e.reachable and not e.source:
            assert e.note, e.message


# ---------------------------------------------------------------------------------------------
# C: docs/errors.md lists the catalogue
# ---------------------------------------------------------------------------------------------

ERRORS_PAGE = ROOT / "docs" / "errors.md"
START = "<!-- catalogue:start -->"
END = "<!-- catalogue:end -->"


def _code(text: str) -> str:
    """`text` as a Markdown code span inside a table cell."""
    ticks = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (ticks + 1)
    pad = " " if ticks else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def _example_cell(e: Entry) -> str:
    if not e.reachable:
        return f"*unreachable*: {e.reason}"
    if not e.source:
        return f"*no source line*: {e.note}"
    return _code(e.offending or _source_line(e).strip())


def render_block() -> str:
    """The text of docs/errors.md between the catalogue markers."""
    intro = (
        "Every diagnostic is `FILE:LINE:COL: error: MESSAGE`, the source line, a caret under the "
        "column and a `hint:` line, on stderr with exit status 1. Errors with no place in the "
        "file to point at (about the command line, the file as a whole, or the point a function "
        "is evaluated at) are at `FILE:1:1` with the message and the hint only (*no source "
        "line* below). `adc train` reports a problem with its data at the data file (at the "
        "row, shown below, and column of a CSV file's cell; else at `DATA:1:1`), one with "
        "`--plot` at the plot's path, and an error during training after the progress line it "
        "has printed. `{...}` marks text that varies; each example is a complete "
        "file in `tests/test_catalogue.py` (with the data it trains on), which runs every one "
        "and checks this table against the code."
    )
    rows = [
        "",
        "",
        *textwrap.wrap(intro, width=95, break_long_words=False, break_on_hyphens=False),
        "",
        "| diagnostic | example (the offending line) | command |",
        "|---|---|---|",
    ]
    for e in CATALOGUE:
        command = " ".join(["adc", e.command, e.file_arg, *e.args]) if e.reachable else ""
        rows.append(
            f"| {_code(e.message)} | {_example_cell(e)} | {_code(command) if command else '-'} |"
        )
    return "\n".join(rows) + "\n\n"


def _catalogue_block(text: str) -> str:
    assert text.count(START) == 1 and text.count(END) == 1
    return text[text.index(START) + len(START) : text.index(END)]


def write_errors_page() -> None:
    """Replace the catalogue block of docs/errors.md (only that) with `render_block()`."""
    text = ERRORS_PAGE.read_text(encoding="utf-8")
    old = START + _catalogue_block(text) + END
    ERRORS_PAGE.write_text(text.replace(old, START + render_block() + END), encoding="utf-8")


def test_errors_page_lists_the_catalogue() -> None:
    block = _catalogue_block(ERRORS_PAGE.read_text(encoding="utf-8"))
    assert block == render_block()
    for e in CATALOGUE:
        assert _code(e.message) in block, e.message


def test_trace_accepts_what_compile_accepts(tmp_path) -> None:
    """`trace`, `run` and `check` read the file on the deep stack too (300 chained helpers)."""
    path = tmp_path / "chain.py"
    path.write_text(_CHAIN)
    for command in ("compile", "trace"):
        args = (command, str(path)) + (("-o", "-") if command == "compile" else ())
        proc = run_adc(*args)
        assert proc.returncode == 0, proc.stderr
