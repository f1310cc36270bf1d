"""RTDOSE (and research formats) out: 32-bit DoseGridScaling, new UIDs, the reference course's frame.

A derived dose (warped, summed, EQDx, headroom) says how it was made with the standard's own
attributes (PS3.3 C.8.8.3 RT Dose, C.12.4 General Reference): Spatial Transform of Dose and the
Referenced Spatial Registration Sequence, Derivation Code Sequence (CID 7220 "RT Dose
Derivation"), the source doses in Referenced Instance Sequence (purpose CID 7221) and a
Derivation Description in words. See :class:`DoseDerivation`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from ..atomic import atomic_path
from ..errors import InputError
from ..geometry import Volume
from ._dicom import (
    InstanceReference,
    PathLike,
    code_item,
    frame_of_reference_uid,
    grid_to_plane,
    like_dataset,
    new_series_dataset,
    set_equipment,
)
from ._itkio import is_itk_path, write_itk_volume
from .uids import RT_DOSE, RT_PLAN

#: CID 7220 "RT Dose Derivation" (PS3.16), as (CodeValue, CodeMeaning) of scheme DCM.
COMPOSED_FROM_PRIOR_DOSES = ("121370", "Composed from prior doses")
COMPOSED_WITH_CURRENT_PLAN = ("121371", "Composed from prior doses and current plan")
COMPOSED_WITH_RADIOBIOLOGY = ("121377", "Composed with radiobiological effects")
COMPOSED_FROM_DEFORMABLE_REGISTRATION = ("121367", "Composed from deformable registration")
#: CID 7221 "RT Dose Purpose of Reference": what a Referenced Instance Sequence item of a derived dose is.
SOURCE_DOSE = ("121372", "Source dose for composing current dose")
SPATIAL_TRANSFORMS = ("NONE", "RIGID", "NON_RIGID")


@dataclass(frozen=True)
class DoseDerivation:
    """How a derived dose was made, written with the attributes the standard has for it.

    Parameters
    ----------
    description : str
        DerivationDescription (General Reference module; ST, at most 1024 characters): the
        quantity, its parameters (alpha/beta, reference dose per fraction, caps) and its inputs.
    codes : sequence of (CodeValue, CodeMeaning)
        DerivationCodeSequence, DCM codes of CID 7220 (e.g. :data:`COMPOSED_WITH_RADIOBIOLOGY`).
    source_doses : sequence of InstanceReference
        The RTDOSE objects it was composed from: ReferencedInstanceSequence, each item with
        Purpose of Reference :data:`SOURCE_DOSE`.
    spatial_transform : {"NONE", "RIGID", "NON_RIGID"}
        SpatialTransformOfDose: how source doses were brought into this frame of reference.
    registrations : sequence of InstanceReference
        The REG objects used for it: ReferencedSpatialRegistrationSequence (Type 2C, so it is
        written, empty if need be, whenever ``spatial_transform`` is RIGID or NON_RIGID).
    """

    description: str
    codes: Sequence[tuple[str, str]] = ()
    source_doses: Sequence[InstanceReference] = ()
    spatial_transform: str = "NONE"
    registrations: Sequence[InstanceReference] = ()

    def __post_init__(self) -> None:
        if self.spatial_transform not in SPATIAL_TRANSFORMS:
            raise InputError(
                f"DoseDerivation: spatial_transform must be one of {SPATIAL_TRANSFORMS}, got {self.spatial_transform!r}"
            )
        if len(self.description) > 1024:
            raise InputError(f"DoseDerivation: the description has {len(self.description)} characters; DICOM ST holds 1024")

    def apply(self, ds: Dataset) -> None:
        """Set the derivation attributes of ``ds`` (an RT Dose dataset)."""
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.DerivationDescription = self.description
        if self.codes:
            ds.DerivationCodeSequence = [code_item(value, meaning) for value, meaning in self.codes]
        if self.source_doses:
            ds.ReferencedInstanceSequence = [ref.item() for ref in self.source_doses]
            for item in ds.ReferencedInstanceSequence:
                item.PurposeOfReferenceCodeSequence = [code_item(*SOURCE_DOSE)]
        ds.SpatialTransformOfDose = self.spatial_transform
        if self.spatial_transform != "NONE":
            ds.ReferencedSpatialRegistrationSequence = [ref.item() for ref in self.registrations]


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
    referenced_plans: Sequence[str | InstanceReference] = (),
    series_number: int = 900,
    bits: Literal[16, 32] = 32,
    derivation: DoseDerivation | None = None,
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
    referenced_plans : sequence of InstanceReference or str
        The plans the dose is of (ReferencedRTPlanSequence): one gives DoseSummationType PLAN,
        several MULTI_PLAN. An :class:`InstanceReference` keeps its SOP class (RT Ion Plan
        Storage for an ion plan, e.g. ``Plan.reference``); a bare UID is an RT Plan Storage
        instance. DICOM requires at least one; when empty they are taken from ``like`` (an
        RTPLAN itself, or an RTDOSE's ReferencedRTPlanSequence, classes kept).
    series_number : int
        SeriesNumber of the new series.
    bits : {32, 16}
        Bits per stored value. 32 (default) keeps a relative precision of 2.3e-10 of the maximum;
        16 (1.5e-5) is for systems that refuse 32-bit doses.
    derivation : DoseDerivation, optional
        For a derived dose: ImageType DERIVED\\SECONDARY, SpatialTransformOfDose, the registrations,
        source doses, derivation codes and description (see :class:`DoseDerivation`).

    Returns
    -------
    Path
        The path written. New Study (without ``like``), Series and SOP Instance UIDs are made.
        DoseGridScaling is about max / (2**bits - 1); values read back within DoseGridScaling / 2.

    Raises
    ------
    InputError
        Negative or non-finite values, a unit other than Gy or Gy(RBE), no plan to reference.
    OutputError
        The file cannot be written (nothing is left behind).

    Examples
    --------
    >>> import numpy as np
    >>> from accumulate import Grid, Volume, read_dose
    >>> dose = Volume(np.full((2, 3, 4), 1.5), Grid((2, 3, 4), spacing_mm=(2.0, 2.0, 3.0)), "dose", "Gy")
    >>> path = write_dose(dose, scratch / "RD.dcm", referenced_plans=[placeholder_plan()])
    >>> back = read_dose(path, accept_partial=True)
    >>> back.grid == dose.grid, float(abs(back.array - 1.5).max()) < 1e-9
    (True, True)
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
    plans = [p if isinstance(p, InstanceReference) else InstanceReference(RT_PLAN, str(p)) for p in referenced_plans]
    plans = plans or _plans_of(like_ds)
    if not plans:
        raise InputError(
            f"write_dose: an RTDOSE must reference the RTPLAN(s) it derives from (DICOM RT Dose module); pass "
            f"referenced_plans=... or like=<the course's RTPLAN or RTDOSE> to write {path}"
        )
    ds = _dose_dataset(volume, like_ds, quantity, _dose_type(volume, dose_type), plans, series_number, bits)
    if derivation is not None:
        derivation.apply(ds)
    with atomic_path(path) as temp:
        pydicom.dcmwrite(temp, ds, enforce_file_format=True)
    return path


def _plans_of(like: Dataset | None) -> list[InstanceReference]:
    if like is None:
        return []
    if like.get("Modality") == "RTPLAN":
        return [InstanceReference(str(like.get("SOPClassUID") or RT_PLAN), str(like.SOPInstanceUID))]
    return referenced_plans_of(like)


def placeholder_plan(sop_class_uid: str = RT_PLAN) -> InstanceReference:
    """A reference to a plan that no object holds (a new UID), for a dose that is no plan's dose.

    Every DoseSummationType but RECORD requires a ReferencedRTPlanSequence, and the standard has
    no term for a derived map such as a dose headroom. Naming a plan UID that no file carries
    keeps such a map from being attached to the clinical plan by systems that link doses to
    plans by reference (DICOMautomaton makes a new plan UID the same way when none is known).

    Parameters
    ----------
    sop_class_uid : str
        RT Plan (default) or RT Ion Plan Storage.

    Returns
    -------
    InstanceReference
        With a new SOP Instance UID.

    Examples
    --------
    >>> placeholder_plan().sop_class_uid == RT_PLAN, placeholder_plan() != placeholder_plan()
    (True, True)
    """
    return InstanceReference(sop_class_uid, pydicom.uid.generate_uid())


def referenced_plans_of(dose: PathLike | Dataset) -> list[InstanceReference]:
    """The plans an RTDOSE (file or dataset) references in its ReferencedRTPlanSequence, with their SOP classes.

    Parameters
    ----------
    dose : path or Dataset

    Returns
    -------
    list of InstanceReference

    Raises
    ------
    InputError
        Not DICOM.

    Examples
    --------
    >>> course = demo_case().reirradiation
    >>> [plan.sop_instance_uid == course.plan_uid for plan in referenced_plans_of(course.dose_path)]
    [True]
    """
    dose = like_dataset(dose)
    return [
        InstanceReference(str(item.get("ReferencedSOPClassUID") or RT_PLAN), str(item.ReferencedSOPInstanceUID))
        for item in dose.get("ReferencedRTPlanSequence", [])
    ]


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
    volume: Volume,
    like: Dataset | None,
    quantity: str | None,
    dose_type: str,
    plans: list[InstanceReference],
    series_number: int,
    bits: int,
) -> Dataset:
    pixels, scaling = _pixels(volume, bits)
    ds = new_series_dataset(RT_DOSE, "RTDOSE", like, series_number)
    ds.OperatorsName = ""
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    description = (quantity or f"{volume.quantity} [{volume.unit}]")[:64]
    ds.SeriesDescription = description
    ds.DoseComment = description
    for_uid = frame_of_reference_uid(like) if like is not None else None
    ds.FrameOfReferenceUID = for_uid or pydicom.uid.generate_uid()
    ds.PositionReferenceIndicator = ""
    set_equipment(ds)
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
    ds.ReferencedRTPlanSequence = [plan.item() for plan in plans]
    ds.DoseGridScaling = scaling
    ds.PixelData = np.ascontiguousarray(pixels).astype(f"<u{bits // 8}").tobytes()
    return ds
