"""DICOM objects of one demo course, written with pydicom: the CT series and the RTSTRUCT.

UIDs are derived from fixed strings (``pydicom.uid.generate_uid(entropy_srcs=...)``), so the
same case is written with the same UIDs every time.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds

from ..geometry import Volume
from ..io import StructureROI, fill_structure_set, grid_to_plane
from ..io.uids import CT_IMAGE, RT_STRUCT

PATIENT = {"PatientName": "Demo^HeadNeck", "PatientID": "ACC-DEMO-HN", "PatientBirthDate": "19580612", "PatientSex": "M"}
_RESCALE_INTERCEPT = -1024.0
_ROI_COLOURS = {"BODY": (0, 255, 0), "SpinalCord": (255, 255, 0), "Brainstem": (255, 128, 0), "Mandible": (200, 200, 200)}


def uid(*parts: object) -> str:
    """A UID derived from ``parts`` alone (deterministic)."""
    return generate_uid(entropy_srcs=["accumulate.phantom", *map(str, parts)])


@dataclass(frozen=True)
class CourseIdentity:
    """Who and when: the study and frame of one course, and the dates of its CT and plan."""

    key: str
    study_uid: str
    frame_uid: str
    ct_date: _dt.date
    plan_date: _dt.date
    description: str

    @classmethod
    def make(cls, key: str, size: str, ct_date: _dt.date, plan_date: _dt.date, description: str) -> CourseIdentity:
        return cls(key, uid(size, key, "study"), uid(size, key, "frame"), ct_date, plan_date, description)


def new_dataset(
    sop_class: str, sop_uid: str, modality: str, course: CourseIdentity, series_uid: str, series_number: int
) -> Dataset:
    """A dataset with file meta, SOP Common, Patient, General Study, General Series and Equipment filled in."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    for keyword, value in PATIENT.items():
        setattr(ds, keyword, value)
    date = course.ct_date.strftime("%Y%m%d")
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime = course.study_uid, date, "090000"
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = course.key[:16], "", ""
    ds.StudyDescription = course.description
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = modality, series_uid, series_number
    ds.Manufacturer = "accumulate phantom"
    return ds


def write_ct_series(folder: Path, hu: Volume, course: CourseIdentity) -> list[str]:
    """One CT Image file per slice (``CT.<k>.dcm``, int16 with RescaleIntercept -1024); returns the SOP UIDs by slice."""
    _, iop, pixel_spacing, step = grid_to_plane(hu.grid)
    stored = np.clip(np.rint(np.asarray(hu.array) - _RESCALE_INTERCEPT), -32768, 32767).astype("<i2")
    series_uid = uid(course.key, course.study_uid, "ct series")
    uids = []
    for k in range(hu.grid.shape[0]):
        sop_uid = uid(series_uid, k)
        ds = new_dataset(CT_IMAGE, sop_uid, "CT", course, series_uid, 1)
        ds.SeriesDescription = f"{course.description} planning CT"
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = course.frame_uid, ""
        ds.ImageType, ds.BodyPartExamined = ["ORIGINAL", "PRIMARY", "AXIAL"], "HEADNECK"
        ds.InstanceNumber, ds.AcquisitionNumber, ds.KVP = k + 1, 1, "120"
        ds.PatientPosition = "HFS"
        position = hu.grid.world_from_index((k, 0, 0))
        ds.ImagePositionPatient = [format_number_as_ds(float(v)) for v in position]
        ds.ImageOrientationPatient = [format_number_as_ds(float(v)) for v in iop]
        ds.PixelSpacing = [format_number_as_ds(float(v)) for v in pixel_spacing]
        ds.SliceThickness = format_number_as_ds(abs(step))
        ds.SliceLocation = format_number_as_ds(float(position[2]))
        ds.Rows, ds.Columns = hu.grid.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = format_number_as_ds(_RESCALE_INTERCEPT), "1", "HU"
        ds.PixelData = stored[k].tobytes()
        ds.save_as(folder / f"CT.{k + 1:03d}.dcm", enforce_file_format=True)
        uids.append(sop_uid)
    return uids


def _roi_type(name: str) -> str:
    return "EXTERNAL" if name == "BODY" else "PTV" if name.startswith("PTV") else "ORGAN"


def _colour(name: str) -> tuple[int, int, int]:
    return _ROI_COLOURS.get(name, (255, 0, 0) if name.startswith("PTV") else (0, 128, 255))


def write_rtstruct(
    path: Path, contours: dict[str, list[tuple[int, np.ndarray]]], course: CourseIdentity, ct_uids: list[str]
) -> Dataset:
    """An RT Structure Set: per ROI, CLOSED_PLANAR contours ``(slice index, (n, 3) LPS mm)`` on the course's CT slices."""
    sop_uid = uid(course.key, course.study_uid, "rtstruct")
    ds = new_dataset(RT_STRUCT, sop_uid, "RTSTRUCT", course, uid(sop_uid, "series"), 2)
    ds.SeriesDescription = f"{course.description} structures"
    ds.OperatorsName = ""
    rois = [StructureROI(name, planes, _colour(name), _roi_type(name)) for name, planes in contours.items()]
    fill_structure_set(ds, rois, frame_uid=course.frame_uid, study_uid=course.study_uid,
                       series_uid=uid(course.key, course.study_uid, "ct series"), image_uids=ct_uids, label=course.key,
                       date=course.plan_date.strftime("%Y%m%d"), time="100000")  # fmt: skip
    ds.save_as(path, enforce_file_format=True)
    return ds
