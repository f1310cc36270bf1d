"""The contract of the warp backends: one operand record, one signature, one implementation per backend.

Every backend (:mod:`._reference` for ``numpy``, :mod:`._numba`, :class:`._cuda.CudaWarp` for
``cuda-host`` and ``cupy``) implements :class:`WarpOperations`. Arrays are flat and C-contiguous,
in the working dtype, already where the backend computes; arithmetic is float64. The geometry
block (affines and grid sizes) is described in :mod:`accumulate.warp._layout` and mirrored by
``kernels/warp.cu``.

Examples
--------
>>> import numpy as np
>>> from accumulate import Grid
>>> from accumulate.warp._layout import course_geometry
>>> grid = Grid((1, 1, 2), spacing_mm=(1.0, 1.0, 1.0))
>>> name, ops = WARP.operations("numpy")
>>> inputs = WarpInputs(np.array([1.0, 3.0]), None, np.zeros(6), course_geometry(grid, grid, grid, False), "direct", 1, (1, 1, 2))
>>> ops.warp(inputs)
(array([1., 3.]), None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..backends import Family


@dataclass(frozen=True)
class WarpInputs:
    """Operands of :meth:`WarpOperations.warp`: one moving dose, its field and where it goes.

    Parameters
    ----------
    dose : array (nz * ny * nx,)
        Moving dose on its own grid, Gy.
    density : array or None
        Moving density on the dose grid, g/cm3 (``mass`` only; None for unit density).
    field : array (3 * field voxels,)
        Displacement field (z, y, x, 3) in mm on its own grid: moving point = target point + u.
    geometry : float64 array (``_layout.SIZE``,)
        The course's geometry block (:func:`accumulate.warp._layout.course_geometry`).
    method : {"direct", "mass"}
    subsamples : int
        Sub-samples per axis of each target voxel (``mass``).
    target_shape : (nz, ny, nx)
        The target grid's shape.
    """

    dose: Any
    density: Any | None
    field: Any
    geometry: np.ndarray
    method: str
    subsamples: int
    target_shape: tuple[int, int, int]


@runtime_checkable
class WarpOperations(Protocol):
    """What every warp backend offers."""

    def warp(self, inputs: WarpInputs) -> tuple[Any, Any | None]:
        """(warped dose, flat, NaN outside; mapped mass in g for ``mass``, else None) on the target grid."""


#: The warp operation family: ``WARP.operations(backend) -> (resolved name, WarpOperations)``.
WARP: Family[WarpOperations] = Family.standard(__package__, WarpOperations, "CudaWarp")
