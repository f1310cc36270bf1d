"""What each course's export holds, computed from the analytic model: CT numbers, contours, dose."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..geometry import Grid, Volume
from ..io import level_contours
from ._anatomy import ORGANS, PTV_REIRR, reference_hu_at
from ._deformation import prior_point_of, reference_point_of
from ._doses import PRIOR, AnalyticDose

Shape = Callable[[np.ndarray], np.ndarray]
Contours = dict[str, list[tuple[int, np.ndarray]]]
"""Per ROI name: (CT slice index, closed polygon (n, 3) LPS mm) pairs."""
ORGANS_BOX_HALF_WIDTH_MM = (65.0, 55.0)
"""Half widths (x, y) of the reference body, mm: every organ lies inside."""


def _contours(grid: Grid, in_prior_frame: bool, target: tuple[str, Shape], margin_mm: float, step_mm: float) -> Contours:
    """Contours of the organs and the target on every (axial) slice of ``grid``.

    Each slice is sampled every ``step_mm`` over the body's box (``margin_mm`` around it); in
    the prior frame the organs are evaluated at the reference points of the samples. The
    target is defined in ``grid``'s own frame.
    """
    centre = prior_point_of(np.zeros(3))[:2] if in_prior_frame else np.zeros(2)
    half = np.asarray(ORGANS_BOX_HALF_WIDTH_MM) + margin_mm
    x = centre[0] + np.arange(-half[0], half[0] + 1e-9, step_mm)
    y = centre[1] + np.arange(-half[1], half[1] + 1e-9, step_mm)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    shapes = {**ORGANS, target[0]: target[1]}
    out: Contours = {name: [] for name in shapes}
    for k in range(grid.shape[0]):
        z = float(grid.world_from_index((k, 0, 0))[2])
        points = np.stack([xx, yy, np.full_like(xx, z)], axis=-1)
        reference = reference_point_of(points) if in_prior_frame else points
        for name, distance in shapes.items():
            for polygon in level_contours(distance(points if name == target[0] else reference), x, y):
                out[name].append((k, np.column_stack([polygon, np.full(len(polygon), z)])))
    return out


def reference_contours(grid: Grid, step_mm: float) -> Contours:
    """The re-irradiation structure set: the organs and ``PTV_reirr``, in the reference frame."""
    return _contours(grid, False, ("PTV_reirr", PTV_REIRR.distance), 4.0, step_mm)


def prior_contours(grid: Grid, step_mm: float) -> Contours:
    """The prior structure set: the organs as deformed into the prior frame, and ``PTV_prior`` (defined there)."""
    return _contours(grid, True, ("PTV_prior", PRIOR.target.distance), 16.0, step_mm)


def reference_ct(grid: Grid) -> Volume:
    """The re-irradiation CT (HU) on ``grid``."""
    return Volume(reference_hu_at(grid.world_coordinates()).astype(np.float32), grid, "hu", "HU")


def prior_ct(grid: Grid) -> Volume:
    """The prior CT (HU) on ``grid``: ``prior(q) = reference(p)`` where ``p + u(p) = q``."""
    return Volume(reference_hu_at(reference_point_of(grid.world_coordinates())).astype(np.float32), grid, "hu", "HU")


def dose_volume(course: AnalyticDose, grid: Grid) -> Volume:
    """A course's analytic dose (Gy) sampled at the voxel centres of ``grid`` (in the course's frame)."""
    return Volume(course.dose_at(grid.world_coordinates()), grid, "dose", "Gy")
