"""The grids of the demo case: CT and dose grids of each course, for each case size.

The reference CT puts the neck axis (x = y = 0) and z = 0 on voxel centres. The prior CT is
another scan: another origin and pixel size, thinner slices, a longer z range that holds
the whole reference CT once deformed. Dose grids are coarser than the CTs, lie inside them
and cover the body with a margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..geometry import Grid


@dataclass(frozen=True)
class CaseSize:
    """Sampling of one case size (shapes (nz, ny, nx), spacings (sx, sy, sz) mm)."""

    reference_shape: tuple[int, int, int]
    reference_spacing_mm: tuple[float, float, float]
    prior_shape: tuple[int, int, int]
    prior_spacing_mm: tuple[float, float, float]
    dose_spacing_mm: float
    contour_step_mm: float


SIZES = {
    "demo": CaseSize((48, 128, 128), (2.0, 2.0, 3.0), (64, 120, 120), (2.2, 2.2, 2.5), 3.0, 1.0),
    "test": CaseSize((30, 64, 64), (4.0, 4.0, 5.0), (31, 60, 60), (4.4, 4.4, 5.5), 4.0, 2.0),
}
PRIOR_CT_CENTRE_MM = (5.0, 3.0, 4.0)
"""LPS centre of the prior CT's field of view (the reference CT's is about the origin)."""
REFERENCE_DOSE_HALF_WIDTH_MM = (80.0, 70.0)
PRIOR_DOSE_HALF_WIDTH_MM = (86.0, 76.0)


def case_size(size: str) -> CaseSize:
    """The :class:`CaseSize` named ``size`` (``"demo"`` or ``"test"``)."""
    if size not in SIZES:
        raise InputError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    return SIZES[size]


def reference_ct_grid(size: CaseSize) -> Grid:
    """Axial grid whose voxel ``(nz // 2, ny // 2, nx // 2)`` is centred on the LPS origin."""
    n_xyz = np.asarray(size.reference_shape[::-1])
    origin = -(n_xyz // 2) * np.asarray(size.reference_spacing_mm)
    return Grid(size.reference_shape, tuple(origin), size.reference_spacing_mm)


def prior_ct_grid(size: CaseSize) -> Grid:
    """Axial grid centred on ``PRIOR_CT_CENTRE_MM``."""
    n_xyz = np.asarray(size.prior_shape[::-1])
    origin = np.asarray(PRIOR_CT_CENTRE_MM) - (n_xyz - 1) / 2 * np.asarray(size.prior_spacing_mm)
    return Grid(size.prior_shape, tuple(origin), size.prior_spacing_mm)


def dose_grid(ct: Grid, centre_xy_mm: tuple[float, float], half_width_xy_mm: tuple[float, float], spacing_mm: float) -> Grid:
    """Cubic voxels of ``spacing_mm``, centred in-plane on ``centre_xy_mm`` (half widths in mm) and in z on the CT.

    Raises :class:`InputError` unless the grid's outer edges lie within the CT's.
    """
    extent_z = ct.shape[0] * ct.spacing_mm[2]  # from the first slice's outer edge to the last one's
    n_z = int(np.floor(extent_z / spacing_mm + 1e-9))
    n_xy = [2 * int(np.floor(h / spacing_mm)) + 1 for h in half_width_xy_mm]
    origin = (
        centre_xy_mm[0] - (n_xy[0] - 1) / 2 * spacing_mm,
        centre_xy_mm[1] - (n_xy[1] - 1) / 2 * spacing_mm,
        ct.origin_mm[2] + (ct.shape[0] - 1) / 2 * ct.spacing_mm[2] - (n_z - 1) / 2 * spacing_mm,
    )
    grid = Grid((n_z, n_xy[1], n_xy[0]), origin, (spacing_mm,) * 3)
    if not np.all(ct.contains_world(grid.corners_world(), margin_voxels=0.501)):
        raise InputError(f"dose grid {grid.describe()} does not fit in the CT {ct.describe()}")
    return grid
