"""A volume's values at arbitrary points (trilinear between voxel centres, :mod:`accumulate.interpolation`)."""

from __future__ import annotations

import numpy as np

from ..errors import GeometryError
from ..geometry import Volume
from ..interpolation import trilinear

_CHUNK = 1 << 20


def values_at_points(volume: Volume, points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trilinear values of ``volume`` at LPS points, and which points lie outside its grid.

    Between voxel centres the value is trilinear in the continuous index; in the outer half
    voxel (between the last centres and the grid's edge) it is the clamped value of the nearest
    face, the convention of :func:`accumulate.warp.warp_dose`. A point beyond the grid's outer
    voxel boxes (by more than 1e-6 voxel) is *outside*: its value is NaN and it is flagged, never
    taken as zero.

    Parameters
    ----------
    volume : Volume
        Any grid orientation; values as stored (Gy for a dose).
    points_mm : (n, 3) array
        LPS positions (x, y, z), mm (e.g. ``StructureSamples.points_mm``).

    Returns
    -------
    values : (n,) float64 array
        NaN where outside.
    outside : (n,) bool array

    Raises
    ------
    GeometryError
        ``points_mm`` not an (n, 3) array.

    Examples
    --------
    >>> from accumulate import Grid, Volume
    >>> dose = Volume(np.array([[[0.0, 10.0]]]), Grid((1, 1, 2)), "dose", "Gy")  # voxel centres at x = 0, 1 mm
    >>> values_at_points(dose, np.array([[0.25, 0.0, 0.0], [1.4, 0.0, 0.0], [3.0, 0.0, 0.0]]))
    (array([ 2.5, 10. ,  nan]), array([False, False,  True]))
    """
    points = np.asarray(points_mm, dtype=float)
    if points.ndim != 2 or points.shape[1] != 3:
        raise GeometryError(f"values_at_points: points_mm must be an (n, 3) array of LPS mm, got shape {points.shape}")
    grid = volume.grid
    array = np.asarray(volume.to_numpy().array, dtype=np.float64)
    shape = np.asarray(grid.shape)
    values = np.empty(len(points))
    outside = np.empty(len(points), dtype=bool)
    for first in range(0, len(points), _CHUNK):
        index = grid.index_from_world(points[first : first + _CHUNK])  # (k, 3) continuous (z, y, x)
        out = np.any((index < -0.5 - 1e-6) | (index > shape - 0.5 + 1e-6), axis=1)
        total = trilinear(array, np.where(out[:, None], 0.0, index)[:, ::-1], margin=0.0)
        total[out] = np.nan
        values[first : first + _CHUNK] = total
        outside[first : first + _CHUNK] = out
    return values, outside


def support_voxels(grid, points_mm: np.ndarray) -> np.ndarray:
    """The flat indices (n, 8) of the voxels each point's trilinear value depends on (:func:`values_at_points`).

    A dose bound kept in all eight voxels holds at the point too (a convex combination), so these
    are the voxels a limit on a structure's samples binds in a voxel map. Points outside the
    grid get the nearest voxels of its face.

    Parameters
    ----------
    grid : Grid
    points_mm : (n, 3) array
        LPS positions, mm.

    Returns
    -------
    (n, 8) int64 array
        Flat (C-order) voxel indices of ``grid``.

    Examples
    --------
    >>> from accumulate import Grid
    >>> sorted(set(support_voxels(Grid((1, 1, 3)), np.array([[1.5, 0.0, 0.0]]))[0].tolist()))  # between voxels 1 and 2
    [1, 2]
    """
    shape = np.asarray(grid.shape)
    strides = np.asarray([shape[1] * shape[2], shape[2], 1])
    index = np.clip(grid.index_from_world(np.asarray(points_mm, dtype=float)), 0.0, shape - 1.0)
    low = np.minimum(np.floor(index), np.maximum(shape - 2, 0)).astype(np.int64)
    high = np.minimum(low + 1, shape - 1)
    corners = []
    for corner in range(8):
        pick = [(corner >> axis) & 1 for axis in range(3)]
        corners.append(sum(np.where(pick[a], high[:, a], low[:, a]) * strides[a] for a in range(3)))
    return np.stack(corners, axis=1)
