"""``accumulate inspect``: the plans, doses, structures and dates of an export, checked against the DICOM read with pydicom."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pydicom
import pytest

from accumulate.cli import main


def _plan(folder):
    return pydicom.dcmread(folder / "RP.dcm", stop_before_pixels=True)


def test_the_listing_names_each_course_with_its_plan_prescription_fractions_and_dated_source(case, capsys):
    assert main(["inspect", str(case.folder)]) == 0
    out = capsys.readouterr().out
    for course in (case.prior, case.reirradiation):
        ds = _plan(course.folder)
        review = dt.datetime.strptime(ds.ReviewDate, "%Y%m%d").date().isoformat()
        rx = float(ds.DoseReferenceSequence[0].TargetPrescriptionDose)
        n = int(ds.FractionGroupSequence[0].NumberOfFractionsPlanned)
        assert f"label '{ds.RTPlanLabel}'" in out
        assert f"date          {review}  (RTPLAN RP.dcm ReviewDate)" in out
        assert f"prescription  {rx:g} Gy in {n} fractions ({rx / n:.3g} Gy per fraction)" in out
        assert f"frame         {ds.FrameOfReferenceUID}" in out
    assert "patient   ACC-DEMO-HN  Demo^HeadNeck  born 19580612" in out
    # oldest first, the newest marked as the reference
    assert out.index("prior/RP.dcm") < out.index("reirradiation/RP.dcm  label") < out.index("[reference: newest]")


def test_json_lists_doses_structures_and_ct_and_the_date_falls_back_to_the_plan_date(case, tmp_path, capsys):
    export = tmp_path / "export"
    shutil.copytree(case.prior.folder, export / "prior")
    ds = pydicom.dcmread(export / "prior" / "RP.dcm")
    del ds.ReviewDate
    ds.RTPlanDate = "20200102"
    ds.save_as(export / "prior" / "RP.dcm")
    assert main(["inspect", str(export), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    (course,) = listing["courses"]
    assert (course["date"], course["date_source"]) == ("2020-01-02", "RTPLAN RP.dcm RTPlanDate")
    rs = pydicom.dcmread(export / "prior" / "RS.dcm")
    assert set(course["structures"]) == {str(r.ROIName) for r in rs.StructureSetROISequence}
    rd = pydicom.dcmread(export / "prior" / "RD.dcm")
    (dose,) = course["doses"]
    expected_max = float(rd.pixel_array.max()) * float(rd.DoseGridScaling)
    assert dose["max_gy"] == pytest.approx(expected_max, rel=1e-9) and dose["unit"] == "Gy"
    assert course["ct_slices"] == len(list((export / "prior").glob("CT.*.dcm")))
    assert course["patient_id"] == rd.PatientID and course["missing"] == []


@pytest.mark.parametrize("what", ["not-a-folder", "empty", "corrupt"])
def test_bad_exports_are_exit_3_naming_the_path_without_a_traceback(case, tmp_path, capsys, what):
    target = tmp_path / "x"
    if what == "not-a-folder":
        target.write_text("hello")
        named = str(target)
    elif what == "empty":
        target.mkdir()
        named = str(target)
    else:
        shutil.copytree(case.prior.folder, target)
        (target / "RP.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")  # a DICOM preamble, then nothing readable
        named = "RP.dcm"
    assert main(["inspect", str(target)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("accumulate inspect: error: ") and named in err and "Traceback" not in err


def test_a_dose_without_its_plan_is_listed_undated_with_what_is_missing(case, tmp_path, capsys):
    export = tmp_path / "dose-only"
    export.mkdir()
    shutil.copy(case.prior.folder / "RD.dcm", export / "RD.dcm")
    assert main(["inspect", str(export)]) == 0
    out = capsys.readouterr().out
    plan_uid = pydicom.dcmread(export / "RD.dcm").ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID
    assert "course 1  (no RTPLAN)" in out and "date          ?  (unknown (no RTPLAN))" in out
    assert f"MISSING       RTPLAN {plan_uid} referenced by RD.dcm" in out and "MISSING       CT series" in out
