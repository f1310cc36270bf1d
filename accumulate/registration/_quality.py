"""Measures of registration quality: Jacobian determinant, inverse consistency, TRE, Dice.

Fields follow the package convention (on the fixed grid, moving point = p + u(p), mm, LPS).
AAPM TG-132 (Brock et al., Med Phys 2017, doi:10.1002/mp.12256) describes these checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import DisplacementField, Grid, Volume
from ._sampling import compose, field_at


def jacobian_determinant(field: DisplacementField) -> Volume:
    """Determinant of the Jacobian of ``p -> p + u(p)`` at every fixed voxel, ``det(I + du/dp)``.

    Derivatives are central differences in LPS mm (one-sided at the grid border), with the
    grid's direction cosines. 1 is volume-preserving, < 1 compression, <= 0 folding
    (the map is not invertible there). Computed in float32 (a field of float32 vectors holds
    no more; the determinant is good to about 1e-6) to halve the memory and time.

    Returns
    -------
    Volume (nz, ny, nx) of float32, quantity ``"jacobian"``, unit ``"1"``.
    """
    u = np.asarray(field.to_numpy().array, dtype=np.float32)
    grid = field.grid
    spacing_zyx = grid.spacing_mm[::-1]
    # d u_c / d (index axis a, in mm), a in x, y, z order; then d u / d p = that @ direction^T
    along = []
    for axis_xyz in range(3):
        axis_array = 2 - axis_xyz
        if grid.shape[axis_array] < 2:
            along.append(np.zeros_like(u))
        else:
            along.append(np.gradient(u, spacing_zyx[axis_array], axis=axis_array))
    d = grid.direction_matrix.tolist()  # Python floats: the products stay float32
    # J[c][b] = delta_cb + sum_a along[a][..., c] * d[b][a], written out (np.linalg.det per voxel is slow)
    j = [[sum(along[a][..., c] * d[b][a] for a in range(3) if d[b][a] != 0) + (1.0 if b == c else 0.0) for b in range(3)]
         for c in range(3)]  # fmt: skip
    det = (j[0][0] * (j[1][1] * j[2][2] - j[1][2] * j[2][1]) - j[0][1] * (j[1][0] * j[2][2] - j[1][2] * j[2][0])
           + j[0][2] * (j[1][0] * j[2][1] - j[1][1] * j[2][0]))  # fmt: skip
    return Volume(np.asarray(det, dtype=np.float32), grid, "jacobian", "1")


def inverse_consistency_error(forward: DisplacementField, backward: DisplacementField) -> Volume:
    """Length (mm) of ``forward`` followed by ``backward``, per fixed voxel; 0 for a perfect inverse pair.

    ``forward`` lives on the fixed grid (fixed -> moving); ``backward`` is the registration the
    other way round, on the moving grid (moving -> fixed). Voxels whose moving point leaves the
    moving grid are NaN.
    """
    loop = compose(forward, backward)
    return Volume(np.linalg.norm(loop.array, axis=-1), forward.grid, "inverse_consistency_error", "mm")


def target_registration_error(field: DisplacementField, fixed_points: Any, moving_points: Any) -> np.ndarray:
    """Distance (mm) between ``p + u(p)`` and the matching moving landmark, per landmark pair.

    Parameters
    ----------
    field : DisplacementField
    fixed_points, moving_points : array (n, 3)
        Corresponding LPS landmarks (mm) on the fixed and the moving CT.

    Returns
    -------
    ndarray (n,)
        NaN for fixed landmarks outside the field's grid.
    """
    fixed_pts = np.asarray(fixed_points, dtype=float).reshape(-1, 3)
    moving_pts = np.asarray(moving_points, dtype=float).reshape(-1, 3)
    if fixed_pts.shape != moving_pts.shape:
        raise InputError(f"landmark sets differ in size: {len(fixed_pts)} fixed vs {len(moving_pts)} moving points")
    mapped = fixed_pts + field_at(field, fixed_pts)
    return np.linalg.norm(mapped - moving_pts, axis=1)


def dice(first: Any, second: Any) -> float:
    """Dice similarity ``2 |A and B| / (|A| + |B|)`` of two boolean masks on the same grid (1 if both empty)."""
    a, b = (np.asarray(getattr(m, "array", m), dtype=bool) for m in (first, second))
    if isinstance(first, Volume) and isinstance(second, Volume):
        first.grid.require_same(second.grid, "the two masks")
    if a.shape != b.shape:
        raise GeometryError(f"masks of different shapes cannot be compared: {a.shape} vs {b.shape}")
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def read_elastix_points(path: Any, grid: Grid | None = None) -> np.ndarray:
    """Landmarks from an elastix point file, as LPS points (n, 3) mm.

    The file starts with ``point`` (LPS mm) or ``index`` (voxel indices in x, y, z order; needs
    ``grid``), then the number of points, then one ``x y z`` line per point.
    """
    path = Path(path)
    try:
        words = path.read_text(encoding="utf-8").split()
    except OSError as exc:
        raise InputError(f"could not read landmark file '{path}': {exc}") from None
    if len(words) < 2 or words[0] not in ("point", "index"):
        raise InputError(f"landmark file '{path}' must start with 'point' or 'index' and the number of points")
    try:
        count = int(words[1])
        values = np.asarray([float(w) for w in words[2:]])
    except ValueError:
        raise InputError(f"landmark file '{path}' holds a value that is not a number") from None
    if values.size != 3 * count:
        raise InputError(f"landmark file '{path}' announces {count} points but holds {values.size} coordinates")
    points = values.reshape(count, 3)
    if words[0] == "point":
        return points
    if grid is None:
        raise InputError(f"landmark file '{path}' holds voxel indices; give the grid of its CT to convert them to mm")
    return grid.world_from_index(points[:, ::-1])
