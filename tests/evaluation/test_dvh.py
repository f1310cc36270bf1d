"""DVH metrics on phantoms whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate import Grid, InputError, Volume
from accumulate.evaluation import dvh, dvh_from_points


@pytest.fixture
def ramp():
    """100 voxels of 1 mm^3 (0.001 cc each) along x with doses 1, 2, ..., 100 Gy; mask = all of them."""
    grid = Grid((1, 1, 100), spacing_mm=(1, 1, 1))
    dose = Volume(np.arange(1.0, 101.0).reshape(grid.shape), grid)
    mask = Volume(np.ones(grid.shape, dtype=bool), grid, "mask", "1")
    return dose, mask


def test_simple_metrics(ramp):
    h = dvh(*ramp, "ramp")
    assert h.total_cc == pytest.approx(0.1)
    assert h.metric("Dmax") == 100 and h.metric("Dmin") == 1
    assert h.metric("Dmean") == pytest.approx(50.5)


def test_dose_at_volume(ramp):
    h = dvh(*ramp, "ramp")
    # the hottest 0.01 cc are the 10 voxels 91..100 Gy: their minimum is 91 Gy
    assert h.metric("D0.01cc") == 91
    assert h.metric("D0.0005cc") == 100  # smaller than one voxel: the hottest voxel
    assert h.metric("D50%") == 51  # hottest 50 voxels: 51..100
    assert h.metric("D100%") == 1
    with pytest.raises(InputError, match="more than the structure's 0.100 cc"):
        h.metric("D1cc")


def test_volume_at_dose(ramp):
    h = dvh(*ramp, "ramp")
    assert h.metric("V90Gy") == pytest.approx(0.011)  # 90..100 Gy: 11 voxels
    assert h.metric("V90Gy%") == pytest.approx(11.0)
    assert h.metric("V100.5Gy") == 0


def test_fractional_occupancy_weights_volume():
    grid = Grid((1, 1, 4), spacing_mm=(10, 10, 10))  # 1 cc voxels
    dose = Volume(np.array([[[10.0, 20.0, 30.0, 40.0]]]), grid)
    mask = Volume(np.array([[[1.0, 1.0, 0.5, 0.0]]], dtype=np.float32), grid, "mask", "1")
    h = dvh(dose, mask, "nerve")
    assert h.total_cc == pytest.approx(2.5)
    assert h.metric("Dmean") == pytest.approx((10 + 20 + 15) / 2.5)
    assert h.metric("Dmax") == 30


def test_cumulative_curve(ramp):
    bins, volume = dvh(*ramp, "ramp").cumulative_curve(bin_width_gy=10)
    np.testing.assert_allclose(bins, np.arange(0, 120, 10))
    # volume receiving >= b Gy: (101 - b) voxels for b >= 1, all 100 at 0 Gy
    np.testing.assert_allclose(volume, [0.1] + [(101 - b) * 0.001 for b in range(10, 101, 10)] + [0.0])


def test_sphere_in_linear_gradient_matches_analytic_dvh():
    # dose = z (mm) in a sphere of radius 20 mm: V(D >= z0) = pi (R - z0)^2 (2R + z0) / 3
    grid = Grid((81, 81, 81), origin_mm=(-20, -20, -20), spacing_mm=(0.5, 0.5, 0.5))
    zyx = grid.world_coordinates()
    inside = np.linalg.norm(zyx, axis=-1) <= 20
    h = dvh(Volume(zyx[..., 2] + 20.0, grid), Volume(inside, grid, "mask", "1"), "sphere")
    for z0 in (-9.75, 0.25, 10.25):  # thresholds between voxel planes (z centres are multiples of 0.5 mm)
        analytic_cc = np.pi * (20 - z0) ** 2 * (40 + z0) / 3 / 1000
        assert h.volume_at_dose(z0 + 20) == pytest.approx(analytic_cc, rel=0.01)


def test_empty_mask_names_the_structure(ramp):
    dose, mask = ramp
    with pytest.raises(InputError, match="structure 'Chiasm' has no voxel on the dose grid"):
        dvh(dose, mask.with_array(np.zeros(mask.grid.shape, dtype=bool)), "Chiasm")


def test_unknown_metric(ramp):
    with pytest.raises(InputError, match="unknown DVH metric 'D-max'"):
        dvh(*ramp).metric("D-max")


# --- structure-sampled (linear) DVHs -------------------------------------------------------------


@pytest.fixture
def points():
    """Four 1 cc samples at 10, 20, 30, 40 Gy and a zero-volume boundary point at 45 Gy.

    Nodes of the linear cumulative DVH (cc, Gy): (0, 45), (0.5, 40), (1.5, 30), (2.5, 20), (3.5, 10), (4, 10).
    """
    return dvh_from_points(np.array([20.0, 45.0, 10.0, 40.0, 30.0]), np.array([1.0, 0.0, 1.0, 1.0, 1.0]), "organ")


def test_point_dvh_metrics_by_hand(points):
    assert points.interpolation == "linear" and points.total_cc == 4.0
    assert points.metric("Dmax") == 45 and points.metric("Dmin") == 10
    assert points.metric("Dmean") == pytest.approx(25.0)  # the zero-volume point carries no weight
    assert points.metric("D1cc") == pytest.approx(35.0)  # halfway from (0.5, 40) to (1.5, 30)
    assert points.metric("D0.25cc") == pytest.approx(42.5)  # halfway from (0, 45) to (0.5, 40)
    assert points.metric("D50%") == pytest.approx(25.0)  # 2 cc: halfway from (1.5, 30) to (2.5, 20)
    assert points.metric("D100%") == pytest.approx(10.0)
    assert points.metric("V25Gy") == pytest.approx(2.0)
    assert points.metric("V25Gy%") == pytest.approx(50.0)
    assert points.metric("V10Gy") == pytest.approx(4.0)  # flat at 10 Gy from 3.5 to 4 cc: the largest volume
    assert points.metric("V46Gy") == 0.0


def test_point_dvh_dose_and_volume_are_inverse(points):
    for cc in (0.1, 0.7, 1.9, 3.2):
        assert points.volume_at_dose(points.dose_at_volume(cc)) == pytest.approx(cc)


def test_point_dvh_is_continuous_in_the_doses():
    volumes = np.full(200, 0.01)
    doses = np.linspace(60.0, 20.0, 200)
    before = dvh_from_points(doses, volumes, "organ")
    after = dvh_from_points(doses + 1e-9 * np.sin(np.arange(200)), volumes, "organ")  # reorders nothing
    for metric in ("D0.03cc", "D0.1cc", "D95%", "V40Gy"):
        assert after.metric(metric) == pytest.approx(before.metric(metric), abs=1e-6)


def test_coverage_of_a_prescription():
    # 10 samples of 1 cc at 57.5, 58.5, ..., 66.5 Gy; 95 % of a 60 Gy prescription is 57 Gy
    h = dvh_from_points(np.arange(57.5, 67.0, 1.0), np.ones(10), "PTV")
    assert h.metric("V95%Rx", prescription_gy=60.0) == pytest.approx(100.0)
    # 100 % of 60 Gy: the nodes (6.5 cc, 60.5 Gy) and (7.5 cc, 59.5 Gy) give 7 cc of 10
    assert h.metric("V100%Rx", prescription_gy=60.0) == pytest.approx(70.0)
    with pytest.raises(InputError, match="needs the prescription dose"):
        h.metric("V95%Rx")


def test_regions_of_a_point_dvh():
    doses = np.array([50.0, 40.0, 30.0, 20.0])
    regions = {"surface": np.array([True, False, False, True]), "core": np.array([False, False, True, False])}
    h = dvh_from_points(doses, np.ones(4), "cord", regions=regions)
    assert h.metric("surface Dmax") == 50.0 and h.metric("core Dmax") == 30.0
    assert h.metric("Surface Dmean") == pytest.approx(35.0)
    grid = Grid((1, 1, 4))
    grid_dvh = dvh(Volume(doses.reshape(1, 1, 4), grid), Volume(np.ones((1, 1, 4), bool), grid, "mask", "1"))
    with pytest.raises(InputError, match="no 'core' region"):
        grid_dvh.metric("core Dmax")


def test_point_dvh_refuses_doses_outside_the_grid():
    with pytest.raises(InputError, match="2 of 3 sample points have no dose"):
        dvh_from_points(np.array([1.0, np.nan, np.nan]), np.ones(3), "Chiasm")
    with pytest.raises(InputError, match="one per point"):
        dvh_from_points(np.ones(3), np.ones(2), "Chiasm")


def test_metric_names_coordinate_with_constraint_parsing():
    from accumulate.evaluation.constraints import parse_constraint_set

    table = {"constraint": [{"structure": "SpinalCord", "metric": m, "limit": 50.0} for m in ("core Dmax", "V95%Rx", "D0.05cc")]}
    assert [c.metric for c in parse_constraint_set(table).constraints] == ["core Dmax", "V95%Rx", "D0.05cc"]
