"""Stage 1: read every course named in the configuration (CT, dose, plan, structures) and its dates."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from ..config import CourseConfig, RunConfig
from ..errors import InputError
from ..geometry import Volume
from ..io import Plan, discover_courses, read_ct, read_dose, read_plan
from ..radiobiology.recovery import months_between

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedCourse:
    """One course read from disk. ``dose`` in Gy or Gy(RBE) on its own dose grid; ``ct`` in HU or None."""

    config: CourseConfig
    dose: Volume
    dose_path: Path
    plan: Plan | None
    ct: Volume | None
    structures_path: Path | None
    fractions: float
    date: dt.date | None

    @property
    def name(self) -> str:
        return self.config.name


def _files(course: CourseConfig) -> tuple[Path, Path | None, Path | None, Path | None]:
    """(dose, plan, structures, CT folder) of a course, from its export folder or explicit paths."""
    if course.dicom is None:
        return course.dose, course.plan, course.structures, course.ct
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
    return files.dose_paths[0], files.plan_path, files.structure_path, files.ct_folder


def _date(course: CourseConfig, plan: Plan | None) -> dt.date | None:
    if course.date is not None:
        return course.date
    if plan is None:
        return None
    return plan.review_date or plan.plan_date or plan.study_date


def load_course(course: CourseConfig) -> LoadedCourse:
    """Read one course; the fractions come from the configuration, else from the plan."""
    dose_path, plan_path, structures_path, ct_path = _files(course)
    plan = read_plan(plan_path) if plan_path is not None else None
    fractions = course.fractions or (plan.fractions if plan is not None else None)
    if not fractions:
        raise InputError(
            f"course '{course.name}': the number of fractions is unknown (no RTPLAN); give 'fractions' in the configuration"
        )
    dose = read_dose(dose_path, plan=plan, fractions=int(fractions) if course.fractions else None)
    ct = read_ct(ct_path) if ct_path is not None else None
    return LoadedCourse(course, dose, dose_path, plan, ct, structures_path, float(fractions), _date(course, plan))


def intervals_months(config: RunConfig, courses: list[LoadedCourse]) -> dict[str, float]:
    """Months from each prior course to the reference course (given, or from the dates)."""
    reference = courses[config.reference_index]
    out = {}
    for course in courses:
        if course is reference:
            continue
        if course.config.interval_months is not None:
            out[course.name] = course.config.interval_months
        elif course.date is not None and reference.date is not None:
            out[course.name] = months_between(course.date, reference.date)
        else:
            missing = course.name if course.date is None else reference.name
            raise InputError(
                f"the interval from course '{course.name}' to '{reference.name}' is unknown: course '{missing}' has no date; "
                "give 'date' or 'interval_months' in its [[course]] table"
            )
    return out
