"""``accumulate eqd2``: EQD2 = D (d + a/b) / (2 + a/b), d = D / n, worked out here from the RTDOSE pixels read with pydicom."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from accumulate.cli import main


def _gy(path) -> tuple[np.ndarray, float]:
    ds = pydicom.dcmread(path)
    scaling = float(ds.DoseGridScaling)
    return ds.pixel_array.astype(float) * scaling, scaling


@pytest.mark.parametrize("alpha_beta, x", [(3.0, 2.0), (10.0, 2.0), (2.0, 1.8)])
def test_eqdx_of_a_known_dose_by_hand(case, tmp_path, capsys, alpha_beta, x):
    source = case.prior.folder / "RD.dcm"
    out = tmp_path / "eqd.dcm"
    options = ["--fractions", "35", "--alpha-beta", str(alpha_beta), "--eqdx", str(x), "-o", str(out)]
    assert main(["eqd2", str(source), *options]) == 0
    dose, _ = _gy(source)
    expected = dose * (dose / 35 + alpha_beta) / (x + alpha_beta)
    written, scaling = _gy(out)
    np.testing.assert_allclose(written, expected, rtol=0, atol=scaling)  # within the stored precision
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    assert ds.DoseType == "EFFECTIVE" and ds.SeriesDescription == f"EQD{x:g} a/b {alpha_beta:g} Gy, 35 fx"
    assert ds.FrameOfReferenceUID == pydicom.dcmread(source, stop_before_pixels=True).FrameOfReferenceUID
    printed = capsys.readouterr().out
    assert f"max {expected.max():.2f} Gy" in printed


def test_the_fractions_default_to_the_plans_and_bed_is_eqdx_with_x_0(case, tmp_path, capsys):
    source = case.reirradiation.folder / "RD.dcm"
    n = int(pydicom.dcmread(case.reirradiation.folder / "RP.dcm").FractionGroupSequence[0].NumberOfFractionsPlanned)
    out = tmp_path / "bed.mha"
    assert main(["eqd2", str(source), "--alpha-beta", "10", "--eqdx", "0", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{n} fractions (RTPLAN RP.dcm NumberOfFractionsPlanned)" in printed
    dose, _ = _gy(source)
    assert f"BED       a/b 10 Gy: max {(dose * (1 + dose / n / 10)).max():.2f} Gy" in printed


@pytest.mark.parametrize(
    "options, message",
    [
        (["--alpha-beta", "300", "--fractions", "35"], r"alpha_beta = 300 Gy is outside .* cGy typed .* --accept alpha_beta=300"),
        (["--alpha-beta", "3", "--fractions", "350"], r"fractions = 350 is outside"),
        (["--alpha-beta", "3", "--fractions", "0"], r"whole number >= 1"),
        (["--alpha-beta", "3", "--fractions", "35", "--eqdx", "200"], r"eqdx = 200 Gy is outside"),
        (["--alpha-beta", "3", "--fractions", "35", "--accept", "alpha_beta"], r"expected KEY=NUMBER"),
    ],
)
def test_implausible_inputs_are_refused_with_exit_3_naming_the_file(case, capsys, options, message):
    import re

    source = case.prior.folder / "RD.dcm"
    assert main(["eqd2", str(source), *options]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and (str(source) in err or "--accept" in err)
    assert re.search(message, err, re.S), err


def test_an_accepted_unusual_value_passes_and_a_non_dose_file_is_named(case, tmp_path, capsys):
    source = case.prior.folder / "RD.dcm"
    assert main(["eqd2", str(source), "--alpha-beta", "30", "--fractions", "35", "--accept", "alpha_beta=30"]) == 0
    not_dose = case.prior.folder / "RS.dcm"
    assert main(["eqd2", str(not_dose), "--alpha-beta", "3"]) == 3
    err = capsys.readouterr().err
    assert "RS.dcm" in err and "RTDOSE" in err and "Traceback" not in err


def test_a_fraction_dose_is_scaled_to_the_course_by_the_fractions_given(case, tmp_path):
    source = tmp_path / "RD.dcm"  # alone: no plan beside it
    ds = pydicom.dcmread(case.reirradiation.folder / "RD.dcm")
    ds.DoseSummationType = "FRACTION"
    ds.DoseGridScaling = float(ds.DoseGridScaling) / 5  # one fraction's dose: 7 Gy at the maximum
    ds.save_as(source)
    per_fraction, _ = _gy(source)
    out = tmp_path / "eqd2.dcm"
    assert main(["eqd2", str(source), "--fractions", "5", "--alpha-beta", "3", "-o", str(out)]) == 0
    course = 5 * per_fraction
    written, scaling = _gy(out)
    np.testing.assert_allclose(written, course * (course / 5 + 3) / (2 + 3), atol=scaling)
    assert main(["eqd2", str(source), "--alpha-beta", "3"]) == 3  # no fractions and no plan to take them from
