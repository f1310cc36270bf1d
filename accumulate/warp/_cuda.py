"""Launchers for ``kernels/warp.cu`` on a GPU (``cupy``) or on the CPU (``cuda-host``).

Same contract as :mod:`._reference`. Arrays must already live where the executor runs (CuPy
arrays for ``cupy``, NumPy arrays for ``cuda-host``), flat and C-contiguous. The fused kernel
gets its K courses as tables of raw addresses (int64), which both executors pass unchanged, so
courses of different grid sizes need no packing copy. Launch: 1-D, 256 threads per block, one
thread per target voxel (x fastest, so neighbouring threads write neighbouring voxels).
"""

from __future__ import annotations

import numpy as np

from .._arrays import array_module
from .._kernels import launch

FAMILY = "warp"


def _address(array, executor: str) -> int:
    if array is None:
        return 0
    return int(array.data.ptr) if executor == "cupy" else int(array.ctypes.data)


class CudaWarp:
    """The warp kernels bound to one executor (``"cupy"`` or ``"cuda-host"``)."""

    def __init__(self, executor: str) -> None:
        self.executor = executor

    def _device(self, array):
        if self.executor == "cupy":
            import cupy

            return cupy.asarray(array)
        return np.ascontiguousarray(array)

    def warp(self, dose, density, field, geom, method, subsamples, target_shape):
        xp = array_module(dose)
        n = int(np.prod(target_shape))
        out = xp.empty(n, dtype=dose.dtype)
        mass = xp.empty(n, dtype=dose.dtype) if method == "mass" else None
        launch(self.executor, FAMILY, "warp_dose", dose.dtype, n, dose, density, field, self._device(geom),
               np.int32(method == "mass"), np.int32(subsamples), np.int64(target_shape[2]), np.int64(target_shape[1]),
               out, mass, np.int64(n))  # fmt: skip
        return out, mass

    def accumulate(self, courses, alpha_beta, ref_dose, limit, new_fractions, method, subsamples, target_shape):
        xp = array_module(alpha_beta)
        real = alpha_beta.dtype.type
        n = int(np.prod(target_shape))
        tables = [self._device(np.array([_address(c[j], self.executor) for c in courses], dtype=np.int64)) for j in range(4)]
        geoms = self._device(np.ascontiguousarray(np.stack([c[4] for c in courses])))
        cumulative = xp.empty(n, dtype=alpha_beta.dtype)
        remaining = None if limit is None else xp.empty(n, dtype=alpha_beta.dtype)
        launch(self.executor, FAMILY, "accumulate_warped", alpha_beta.dtype, n, *tables, geoms, np.int32(len(courses)),
               np.int32(method == "mass"), np.int32(subsamples), alpha_beta, np.int64(1 if alpha_beta.size > 1 else 0),
               real(ref_dose), limit, real(new_fractions), np.int64(target_shape[2]), np.int64(target_shape[1]),
               cumulative, remaining, np.int64(n))  # fmt: skip
        return cumulative, remaining
