"""Shared DICOM helpers: reading a file with errors that name it, plane geometry, UIDs."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from ..errors import GeometryError, InputError
from ..geometry import Grid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2.1"
RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
RT_ION_PLAN = "1.2.840.10008.5.1.4.1.1.481.8"
SPATIAL_REG = "1.2.840.10008.5.1.4.1.1.66.1"
DEFORMABLE_REG = "1.2.840.10008.5.1.4.1.1.66.3"

PathLike = str | os.PathLike[str]


def read_dataset(path: PathLike, *, stop_before_pixels: bool = False, expect: str | None = None) -> Dataset:
    """Read a DICOM file; raise :class:`InputError` naming the file if it is not one.

    Files without the 128-byte preamble (older exports) are accepted. ``expect`` is a
    Modality (``"RTDOSE"``...) the file must have.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
    except Exception as exc:  # pydicom raises many types on garbage
        raise InputError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    if "SOPClassUID" not in ds and "Modality" not in ds:
        raise InputError(f"{path}: not a DICOM file (no SOP Class UID or Modality found); is it corrupt or another format?")
    if expect is not None and ds.get("Modality") != expect:
        raise InputError(f"{path}: expected a DICOM {expect} object, found Modality {ds.get('Modality')!r}")
    return ds


def require(ds: Dataset, keyword: str, path: PathLike) -> Any:
    """The value of a required attribute, or an :class:`InputError` naming file and attribute."""
    value = ds.get(keyword)
    if value is None or value == "":
        raise InputError(f"{path}: required attribute {keyword} is missing or empty")
    return value


def plane_axes(iop: Any, path: PathLike) -> np.ndarray:
    """3x3 matrix whose columns are the row, column and normal directions of ImageOrientationPatient.

    Column 0 is the direction of increasing column index (array x), column 1 of increasing
    row index (array y), column 2 their cross product (the slice normal).
    """
    values = np.asarray([float(v) for v in iop], dtype=float)
    if values.size != 6:
        raise GeometryError(f"{path}: ImageOrientationPatient needs 6 values, got {list(iop)}")
    row, col = values[:3], values[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3 or abs(row @ col) > 1e-3:
        raise GeometryError(f"{path}: ImageOrientationPatient {list(values)} is not two orthogonal unit vectors")
    row = row / np.linalg.norm(row)
    col = col - (col @ row) * row
    col = col / np.linalg.norm(col)
    return np.stack([row, col, np.cross(row, col)], axis=1)


def plane_grid(ipp: Any, axes: np.ndarray, pixel_spacing: Any, rows: int, columns: int, nz: int, z_step_mm: float) -> Grid:
    """The Grid of a stack of planes starting at ``ipp``; ``z_step_mm`` may be negative (stack along -normal)."""
    ps = [float(v) for v in pixel_spacing]
    direction = axes.copy()
    if z_step_mm < 0:
        direction[:, 2] = -direction[:, 2]
    return Grid(
        shape=(nz, int(rows), int(columns)),
        origin_mm=tuple(float(v) for v in ipp),
        spacing_mm=(ps[1], ps[0], abs(z_step_mm)),
        direction=tuple(direction.reshape(-1)),
    )


def grid_to_plane(grid: Grid) -> tuple[list[float], list[float], list[float], float]:
    """ImagePositionPatient, ImageOrientationPatient, PixelSpacing and the signed frame step.

    The step is negative when the grid's z axis points along minus the IOP normal.
    """
    d = grid.direction_matrix
    sign = 1.0 if float(np.cross(d[:, 0], d[:, 1]) @ d[:, 2]) > 0 else -1.0
    iop = [float(v) for v in np.concatenate([d[:, 0], d[:, 1]])]
    return [float(v) for v in grid.origin_mm], iop, [grid.spacing_mm[1], grid.spacing_mm[0]], sign * grid.spacing_mm[2]


def parse_date(value: Any) -> _dt.date | None:
    """A DICOM DA value (``YYYYMMDD``) as a date, ``None`` when absent or malformed."""
    text = str(value or "").strip()
    try:
        return _dt.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
STUDY_KEYWORDS = ("StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")


def copy_patient_and_study(source: Dataset | None, target: Dataset) -> None:
    """Copy the Patient and General Study modules (empty Type 2 values when absent)."""
    for keyword in PATIENT_KEYWORDS + STUDY_KEYWORDS:
        value = source.get(keyword) if source is not None else None
        setattr(target, keyword, value if value is not None else "")
    if not target.StudyInstanceUID:
        target.StudyInstanceUID = pydicom.uid.generate_uid()
    if source is not None and "SpecificCharacterSet" in source:
        target.SpecificCharacterSet = source.SpecificCharacterSet


def frame_of_reference_uid(ds: Dataset) -> str | None:
    """FrameOfReferenceUID of an image/dose/plan, or the referenced one of an RTSTRUCT."""
    if ds.get("FrameOfReferenceUID"):
        return str(ds.FrameOfReferenceUID)
    for item in ds.get("ReferencedFrameOfReferenceSequence", []):
        if item.get("FrameOfReferenceUID"):
            return str(item.FrameOfReferenceUID)
    return None


def like_dataset(like: PathLike | Dataset | None) -> Dataset | None:
    """``like`` as a header-only Dataset (a path is read without its pixels)."""
    if like is None or isinstance(like, Dataset):
        return like
    return read_dataset(like, stop_before_pixels=True)


def now_date_time() -> tuple[str, str]:
    """Today's date and time as DICOM DA and TM strings."""
    now = _dt.datetime.now()
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S")


def new_file_meta(ds: Dataset, sop_class_uid: str) -> None:
    """Set SOP class/instance UIDs and an Explicit VR Little Endian file meta header."""
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.InstanceCreationDate, ds.InstanceCreationTime = now_date_time()
