"""What a case folder holds: its courses, whether anything referenced is still missing, and its run configuration.

A folder of received objects (any layout; each CT series in its own folder) is a
re-irradiation case when it holds at least two courses with a dose. It is *complete* when
nothing referenced is missing: every plan's dose, structure set and CT, every prior plan a plan
names (ReferencedRTPlanSequence, relationship PRIOR or PREDECESSOR) and every frame of reference a
deformable REG maps from. Courses are ordered by plan date (ReviewDate, else RTPlanDate, else
StudyDate); the newest is the reference. A deformable REG whose registered frame is the
reference course's, whose one source frame is a prior course's and whose grid covers the
reference CT's body is that course's ``dvf`` (the pipeline resamples it onto the CT grid);
without one the prior course is registered with the profile's ``[registration]``, starting from
a received spatial (rigid) REG between the two frames when there is one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import pydicom

from ..config import RunConfig, config_with_courses
from ..errors import AccumulateError, GeometryError, InputError
from ..io import CourseFiles, deformable_frames, discover_courses, read_ct, read_dataset, read_plan
from ..io.uids import DEFORMABLE_REG, SPATIAL_REG
from ..registration import body_mask, read_field, rigid_start, uncovered_voxels
from ._settings import Profile

log = logging.getLogger(__name__)

PRIOR_PLAN_RELATIONSHIPS = ("PRIOR", "PREDECESSOR")


@dataclass(frozen=True)
class CaseCourse:
    """One course with a dose; ``date`` orders the courses; ``dvf`` (deformable) and ``rigid_start`` are received REGs for it."""

    files: CourseFiles
    date: dt.date | None
    dvf: Path | None = None
    rigid_start: Path | None = None


@dataclass(frozen=True)
class Assessment:
    """The courses with a dose (oldest first, the last is the reference) and what is still missing, in words."""

    folder: Path
    courses: tuple[CaseCourse, ...]
    waiting_for: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return len(self.courses) >= 2 and not self.waiting_for


def _registrations(folder: Path) -> tuple[dict[str, dict[str, Path]], list[Path]]:
    """Deformable REG files by registered frame, then by their single source frame; and the spatial REG files."""
    found: dict[str, dict[str, Path]] = {}
    spatial: list[Path] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            head = pydicom.dcmread(path, specific_tags=["SOPClassUID"], stop_before_pixels=True, force=True)
        except Exception:  # not DICOM: ignored, as discover_courses does
            continue
        if head.get("SOPClassUID") == SPATIAL_REG:
            spatial.append(path)
        if head.get("SOPClassUID") != DEFORMABLE_REG:
            continue
        registered, sources = deformable_frames(read_dataset(path))
        if len(sources) == 1:
            found.setdefault(registered, {})[sources[0]] = path
        else:
            log.info("%s: a deformable REG from %d frames of reference is not used as a given field", path.name, len(sources))
    return found, spatial


def _given_field(reg: Path | None, reference: CourseFiles) -> Path | None:
    """``reg`` when its field covers the reference CT's body (the pipeline resamples it onto the CT grid), else ``None``."""
    if reg is None or reference.ct_folder is None:
        return None
    try:
        ct = read_ct(reference.ct_folder, series_uid=reference.ct_series_uid)
        field_grid = read_field(reg).grid
        missing = uncovered_voxels(field_grid, ct.grid, body_mask(ct).array)
        if missing:
            raise GeometryError(f"{missing} body voxels of the reference CT lie outside its grid ({field_grid.describe()})")
    except AccumulateError as exc:
        log.info("%s is not used as a given field, the prior course will be registered: %s", reg.name, exc)
        return None
    return reg


def _plan_date(course: CourseFiles) -> dt.date | None:
    if course.plan_path is None:
        return None
    return read_plan(course.plan_path).course_date[0]


def _referenced_prior_plans(course: CourseFiles) -> list[str]:
    if course.plan_path is None:
        return []
    ds = read_dataset(course.plan_path, stop_before_pixels=True)
    return [
        str(item.ReferencedSOPInstanceUID)
        for item in ds.get("ReferencedRTPlanSequence", [])
        if item.get("RTPlanRelationship") in PRIOR_PLAN_RELATIONSHIPS and item.get("ReferencedSOPInstanceUID")
    ]


def assess(folder: Path) -> Assessment:
    """Group the objects under ``folder`` into courses and list what the references call for but is absent."""
    found = discover_courses(folder)
    waiting = [item for course in found for item in course.missing]
    plan_uids = {c.plan_uid for c in found if c.plan_uid}
    for course in found:
        waiting += [
            f"RTPLAN {uid} (a prior course named by {course.plan_path.name})"
            for uid in _referenced_prior_plans(course)
            if uid not in plan_uids
        ]
    registrations, spatial = _registrations(folder)
    frames = {c.frame_of_reference_uid for c in found}
    for registered, by_source in registrations.items():
        if registered in frames:
            waiting += [f"the course in frame of reference {source} (named by {path.name})"
                        for source, path in by_source.items() if source not in frames]  # fmt: skip
    dated = sorted(
        ((c, _plan_date(c)) for c in found if c.dose_paths),
        key=lambda item: (item[1] is None, item[1] or dt.date.min, str(item[0].plan_path)),
    )
    reference = dated[-1][0] if dated else None
    by_source = registrations.get(reference.frame_of_reference_uid or "", {}) if reference else {}
    courses = tuple(_prior(c, date, reference, by_source, spatial) if c is not reference else CaseCourse(c, date)
                    for c, date in dated)  # fmt: skip
    if len(courses) < 2:
        waiting.append(f"a second course with a dose (found {len(courses)})")
    return Assessment(folder, courses, tuple(dict.fromkeys(waiting)))


def _prior(course: CourseFiles, date: dt.date | None, reference: CourseFiles, deformable: dict[str, Path],
           spatial: list[Path]) -> CaseCourse:  # fmt: skip
    """A prior course with its received deformable REG (when usable), else a rigid REG to start the registration."""
    dvf = _given_field(deformable.get(course.frame_of_reference_uid or ""), reference)
    fixed, moving = reference.frame_of_reference_uid, course.frame_of_reference_uid
    start = rigid_start(spatial, fixed_frame=fixed, moving_frame=moving) if dvf is None and fixed and moving else None
    return CaseCourse(course, date, dvf, start[1] if start else None)


def _course_table(index: int, course: CaseCourse) -> dict[str, str]:
    files = course.files
    if len(files.dose_paths) != 1:
        raise InputError(
            f"plan {files.plan_path}: {len(files.dose_paths)} RTDOSE objects; send one plan dose "
            "(DoseSummationType PLAN) per course"
        )
    if files.plan_path is None:
        raise InputError(
            f"{files.dose_paths[0].name}: its RTPLAN was not received (the plan gives the course's fractions and date); "
            "send the plan with the dose"
        )
    if course.date is None:
        raise InputError(f"{files.plan_path.name}: the plan has no ReviewDate, RTPlanDate or StudyDate to order the courses by")
    table = {"name": f"course{index}_{course.date:%Y%m%d}", "dose": str(files.dose_paths[0])}
    optional = {"plan": files.plan_path, "structures": files.structure_path, "ct": files.ct_folder, "dvf": course.dvf,
                "rigid_start": course.rigid_start}  # fmt: skip
    table.update({key: str(path) for key, path in optional.items() if path is not None})
    return table


def run_config(assessment: Assessment, profile: Profile) -> RunConfig:
    """The run configuration of a case: its courses (oldest first) joined to the profile's settings."""
    if len(assessment.courses) < 2:
        raise InputError(
            f"{assessment.folder}: {len(assessment.courses)} course(s) with a dose; a re-irradiation case needs at least two "
            "(send the prior course(s) with the new one)"
        )
    tables = [_course_table(i, course) for i, course in enumerate(assessment.courses, start=1)]
    return config_with_courses(profile.table, tables, profile.source)
