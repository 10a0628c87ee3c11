"""The peers timed in the benchmark's own process: adc, autograd, JAX and PyTorch.

Each peer turns a Workload into a `Prepared` gradient: a function and the arguments it is timed
on, already in the peer's own types (JAX arrays, torch tensors), so a timed call is one
gradient evaluation on inputs that exist, without converting them; and how long building the
gradient took, where the peer has a build step.
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .workloads import Workload, as_arrays, peer_function, write_module


@dataclass
class Prepared:
    """A peer's gradient of one workload, ready to time."""

    fn: Callable[..., Any]  # one gradient evaluation: fn(*args)
    args: tuple
    build_s: float | None  # None: the peer has no build step (it differentiates as it runs)
    to_numpy: Callable[[Any], list[np.ndarray]] = as_arrays


class Peer:
    """A peer AD system. `load` imports it (ImportError if it is not installed)."""

    name = ""

    def load(self) -> None:
        """Import the peer and warm it up."""

    def version(self) -> str:
        """The peer's version, and what else matters about its set-up."""
        return ""

    def prepare(self, w: Workload) -> Prepared:
        """The peer's gradient of `w` (Unsupported if the peer cannot express it)."""
        raise NotImplementedError


def _version(package: str) -> str:
    return importlib.metadata.version(package)


class Adc(Peer):
    """adc: compile_file (trace, reverse sweep, optimise, emit) and Python's compile of the
    generated module (load_in_memory: compile() and exec, no bytecode cache)."""

    name = "adc"

    def load(self) -> None:
        import ad_compiler

        ad_compiler.compile_source("def f(x):\n    return x * x\n").load_in_memory()

    def version(self) -> str:
        import ad_compiler

        return f"adc {ad_compiler.__version__}"

    def prepare(self, w: Workload) -> Prepared:
        import ad_compiler

        path = w.path or write_module(w.source, f"{w.key}_adc")  # W3: from a real file too
        start = time.perf_counter()
        compiled = ad_compiler.compile_file(path, w.function, w.wrt_names)
        compiled.load_in_memory()
        build = time.perf_counter() - start
        return Prepared(getattr(compiled, f"grad_{w.function}"), w.args, build)


class Autograd(Peer):
    """autograd: autograd.grad of the source on autograd.numpy, differentiating as it runs."""

    name = "autograd"

    def load(self) -> None:
        import autograd  # noqa: F401

    def version(self) -> str:
        return f"autograd {_version('autograd')}"

    def prepare(self, w: Workload) -> Prepared:
        import autograd

        f = peer_function(w, "autograd.numpy", "autograd.numpy", "autograd")
        return Prepared(autograd.grad(f, argnum=w.wrt), w.args, None)


class Jax(Peer):
    """JAX on the CPU with float64: jax.jit(jax.grad(f)); its build is the first call (trace,
    XLA compile, one run). Timed calls include block_until_ready."""

    name = "JAX"

    def load(self) -> None:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        import jax

        jax.config.update("jax_enable_x64", True)
        jax.block_until_ready(jax.jit(lambda x: x * 2.0)(1.0))  # the backend's one-time start

    def version(self) -> str:
        import jax

        devices = ", ".join(str(d) for d in jax.devices())
        return f"jax {_version('jax')} (jaxlib {_version('jaxlib')}, {devices}, x64)"

    def prepare(self, w: Workload) -> Prepared:
        import jax
        import jax.numpy as jnp

        f = peer_function(w, "jax.numpy", "jax.numpy", "jax")
        g = jax.jit(jax.grad(f, argnums=w.wrt))
        args = tuple(jnp.asarray(a, dtype=jnp.float64) for a in w.args)
        start = time.perf_counter()
        jax.block_until_ready(g(*args))
        build = time.perf_counter() - start

        def gradient(*a: Any) -> Any:
            return jax.block_until_ready(g(*a))

        return Prepared(gradient, args, build)


class Torch(Peer):
    """PyTorch eager, float64 tensors: torch.autograd.grad(f(*inputs), wrt). The inputs are
    tensors made before timing (leaves with requires_grad for the parameters differentiated;
    the rest as given: arrays as tensors, lam as a float)."""

    name = "PyTorch"

    def load(self) -> None:
        import torch  # noqa: F401

    def version(self) -> str:
        import torch

        threads = f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op"
        return f"torch {torch.__version__} ({threads} threads)"

    def prepare(self, w: Workload) -> Prepared:
        import torch

        from . import torch_samples

        # The array samples' `np.logaddexp(0, t)` has no drop-in: they are written in torch ops.
        written = {"W4": torch_samples.logistic_loss, "W5": torch_samples.mlp_loss}
        f = written.get(w.key) or peer_function(w, "torch", None, "torch")
        args = []
        for i, a in enumerate(w.args):
            if isinstance(a, np.ndarray) or i in w.wrt:
                t = torch.tensor(a, dtype=torch.float64)
                args.append(t.requires_grad_(True) if i in w.wrt else t)
            else:
                args.append(a)
        inputs = tuple(args[i] for i in w.wrt)

        def gradient(*a: Any) -> Any:
            return torch.autograd.grad(f(*a), inputs)

        def to_numpy(values: Any) -> list[np.ndarray]:
            return [v.detach().numpy() for v in values]

        return Prepared(gradient, tuple(args), None, to_numpy)


PEERS: list[type[Peer]] = [Adc, Autograd, Jax, Torch]
