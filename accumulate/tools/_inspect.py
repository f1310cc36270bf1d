"""``accumulate inspect EXPORT [--json]``: the courses of an export folder, as the pipeline would read them.

For each course (one RTPLAN, or an RTDOSE whose plan is absent; grouped by
:func:`accumulate.io.discover_courses`): the patient (ID, name, birth date), the frame of
reference, the plan's label, prescription, fractions and radiation, the course's date and the
attribute it came from (ReviewDate, else RTPlanDate, else StudyDate, as a run dates a course),
the dose (type, summation, grid, maximum in Gy or Gy(RBE)), the structures and the CT series,
and whatever the references call for but the folder lacks. Courses are listed oldest first: the
last is the one a run takes as reference unless its configuration says otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HELP = "list the courses, plans, doses, structures and dates found in a DICOM export folder"


@dataclass(frozen=True)
class DoseListing:
    """One RTDOSE of a course: ``max_gy`` in ``unit`` (None with ``note`` when it cannot be read as a course dose)."""

    path: str
    dose_type: str
    summation: str
    grid: str
    unit: str | None
    max_gy: float | None
    note: str = ""


@dataclass(frozen=True)
class CourseListing:
    """What :func:`inspect_export` found of one course; dates ISO (YYYY-MM-DD), doses Gy, paths as found."""

    plan: str | None
    label: str
    patient_id: str
    patient_name: str
    birth_date: str
    frame_of_reference_uid: str
    prescription_gy: float | None
    fractions: int | None
    radiation: str
    date: str | None
    date_source: str
    doses: tuple[DoseListing, ...]
    structure_set: str | None
    structures: tuple[str, ...]
    ct_series_uid: str | None
    ct_slices: int
    ct_folder: str | None
    missing: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dose(path: Path, plan_path: Path | None) -> DoseListing:
    import pydicom

    from ..errors import AccumulateError
    from ..io import read_dose

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    dose_type, summation = str(ds.get("DoseType", "")), str(ds.get("DoseSummationType", ""))
    shape = f"{ds.get('Columns', '?')} x {ds.get('Rows', '?')} x {ds.get('NumberOfFrames', 1)} voxels"
    try:
        dose = read_dose(path, plan=plan_path)
    except AccumulateError as exc:  # e.g. a FRACTION dose without a plan: listed, with why it cannot be read as a course
        return DoseListing(str(path), dose_type, summation, shape, None, None, str(exc))
    spacing = " x ".join(f"{v:g}" for v in dose.grid.spacing_mm)
    return DoseListing(str(path), dose_type, summation, f"{shape} at {spacing} mm", dose.unit, float(dose.array.max()))


def _course(found) -> CourseListing:
    from ..io import read_contours, read_plan
    from ..io.identity import read_identity

    plan = read_plan(found.plan_path) if found.plan_path is not None else None
    first = found.plan_path or (found.dose_paths[0] if found.dose_paths else None)
    who = read_identity(first) if first is not None else None
    if plan is not None:
        date, attribute = plan.course_date
        source = f"RTPLAN {found.plan_path.name} {attribute}" if date else "unknown (the plan has no date)"
    else:
        date, source = None, "unknown (no RTPLAN)"
    names = tuple(read_contours(found.structure_path)) if found.structure_path is not None else ()
    radiation = "" if plan is None else plan.radiation_type + (f" (Z={plan.atomic_number})" if plan.atomic_number else "")
    return CourseListing(
        plan=None if found.plan_path is None else str(found.plan_path),
        label="" if plan is None else plan.label,
        patient_id=who.patient_id if who else "",
        patient_name=who.patient_name if who else "",
        birth_date=who.birth_date if who else "",
        frame_of_reference_uid=found.frame_of_reference_uid or "",
        prescription_gy=None if plan is None else plan.prescription_gy,
        fractions=None if plan is None else plan.fractions,
        radiation=radiation,
        date=None if date is None else date.isoformat(),
        date_source=source,
        doses=tuple(_dose(p, found.plan_path) for p in found.dose_paths),
        structure_set=None if found.structure_path is None else str(found.structure_path),
        structures=names,
        ct_series_uid=found.ct_series_uid,
        ct_slices=len(found.ct_paths),
        ct_folder=None if found.ct_folder is None else str(found.ct_folder),
        missing=found.missing,
    )


def inspect_export(folder: str | Path) -> list[CourseListing]:
    """The courses of the DICOM export under ``folder``, oldest first (see the module docstring).

    Raises
    ------
    InputError
        Naming the folder when it is not one or holds no RTPLAN or RTDOSE, or naming the file
        that looks like DICOM but cannot be read.
    """
    from ..errors import InputError
    from ..io import discover_courses

    found = discover_courses(folder)
    if not found:
        raise InputError(f"{folder}: no RTPLAN or RTDOSE found (is it the export folder of a course?)")
    courses = [_course(c) for c in found]
    return sorted(courses, key=lambda c: (c.date is None, c.date or dt.date.min.isoformat(), c.plan or ""))


def _gy(value: float | None) -> str:
    return "?" if value is None else f"{value:.4g}"


def format_listing(folder: Path, courses: list[CourseListing]) -> str:
    """The plain-text listing ``accumulate inspect`` prints (paths relative to ``folder``)."""

    def shown(path: str | None) -> str:
        if path is None:
            return "(none)"
        try:
            return str(Path(path).relative_to(folder))
        except ValueError:
            return path

    lines = [f"export {folder}: {len(courses)} course(s), oldest first"]
    patients = sorted({(c.patient_id, c.patient_name, c.birth_date) for c in courses})
    for pid, name, birth in patients:
        lines.append(f"patient   {pid or '(no PatientID)'}  {name or '(no name)'}" + (f"  born {birth}" if birth else ""))
    if len(patients) > 1:
        lines.append("WARNING   the courses name more than one patient")
    for i, c in enumerate(courses, start=1):
        rx = f"{_gy(c.prescription_gy)} Gy" if c.prescription_gy is not None else "no prescription"
        per = (f" ({c.prescription_gy / c.fractions:.3g} Gy per fraction)"
               if c.prescription_gy is not None and c.fractions else "")  # fmt: skip
        fractions = f"{c.fractions} fractions" if c.fractions else "fractions not given"
        lines += [
            "",
            f"course {i}  {shown(c.plan) if c.plan else '(no RTPLAN)'}  label '{c.label}'"
            + ("  [reference: newest]" if i == len(courses) else ""),
            f"  date          {c.date or '?'}  ({c.date_source})",
            f"  prescription  {rx} in {fractions}{per}" + (f", {c.radiation}" if c.radiation else ""),
            f"  frame         {c.frame_of_reference_uid or '(none)'}",
        ]
        for d in c.doses:
            value = f"max {_gy(d.max_gy)} {d.unit}" if d.max_gy is not None else f"not readable as a course dose: {d.note}"
            lines.append(f"  dose          {shown(d.path)}  {d.dose_type} {d.summation}, {d.grid}, {value}")
        if not c.doses:
            lines.append("  dose          (none)")
        names = ", ".join(c.structures[:12]) + (f", ... ({len(c.structures)} in all)" if len(c.structures) > 12 else "")
        lines.append(f"  structures    {shown(c.structure_set)}: {names}" if c.structure_set else "  structures    (none)")
        lines.append(f"  CT            {c.ct_slices} slices in {shown(c.ct_folder)}" if c.ct_slices else "  CT            (none)")
        lines += [f"  MISSING       {m}" for m in c.missing]
    return "\n".join(lines)


def configure(parser) -> None:
    parser.add_argument("export", type=Path, help="a folder of DICOM files (searched recursively)")
    parser.add_argument("--json", action="store_true", help="print the listing as JSON (for scripts)")


def run(args) -> int:
    courses = inspect_export(args.export)
    if args.json:
        print(json.dumps({"export": str(args.export), "courses": [c.as_dict() for c in courses]}, indent=2))
    else:
        print(format_listing(args.export, courses))
    return 0
