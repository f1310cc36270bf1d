"""Quality measures against analytic answers: affine Jacobians, exact inverses, offset cubes, known landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accumulate import DisplacementField, GeometryError, Grid, InputError, Volume
from accumulate.registration import (
    Tolerances,
    assess,
    compose,
    dice,
    inverse_consistency_error,
    invert,
    jacobian_determinant,
    read_elastix_points,
    target_registration_error,
    warp_mask,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "elastix-lung"
# an oblique grid: x along LPS y, y along LPS x, z along -z; anisotropic spacing
OBLIQUE = Grid((12, 14, 16), origin_mm=(-20.0, 10.0, 35.0), spacing_mm=(2.0, 2.5, 3.0), direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))


def affine_field(grid: Grid, matrix: np.ndarray, shift: np.ndarray) -> DisplacementField:
    """u(p) = (A - I) p + t, so the moving point is A p + t."""
    p = grid.world_coordinates()
    return DisplacementField(p @ (matrix - np.eye(3)).T + shift, grid)


A = np.array([[1.10, 0.05, 0.00], [-0.02, 0.95, 0.03], [0.01, 0.00, 1.20]])
T = np.array([3.0, -2.0, 1.5])


@pytest.mark.parametrize("grid", [Grid((10, 11, 12), spacing_mm=(1.0, 1.5, 2.0)), OBLIQUE], ids=["axial", "oblique"])
def test_jacobian_of_affine_field_is_det_a(grid):
    # cofactor expansion along the first row: 1.10 (0.95 * 1.20 - 0.03 * 0) - 0.05 (-0.02 * 1.20 - 0.03 * 0.01)
    expected = 1.255215
    jac = jacobian_determinant(affine_field(grid, A, T)).array
    np.testing.assert_allclose(jac, expected, rtol=2e-6)  # computed in float32 (documented: about 1e-6)


def test_jacobian_of_sinusoid_matches_the_derivative():
    # u = (a sin(k x), 0, 0): J = 1 + a k cos(k x); central differences err by O((k h)^2)
    grid = Grid((3, 3, 200), spacing_mm=(0.5, 1.0, 1.0))
    x = grid.world_coordinates()[..., 0]
    a, k = 2.0, 2 * np.pi / 40.0
    u = np.zeros(grid.shape + (3,))
    u[..., 0] = a * np.sin(k * x)
    jac = jacobian_determinant(DisplacementField(u, grid)).array
    inner = jac[:, :, 1:-1]
    np.testing.assert_allclose(inner, (1 + a * k * np.cos(k * x))[:, :, 1:-1], atol=a * k * (k * 0.5) ** 2)


def test_folding_field_has_negative_jacobian_and_is_located():
    # u_x = -1.5 clip(x, 8, 12): central differences give J = 1 - 1.5 = -0.5 at x = 9, 10, 11
    # and J = 1 - 0.75 = 0.25 at x = 8 and 12 (half the step falls in the slab)
    grid = Grid((6, 6, 20))
    x = grid.world_coordinates()[..., 0]
    u = np.zeros(grid.shape + (3,))
    u[..., 0] = -1.5 * np.clip(x, 8, 12)
    report = assess(DisplacementField(u, grid), oars={"cord": Volume(x >= 9, grid, "mask", "1")})
    jac = jacobian_determinant(DisplacementField(u, grid)).array
    assert jac[:, :, 9:12].max() == pytest.approx(-0.5)
    check = next(c for c in report.checks if c.name == "folding")
    assert jac[:, :, 8].min() == pytest.approx(0.25) and jac[:, :, 12].min() == pytest.approx(0.25)
    assert check.values["folded_voxels"] == 6 * 6 * 3
    assert check.values["folded_bbox_lps_mm"] == [[9.0, 0.0, 0.0], [11.0, 5.0, 5.0]]
    assert check.values["folded_voxels_in_oars"] == {"cord": 108}
    assert check.verdict == "fail" and check.value == 108 and "cord" in report.warnings[0] and report.verdict == "fail"
    # the range check: J = -0.5 is below 0.5; 6 x 6 x 5 voxels (x = 8..12: -0.5 and 0.25) lie outside 0.5-2
    jac_range = next(c for c in report.checks if c.name == "jacobian_range")
    assert jac_range.verdict == "fail" and jac_range.values["voxels_outside"] == 6 * 6 * 5
    assert jac_range.value == pytest.approx(-0.5)


def test_field_composed_with_its_analytic_inverse_is_zero():
    forward = affine_field(OBLIQUE, A, T)
    moving_grid = Grid((25, 25, 25), origin_mm=(-30.0, -30.0, -10.0), spacing_mm=(3.0, 3.0, 3.0))
    a_inv = np.linalg.inv(A)
    backward = affine_field(moving_grid, a_inv, -a_inv @ T)  # q -> A^-1 (q - t)
    error = inverse_consistency_error(forward, backward).array
    inside = np.isfinite(error)
    assert inside.mean() > 0.5
    np.testing.assert_allclose(error[inside], 0.0, atol=1e-9)
    # a wrong inverse (shift off by 1 mm along y) gives exactly 1 mm everywhere
    off = DisplacementField(backward.array + np.array([0.0, 1.0, 0.0]), moving_grid)
    np.testing.assert_allclose(inverse_consistency_error(forward, off).array[inside], 1.0, atol=1e-9)


def test_numerical_inverse_matches_the_analytic_one():
    grid = Grid((16, 16, 16), origin_mm=(-24.0, -24.0, -24.0), spacing_mm=(3.0, 3.0, 3.0))
    small = np.array([[1.05, 0.02, 0.0], [0.0, 0.97, 0.01], [0.02, 0.0, 1.03]])
    forward = affine_field(grid, small, np.array([1.0, 0.5, -1.0]))
    inverse = invert(forward, grid)
    expected = affine_field(grid, np.linalg.inv(small), -np.linalg.inv(small) @ np.array([1.0, 0.5, -1.0]))
    inside = np.isfinite(inverse.array).all(axis=-1)
    assert inside.mean() > 0.6
    np.testing.assert_allclose(inverse.array[inside], expected.array[inside], atol=1e-3)
    np.testing.assert_allclose(np.nan_to_num(compose(inverse, forward).array[inside]), 0.0, atol=1e-3)


def test_tre_of_a_translation():
    grid = Grid((10, 10, 10))
    field = DisplacementField(np.broadcast_to([2.0, -1.0, 0.5], grid.shape + (3,)).copy(), grid)
    fixed = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.5, 2.5, 1.0]])
    errors = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, -2.0]])
    tre = target_registration_error(field, fixed, fixed + [2.0, -1.0, 0.5] + errors)
    np.testing.assert_allclose(tre, [0.0, 5.0, 2.0], atol=1e-12)
    assert np.isnan(target_registration_error(field, [[50.0, 0, 0]], [[52.0, -1, 0.5]])[0])
    with pytest.raises(InputError, match="differ in size"):
        target_registration_error(field, fixed, fixed[:2])


def test_dice_of_identical_and_offset_cubes():
    grid = Grid((30, 30, 30))
    a = np.zeros(grid.shape, bool)
    b = np.zeros(grid.shape, bool)
    a[5:15, 5:15, 5:15] = True
    b[5:15, 5:15, 8:18] = True  # 10-voxel cubes offset by 3 along x: Dice = (10 - 3) / 10
    assert dice(a, a) == 1.0
    assert dice(a, b) == pytest.approx(0.7)
    assert dice(a, np.zeros_like(a)) == 0.0
    with pytest.raises(GeometryError):
        dice(Volume(a, grid, "mask", "1"), Volume(a[:, :, :20], Grid((30, 30, 20)), "mask", "1"))


def test_propagated_mask_follows_a_translation_and_scores_dice():
    grid = Grid((30, 30, 30))
    moving = np.zeros(grid.shape, bool)
    moving[5:15, 5:15, 8:18] = True  # the structure sits 3 mm further along x in the moving CT
    fixed = np.zeros(grid.shape, bool)
    fixed[5:15, 5:15, 5:15] = True
    shift = DisplacementField(np.broadcast_to([3.0, 0.0, 0.0], grid.shape + (3,)).copy(), grid)
    propagated = warp_mask(Volume(moving, grid, "mask", "1"), shift)
    np.testing.assert_array_equal(propagated, fixed)
    pair = (Volume(fixed, grid, "mask", "1"), Volume(moving, grid, "mask", "1"))
    report = assess(DisplacementField.identity(grid), structures={"gtv": pair})
    check = report.checks[-1]
    assert (
        check.values["dice"] == pytest.approx(0.7)
        and check.verdict == "fail"
        and check.threshold == "Dice >= 0.8 for structures >= 3 voxels thick"
    )
    lenient = assess(DisplacementField.identity(grid), structures={"gtv": pair}, tolerances=Tolerances(dice_min=0.65))
    assert lenient.checks[-1].verdict == "pass" and lenient.verdict == "pass"


def test_read_elastix_points_in_mm_and_in_voxels(tmp_path):
    points = read_elastix_points(DATA / "3DCT_lung_baseline_landmarks.txt")
    assert points.shape == (100, 3)
    np.testing.assert_allclose(points[0], [-36.351, -36.974, -1204.5])
    index_file = tmp_path / "index.txt"
    index_file.write_text("index\n2\n0 0 0\n3 2 1\n")
    # index (3, 2, 1) -> LPS offset D @ (3 * 2.0, 2 * 2.5, 1 * 3.0) = (5, 6, -3) mm
    np.testing.assert_allclose(read_elastix_points(index_file, OBLIQUE), [[-20.0, 10.0, 35.0], [-15.0, 16.0, 32.0]])
    with pytest.raises(InputError, match="grid"):
        read_elastix_points(index_file)
    bad = tmp_path / "bad.txt"
    bad.write_text("point\n3\n1 2 3\n")
    with pytest.raises(InputError, match="announces 3 points"):
        read_elastix_points(bad)


def test_large_inconsistency_inside_an_organ_at_risk_is_warned_about(caplog):
    forward = affine_field(OBLIQUE, A, T)
    moving_grid = Grid((25, 25, 25), origin_mm=(-30.0, -30.0, -10.0), spacing_mm=(3.0, 3.0, 3.0))
    a_inv = np.linalg.inv(A)
    # the backward field misses the inverse by 6 mm along z: the loop error is 6 mm everywhere
    backward = affine_field(moving_grid, a_inv, -a_inv @ T + [0.0, 0.0, 6.0])
    inside = np.isfinite(inverse_consistency_error(forward, backward).array)
    oar = Volume(inside, OBLIQUE, "mask", "1")
    report = assess(forward, region=oar, backward=backward, oars={"brainstem": oar})
    check = next(c for c in report.checks if c.name == "inverse_consistency")
    assert check.values["p95_mm"] == pytest.approx(6.0) and check.verdict == "fail"
    assert check.values["oars"]["brainstem"]["mean_mm"] == pytest.approx(6.0)
    assert report.warnings == ["LARGE INVERSE-CONSISTENCY ERROR INSIDE ORGAN AT RISK 'brainstem': 95th percentile 6.0 mm"]
    assert "brainstem" in caplog.text
