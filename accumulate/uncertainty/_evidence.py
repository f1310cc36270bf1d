"""A per-voxel registration-uncertainty radius from the registration's own evidence: its inverse consistency.

A registration run both ways (reference -> prior, the field ``u``; prior -> reference, the
field ``v``) should close the loop ``p -> p + u(p) -> p + u(p) + v(p + u(p))``. The loop's length,
the inverse-consistency error ICE(p) (Christensen and Johnson 2001; used as a DIR error
indicator by Bender and Tome 2009, Phys Med Biol 54:1313, and named by AAPM TG-132 among the
quantitative checks), is zero for a perfect pair and grows where the two registrations disagree:
where at least one of them is wrong. If the two directions erred independently by ``e`` each the
loop would be about ``sqrt(2) e``; where both are misled the same way (homogeneous tissue that
neither image constrains) it stays small while both are wrong, so the ICE is a lower indicator
of the error, not a bound. Hence the radius used per voxel is::

    r(p) = max(minimum_mm, scale x ICE(p))

``minimum_mm`` stands for the error the loop cannot see, ``scale`` for the part of the error the
loop shows only in part. Measured on realistic deformations of a real CT
(``benchmarks/bench_uncertainty_calibration.py``, elastix presets with body masks, correlation
lengths 20-60 mm): the ICE of a perfect registration is <= 0.03 mm (mean); the ICE ranks the true
error only moderately (Spearman 0.41-0.55); the defaults ``max(2 mm, 2 x ICE)`` cover the true
error in 94-99 % of body voxels, as a constant 3 mm does (94-97 %), and cover 60-90 % of the
voxels whose error exceeds 3 mm, which a constant 3 mm never covers. The price is a wider radius
where the loop is large (mean 3.5-5 mm against 3). What no image evidence sees: a local motion in
homogeneous tissue that both directions miss alike (a 12 mm bump in soft tissue: true error
9.7 mm mean, ICE 0.9 mm; covered by neither rule). The map is the per-voxel radius of the shift
scenarios (``accumulate.pipeline``): the prior dose's moving points are shifted by ``r(p) d``
for the 14 directions ``d`` of :func:`shift_directions` besides the nominal.

Why inverse consistency and not an ensemble of registrations: it costs one more registration
per course (an ensemble several), it needs nothing the registration does not already have, and it
is a measured, published indicator; an ensemble's spread, like the ICE, is small where the images
hold no information, so it would not remove the need for the minimum.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..geometry import Volume

#: The least radius (mm) of ``method = "inverse-consistency"`` (see the module docstring and the calibration benchmark).
DEFAULT_MINIMUM_MM = 2.0
#: The factor on the inverse-consistency error (see the module docstring and the calibration benchmark).
DEFAULT_SCALE = 2.0


def consistency_radius(
    loop_error: Volume,
    *,
    minimum_mm: float = DEFAULT_MINIMUM_MM,
    scale: float = DEFAULT_SCALE,
    region: np.ndarray | None = None,
) -> Volume:
    """The per-voxel uncertainty radius ``max(minimum_mm, scale x ICE)`` (mm) on the loop error's grid.

    Parameters
    ----------
    loop_error : Volume
        The inverse-consistency error ICE (mm) of the registration reference (fixed) -> prior
        (moving) and the one the other way round, on the reference CT grid, NaN where the loop
        leaves the prior CT grid: :func:`accumulate.registration.inverse_consistency_error`.
    minimum_mm : float
        The least radius (mm, >= 0), also used outside ``region``.
    scale : float
        The factor (>= 0) on the inverse-consistency error.
    region : ndarray of bool, optional
        Where the evidence counts (the reference body, shape of ``loop_error``); outside, the
        radius is ``minimum_mm`` (the fields of air are unconstrained and their loop errors
        meaningless). Default: everywhere.

    Returns
    -------
    Volume
        float32, quantity ``"registration_uncertainty"``, unit ``"mm"``. Voxels whose loop leaves
        the prior CT grid (the ICE is undefined there) take the largest radius found inside
        ``region``: the evidence is missing, so the worst seen is assumed.
    """
    minimum, factor = float(minimum_mm), float(scale)
    for name, value in (("minimum_mm", minimum), ("scale", factor)):
        if not np.isfinite(value) or value < 0:
            raise InputError(f"the uncertainty {name} must be a finite number >= 0, got {value!r}")
    grid = loop_error.grid
    inside = np.ones(grid.shape, bool) if region is None else np.asarray(region, bool)
    if inside.shape != grid.shape:
        raise InputError(f"the region's shape {inside.shape} is not the loop error's grid shape {grid.shape}")
    radius = np.maximum(minimum, factor * np.asarray(loop_error.array, dtype=float))
    known = inside & np.isfinite(radius)
    worst = float(radius[known].max()) if known.any() else minimum
    radius = np.where(inside, np.where(np.isfinite(radius), radius, worst), minimum)
    return Volume(radius.astype(np.float32), grid, "registration_uncertainty", "mm")
