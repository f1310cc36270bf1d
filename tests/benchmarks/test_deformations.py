"""The benchmark's deformation generator (``benchmarks/deformations.py``) at test size.

Its own properties are checked against what the construction implies (amplitude, the Gaussian
autocorrelation of Gaussian-filtered white noise, no folding, the moving image following the field),
then the fast preset with body masks (as the pipeline registers) must recover a 30 mm field.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from deformations import Deformation, deform, gradient_regions, smooth_random_field  # noqa: E402

from accumulate.registration import body_mask, jacobian_determinant, read_image, register, sample_linear  # noqa: E402

SMALL_CT = ROOT / "tests" / "data" / "elastix-lung" / "3DCT_lung_baseline_small.mha"


@pytest.fixture(scope="module")
def small_ct():
    return read_image(SMALL_CT)


def test_random_field_has_the_stated_correlation_length():
    # Gaussian-filtered white noise with filter sigma s has autocorrelation exp(-d^2 / (4 s^2)); s = L / 2 gives
    # exp(-d^2 / L^2): 1/e at the correlation length L, exp(-1/4) at L / 2.
    spacing, length = (2.0, 2.0, 2.0), 20.0
    u = smooth_random_field((80, 80, 80), spacing, length, np.random.default_rng(3))
    assert np.allclose(u.reshape(-1, 3).std(axis=0), 1.0)
    x = u[..., 0] - u[..., 0].mean()
    for lag_mm, expected in ((length / 2, np.exp(-0.25)), (length, np.exp(-1.0)), (2 * length, np.exp(-4.0))):
        lag = int(lag_mm / spacing[0])
        corr = np.mean(x[:, :, :-lag] * x[:, :, lag:]) / np.mean(x * x)
        assert corr == pytest.approx(expected, abs=0.08), lag_mm


def test_case_has_the_amplitude_no_folding_and_the_moving_image_follows_the_field(small_ct):
    case = deform(small_ct, Deformation(correlation_mm=30.0, amplitude_mm=6.0, noise_hu=0.0, seed=4))
    u = np.asarray(case.true_field.array, float)
    assert np.linalg.norm(u[case.body], axis=-1).max() == pytest.approx(6.0, rel=1e-5)  # no rigid part: the smooth one
    assert jacobian_determinant(case.true_field).array[case.body].min() > 0.3
    assert case.inverse_residual_mm < 0.5
    # moving(p + u(p)) = fixed(p) where the moving point stays well inside: up to trilinear interpolation of the CT
    grid = small_ct.grid
    inside = case.body & grid.contains_world(case.true_field.moving_points(), margin_voxels=-3.0)
    pulled = sample_linear(case.moving.array, grid, case.true_field.moving_points()[inside])
    difference = np.abs(pulled - np.asarray(small_ct.array, float)[inside])
    assert np.median(difference) < 30.0  # HU; soft tissue contrast is about 50-100 HU, lung-tissue 800
    # intensity changes: weight loss adds fat outside the fixed body; the bolus raises soft tissue
    changed = deform(small_ct, Deformation(correlation_mm=30.0, amplitude_mm=0.0, noise_hu=0.0, bolus_hu=150.0,
                                           weight_loss_mm=5.0, seed=4))  # fmt: skip
    rim = ~changed.body & (np.asarray(changed.moving.array) == -100.0)
    assert rim.sum() > 100
    assert (np.asarray(changed.moving.array) - np.asarray(small_ct.array)).max() > 100.0
    with pytest.raises(ValueError, match="folds"):
        deform(small_ct, Deformation(correlation_mm=10.0, amplitude_mm=10.0, seed=4))


@pytest.mark.slow
def test_fast_preset_with_body_masks_recovers_a_30mm_field(small_ct, tmp_path):
    # Measured at this size (2.7 x 2.7 x 5 mm, 2 threads): mean 1.50 mm, p95 3.46 mm in the body (issue
    # 21); the bound (2.0 / 4.5 mm) leaves about 30 % margin. The unregistered error (the field itself) is several times larger.
    case = deform(small_ct, Deformation(correlation_mm=30.0, amplitude_mm=6.0, rotation_deg=(1.0, -1.0, 2.0),
                                        translation_mm=(4.0, -3.0, 5.0), noise_hu=20.0, bolus_hu=150.0,
                                        shrink_fraction=0.15, weight_loss_mm=5.0, seed=30))  # fmt: skip
    grid = small_ct.grid
    body = case.body & grid.contains_world(case.true_field.moving_points(), margin_voxels=-10.0 / max(grid.spacing_mm))
    found = register(small_ct, case.moving, preset="fast", fixed_mask=body_mask(small_ct), moving_mask=body_mask(case.moving),
                     output_directory=tmp_path, threads=2, progress=lambda line: None)  # fmt: skip
    error = np.linalg.norm(np.asarray(found.field.array, float) - np.asarray(case.true_field.array, float), axis=-1)
    before = np.linalg.norm(np.asarray(case.true_field.array, float), axis=-1)[body]
    high, low = gradient_regions(small_ct, body)
    print(
        f"before {before.mean():.2f}; body {error[body].mean():.2f} / {np.percentile(error[body], 95):.2f} mm; "
        f"high {error[high].mean():.2f}, low {error[low].mean():.2f}"
    )
    assert np.percentile(error[body], 95) <= 4.5 and error[body].mean() <= 2.0
    assert error[body].mean() <= 0.25 * before.mean()
