"""Checks of a case before any computation: are the courses what they seem, and are their numbers plausible?

Run on the courses read from disk (stage 1) and the reference structures, before registration
and warping. What is checked, and what happens when a check fails:

* **One patient, one frame per course.** Within a course, the CT, RTDOSE, RTSTRUCT and RTPLAN
  name the same PatientID (and birth date where both have one) and the same frame of reference
  (an RTSTRUCT through its ReferencedFrameOfReferenceSequence): else an InputError (patient) or
  GeometryError (frame) naming the files. Across courses: one PatientID unless
  ``[accept] patient_ids`` lists the IDs as the same patient; one birth date. Files without a
  DICOM identity (research formats, an empty PatientID or frame) cannot be checked: the run is
  then *incomplete* unless ``[accept] unverified_identity = true``.
* **No course twice.** The same RTPLAN or RTDOSE in two courses is an InputError.
* **The dose where the patient is.** The dose grid overlaps the CT, and the high-dose region
  (>= 50 % of the maximum) lies inside the CT grid and inside the body: else a GeometryError.
* **Plausible numbers** (:mod:`accumulate.plausibility`): each course's dose maximum, its ratio
  to the prescription, the dose per fraction, the plan's fractions (both values when the
  configuration overrides them), an RBE given for a photon plan, each interval against the
  plans' dates (a refused value is an InputError listing every refusal).
* **Structures.** The RTSTRUCT must hold closed planar contours, and they must lie on the dose
  grid; every structure a setting names is matched (:mod:`accumulate.names`): an ambiguous match
  is an error listing the candidates; an absent structure named by an alpha/beta or recovery
  setting is an error unless ``[accept] absent_structures`` allows it; a constraint's absent or
  empty structure makes the constraint *not evaluated*.
* **Overlaps.** Pairs of structures with different alpha/beta or recovery that share voxels, with
  the volume and the rule that applies.
* **Registration plan.** Courses sharing the reference's frame of reference and CT series get the
  identity field, not a deformable registration.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import RunConfig
from ..errors import GeometryError, InputError
from ..geometry import Volume
from ..names import AmbiguousStructure, Match, match_structure
from ..plausibility import OVERRIDDEN, WARNING, Checks, Finding
from ..radiobiology.maps import OCCUPANCY_THRESHOLD
from ._courses import LoadedCourse, dated_interval

log = logging.getLogger("accumulate")

#: Dose at or above this fraction of the maximum must lie inside the CT and the body.
HIGH_DOSE_FRACTION = 0.5
INSIDE_CT_SHARE, INSIDE_BODY_SHARE = 0.95, 0.90
#: An interval given in the configuration may differ from the plans' dates by this much (months, or share).
INTERVAL_TOLERANCE_MONTHS, INTERVAL_TOLERANCE_SHARE = 3.0, 0.15
#: State of a check that could not be done (it makes the run incomplete).
UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Overlap:
    """Two structures with different parameters sharing voxels on the reference dose grid."""

    first: str
    second: str
    voxels: int
    volume_cc: float
    differs: str
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "structures": f"{self.first} & {self.second}",
            "voxels": self.voxels,
            "volume_cc": round(self.volume_cc, 3),
            "parameters": self.differs,
            "rule": self.rule,
        }


@dataclass
class CaseChecks:
    """What the checks found: every finding, how each settings name matched, the overlaps, the registration plan."""

    findings: list[Finding] = field(default_factory=list)
    matches: dict[str, Match] = field(default_factory=dict)
    overlaps: list[Overlap] = field(default_factory=list)
    registration: dict[str, str] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)

    @property
    def unverified(self) -> list[Finding]:
        return [f for f in self.findings if f.state == UNVERIFIED]

    @property
    def overridden(self) -> list[Finding]:
        return [f for f in self.findings if f.state == OVERRIDDEN]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.state == WARNING]


# -- identities ------------------------------------------------------------------------------------
def _check_identities(courses: list[LoadedCourse], config: RunConfig, checks: Checks) -> None:
    patient_problems, frame_problems = [], []
    unverified = []
    for course in courses:
        ids = course.identities
        missing = [m for m in ("RTDOSE", "CT", "RTSTRUCT", "RTPLAN") if m not in ids and _has_file(course, m)]
        unverified += [f"course '{course.name}': the {m} file has no DICOM identity (research format)" for m in missing]
        unverified += [f"course '{course.name}': {i.label()} has no PatientID" for i in ids.values() if not i.patient_id]
        named = [i for i in ids.values() if i.patient_id]
        if len({i.patient_id for i in named}) > 1:
            listing = ", ".join(f"{i.label()}: {i.patient_id!r}" for i in named)
            patient_problems.append(f"course '{course.name}': its files belong to different patients ({listing})")
        births = {i.birth_date for i in named if i.birth_date}
        if len(births) > 1:
            patient_problems.append(f"course '{course.name}': its files give different birth dates {sorted(births)}")
        anchor = ids.get("CT") or ids.get("RTDOSE")
        for ident in ids.values():
            if not ident.frame_of_reference_uid:
                unverified.append(f"course '{course.name}': {ident.label()} names no frame of reference")
            elif (
                anchor is not None
                and anchor.frame_of_reference_uid
                and ident.frame_of_reference_uid != anchor.frame_of_reference_uid
            ):
                frame_problems.append(
                    f"course '{course.name}': {ident.label()} is in frame of reference {ident.frame_of_reference_uid}, "
                    f"{anchor.label()} in {anchor.frame_of_reference_uid}"
                )
    ids_by_course = {c.name: {i.patient_id for i in c.identities.values() if i.patient_id} for c in courses}
    every = set().union(*ids_by_course.values())
    accepted = set(config.accept.get("patient_ids", []))
    if len(every) > 1:
        if every <= accepted:
            checks.add(
                "accept.patient_ids",
                sorted(every),
                OVERRIDDEN,
                f"the courses name PatientIDs {sorted(every)}, accepted as one patient in [accept] patient_ids",
            )
        else:
            listing = "; ".join(f"'{name}': {sorted(ids)}" for name, ids in ids_by_course.items())
            patient_problems.append(
                f"the courses belong to different patients ({listing}); if one patient's ID was changed, list them in "
                f"[accept] patient_ids = {sorted(every)}"
            )
    births = {i.birth_date for c in courses for i in c.identities.values() if i.birth_date}
    if len(births) > 1:
        patient_problems.append(f"the courses give different birth dates {sorted(births)}: not one patient")
    if patient_problems:
        raise InputError("the files are not one patient's:\n  " + "\n  ".join(patient_problems))
    if frame_problems:
        raise GeometryError(
            "files of one course are in different frames of reference (each course's CT, dose, plan and structures must share "
            "one):\n  " + "\n  ".join(frame_problems)
        )
    for message in unverified:
        if config.accept.get("unverified_identity"):
            checks.add("accept.unverified_identity", True, OVERRIDDEN, f"{message} (accepted: [accept] unverified_identity)")
        else:
            checks.add(
                "identity",
                None,
                UNVERIFIED,
                f"{message}: patient and frame cannot be checked (add [accept] unverified_identity = true if intended)",
            )


def _has_file(course: LoadedCourse, modality: str) -> bool:
    return {"RTDOSE": course.dose_path, "CT": course.ct_path, "RTSTRUCT": course.structures_path, "RTPLAN": course.plan_path}[
        modality
    ] is not None


def _check_duplicates(courses: list[LoadedCourse]) -> None:
    seen: dict[str, str] = {}
    problems = []
    for course in courses:
        keys = [("RTDOSE file", str(course.dose_path.resolve()))]
        keys += [
            (f"{m} {i.sop_instance_uid}", i.sop_instance_uid)
            for m, i in course.identities.items()
            if m in ("RTPLAN", "RTDOSE") and i.sop_instance_uid
        ]
        for what, key in keys:
            if key in seen and seen[key] != course.name:
                problems.append(f"courses '{seen[key]}' and '{course.name}' are the same {what.split()[0]} ({key})")
            seen.setdefault(key, course.name)
    if problems:
        raise InputError("a course is given twice (it would be summed twice):\n  " + "\n  ".join(dict.fromkeys(problems)))


# -- doses and numbers -----------------------------------------------------------------------------
def _check_dose_values(course: LoadedCourse, checks: Checks) -> None:
    key = f"course.{course.name}"
    dose = np.asarray(course.dose.to_numpy().array)
    top = float(dose.max()) if dose.size else 0.0
    where = str(course.dose_path)
    if top <= 0:
        raise InputError(f"{course.dose_path}: the dose of course '{course.name}' is zero everywhere")
    checks.number(f"{key}.dose_max_gy", top, "dose_max_gy", where=where, what=f"dose maximum of course '{course.name}'")
    rx = course.plan.prescription_gy if course.plan is not None else None
    if rx:
        checks.number(
            f"{key}.dose_max_over_prescription",
            round(top / rx, 4),
            "dose_max_over_prescription",
            where=where,
            what=f"dose maximum / prescription ({top:.2f} / {rx:g} Gy) of course '{course.name}'",
        )
    per_fraction = (rx or top) / course.fractions
    basis = "prescription" if rx else "dose maximum"
    checks.number(
        f"{key}.dose_per_fraction_gy",
        round(per_fraction, 4),
        "dose_per_fraction_gy",
        where=where,
        what=f"dose per fraction ({basis} / {course.fractions:g} fractions) of course '{course.name}'",
    )
    if course.fractions_from != "configuration":
        checks.number(f"{key}.fractions", course.fractions, "fractions", where=str(course.plan_path))
    elif course.plan_fractions and course.plan_fractions != course.fractions:
        checks.warn(
            f"{key}.fractions",
            course.fractions,
            f"course '{course.name}': {course.fractions:g} fractions from the configuration, but its RTPLAN "
            f"{course.plan_path.name} plans {course.plan_fractions}; the configuration's value is used",
        )
    if course.plan is not None and course.config.rbe != 1.0 and not course.plan.rbe_weighted:
        checks.unusual(
            f"{key}.rbe",
            course.config.rbe,
            f"course '{course.name}': rbe = {course.config.rbe:g} for a {course.plan.radiation_type} plan "
            f"({course.plan_path.name}); an RBE other than 1 belongs to proton or ion courses",
        )


def _check_intervals(config: RunConfig, courses: list[LoadedCourse], intervals: Mapping[str, float], checks: Checks) -> None:
    reference = courses[config.reference_index]
    for course in courses:
        if course is reference:
            continue
        key = f"course.{course.name}.interval_months"
        dated = dated_interval(course, reference)
        given = course.config.interval_months
        if given is None:
            checks.number(
                key,
                round(intervals[course.name], 3),
                "interval_months",
                what=f"interval from '{course.name}' ({course.date_from}) to '{reference.name}' ({reference.date_from})",
            )
            continue
        if dated is None:
            continue
        if abs(given - dated) > max(INTERVAL_TOLERANCE_MONTHS, INTERVAL_TOLERANCE_SHARE * dated):
            slip = _interval_slip(given, dated)
            checks.unusual(
                key,
                given,
                f"{key} = {given:g} but the courses' dates are {dated:.1f} months apart ('{course.name}' "
                f"{course.date} from {course.date_from}, '{reference.name}' {reference.date} from "
                f"{reference.date_from}){slip}",
            )
        else:
            checks.add(key, given, "ok", f"{key} = {given:g} agrees with the dates ({dated:.1f} months)")


def _interval_slip(given: float, dated: float) -> str:
    for factor, what in ((365.25 / 12, "days"), (52.18 / 12, "weeks"), (1 / 12, "years")):
        if dated > 0 and abs(given / factor - dated) <= max(INTERVAL_TOLERANCE_MONTHS, INTERVAL_TOLERANCE_SHARE * dated):
            return f"; {given:g} looks like {what}, not months ({given / factor:.1f} months)"
    return ""


def check_dose_geometry(course: LoadedCourse, body: Volume | None) -> None:
    """The dose of ``course`` must overlap its CT, with its high-dose region inside the CT and the body ``body``."""
    if course.ct is None:
        return
    dose = np.asarray(course.dose.to_numpy().array)
    hot = np.argwhere(dose >= HIGH_DOSE_FRACTION * float(dose.max()))
    points = course.dose.grid.world_from_index(hot.astype(float))
    index = np.rint(course.ct.grid.index_from_world(points)).astype(int)
    shape = np.asarray(course.ct.grid.shape)
    inside = np.all((index >= 0) & (index < shape), axis=1)
    where = f"course '{course.name}': the dose {course.dose_path.name} ({course.dose.grid.describe()})"
    ct = f"its CT ({course.ct.grid.describe()})"
    if not inside.any():
        raise GeometryError(f"{where} lies outside {ct}: the files do not belong together, or a position is wrong")
    if inside.mean() < INSIDE_CT_SHARE:
        raise GeometryError(f"{where}: only {100 * inside.mean():.0f} % of its high-dose region lies inside {ct}")
    if body is not None:
        in_body = np.asarray(body.array)[tuple(index[inside].T)]
        if in_body.mean() < INSIDE_BODY_SHARE:
            raise GeometryError(
                f"{where}: only {100 * in_body.mean():.0f} % of its high-dose region (>= {100 * HIGH_DOSE_FRACTION:g} % of the "
                "maximum) lies inside the patient's body on the CT; is the dose shifted or flipped?"
            )


# -- structures ------------------------------------------------------------------------------------
def settings_names(config: RunConfig) -> dict[str, list[str]]:
    """Every structure name the settings use, with the sections that use it."""
    uses: dict[str, list[str]] = {}
    for name in config.alpha_beta:
        uses.setdefault(name, []).append("[radiobiology.alpha_beta]")
    if not isinstance(config.alpha_beta_priority, str):
        for name in config.alpha_beta_priority:
            uses.setdefault(name, []).append("[radiobiology].alpha_beta_priority")
    for name in config.recovery:
        uses.setdefault(name, []).append("[recovery]")
    for c in config.constraints.constraints if config.constraints else ():
        uses.setdefault(c.structure, []).append("constraints")
    return uses


def match_settings_names(config: RunConfig, masks: Mapping[str, Volume], checks: CaseChecks) -> None:
    """Match every name the settings use against the case; ambiguity and absent parameter structures are errors."""
    ambiguous, absent = [], []
    for name, uses in settings_names(config).items():
        found = match_structure(masks, name)
        checks.matches[name] = found
        if found.how == "ambiguous":
            ambiguous.append(AmbiguousStructure(name, list(found.candidates)))
        elif found.found is None and any(u != "constraints" for u in uses):
            if config.accepts_absent(name):
                checks.findings.append(
                    Finding(
                        f"structure.{name}",
                        None,
                        OVERRIDDEN,
                        f"{name} ({', '.join(uses)}) is absent from the case: accepted in [accept]",
                    )
                )
            else:
                absent.append(f"{name} (named in {', '.join(dict.fromkeys(uses))})")
    if ambiguous:
        raise (
            ambiguous[0]
            if len(ambiguous) == 1
            else AmbiguousStructure(", ".join(a.wanted for a in ambiguous), [c for a in ambiguous for c in a.candidates])
        )
    if absent:
        raise InputError(
            f"structures named in the settings are absent from the reference course: {absent}; the case has {sorted(masks)}. "
            "Map a case's name with [structures.rename] (case name = settings name), or allow the absence with "
            "[accept] absent_structures"
        )


def structure_findings(masks: Mapping[str, Volume], structures_path: Any, checks: CaseChecks) -> None:
    """An RTSTRUCT without volumes, or whose contours miss the dose grid entirely, is an error; empty ones are listed."""
    if not masks:
        raise InputError(
            f"{structures_path}: the structure set holds no closed planar contours (no ROI, or only POINT/other ROIs); "
            "structures are needed for the parameter maps and the DVHs"
        )
    empty = [name for name, m in masks.items() if not np.any(np.asarray(m.array, dtype=float) >= OCCUPANCY_THRESHOLD)]
    if len(empty) == len(masks):
        raise GeometryError(
            f"{structures_path}: no structure has a voxel on the reference dose grid: the contours lie outside the dose "
            "and CT (moved, or from another scan)"
        )
    checks.empty = empty
    for name in empty:
        checks.findings.append(Finding(f"structure.{name}", None, WARNING, f"structure {name} has no voxel on the dose grid"))


def overlaps(
    config: RunConfig,
    masks: Mapping[str, Volume],
    ab: Mapping[str, float],
    recovery: Mapping[str, Any],
    intervals: Mapping[str, float],
) -> list[Overlap]:
    """Pairs of structures with different alpha/beta or recovery that share voxels, and the rule applied.

    Only parameters the settings give both structures are compared: a structure without its own
    value takes the default only where no other structure gives one (BODY around an organ).
    """
    named = sorted(set(ab) | set(recovery))
    inside = {n: np.asarray(masks[n].array, dtype=float) >= OCCUPANCY_THRESHOLD for n in named}
    voxel_cc = next(iter(masks.values())).grid.voxel_volume_mm3 / 1000.0
    out = []
    for i, first in enumerate(named):
        for second in named[i + 1 :]:
            shared = int(np.count_nonzero(inside[first] & inside[second]))
            if not shared:
                continue
            differs, rules = [], []
            if first in ab and second in ab and ab[first] != ab[second]:
                differs.append(f"alpha/beta {ab[first]:g} / {ab[second]:g} Gy")
                rules.append(_ab_rule(config, first, second, ab[first], ab[second]))
            if first in recovery and second in recovery:
                ra = [recovery[first].recovered(m) for m in intervals.values()]
                rb = [recovery[second].recovered(m) for m in intervals.values()]
                if ra != rb:
                    differs.append("recovery " + ", ".join(f"{100 * x:g} / {100 * y:g} %" for x, y in zip(ra, rb, strict=True)))
                    rules.append("least recovery wins" if config.overlaps == "shared" else "each structure its own recovery")
            if differs:
                out.append(Overlap(first, second, shared, shared * voxel_cc, "; ".join(differs), "; ".join(rules)))
    return out


def _ab_rule(config: RunConfig, first: str, second: str, a: float, b: float) -> str:
    if config.overlaps == "own":
        return "each structure its own alpha/beta"
    priority = config.alpha_beta_priority
    if priority == "lowest":
        winner = first if a <= b else second
    elif priority == "highest":
        winner = first if a >= b else second
    else:
        order = list(priority)
        winner = min((first, second), key=lambda n: order.index(n) if n in order else len(order))
    return f"alpha/beta of {winner} (priority '{priority if isinstance(priority, str) else 'list'}')"


# -- registration plan -----------------------------------------------------------------------------
def registration_plan(config: RunConfig, prior: LoadedCourse, reference: LoadedCourse) -> tuple[str, str]:
    """(mode, why) of ``prior``'s field: ``given``, ``none`` (identity), ``rigid``, or a deformable preset."""
    if prior.config.dvf is not None:
        return "given", f"the given field {prior.config.dvf}"
    same_frame = prior.frame_of_reference_uid is not None and prior.frame_of_reference_uid == reference.frame_of_reference_uid
    same_series = same_frame and prior.ct_series_uid is not None and prior.ct_series_uid == reference.ct_series_uid
    if prior.config.registration is not None:
        why = f"'registration = \"{prior.config.registration}\"' of course '{prior.name}'"
        if prior.config.registration == "none" and not same_frame:
            why += "; the courses are in different frames of reference: the identity assumes their CTs share coordinates"
        return prior.config.registration, why
    if same_series:
        return "none", (
            f"course '{prior.name}' shares the reference's frame of reference and CT series: the identity field "
            "(no registration; set 'registration' in its [[course]] table to register anyway)"
        )
    mode = config.registration.preset
    why = f"[registration] preset '{mode}'" if not config.registration.parameter_files else "[registration] parameter_files"
    if same_frame:
        why += "; the courses share a frame of reference (other CT series)"
    return ("files" if config.registration.parameter_files else mode), why


# -- everything ------------------------------------------------------------------------------------
def check_case(
    config: RunConfig, courses: list[LoadedCourse], intervals: Mapping[str, float], bodies: Mapping[str, Volume | None]
) -> CaseChecks:
    """The checks of the courses (identities, duplicates, dose geometry and values, intervals, registration plan).

    Raises InputError / GeometryError for what cannot be right, and an InputError listing every
    refused implausible value. Structures are checked by :func:`match_settings_names` and
    :func:`structure_findings` once the reference masks exist.
    """
    checks = Checks(config.accept)
    _check_identities(courses, config, checks)
    _check_duplicates(courses)
    for course in courses:
        check_dose_geometry(course, bodies.get(course.name))
        _check_dose_values(course, checks)
    _check_intervals(config, courses, intervals, checks)
    checks.raise_if_refused(InputError)
    result = CaseChecks(findings=list(config.findings) + checks.findings)
    reference = courses[config.reference_index]
    for prior in courses:
        if prior is not reference:
            mode, why = registration_plan(config, prior, reference)
            result.registration[prior.name] = mode
            result.findings.append(Finding(f"registration.{prior.name}", mode, "ok", f"course '{prior.name}': {why}"))
    return result


def unused_accepts(config: RunConfig, checks: CaseChecks) -> None:
    """Warn about [accept] entries that matched nothing (a typo in a key must not pass silently)."""
    used = {f.key for f in checks.findings if f.state == OVERRIDDEN} | {"absent_structures", "patient_ids", "unverified_identity"}
    for key, value in config.accept.items():
        if key not in used and not any(f.key == key for f in checks.findings):
            checks.findings.append(
                Finding(
                    f"accept.{key}", value, WARNING, f'[accept] "{key}" = {value!r} matched no checked value: it has no effect'
                )
            )
