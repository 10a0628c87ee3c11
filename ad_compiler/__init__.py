"""adc: a source-to-source reverse-mode automatic differentiation compiler for Python."""

__version__ = "0.1.0"

from .api import Compiled, compile_file, compile_source, grad, value_and_grad  # noqa: E402
from .check import CheckResult, check_grad  # noqa: E402
from .errors import CompileError  # noqa: E402

__all__ = [
    "__version__",
    "Compiled",
    "CheckResult",
    "CompileError",
    "check_grad",
    "compile_file",
    "compile_source",
    "grad",
    "value_and_grad",
]
