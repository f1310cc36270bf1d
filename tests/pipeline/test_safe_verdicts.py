"""Safe verdicts: every mistake of the issue ends in a refusal or a non-green status with its reason; the correct run passes.

Each test writes the test-size phantom case's configuration with the true field (no
registration) and one mistake, and checks the exit code, the message, the summary and the
banner. The numbers the checks compare with are worked out here (hand EQD2, the plan dates).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import textwrap

import numpy as np
import pytest
from case_copies import another_course, copy_roi

from accumulate import AmbiguousStructure, ConfigError, InputError, read_dose, read_structures
from accumulate.cli import main
from accumulate.phantom import write_demo_case
from accumulate.pipeline import run

#: Limits the phantom meets: a green run is possible.
PASSING = """
[constraints]
[[constraints.constraint]]
structure = "SpinalCord"
metric = "D0.03cc"
limit = 50.0
source = "test"
[[constraints.constraint]]
structure = "Brainstem"
metric = "D0.03cc"
limit = 60.0
source = "test"
"""


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("case") / "hn", size="test")


def _write(case, tmp_path, body: str = PASSING, prior=None, reirr=None, name="run.toml"):
    text = f"""
    [[course]]
    name = "prior"
    dicom = "{prior or case.prior.folder}"
    [[course]]
    name = "reirradiation"
    dicom = "{reirr or case.reirradiation.folder}"
    [registration]
    dvf = "{case.true_field_path}"
    [radiobiology]
    alpha_beta_default = 3.0
    [radiobiology.alpha_beta]
    SpinalCord = 2.0
    Brainstem = 2.0
    [output]
    dir = "{tmp_path / "out"}"
    """
    path = tmp_path / name
    path.write_text(textwrap.dedent(text) + textwrap.dedent(body))
    return path


def _quiet(line):
    return None


def _summary(tmp_path):
    return json.loads((tmp_path / "out" / "summary.json").read_text())


def _constraint(limit_line: str) -> str:
    return PASSING.replace("limit = 50.0", limit_line)


def test_the_correct_run_passes_with_a_green_banner(case, tmp_path, capsys):
    assert main(["run", str(_write(case, tmp_path))]) == 0
    printed = capsys.readouterr().out
    assert "PASSED: all 2 constraints evaluated and met" in printed
    summary = _summary(tmp_path)
    assert summary["status"]["state"] == "passed" and summary["status"]["exit_code"] == 0
    assert '<span class="banner passed">PASSED' in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.parametrize(
    "mistake, key, slip",
    [
        ("[radiobiology]\nreference_dose_per_fraction = 200\n", "radiobiology.reference_dose_per_fraction", "cGy typed for Gy"),
        ("[radiobiology]\nalpha_beta_default = 300\n", "radiobiology.alpha_beta_default", "cGy typed for Gy"),
        ("[radiobiology.alpha_beta]\nSpinalCord = 200\n", "radiobiology.alpha_beta.SpinalCord", "cGy typed for Gy"),
    ],
    ids=["x-200", "alpha-beta-300", "organ-alpha-beta-200"],
)
def test_unit_slips_in_the_radiobiology_are_refused(case, tmp_path, capsys, mistake, key, slip):
    path = _write(case, tmp_path)
    text = path.read_text()
    section, line = mistake.strip().split("\n")
    text = text.replace(section, f"{section}\n{line}", 1) if section in text else text + mistake
    if "alpha_beta_default = 300" in mistake:
        text = text.replace("alpha_beta_default = 3.0\n", "")
    if "SpinalCord = 200" in mistake:
        text = text.replace("SpinalCord = 2.0\n", "")
    path.write_text(text)
    assert main(["run", str(path)]) == 5
    err = capsys.readouterr().err
    assert key in err and slip in err and f'[accept] "{key}"' in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything was computed or written


def test_a_limit_typed_in_cgy_is_refused(case, tmp_path):
    with pytest.raises(
        ConfigError, match=r"constraint\.1\.limit = 6000 Gy is outside .*6000 looks like cGy typed for Gy \(60 Gy\)"
    ):
        run(_write(case, tmp_path, _constraint("limit = 6000.0")), progress=_quiet)


def test_an_interval_typed_in_days_is_refused_against_the_plan_dates(case, tmp_path):
    # a prior course planned a year before the re-irradiation (366 days): 366 "months" is within the range
    # of intervals (50 years), but not what the plans' dates say
    prior = another_course(case.prior.folder, tmp_path / "prior", plan_date=dt.date(2023, 10, 1))
    path = _write(case, tmp_path, prior=prior)
    path.write_text(path.read_text().replace('name = "prior"\n', 'name = "prior"\ninterval_months = 366\n', 1))
    with pytest.raises(InputError, match=r"interval_months = 366 but the courses' dates are 12.0 months apart.*looks like days"):
        run(path, progress=_quiet)
    # beyond the range, it is refused as a configuration value already
    days = (case.reirradiation.plan_date - case.prior.plan_date).days
    path = _write(case, tmp_path, name="days.toml")
    path.write_text(path.read_text().replace('name = "prior"\n', f'name = "prior"\ninterval_months = {days}\n', 1))
    with pytest.raises(
        ConfigError, match=rf"interval_months = {days} months is outside .* looks like days typed for months \(42.58"
    ):
        run(path, progress=_quiet)


def test_an_accepted_unusual_value_runs_and_is_listed_as_an_override(case, tmp_path):
    body = PASSING + '\n[accept]\n"radiobiology.alpha_beta.SpinalCord" = 0.4\n'
    path = _write(case, tmp_path, body)
    path.write_text(path.read_text().replace("SpinalCord = 2.0", "SpinalCord = 0.4"))
    result = run(path, progress=_quiet)
    assert result.status.state == "passed"
    assert any("alpha/beta of SpinalCord" in line and "accepted" in line for line in result.status.overrides)
    assert "Accepted overrides" in (tmp_path / "out" / "report.html").read_text()
    # the accept names the value: another value is still refused, and the message says why
    path.write_text(path.read_text().replace("SpinalCord = 0.4\n", "SpinalCord = 0.3\n", 1))
    with pytest.raises(ConfigError, match=r'\[accept\] "radiobiology.alpha_beta.SpinalCord" = 0.4 does not match the value 0.3'):
        run(path, progress=_quiet)


def test_a_typo_in_a_constraint_is_incomplete_not_green(case, tmp_path, capsys):
    path = _write(case, tmp_path, PASSING.replace('structure = "Brainstem"', 'structure = "Brianstem"'))
    assert main(["run", str(path)]) == 12
    printed = capsys.readouterr().out
    assert "INCOMPLETE: 1 of 2 constraints not evaluated" in printed and "Brianstem D0.03cc <= 60: structure absent" in printed
    summary = _summary(tmp_path)
    assert summary["status"]["state"] == "incomplete" and summary["status"]["exit_code"] == 12
    brianstem = next(v for v in summary["constraints"] if v["structure"] == "Brianstem")
    assert (brianstem["state"], brianstem["reason"]) == ("not evaluated", "structure absent")
    page = (tmp_path / "out" / "report.html").read_text()
    assert '<span class="banner incomplete">INCOMPLETE' in page and "banner passed" not in page
    # accepted explicitly, the absence no longer blocks the green verdict, and is listed
    path.write_text(path.read_text() + '\n[accept]\nabsent_structures = ["Brianstem"]\n')
    result = run(path, progress=_quiet)
    assert result.status.state == "passed" and any("Brianstem" in line for line in result.status.overrides)


def test_two_structures_matching_one_name_are_an_error_with_the_fix(case, tmp_path):
    reirr = tmp_path / "reirr"
    shutil.copytree(case.reirradiation.folder, reirr)
    copy_roi(reirr / "RS.dcm", "SpinalCord", "Spinal Cord")
    path = _write(case, tmp_path, reirr=reirr)
    with pytest.raises(
        AmbiguousStructure,
        match=r"(?s)'SpinalCord' is ambiguous: the case has \['SpinalCord', 'Spinal Cord'\].*\[structures.rename\]",
    ):
        run(path, progress=_quiet)
    path.write_text(path.read_text() + '\n[structures.rename]\n"Spinal Cord" = "Cord_copy_2019"\n')
    assert run(path, progress=_quiet).status.state == "passed"


def test_the_same_plan_twice_is_an_error(case, tmp_path):
    path = _write(case, tmp_path, reirr=case.prior.folder)
    with pytest.raises(InputError, match=r"(?s)a course is given twice.*courses 'prior' and 'reirradiation' are the same RTPLAN"):
        run(path, progress=_quiet)


def test_courses_on_one_ct_get_the_identity_field_and_the_dose_back_exactly(case, tmp_path):
    # the "prior" course is a second plan on the re-irradiation CT itself (same frame and CT series)
    prior = another_course(case.reirradiation.folder, tmp_path / "prior", plan_date=case.prior.plan_date)
    path = _write(case, tmp_path, prior=prior)
    path.write_text(path.read_text().replace(f'dvf = "{case.true_field_path}"', 'preset = "fast"'))
    result = run(path, progress=_quiet)
    assert result.prepared.checks.registration["prior"] == "none"
    assert "identity" in result.summary["registration"]["prior"]["field"]
    assert not np.any(np.asarray(result.prepared.fields["prior"].array))  # the zero field, no elastix
    given = read_dose(prior / "RD.dcm")
    warped = read_dose(tmp_path / "out" / "warped_prior.dcm")
    assert warped.grid.is_close(given.grid)
    np.testing.assert_array_equal(result.warped["prior"].array, given.array)  # exactly the input dose
    assert np.max(np.abs(warped.array - given.array)) <= 1e-6 * given.array.max()  # up to the file's 32-bit scaling


def test_the_overlap_rule_is_listed_and_a_value_it_sets_says_so(case, tmp_path):
    # cord and brainstem share voxels; the cord recovers 50 % (cord-conservative, > 12 months), the brainstem nothing:
    # under "least recovery wins" the shared voxels count the prior dose in full, also for the cord's Dmean
    body = """
    [dvh]
    method = "grid"  # the values are recomputed below from the voxel masks
    [recovery.Brainstem]
    model = "none"
    [recovery.SpinalCord]
    model = "cord-conservative"
    [constraints]
    [[constraints.constraint]]
    structure = "SpinalCord"
    metric = "Dmean"
    limit = 50.0
    """
    result = run(_write(case, tmp_path, body), progress=_quiet)
    (overlap,) = [o for o in result.prepared.checks.overlaps if {o.first, o.second} == {"SpinalCord", "Brainstem"}]
    assert overlap.voxels > 0 and "least recovery wins" in overlap.rule and "recovery" in overlap.differs
    assert result.summary["checks"]["overlaps"][0]["structures"] == "Brainstem & SpinalCord"
    # the cord's Dmean, by hand, with its own recovery everywhere and with the shared voxels unrecovered
    grid = result.cumulative_eqd2.grid
    masks = read_structures(case.reirradiation.structures_path, grid)
    cord, shared = masks["SpinalCord"].array, masks["SpinalCord"].array & masks["Brainstem"].array
    prior = read_dose(tmp_path / "out" / "warped_prior.dcm").array
    reirr = read_dose(case.reirradiation.dose_path).array
    eqd2 = lambda d, n: d * (2.0 + d / n) / 4.0  # noqa: E731  (alpha/beta 2 Gy)
    own = 0.5 * eqd2(prior, 35) + eqd2(reirr, 5)
    least = np.where(shared, eqd2(prior, 35), 0.5 * eqd2(prior, 35)) + eqd2(reirr, 5)
    (verdict,) = result.verdicts
    assert verdict.value == pytest.approx(least[cord].mean(), rel=1e-5)
    assert verdict.value > own[cord].mean() + 0.005
    assert "value set by the overlap with Brainstem (least recovery wins)" in verdict.note
    assert re.search(rf"would be {own[cord].mean():.2f}", verdict.note)
    # each structure with its own parameters, as a setting
    path = _write(case, tmp_path, body, name="own.toml")
    path.write_text(path.read_text().replace("alpha_beta_default = 3.0", 'alpha_beta_default = 3.0\noverlaps = "own"'))
    (own_verdict,) = run(path, progress=_quiet).verdicts
    assert own_verdict.value == pytest.approx(own[cord].mean(), rel=1e-5) and not own_verdict.note


def test_eqd1_8_is_labelled_everywhere_and_an_eqd2_set_is_evaluated_in_eqd2(case, tmp_path):
    path = _write(case, tmp_path, PASSING + '\n[dvh]\nmethod = "grid"\n')  # the values are recomputed from voxel masks below
    path.write_text(
        path.read_text().replace("alpha_beta_default = 3.0", "alpha_beta_default = 3.0\nreference_dose_per_fraction = 1.8")
    )
    result = run(path, progress=_quiet)
    out = tmp_path / "out"
    assert (out / "cumulative_eqd1.8.dcm").is_file() and not (out / "cumulative_eqd2.dcm").exists()
    import pydicom

    ds = pydicom.dcmread(out / "cumulative_eqd1.8.dcm", stop_before_pixels=True)
    assert "EQD1.8" in ds.SeriesDescription
    assert {row.split(",")[1] for row in (out / "dvh.csv").read_text().splitlines()[1:]} == {"eqd1.8", "physical"}
    summary = _summary(tmp_path)
    assert summary["quantity"] == "eqd1.8" and "cumulative eqd1.8 Dmax" in summary["structures"][0]
    assert "EQD1.8" in (out / "report.html").read_text()
    # the constraints are in EQD2: their values are the cord's EQD2 (by hand), not its EQD1.8
    grid = result.cumulative_eqd2.grid
    cord = read_structures(case.reirradiation.structures_path, grid)["SpinalCord"].array
    prior = read_dose(out / "warped_prior.dcm").array[cord]
    reirr = read_dose(case.reirradiation.dose_path).array[cord]

    def eqdx(d, n, x):
        return d * (2.0 + d / n) / (2.0 + x)

    cord_verdict = result.verdicts[0]
    assert cord_verdict.constraint.quantity == "eqd2"
    assert cord_verdict.value == pytest.approx(np.max(eqdx(prior, 35, 2.0) + eqdx(reirr, 5, 2.0)), rel=1e-5)
    np.testing.assert_allclose(
        result.cumulative_eqd2.array[tuple(np.argwhere(cord).T)], eqdx(prior, 35, 1.8) + eqdx(reirr, 5, 1.8), rtol=1e-5
    )


def test_a_folder_or_a_dicom_file_where_a_configuration_is_expected(case, capsys):
    assert main(["run", str(case.folder)]) == 5
    err = capsys.readouterr().err
    assert "is a folder, not a run configuration" in err and "[[course]]" in err and "Traceback" not in err
    assert main(["run", str(case.prior.dose_path)]) == 5
    assert "is a DICOM file, not a run configuration" in capsys.readouterr().err


def test_fractions_nan_and_binary_configurations(case, tmp_path, capsys):
    path = _write(case, tmp_path)
    path.write_text(path.read_text().replace('name = "prior"\n', 'name = "prior"\nfractions = nan\n', 1))
    assert main(["run", str(path)]) == 5
    assert "fractions must be a finite number, got nan" in capsys.readouterr().err
    path.write_bytes(bytes(range(256)) * 8)
    assert main(["run", str(path)]) == 5
    assert "is not a text file" in capsys.readouterr().err


def test_check_is_a_dry_run_that_shows_what_a_run_would_use(case, tmp_path, capsys):
    path = _write(case, tmp_path)
    assert main(["check", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "prior (prior): plan" in printed and "35 fractions (RTPLAN RP.dcm NumberOfFractionsPlanned)" in printed
    assert f"date {case.prior.plan_date}" in printed and "interval to the reference 42.6 months" in printed
    assert "SpinalCord -> SpinalCord (exact)" in printed and "given field" in printed
    assert "OK: every check passed" in printed
    assert not (tmp_path / "out").exists()  # nothing computed, nothing written
    assert main(["run", "--check", str(path.parent / "missing.toml")]) == 5
    path.write_text(path.read_text().replace('structure = "Brainstem"', 'structure = "Brianstem"'))
    assert main(["check", str(path), "-v"]) == 12  # global options after the sub-command
    assert "INCOMPLETE: a run would not evaluate 1 constraint(s)" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and re.match(r"accumulate \d+\.\d+", capsys.readouterr().out)


def test_an_unused_accept_key_is_a_warning(case, tmp_path):
    result = run(_write(case, tmp_path, PASSING + '\n[accept]\n"radiobiology.alpha_beta.SpinalCrd" = 0.4\n'), progress=_quiet)
    assert any('"radiobiology.alpha_beta.SpinalCrd" = 0.4 matched no checked value' in w for w in result.status.warnings)


def test_registration_none_and_rigid_as_the_user_asks(case, tmp_path):
    # "none" between different frames of reference: the identity field, and the summary says what it assumes
    path = _write(case, tmp_path)
    path.write_text(path.read_text().replace(f'dvf = "{case.true_field_path}"', 'preset = "none"'))
    result = run(path, progress=_quiet)
    assert result.prepared.checks.registration["prior"] == "none"
    assert not np.any(np.asarray(result.prepared.fields["prior"].array))
    # "rigid" per course: elastix's rigid stage alone; the field is then one rotation and translation
    path.write_text(path.read_text().replace('name = "prior"\n', 'name = "prior"\nregistration = "rigid"\n', 1))
    result = run(path, progress=_quiet)
    assert "elastix rigid stage" in result.summary["registration"]["prior"]["field"]
    field = result.prepared.fields["prior"]
    points = field.grid.world_coordinates().reshape(-1, 3)
    moved = points + np.asarray(field.array, dtype=float).reshape(-1, 3)
    # a rigid map is affine: least squares reproduces it to rounding, with an orthonormal linear part
    design = np.hstack([points, np.ones((points.shape[0], 1))])
    affine, *_ = np.linalg.lstsq(design, moved, rcond=None)
    assert np.max(np.abs(design @ affine - moved)) < 0.05  # mm (the field is stored in float32)
    linear = affine[:3].T
    np.testing.assert_allclose(linear @ linear.T, np.eye(3), atol=1e-3)
