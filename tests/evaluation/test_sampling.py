"""Structure-sampled DVHs on analytic cylinders beside a steep gradient, against the grid-voxel DVH.

Truth comes from tests/evaluation/cylinders.py (one-dimensional integrals over the circle, no
package code). The dose grid is 3 mm; a cord (R = 6 mm) and an optic nerve (R = 2.5 mm) are
contoured on 3 mm planes, once with the hot-side vertex and the contour planes on dose-voxel
centres (the tie that splits voxel-centre tools) and once off them.
"""

from __future__ import annotations

import numpy as np
import pytest
from cylinders import CASES, GRADIENT_GY_PER_MM, PLANES_MM, Cylinder, analytic_metrics, dose_function, linear_dose

from accumulate import Grid, Volume
from accumulate.evaluation import dvh, dvh_from_samples, sample_structure, values_at_points
from accumulate.io._raster import rasterise

DOSE_GRID = Grid((31, 31, 31), (-45.0, -45.0, -45.0), (3.0, 3.0, 3.0))  # voxel centres on multiples of 3 mm
METRICS = ("volume_cc", "Dmean", "D0.03cc", "D0.1cc", "Dmax")


def _value(h, metric: str) -> float:
    return h.total_cc if metric == "volume_cc" else h.metric(metric)


def _sampled(cylinder: Cylinder, dose: Volume, **moves):
    samples = sample_structure(cylinder.contours(**moves), name="organ")
    values, outside = values_at_points(dose, samples.points_mm)
    assert not outside.any()
    return samples, dvh_from_samples(samples, values)


@pytest.mark.parametrize("kind", ["linear", "sigmoid"])
@pytest.mark.parametrize("case", list(CASES))
def test_small_organ_metrics_within_two_percent_of_the_continuous_truth(case, kind):
    cylinder = CASES[case]
    function = dose_function(kind, cylinder)
    dose = Volume(function(DOSE_GRID.world_coordinates()[..., 0]), DOSE_GRID)
    truth = analytic_metrics(cylinder, function)
    samples, sampled = _sampled(cylinder, dose)
    grid_dvh = dvh(dose, Volume(rasterise(cylinder.contours(), DOSE_GRID), DOSE_GRID, "mask", "1"), "organ")
    figures = []
    for metric in METRICS:
        ours = _value(sampled, metric)
        grid = _value(grid_dvh, metric) if metric != "D0.1cc" or grid_dvh.total_cc > 0.1 else np.nan
        figures.append(f"{metric} {100 * (ours / truth[metric] - 1):+.2f}% (grid {100 * (grid / truth[metric] - 1):+.1f}%)")
        assert ours == pytest.approx(truth[metric], rel=0.02), metric
    print(f"\n{case}, {kind} dose, r = {samples.resolution_mm:.2f} mm: " + "; ".join(figures))
    # the grid-voxel DVH of the same organ misses the near-maximum by far more
    worst_grid = max(abs(_value(grid_dvh, m) / truth[m] - 1) for m in ("D0.03cc", "Dmax"))
    worst_ours = max(abs(_value(sampled, m) / truth[m] - 1) for m in ("D0.03cc", "Dmax"))
    assert worst_ours < worst_grid


@pytest.mark.parametrize("case", list(CASES))
def test_no_jump_when_the_contour_moves_by_a_hundredth_of_a_mm(case):
    """Moved 0.01 mm (shifted, grown, or its planes shifted): every metric moves by the analytic change.

    Sample weights and positions move continuously with the contours; what is left is a new
    boundary cell entering with a tiny volume (a few hundredths of a Gy near the maximum) and
    the 0.5 % sampling error of near-maxima changing with the lattice's alignment. A grid-voxel
    DVH jumps by a whole voxel's dose difference (15 Gy here, see the next test).
    """
    cylinder = CASES[case]
    dose = Volume(linear_dose(DOSE_GRID.world_coordinates()[..., 0]), DOSE_GRID)
    _, before = _sampled(cylinder, dose)
    truth = analytic_metrics(cylinder, linear_dose)
    for moves in ({"dx_mm": 0.01}, {"dr_mm": 0.01}, {"dz_mm": 0.01}):
        _, after = _sampled(cylinder, dose, **moves)
        moved = analytic_metrics(cylinder, linear_dose, dx_mm=moves.get("dx_mm", 0.0), dr_mm=moves.get("dr_mm", 0.0))
        for metric in METRICS:
            expected = moved[metric] - truth[metric]  # 0.05 Gy for Dmax under a 0.01 mm shift at 5 Gy/mm
            change = _value(after, metric) - _value(before, metric)
            tolerance = {"volume_cc": 1e-4 * truth["volume_cc"], "Dmean": 0.01}.get(metric, 0.15)
            assert abs(change - expected) <= tolerance, (moves, metric, change, expected)


def test_the_grid_voxel_tie_the_issue_describes():
    """Vertices on voxel centres: a 0.01 mm change flips whole voxels in or out of the grid-voxel DVH."""
    cylinder = CASES["cord, vertices on voxel centres"]
    dose = Volume(linear_dose(DOSE_GRID.world_coordinates()[..., 0]), DOSE_GRID)

    def grid_dmax(dr):
        mask = rasterise(cylinder.contours(dr_mm=dr), DOSE_GRID)
        return dvh(dose, Volume(mask, DOSE_GRID, "mask", "1"), "cord").metric("Dmax")

    grid_jump = grid_dmax(0.01) - grid_dmax(-0.01)
    _, grown = _sampled(cylinder, dose, dr_mm=0.01)
    _, shrunk = _sampled(cylinder, dose, dr_mm=-0.01)
    ours_jump = grown.metric("Dmax") - shrunk.metric("Dmax")
    print(f"\nDmax change for a 0.02 mm change of radius: grid-voxel {grid_jump:.2f} Gy, sampled {ours_jump:.3f} Gy")
    assert grid_jump == pytest.approx(3.0 * GRADIENT_GY_PER_MM)  # one whole 3 mm voxel column at 5 Gy/mm
    assert ours_jump == pytest.approx(0.02 * GRADIENT_GY_PER_MM, abs=1e-6)


@pytest.mark.parametrize("radius, expected_mm", [(1.5, 0.3), (2.5, 0.5), (6.0, 1.0), (30.0, 1.0)])
def test_resolution_rule(radius, expected_mm):
    # a tenth of the diameter (4 A / P of a circle), clipped to [0.2, 1] mm
    samples = sample_structure(Cylinder(radius, (0.0, 0.0), PLANES_MM, vertices=256).contours(), name="c")
    assert samples.resolution_mm == pytest.approx(expected_mm, rel=0.002)


def test_point_cap_coarsens_large_structures():
    body = Cylinder(150.0, (0.0, 0.0), tuple(np.arange(-150.0, 150.1, 3.0)), vertices=400)
    samples = sample_structure(body.contours(), name="BODY", max_points=100_000)
    assert samples.resolution_mm > 5.0
    assert len(samples) <= 100_000
    assert samples.total_cc == pytest.approx(body.volume_cc, rel=0.002)


def test_surface_and_core_of_a_cord():
    cylinder = Cylinder(6.0, (0.37, 0.81), tuple(p + 1.1 for p in PLANES_MM), vertices=256, phase=0.5)
    samples = sample_structure(cylinder.contours(), name="cord")
    x = samples.points_mm[:, 0] - cylinder.centre_mm[0]
    rho = np.hypot(x, samples.points_mm[:, 1] - cylinder.centre_mm[1])
    z = samples.points_mm[:, 2]
    bottom, top = cylinder.planes_mm[0] - 1.5, cylinder.planes_mm[-1] + 1.5
    weighted = samples.volumes_cc > 0
    # core: the 3 mm disc around the axis through every plane's slab, volume exact
    assert samples.volumes_cc[samples.core].sum() == pytest.approx(np.pi * 1.5**2 * cylinder.length_mm / 1000, rel=1e-6)
    assert np.all(rho[samples.core] <= 1.5 * 1.001)
    assert np.all(rho[weighted & ~samples.core] >= 1.5 * 0.999)
    # surface: within r of the lateral surface or of the end faces (polygon sagitta 0.0005 mm aside)
    depth = samples.surface_mm
    distance = np.minimum(cylinder.radius_mm - rho, np.minimum(z - bottom, top - z))
    clear = np.abs(distance - depth) > 0.002
    np.testing.assert_array_equal(samples.surface[weighted & clear], (distance <= depth)[weighted & clear])
    boundary = ~weighted & ~samples.core  # zero-volume points on the contours and the end faces
    assert np.all(np.abs(distance[boundary]) < 1e-3) and np.all(samples.surface[boundary])
    assert np.all(rho[~weighted & samples.core] <= 1.5 * 1.001)  # the core's centre and circle
    # core and surface maxima of a linear dose: at the core's and the organ's hot edge
    dose = Volume(linear_dose(DOSE_GRID.world_coordinates()[..., 0]), DOSE_GRID)
    values, _ = values_at_points(dose, samples.points_mm)
    h = dvh_from_samples(samples, values)
    assert h.metric("core Dmax") == pytest.approx(float(linear_dose(cylinder.centre_mm[0] + 1.5)), abs=0.01)
    # boundary points at most r apart along the contour miss the hot edge by at most the sagitta r^2 / (8 R)
    sagitta_gy = GRADIENT_GY_PER_MM * samples.resolution_mm**2 / (8 * cylinder.radius_mm)
    assert h.metric("surface Dmax") == pytest.approx(float(linear_dose(cylinder.centre_mm[0] + 6.0)), abs=sagitta_gy)
    # jittered positions: the core's few hundred samples average to its axis within a few hundredths of a mm
    assert h.metric("core Dmean") == pytest.approx(float(linear_dose(cylinder.centre_mm[0])), abs=0.05 * GRADIENT_GY_PER_MM)


def test_core_of_an_organ_thinner_than_the_core_is_the_whole_organ():
    nerve = Cylinder(1.2, (0.0, 0.0), PLANES_MM)
    samples = sample_structure(nerve.contours(), name="nerve")
    weighted = samples.volumes_cc > 0
    assert samples.core[weighted].all()


def test_core_of_a_crescent_sits_inside_it():
    # a C shape: the centroid of the region falls in the opening, outside the organ
    angle = np.linspace(0.3 * np.pi, 1.7 * np.pi, 80)
    outer = np.stack([10 * np.cos(angle), 10 * np.sin(angle)], axis=1)
    inner = np.stack([6 * np.cos(angle[::-1]), 6 * np.sin(angle[::-1])], axis=1)
    crescent = np.concatenate([outer, inner])
    contours = [np.column_stack([crescent, np.full(len(crescent), z)]) for z in (0.0, 2.0, 4.0)]
    samples = sample_structure(contours, name="crescent")
    core = samples.points_mm[samples.core]
    rho = np.hypot(core[:, 0], core[:, 1])
    assert len(core) and np.all((rho > 6 - 1e-6) & (rho < 10 + 1e-6))
    assert np.ptp(np.arctan2(core[:, 1], core[:, 0])) < 0.5  # one spot, not smeared around the ring
