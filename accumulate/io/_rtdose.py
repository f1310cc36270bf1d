"""RTDOSE (and research formats) in: the dose grid, DoseGridScaling, units, type and summation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from ..errors import GeometryError, InputError
from ..geometry import Volume
from ._dicom import PathLike, frame_of_reference_uid, plane_axes, plane_grid, read_dataset, require
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
    plans = ds.get("ReferencedRTPlanSequence", [])
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
    raw = ds.get("GridFrameOffsetVector")
    if raw is None or len(raw) != nz:
        raise InputError(f"{path}: GridFrameOffsetVector has {0 if raw is None else len(raw)} values for {nz} frames")
    offsets = np.asarray([float(v) for v in raw])
    if abs(offsets[0]) < 1e-6:
        return offsets
    z0 = float(ds.ImagePositionPatient[2])
    axial = np.allclose([float(v) for v in ds.ImageOrientationPatient], [1, 0, 0, 0, 1, 0], atol=1e-4)
    if axial and abs(offsets[0] - z0) < 1e-3:  # absolute form: the z coordinate of each frame
        return offsets - z0
    raise GeometryError(
        f"{path}: GridFrameOffsetVector starts at {offsets[0]} but must start at 0 (relative form) or, for axial "
        f"doses only, at ImagePositionPatient z = {z0} (absolute form)"
    )


def _dose_grid(ds: Dataset, path: Path, nz: int):
    axes = plane_axes(require(ds, "ImageOrientationPatient", path), path)
    offsets = _frame_offsets(ds, path, nz)
    if nz == 1:
        step = float(ds.get("SliceThickness") or 1.0)
    else:
        step = even_step(offsets, f"{path} (GridFrameOffsetVector)")
    ipp = np.asarray([float(v) for v in require(ds, "ImagePositionPatient", path)]) + axes[:, 2] * offsets[0]
    return plane_grid(ipp, axes, require(ds, "PixelSpacing", path), ds.Rows, ds.Columns, nz, step)


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
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        raise InputError(f"{path}: cannot decode the dose pixel data ({type(exc).__name__}: {exc})") from exc
    nz = int(ds.get("NumberOfFrames", 1) or 1)
    pixels = pixels.reshape(nz, int(ds.Rows), int(ds.Columns))
    scaling = float(ds.get("DoseGridScaling", 1.0) or 1.0)
    dose = pixels.astype(np.float64) * (scaling * factor)
    return Volume(dose, _dose_grid(ds, path, nz), "dose", unit)
