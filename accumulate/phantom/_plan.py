"""The RT Plan of one demo course: an approved photon plan with its prescription and fractionation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from ..io.uids import RT_PLAN, RT_STRUCT
from ._export import CourseIdentity, new_dataset, uid


@dataclass(frozen=True)
class Prescription:
    """What the plan states: label, fractions, prescription (Gy) to the target ROI, its number in the structure set."""

    label: str
    fractions: int
    prescription_gy: float
    target_roi_number: int
    isocentre_mm: tuple[float, float, float]


def write_rtplan(path: Path, rx: Prescription, course: CourseIdentity, structure_set_uid: str) -> Dataset:
    """A minimal approved photon RT Plan: one fraction group, two static 6 MV beams, the prescription."""
    sop_uid = uid(course.key, course.study_uid, "rtplan")
    ds = new_dataset(RT_PLAN, sop_uid, "RTPLAN", course, uid(sop_uid, "series"), 3)
    ds.SeriesDescription = f"{course.description} plan"
    ds.OperatorsName = ""
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = course.frame_uid, ""
    ds.RTPlanLabel, ds.RTPlanName = rx.label[:16], f"{course.description} {rx.label}"
    ds.RTPlanDate, ds.RTPlanTime = course.plan_date.strftime("%Y%m%d"), "120000"
    ds.RTPlanGeometry = "PATIENT"
    ds.ApprovalStatus, ds.ReviewDate, ds.ReviewTime, ds.ReviewerName = "APPROVED", ds.RTPlanDate, "130000", "Demo^Physician"
    structure_set = Dataset()
    structure_set.ReferencedSOPClassUID, structure_set.ReferencedSOPInstanceUID = RT_STRUCT, structure_set_uid
    ds.ReferencedStructureSetSequence = [structure_set]
    reference = Dataset()
    reference.DoseReferenceNumber, reference.DoseReferenceUID = 1, uid(sop_uid, "dose reference")
    reference.DoseReferenceStructureType, reference.ReferencedROINumber = "VOLUME", rx.target_roi_number
    reference.DoseReferenceDescription, reference.DoseReferenceType = "PTV", "TARGET"
    reference.TargetPrescriptionDose = format_number_as_ds(float(rx.prescription_gy))
    ds.DoseReferenceSequence = [reference]
    setup = Dataset()
    setup.PatientSetupNumber, setup.PatientPosition = 1, "HFS"
    ds.PatientSetupSequence = [setup]
    gantry_angles = (0.0, 180.0)
    group = Dataset()
    group.FractionGroupNumber, group.NumberOfFractionsPlanned = 1, rx.fractions
    group.NumberOfBeams, group.NumberOfBrachyApplicationSetups = len(gantry_angles), 0
    group.ReferencedBeamSequence = []
    ds.BeamSequence = []
    for number, angle in enumerate(gantry_angles, start=1):
        beam_ref = Dataset()
        beam_ref.ReferencedBeamNumber, beam_ref.BeamMeterset = number, "100.0"
        group.ReferencedBeamSequence.append(beam_ref)
        ds.BeamSequence.append(_beam(number, angle, rx.isocentre_mm))
    ds.FractionGroupSequence = [group]
    ds.save_as(path, enforce_file_format=True)
    return ds


def _beam(number: int, gantry_deg: float, isocentre_mm: tuple[float, float, float]) -> Dataset:
    beam = Dataset()
    beam.BeamNumber, beam.BeamName, beam.BeamType, beam.RadiationType = number, f"G{gantry_deg:g}", "STATIC", "PHOTON"
    beam.TreatmentMachineName, beam.PrimaryDosimeterUnit, beam.SourceAxisDistance = "DemoLinac", "MU", "1000"
    beam.TreatmentDeliveryType, beam.ReferencedPatientSetupNumber = "TREATMENT", 1
    beam.NumberOfWedges = beam.NumberOfCompensators = beam.NumberOfBoli = beam.NumberOfBlocks = 0
    beam.FinalCumulativeMetersetWeight, beam.NumberOfControlPoints = "1", 2
    jaws = []
    for kind in ("ASYMX", "ASYMY"):
        device = Dataset()
        device.RTBeamLimitingDeviceType, device.NumberOfLeafJawPairs = kind, 1
        jaws.append(device)
    beam.BeamLimitingDeviceSequence = jaws
    first, last = Dataset(), Dataset()
    first.ControlPointIndex, first.NominalBeamEnergy, first.DoseRateSet = 0, "6", "600"
    positions = []
    for kind in ("ASYMX", "ASYMY"):
        position = Dataset()
        position.RTBeamLimitingDeviceType, position.LeafJawPositions = kind, ["-50", "50"]
        positions.append(position)
    first.BeamLimitingDevicePositionSequence = positions
    first.GantryAngle, first.GantryRotationDirection = format_number_as_ds(gantry_deg), "NONE"
    first.BeamLimitingDeviceAngle, first.BeamLimitingDeviceRotationDirection = "0", "NONE"
    first.PatientSupportAngle, first.PatientSupportRotationDirection = "0", "NONE"
    first.TableTopEccentricAngle, first.TableTopEccentricRotationDirection = "0", "NONE"
    first.IsocenterPosition = [format_number_as_ds(float(v)) for v in isocentre_mm]
    first.CumulativeMetersetWeight = "0"
    last.ControlPointIndex, last.CumulativeMetersetWeight = 1, "1"
    beam.ControlPointSequence = [first, last]
    return beam
