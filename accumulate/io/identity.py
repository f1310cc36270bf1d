"""Who and where a DICOM object belongs to: patient, frame of reference, study and series.

The consistency checks of a case compare these between the files of a course (CT, RTDOSE,
RTSTRUCT, RTPLAN share the patient and the frame of reference) and across courses (one patient).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from ._ct import ct_series
from ._dicom import PathLike, frame_of_reference_uid, read_dataset


@dataclass(frozen=True)
class ObjectIdentity:
    """The identifying attributes of one DICOM object (empty strings where the file has none).

    ``frame_of_reference_uid`` is the object's own (CT, RTDOSE, RTPLAN) or, for an RTSTRUCT,
    the frame its contours are in (ReferencedFrameOfReferenceSequence; the RT Structure Set has
    no Frame of Reference module of its own, and a top-level FrameOfReferenceUID is ignored).
    """

    path: Path
    modality: str
    sop_instance_uid: str
    patient_id: str
    patient_name: str
    birth_date: str
    frame_of_reference_uid: str
    study_instance_uid: str
    series_instance_uid: str

    def label(self) -> str:
        """``RTDOSE RD.dcm`` for messages."""
        return f"{self.modality or 'DICOM'} {self.path.name}"


def identity_of(ds: Dataset, path: PathLike) -> ObjectIdentity:
    """The :class:`ObjectIdentity` of a dataset read from ``path``."""

    def text(keyword: str) -> str:
        return str(ds.get(keyword, "") or "").strip()

    return ObjectIdentity(
        path=Path(path),
        modality=text("Modality"),
        sop_instance_uid=text("SOPInstanceUID"),
        patient_id=text("PatientID"),
        patient_name=text("PatientName"),
        birth_date=text("PatientBirthDate"),
        frame_of_reference_uid=frame_of_reference_uid(ds) or "",
        study_instance_uid=text("StudyInstanceUID"),
        series_instance_uid=text("SeriesInstanceUID"),
    )


def read_identity(path: PathLike) -> ObjectIdentity:
    """The identity of the DICOM file at ``path`` (header only; an unreadable file is an InputError naming it)."""
    return identity_of(read_dataset(path, stop_before_pixels=True), path)


def read_ct_identity(folder: PathLike, *, series_uid: str | None = None) -> ObjectIdentity:
    """The identity of a CT series in ``folder`` (its first slice's; the slices agree, see :func:`accumulate.read_ct`)."""
    path, ds = ct_series(Path(folder), series_uid)[0]
    return identity_of(ds, path)
