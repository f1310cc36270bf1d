"""sample_structure's geometry: the slab rule, holes and islands, oblique planes, refusals; values_at_points.

Volumes are worked out by hand (rectangles) or with an independent shoelace sum; the oblique
case compares with the analytic cylinder of tests/evaluation/cylinders.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from cylinders import Cylinder, analytic_metrics, linear_dose

from accumulate import GeometryError, Grid, InputError, Volume
from accumulate.evaluation import dvh_from_samples, sample_structure, values_at_points


def _rectangle(x0, y0, x1, y1, z, clockwise=False):
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
    if clockwise:
        corners = corners[::-1]
    return np.column_stack([corners, np.full(4, float(z))])


def _shoelace(contour) -> float:
    x, y = contour[:, 0], contour[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def test_hole_and_island_volumes_match_the_hand_computed_solid():
    # per plane: a 20 x 20 square with an 8 x 8 hole, and a separate 6 x 4 island: 400 - 64 + 24 = 360 mm^2
    planes = (0.0, 2.5, 5.0, 7.5)
    contours = []
    for z in planes:
        contours += [_rectangle(0, 0, 20, 20, z), _rectangle(6, 6, 14, 14, z, clockwise=z > 3), _rectangle(30, 0, 36, 4, z)]
    samples = sample_structure(contours, name="ring")
    assert samples.contour_volume_cc == pytest.approx(360 * 2.5 * 4 / 1000, rel=1e-12)  # four whole 2.5 mm slabs
    assert samples.total_cc == pytest.approx(360 * 2.5 * 4 / 1000, rel=1e-9)
    inside = samples.points_mm[samples.volumes_cc > 0]
    in_hole = (inside[:, 0] > 6) & (inside[:, 0] < 14) & (inside[:, 1] > 6) & (inside[:, 1] < 14)
    assert not in_hole.any()


@pytest.mark.parametrize("end_caps, thickness_mm", [("full", 10.0), ("half", 6.0)])
def test_slab_rule_with_a_gap(end_caps, thickness_mm):
    # planes 2 mm apart with a 6 mm gap (more than 1.5 x the median spacing): two parts
    # full: [-1, 5] and [9, 13] -> 10 mm; half: [0, 4] and [10, 12] -> 6 mm
    contours = [_rectangle(0, 0, 10, 5, z) for z in (0, 2, 4, 10, 12)]
    samples = sample_structure(contours, name="split", end_caps=end_caps)
    assert samples.total_cc == pytest.approx(50 * thickness_mm / 1000, rel=1e-9)
    z = samples.points_mm[samples.volumes_cc > 0, 2]
    assert not np.any((z > 5.0 + 1e-9) & (z < 9.0 - 1e-9))  # nothing in the gap


def test_volume_of_irregular_contours_matches_an_independent_shoelace_sum():
    rng = np.random.default_rng(7)
    contours = []
    for z in np.arange(0.0, 15.0, 3.0):
        angle = np.sort(rng.uniform(0, 2 * np.pi, 40))
        radius = 8 + rng.uniform(-2, 2, 40)  # star-shaped, so the polygon is simple
        contours.append(np.column_stack([radius * np.cos(angle), radius * np.sin(angle), np.full(40, z)]))
    expected = sum(_shoelace(c) for c in contours) * 3.0 / 1000
    samples = sample_structure(contours, name="blob")
    assert samples.total_cc == pytest.approx(expected, rel=1e-9)
    assert samples.contour_volume_cc == pytest.approx(expected, rel=1e-12)


def test_single_plane_needs_a_thickness():
    contour = [_rectangle(0, 0, 10, 10, 0.0)]
    with pytest.raises(GeometryError, match="single_plane_mm"):
        sample_structure(contour, name="flat")
    assert sample_structure(contour, name="flat", single_plane_mm=3.0).total_cc == pytest.approx(0.3)


def test_non_parallel_and_non_planar_contours_are_refused():
    tilted = _rectangle(0, 0, 10, 10, 3.0)
    tilted[:, 2] += 0.2 * tilted[:, 0]  # 2 mm across the contour
    with pytest.raises(GeometryError, match="planar and parallel"):
        sample_structure([_rectangle(0, 0, 10, 10, 0.0), tilted], name="bent")
    with pytest.raises(InputError, match="no closed contour"):
        sample_structure([np.zeros((2, 3))], name="line")


def _rotation(degrees_x: float, degrees_z: float) -> np.ndarray:
    ax, az = np.radians(degrees_x), np.radians(degrees_z)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ rx


def test_oblique_planes_are_sampled_in_their_own_frame():
    cylinder = Cylinder(6.0, (0.37, 0.81), tuple(np.arange(-15.0, 15.1, 3.0)))
    rotation = _rotation(35.0, 20.0)
    contours = [c @ rotation.T for c in cylinder.contours()]
    samples = sample_structure(contours, name="oblique cord")
    np.testing.assert_allclose(samples.normal, rotation[:, 2], atol=1e-9)
    # the same dose in the rotated frame: 40 Gy + 5 Gy/mm along the rotated x axis
    doses = linear_dose(samples.points_mm @ rotation[:, 0])
    h = dvh_from_samples(samples, doses)
    truth = analytic_metrics(cylinder, linear_dose)
    assert h.total_cc == pytest.approx(samples.contour_volume_cc, rel=1e-9)
    assert h.total_cc == pytest.approx(truth["volume_cc"], rel=0.002)
    for metric in ("Dmean", "D0.03cc", "D0.1cc", "Dmax"):
        assert h.metric(metric) == pytest.approx(truth[metric], rel=0.01), metric


def test_values_at_points_is_exact_for_a_linear_field_on_an_oblique_grid():
    direction = _rotation(10.0, 25.0)
    grid = Grid((12, 14, 16), (-20.0, -15.0, -10.0), (2.5, 2.0, 3.0), tuple(direction.reshape(-1)))
    gradient, offset = np.array([0.7, -1.3, 2.1]), 5.0
    field = Volume(offset + grid.world_coordinates() @ gradient, grid)
    rng = np.random.default_rng(3)
    index = rng.uniform(0, 1, (500, 3)) * (np.asarray(grid.shape) - 1)  # between the outer voxel centres
    points = grid.world_from_index(index)
    values, outside = values_at_points(field, points)
    assert not outside.any()
    np.testing.assert_allclose(values, offset + points @ gradient, atol=1e-9)


def test_values_at_points_clamps_the_outer_half_voxel_and_flags_points_beyond():
    grid = Grid((1, 1, 4), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))  # centres at x = 0, 2, 4, 6
    ramp = Volume(np.array([[[10.0, 20.0, 30.0, 40.0]]]), grid)
    points = np.array([[1.0, 0, 0], [-0.9, 0, 0], [6.9, 0, 0], [-1.1, 0, 0], [7.2, 0, 0], [3.0, 0.5, 0.9]])
    values, outside = values_at_points(ramp, points)
    np.testing.assert_array_equal(outside, [False, False, False, True, True, False])
    np.testing.assert_allclose(values[~outside], [15.0, 10.0, 40.0, 25.0])
    assert np.isnan(values[outside]).all()
    with pytest.raises(GeometryError, match=r"\(n, 3\)"):
        values_at_points(ramp, np.zeros((4, 2)))
