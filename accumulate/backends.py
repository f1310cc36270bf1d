"""Compute backends for the voxelwise operations, and how ``backend="auto"`` resolves.

=============  ===============================================  ==========================
name           what runs                                        needs
=============  ===============================================  ==========================
``numpy``      the reference implementation: readable, slow     numpy
``numba``      parallel CPU loops (prange), no temporaries      numba
``cupy``       ``kernels/*.cu`` through ``cupy.RawModule``      cupy + a CUDA device
``cuda-host``  the same ``kernels/*.cu`` built for the CPU      a C++ compiler with OpenMP
               (OpenMP loops over every core)
=============  ===============================================  ==========================

``auto`` picks the first available of ``cupy``, ``cuda-host``, ``numba``, ``numpy``; the
environment variable ``ACCUMULATE_BACKEND`` overrides that choice. ``cuda-host`` comes before
``numba`` because it compiles in about a second per kernel family and is cached on disk, where
Numba's first compilation of the warp kernels takes a minute; both run at about the same speed.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .distribution import install_hint
from .errors import BackendUnavailable

log = logging.getLogger(__name__)

ENV_VARIABLE = "ACCUMULATE_BACKEND"
AUTO_ORDER = ("cupy", "cuda-host", "numba", "numpy")


def _module_missing(name: str) -> str | None:
    return None if importlib.util.find_spec(name) else f"the Python package '{name}' is not installed"


def _cupy_problem() -> str | None:
    missing = _module_missing("cupy")
    if missing:
        return missing
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy found no CUDA device"
    except Exception as exc:  # CUDA driver or runtime missing: any failure means "not usable here"
        return f"CuPy cannot use a CUDA device ({type(exc).__name__}: {exc})"
    return None


def _host_build_problem() -> str | None:
    from ._kernels import host_build_problem

    return host_build_problem()


@dataclass(frozen=True)
class Backend:
    """A compute backend: its name, how to install it, and a probe that says why it cannot run."""

    name: str
    install_hint: str
    problem: Callable[[], str | None]

    def is_available(self) -> bool:
        return self.problem() is None


BACKENDS: dict[str, Backend] = {
    "numpy": Backend("numpy", "pip install numpy", lambda: _module_missing("numpy")),
    "numba": Backend("numba", "pip install numba", lambda: _module_missing("numba")),
    "cupy": Backend(
        "cupy",
        f"{install_hint('gpu')} (CuPy for CUDA 12; use cupy-cuda13x for CUDA 13) on a machine with an NVIDIA GPU",
        _cupy_problem,
    ),
    "cuda-host": Backend("cuda-host", "install a C++ compiler with OpenMP (apt-get install g++)", _host_build_problem),
}


@functools.cache
def _problem(name: str) -> str | None:
    return BACKENDS[name].problem()


def available_backends() -> list[str]:
    """Names of the backends that can run on this machine."""
    return [name for name in BACKENDS if _problem(name) is None]


def resolve(backend: str = "auto") -> str:
    """The concrete backend name for ``backend`` (``"auto"`` or a name from :data:`BACKENDS`).

    Raises
    ------
    BackendUnavailable
        When a named backend cannot run here; the message says what to install.
    """
    if backend == "auto":
        forced = os.environ.get(ENV_VARIABLE)
        if forced and forced != "auto":
            return resolve(forced)
        chosen = next(name for name in AUTO_ORDER if _problem(name) is None)
        log.debug("backend 'auto' resolved to '%s'", chosen)
        return chosen
    if backend not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {backend!r}; choose 'auto' or one of {sorted(BACKENDS)}")
    problem = _problem(backend)
    if problem is not None:
        raise BackendUnavailable(f"backend {backend!r} cannot run here: {problem}. Fix: {BACKENDS[backend].install_hint}")
    return backend


def implementation(backend: str, package: str, cuda_class: str) -> tuple[str, Any]:
    """``(name, ops)``: the resolved backend and the operations of an operation family.

    Every family (``accumulate.radiobiology``, ``accumulate.warp``) keeps the same layout:
    ``<package>._reference`` (NumPy) and ``<package>._numba`` modules, and a class ``cuda_class`` in
    ``<package>._cuda`` bound to the ``cupy`` or ``cuda-host`` executor; all offer the same functions.
    """
    name = resolve(backend)
    if name in ("numpy", "numba"):
        return name, importlib.import_module(f"{package}._{'reference' if name == 'numpy' else 'numba'}")
    return name, getattr(importlib.import_module(f"{package}._cuda"), cuda_class)(name)
