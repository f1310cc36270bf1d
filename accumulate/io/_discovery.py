"""Group an export folder into courses: RTDOSE -> RTPLAN -> RTSTRUCT -> CT, and say what is missing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from ..errors import InputError
from ._dicom import NotDicom, PathLike, frame_of_reference_uid, read_dataset
from ._rtdose import dose_header


@dataclass(frozen=True)
class CourseFiles:
    """The files of one course (one RTPLAN, or one RTDOSE whose plan is absent).

    ``missing`` lists, in words, each object that the references call for but the folder lacks.
    Read the CT with ``read_ct(ct_folder, series_uid=ct_series_uid)``.
    """

    plan_uid: str | None
    frame_of_reference_uid: str | None
    plan_path: Path | None
    dose_paths: tuple[Path, ...]
    structure_path: Path | None
    ct_series_uid: str | None
    ct_paths: tuple[Path, ...]
    missing: tuple[str, ...]

    @property
    def ct_folder(self) -> Path | None:
        """The folder of the CT files (``None`` without CT, or when they are spread over several folders)."""
        folders = {p.parent for p in self.ct_paths}
        return folders.pop() if len(folders) == 1 else None

    @property
    def complete(self) -> bool:
        return not self.missing


def _index(root: Path, recursive: bool) -> tuple[dict[str, list[tuple[Path, Dataset]]], list[str]]:
    """The DICOM headers under ``root`` by Modality, and the files that look like DICOM but cannot be read."""
    files = root.rglob("*") if recursive else root.iterdir()
    by_modality: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    unreadable = []
    for path in sorted(p for p in files if p.is_file() and not p.name.startswith(".")):
        try:
            ds = read_dataset(path, stop_before_pixels=True)
        except NotDicom:
            continue
        except InputError as exc:
            unreadable.append(str(exc))
            continue
        by_modality[str(ds.get("Modality", ""))].append((path, ds))
    return by_modality, unreadable


def _ct_series_of(structure: Dataset | None) -> str | None:
    for frame in (structure or {}).get("ReferencedFrameOfReferenceSequence", []):
        for study in frame.get("RTReferencedStudySequence", []):
            for series in study.get("RTReferencedSeriesSequence", []):
                return str(series.SeriesInstanceUID)
    return None


def discover_courses(folder: PathLike, *, recursive: bool = True, allow_unreadable: bool = False) -> list[CourseFiles]:
    """Group the DICOM files under ``folder`` into courses by their references.

    Each RTPLAN (and each RTDOSE whose plan is absent) makes a course: doses join the plan in
    their ReferencedRTPlanSequence, the plan names its RTSTRUCT, the structure set names its CT
    series (else the CT series sharing the FrameOfReferenceUID is used). Files that are not
    DICOM are ignored; a file that looks like DICOM but cannot be read (empty, truncated,
    corrupt) is an InputError naming it, unless ``allow_unreadable`` (a receiver's folder still
    being filled). Courses are ordered by plan path, then by dose path.

    Parameters
    ----------
    folder : path
        The export folder (searched recursively unless ``recursive`` is False).
    recursive : bool
        Look in sub-folders too.
    allow_unreadable : bool
        Skip files that look like DICOM but cannot be read instead of refusing the folder.

    Returns
    -------
    list of CourseFiles
        With ``missing`` filled for every broken link (e.g. ``"RTDOSE"`` for a plan without dose).

    Raises
    ------
    InputError
        ``folder`` is not a folder, or holds unreadable DICOM files (without ``allow_unreadable``).

    Examples
    --------
    >>> case = demo_case()
    >>> [course.missing for course in discover_courses(case.folder)]
    [(), ()]
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    index, unreadable = _index(root, recursive)
    unreadable += [f"{path}: has no SOPInstanceUID" for modality in ("RTPLAN", "RTSTRUCT", "RTDOSE")
                   for path, ds in index[modality] if not ds.get("SOPInstanceUID")]  # fmt: skip
    if unreadable and not allow_unreadable:
        raise InputError(f"{root}: {len(unreadable)} file(s) of the export cannot be read or used:\n  " + "\n  ".join(unreadable))
    plans = {str(ds.SOPInstanceUID): (p, ds) for p, ds in index["RTPLAN"]}
    structures = {str(ds.SOPInstanceUID): (p, ds) for p, ds in index["RTSTRUCT"]}
    ct_by_series: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for path, ds in index["CT"]:
        ct_by_series[str(ds.get("SeriesInstanceUID"))].append((path, ds))
    doses_by_plan: dict[str | None, list[Path]] = defaultdict(list)
    orphan_doses: list[tuple[Path, str | None]] = []
    for path, ds in index["RTDOSE"]:
        header = dose_header(ds)
        key = header.referenced_plan_uid
        if key in plans:
            doses_by_plan[key].append(path)
        else:
            orphan_doses.append((path, key))
    courses = [_course(uid, plans[uid], doses_by_plan.get(uid, []), structures, ct_by_series) for uid in plans]
    for path, plan_uid in orphan_doses:
        ds = next(d for p, d in index["RTDOSE"] if p == path)
        missing = [f"RTPLAN {plan_uid} referenced by {path.name}" if plan_uid else f"RTPLAN reference in {path.name}"]
        series, cts = _ct_for(None, frame_of_reference_uid(ds), ct_by_series)
        missing += [] if cts else ["CT series"]
        courses.append(CourseFiles(plan_uid, frame_of_reference_uid(ds), None, (path,), None, series, cts, tuple(missing)))
    return sorted(courses, key=lambda c: (str(c.plan_path or ""), str(c.dose_paths)))


def _ct_for(series_uid: str | None, frame_uid: str | None, ct_by_series: dict) -> tuple[str | None, tuple[Path, ...]]:
    if series_uid in ct_by_series:
        return series_uid, tuple(p for p, _ in ct_by_series[series_uid])
    same_frame = [
        uid for uid, files in ct_by_series.items() if frame_uid and str(files[0][1].get("FrameOfReferenceUID")) == frame_uid
    ]
    if len(same_frame) == 1:
        return same_frame[0], tuple(p for p, _ in ct_by_series[same_frame[0]])
    return series_uid, ()


def _course(uid: str, plan: tuple[Path, Dataset], doses: list[Path], structures: dict, ct_by_series: dict) -> CourseFiles:
    plan_path, plan_ds = plan
    missing = [] if doses else [f"RTDOSE for plan {plan_path.name}"]
    refs = plan_ds.get("ReferencedStructureSetSequence", [])
    structure_uid = str(refs[0].ReferencedSOPInstanceUID) if refs else None
    structure_path, structure_ds = structures.get(structure_uid, (None, None))
    if structure_path is None:
        missing.append(
            f"RTSTRUCT {structure_uid} referenced by {plan_path.name}" if structure_uid else "RTSTRUCT reference in the plan"
        )
    frame = frame_of_reference_uid(plan_ds) or (frame_of_reference_uid(structure_ds) if structure_ds is not None else None)
    series, cts = _ct_for(_ct_series_of(structure_ds), frame, ct_by_series)
    if not cts:
        missing.append(f"CT series {series}" if series else "CT series")
    return CourseFiles(uid, frame, plan_path, tuple(doses), structure_path, series, cts, tuple(missing))
