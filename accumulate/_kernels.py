"""Run the CUDA sources in ``kernels/*.cu`` on a GPU (CuPy) or on the CPU (host build).

One kernel source, two executors:

* ``cupy``: ``cupy.RawModule`` compiles the file with NVRTC; :func:`cupy_source` gives the exact
  source (a ``#define`` preamble: ``real_t``, the index width, the block size) and options, and
  modules are cached per (device, file, dtype, index width).
* ``cuda-host``: the same file is compiled as C++ with ``host_shim.h`` force-included (CUDA
  qualifiers removed, the grid-stride loop turned into an OpenMP parallel loop) into a shared
  library loaded with ctypes: the CUDA sources executed on every core of a machine without a GPU.
  Libraries are cached under ``$ACCUMULATE_KERNEL_CACHE`` (default
  ``~/.cache/accumulate/host-kernels``), keyed on a hash of the sources and the compiler command.

Kernel arguments are given as arrays (``None`` for a null pointer) and NumPy scalars
(``np.float32``, ``np.float64``, ``np.int32``, ``np.int64``), which both executors map exactly.
Index arguments take the launch's index type (:func:`index_type`): 32-bit unless an array holds
:data:`INDEX_32_LIMIT` elements or more.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ._resources import resource_dir
from .errors import BackendUnavailable

log = logging.getLogger(__name__)

THREADS_PER_BLOCK = 256
MAX_BLOCKS = 65535 * 8
#: Arrays of this many elements or more need 64-bit indices (leaves room for i + the grid's stride).
INDEX_32_LIMIT = 1 << 30
_REAL_T = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def kernel_dir() -> Path:
    return resource_dir("kernels")


def real_type(dtype: Any) -> str:
    """The C type name of a floating dtype (float32 -> float, float64 -> double)."""
    try:
        return _REAL_T[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"kernels run in float32 or float64, not {np.dtype(dtype)}") from None


def index_type(*sizes: int) -> type:
    """``np.int32`` when every size (array elements, launch items) is below :data:`INDEX_32_LIMIT`, else ``np.int64``."""
    return np.int64 if max(sizes, default=0) >= INDEX_32_LIMIT else np.int32


def _defines(c_type: str, index: type) -> dict[str, str]:
    """The preprocessor definitions of one specialisation (besides the host build's own)."""
    defines = {"real_t": c_type, "THREADS_PER_BLOCK": str(THREADS_PER_BLOCK)}
    if index is np.int64:
        defines["ACCUMULATE_INDEX_64"] = "1"
    return defines


_ANNOUNCED: set[str] = set()


def announce_compilation(what: str) -> None:
    """Say on stderr (once per process and ``what``) that kernels are being compiled, which only a first run does."""
    if what not in _ANNOUNCED:
        _ANNOUNCED.add(what)
        log.info("compiling kernels (first run only): %s", what)
        print(f"compiling kernels (first run only): {what}", file=sys.stderr, flush=True)


def numba_compile_notice(dispatcher: Any, what: str) -> None:
    """:func:`announce_compilation` before the first call of a cached Numba function that has no cache on disk yet."""
    if dispatcher.signatures:
        return
    index = getattr(getattr(getattr(dispatcher, "_cache", None), "_cache_file", None), "_index_path", None)
    if index is None or not os.path.exists(index):
        announce_compilation(f"{what} (Numba, about a minute)")


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(kernel_dir().glob("*.cu*")) + [kernel_dir() / "host_shim.h"]:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


# -- host executor ---------------------------------------------------------------------------
def host_compiler() -> str | None:
    """The C++ compiler used for host builds (``$CXX``, else ``c++``/``g++``/``clang++`` on PATH)."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def host_build_command(family: str, c_type: str, index: type, output: Path) -> list[str]:
    """The compiler command that builds ``kernels/<family>.cu`` for the CPU (OpenMP) with ``real_t = c_type``."""
    compiler = host_compiler()
    if compiler is None:
        raise BackendUnavailable("the 'cuda-host' backend needs a C++ compiler (set CXX or install g++)")
    kdir = kernel_dir()
    defines = [f"-D{name}={value}" for name, value in _defines(c_type, index).items()]
    return [
        compiler, "-O3", "-std=c++14", "-shared", "-fPIC", "-fopenmp", "-fno-fast-math", "-fno-math-errno", "-fno-trapping-math",
        "-ffp-contract=off",
        "-x", "c++", "-include", str(kdir / "host_shim.h"), f"-I{kdir}", *defines,
        str(kdir / f"{family}.cu"), "-o", str(output),
    ]  # fmt: skip


@functools.cache
def _host_library(family: str, c_type: str, index: type = np.int32) -> ctypes.CDLL:
    cache = Path(os.environ.get("ACCUMULATE_KERNEL_CACHE", Path.home() / ".cache" / "accumulate" / "host-kernels"))
    cache.mkdir(parents=True, exist_ok=True)
    probe = host_build_command(family, c_type, index, Path("out.so"))
    key = hashlib.sha256((_sources_digest() + " ".join(probe)).encode()).hexdigest()[:16]
    target = cache / f"{family}-{c_type}-{np.dtype(index).name}-{key}.so"
    if not target.exists():
        announce_compilation(f"kernels/{family}.cu for the CPU ({c_type})")
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            built = Path(tmp) / target.name
            result = subprocess.run(host_build_command(family, c_type, index, built), capture_output=True, text=True)
            if result.returncode != 0:
                raise BackendUnavailable(f"host build of kernels/{family}.cu failed:\n{result.stderr}")
            os.replace(built, target)
    return ctypes.CDLL(str(target))


def host_build_problem() -> str | None:
    """Why the host build cannot run here (no compiler, no OpenMP, a failed build), or None.

    Builds (once per machine, then from the cache) and loads ``kernels/radiobiology.cu``.
    """
    if host_compiler() is None:
        return "no C++ compiler on PATH (set CXX or install g++)"
    try:
        _host_library("radiobiology", "double")
    except (BackendUnavailable, OSError) as exc:
        return str(exc).splitlines()[0]
    return None


def _ctypes_argument(value: Any) -> Any:
    if value is None:
        return ctypes.c_void_p(None)
    if isinstance(value, np.ndarray):
        if not value.flags.c_contiguous:
            raise ValueError("kernel arrays must be C-contiguous")
        return ctypes.c_void_p(value.ctypes.data)
    kinds = {np.float32: ctypes.c_float, np.float64: ctypes.c_double, np.int32: ctypes.c_int, np.int64: ctypes.c_longlong}
    for numpy_type, ctype in kinds.items():
        if isinstance(value, numpy_type):
            return ctype(value.item())
    raise TypeError(f"kernel argument of type {type(value).__name__}: use an array or a NumPy scalar")


def _launch_host(family: str, function: str, dtype: Any, index: type, args: tuple[Any, ...]) -> None:
    kernel = getattr(_host_library(family, real_type(dtype), index), function)
    kernel.restype = None
    kernel(*(_ctypes_argument(a) for a in args))


# -- CuPy executor ---------------------------------------------------------------------------
def cupy_source(family: str, dtype: Any, index: type = np.int32) -> tuple[str, tuple[str, ...]]:
    """The exact ``(code, options)`` given to ``cupy.RawModule`` for ``kernels/<family>.cu``."""
    preamble = "".join(f"#define {name} {value}\n" for name, value in _defines(real_type(dtype), index).items())
    return preamble + (kernel_dir() / f"{family}.cu").read_text(), ("-std=c++14", f"-I{kernel_dir()}")


@functools.cache
def _cupy_module(device_id: int, family: str, dtype_name: str, index: type, digest: str) -> Any:
    import cupy

    code, options = cupy_source(family, np.dtype(dtype_name), index)
    with cupy.cuda.Device(device_id):
        return cupy.RawModule(code=code, options=options)


def _launch_cupy(family: str, function: str, dtype: Any, index: type, args: tuple[Any, ...], n: int) -> None:
    import cupy

    device = cupy.cuda.Device()
    module = _cupy_module(device.id, family, np.dtype(dtype).name, index, _sources_digest())
    kernel = module.get_function(function)
    blocks = max(1, min((n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK, MAX_BLOCKS))
    kernel((blocks,), (THREADS_PER_BLOCK,), tuple(np.uint64(0) if a is None else a for a in args))


def launch(executor: str, family: str, function: str, dtype: Any, index: type, n: int, *args: Any) -> None:
    """Run ``function`` from ``kernels/<family>.cu`` over ``n`` items with ``executor``.

    ``executor`` is ``"cupy"`` (arrays are CuPy arrays on the current device) or
    ``"cuda-host"`` (arrays are NumPy arrays). ``dtype`` picks ``real_t``, ``index`` (``np.int32``
    or ``np.int64``, see :func:`index_type`) the width of ``index_t``, which the index arguments
    must have.
    """
    if executor == "cupy":
        _launch_cupy(family, function, dtype, index, args, n)
    elif executor == "cuda-host":
        _launch_host(family, function, dtype, index, args)
    else:
        raise ValueError(f"unknown kernel executor {executor!r}")
