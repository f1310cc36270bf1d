"""DVH metrics on phantoms whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate import Grid, InputError, Volume
from accumulate.evaluation import dvh


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
