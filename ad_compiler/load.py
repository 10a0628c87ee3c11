"""Generated source to a live module, loaded from a real file so inspect and pdb can show it."""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: never half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def cache_dir() -> Path:
    """Where generated modules without an output path of their own are written."""
    root = Path(tempfile.gettempdir()) / f"adc-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def load_file(path: Path, name: str | None = None) -> ModuleType:
    """Import the module at `path` under a unique name."""
    path = Path(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    module_name = name or f"adc_generated_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # findable by name, as numba's on-disk cache needs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def load_source(source: str, stem: str = "generated") -> ModuleType:
    """Write `source` to the cache (named by its hash) and import it."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    safe = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in stem) or "generated"
    path = cache_dir() / f"{safe}_grad_{digest}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        write_atomic(path, source)
    return load_file(path, f"adc_{safe}_{digest}")


def load_in_memory(source: str, stem: str = "generated") -> ModuleType:
    """Import `source` without writing any file; tracebacks and inspect still show its lines."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    filename = f"<adc: {stem}_grad.py {digest}>"
    module = ModuleType(f"adc_{digest}")
    module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), module.__dict__)
    return module
