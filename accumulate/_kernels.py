"""Run the CUDA sources in ``kernels/*.cu`` on a GPU (CuPy) or on the CPU (host build).

One kernel source, two executors:

* ``cupy``: ``cupy.RawModule`` compiles the file with NVRTC, with a ``#define real_t``
  preamble and ``-I kernels/``; modules are cached per (device, file, dtype).
* ``cuda-host``: the same file is compiled as C++ with ``host_shim.h`` force-included (CUDA
  qualifiers removed, a launch of one thread whose grid-stride loop covers every voxel) into a
  shared library loaded with ctypes. CI uses it to execute every kernel against the NumPy
  reference on machines without a GPU. Libraries are cached under
  ``$ACCUMULATE_KERNEL_CACHE`` (default ``~/.cache/accumulate/host-kernels``), keyed on a hash
  of the sources and the compiler command.

Kernel arguments are given as arrays (``None`` for a null pointer) and NumPy scalars
(``np.float32``, ``np.float64``, ``np.int32``, ``np.int64``), which both executors map exactly.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ._resources import resource_dir
from .errors import BackendUnavailable

THREADS_PER_BLOCK = 256
_REAL_T = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def kernel_dir() -> Path:
    return resource_dir("kernels")


def real_type(dtype: Any) -> str:
    """The C type name of a floating dtype (float32 -> float, float64 -> double)."""
    try:
        return _REAL_T[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"kernels run in float32 or float64, not {np.dtype(dtype)}") from None


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


def host_build_command(family: str, c_type: str, output: Path) -> list[str]:
    """The compiler command that builds ``kernels/<family>.cu`` for the CPU with ``real_t = c_type``."""
    compiler = host_compiler()
    if compiler is None:
        raise BackendUnavailable("the 'cuda-host' backend needs a C++ compiler (set CXX or install g++)")
    kdir = kernel_dir()
    return [
        compiler, "-O2", "-std=c++14", "-shared", "-fPIC", "-fno-fast-math", "-ffp-contract=off",
        "-x", "c++", "-include", str(kdir / "host_shim.h"), f"-I{kdir}", f"-Dreal_t={c_type}",
        str(kdir / f"{family}.cu"), "-o", str(output),
    ]  # fmt: skip


@functools.cache
def _host_library(family: str, c_type: str) -> ctypes.CDLL:
    cache = Path(os.environ.get("ACCUMULATE_KERNEL_CACHE", Path.home() / ".cache" / "accumulate" / "host-kernels"))
    cache.mkdir(parents=True, exist_ok=True)
    probe = host_build_command(family, c_type, Path("out.so"))
    key = hashlib.sha256((_sources_digest() + " ".join(probe)).encode()).hexdigest()[:16]
    target = cache / f"{family}-{c_type}-{key}.so"
    if not target.exists():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            built = Path(tmp) / target.name
            result = subprocess.run(host_build_command(family, c_type, built), capture_output=True, text=True)
            if result.returncode != 0:
                raise BackendUnavailable(f"host build of kernels/{family}.cu failed:\n{result.stderr}")
            os.replace(built, target)
    return ctypes.CDLL(str(target))


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


def _launch_host(family: str, function: str, dtype: Any, args: tuple[Any, ...]) -> None:
    kernel = getattr(_host_library(family, real_type(dtype)), function)
    kernel.restype = None
    kernel(*(_ctypes_argument(a) for a in args))


# -- CuPy executor ---------------------------------------------------------------------------
@functools.cache
def _cupy_module(device_id: int, family: str, dtype_name: str, digest: str) -> Any:
    import cupy

    kdir = kernel_dir()
    source = f"#define real_t {dtype_name}\n" + (kdir / f"{family}.cu").read_text()
    with cupy.cuda.Device(device_id):
        return cupy.RawModule(code=source, options=("-std=c++14", f"-I{kdir}"))


def _launch_cupy(family: str, function: str, dtype: Any, args: tuple[Any, ...], n: int) -> None:
    import cupy

    device = cupy.cuda.Device()
    module = _cupy_module(device.id, family, real_type(dtype), _sources_digest())
    kernel = module.get_function(function)
    blocks = max(1, min((n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK, 65535 * 8))
    kernel((blocks,), (THREADS_PER_BLOCK,), tuple(np.uint64(0) if a is None else a for a in args))


def pointer_array(executor: str, arrays: list[Any]) -> Any:
    """A uint64 array of the addresses of ``arrays``, where ``executor`` can read it (for ``T* const*`` arguments).

    The caller keeps ``arrays`` alive for the duration of the launch.
    """
    if executor == "cupy":
        import cupy

        return cupy.asarray(np.array([a.data.ptr for a in arrays], dtype=np.uint64))
    return np.array([a.ctypes.data for a in arrays], dtype=np.uint64)


def launch(executor: str, family: str, function: str, dtype: Any, n: int, *args: Any) -> None:
    """Run ``function`` from ``kernels/<family>.cu`` over ``n`` voxels with ``executor``.

    ``executor`` is ``"cupy"`` (arrays are CuPy arrays on the current device) or
    ``"cuda-host"`` (arrays are NumPy arrays). ``dtype`` picks ``real_t``.
    """
    if executor == "cupy":
        _launch_cupy(family, function, dtype, args, n)
    elif executor == "cuda-host":
        _launch_host(family, function, dtype, args)
    else:
        raise ValueError(f"unknown kernel executor {executor!r}")
