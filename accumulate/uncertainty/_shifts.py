"""The shift scenarios of the registration-uncertainty bound: where the prior dose may really have come from.

A registration error at a reference point p means that the prior-course tissue now at p came
from ``p + u(p) + delta`` instead of ``p + u(p)``. The bound assumes ``|delta| <= r`` (the
uncertainty radius; 3 mm is the search radius clinical review tools use) and evaluates the
prior dose at a set of shifts within that sphere: the centre, the 6 axis directions and the 8
cube diagonals at distance r (15 scenarios, as in the robustness evaluation of proton plans,
where the same 14 directions plus the nominal are standard).

Why shifted warps rather than a max/min filter over a ball on the warped dose: each shift is
one consistent dose distribution (a *scenario*), so every constraint metric can be judged per
scenario ("not met in k of n"), and the shift is applied to the moving point, in the prior
frame where the registration error lives, at sub-voxel precision (a ball filter on a 2-3 mm
dose grid holds only a handful of voxels of a 3 mm sphere). For a dose that is locally linear,
the largest change over the 14 directions is at least ``cos 36.2 deg = 0.807`` of the largest
over the whole sphere (the set's covering angle), so the per-voxel band covers registration
errors up to about 0.8 r in the linear regime.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..geometry import DisplacementField

#: The worst-case ratio of the largest linear change over the 14 directions to that over the sphere.
COVERING_COSINE = 0.807


def shift_directions() -> np.ndarray:
    """The 15 unit shift directions (x, y, z), LPS: the centre (0, 0, 0), 6 axis directions, 8 cube diagonals."""
    axes = np.vstack([np.eye(3), -np.eye(3)])
    diagonals = np.array([[a, b, c] for a in (1, -1) for b in (1, -1) for c in (1, -1)], dtype=float) / np.sqrt(3.0)
    return np.vstack([np.zeros((1, 3)), axes, diagonals])


def shift_vectors(radius_mm: float) -> np.ndarray:
    """The 15 shifts (mm, LPS, shape (15, 3)) of radius ``radius_mm``; the first is the nominal (no shift)."""
    radius = float(radius_mm)
    if not np.isfinite(radius) or radius < 0:
        raise InputError(f"the uncertainty radius must be a finite number >= 0 mm, got {radius_mm!r}")
    return shift_directions() * radius


def shifted(field: DisplacementField, shift_mm) -> DisplacementField:
    """``field`` with every moving point moved by ``shift_mm``: ``u'(p) = u(p) + shift(p)``.

    ``shift_mm`` is one vector (x, y, z mm, LPS) for every voxel, or one per voxel: an array of
    the field's shape ``(nz, ny, nx, 3)`` (a per-voxel radius times a direction).
    """
    values = field.to_numpy().array
    shift = np.asarray(shift_mm, dtype=float)
    if shift.shape != values.shape:
        if shift.size != 3:
            raise InputError(f"a shift is 3 components or one vector per voxel {values.shape}, got shape {shift.shape}")
        shift = shift.reshape(3)
    return DisplacementField((np.asarray(values, dtype=float) + shift).astype(values.dtype), field.grid)
