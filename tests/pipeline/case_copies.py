"""Test helpers: copies of the phantom's exports that are other courses or other mistakes.

``another_course`` copies an export and gives its RTPLAN and RTDOSE new SOP Instance UIDs (the
dose referencing the new plan), so that the same anatomy and dose can stand for a second,
distinct prior course. ``edit`` rewrites one DICOM file of a copy in place.
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid


def edit(path: Path, change: Callable[[pydicom.Dataset], None]) -> Path:
    """Apply ``change`` to the dataset at ``path`` and write it back (invalid values are written as given)."""
    ds = pydicom.dcmread(path)
    with pydicom.config.disable_value_validation():
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


def copy_roi(structures: Path, source_name: str, new_name: str) -> Path:
    """Add to the RTSTRUCT at ``structures`` a second ROI ``new_name`` with the contours of ``source_name``."""

    def add(ds):
        rois = ds.StructureSetROISequence
        source = next(item for item in rois if item.ROIName == source_name)
        number = max(int(item.ROINumber) for item in rois) + 1
        roi = copy.deepcopy(source)
        roi.ROINumber, roi.ROIName = number, new_name
        rois.append(roi)
        contours = next(c for c in ds.ROIContourSequence if int(c.ReferencedROINumber) == int(source.ROINumber))
        twin = copy.deepcopy(contours)
        twin.ReferencedROINumber = number
        ds.ROIContourSequence.append(twin)

    return edit(structures, add)
