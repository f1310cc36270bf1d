"""Parameter maps from structures and the cumulative EQD2 / remaining dose over courses."""

from __future__ import annotations

import numpy as np
import pytest

import accumulate as acc
from accumulate import CourseDose, Grid, InputError, Volume
from accumulate.names import AmbiguousStructure


@pytest.fixture
def grid() -> Grid:
    return Grid((2, 4, 4), spacing_mm=(2, 2, 3))


def _mask(grid: Grid, region: tuple) -> Volume:
    array = np.zeros(grid.shape, dtype=bool)
    array[region] = True
    return Volume(array, grid, "mask", "1")


@pytest.fixture
def masks(grid):
    # cord: columns 0-1; PTV: columns 1-2 (overlap in column 1); brainstem: column 3 of slice 1
    return {
        "SpinalCord": _mask(grid, np.s_[:, :, 0:2]),
        "PTV": _mask(grid, np.s_[:, :, 1:3]),
        "Brainstem": _mask(grid, np.s_[1, :, 3]),
    }


def test_alpha_beta_map_priorities(grid, masks):
    values = {"SpinalCord": 2.0, "PTV": 10.0}
    lowest = acc.alpha_beta_map(grid, masks, values, default=3.0).array
    assert lowest[0, 0, 1] == 2.0 and lowest[0, 0, 2] == 10.0 and lowest[0, 0, 3] == 3.0
    highest = acc.alpha_beta_map(grid, masks, values, default=3.0, priority="highest").array
    assert highest[0, 0, 1] == 10.0
    listed = acc.alpha_beta_map(grid, masks, values, default=3.0, priority=["PTV", "SpinalCord"]).array
    assert listed[0, 0, 1] == 10.0 and listed[0, 0, 0] == 2.0


def test_structure_names_match_case_insensitively_and_unknown_names_are_listed(grid, masks):
    assert acc.alpha_beta_map(grid, masks, {"spinalcord": 2.0}, default=3.0).array[0, 0, 0] == 2.0
    with pytest.raises(InputError, match=r"no structure matches 'Parotid_L'.*available: \['Brainstem', 'PTV', 'SpinalCord'\]"):
        acc.alpha_beta_map(grid, masks, {"Parotid_L": 3.0}, default=3.0)


def test_maps_find_structures_like_the_rest_of_the_package(grid, masks):
    # the one matcher (accumulate.names): a synonym finds the clinic's spelling, two equal candidates are refused
    renamed = {("Myelon" if name == "SpinalCord" else name): mask for name, mask in masks.items()}
    assert acc.alpha_beta_map(grid, renamed, {"SpinalCord": 2.0}, default=3.0).array[0, 0, 0] == 2.0
    twice = {**masks, "Spinal Cord": masks["SpinalCord"]}
    with pytest.raises(AmbiguousStructure, match="'SpinalCord' is ambiguous"):
        acc.limit_map(grid, twice, {"SpinalCord": 45.0})


def test_fractional_masks_use_half_occupancy(grid):
    occupancy = np.zeros(grid.shape, dtype=np.float32)
    occupancy[0, 0, 0], occupancy[0, 0, 1] = 0.5, 0.49
    ab = acc.alpha_beta_map(grid, {"OpticNerve": Volume(occupancy, grid, "mask", "1")}, {"OpticNerve": 2.0}, default=3.0).array
    assert ab[0, 0, 0] == 2.0 and ab[0, 0, 1] == 3.0


def test_residual_map_least_recovery_wins(grid, masks):
    models = {"SpinalCord": acc.ConstantRecovery(0.5), "PTV": acc.ConstantRecovery(0.2)}
    residual = acc.residual_map(grid, masks, models, interval_months=24).array
    assert residual[0, 0, 0] == 0.5 and residual[0, 0, 1] == pytest.approx(0.8) and residual[0, 0, 3] == 1.0


def test_limit_map_nan_outside_and_lowest_wins(grid, masks):
    limits = acc.limit_map(grid, masks, {"SpinalCord": 45.0, "PTV": 80.0, "Brainstem": 54.0}).array
    assert limits[0, 0, 1] == 45.0 and limits[0, 0, 2] == 80.0 and limits[1, 0, 3] == 54.0 and np.isnan(limits[0, 0, 3])


def test_two_courses_with_recovery_by_hand(grid, any_backend):
    # prior: 70 Gy in 35 fractions to the cord (a/b 2) -> EQD2 70; 50 % recovered -> 35 Gy residual
    # new:   30 Gy in 10 fractions -> EQD2 = 30 (2 + 3) / 4 = 37.5; cumulative 72.5 Gy
    prior = CourseDose("prior", Volume(np.full(grid.shape, 70.0), grid), fractions=35, residual=0.5)
    new = CourseDose("reirradiation", Volume(np.full(grid.shape, 30.0), grid), fractions=10)
    result = acc.cumulative_eqd2([prior, new], 2.0, backend=any_backend)
    np.testing.assert_allclose(result.cumulative.array, 72.5, rtol=1e-12)
    assert result.remaining is None and result.cumulative.quantity == "eqd2"


def test_three_courses_each_with_its_own_interval(grid, masks, any_backend):
    # cord voxels, a/b 2, cord-conservative recovery (25 % at 6 mo, 50 % from 12 mo):
    #   course 1: 50 Gy / 25 fx, 30 months before the newest -> EQD2 50, residual 0.5  -> 25
    #   course 2: 20 Gy / 5 fx,   9 months before            -> EQD2 20 * 6/4 = 30, r = 0.375 -> 18.75
    #   course 3: 16 Gy / 8 fx, newest                       -> EQD2 16, residual 1 -> 16
    # cumulative 59.75 Gy; elsewhere (a/b 3, no recovery): 50 + 20*7/5 + 16 = 94 Gy
    model = {"SpinalCord": acc.recovery_model("cord-conservative")}
    courses = [
        CourseDose("c1", Volume(np.full(grid.shape, 50.0), grid), 25, residual=acc.residual_map(grid, masks, model, 30)),
        CourseDose("c2", Volume(np.full(grid.shape, 20.0), grid), 5, residual=acc.residual_map(grid, masks, model, 9)),
        CourseDose("c3", Volume(np.full(grid.shape, 16.0), grid), 8),
    ]
    ab = acc.alpha_beta_map(grid, masks, {"SpinalCord": 2.0}, default=3.0)
    cumulative = acc.cumulative_eqd2(courses, ab, backend=any_backend).cumulative.array
    assert cumulative[0, 0, 0] == pytest.approx(59.75, rel=1e-12)
    assert cumulative[0, 0, 3] == pytest.approx(94.0, rel=1e-12)


def test_remaining_dose_for_the_planned_course(grid, masks, any_backend):
    # prior 70 Gy/35 fx, 50 % recovered -> 35 Gy EQD2 in the cord (a/b 2); limit 45 Gy -> 10 Gy EQD2 left.
    # In 5 fractions: BED left = 10 * 4/2 = 20, D^2/10 + D - 20 = 0 -> D = 5 (sqrt(9) - 1) = 10 Gy.
    prior = CourseDose("prior", Volume(np.full(grid.shape, 70.0), grid), 35, residual=0.5)
    limits = acc.limit_map(grid, masks, {"SpinalCord": 45.0})
    result = acc.cumulative_eqd2([prior], 2.0, limit=limits, new_fractions=5, backend=any_backend)
    remaining = result.remaining.array
    assert remaining[0, 0, 0] == pytest.approx(10.0, rel=1e-12)
    assert np.isnan(remaining[0, 0, 3])  # no limit outside the cord
    assert result.remaining.quantity == "remaining_dose"


def test_fast_backends_match_reference_on_random_courses(fast_backend):
    rng = np.random.default_rng(7)
    grid = Grid((5, 6, 7))
    # one precision rule on every backend: stored in the dtype, computed in float64, so float32 results
    # differ from the reference by at most the final rounding (about 1 ulp)
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 3e-7)):
        courses = []
        for k in range(3):
            dose = Volume(rng.uniform(0, 70, grid.shape).astype(dtype), grid)
            residual = Volume(rng.uniform(0, 1, grid.shape), grid, "residual_fraction", "1")
            courses.append(CourseDose(f"c{k}", dose, int(rng.integers(1, 36)), rbe=float(rng.uniform(1, 1.2)), residual=residual))
        ab = Volume(rng.uniform(1, 12, grid.shape).astype(dtype), grid, "alpha_beta", "Gy")
        limit = Volume(
            np.where(rng.random(grid.shape) < 0.2, np.nan, rng.uniform(20, 200, grid.shape)).astype(dtype),
            grid,
            "eqd_limit",
            "Gy",
        )
        expected = acc.cumulative_eqd2(courses, ab, ref_dose=1.8, limit=limit, new_fractions=3, backend="numpy")
        got = acc.cumulative_eqd2(courses, ab, ref_dose=1.8, limit=limit, new_fractions=3, backend=fast_backend)
        assert got.cumulative.array.dtype == dtype
        np.testing.assert_allclose(got.cumulative.array, expected.cumulative.array, rtol=rtol)
        np.testing.assert_allclose(
            got.remaining.array, expected.remaining.array, rtol=rtol, atol=rtol * np.nanmax(expected.remaining.array)
        )


def test_numba_compiles_one_loop_for_any_number_of_courses():
    from accumulate.radiobiology import _numba

    grid = Grid((3, 4, 5))
    compiled = []
    for count in (1, 2, 3, 5):
        courses = [CourseDose(f"c{k}", Volume(np.full(grid.shape, 10.0 + k), grid), 5) for k in range(count)]
        result = acc.cumulative_eqd2(courses, 3.0, backend="numba")
        expected = sum((10.0 + k) * (3 + (10.0 + k) / 5) / 5 for k in range(count))  # EQD2 of 2 Gy x 5 etc., a/b 3
        np.testing.assert_allclose(result.cumulative.array, expected, rtol=1e-12)
        compiled.append(len(_numba._accumulate.signatures))
    assert compiled[1:] == compiled[:-1]  # courses travel as a (K, n) stack, not as a tuple per K


@pytest.mark.parametrize(
    "change, message",
    [
        ({"residual": 1.5}, r"fraction in \[0, 1\]"),
        ({"residual": -0.1}, "must be >= 0.0"),
        ({"fractions": 0}, "fractions of course 'prior' must be finite and > 0"),
    ],
)
def test_bad_courses(grid, change, message):
    course = CourseDose(**{"name": "prior", "dose": Volume(np.ones(grid.shape), grid), "fractions": 5, **change})
    with pytest.raises(InputError, match=message):
        acc.cumulative_eqd2([course], 3.0, backend="numpy")


def test_courses_on_different_grids_are_refused(grid):
    a = CourseDose("a", Volume(np.ones(grid.shape), grid), 5)
    other = Grid(grid.shape, origin_mm=(5, 0, 0), spacing_mm=grid.spacing_mm)
    b = CourseDose("b", Volume(np.ones(grid.shape), other), 5)
    with pytest.raises(acc.GeometryError, match="course 'a' and course 'b' are on different grids"):
        acc.cumulative_eqd2([a, b], 3.0, backend="numpy")


def test_limit_needs_new_fractions(grid):
    course = CourseDose("a", Volume(np.ones(grid.shape), grid), 5)
    with pytest.raises(InputError, match="give both limit and new_fractions"):
        acc.cumulative_eqd2([course], 3.0, limit=Volume(np.ones(grid.shape), grid))
