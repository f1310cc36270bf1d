"""Launchers for ``kernels/warp.cu`` on a GPU (``cupy``) or on the CPU (``cuda-host``, OpenMP).

Same contract as :mod:`._reference`. Arrays must already live where the executor runs (CuPy
arrays for ``cupy``, NumPy arrays for ``cuda-host``), flat and C-contiguous. ``direct`` is one
launch of ``warp_direct``; ``mass`` runs slab by slab of target slices: ``mass_corners`` maps the
slab's voxel corners into a float64 buffer, ``warp_mass`` gathers its voxels from them.
"""

from __future__ import annotations

import numpy as np

from .._arrays import array_module
from .._kernels import index_type, launch
from .operations import WarpInputs

FAMILY = "warp"
#: Bound on the corner buffer of one slab (float64, 3 per corner), per executor.
CORNER_BYTES = {"cupy": 512 << 20, "cuda-host": 64 << 20}


class CudaWarp:
    """The warp kernels bound to one executor (``"cupy"`` or ``"cuda-host"``)."""

    def __init__(self, executor: str) -> None:
        self.executor = executor

    def _device(self, array):
        if self.executor == "cupy":
            import cupy

            return cupy.asarray(array)
        return np.ascontiguousarray(array)

    def warp(self, inputs: WarpInputs):
        dose, density, field, method, subsamples = inputs.dose, inputs.density, inputs.field, inputs.method, inputs.subsamples
        geom, target_shape = inputs.geometry, inputs.target_shape
        xp = array_module(dose)
        tz, ty, tx = target_shape
        n = tz * ty * tx
        out = xp.empty(n, dtype=dose.dtype)
        geom = self._device(geom)
        if method == "direct":
            idx = index_type(n, dose.size, field.size)
            launch(self.executor, FAMILY, "warp_direct", dose.dtype, idx, n, dose, field, geom, idx(tx), idx(ty), out, idx(n))
            return out, None
        mass = xp.empty(n, dtype=dose.dtype)
        plane = (tx + 1) * (ty + 1)
        depth = max(1, min(tz, CORNER_BYTES[self.executor] // (24 * plane) - 1))
        corners = xp.empty(3 * plane * (depth + 1), dtype=np.float64)
        idx = index_type(n, dose.size, field.size, corners.size)
        has_density = density is not None
        for z0 in range(0, tz, depth):
            slices = min(depth, tz - z0)
            count, part = plane * (slices + 1), slice(z0 * ty * tx, (z0 + slices) * ty * tx)
            launch(self.executor, FAMILY, "mass_corners", dose.dtype, idx, count, field, geom, idx(tx), idx(ty), idx(z0),
                   corners, idx(count))  # fmt: skip
            voxels = slices * ty * tx
            launch(self.executor, FAMILY, "warp_mass", dose.dtype, idx, voxels, dose, density if has_density else None,
                   corners, geom, np.int32(subsamples), idx(tx), idx(ty), out[part], mass[part], idx(voxels))  # fmt: skip
        return out, mass
