"""adc: a source-to-source reverse-mode automatic differentiation compiler for Python."""

from .api import Compiled, check_grad, compile_file, compile_source, grad, value_and_grad
from .core.errors import CompileError
from .core.version import VERSION as __version__
from .teach.check import CheckResult
from .train import optim

__all__ = [
    "__version__",
    "Compiled",
    "CheckResult",
    "CompileError",
    "check_grad",
    "compile_file",
    "compile_source",
    "grad",
    "optim",
    "value_and_grad",
]
