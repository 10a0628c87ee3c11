"""Generated source to a live module, loaded from a real file so inspect and pdb can show it."""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
import os
import secrets
import sys
import tempfile
from pathlib import Path
from types import ModuleType


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write `data` (text as UTF-8) to `path` through a temporary file in the same directory
    and a rename: the path holds the old content or the new, never half a file, and an
    interrupted write leaves no temporary file behind."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    # The name is fixed before the file exists, so the cleanup below knows it wherever a
    # KeyboardInterrupt lands (mkstemp could be interrupted after creating its file).
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
