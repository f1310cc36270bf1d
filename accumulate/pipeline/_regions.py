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

from ..geometry import Volume
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
    # unlimited voxels at twice the level: the avoidance level is crossed at most halfway towards them,
    # so the avoidance ROI stays inside "limits apply" (whose edge is the 0.5 level of the indicator)
    filled = np.where(limited, values, 2 * level)
    planes: dict[str, list[tuple[int, np.ndarray]]] = {LIMITED_ROI: [], avoidance_roi_name(gy_per_fraction): []}
    for k in range(len(series.instance_uids)):
        points = series.pixel_centres(k)
        index = remaining.grid.index_from_world(points.reshape(-1, 3)).reshape(points.shape)
        inside = np.all((index >= -0.5) & (index <= np.asarray(remaining.grid.shape) - 0.5), axis=-1)
        window = _window(inside)
        if window is None:
            continue
        points = points[window]
        share = sample_linear(limited.astype(float), remaining.grid, points, outside=0.0)
        dose = sample_linear(filled, remaining.grid, points, outside=2 * level)
        for name, field in ((LIMITED_ROI, 0.5 - share), (avoidance_roi_name(gy_per_fraction), dose - level)):
            planes[name] += [(k, polygon) for polygon in _plane_contours(field, series, k, window)]
    limited_name, avoid_name = planes
    return [
        StructureROI(limited_name, planes[limited_name], _LIMITED_COLOUR, "CONTROL",
                     "a cumulative limit of this run applies here (outside: no limit)"),
        StructureROI(avoid_name, planes[avoid_name], _AVOID_COLOUR, "AVOIDANCE",
                     f"less than {gy_per_fraction:g} Gy per fraction remains ({level:g} Gy in {fractions:g} fx)"),
    ]  # fmt: skip
