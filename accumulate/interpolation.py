"""Trilinear interpolation on a voxel grid (NumPy): the one implementation the NumPy code paths share.

Positions are continuous voxel indices in (x, y, z) order (column, row, slice) with integer
values at voxel centres; volumes are (nz, ny, nx) or (nz, ny, nx, c) arrays. Along each axis
the interpolant is linear between neighbouring centres and continues ``margin`` voxels beyond
the outer centres (0: clamped at them; 0.5: extrapolated linearly to the outer voxel faces),
constant beyond that. It is the specification of the warp kernels' interpolation
(:mod:`accumulate.warp`, ``kernels/interp.cuh``) and serves the field algebra
(:func:`accumulate.registration.sample_linear`) and point doses
(:func:`accumulate.evaluation.values_at_points`).

Examples
--------
>>> import numpy as np
>>> volume = np.arange(8.0).reshape(2, 2, 2)  # value = 4 z + 2 y + x
>>> trilinear(volume, np.array([[0.5, 0.5, 0.5], [1.0, 0.0, 1.0], [3.0, 0.0, 0.0]]))
array([3.5, 5. , 1. ])
>>> trilinear(volume, np.array([[1.5, 0.0, 0.0]]), margin=0.5)  # extrapolated half a voxel
array([1.5])
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "axis_cell",
    "trilinear",
]


def axis_cell(f: np.ndarray, n: int, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interpolation cell along one axis of ``n`` voxels: (i0, i1 = i0 + 1, weight of i1).

    Parameters
    ----------
    f : array
        Continuous indices along the axis.
    n : int
        Voxels along the axis (a single voxel gives i0 = i1 = 0, weight 0).
    margin : float
        Voxels beyond the outer centres over which the interpolant continues linearly.

    Returns
    -------
    i0, i1 : int64 arrays
        The neighbouring voxel indices.
    weight : float array
        Weight of ``i1`` (1 - weight for ``i0``); beyond 0..1 within the margin (extrapolation).

    Examples
    --------
    >>> axis_cell(np.array([0.25, 2.0, 5.0]), 3, margin=0.0)
    (array([0, 1, 1]), array([1, 2, 2]), array([0.25, 1.  , 1.  ]))
    """
    if n < 2:
        zero = np.zeros(f.shape, dtype=np.int64)
        return zero, zero, np.zeros(f.shape)
    g = np.clip(f, -margin, n - 1 + margin)
    i0 = np.clip(np.floor(g), 0, n - 2).astype(np.int64)
    return i0, i0 + 1, g - i0


def trilinear(volume: np.ndarray, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Trilinear values of ``volume`` at (N, 3) (x, y, z) indices, combined x first, then y, then z.

    Parameters
    ----------
    volume : array (nz, ny, nx) or (nz, ny, nx, c)
        Values at the voxel centres (any unit; the result has it).
    points : float array (N, 3)
        Continuous (x, y, z) voxel indices; must be finite.
    margin : float
        See :func:`axis_cell`.

    Returns
    -------
    array (N,) or (N, c)
        In ``volume``'s dtype promoted with float64.

    Examples
    --------
    >>> field = np.zeros((1, 1, 2, 3))
    >>> field[0, 0, 1] = (2.0, 0.0, 0.0)  # a vector per voxel: the result has its components
    >>> trilinear(field, np.array([[0.5, 0.0, 0.0]]))
    array([[1., 0., 0.]])
    """
    shape_xyz = volume.shape[:3][::-1]
    (x0, x1, tx), (y0, y1, ty), (z0, z1, tz) = (axis_cell(points[:, a], shape_xyz[a], margin) for a in range(3))
    if volume.ndim == 4:
        tx, ty, tz = tx[:, None], ty[:, None], tz[:, None]

    def along_x(z, y):
        return volume[z, y, x0] + tx * (volume[z, y, x1] - volume[z, y, x0])

    low = along_x(z0, y0) + ty * (along_x(z0, y1) - along_x(z0, y0))
    high = along_x(z1, y0) + ty * (along_x(z1, y1) - along_x(z1, y0))
    return low + tz * (high - low)
