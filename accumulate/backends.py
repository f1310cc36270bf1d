"""Compute backends for the voxelwise operations, and how ``backend="auto"`` resolves.

=============  ===============================================  ==========================
name           what runs                                        needs
=============  ===============================================  ==========================
``numpy``      the reference implementation: readable, slow     numpy
``numba``      parallel CPU loops (prange), no temporaries      numba
``cuda-host``  the same ``kernels/*.cu`` built for the CPU      a C++ compiler with OpenMP
               (OpenMP loops over every core)
``cupy``       ``kernels/*.cu`` through ``cupy.RawModule``      cupy + a CUDA device
=============  ===============================================  ==========================

The contract, in the style of pydicom's pixel-data decoders: every backend is a :class:`Backend`
that declares its name, its dependencies (with versions) and a probe that *runs* it (imports
Numba and compiles a trivial function; builds and loads the host kernels; finds a CUDA device),
so that an installed but broken dependency makes the backend unavailable, with the reason,
instead of failing later. Probes run once per process (cached).

:data:`NAMES` is the one list of backend names (configuration checks, the CLI's choices, the
dispatch tables, benchmarks); :data:`CHOICES` adds ``"auto"``. ``auto`` picks the first
available of :data:`AUTO_ORDER` (``cupy``, ``cuda-host``, ``numba``, ``numpy``), logging why
each one before it was passed over; the environment variable ``ACCUMULATE_BACKEND`` overrides
that choice (and then must name a backend that runs). ``cuda-host`` comes before ``numba``
because it compiles in about a second per kernel family and is cached on disk, where Numba's
first compilation of the warp kernels takes a minute; both run at about the same speed.

Each operation family (:mod:`accumulate.radiobiology.operations`, :mod:`accumulate.warp.operations`)
is a :class:`Family`: a typed protocol of its operations and one loader per backend name.

Examples
--------
>>> from accumulate import backends
>>> backends.resolve("numpy")
'numpy'
>>> backends.BACKENDS["numpy"].is_available()
True
>>> "auto" in backends.CHOICES and set(backends.AUTO_ORDER) == set(backends.NAMES)
True
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Generic, TypeVar

from .distribution import install_hint
from .errors import BackendUnavailable

__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "CHOICES",
    "ENV_VARIABLE",
    "NAMES",
    "Backend",
    "Family",
    "Unavailable",
    "available_backends",
    "resolve",
]

log = logging.getLogger(__name__)

#: The environment variable that overrides ``backend="auto"``.
ENV_VARIABLE = "ACCUMULATE_BACKEND"
#: Every backend, the reference first: the one list of names.
NAMES = ("numpy", "numba", "cuda-host", "cupy")
#: What a ``backend`` argument or setting accepts.
CHOICES = ("auto", *NAMES)
#: The order in which ``auto`` tries the backends.
AUTO_ORDER = ("cupy", "cuda-host", "numba", "numpy")


@dataclass(frozen=True)
class Unavailable:
    """Why a backend cannot run: ``reason``, and ``broken`` when its dependency is present but fails."""

    reason: str
    broken: bool = False


def _not_installed(module: str) -> Unavailable | None:
    if importlib.util.find_spec(module) is None:
        return Unavailable(f"the Python package '{module}' is not installed")
    return None


def _numpy_probe() -> Unavailable | None:
    return _not_installed("numpy")


def _numba_probe() -> Unavailable | None:
    missing = _not_installed("numba")
    if missing:
        return missing
    try:
        import numba

        @numba.njit(cache=False)
        def _one_more(x):  # pragma: no cover - compiled
            return x + 1

        if _one_more(1) != 2:
            return Unavailable("Numba compiled a trivial function that returns a wrong result", broken=True)
    except Exception as exc:  # an installed Numba that cannot import or compile (llvmlite, NumPy mismatch): not usable
        return Unavailable(f"Numba is installed but does not work ({type(exc).__name__}: {exc})", broken=True)
    return None


def _cuda_host_probe() -> Unavailable | None:
    from ._kernels import host_build_problem, host_compiler

    if host_compiler() is None:
        return Unavailable("no C++ compiler on PATH (set CXX or install g++)")
    problem = host_build_problem()
    return None if problem is None else Unavailable(problem, broken=True)


def _cupy_probe() -> Unavailable | None:
    missing = _not_installed("cupy")
    if missing:
        return missing
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return Unavailable("CuPy found no CUDA device")
    except Exception as exc:  # CUDA driver or runtime missing: any failure means "not usable here"
        return Unavailable(f"CuPy cannot use a CUDA device ({type(exc).__name__}: {exc})", broken=True)
    return None


@dataclass(frozen=True)
class Backend:
    """A compute backend: its name, what it needs and a probe that says why it cannot run.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    description : str
        What runs, in a few words.
    dependencies : tuple of str
        Requirements in pip's notation (``"numba>=0.60"``); a tool outside Python is named in words.
    install_hint : str
        The command or step that makes the backend available.
    probe : callable
        Returns None when the backend runs here, else an :class:`Unavailable`.
    """

    name: str
    description: str
    dependencies: tuple[str, ...]
    install_hint: str
    probe: Callable[[], Unavailable | None] = field(repr=False)

    def unavailable(self) -> Unavailable | None:
        """Why this backend cannot run here (cached per process), or None when it can."""
        return _probe(self.name)

    def is_available(self) -> bool:
        """Whether the backend runs here: its dependencies import and a trivial job succeeds (cached)."""
        return self.unavailable() is None

    def versions(self) -> dict[str, str | None]:
        """Installed version of each Python dependency (None when not installed)."""
        found: dict[str, str | None] = {}
        for requirement in self.dependencies:
            name = requirement.split(">")[0].split("=")[0].split("<")[0].strip()
            if " " in name:  # a tool, not a distribution
                continue
            try:
                found[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                found[name] = None
        return found


BACKENDS: dict[str, Backend] = {
    "numpy": Backend("numpy", "the NumPy reference", ("numpy>=1.26",), "pip install numpy", _numpy_probe),
    "numba": Backend("numba", "parallel CPU loops", ("numba>=0.60",), "pip install numba", _numba_probe),
    "cuda-host": Backend(
        "cuda-host",
        "kernels/*.cu built for the CPU (OpenMP)",
        ("a C++14 compiler with OpenMP",),
        "install a C++ compiler with OpenMP (apt-get install g++)",
        _cuda_host_probe,
    ),
    "cupy": Backend(
        "cupy",
        "kernels/*.cu on a CUDA device",
        ("cupy-cuda12x>=13", "a CUDA device"),
        f"{install_hint('gpu')} (CuPy for CUDA 12; use cupy-cuda13x for CUDA 13) on a machine with an NVIDIA GPU",
        _cupy_probe,
    ),
}
assert tuple(BACKENDS) == NAMES


@functools.cache
def _probe(name: str) -> Unavailable | None:
    return BACKENDS[name].probe()


def available_backends() -> list[str]:
    """Names of the backends that can run on this machine, in :data:`NAMES` order.

    Each backend's probe runs once per process (imports, compiles a trivial function, builds the
    host kernels or looks for a device); see :meth:`Backend.unavailable` for the reasons.

    Returns
    -------
    list of str
        Always includes ``"numpy"``.

    Examples
    --------
    >>> "numpy" in available_backends()
    True
    """
    return [name for name in NAMES if _probe(name) is None]


@functools.cache
def _warn_broken(name: str, reason: str) -> None:
    """Warn once per process that ``auto`` passes over an installed but broken backend (later passes: debug)."""
    log.warning("backend 'auto' passes over '%s': %s", name, reason)


def _resolve_auto() -> str:
    for name in AUTO_ORDER:
        problem = _probe(name)
        if problem is None:
            log.debug("backend 'auto' resolved to '%s'", name)
            return name
        if problem.broken:
            _warn_broken(name, problem.reason)
        log.debug("backend 'auto' passes over '%s': %s", name, problem.reason)
    raise BackendUnavailable("no compute backend can run here (not even numpy)")  # pragma: no cover


def resolve(backend: str = "auto") -> str:
    """The concrete backend name for ``backend``.

    Parameters
    ----------
    backend : str
        ``"auto"`` or one of :data:`NAMES`. ``"auto"`` honours ``$ACCUMULATE_BACKEND`` when set,
        else takes the first available of :data:`AUTO_ORDER`.

    Returns
    -------
    str
        One of :data:`NAMES`, available here.

    Raises
    ------
    BackendUnavailable
        For an unknown name, or a named backend (given, or from ``$ACCUMULATE_BACKEND``) that
        cannot run here; the message says why and what to install.

    Examples
    --------
    >>> resolve("numpy")
    'numpy'
    >>> resolve("cuda")
    Traceback (most recent call last):
    ...
    accumulate.errors.BackendUnavailable: unknown backend 'cuda'; choose one of ('auto', 'numpy', 'numba', 'cuda-host', 'cupy')
    """
    if backend == "auto":
        forced = os.environ.get(ENV_VARIABLE, "").strip()
        if forced and forced != "auto":
            try:
                return resolve(forced)
            except BackendUnavailable as exc:
                raise BackendUnavailable(f"{exc} (asked for by ${ENV_VARIABLE})") from None
        return _resolve_auto()
    if backend not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {backend!r}; choose one of {CHOICES}")
    problem = _probe(backend)
    if problem is not None:
        raise BackendUnavailable(f"backend {backend!r} cannot run here: {problem.reason}. Fix: {BACKENDS[backend].install_hint}")
    return backend


Ops = TypeVar("Ops")


@dataclass(frozen=True)
class Family(Generic[Ops]):
    """One operation family: the protocol its implementations follow and where each backend's lives.

    As pydicom's pixel-data decoders register their plugins, each backend's implementation is a
    ``(module, attribute)`` pair, imported on first use (nothing heavy loads before it is needed):
    the module itself when ``attribute`` is None, else ``attribute(backend_name)`` (a class bound
    to an executor). ``tests/test_backends.py`` loads every available one and checks the protocol.

    Parameters
    ----------
    name : str
        The family (``"radiobiology"``, ``"warp"``).
    protocol : type
        A runtime-checkable :class:`typing.Protocol` every implementation satisfies.
    plugins : mapping of str to (str, str or None)
        One entry per name in :data:`NAMES`.
    """

    name: str
    protocol: type
    plugins: Mapping[str, tuple[str, str | None]] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.plugins) != NAMES:
            raise ValueError(f"operation family {self.name!r} must name exactly the backends {NAMES}, got {tuple(self.plugins)}")

    @classmethod
    def standard(cls, package: str, protocol: type, kernel_class: str) -> Family:
        """The usual layout: ``<package>._reference`` (numpy), ``<package>._numba``, ``<package>._cuda.<kernel_class>``."""
        kernels = (f"{package}._cuda", kernel_class)
        plugins = {"numpy": (f"{package}._reference", None), "numba": (f"{package}._numba", None)}
        return cls(package.rsplit(".", 1)[-1], protocol, {**plugins, "cuda-host": kernels, "cupy": kernels})

    def operations(self, backend: str = "auto") -> tuple[str, Ops]:
        """``(name, ops)``: the resolved backend name and the family's implementation on it.

        Raises
        ------
        BackendUnavailable
            As :func:`resolve`.
        """
        name = resolve(backend)
        return name, _load(self, name)


@functools.cache
def _load(family: Family, name: str):
    module, attribute = family.plugins[name]
    ops = importlib.import_module(module)
    if attribute is not None:
        ops = getattr(ops, attribute)(name)
    if not isinstance(ops, family.protocol):
        raise TypeError(f"the {name} implementation of {family.name!r} does not follow {family.protocol.__name__}")
    return ops
