"""The remaining dose as regions a planner can optimise against: ROIs on the reference CT's images.

Each ROI is contoured on every image plane of the reference CT that the dose grid reaches: the
map is sampled trilinearly at the pixel centres and the level is traced by marching squares
(:func:`accumulate.io.level_contours`). The ROIs:

* ``limits apply``: where a cumulative limit of the run bounds the dose (the remaining dose is
  defined; outside it no limit applies);
* ``remaining < X Gy/fx``: where less than X Gy per fraction of the planned course remains
  (``AVOIDANCE_GY_PER_FRACTION``): an avoidance structure for the optimiser.
"""

from __future__ import annotations

import numpy as np

from ..geometry import Grid, Volume
from ..io import ImageSeries, StructureROI, level_contours
from ..registration import sample_linear

#: Less than this much dose per fraction left: the avoidance ROI (Gy per fraction of the planned course).
AVOIDANCE_GY_PER_FRACTION = 2.0
LIMITED_ROI = "limits apply"
_LIMITED_COLOUR, _AVOID_COLOUR = (255, 255, 0), (255, 0, 255)


def avoidance_roi_name(gy_per_fraction: float = AVOIDANCE_GY_PER_FRACTION) -> str:
    return f"remaining < {gy_per_fraction:g} Gy/fx"


def _plane_contours(values: np.ndarray, series: ImageSeries, index: int, window: tuple[slice, slice]) -> list[np.ndarray]:
    """Closed polygons (n, 3) LPS mm around ``values < 0`` on image ``index`` (values on the pixel window)."""
    rows, cols = window
    y = np.arange(rows.start, rows.stop) * series.pixel_spacing_mm[0]
    x = np.arange(cols.start, cols.stop) * series.pixel_spacing_mm[1]
    origin = np.asarray(series.positions_mm[index])
    row_dir, col_dir = np.asarray(series.orientation[:3]), np.asarray(series.orientation[3:])
    return [origin + p[:, :1] * row_dir + p[:, 1:] * col_dir for p in level_contours(values, x, y)]


def _near_pixels(series: ImageSeries, k: int, grid: Grid, near: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Which pixels of image ``k`` have their centre's index on ``grid`` within ``near`` (low, high), per (z, y, x) axis."""
    origin = grid.index_from_world(np.zeros(3))
    first = grid.index_from_world(np.asarray(series.positions_mm[k]))
    row_dir, col_dir = np.asarray(series.orientation[:3]), np.asarray(series.orientation[3:])
    per_column = grid.index_from_world(row_dir * series.pixel_spacing_mm[1]) - origin
    per_row = grid.index_from_world(col_dir * series.pixel_spacing_mm[0]) - origin
    rows, columns = np.arange(series.rows)[:, None], np.arange(series.columns)[None, :]
    inside = np.ones((series.rows, series.columns), dtype=bool)
    for axis in range(3):  # the index is affine in (row, column): one axis at a time, no (rows, columns, 3) array
        index = first[axis] + rows * per_row[axis] + columns * per_column[axis]
        inside &= (index >= near[0][axis]) & (index <= near[1][axis])
    return inside


def _window(inside: np.ndarray) -> tuple[slice, slice] | None:
    """The pixel rows and columns of ``inside`` (a 2-D mask) with one pixel of margin, or None when empty."""
    if not inside.any():
        return None
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    n_rows, n_cols = inside.shape
    return slice(max(rows[0] - 1, 0), min(rows[-1] + 2, n_rows)), slice(max(cols[0] - 1, 0), min(cols[-1] + 2, n_cols))


def remaining_dose_regions(
    remaining: Volume, fractions: float, series: ImageSeries, *, gy_per_fraction: float = AVOIDANCE_GY_PER_FRACTION
) -> list[StructureROI]:
    """The ``limits apply`` and avoidance ROIs of a remaining-dose map, on the images of ``series``.

    Parameters
    ----------
    remaining : Volume
        Largest additional dose per voxel (Gy) in ``fractions`` fractions, NaN where no limit applies.
    fractions : float
        Fractions of the planned course; the avoidance level is ``gy_per_fraction * fractions`` Gy.
    series : ImageSeries
        The reference CT's images, in the remaining dose's frame of reference.
    """
    values = np.asarray(remaining.to_numpy().array, dtype=float)
    limited = np.isfinite(values)
    level = gy_per_fraction * fractions
    planes: dict[str, list[tuple[int, np.ndarray]]] = {LIMITED_ROI: [], avoidance_roi_name(gy_per_fraction): []}
    if limited.any():
        # unlimited voxels at twice the level: the avoidance level is crossed at most halfway towards them,
        # so the avoidance ROI stays inside "limits apply" (whose edge is the 0.5 level of the indicator)
        both = np.stack([limited.astype(float), np.where(limited, values, 2 * level)], axis=-1)
        found = np.argwhere(limited)
        near = (found.min(axis=0) - 1, found.max(axis=0) + 1)  # both contours lie within a voxel of a limited voxel
        for k in range(len(series.instance_uids)):
            window = _window(_near_pixels(series, k, remaining.grid, near))
            if window is None:
                continue
            points = series.pixel_centres(k, *window)
            share, dose = np.moveaxis(sample_linear(both, remaining.grid, points, outside=np.nan), -1, 0)
            fields = (0.5 - np.nan_to_num(share, nan=0.0), np.nan_to_num(dose, nan=2 * level) - level)
            for name, field in zip(planes, fields, strict=True):
                planes[name] += [(k, polygon) for polygon in _plane_contours(field, series, k, window)]
    limited_name, avoid_name = planes
    return [
        StructureROI(limited_name, planes[limited_name], _LIMITED_COLOUR, "CONTROL",
                     "a cumulative limit of this run applies here (outside: no limit)"),
        StructureROI(avoid_name, planes[avoid_name], _AVOID_COLOUR, "AVOIDANCE",
                     f"less than {gy_per_fraction:g} Gy per fraction remains ({level:g} Gy in {fractions:g} fx)"),
    ]  # fmt: skip
