"""Every fast backend (numba, the CUDA source on the CPU, CuPy) against the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
from warp_phantoms import gaussian_dose, layered_density, rotated_grid, smooth_field

from accumulate import Grid, Volume
from accumulate.warp import warp_dose

# one precision rule on every backend: arrays stored in the working dtype, all arithmetic in float64, so a
# float32 result differs from the (float64) reference by its final rounding only
TOLERANCE = {np.float64: 1e-12, np.float32: 3e-7}


def _case(dtype, field_on_target=True):
    """A rotated, anisotropic target grid; a dose grid that covers only part of it; a density; a smooth field.

    The field lives on the target grid, or on a coarser grid of its own (then it is interpolated).
    """
    target = rotated_grid((14, 15, 16), (2.0, 2.2, 2.5), 12.0, origin=(-14.0, -16.0, -15.0))
    field_grid = target if field_on_target else Grid((12, 13, 14), origin_mm=(-22.0, -21.0, -20.0), spacing_mm=(3.1, 3.3, 3.2))
    dose_grid = Grid((16, 17, 15), origin_mm=(-20.0, -19.0, -17.0), spacing_mm=(2.4, 2.1, 2.3))
    as_dtype = lambda a: np.asarray(a, dtype=dtype)  # noqa: E731
    dose = gaussian_dose(dose_grid, (1.0, -2.0, 0.5), 6.0)
    density = layered_density(dose_grid)
    field = smooth_field(field_grid, amplitude_mm=2.5)
    return (
        target,
        Volume(as_dtype(dose.array), dose_grid),
        Volume(as_dtype(density.array), dose_grid, "density", "g/cm3"),
        type(field)(as_dtype(field.array), field_grid),
    )


def _compare(result, expected, dtype):
    np.testing.assert_array_equal(np.isnan(result), np.isnan(expected))
    scale = np.nanmax(np.abs(expected))
    np.testing.assert_allclose(result, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * scale, equal_nan=True)


@pytest.mark.parametrize("field_on_target", [True, False], ids=["field-on-target", "field-own-grid"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method, subsamples", [("direct", 1), ("mass", 2), ("mass", 1)], ids=["direct", "mass-k2", "mass-k1"])
def test_warp_matches_reference(fast_backend, method, subsamples, dtype, field_on_target):
    # mass with k = 2 takes the two-voxels-per-axis path of the box integral, k = 1 the general one
    target, dose, density, field = _case(dtype, field_on_target)
    options = dict(method=method, moving_density=density, target_grid=target, subsamples=subsamples)
    expected = warp_dose(dose, field, backend="numpy", outside="nan", **options)
    result = warp_dose(dose, field, backend=fast_backend, outside="nan", **options)
    assert result.dose.array.dtype == dtype
    assert 0 < expected.outside.array.sum() < target.size  # the case exercises both inside and outside
    _compare(np.asarray(result.dose.to_numpy().array), expected.dose.array, dtype)
    if method == "mass":
        _compare(np.asarray(result.mass.to_numpy().array), expected.mass.array, dtype)
