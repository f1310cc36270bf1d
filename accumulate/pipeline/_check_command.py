"""``accumulate check CONFIG.toml`` (also ``accumulate run --check``): a dry run that shows what a run would use.

Reads the courses and structures and runs every check of a run (see ``_preflight``), without
registering or warping anything, then prints: the courses with their plan labels,
prescriptions, fractions (plan and override), dates and where each came from, the intervals,
how each prior course would get its field, how every structure name of the settings matched
the case (exact, case/punctuation, synonym, renamed, absent), the overlaps of structures with
different parameters, and every plausibility finding. Exit code: 0 when a run could pass, 12
when it would be incomplete (a constraint's structure absent or empty, an input that cannot be
checked), and the usual error codes when a check refuses the case.
"""

from __future__ import annotations

from pathlib import Path

from ..config import load_config
from ..evaluation.verdicts import ACCEPTED_ABSENT
from ._preflight import UNVERIFIED
from ._prepare import Preflight, preflight
from ._stages import quiet

HELP = "check a run configuration and its courses without running it (a dry run)"


def configure(parser) -> None:
    parser.add_argument("config", type=Path, help="run configuration (TOML)")


def _course_lines(checked: Preflight) -> list[str]:
    lines = []
    for course in checked.courses:
        role = "reference" if course is checked.reference else "prior"
        plan = course.plan
        label = f"plan '{plan.label}' ({course.plan_path.name}), {plan.radiation_type}" if plan else "no RTPLAN"
        rx = f", prescription {plan.prescription_gy:g} Gy" if plan and plan.prescription_gy else ""
        fractions = f"{course.fractions:g} fractions ({course.fractions_from}"
        if course.plan_fractions and course.fractions_from == "configuration" and course.plan_fractions != course.fractions:
            fractions += f"; the plan says {course.plan_fractions}"
        dose = course.dose.to_numpy().array
        lines += [
            f"  {course.name} ({role}): {label}{rx}",
            f"      {fractions}); dose {course.dose_path.name}, maximum {float(dose.max()):.2f} {course.dose.unit}",
            f"      date {course.date or 'unknown'} ({course.date_from})"
            + (
                f"; interval to the reference {checked.intervals[course.name]:.1f} months"
                if course.name in checked.intervals
                else ""
            ),
            f"      CT: {course.ct.grid.describe() if course.ct is not None else 'none'}",
            f"      patient {', '.join(sorted({i.patient_id for i in course.identities.values() if i.patient_id})) or '?'}; "
            f"frame of reference {course.frame_of_reference_uid or '?'}",
        ]
    return lines


def _structure_lines(checked: Preflight) -> list[str]:
    rename = {new: old for old, new in checked.config.structure_rename.items()}
    lines = []
    for name, match in checked.checks.matches.items():
        if match.found is None:
            what = f"{match.how}" + (f" among {list(match.candidates)}" if match.candidates else "")
        else:
            what = (
                f"{match.found} ({match.how}"
                + (f", renamed from the case's '{rename[match.found]}'" if match.found in rename else "")
                + ")"
            )
            if match.found in checked.checks.empty:
                what += ": EMPTY on the dose grid"
        lines.append(f"  {name} -> {what}")
    return lines or ["  (the settings name no structure)"]


def check(path: Path) -> int:
    """Print the dry run of the configuration at ``path``; the exit code a run would get at best (0 or 12)."""
    config = load_config(path)
    checked = preflight(config, quiet())
    checks = checked.checks
    print(f"configuration: {config.source}")
    print("courses (oldest first):")
    print("\n".join(_course_lines(checked)))
    print("fields:")
    for finding in checks.findings:
        if finding.key.startswith("registration."):
            print(f"  {finding.message}")
    print("structures (settings name -> case):")
    print("\n".join(_structure_lines(checked)))
    print("overlaps of structures with different parameters:")
    for overlap in checks.overlaps:
        print(
            f"  {overlap.first} & {overlap.second}: {overlap.voxels} voxels ({overlap.volume_cc:.2f} cc), "
            f"{overlap.differs}; {overlap.rule}"
        )
    if not checks.overlaps:
        print("  none")
    print("checks:")
    for finding in checks.findings:
        if not finding.key.startswith("registration."):
            print(f"  {finding.state:<10s} {finding.message}")
    skipped = []
    for c in config.constraints.constraints if config.constraints else ():
        match = checks.matches[c.structure]
        if not c.scored:
            continue
        if match.found is None and not config.accepts_absent(c.structure):
            skipped.append(f"{c.describe()}: structure absent")
        elif match.found in checks.empty:
            skipped.append(f"{c.describe()}: empty on the dose grid")
    accepted = [
        c.describe()
        for c in (config.constraints.constraints if config.constraints else ())
        if checks.matches[c.structure].found is None and config.accepts_absent(c.structure)
    ]
    unverified = [f for f in checks.findings if f.state == UNVERIFIED]
    if skipped or unverified:
        print(
            f"\nINCOMPLETE: a run would not evaluate {len(skipped)} constraint(s) and could not check {len(unverified)} input(s):"
        )
        for line in skipped + [f.message for f in unverified]:
            print(f"  - {line}")
        return 12
    extra = f" ({len(accepted)} {ACCEPTED_ABSENT})" if accepted else ""
    print(
        f"\nOK: every check passed; a run would evaluate all {len(config.constraints.constraints) if config.constraints else 0} "
        f"constraints{extra}"
    )
    return 0


def run(args) -> int:
    return check(args.config)
