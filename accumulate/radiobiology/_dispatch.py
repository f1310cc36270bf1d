"""Pick the implementation of the voxelwise LQ operations for a backend, and move data to it."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import is_cupy, to_device, to_host
from ..backends import implementation


def operations(backend: str) -> tuple[str, Any]:
    """``(name, ops)``: the resolved backend name and an object with the LQ operations."""
    return implementation(backend, __package__, "CudaOps")


def place(array: Any, backend: str, dtype: Any) -> Any:
    """``array`` flattened, C-contiguous, of ``dtype``, on the device ``backend`` computes on."""
    if backend == "cupy":
        return to_device(array).astype(dtype, copy=False).reshape(-1)
    host = to_host(array) if is_cupy(array) else np.asarray(array)
    return np.ascontiguousarray(host, dtype=dtype).reshape(-1)


def result_dtype(*arrays: Any) -> np.dtype:
    """float32 when every floating input is float32, else float64."""
    dtypes = [np.dtype(a.dtype) for a in arrays if hasattr(a, "dtype")]
    return np.dtype(np.float32) if dtypes and all(d == np.float32 for d in dtypes) else np.dtype(np.float64)
