"""Test helpers: copies of the phantom's exports that are other courses or other mistakes.

``another_course`` copies an export and gives its RTPLAN and RTDOSE new SOP Instance UIDs (the
dose referencing the new plan), so that the same anatomy and dose can stand for a second,
distinct prior course. ``edit`` rewrites one DICOM file of a copy in place.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid


def edit(path: Path, change: Callable[[pydicom.Dataset], None]) -> Path:
    """Apply ``change`` to the dataset at ``path`` and write it back."""
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path, enforce_file_format=True)
    return path


def another_course(source: Path, target: Path, plan_date: dt.date | None = None) -> Path:
    """A copy of the export ``source`` at ``target`` whose plan and dose are new objects (new SOP Instance UIDs).

    ``plan_date`` sets the plan's RTPlanDate and ReviewDate.
    """
    shutil.copytree(source, target)
    plan_uid = generate_uid()

    def new_plan(ds):
        ds.SOPInstanceUID = plan_uid
        ds.file_meta.MediaStorageSOPInstanceUID = plan_uid
        if plan_date is not None:
            ds.RTPlanDate = ds.ReviewDate = plan_date.strftime("%Y%m%d")

    def new_dose(ds):
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID = plan_uid

    edit(target / "RP.dcm", new_plan)
    edit(target / "RD.dcm", new_dose)
    return target
