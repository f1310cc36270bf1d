"""RTDOSE (and research formats) out: 32-bit DoseGridScaling, new UIDs, the reference course's frame."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from ..errors import InputError
from ..geometry import Volume
from ._atomic import atomic_path
from ._dicom import (
    RT_DOSE,
    RT_PLAN,
    PathLike,
    copy_patient_and_study,
    frame_of_reference_uid,
    grid_to_plane,
    like_dataset,
    new_file_meta,
    now_date_time,
)
from ._itkio import is_itk_path, write_itk_volume


def dose_grid_scaling(max_value: float, bits: int = 32) -> tuple[str, float]:
    """DoseGridScaling as a DS string (at most 16 characters) and its value, chosen so that
    ``max_value`` maps onto the top of the unsigned ``bits``-bit range without overflowing."""
    if max_value <= 0:
        return "1", 1.0
    top = 2**bits - 1
    scale = max_value / top
    text = f"{scale:.9e}"
    while float(text) * top < max_value:
        scale = math.nextafter(float(text), math.inf) * (1 + 1e-9)
        text = f"{scale:.9e}"
    return text, float(text)


def _dose_type(volume: Volume, dose_type: str | None) -> str:
    if volume.unit not in ("Gy", "Gy(RBE)"):
        raise InputError(f"write_dose: an RTDOSE holds Gy or Gy(RBE), got a volume in {volume.unit!r} ({volume.quantity})")
    if dose_type is not None:
        if dose_type not in ("PHYSICAL", "EFFECTIVE"):
            raise InputError(f"write_dose: dose_type must be 'PHYSICAL' or 'EFFECTIVE', got {dose_type!r}")
        return dose_type
    return "PHYSICAL" if volume.quantity == "dose" and volume.unit == "Gy" else "EFFECTIVE"


def write_dose(
    volume: Volume,
    path: PathLike,
    *,
    like: PathLike | Dataset | None = None,
    quantity: str | None = None,
    dose_type: str | None = None,
    referenced_plan_uids: tuple[str, ...] | list[str] = (),
    series_number: int = 900,
    bits: Literal[16, 32] = 32,
) -> Path:
    """Write a dose-like volume as RTDOSE (``.dcm``) or as MHA/NRRD/NIfTI (by extension), atomically.

    Parameters
    ----------
    volume : Volume
        Values in Gy or Gy(RBE), >= 0 and finite for RTDOSE (RTDOSE pixels are unsigned).
    path : path
        Destination; the file appears complete or not at all (temporary name, then rename).
    like : path or Dataset, optional
        A file of the reference course (CT slice, RTDOSE, RTPLAN or RTSTRUCT): its Patient and
        Study modules and FrameOfReferenceUID are copied. Without it a new study and frame of
        reference are created (the dose then overlays nothing in a planning system).
    quantity : str, optional
        What the values are, in words (e.g. ``"cumulative EQD2, alpha/beta 2 Gy"``); goes into
        SeriesDescription and DoseComment (64 characters at most). Default from the volume.
    dose_type : {"PHYSICAL", "EFFECTIVE"}, optional
        Default PHYSICAL for a ``quantity="dose"`` volume in Gy, EFFECTIVE otherwise (EQD2, BED,
        Gy(RBE), remaining dose).
    referenced_plan_uids : sequence of str
        SOPInstanceUIDs of the RTPLANs the dose derives from: one gives DoseSummationType PLAN,
        several MULTI_PLAN. DICOM requires at least one; when empty they are taken from ``like``
        (an RTPLAN's own UID, or an RTDOSE's ReferencedRTPlanSequence).
    series_number : int
        SeriesNumber of the new series.
    bits : {32, 16}
        Bits per stored value. 32 (default) keeps a relative precision of 2.3e-10 of the maximum;
        16 (1.5e-5) is for systems that refuse 32-bit doses.

    Returns
    -------
    Path
        The path written. New Study (without ``like``), Series and SOP Instance UIDs are made.
        DoseGridScaling is about max / (2**bits - 1); values read back within DoseGridScaling / 2.
    """
    path = Path(path)
    if is_itk_path(path):
        write_itk_volume(volume, path)
        return path
    if path.suffix.lower() != ".dcm":
        raise InputError(f"write_dose: cannot tell the format of {path}; use .dcm (RTDOSE), .mha, .nrrd, .nii or .nii.gz")
    if bits not in (16, 32):
        raise InputError(f"write_dose: bits must be 16 or 32, got {bits!r}")
    like_ds = like_dataset(like)
    plans = list(referenced_plan_uids) or _plans_of(like_ds)
    if not plans:
        raise InputError(
            f"write_dose: an RTDOSE must reference the RTPLAN(s) it derives from (DICOM RT Dose module); pass "
            f"referenced_plan_uids=... or like=<the course's RTPLAN or RTDOSE> to write {path}"
        )
    ds = _dose_dataset(volume, like_ds, quantity, _dose_type(volume, dose_type), plans, series_number, bits)
    with atomic_path(path) as temp:
        pydicom.dcmwrite(temp, ds, enforce_file_format=True)
    return path


def _plans_of(like: Dataset | None) -> list[str]:
    if like is None:
        return []
    if like.get("Modality") == "RTPLAN":
        return [str(like.SOPInstanceUID)]
    return [str(item.ReferencedSOPInstanceUID) for item in like.get("ReferencedRTPlanSequence", [])]


def _pixels(volume: Volume, bits: int) -> tuple[np.ndarray, str]:
    values = np.asarray(volume.to_numpy().array, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise InputError(f"write_dose: the {volume.quantity} volume has {int((~np.isfinite(values)).sum())} NaN/infinite voxels")
    if values.size and values.min() < 0:
        raise InputError(
            f"write_dose: RTDOSE holds no negative values (min {values.min():.6g} {volume.unit}); clip at 0 "
            "(numpy.maximum) or write .mha/.nrrd to keep the sign"
        )
    text, scale = dose_grid_scaling(float(values.max()) if values.size else 0.0, bits)
    return np.rint(values / scale).astype(np.uint32 if bits == 32 else np.uint16), text


def _dose_dataset(
    volume: Volume, like: Dataset | None, quantity: str | None, dose_type: str, plans: list[str], series_number: int, bits: int
) -> Dataset:
    pixels, scaling = _pixels(volume, bits)
    ds = Dataset()
    new_file_meta(ds, RT_DOSE)
    copy_patient_and_study(like, ds)
    ds.Modality = "RTDOSE"
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesNumber = series_number
    ds.OperatorsName = ""
    ds.SeriesDate, ds.SeriesTime = now_date_time()
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    description = (quantity or f"{volume.quantity} [{volume.unit}]")[:64]
    ds.SeriesDescription = description
    ds.DoseComment = description
    for_uid = frame_of_reference_uid(like) if like is not None else None
    ds.FrameOfReferenceUID = for_uid or pydicom.uid.generate_uid()
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "accumulate"
    ds.InstanceNumber = 1
    ipp, iop, spacing, step = grid_to_plane(volume.grid)
    nz, ny, nx = volume.grid.shape
    ds.ImagePositionPatient = [format_number_as_ds(v) for v in ipp]
    ds.ImageOrientationPatient = [format_number_as_ds(v) for v in iop]
    ds.PixelSpacing = [format_number_as_ds(v) for v in spacing]
    ds.SliceThickness = ""
    ds.GridFrameOffsetVector = [format_number_as_ds(k * step) for k in range(nz)]
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    ds.Rows, ds.Columns = ny, nx
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = dose_type
    ds.DoseSummationType = "MULTI_PLAN" if len(plans) > 1 else "PLAN"
    ds.ReferencedRTPlanSequence = [Dataset() for _ in plans]
    for item, uid in zip(ds.ReferencedRTPlanSequence, plans, strict=True):
        item.ReferencedSOPClassUID = RT_PLAN
        item.ReferencedSOPInstanceUID = uid
    ds.DoseGridScaling = scaling
    ds.PixelData = np.ascontiguousarray(pixels).astype(f"<u{bits // 8}").tobytes()
    return ds
