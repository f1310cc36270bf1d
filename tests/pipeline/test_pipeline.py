"""End to end on the synthetic two-course case, against its analytic cumulative EQD2.

Given-field mode: the true displacement field is supplied, so the only errors are those of
sampling and warping; the cumulative EQD2 must match the analytic answer within 1 % of its
maximum in 99 % of the voxels inside the body.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import numpy as np
import pydicom
import pytest
from case_copies import another_course

from accumulate import DisplacementField, Grid, read_dose, read_structures
from accumulate.config import load_config
from accumulate.phantom import cumulative_eqd2_at, prior_dose_at, prior_point_of, reirr_dose_at, write_demo_case
from accumulate.pipeline import run
from accumulate.registration import read_field, write_field


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("case") / "hn", size="test")


def _config(case, tmp_path, body: str, registration: str | None = None) -> object:
    """The two-course case with the true field (or the given [registration] lines) plus ``body``."""
    registration = registration or f'dvf = "{case.true_field_path}"'
    text = f"""
    [registration]
    {registration}
    [output]
    dir = "{tmp_path / "out"}"
    """
    path = tmp_path / "run.toml"
    path.write_text(case.course_tables() + textwrap.dedent(text) + textwrap.dedent(body))
    return load_config(path)


def _voxel_points(volume):
    return volume.grid.world_coordinates()


def _course_eqd2(points, alpha_beta):
    """(prior EQD2 through the true field, re-irradiation EQD2) at reference points, from the analytic truth."""
    reirr = cumulative_eqd2_at(points, alpha_beta, residual=0.0)
    return cumulative_eqd2_at(points, alpha_beta, residual=1.0) - reirr, reirr


def _coarse_copy(path, tmp_path):
    """The field at every second voxel (a vendor REG on a grid of its own), written beside the test."""
    field = read_field(path)
    grid = field.grid
    coarse_grid = Grid(tuple((n + 1) // 2 for n in grid.shape), grid.origin_mm, tuple(2 * s for s in grid.spacing_mm),
                       grid.direction)  # fmt: skip
    return write_field(DisplacementField(np.asarray(field.array)[::2, ::2, ::2], coarse_grid), tmp_path / "coarse.mha")


@pytest.mark.parametrize(
    "body_name, rename, coarse",
    [("BODY", "", False), ("Everything", '[structures.rename]\nBODY = "Everything"', False), ("BODY", "", True)],
    ids=["given", "renamed", "coarse-field"],
)
def test_given_field_matches_analytic_cumulative_eqd2(case, tmp_path, body_name, rename, coarse):
    # uniform alpha/beta 3 Gy and 30 % recovery everywhere in the body: the analytic answer is
    # 0.7 * EQD2(D_prior(p + u(p)), 35 fx) + EQD2(D_reirr(p), 5 fx) with the same alpha/beta.
    # Renamed: the case's BODY is called "Everything" in the settings (no synonym of it), and the recovery must still apply.
    # Coarse: the true field given on a grid of twice the spacing is resampled onto the CT grid.
    registration = f'dvf = "{_coarse_copy(case.true_field_path, tmp_path)}"' if coarse else None
    result = run(_config(case, tmp_path, f"""
    [radiobiology]
    alpha_beta_default = 3.0
    [recovery.{body_name}]
    model = "constant"
    recovered = 0.3
    {rename}
    """, registration), progress=lambda line: None)  # fmt: skip
    assert ("resampled" in result.summary["registration"]["prior"]["field"]) == coarse
    cumulative = read_dose(tmp_path / "out" / "cumulative_eqd2.dcm")
    expected = cumulative_eqd2_at(_voxel_points(cumulative), 3.0, residual=0.7)
    body = read_structures(case.reirradiation.structures_path, cumulative.grid)["BODY"].array
    error = np.abs(cumulative.array - expected)[body]
    assert np.quantile(error, 0.99) <= 0.01 * expected.max()
    assert result.cumulative_eqd2.grid.is_close(cumulative.grid)  # the file holds what the run computed


def test_warped_prior_and_physical_sum_follow_the_field(case, tmp_path):
    run(_config(case, tmp_path, '[warp]\nmethod = "direct"\n'), progress=lambda line: None)
    warped = read_dose(tmp_path / "out" / "warped_prior.dcm")
    points = _voxel_points(warped)
    expected = prior_dose_at(prior_point_of(points))
    body = read_structures(case.reirradiation.structures_path, warped.grid)["BODY"].array
    assert np.quantile(np.abs(warped.array - expected)[body], 0.99) <= 0.01 * expected.max()
    physical = read_dose(tmp_path / "out" / "cumulative_physical.dcm")
    total = expected + reirr_dose_at(points)
    assert np.quantile(np.abs(physical.array - total)[body], 0.99) <= 0.01 * total.max()


def test_three_courses_with_their_own_intervals(case, tmp_path):
    # the prior export twice (the second a copy with its own plan and dose UIDs), 40 and 8 months
    # before the re-irradiation; cord recovery table 0/25/50 % at 0/6/12 months: residuals 0.5 and
    # 1 - (0.25 + 2/6 * 0.25) = 2/3 inside the cord.
    second = another_course(case.prior.folder, tmp_path / "second", plan_date=dt.date(2024, 2, 1))
    text = f"""
    [[course]]
    name = "first"
    dicom = "{case.prior.folder}"
    interval_months = 40
    dvf = "{case.true_field_path}"
    [[course]]
    name = "second"
    dicom = "{second}"
    interval_months = 8
    dvf = "{case.true_field_path}"
    [[course]]
    name = "reirradiation"
    dicom = "{case.reirradiation.folder}"
    [warp]
    method = "direct"
    [radiobiology]
    alpha_beta_default = 3.0
    [radiobiology.alpha_beta]
    SpinalCord = 2.0
    [recovery.SpinalCord]
    model = "table"
    months = [0, 6, 12]
    recovered = [0.0, 0.25, 0.5]
    [output]
    dir = "{tmp_path / "out3"}"
    """
    path = tmp_path / "three.toml"
    path.write_text(textwrap.dedent(text))
    result = run(path, progress=lambda line: None)
    cumulative = result.cumulative_eqd2
    cord = read_structures(case.reirradiation.structures_path, cumulative.grid)["SpinalCord"].array
    prior, reirr = _course_eqd2(_voxel_points(cumulative)[cord], 2.0)
    expected = (0.5 + 2 / 3) * prior + reirr
    np.testing.assert_allclose(cumulative.array[cord], expected, rtol=0.02, atol=0.01 * expected.max())


def test_outputs_verdicts_and_remaining_dose(case, tmp_path):
    result = run(_config(case, tmp_path, """
    [radiobiology]
    alpha_beta_default = 2.0
    [dvh]
    method = "grid"  # the checks below recompute the values from voxel masks
    [constraints]
    set = "hn-reirradiation"
    """), progress=lambda line: None)  # fmt: skip
    out = tmp_path / "out"
    for name in ("cumulative_eqd2.dcm", "cumulative_physical.dcm", "warped_prior.dcm", "remaining_dose.dcm",
                 "field_prior.mha", "dvh.csv", "summary.json", "report.html", "accumulate.log"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not list(out.glob(".*tmp*"))  # nothing half-written left behind
    summary = json.loads((out / "summary.json").read_text())
    cord = next(v for v in summary["constraints"] if v["structure"] == "SpinalCord" and v["scope"] == "cumulative")
    # D0.03cc of the cumulative EQD2 in the cord, recomputed from the written file and masks
    cumulative = read_dose(out / "cumulative_eqd2.dcm")
    mask = read_structures(case.reirradiation.structures_path, cumulative.grid)["SpinalCord"].array
    assert cord["value"] <= cumulative.array[mask].max() + 1e-6
    assert cord["limit"] == pytest.approx(67.75)  # the interval is > 6 months (Nieder 2006 step)
    assert cord["verdict"] == ("pass" if cord["value"] <= 67.75 else "fail")
    # remaining dose in the cord: 5 fractions, a/b 2, within 67.75 - prior residual, by the closed form
    remaining = read_dose(out / "remaining_dose.dcm").array
    assert any(row["structure"] == "SpinalCord" for row in result.summary["structures"])
    prior, _ = _course_eqd2(_voxel_points(cumulative), 2.0)
    left = np.maximum(67.75 - prior[mask], 0)
    bed = left * 4 / 2
    expected = 2 * bed / (1 + np.sqrt(1 + 4 * bed / (5 * 2.0)))
    assert np.quantile(np.abs(remaining[mask] - expected), 0.95) <= 0.02 * max(expected.max(), 1.0)
    # no limit outside the body: the cap, the re-irradiation's 35 Gy prescription (its dose maximum is 35 Gy too)
    assert read_dose(case.reirradiation.dose_path).array.max() == pytest.approx(35.0, abs=1e-3)
    outside = ~read_structures(case.reirradiation.structures_path, cumulative.grid)["BODY"].array
    assert np.all(remaining[outside] == pytest.approx(case.reirradiation.prescription_gy))
    ds = pydicom.dcmread(out / "cumulative_eqd2.dcm", stop_before_pixels=True)
    assert ds.DoseType == "EFFECTIVE" and ds.FrameOfReferenceUID == case.reirradiation.frame_of_reference_uid


def test_registered_case_matches_analytic_within_stated_tolerance(case, tmp_path):
    # elastix (fast preset) instead of the true field. Stated tolerance: 95 % of the body voxels
    # within 1 % of the maximum cumulative EQD2 and 99 % within 3 % (measured at this size:
    # 96.9 % and 99.5 %; mean error 0.25 % of the maximum).
    config = _config(case, tmp_path, "[radiobiology]\nalpha_beta_default = 3.0\n", registration='preset = "fast"')
    result = run(config, progress=lambda line: None)
    cumulative = result.cumulative_eqd2
    expected = cumulative_eqd2_at(_voxel_points(cumulative), 3.0)
    body = read_structures(case.reirradiation.structures_path, cumulative.grid)["BODY"].array
    error = np.abs(cumulative.array - expected)[body] / expected.max()
    assert np.mean(error <= 0.01) >= 0.95
    assert np.mean(error <= 0.03) >= 0.99
    # the registration checks (issue 21): no folding; the fast preset's estimate expands a few voxels beyond J = 2
    # (measured 35 voxels, 0.17 %, max 2.4), so the run needs review exactly when a check failed
    checks = {c["name"]: c for c in result.summary["registration"]["prior"]["checks"]}
    assert checks["folding"]["verdict"] == "pass"
    failed = [c for c in checks.values() if c["verdict"] == "fail"]
    assert (result.status.state == "needs review") == bool(failed) and result.status.exit_code == (13 if failed else 0)
