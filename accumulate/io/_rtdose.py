"""RTDOSE (and research formats) in: the dose grid, DoseGridScaling, units, type and summation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from ..errors import GeometryError, InputError
from ..geometry import Volume
from ._dicom import PathLike, file_errors, frame_of_reference_uid, number, numbers, plane_axes, plane_grid, read_dataset, whole
from ._itkio import is_itk_path, read_itk_volume
from ._rtplan import Plan, read_plan
from ._stack import even_step

_COURSE_SUMS = {"PLAN", "MULTI_PLAN", "PLAN_SUM", "RECORD"}
_PARTIAL_SUMS = {"BEAM", "BRACHY", "CONTROL_POINT", "FRACTION_SESSION", "BEAM_SESSION", "BRACHY_SESSION"}


@dataclass(frozen=True)
class DoseHeader:
    """The RTDOSE attributes that decide how its values are read and which course it belongs to."""

    sop_instance_uid: str
    frame_of_reference_uid: str | None
    referenced_plan_uid: str | None
    units: str
    dose_type: str
    summation: str


def dose_header(ds: Dataset) -> DoseHeader:
    """The :class:`DoseHeader` of an RTDOSE dataset."""
    plans = [item for item in ds.get("ReferencedRTPlanSequence", []) if item.get("ReferencedSOPInstanceUID")]
    return DoseHeader(
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        frame_of_reference_uid=frame_of_reference_uid(ds),
        referenced_plan_uid=str(plans[0].ReferencedSOPInstanceUID) if plans else None,
        units=str(ds.get("DoseUnits", "")).upper(),
        dose_type=str(ds.get("DoseType", "")).upper(),
        summation=str(ds.get("DoseSummationType", "")).upper(),
    )


def _frame_offsets(ds: Dataset, path: Path, nz: int) -> np.ndarray:
    """GridFrameOffsetVector as offsets along the IOP normal from ImagePositionPatient, mm."""
    if nz == 1:
        return np.zeros(1)
    offsets = numbers(ds, "GridFrameOffsetVector", path)
    if offsets.size != nz:
        raise InputError(f"{path}: GridFrameOffsetVector has {offsets.size} values for {nz} frames")
    if abs(offsets[0]) < 1e-6:
        return offsets
    z0 = float(numbers(ds, "ImagePositionPatient", path, count=3)[2])
    axial = np.allclose(numbers(ds, "ImageOrientationPatient", path, count=6), [1, 0, 0, 0, 1, 0], atol=1e-4)
    if axial and abs(offsets[0] - z0) < 1e-3:  # absolute form: the z coordinate of each frame
        return offsets - z0
    raise GeometryError(
        f"{path}: GridFrameOffsetVector starts at {offsets[0]} but must start at 0 (relative form) or, for axial "
        f"doses only, at ImagePositionPatient z = {z0} (absolute form)"
    )


def _dose_grid(ds: Dataset, path: Path, nz: int, rows: int, columns: int):
    axes = plane_axes(numbers(ds, "ImageOrientationPatient", path, count=6), path)
    offsets = _frame_offsets(ds, path, nz)
    if nz == 1:
        step = number(ds, "SliceThickness", path, default=1.0, positive=True)
    else:
        step = even_step(offsets, f"{path} (GridFrameOffsetVector)")
    ipp = numbers(ds, "ImagePositionPatient", path, count=3) + axes[:, 2] * offsets[0]
    spacing = numbers(ds, "PixelSpacing", path, count=2, positive=True)
    return plane_grid(ipp, axes, spacing, rows, columns, nz, step)


def _scaling(ds: Dataset, path: Path) -> float:
    """DoseGridScaling: required with pixel data (Type 1C), > 0; a missing one is never taken for 1."""
    if ds.get("DoseGridScaling") in (None, ""):
        raise InputError(
            f"{path}: DoseGridScaling (3004,000E) is missing; the stored integers cannot be turned into Gy. Re-export the "
            "dose (every planning system writes it)"
        )
    return number(ds, "DoseGridScaling", path, positive=True)


def _dose_pixels(ds: Dataset, path: Path, nz: int, rows: int, columns: int) -> np.ndarray:
    bits, signed = whole(ds, "BitsAllocated", path), whole(ds, "PixelRepresentation", path, default=0, minimum=0)
    if bits not in (16, 32):
        raise InputError(f"{path}: BitsAllocated {bits}: an RTDOSE stores 16- or 32-bit integers")
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        raise InputError(f"{path}: cannot decode the dose pixel data ({type(exc).__name__}: {exc}); is it truncated?") from exc
    if pixels.size != nz * rows * columns:
        raise InputError(
            f"{path}: the pixel data holds {pixels.size} values, not NumberOfFrames x Rows x Columns = {nz} x {rows} x {columns}"
        )
    pixels = pixels.reshape(nz, rows, columns)
    if signed and pixels.min() < 0:
        raise InputError(f"{path}: the dose holds negative values (down to {int(pixels.min())} stored units)")
    return pixels


def _resolve_plan(plan: Plan | PathLike | None, header: DoseHeader, path: Path) -> Plan | None:
    """The plan given, or the referenced RTPLAN found beside the dose file; checks the reference."""
    if plan is not None and not isinstance(plan, Plan):
        plan = read_plan(plan)
    if plan is None and header.referenced_plan_uid:
        for sibling in sorted(path.parent.iterdir()):
            if sibling == path or not sibling.is_file():
                continue
            try:
                ds = read_dataset(sibling, stop_before_pixels=True)
            except InputError:
                continue
            if ds.get("Modality") == "RTPLAN" and str(ds.get("SOPInstanceUID")) == header.referenced_plan_uid:
                return read_plan(sibling)
        return None
    if plan is not None and header.referenced_plan_uid and plan.sop_instance_uid != header.referenced_plan_uid:
        raise InputError(
            f"{path}: the dose references RTPLAN {header.referenced_plan_uid} but the plan given is {plan.sop_instance_uid}; "
            "pass the plan this dose was computed for"
        )
    return plan


def _course_factor(header: DoseHeader, plan: Plan | None, fractions: int | None, accept_partial: bool, path: Path) -> float:
    """Multiplier that turns the stored dose into the dose of the whole course."""
    if header.summation == "FRACTION":
        count = fractions if fractions is not None else (plan.fractions if plan is not None else None)
        if not count or count < 1:
            raise InputError(
                f"{path}: DoseSummationType FRACTION is the dose of one fraction; pass fractions=... or the RTPLAN "
                f"(referenced plan {header.referenced_plan_uid}) so it can be scaled to the course"
            )
        return float(count)
    if header.summation in _PARTIAL_SUMS and not accept_partial:
        raise InputError(
            f"{path}: DoseSummationType {header.summation} holds part of a plan's dose; export the PLAN dose, or read "
            "each part with accept_partial=True and add them"
        )
    if header.summation not in _COURSE_SUMS | _PARTIAL_SUMS:
        raise InputError(f"{path}: unknown DoseSummationType {header.summation!r}")
    return 1.0


def _unit_and_factor(header: DoseHeader, plan: Plan | None, relative_to_gy: float | None, rbe: float | None, path: Path):
    factor = 1.0
    if header.units == "RELATIVE":
        if relative_to_gy is None:
            raise InputError(
                f"{path}: DoseUnits RELATIVE (dose relative to an unstated reference); pass relative_to_gy=<Gy per unit "
                "of the stored values> or export the dose in GY"
            )
        factor = float(relative_to_gy)
    elif header.units != "GY":
        raise InputError(f"{path}: DoseUnits {header.units!r} is neither GY nor RELATIVE")
    if header.dose_type == "EFFECTIVE":
        return "Gy(RBE)", factor
    if header.dose_type != "PHYSICAL":
        raise InputError(f"{path}: DoseType {header.dose_type!r} is not a dose (expected PHYSICAL or EFFECTIVE)")
    if plan is not None and plan.rbe_weighted:
        if rbe is None:
            raise InputError(
                f"{path}: PHYSICAL dose of a {plan.radiation_type} plan; export the RBE-weighted (EFFECTIVE) dose, or pass "
                "rbe=... (e.g. 1.1 for protons) to weight it"
            )
        return "Gy(RBE)", factor * float(rbe)
    return "Gy", factor


@file_errors
def read_dose(
    path: PathLike,
    *,
    plan: Plan | PathLike | None = None,
    fractions: int | None = None,
    relative_to_gy: float | None = None,
    rbe: float | None = None,
    accept_partial: bool = False,
    unit: str = "Gy",
    frame_of_reference_uid: str | None = None,
) -> Volume:
    """Read the dose of a whole course from an RTDOSE file (``.dcm``) or an MHA/NRRD/NIfTI image.

    For RTDOSE the stored integers are multiplied by DoseGridScaling; GridFrameOffsetVector
    may be relative (first value 0) or absolute (axial doses only) and may decrease (the grid's
    z axis then points along minus the IOP normal, frames keep the file's order). A FRACTION
    dose is multiplied by the number of fractions (``fractions``, else the plan's).

    Parameters
    ----------
    path : path
        RTDOSE file, or ``.mha``/``.mhd``/``.nrrd``/``.nhdr``/``.nii``/``.nii.gz`` (values taken as they are, in ``unit``).
    plan : Plan or path, optional
        The RTPLAN the dose was computed for; it must be the one in ReferencedRTPlanSequence.
        When omitted, a referenced RTPLAN in the same folder is used if present.
    fractions : int, optional
        Number of fractions for a FRACTION dose (overrides the plan's).
    relative_to_gy : float, optional
        Gy per stored unit for DoseUnits RELATIVE (refused without it).
    rbe : float, optional
        RBE applied to a PHYSICAL dose of a particle plan (refused without it).
    accept_partial : bool
        Let BEAM / CONTROL_POINT / BRACHY partial doses through unchanged (to be summed by the caller).
    unit : str
        Unit of a research-format image (``"Gy"`` or ``"Gy(RBE)"``).
    frame_of_reference_uid : str, optional
        The frame the caller expects (e.g. its CT's); an RTDOSE in another frame is refused.

    Returns
    -------
    Volume
        ``quantity="dose"``, ``unit="Gy"`` (PHYSICAL) or ``"Gy(RBE)"`` (EFFECTIVE, or particle
        plans), float64 array (z, y, x) in Gy.

    Raises
    ------
    InputError
        Not an RTDOSE, a FRACTION dose without a number of fractions, RELATIVE units without
        ``relative_to_gy``, a partial dose without ``accept_partial``, a plan that is not the referenced one.
    GeometryError
        A dose in another frame of reference than ``frame_of_reference_uid``, an unusable grid.

    Examples
    --------
    >>> course = demo_case().reirradiation
    >>> dose = read_dose(course.dose_path)
    >>> dose.unit, dose.grid == course.dose_grid, bool(dose.array.max() > course.prescription_gy)
    ('Gy', True, True)
    """
    path = Path(path)
    if is_itk_path(path):
        return read_itk_volume(path, quantity="dose", unit=unit)
    ds = read_dataset(path, expect="RTDOSE")
    header = dose_header(ds)
    if frame_of_reference_uid is not None and header.frame_of_reference_uid not in (None, frame_of_reference_uid):
        raise GeometryError(
            f"{path}: the dose is in frame of reference {header.frame_of_reference_uid}, not {frame_of_reference_uid} "
            "as expected; register the courses, or pair the dose with the CT of its own frame"
        )
    plan = _resolve_plan(plan, header, path)
    unit, factor = _unit_and_factor(header, plan, relative_to_gy, rbe, path)
    factor *= _course_factor(header, plan, fractions, accept_partial, path)
    nz = whole(ds, "NumberOfFrames", path, default=1)
    rows, columns = whole(ds, "Rows", path), whole(ds, "Columns", path)
    scaling = _scaling(ds, path)
    grid = _dose_grid(ds, path, nz, rows, columns)
    dose = _dose_pixels(ds, path, nz, rows, columns).astype(np.float64) * (scaling * factor)
    return Volume(dose, grid, "dose", unit)
