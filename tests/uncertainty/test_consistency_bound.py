"""The per-voxel uncertainty radius from inverse consistency, and its band, on fields and a phantom of known truth.

Fields by hand: constant and linear fields, whose loop error is worked out exactly (trilinear
interpolation reproduces a linear field). On the two-course phantom the registration is given
an error of known size and direction in part of the body (a ramp along y: 2.5 mm in front of
y = -5 mm, where the mandible lies, none behind y = 15 mm, where the cord lies); the registration
the other way round is the true inverse, so the inverse-consistency error is the error itself
(``|J^-1 e|``). The truth is the phantom's (``phantom_truth``), never the code's output. The runs give the
erroneous (or the true) field and the true inverse as ``dvf`` and ``dvf_inverse``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from phantom_truth import analytic_cumulative, run_config, stored_prior_cumulative
from scipy import ndimage

from accumulate import DisplacementField, Grid, InputError, read_dose, read_structures
from accumulate.io import write_deformable_registration
from accumulate.phantom import write_demo_case
from accumulate.pipeline import dir_uncertainty, evaluate, run
from accumulate.registration import inverse_consistency_error, invert, read_field, read_image, write_field
from accumulate.uncertainty import DEFAULT_SCALE, consistency_radius, shifted

DIRECTION = np.array([1.5, -1.2, 0.8]) / np.linalg.norm([1.5, -1.2, 0.8])
FULL_MM = 2.5


def _ramp(points):
    """The registration error's length (mm) at LPS points: 2.5 mm for y <= -5 mm, 0 for y >= 15 mm, linear between."""
    return FULL_MM * np.clip((15.0 - points[..., 1]) / 20.0, 0.0, 1.0)


def test_radius_of_constant_and_linear_fields_by_hand():
    fixed = Grid((10, 12, 14), origin_mm=(-14.0, -12.0, -12.5), spacing_mm=(2.0, 2.0, 2.5))
    moving = Grid((10, 12, 10), origin_mm=(-10.0, -12.0, -12.5), spacing_mm=(2.0, 2.0, 2.5))  # x in [-10, 8] mm only
    a = np.array([1.0, 2.0, -1.0])
    forward = DisplacementField(np.broadcast_to(a, fixed.shape + (3,)).copy(), fixed)
    q = moving.world_coordinates()
    backward = np.broadcast_to(-a + np.array([0.6, 0.0, 0.3]), moving.shape + (3,)).copy()
    backward[..., 0] += 0.1 * (q[..., 0] + 10.0)  # the loop's x part grows by 0.1 mm per mm of the moving point
    backward = DisplacementField(backward, moving)
    p = fixed.world_coordinates()
    loop = np.linalg.norm(np.stack([0.6 + 0.1 * (p[..., 0] + a[0] + 10.0), 0 * p[..., 0], 0.3 + 0 * p[..., 0]], -1), axis=-1)
    low, high = np.array([-10.0, -12.0, -12.5]), np.array([8.0, 10.0, 10.0])  # the moving grid's first and last centres
    lands = np.all((p + a >= low) & (p + a <= high), axis=-1)  # the moving point lies on the moving grid
    region = np.zeros(fixed.shape, bool)
    region[:, 2:10, :] = True

    radius = consistency_radius(inverse_consistency_error(forward, backward), minimum_mm=0.8, scale=2.0, region=region).array
    expected = np.maximum(0.8, 2.0 * loop)
    np.testing.assert_allclose(radius[region & lands], expected[region & lands], rtol=1e-5)
    np.testing.assert_allclose(radius[~region], 0.8)  # outside the region: the minimum
    # the loop leaves the moving grid: no evidence, the worst radius found in the region is assumed
    np.testing.assert_allclose(radius[region & ~lands], expected[region & lands].max(), rtol=1e-5)
    assert (region & ~lands).any() and (region & lands).any()
    np.testing.assert_allclose(
        consistency_radius(inverse_consistency_error(forward, backward), minimum_mm=0.8, scale=0.0).array, 0.8
    )
    with pytest.raises(InputError, match="minimum_mm must be a finite number >= 0"):
        consistency_radius(inverse_consistency_error(forward, backward), minimum_mm=-1.0)
    with pytest.raises(InputError, match="region's shape"):
        consistency_radius(inverse_consistency_error(forward, backward), region=region[:, :, :5])


def test_a_per_voxel_shift_moves_each_moving_point_by_its_own_vector():
    grid = Grid((3, 4, 5))
    field = DisplacementField(np.ones(grid.shape + (3,), np.float32), grid)
    radius = np.arange(60, dtype=float).reshape(grid.shape)
    moved = shifted(field, radius[..., None] * DIRECTION).array
    assert moved.dtype == np.float32
    np.testing.assert_allclose(moved, 1.0 + radius[..., None] * DIRECTION, rtol=1e-6)
    np.testing.assert_allclose(shifted(field, [0.0, 0.0, 2.0]).array[..., 2], 3.0)
    with pytest.raises(InputError, match="one vector per voxel"):
        shifted(field, np.zeros((3, 4, 5, 2)))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("case") / "hn", size="test")


@pytest.fixture(scope="module")
def phantom(case, tmp_path_factory):
    """The true field and its inverse; the erroneous field; the mandible's Dmax worked out at the true and wrong points."""
    folder = tmp_path_factory.mktemp("fields")
    true = read_field(case.true_field_path)
    # the true prior -> reference field on the prior CT grid; where the inverse leaves the reference grid (NaN) the nearest
    # vector continues, as an exported field would have one everywhere
    inverse = np.asarray(invert(true, case.prior.ct_grid).array, dtype=float)
    missing = np.isnan(inverse[..., 0])
    nearest = ndimage.distance_transform_edt(missing, return_distances=False, return_indices=True)
    backward = DisplacementField(inverse[tuple(nearest)].astype(np.float32), case.prior.ct_grid)
    grid = true.grid
    reference_dose = read_dose(case.reirradiation.dose_path).grid
    mandible = read_structures(case.reirradiation.structures_path, reference_dose)["Mandible"].array >= 0.5
    points = reference_dose.world_coordinates()[mandible]
    assert np.allclose(_ramp(points), FULL_MM)  # the whole mandible is off by the full error
    truth = stored_prior_cumulative(case, points).max()
    # the error's sign that makes the nominal mandible Dmax too low: a nominal pass that the truth fails
    sign = min((1.0, -1.0), key=lambda s: stored_prior_cumulative(case, points, s * FULL_MM * DIRECTION).max())
    wrong_value = stored_prior_cumulative(case, points, sign * FULL_MM * DIRECTION).max()
    assert truth - wrong_value > 2.0
    error = _ramp(grid.world_coordinates())[..., None] * (sign * DIRECTION)
    wrong = DisplacementField((np.asarray(true.array) + error).astype(np.float32), grid)
    return {"true": true, "backward": backward, "wrong": wrong, "wrong_path": write_field(wrong, folder / "wrong.mha"),
            "truth_gy": truth, "wrong_gy": wrong_value, "error": error}  # fmt: skip


def _bound(result, case, folder, name, **options):
    """The band of ``result``'s preparation with its radius map made again with ``options`` (minimum_mm, scale)."""
    config = run_config(case, folder, name, dvf=case.true_field_path, limit=_limit(result),
                        uncertainty='method = "inverse-consistency"')  # fmt: skip
    prepared = result.prepared.variant(config)
    body = prepared.bodies["reirradiation"].array >= 0.5
    forward, backward = result.prepared.fields["prior"], read_field(result.config.courses[0].dvf_inverse)
    radius = consistency_radius(inverse_consistency_error(forward, backward), region=body, **options)
    prepared = replace(prepared, uncertainty_radius={"prior": radius})
    return dir_uncertainty(prepared, evaluate(prepared))


def _limit(result):
    return result.config.constraints.constraints[0].limit


@pytest.fixture(scope="module")
def runs(case, phantom, tmp_path_factory):
    """Runs with the erroneous and with the true field, each given with the true inverse (``dvf_inverse``).

    ``[uncertainty] method = "inverse-consistency"`` with no floor (``minimum_mm = 0``: the evidence
    alone) and the default scale; the mandible's limit half-way between its wrong and true Dmax.
    Direct warps: the dose at the moving point, as the values worked out from the stored prior dose.
    """
    folder = tmp_path_factory.mktemp("runs")
    limit = 0.5 * (phantom["truth_gy"] + phantom["wrong_gy"])
    inverse = write_field(phantom["backward"], folder / "inverse.mha")
    out = {}
    for key, dvf in (("wrong", phantom["wrong_path"]), ("true", case.true_field_path)):
        (folder / key).mkdir()
        config = run_config(case, folder / key, "run", dvf=dvf, uncertainty='method = "inverse-consistency"\nminimum_mm = 0',
                            limit=limit, warp="direct", inverse=inverse)  # fmt: skip
        out[key] = run(config, progress=lambda line: None)
    return out


def test_the_evidence_is_the_error_and_vanishes_for_the_true_registration(case, phantom):
    true, backward, wrong = phantom["true"], phantom["backward"], phantom["wrong"]
    grid = true.grid
    body = read_structures(case.reirradiation.structures_path, grid)["BODY"].array >= 0.5
    evidence = consistency_radius(inverse_consistency_error(wrong, backward), minimum_mm=0.0, scale=1.0, region=body).array
    loop = inverse_consistency_error(wrong, backward).array
    size = np.linalg.norm(phantom["error"], axis=-1)
    inside = body & (size > 1.0) & np.isfinite(loop)
    # |J^-1 e| with the phantom's gentle deformation (det J 0.9-1.1): the error's length within 15 %
    np.testing.assert_allclose(evidence[inside], size[inside], rtol=0.15)
    perfect = consistency_radius(inverse_consistency_error(true, backward), minimum_mm=0.0, scale=1.0, region=body).array
    # the inverse's own accuracy, not a registration error: 0.14-0.16 mm only at the CT's end planes, where the inverse
    # field is the nearest vector continued
    assert np.percentile(perfect[body], 99) < 0.2 and np.median(perfect[body]) < 0.01


def test_a_run_given_the_inverse_checks_and_maps_the_evidence(runs):
    wrong, true = runs["wrong"], runs["true"]
    for result, loop_passes in ((wrong, False), (true, True)):
        course = result.summary["registration"]["prior"]
        checks = {c["name"]: c for c in course["checks"]}
        assert "its inverse" in course["field"]
        assert not any("no inverse-consistency evidence" in text for text in result.status.warnings)
        assert (checks["inverse_consistency"]["verdict"] == "pass") is loop_passes
        radius = read_image(result.output_dir / "registration" / "prior" / "uncertainty_mm.mha")
        assert radius.grid.is_close(result.prepared.fields["prior"].grid)
        figures = result.summary["uncertainty"]["radius_mm_in_body_by_course"]["prior"]
        assert figures["max"] == pytest.approx(float(radius.array.max()), abs=0.01)
    # the erroneous registration: its 2.5 mm loop error fails the TG-132 check, the run needs review (exit 13)
    assert wrong.status.state == "needs review" and checks["inverse_consistency"]["value"] < 0.1
    assert wrong.summary["uncertainty"]["radius_mm_in_body_by_course"]["prior"]["p95"] == pytest.approx(
        DEFAULT_SCALE * FULL_MM, rel=0.15
    )


def test_band_covers_the_truth_and_shrinks_with_the_true_field(case, phantom, runs, tmp_path):
    wrong_run = runs["wrong"]
    grid = wrong_run.cumulative_eqd2.grid
    body = read_structures(case.reirradiation.structures_path, grid)["BODY"].array >= 0.5
    points = grid.world_coordinates()[body]
    truth = analytic_cumulative(points)
    tolerance = 0.01 * truth.max()  # the warp's own accuracy (tests/pipeline: 99 % of voxels within 1 % of the maximum)
    nominal = wrong_run.cumulative_eqd2.array[body]
    missed = np.abs(nominal - truth) > tolerance

    bound = wrong_run.uncertainty
    lower, upper = bound.lower.array[body], bound.upper.array[body]
    inside = (truth >= lower - tolerance) & (truth <= upper + tolerance)
    width = upper - lower
    print(f"missed by the nominal {missed.mean():.4f} of the body; covered {inside.mean():.4f}, of the missed "
          f"{inside[missed].mean():.4f}; band p99 {np.percentile(width, 99):.2f} Gy")  # fmt: skip
    assert missed.mean() >= 0.02  # the error shows in the dose: a test that could fail
    assert inside.mean() >= 0.99 and inside[missed].mean() >= 0.98

    # where the registration is right (behind y = 15 mm) the evidence is zero and the band narrow; a 3 mm shift bound
    # of one radius for the whole body is wide there too. Not counted: the body's end planes (z -75 and 70 mm on the CT),
    # where the given inverse is its nearest vector continued beyond the reference CT
    right = (_ramp(points) == 0.0) & (points[:, 2] > -70.0) & (points[:, 2] < 65.0)
    shift_config = run_config(case, tmp_path, "shift", dvf=case.true_field_path, uncertainty='method = "shift"')
    shift_prepared = wrong_run.prepared.variant(shift_config)
    shift = dir_uncertainty(shift_prepared, evaluate(shift_prepared))
    shift_width = (shift.upper.array - shift.lower.array)[body]
    print(f"where the registration is right: band p99 {np.percentile(width[right], 99):.2f} Gy, 3 mm shift band "
          f"{np.percentile(shift_width[right], 99):.2f} Gy")  # fmt: skip
    assert np.percentile(shift_width[right], 99) > 3.0
    assert np.percentile(width[right], 99) < 0.1 * np.percentile(shift_width[right], 99)

    # the registration given the true field (and its inverse): no evidence of error, the band shrinks to nothing
    true_run = runs["true"]
    true_width = (true_run.uncertainty.upper.array - true_run.uncertainty.lower.array)[body]
    print(f"given the true field: radius max {true_run.prepared.uncertainty_radius['prior'].array.max():.3f} mm, band p99 "
          f"{np.percentile(true_width, 99):.3f} Gy")  # fmt: skip
    assert float(true_run.prepared.uncertainty_radius["prior"].array.max()) < 0.5  # 2 x the end planes' 0.17 mm
    assert np.percentile(width, 99) > 5.0
    assert np.percentile(true_width, 99) < 0.05 * np.percentile(width, 99)


def test_robust_verdict_flips_with_the_evidence(phantom, runs, case, tmp_path):
    # The erroneous field puts the mandible's Dmax below the limit (worked out at the wrong points), the truth above.
    row = next(r for r in runs["wrong"].summary["constraints"] if r["structure"] == "Mandible")
    assert row["verdict"] == "pass" and row["value"] == pytest.approx(phantom["wrong_gy"], abs=0.3)
    true_row = next(r for r in runs["true"].summary["constraints"] if r["structure"] == "Mandible")
    assert true_row["verdict"] == "fail" and true_row["value"] == pytest.approx(phantom["truth_gy"], abs=0.3)

    # the evidence of the run (its default scale): some scenario fails, the worst case exceeds, the range reaches the truth
    assert row["robust_verdict"].startswith("not met in ") and row["worst_case"] == "exceeds limit"
    assert 1 <= row["scenarios_not_met"] < 15
    assert row["value_range"][1] >= phantom["truth_gy"] - 0.3
    # no evidence counted (scale 0, minimum 0): every scenario is the nominal, the verdict met in every scenario
    none = _bound(runs["wrong"], case, tmp_path, "none", minimum_mm=0.0, scale=0.0)
    assert none.rows[0]["robust_verdict"] == "met in every scenario (15)"


def test_a_given_dicom_registration_must_register_these_courses_in_its_direction(case, phantom, tmp_path):
    # The true field and its inverse as DICOM deformable REGs: used as given; swapped, or from another patient's frame,
    # they are refused before any dose is warped (a green run on the wrong registration is the mistake to prevent).
    reirr, prior = case.reirradiation, case.prior
    forward = write_deformable_registration(phantom["true"], tmp_path / "forward.dcm", fixed_like=reirr.dose_path,
                                            moving_frame_uid=prior.frame_of_reference_uid)  # fmt: skip
    inverse = write_deformable_registration(phantom["backward"], tmp_path / "inverse.dcm", fixed_like=prior.dose_path,
                                            moving_frame_uid=reirr.frame_of_reference_uid)  # fmt: skip
    stranger = write_deformable_registration(phantom["true"], tmp_path / "stranger.dcm", fixed_like=reirr.dose_path,
                                             moving_frame_uid="1.2.826.0.1.3680043.8.498.1")  # fmt: skip

    def config(name, dvf, back):
        (tmp_path / name).mkdir()
        return run_config(case, tmp_path / name, "run", dvf=dvf, uncertainty='method = "inverse-consistency"',
                          warp="direct", inverse=back)  # fmt: skip

    result = run(config("right", forward, inverse), progress=lambda line: None)
    checks = {c["name"]: c for c in result.summary["registration"]["prior"]["checks"]}
    assert checks["inverse_consistency"]["verdict"] == "pass"
    with pytest.raises(InputError, match=r"inverse.dcm' of course 'prior' is not a registration of these courses: .*"
                                         r"\(dvf and dvf_inverse swapped\?\)"):  # fmt: skip
        run(config("swapped", inverse, forward), progress=lambda line: None)
    other = r"it maps from frame\(s\) \['1.2.826.0.1.3680043.8.498.1'\], not from course 'prior''s frame"
    with pytest.raises(InputError, match=r"stranger.dcm' of course 'prior' is not a registration of these courses: " + other):
        run(config("stranger", stranger, inverse), progress=lambda line: None)
