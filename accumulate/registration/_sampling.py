"""Trilinear sampling of grids at LPS points, and the field algebra built on it (compose, invert, warp).

All points are LPS (x, y, z) mm. Fields follow the package convention: a field ``f`` on the
fixed grid maps the fixed point ``p`` to the moving point ``p + f(p)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import DisplacementField, Grid, Volume
from ..interpolation import trilinear


def sample_linear(array: Any, grid: Grid, points_xyz: Any, *, outside: float = np.nan) -> np.ndarray:
    """Trilinear interpolation of ``array`` at LPS points.

    Parameters
    ----------
    array : ndarray (nz, ny, nx) or (nz, ny, nx, c)
        Values on ``grid`` (scalar, or ``c`` components per voxel).
    grid : Grid
    points_xyz : array (..., 3)
        LPS points, mm (NaN points count as outside).
    outside : float
        Value returned for points beyond the outermost voxel centres.

    Returns
    -------
    ndarray (...,) or (..., c), float64
    """
    values = np.asarray(array, dtype=float)
    points = np.asarray(points_xyz, dtype=float)
    idx = grid.index_from_world(points.reshape(-1, 3))  # (z, y, x)
    finite = np.isfinite(idx).all(axis=1)
    idx = np.where(finite[:, None], idx, 0.0)
    inside = finite & np.all((idx >= -1e-6) & (idx <= np.asarray(grid.shape) - 1 + 1e-6), axis=1)
    extra = values.shape[3:]
    out = trilinear(values, idx[:, ::-1], margin=0.0)
    out[~inside] = outside
    return out.reshape(points.shape[:-1] + extra)


def field_at(field: DisplacementField, points_xyz: Any) -> np.ndarray:
    """The displacement (ux, uy, uz) mm at LPS points (trilinear; NaN outside the field's grid)."""
    return sample_linear(field.to_numpy().array, field.grid, points_xyz)


def uncovered_voxels(field_grid: Grid, grid: Grid, required: Any) -> int:
    """How many voxels of the boolean mask ``required`` (on ``grid``) lie outside ``field_grid``'s extent.

    The extent reaches half a voxel beyond the outermost voxel centres, as a voxel does.
    """
    index = np.argwhere(np.asarray(required, dtype=bool))
    if index.size == 0:
        return 0
    field_index = field_grid.index_from_world(grid.world_from_index(index))
    inside = np.all((field_index >= -0.5 - 1e-6) & (field_index <= np.asarray(field_grid.shape) - 0.5 + 1e-6), axis=1)
    return int(np.count_nonzero(~inside))


def resample_field(field: DisplacementField, grid: Grid, *, required: Any = None, source: str = "the field") -> DisplacementField:
    """``field`` (in its convention: moving point p + u(p)) sampled on ``grid`` with trilinear interpolation.

    A planning system's deformable REG is often on a grid of its own (coarser, or cropped); the
    pipeline resamples it onto the reference CT's grid. Beyond the field's outermost voxel
    centres the edge vectors continue. ``required`` (a boolean mask on ``grid``, e.g. the body)
    must lie within the field's extent, else :class:`GeometryError` saying how much does not.
    """
    if required is not None:
        missing = uncovered_voxels(field.grid, grid, required)
        if missing:
            total = int(np.count_nonzero(np.asarray(required, dtype=bool)))
            raise GeometryError(
                f"{source} does not cover the region it must map: {missing} of its {total} voxels lie outside the field's "
                f"grid.\n  field: {field.grid.describe()}\n  needed on: {grid.describe()}\n"
                "Export the registration over the whole body, or let accumulate register the CTs instead."
            )
    values = np.asarray(field.to_numpy().array, dtype=float)
    top = np.asarray(field.grid.shape, dtype=float) - 1.0
    out = np.empty(grid.shape + (3,), dtype=np.float32)
    ny, nx = grid.shape[1:]
    yy, xx = np.meshgrid(np.arange(ny, dtype=float), np.arange(nx, dtype=float), indexing="ij")
    for z in range(grid.shape[0]):  # one slice at a time: memory stays at a slice of points
        index = np.stack([np.full_like(yy, z), yy, xx], axis=-1)
        inner = np.clip(field.grid.index_from_world(grid.world_from_index(index)), 0.0, top)  # edge continuation
        out[z] = sample_linear(values, field.grid, field.grid.world_from_index(inner))
    return DisplacementField(out, grid)


def compose(first: DisplacementField, second: DisplacementField) -> DisplacementField:
    """The field of ``p -> q + second(q)`` with ``q = p + first(p)``, on ``first``'s grid.

    ``first`` maps grid A to grid B and lives on A; ``second`` maps B onward and lives on B.
    Voxels whose intermediate point leaves ``second``'s grid are NaN.
    """
    u = np.asarray(first.to_numpy().array, dtype=float)
    moved = first.grid.world_coordinates() + u
    return DisplacementField(u + field_at(second, moved), first.grid)


def invert(field: DisplacementField, grid: Grid, *, iterations: int = 50, tolerance_mm: float = 1e-3) -> DisplacementField:
    """The inverse of ``field`` sampled on ``grid`` (the other image's grid), by fixed-point iteration.

    Solves ``v(q) = -u(q + v(q))`` for every voxel centre ``q`` of ``grid``, so that
    ``q + v(q)`` is the point that ``field`` maps to ``q``. Converges when the field's
    gradient norm is below 1 (an invertible field without folding). Voxels that leave
    ``field``'s grid are NaN.
    """
    points = grid.world_coordinates()
    v = np.zeros(grid.shape + (3,))
    for _ in range(int(iterations)):
        new = -field_at(field, points + v)
        change = np.nanmax(np.abs(new - v)) if np.isfinite(new).any() else 0.0
        v = new
        if change < tolerance_mm:
            break
    return DisplacementField(v, grid)


def warp_volume(moving: Volume, field: DisplacementField, *, outside: float = 0.0) -> Volume:
    """``moving`` pulled onto the field's (fixed) grid: ``out(p) = moving(p + u(p))``, trilinear."""
    values = sample_linear(moving.to_numpy().array, moving.grid, field.moving_points(), outside=outside)
    return Volume(values, field.grid, moving.quantity, moving.unit)


def warp_mask(moving_mask: Volume, field: DisplacementField, *, backend: str = "auto") -> np.ndarray:
    """A moving-grid mask propagated onto the fixed grid (boolean, trilinear >= 0.5; False where it maps outside).

    Runs the package's ``direct`` warp (:func:`accumulate.warp.warp_dose`) on ``backend``, in float64
    like the dose warps of a run, so no further kernel is built for it.
    """
    from ..warp import warp_dose

    mask = np.asarray(moving_mask.to_numpy().array)
    if mask.dtype != bool and not np.isin(np.unique(mask), (0, 1)).all():
        raise InputError("a structure mask must hold only 0 and 1 (or booleans)")
    values = moving_mask.to_numpy().with_array(mask.astype(np.float64), quantity="mask", unit="1")
    warped = warp_dose(values, field.to_numpy(), method="direct", backend=backend, outside="zero").dose.to_numpy().array
    return np.asarray(warped) >= 0.5  # 0 where the mask's grid does not reach
