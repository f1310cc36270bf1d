"""discover_courses: grouping by references and reporting what is missing."""

from __future__ import annotations

import shutil

import pydicom
import pytest
from io_synthetic import DICOMPYLER, ECLIPSE, PYDICOM_RT

from accumulate.errors import InputError
from accumulate.io import discover_courses

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # pydicom's sample has a malformed UID


def _copy(folder, sources):
    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copy(source, folder)


def test_complete_course_and_links(tmp_path):
    _copy(tmp_path / "export" / "ct", [DICOMPYLER / "ct.0.dcm"])
    _copy(tmp_path / "export", [DICOMPYLER / n for n in ("rtdose.dcm", "rtplan.dcm", "rtss.dcm")])
    (tmp_path / "export" / "README.txt").write_text("not dicom")
    [course] = discover_courses(tmp_path / "export")
    plan = pydicom.dcmread(DICOMPYLER / "rtplan.dcm", stop_before_pixels=True)
    ct = pydicom.dcmread(DICOMPYLER / "ct.0.dcm", stop_before_pixels=True)
    assert course.complete and course.missing == ()
    assert course.plan_uid == plan.SOPInstanceUID
    assert course.frame_of_reference_uid == ct.FrameOfReferenceUID
    assert [p.name for p in course.dose_paths] == ["rtdose.dcm"]
    assert course.structure_path.name == "rtss.dcm"
    assert course.ct_series_uid == ct.SeriesInstanceUID and course.ct_folder == tmp_path / "export" / "ct"


def test_missing_objects_are_reported(tmp_path):
    _copy(tmp_path, [DICOMPYLER / "rtplan.dcm", PYDICOM_RT / "rtdose.dcm"])
    _copy(tmp_path, (ECLIPSE / "dicom-prostate").glob("RS.*.dcm"))
    courses = discover_courses(tmp_path)
    assert len(courses) == 2
    by_plan = {c.plan_path.name if c.plan_path else None: c for c in courses}
    dicompyler = by_plan["rtplan.dcm"]
    assert dicompyler.missing == (
        "RTDOSE for plan rtplan.dcm",
        "RTSTRUCT 1.2.246.352.71.4.320687012.3190.20090511122144 referenced by rtplan.dcm",
        "CT series",
    )
    orphan = by_plan[None]
    assert orphan.missing[0] == "RTPLAN 1.2.123.456.78.9.0123.4567.89012345678901 referenced by rtdose.dcm"
    assert [p.name for p in orphan.dose_paths] == ["rtdose.dcm"]


def test_not_a_folder(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        discover_courses(tmp_path / "absent")
