"""Stage 1: read every course named in the configuration (CT, dose, plan, structures), with where each value came from.

Every value that can change a verdict keeps its source, so that the dry run (``accumulate
check``), the summary and the report can show it: the fractions (the configuration or the
plan's NumberOfFractionsPlanned, both when they differ), the date (the configuration, or the
plan's ReviewDate, RTPlanDate or StudyDate) and each file's identity (patient, frame of
reference, series) for the consistency checks.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..config import CourseConfig, RunConfig
from ..errors import InputError
from ..geometry import Volume
from ..io import ImageSeries, Plan, ct_image_series, discover_courses, is_itk_path, read_ct, read_dose, read_plan
from ..io.identity import ObjectIdentity, read_ct_identity, read_identity
from ..radiobiology.recovery import months_between

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sourced:
    """A value and where it came from (``"configuration"``, ``"RTPLAN RP.dcm RTPlanDate"`` ...)."""

    value: object
    source: str


@dataclass(frozen=True, eq=False)
class LoadedCourse:
    """One course read from disk.

    ``dose`` in Gy or Gy(RBE) on its own dose grid; ``ct`` in HU or None. ``fractions`` and
    ``date`` are the values used, ``fractions_from``/``date_from`` their sources;
    ``plan_fractions`` is the plan's own number (shown beside an override). ``identities`` holds
    the DICOM identity of each file by modality (``CT``, ``RTDOSE``, ``RTPLAN``, ``RTSTRUCT``;
    research-format files have none).
    ``ct_series`` names the CT's images (UIDs, planes) for the references the outputs make; None
    without a DICOM CT series (no CT, or a CT given as MHA/NRRD/NIfTI).
    """

    config: CourseConfig
    dose: Volume
    dose_path: Path
    plan: Plan | None
    plan_path: Path | None
    ct: Volume | None
    ct_path: Path | None
    structures_path: Path | None
    fractions: float
    fractions_from: str
    plan_fractions: int | None
    date: dt.date | None
    date_from: str
    identities: dict[str, ObjectIdentity] = field(default_factory=dict)
    ct_series: ImageSeries | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def frame_of_reference_uid(self) -> str | None:
        """The frame of the course's CT, else of its dose or plan."""
        for modality in ("CT", "RTDOSE", "RTPLAN"):
            ident = self.identities.get(modality)
            if ident is not None and ident.frame_of_reference_uid:
                return ident.frame_of_reference_uid
        return None

    @property
    def ct_series_uid(self) -> str | None:
        ident = self.identities.get("CT")
        return ident.series_instance_uid or None if ident is not None else None


def _files(course: CourseConfig) -> tuple[Path, Path | None, Path | None, Path | None, str | None]:
    """(dose, plan, structures, CT folder, CT series UID) of a course, from its export folder or explicit paths."""
    if course.dicom is None:
        return course.dose, course.plan, course.structures, course.ct, None
    if not course.dicom.is_dir():
        raise InputError(f"course '{course.name}': 'dicom' must be an export folder, but {course.dicom} is a file")
    found = discover_courses(course.dicom)
    with_dose = [c for c in found if c.dose_paths]
    if not with_dose:
        raise InputError(f"course '{course.name}': no RTDOSE in {course.dicom}")
    if len(with_dose) > 1:
        plans = ", ".join(str(c.plan_path) for c in with_dose)
        raise InputError(
            f"course '{course.name}': {course.dicom} holds several plans with doses ({plans}); name the files explicitly"
        )
    files = with_dose[0]
    if len(files.dose_paths) > 1:
        raise InputError(
            f"course '{course.name}': several RTDOSE files for one plan in {course.dicom}: {[str(p) for p in files.dose_paths]}"
        )
    if files.missing:
        log.warning("course '%s': %s", course.name, "; ".join(files.missing))
    return files.dose_paths[0], files.plan_path, files.structure_path, files.ct_folder, files.ct_series_uid


def _date(course: CourseConfig, plan: Plan | None, plan_path: Path | None) -> tuple[dt.date | None, str]:
    if course.date is not None:
        return course.date, "configuration"
    if plan is None:
        return None, "unknown (no RTPLAN, no 'date')"
    value, attribute = plan.course_date
    if value is not None:
        return value, f"RTPLAN {plan_path.name} {attribute}"
    return None, f"unknown (RTPLAN {plan_path.name} has no ReviewDate, RTPlanDate or StudyDate)"


def _identities(dose_path: Path, plan_path: Path | None, structures_path: Path | None, ct_path: Path | None,
                ct_series: str | None) -> dict[str, ObjectIdentity]:  # fmt: skip
    out = {}
    for modality, path in (("RTDOSE", dose_path), ("RTPLAN", plan_path), ("RTSTRUCT", structures_path)):
        if path is not None and not is_itk_path(path):
            out[modality] = read_identity(path)
    if ct_path is not None and ct_path.is_dir():
        out["CT"] = read_ct_identity(ct_path, series_uid=ct_series)
    return out


def load_course(course: CourseConfig) -> LoadedCourse:
    """Read one course; the fractions come from the configuration, else from the plan."""
    dose_path, plan_path, structures_path, ct_path, ct_series = _files(course)
    plan = read_plan(plan_path) if plan_path is not None else None
    plan_fractions = plan.fractions if plan is not None else None
    if course.fractions is not None:
        fractions, fractions_from = course.fractions, "configuration"
    elif plan_fractions:
        fractions, fractions_from = float(plan_fractions), f"RTPLAN {plan_path.name} NumberOfFractionsPlanned"
    else:
        raise InputError(
            f"course '{course.name}': the number of fractions is unknown ("
            + ("no RTPLAN" if plan is None else f"RTPLAN {plan_path.name} states none")
            + "); give 'fractions' in its [[course]] table"
        )
    dose = read_dose(dose_path, plan=plan, fractions=int(fractions) if course.fractions else None)
    ct = read_ct(ct_path, series_uid=ct_series) if ct_path is not None else None
    date, date_from = _date(course, plan, plan_path)
    identities = _identities(dose_path, plan_path, structures_path, ct_path, ct_series)
    images = ct_image_series(ct_path, series_uid=ct_series) if ct_path is not None and ct_path.is_dir() else None
    return LoadedCourse(course, dose, dose_path, plan, plan_path, ct, ct_path, structures_path, float(fractions),
                        fractions_from, plan_fractions, date, date_from, identities, images)  # fmt: skip


def dated_interval(course: LoadedCourse, reference: LoadedCourse) -> float | None:
    """Months between the two courses' dates, or None when either is unknown."""
    if course.date is None or reference.date is None:
        return None
    return months_between(course.date, reference.date)


def intervals_months(config: RunConfig, courses: list[LoadedCourse]) -> dict[str, float]:
    """Months from each prior course to the reference course (given, or from the dates)."""
    reference = courses[config.reference_index]
    out = {}
    for course in courses:
        if course is reference:
            continue
        if course.config.interval_months is not None:
            out[course.name] = course.config.interval_months
            continue
        from_dates = dated_interval(course, reference)
        if from_dates is None:
            missing = course if course.date is None else reference
            raise InputError(
                f"the interval from course '{course.name}' to '{reference.name}' is unknown: course '{missing.name}' has no "
                f"date ({missing.date_from}); give 'date' or 'interval_months' in its [[course]] table"
            )
        out[course.name] = from_dates
    return out
