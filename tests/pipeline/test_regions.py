"""remaining_dose_regions against an analytic map: the contours lie on the level, on the images' planes."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate.geometry import Grid, Volume
from accumulate.io import ImageSeries
from accumulate.pipeline._regions import remaining_dose_regions


def _series(z_planes, spacing=0.7, size=30):
    """Axial images of ``size`` x ``size`` pixels of ``spacing`` mm from (-10, -10), one per z plane."""
    return ImageSeries("1.2.3", "1.2.4", "1.2.5", "1.2.840.10008.5.1.4.1.1.2", tuple(f"1.2.6.{k}" for k in range(len(z_planes))),
                       tuple((-10.0, -10.0, z) for z in z_planes), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (spacing, spacing),
                       size, size)  # fmt: skip


@pytest.fixture
def remaining():
    """2 |x - 0.3| Gy on a 1 mm grid (a linear ramp each side: trilinear sampling is exact), NaN (no limit) where y > 5."""
    grid = Grid((4, 25, 25), (-12.0, -12.0, -1.0), (1.0, 1.0, 1.0))
    points = grid.world_coordinates()
    values = 2 * np.abs(points[..., 0] - 0.3)
    values[points[..., 1] > 5] = np.nan
    return Volume(values, grid, "remaining_dose", "Gy")


def test_contours_trace_the_levels_of_the_map(remaining):
    series = _series([0.5, 1.5, 9.0])  # between dose planes; the last beyond the dose grid
    limited, avoid = remaining_dose_regions(remaining, 5, series)
    assert (limited.name, avoid.name) == ("limits apply", "remaining < 2 Gy/fx")
    assert {k for k, _ in limited.planes} == {k for k, _ in avoid.planes} == {0, 1}  # nothing where the dose grid is not
    for k, polygon in limited.planes + avoid.planes:
        assert np.allclose(polygon[:, 2], series.positions_mm[k][2])  # on the plane of image k
    # avoidance: 2 |x - 0.3| < 2 Gy/fx * 5 fx, i.e. |x - 0.3| < 5 mm, closed where the limit stops (y between 5 and 5.5)
    vertices = np.concatenate([p for _, p in avoid.planes])
    # exact below the last pixel row (y = 4.7) whose samples see no unlimited voxel, and off the first row (the ROI is cut there)
    inside = (vertices[:, 1] > -10 + 0.1) & (vertices[:, 1] < 4.7 - 0.01)
    np.testing.assert_allclose(np.abs(vertices[inside, 0] - 0.3), 5.0, atol=1e-9)
    assert vertices[:, 1].max() <= 5.5 + 1e-9 and vertices[:, 1].max() > 5.0
    # limits apply: the 0.5 level of the limited-voxel indicator, 1 up to y = 5 and 0 from y = 6. Sampled at the pixel
    # rows y = 5.4 (0.6) and 6.1 (0), marching squares puts it at 5.4 + 0.7 * 0.1 / 0.6, within 0.02 mm of y = 5.5
    edge = np.concatenate([p for _, p in limited.planes])
    top = edge[(edge[:, 1] > 0) & (np.abs(edge[:, 0]) < 9)]  # off the left and right edges of the images
    np.testing.assert_allclose(top[:, 1], 5.4 + 0.7 * 0.1 / 0.6, atol=1e-9)


def test_a_map_without_limits_gives_empty_regions(remaining):
    nothing = remaining.with_array(np.full(remaining.grid.shape, np.nan))
    limited, avoid = remaining_dose_regions(nothing, 5, _series([0.5]))
    assert limited.planes == [] and avoid.planes == []
