"""The fused warp + EQD2 + recovery + sum step against hand-worked values and the composed steps."""

from __future__ import annotations

import numpy as np
import pytest
from warp_phantoms import cube_grid, gaussian_dose, layered_density, radial_bumps

from accumulate import DisplacementField, Grid, InputError, Volume
from accumulate.accumulation import CourseDose, cumulative_eqd2
from accumulate.warp import PriorCourse, accumulate_warped, warp_dose


def test_hand_worked_values_through_a_shift(any_backend):
    # prior: 40 Gy in 5 (8 Gy/fx) to a/b 3 -> EQD2 88 Gy, half recovered -> 44 Gy; its grid starts one voxel
    # further in x and the field pulls from two voxels further. Current: 20 Gy in 10 (2 Gy/fx) -> 20 Gy.
    # Cumulative 64 Gy; limit 100 Gy leaves 36 Gy EQD2: in 5 fractions, B = 36 * 5/3 = 60,
    # D = 2B / (1 + sqrt(1 + 4B / (5 * 3))) = 120 / (1 + sqrt(17)).
    grid = Grid((6, 7, 8), spacing_mm=(2.0, 2.0, 3.0))
    prior_grid = Grid((6, 7, 8), origin_mm=(2.0, 0.0, 0.0), spacing_mm=(2.0, 2.0, 3.0))
    field = DisplacementField(np.broadcast_to([4.0, 0.0, 0.0], grid.shape + (3,)).copy(), grid)
    prior = PriorCourse("2019", Volume(np.full(grid.shape, 40.0), prior_grid), 5, field, residual=0.5)
    current = CourseDose("2026", Volume(np.full(grid.shape, 20.0), grid), 10)
    limit = Volume(np.full(grid.shape, 100.0), grid, "eqd2", "Gy")
    result = accumulate_warped([prior], current, 3.0, limit=limit, new_fractions=5, backend=any_backend)
    cumulative, remaining = result.cumulative.to_numpy().array, result.remaining.to_numpy().array
    # target index i maps to prior index i + 1: the last x column falls outside the prior grid
    assert np.isnan(cumulative[..., -1]).all() and np.isnan(remaining[..., -1]).all()
    np.testing.assert_allclose(cumulative[..., :-1], 64.0, rtol=1e-12)
    np.testing.assert_allclose(remaining[..., :-1], 120 / (1 + np.sqrt(17)), rtol=1e-12)
    assert result.cumulative.quantity == "eqd2" and result.remaining.quantity == "remaining_dose"


def test_uniform_prior_under_deformation_gives_uniform_eqd2():
    grid = cube_grid(20)
    field = radial_bumps(grid, [((-4, 0, 0), -0.2, 5.0)])
    prior = PriorCourse("p", Volume(np.full(grid.shape, 30.0), grid), 10, field, density=layered_density(grid))
    result = accumulate_warped([prior], None, 2.0, backend="numba")
    inside = ~np.isnan(result.cumulative.array)
    assert inside.sum() > 0.9 * grid.size
    np.testing.assert_allclose(result.cumulative.array[inside], 30.0 * (2 + 3) / 4, rtol=1e-12)  # 3 Gy/fx, a/b 2


@pytest.mark.parametrize("method", ["mass", "direct"])
def test_fused_equals_warp_then_cumulative_eqd2(fast_backend, method):
    grid = cube_grid(18)
    prior_grid = Grid((20, 22, 21), origin_mm=(-24.0, -25.0, -23.0), spacing_mm=(2.5, 2.2, 2.4))
    first = radial_bumps(grid, [((-6, 0, 0), -0.2, 6.0)])
    second = radial_bumps(grid, [((4, 2, 0), 0.2, 5.0)])
    density = layered_density(prior_grid)
    doses = gaussian_dose(prior_grid, (0, 0, 0), 8.0, 40.0), gaussian_dose(grid, (3, 0, 0), 6.0, 30.0)
    alpha_beta = Volume(np.where(grid.world_coordinates()[..., 0] > 0, 3.0, 10.0), grid, "alpha_beta", "Gy")
    residual = Volume(np.full(grid.shape, 0.7), grid, "residual_fraction", "1")
    current = CourseDose("now", gaussian_dose(grid, (0, 3, 0), 7.0, 20.0), 10)
    limit = Volume(np.full(grid.shape, 100.0), grid, "eqd2", "Gy")
    priors = [
        PriorCourse("a", doses[0], 5, first, density=density, residual=residual),
        PriorCourse("b", doses[1], 30, second, rbe=1.1, residual=0.5),
    ]
    fused = accumulate_warped(priors, current, alpha_beta, method=method, limit=limit, new_fractions=5, backend=fast_backend)
    warped = [
        warp_dose(doses[0], first, method=method, moving_density=density, backend=fast_backend).dose,
        warp_dose(doses[1], second, method=method, backend=fast_backend).dose,
    ]
    composed = cumulative_eqd2(
        [CourseDose("a", warped[0], 5, residual=residual), CourseDose("b", warped[1], 30, rbe=1.1, residual=0.5), current],
        alpha_beta, limit=limit, new_fractions=5, backend=fast_backend,
    )  # fmt: skip
    assert fused.cumulative.unit == "Gy(RBE)"
    np.testing.assert_allclose(fused.cumulative.to_numpy().array, composed.cumulative.to_numpy().array, rtol=1e-12)
    np.testing.assert_allclose(fused.remaining.to_numpy().array, composed.remaining.to_numpy().array, rtol=1e-12, atol=1e-12)


def test_fused_input_errors():
    grid = cube_grid(4)
    prior = PriorCourse("p", Volume(np.full(grid.shape, 10.0), grid), 5, DisplacementField.identity(grid), residual=1.5)
    with pytest.raises(InputError, match=r"residual of course 'p' must be a fraction in \[0, 1\]"):
        accumulate_warped([prior], None, 3.0, backend="numpy")
    with pytest.raises(InputError, match="at least one course"):
        accumulate_warped([], None, 3.0)
    ok = PriorCourse("p", prior.dose, 5, prior.field)
    with pytest.raises(InputError, match="limit and new_fractions"):
        accumulate_warped([ok], None, 3.0, limit=Volume(np.ones(grid.shape), grid))
