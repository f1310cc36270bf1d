"""RTPLAN / RT Ion Plan: fractions, prescription, dates, radiation type."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from pydicom.dataset import Dataset

from ..errors import InputError
from ._dicom import (
    InstanceReference,
    PathLike,
    file_errors,
    frame_of_reference_uid,
    number,
    parse_date,
    read_dataset,
    require,
    whole,
)
from .uids import RT_ION_PLAN, RT_PLAN

_PARTICLES = {"PROTON", "ION"}


@dataclass(frozen=True)
class Plan:
    """What the engine needs from an RT (Ion) Plan.

    Attributes
    ----------
    sop_instance_uid : str
        The plan's SOPInstanceUID (what an RTDOSE's ReferencedRTPlanSequence points at).
    fractions : int or None
        NumberOfFractionsPlanned (summed over fraction groups when there are several).
    prescription_gy : float or None
        TargetPrescriptionDose of the plan's target dose reference, Gy (Gy(RBE) for particles):
        the first TARGET reference of structure type SITE or VOLUME, else the first TARGET.
    plan_date, review_date, study_date : datetime.date or None
        RTPlanDate, ReviewDate (approval) and StudyDate where present.
    radiation_type : str
        ``"PHOTON"``, ``"ELECTRON"``, ``"PROTON"``, ``"ION"`` (with ``atomic_number``), ``"BRACHY"``,
        ``"MIXED"`` or ``"UNKNOWN"``.
    atomic_number : int or None
        RadiationAtomicNumber of ion beams (6 for carbon).
    rbe_weighted : bool
        True for particle plans (protons, ions): their doses are prescribed and reported in Gy(RBE).
    label : str
        RTPlanLabel.
    frame_of_reference_uid, structure_set_uid : str or None
        The plan's frame of reference and its ReferencedStructureSetSequence UID.
    sop_class_uid : str
        RT Plan Storage or RT Ion Plan Storage: the class a reference to this plan must name.
    """

    sop_instance_uid: str
    fractions: int | None
    prescription_gy: float | None
    plan_date: _dt.date | None
    review_date: _dt.date | None
    study_date: _dt.date | None
    radiation_type: str
    atomic_number: int | None
    rbe_weighted: bool
    label: str
    frame_of_reference_uid: str | None
    structure_set_uid: str | None
    sop_class_uid: str = RT_PLAN

    @property
    def course_date(self) -> tuple[_dt.date | None, str | None]:
        """The date a course is dated by, and the attribute it came from.

        ReviewDate (approval) first, else RTPlanDate, else StudyDate; ``(None, None)`` when the
        plan has none of them.
        """
        for attribute, value in (("ReviewDate", self.review_date), ("RTPlanDate", self.plan_date),
                                 ("StudyDate", self.study_date)):  # fmt: skip
            if value is not None:
                return value, attribute
        return None, None

    @property
    def reference(self) -> InstanceReference:
        """This plan as a reference (its own SOP class: RT Ion Plan Storage for an ion plan)."""
        return InstanceReference(self.sop_class_uid, self.sop_instance_uid)


def _fractions(ds: Dataset, path: PathLike) -> int | None:
    counts = [
        whole(fg, "NumberOfFractionsPlanned", path) for fg in ds.get("FractionGroupSequence", [])
        if fg.get("NumberOfFractionsPlanned") not in (None, "")
    ]  # fmt: skip
    return sum(counts) if counts else None


def _prescription(ds: Dataset, path: PathLike) -> float | None:
    targets = [
        ref
        for ref in ds.get("DoseReferenceSequence", [])
        if ref.get("DoseReferenceType") == "TARGET" and ref.get("TargetPrescriptionDose") not in (None, "")
    ]
    targets.sort(key=lambda ref: ref.get("DoseReferenceStructureType") not in ("SITE", "VOLUME"))
    return number(targets[0], "TargetPrescriptionDose", path, positive=True) if targets else None


def _radiation(ds: Dataset, path: PathLike) -> tuple[str, int | None]:
    if "ApplicationSetupSequence" in ds:
        return "BRACHY", None
    beams = list(ds.get("IonBeamSequence", [])) + list(ds.get("BeamSequence", []))
    kinds = {str(b.get("RadiationType", "")).upper() for b in beams} - {""}
    atomic = {whole(b, "RadiationAtomicNumber", path) for b in beams if b.get("RadiationAtomicNumber")}
    if not kinds:
        return "UNKNOWN", None
    if len(kinds) > 1:
        return "MIXED", None
    kind = kinds.pop()
    return kind, (atomic.pop() if kind == "ION" and len(atomic) == 1 else None)


def plan_from_dataset(ds: Dataset, path: PathLike) -> Plan:
    """A :class:`Plan` from an RT Plan or RT Ion Plan dataset read from ``path``."""
    if ds.get("SOPClassUID") not in (RT_PLAN, RT_ION_PLAN) and ds.get("Modality") != "RTPLAN":
        raise InputError(f"{path}: not an RT Plan (SOP class {ds.get('SOPClassUID')}, Modality {ds.get('Modality')!r})")
    radiation, atomic = _radiation(ds, path)
    structure_sets = [item for item in ds.get("ReferencedStructureSetSequence", []) if item.get("ReferencedSOPInstanceUID")]
    return Plan(
        sop_instance_uid=str(require(ds, "SOPInstanceUID", path)),
        fractions=_fractions(ds, path),
        prescription_gy=_prescription(ds, path),
        plan_date=parse_date(ds.get("RTPlanDate")),
        review_date=parse_date(ds.get("ReviewDate")),
        study_date=parse_date(ds.get("StudyDate")),
        radiation_type=radiation,
        atomic_number=atomic,
        rbe_weighted=radiation in _PARTICLES,
        label=str(ds.get("RTPlanLabel", "")),
        frame_of_reference_uid=frame_of_reference_uid(ds),
        structure_set_uid=str(structure_sets[0].ReferencedSOPInstanceUID) if structure_sets else None,
        sop_class_uid=str(ds.get("SOPClassUID") or (RT_ION_PLAN if "IonBeamSequence" in ds else RT_PLAN)),
    )


@file_errors
def read_plan(path: PathLike) -> Plan:
    """Read an RTPLAN or RT Ion Plan file; see :class:`Plan` for what is kept and its units.

    Parameters
    ----------
    path : path
        The RT Plan or RT Ion Plan file.

    Returns
    -------
    Plan

    Raises
    ------
    InputError
        Not DICOM, not a plan, or a plan whose fractionation or prescription cannot be read.

    Examples
    --------
    >>> course = demo_case().reirradiation
    >>> read_plan(course.plan_path).sop_instance_uid == course.plan_uid
    True
    """
    return plan_from_dataset(read_dataset(path, stop_before_pixels=True), path)
