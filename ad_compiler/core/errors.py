"""The one exception type for bad input, rendered as FILE:LINE:COL, source line, caret and hint."""

from __future__ import annotations

import ast
import gc
import re
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class CompileError(Exception):
    """Bad input: where it is, what is wrong, and what to write instead."""

    def __init__(
        self,
        message: str,
        *,
        filename: str = "<source>",
        line: int = 1,
        col: int = 1,
        source_line: str = "",
        hint: str,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.filename = filename
        self.line = line
        self.col = col
        self.source_line = source_line
        self.hint = hint

    def render(self) -> str:
        """The diagnostic as printed on stderr: location, message, source line, caret, hint."""
        out = [f"{self.filename}:{self.line}:{self.col}: error: {self.message}"]
        if self.source_line:
            text = self.source_line.rstrip("\r\n").expandtabs(1).translate(_SEPARATORS)
            shown = text.lstrip()
            indent = len(text) - len(shown)
            if len(shown) > 200:
                shown = shown[:200] + " ..."
            out.append(f"    {shown}")
            caret = max(0, min(self.col - 1 - indent, len(shown)))
            out.append("    " + " " * caret + "^")
        if self.hint:
            out.append(f"hint: {self.hint}")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


_NEWLINE = re.compile(r"\r\n|\r|\n")
# Characters str.splitlines() and terminals break lines at, shown as spaces in a diagnostic.
_SEPARATORS = str.maketrans(dict.fromkeys("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " "))


def source_lines(text: str) -> list[str]:
    """The lines of source text as Python counts them: only \\n, \\r\\n and \\r end a line
    (str.splitlines also splits at form feeds, NEL, U+2028 and other separators)."""
    lines = _NEWLINE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


class Source:
    """A source text with its file name, able to place errors at AST nodes."""

    def __init__(self, text: str, filename: str = "<source>") -> None:
        self.text = text
        self.filename = filename
        self.lines = source_lines(text)

    def line_text(self, line: int) -> str:
        """The text of 1-based line `line`, or '' when out of range."""
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else ""

    def error(self, node: ast.AST | None, message: str, hint: str) -> CompileError:
        """A CompileError located at `node` (1-based line, 1-based character column)."""
        line = getattr(node, "lineno", 1) or 1
        byte_col = getattr(node, "col_offset", 0) or 0
        text = self.line_text(line)
        col = len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore")) + 1
        return CompileError(
            message, filename=self.filename, line=line, col=col, source_line=text, hint=hint
        )

    def error_at(self, line: int, col: int, message: str, hint: str) -> CompileError:
        """A CompileError at a 1-based line and column."""
        return CompileError(
            message,
            filename=self.filename,
            line=line,
            col=col,
            source_line=self.line_text(line),
            hint=hint,
        )


_STACK_BYTES = 512 * 1024 * 1024
_RECURSION_LIMIT = 200_000


def run_deep(fn: Callable[[], T]) -> T:
    """Run `fn` on a thread with a large stack, so deeply nested input cannot overflow ours."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, _RECURSION_LIMIT))
        collecting = gc.isenabled()
        gc.disable()  # compiling allocates millions of acyclic nodes; rescans cost 3x the work
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised on the caller's thread
            failure.append(exc)
        finally:
            if collecting:
                gc.enable()
            sys.setrecursionlimit(old)

    previous = threading.stack_size()
    threading.stack_size(_STACK_BYTES)
    try:
        worker = threading.Thread(target=target, name="adc-compile")
        worker.start()
    finally:
        threading.stack_size(previous)
    worker.join()
    if failure:
        raise failure[0]
    return result[0]
