"""Array-module helpers shared by the backends: keep CuPy optional and data where it lives."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_cupy(array: Any) -> bool:
    """Whether ``array`` is a CuPy array (without importing CuPy)."""
    return type(array).__module__.split(".")[0] == "cupy"


def array_module(array: Any) -> Any:
    """``cupy`` for CuPy arrays, else ``numpy``."""
    if is_cupy(array):
        import cupy

        return cupy
    return np


def to_device(array: Any) -> Any:
    """A CuPy copy of a host array (CuPy arrays pass through)."""
    import cupy

    return cupy.ascontiguousarray(cupy.asarray(array))


def to_host(array: Any) -> np.ndarray:
    """A NumPy array (CuPy arrays are copied back from the device)."""
    return array.get() if is_cupy(array) else np.asarray(array)
