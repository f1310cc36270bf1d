"""LQ functions against values worked out by hand and published examples, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accumulate as acc
from accumulate import Grid, InputError, Volume


# --- values worked out by hand ------------------------------------------------------------------
def test_40gy_in_5_to_alpha_beta_3_is_88gy_eqd2(any_backend):
    # d = 8 Gy: EQD2 = 40 (3 + 8) / (3 + 2) = 88 Gy
    assert acc.eqd2(40.0, 5, 3.0, backend=any_backend) == pytest.approx(88.0, rel=1e-12)


def test_70gy_in_35_to_alpha_beta_10_is_84gy_bed(any_backend):
    # BED = 70 (1 + 2/10) = 84 Gy
    assert acc.bed(70.0, 35, 10.0, backend=any_backend) == pytest.approx(84.0, rel=1e-12)


@pytest.mark.parametrize("alpha_beta", [1.5, 3.0, 10.0])
def test_2gy_fractions_are_their_own_eqd2(any_backend, alpha_beta):
    assert acc.eqd2(60.0, 30, alpha_beta, backend=any_backend) == pytest.approx(60.0, rel=1e-12)


def test_eqdx_for_1p8_gy_reference(any_backend):
    # 70 Gy in 35 (2 Gy) to alpha/beta 3, normalised to 1.8 Gy fractions: 70 * 5 / 4.8 = 72.9167 Gy
    assert acc.eqd2(70.0, 35, 3.0, ref_dose=1.8, backend=any_backend) == pytest.approx(70 * 5 / 4.8, rel=1e-12)


def test_fowler_textbook_example(any_backend):
    # 20 Gy in 5 fractions, alpha/beta 10: BED = 20 (1 + 4/10) = 28 Gy, EQD2 = 28 / 1.2 = 23.33 Gy
    assert acc.bed(20.0, 5, 10.0, backend=any_backend) == pytest.approx(28.0, rel=1e-12)
    assert acc.eqd2(20.0, 5, 10.0, backend=any_backend) == pytest.approx(70 / 3, rel=1e-12)


def test_rbe_factor_weights_the_physical_dose(any_backend):
    # protons, RBE 1.1: 54 Gy physical in 30 fractions = 59.4 Gy(RBE), d = 1.98; EQD2 (a/b 2) = 59.4 * 3.98 / 4
    assert acc.eqd2(54.0, 30, 2.0, rbe=1.1, backend=any_backend) == pytest.approx(59.4 * 3.98 / 4, rel=1e-12)


def test_rbe_weighted_volume_keeps_its_unit_and_refuses_a_second_factor():
    grid = Grid((1, 1, 2))
    carbon = Volume(np.array([[[48.0, 0.0]]]), grid, "dose", "Gy(RBE)")  # e.g. 16 x 3 Gy(RBE) carbon ions
    result = acc.eqd2(carbon, 16, 2.0, backend="numpy")
    assert result.unit == "Gy(RBE)" and result.quantity == "eqd2"
    assert result.array[0, 0, 0] == pytest.approx(48 * 5 / 4)  # d = 3: 48 (2 + 3) / 4 = 60
    with pytest.raises(InputError, match="already RBE-weighted"):
        acc.eqd2(carbon, 16, 2.0, rbe=3.0, backend="numpy")


def test_max_additional_dose_by_hand(any_backend):
    # 45 Gy EQD2 left, a/b 3, 5 fractions: BED = 75, D^2/15 + D - 75 = 0 -> D = (-1 + sqrt(21)) * 7.5
    expected = (-1 + np.sqrt(21)) * 7.5
    assert acc.max_additional_dose(45.0, 5, 3.0, backend=any_backend) == pytest.approx(expected, rel=1e-12)
    # and it is the inverse: 88 Gy EQD2 in 5 fractions to a/b 3 is 40 Gy
    assert acc.max_additional_dose(88.0, 5, 3.0, backend=any_backend) == pytest.approx(40.0, rel=1e-12)


def test_max_additional_dose_clips_at_zero_and_keeps_nan(any_backend):
    out = acc.max_additional_dose(np.array([-5.0, 0.0, np.nan]), 3, 2.0, backend=any_backend)
    assert out[0] == 0 and out[1] == 0 and np.isnan(out[2])


def test_per_voxel_alpha_beta_volume(any_backend):
    grid = Grid((1, 2, 2))
    dose = Volume(np.full(grid.shape, 40.0), grid)
    ab = Volume(np.array([[[3.0, 10.0], [2.0, 40.0]]]), grid, "alpha_beta", "Gy")
    out = acc.eqd2(dose, 5, ab, backend=any_backend)
    assert isinstance(out, Volume) and out.grid == grid
    np.testing.assert_allclose(out.array.ravel(), [88.0, 40 * 18 / 12, 40 * 10 / 4, 40 * 48 / 42], rtol=1e-12)


def test_float32_stays_float32(any_backend):
    out = acc.eqd2(np.array([40.0, 8.0], dtype=np.float32), 5, np.float32(3.0), backend=any_backend)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [88.0, 8 * (3 + 1.6) / 5], rtol=1e-6)


# --- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "dose, fractions, alpha_beta, message",
    [
        (np.array([1.0, -0.5]), 5, 3.0, r"dose must be >= 0.0 everywhere; 1 values are not \(smallest -0.5"),
        (np.array([1.0, np.nan]), 5, 3.0, "dose contains 1 NaN or infinite values"),
        (np.array([1.0, np.inf]), 5, 3.0, "dose contains 1 NaN or infinite"),
        (10.0, 0, 3.0, "fractions must be finite and > 0, got 0"),
        (10.0, float("nan"), 3.0, "fractions must be finite and > 0"),
        (10.0, 5, 0.0, "alpha_beta must be > 0.0 everywhere"),
        (10.0, 5, -2.0, "alpha_beta must be > 0.0 everywhere"),
        (np.ones(3), 5, np.ones(4), r"alpha_beta has shape \(4,\) but dose has shape \(3,\)"),
    ],
)
def test_bad_input_is_named(dose, fractions, alpha_beta, message):
    with pytest.raises(InputError, match=message):
        acc.eqd2(dose, fractions, alpha_beta, backend="numpy")


def test_voxel_of_bad_dose_is_reported():
    dose = np.zeros((2, 3, 4))
    dose[1, 2, 3] = -1
    with pytest.raises(InputError, match=r"first at voxel \(z,y,x\)=\(.*1.*2.*3.*\)"):
        acc.eqd2(dose, 5, 3.0, backend="numpy")


def test_mismatched_grids_are_refused():
    dose = Volume(np.ones((2, 2, 2)), Grid((2, 2, 2)))
    ab = Volume(np.full((2, 2, 2), 3.0), Grid((2, 2, 2), spacing_mm=(2, 2, 2)), "alpha_beta", "Gy")
    with pytest.raises(acc.GeometryError, match="dose and alpha_beta are on different grids"):
        acc.eqd2(dose, 5, ab, backend="numpy")


def test_unknown_backend_names_the_choices():
    with pytest.raises(acc.BackendUnavailable, match="unknown backend 'cuda'.*'cuda-host'"):
        acc.eqd2(1.0, 1, 3.0, backend="cuda")


# --- properties ---------------------------------------------------------------------------------
doses = st.floats(0.0, 120.0)
fractions = st.integers(1, 45)
alpha_betas = st.floats(0.5, 20.0)


@settings(max_examples=200, deadline=None)
@given(doses, fractions, alpha_betas, st.sampled_from([1.8, 2.0, 3.0]))
def test_inverse_round_trips(dose, n, alpha_beta, ref):
    equivalent = acc.eqd2(dose, n, alpha_beta, ref_dose=ref, backend="numpy")
    assert acc.max_additional_dose(equivalent, n, alpha_beta, ref_dose=ref, backend="numpy") == pytest.approx(
        dose, rel=1e-9, abs=1e-9
    )


@settings(max_examples=200, deadline=None)
@given(doses, st.floats(0.01, 30.0), fractions, alpha_betas)
def test_monotone_in_dose_and_fractions(dose, extra, n, alpha_beta):
    assert acc.eqd2(dose + extra, n, alpha_beta, backend="numpy") > acc.eqd2(dose, n, alpha_beta, backend="numpy")
    # the same total dose in more fractions is less effective (when the quadratic term is representable)
    if dose > 1e-3:
        assert acc.eqd2(dose, n + 1, alpha_beta, backend="numpy") < acc.eqd2(dose, n, alpha_beta, backend="numpy")


@pytest.mark.backend("numba", "cuda-host")
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([np.float64, np.float32]), st.integers(1, 40))
def test_fast_backends_agree_with_reference(seed, dtype, n):
    rng = np.random.default_rng(seed)
    dose = rng.uniform(0, 80, size=257).astype(dtype)
    ab = rng.uniform(0.5, 15, size=257).astype(dtype)
    rtol = 1e-9 if dtype == np.float64 else 1e-5
    reference = acc.eqd2(dose, n, ab, ref_dose=1.8, backend="numpy")
    headroom = acc.max_additional_dose(reference - 30, n, ab, backend="numpy")
    for backend in ("numba", "cuda-host"):
        np.testing.assert_allclose(acc.eqd2(dose, n, ab, ref_dose=1.8, backend=backend), reference, rtol=rtol, atol=0)
        np.testing.assert_allclose(
            acc.max_additional_dose(reference - 30, n, ab, backend=backend), headroom, rtol=rtol, atol=1e-30
        )


@pytest.mark.gpu
def test_cupy_keeps_data_on_the_device():
    import cupy

    dose = cupy.asarray(np.linspace(0, 70, 1000))
    out = acc.eqd2(dose, 35, 3.0, backend="cupy")
    assert isinstance(out, cupy.ndarray)
    np.testing.assert_allclose(out.get(), acc.eqd2(dose.get(), 35, 3.0, backend="numpy"), rtol=1e-12)
