"""warp_dose against worked-out answers: identity, voxel shifts, uniform dose, energy, convergence, errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import map_coordinates
from warp_phantoms import cube_grid, gaussian_dose, layered_density, prior_energy, radial_bumps

from accumulate import DisplacementField, GeometryError, Grid, InputError, Volume
from accumulate.warp import DEFAULT_SUBSAMPLES, warp_dose

METHODS = ("direct", "mass")
RNG = np.random.default_rng(20261123)


def _random_dose(grid: Grid) -> Volume:
    return Volume(RNG.uniform(0.0, 70.0, grid.shape), grid)


# --- identity ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_identity_field_returns_the_input_exactly(any_backend, method):
    grid = Grid((9, 10, 11), origin_mm=(-3.0, 7.0, 1.5), spacing_mm=(2.0, 2.5, 3.0))
    dose = _random_dose(grid)
    density = Volume(RNG.uniform(0.2, 2.0, grid.shape), grid, "density", "g/cm3")
    result = warp_dose(dose, DisplacementField.identity(grid), method=method, moving_density=density, backend=any_backend)
    np.testing.assert_allclose(result.dose.array, dose.array, rtol=1e-12, atol=0)
    assert not result.outside.array.any()


def test_identity_on_a_finer_nested_grid_copies_the_parent_voxel():
    # target voxels of half the spacing nest inside dose voxels: mass mapping copies the parent value
    dose_grid = Grid((6, 7, 8), origin_mm=(0.0, 0.0, 0.0), spacing_mm=(2.0, 2.0, 2.0))
    dose = _random_dose(dose_grid)
    fine = dose_grid.with_spacing((1.0, 1.0, 1.0))
    result = warp_dose(dose, DisplacementField.identity(fine), method="mass", backend="numba")
    parent = np.repeat(np.repeat(np.repeat(dose.array, 2, axis=0), 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(result.dose.array, parent, rtol=1e-12)


def test_identity_on_another_grid_is_trilinear_resampling():
    dose_grid = Grid((10, 11, 12), origin_mm=(-5.0, -5.0, -5.0), spacing_mm=(2.0, 2.0, 2.0))
    dose = _random_dose(dose_grid)
    target = Grid((6, 7, 8), origin_mm=(-2.3, -1.1, 0.7), spacing_mm=(1.7, 1.9, 2.3))
    result = warp_dose(dose, DisplacementField.identity(target), method="direct", backend="numba")
    index = dose_grid.index_from_world(target.world_coordinates())  # (z, y, x) continuous indices
    expected = map_coordinates(dose.array, np.moveaxis(index, -1, 0), order=1)
    np.testing.assert_allclose(result.dose.array, expected, rtol=1e-12)


# --- shifts -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_integer_voxel_translation_is_an_exact_shift(any_backend, method):
    grid = Grid((8, 9, 10), origin_mm=(10.0, -4.0, 2.0), spacing_mm=(2.0, 2.5, 3.0))
    dose = _random_dose(grid)
    shift_xyz = np.array([2, -1, 3])  # voxels: moving point = fixed point + shift
    field = DisplacementField(np.broadcast_to(shift_xyz * np.array(grid.spacing_mm), grid.shape + (3,)).copy(), grid)
    result = warp_dose(dose, field, method=method, backend=any_backend, outside="nan")
    expected = np.full(grid.shape, np.nan)
    expected[:-3, 1:, :-2] = dose.array[3:, :-1, 2:]
    np.testing.assert_allclose(result.dose.array, expected, rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(result.outside.array, np.isnan(expected))


@settings(max_examples=20, deadline=None)
@given(
    shift=st.tuples(*[st.integers(-3, 3)] * 3),
    spacing=st.tuples(*[st.floats(0.5, 4.0)] * 3),
    method=st.sampled_from(METHODS),
)
def test_any_integer_shift_on_any_spacing_is_exact(shift, spacing, method):
    grid = Grid((5, 6, 7), origin_mm=(1.0, -2.0, 3.0), spacing_mm=spacing)
    dose = Volume(np.arange(grid.size, dtype=float).reshape(grid.shape) + 1.0, grid)
    u = np.broadcast_to(np.asarray(shift) * np.asarray(spacing), grid.shape + (3,)).copy()
    result = warp_dose(dose, DisplacementField(u, grid), method=method, backend="numba", outside="nan").dose.array
    sx, sy, sz = shift
    expected = np.full(grid.shape, np.nan)
    target = tuple(slice(max(0, -s), n - max(0, s)) for s, n in zip((sz, sy, sx), grid.shape, strict=True))
    source = tuple(slice(max(0, s), n - max(0, -s)) for s, n in zip((sz, sy, sx), grid.shape, strict=True))
    expected[target] = dose.array[source]
    np.testing.assert_allclose(result, expected, rtol=1e-12, equal_nan=True)


def test_linear_dose_is_interpolated_exactly_by_direct_under_a_fractional_shift():
    grid = cube_grid(12)
    x, y, z = np.moveaxis(grid.world_coordinates(), -1, 0)
    dose = Volume(30.0 + 0.5 * x - 0.25 * y + 0.125 * z, grid)
    shift = np.array([0.7, -1.3, 0.45])  # mm
    field = DisplacementField(np.broadcast_to(shift, grid.shape + (3,)).copy(), grid)
    result = warp_dose(dose, field, method="direct", backend="numba")
    expected = 30.0 + 0.5 * (x + shift[0]) - 0.25 * (y + shift[1]) + 0.125 * (z + shift[2])
    inner = (slice(1, -1),) * 3
    np.testing.assert_allclose(result.dose.array[inner], expected[inner], rtol=1e-12)


# --- invariants under deformation ----------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_uniform_dose_stays_uniform_under_a_deformation(method):
    grid = cube_grid(24)
    field = radial_bumps(grid, [((-6, 0, 0), -0.2, 6.0), ((10, 4, 2), 0.25, 5.0)])
    dose = Volume(np.full(grid.shape, 45.0), grid)
    result = warp_dose(dose, field, method=method, moving_density=layered_density(grid), backend="numba")
    inside = ~result.outside.array
    assert inside.sum() > 0.9 * grid.size
    np.testing.assert_allclose(result.dose.array[inside], 45.0, rtol=1e-12)


def _compressed_hot_spot():
    grid = cube_grid(40)
    field = radial_bumps(grid, [((-6, 0, 0), -0.2, 6.0), ((12, 4, 2), 0.25, 5.0)])  # det J 0.51 and 1.95 at the centres
    return grid, field, gaussian_dose(grid, (-6, 0, 0), 3.0), layered_density(grid)


def test_bump_field_jacobian_spans_half_to_double():
    grid, field, _, _ = _compressed_hot_spot()
    spacing = np.asarray(grid.spacing_mm)
    gradient = np.stack([np.stack(np.gradient(field.array[..., c], *spacing[::-1]), -1)[..., ::-1] for c in range(3)], -2)
    det = np.linalg.det(np.eye(3) + gradient)
    assert det.min() == pytest.approx(0.512, abs=0.02) and det.max() > 1.8


def test_mass_method_conserves_energy_and_direct_does_not():
    grid, field, dose, density = _compressed_hot_spot()
    prior = prior_energy(dose, density)
    mass = warp_dose(dose, field, moving_density=density, backend="numba")
    direct = warp_dose(dose, field, method="direct", backend="numba")
    assert not mass.outside.array.any()
    mass_error = np.sum(mass.dose.array * mass.mass.array) / prior - 1
    direct_error = np.sum(direct.dose.array * mass.mass.array) / prior - 1
    assert abs(mass_error) < 0.005  # measured 0.16 % at the default k = 1
    assert abs(direct_error) > 0.02  # measured 4.5 %: interpolation misses the compressed hot spot's energy
    # the mapped mass is the prior mass of the region (change of variables)
    assert np.sum(mass.mass.array) == pytest.approx(np.sum(density.array) * grid.voxel_volume_mm3 * 1e-3, rel=1e-3)


def _image_overlaps(n: int, scale: float) -> np.ndarray:
    """O[i, j]: length of the image of target voxel i (its index interval scaled about the centre) inside dose voxel j."""
    centre = (n - 1) / 2
    lo = centre + scale * (np.arange(n) - 0.5 - centre)
    hi = centre + scale * (np.arange(n) + 0.5 - centre)
    j = np.arange(n)
    return np.clip(np.minimum(hi[:, None], j + 0.5) - np.maximum(lo[:, None], j - 0.5), 0.0, None)


@pytest.mark.parametrize("subsamples", [1, 2])
def test_affine_contraction_maps_each_voxel_onto_its_image_box_exactly(any_backend, subsamples):
    # u(p) = -a (p - c): target voxel i maps onto the box c + (1 - a)(i +- 1/2 - c), axis by axis, so its
    # energy and mass are the overlaps of that box with the dose voxels (worked out here separably),
    # also for the outermost voxels, whose outer faces lie half a voxel beyond the field's last centres
    n, a = 12, 0.1
    grid = cube_grid(n)
    centre = grid.world_coordinates().reshape(-1, 3).mean(axis=0)
    field = DisplacementField(-a * (grid.world_coordinates() - centre), grid)
    dose = gaussian_dose(grid, (-14.0, 8.0, 5.0), 4.0)  # a hot spot near the grid's edge
    density = layered_density(grid)
    overlap = _image_overlaps(n, 1 - a)  # the same on the three axes (cube grid, isotropic field)

    def integral(values):  # sum_j values_j * |image of i in voxel j|, for every target voxel i (z, y, x)
        return np.einsum("zc,yb,xa,cba->zyx", overlap, overlap, overlap, values)

    voxel_g = grid.voxel_volume_mm3 * 1e-3
    energy, mass = integral(dose.array * density.array) * voxel_g, integral(density.array) * voxel_g
    result = warp_dose(dose, field, moving_density=density, subsamples=subsamples, backend=any_backend)
    np.testing.assert_allclose(result.mass.to_numpy().array, mass, rtol=1e-12)
    np.testing.assert_allclose(result.dose.to_numpy().array, energy / mass, rtol=1e-12)
    # so the whole grid's energy is the prior energy inside the image of the grid, to rounding
    assert np.sum(result.dose.to_numpy().array * result.mass.to_numpy().array) == pytest.approx(energy.sum(), rel=1e-12)


def test_energy_error_shrinks_with_more_subsamples():
    grid, field, dose, density = _compressed_hot_spot()
    prior = prior_energy(dose, density)
    errors = []
    for k in (1, 2, 4):
        result = warp_dose(dose, field, moving_density=density, subsamples=k, backend="numba")
        errors.append(abs(np.sum(result.dose.array * result.mass.array) / prior - 1))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.001


def test_default_subsamples_converged_to_one_percent():
    grid, field, dose, density = _compressed_hot_spot()
    k = DEFAULT_SUBSAMPLES
    coarse = warp_dose(dose, field, moving_density=density, subsamples=k, backend="numba").dose.array
    fine = warp_dose(dose, field, moving_density=density, subsamples=2 * k, backend="numba").dose.array
    assert np.max(np.abs(fine - coarse)) < 0.01 * dose.array.max()


# --- density handling ---------------------------------------------------------------------------
def test_unit_density_is_assumed_and_said(caplog):
    grid = cube_grid(8)
    with caplog.at_level(logging.INFO, logger="accumulate.warp"):
        result = warp_dose(_random_dose(grid), DisplacementField.identity(grid), backend="numpy")
    assert result.unit_density and "unit density" in caplog.text
    assert np.allclose(result.mass.array, grid.voxel_volume_mm3 * 1e-3)  # 1 g/cm3 x 8 mm3


def test_density_on_another_grid_is_resampled_onto_the_dose_grid():
    grid = cube_grid(12)
    ct_grid = Grid((30, 30, 30), origin_mm=(-25.0, -25.0, -25.0), spacing_mm=(1.5, 1.5, 1.5))
    field = radial_bumps(grid, [((0, 0, 0), -0.15, 5.0)])
    dose = gaussian_dose(grid, (1, 0, 0), 4.0)
    constant = Volume(np.full(ct_grid.shape, 1.0), ct_grid, "density", "g/cm3")
    with_density = warp_dose(dose, field, moving_density=constant, backend="numba")
    without = warp_dose(dose, field, backend="numba")
    np.testing.assert_allclose(with_density.dose.array, without.dose.array, rtol=1e-12)
    small = Volume(np.ones((4, 4, 4)), Grid((4, 4, 4)), "density", "g/cm3")
    with pytest.raises(GeometryError, match="must cover the prior dose grid"):
        warp_dose(dose, field, moving_density=small, backend="numba")


def test_a_float32_density_on_its_own_grid_adds_no_second_kernel_specialisation():
    # the density is resampled in the warp's working dtype (float64 here), not in its own
    from accumulate.warp import _numba

    grid = cube_grid(8)
    ct_grid = Grid((12, 12, 12), origin_mm=(-22.0, -22.0, -22.0), spacing_mm=(1.5, 1.5, 1.5))
    density = Volume(np.full(ct_grid.shape, 1.0, dtype=np.float32), ct_grid, "density", "g/cm3")
    dose = gaussian_dose(grid, (0, 0, 0), 4.0)
    warp_dose(dose, DisplacementField.identity(grid), backend="numba")  # float64, unit density
    before = len(_numba._warp_mass.signatures)
    result = warp_dose(dose, DisplacementField.identity(grid), moving_density=density, backend="numba")
    assert result.dose.array.dtype == np.float64 and len(_numba._warp_mass.signatures) == before
    np.testing.assert_allclose(result.dose.array, dose.array, rtol=1e-12)  # unit density, identity: unchanged


# --- out of field and bad input -----------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_points_mapping_outside_are_flagged_and_nan_when_asked(method):
    dose_grid = cube_grid(20)  # centres -20 .. 18 mm
    target = Grid((6, 6, 6), origin_mm=(-10.0, -10.0, -10.0), spacing_mm=(2.0, 2.0, 2.0))
    u = np.zeros(target.shape + (3,))
    u[..., 0] = np.where(np.arange(6) >= 3, 40.0, 0.0)[None, None, :]  # right half pulled from 40 mm away
    dose = gaussian_dose(dose_grid, (0, 0, 0), 5.0)
    result = warp_dose(dose, DisplacementField(u, target), method=method, backend="numba", outside="nan")
    assert result.outside.array[..., 3:].all() and np.isnan(result.dose.array[..., 3:]).all()
    assert not result.outside.array[..., :3].any()


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda d, f, r: d.array.__setitem__((1, 1, 1), np.nan), "dose contains 1 NaN"),
        (lambda d, f, r: d.array.__setitem__((1, 1, 1), -1.0), "dose must be >= 0"),
        (lambda d, f, r: f.array.__setitem__((0, 2, 1, 0), np.inf), "displacement field contains 1 NaN or infinite"),
        (lambda d, f, r: r.array.__setitem__((2, 2, 2), np.nan), "density .* contains 1 NaN"),
        (lambda d, f, r: r.array.__setitem__((2, 2, 2), 0.0), "density .* must be > 0"),
    ],
)
def test_bad_values_are_rejected_by_name(spoil, message):
    grid = cube_grid(6)
    dose, field = _random_dose(grid), DisplacementField.identity(grid)
    density = Volume(np.ones(grid.shape), grid, "density", "g/cm3")
    spoil(dose, field, density)
    with pytest.raises(InputError, match=message):
        warp_dose(dose, field, moving_density=density, backend="numpy")


def test_bad_method_and_subsamples_are_rejected():
    grid = cube_grid(4)
    dose, field = _random_dose(grid), DisplacementField.identity(grid)
    with pytest.raises(InputError, match="method must be one of"):
        warp_dose(dose, field, method="nearest")
    with pytest.raises(InputError, match="subsamples"):
        warp_dose(dose, field, subsamples=0)
