"""The run's status: one word a script, the banner and the receiver can act on, with its reasons.

=============  =====  ===========================================================================
state          exit   when
=============  =====  ===========================================================================
passed         0      every constraint was evaluated and met, on inputs that passed every check
doses only     0      no constraint set was given: the doses were computed, nothing was judged
not met        10     at least one evaluated constraint is not met
incomplete     12     no constraint failed, but one was not evaluated (structure absent, ambiguous,
                      empty on the grid, metric undefined) or an input could not be checked
                      (no DICOM identity); a green verdict needs both
needs review   13     a registration check failed (folding, Jacobian range, inverse consistency,
                      Dice, uncertainty inside an organ at risk: see
                      :mod:`accumulate.registration`): every verdict rests on that registration,
                      so none is green until a physicist has reviewed its pictures and approved
                      it (AAPM TG-132); this state comes before all others
=============  =====  ===========================================================================

A constraint on a structure that ``[accept] absent_structures`` allows to be missing is
"absent (accepted)": it does not make the run incomplete, and the report lists it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..evaluation import Verdict
from ..evaluation.verdicts import ACCEPTED_ABSENT, NOT_EVALUATED, NOT_MET, ONE_SIDE
from ..registration import NEEDS_REVIEW_EXIT_CODE
from ._preflight import CaseChecks

PASSED, DOSES_ONLY, NOT_MET_STATE, INCOMPLETE = "passed", "doses only", "not met", "incomplete"
NEEDS_REVIEW = "needs review"
EXIT_CODES = {PASSED: 0, DOSES_ONLY: 0, NOT_MET_STATE: 10, INCOMPLETE: 12, NEEDS_REVIEW: NEEDS_REVIEW_EXIT_CODE}


@dataclass(frozen=True)
class RunStatus:
    """``state`` (see the module docstring), its ``exit_code``, a one-line ``headline`` and the ``reasons`` behind it.

    ``warnings`` are what a reviewer must see whatever the state; ``overrides`` every unusual
    value the configuration accepted (``[accept]``); ``registration_checks`` one line per
    registration check of every course: value, threshold, PASS/FAIL.
    """

    state: str
    exit_code: int
    headline: str
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    overrides: tuple[str, ...] = field(default=())
    registration_checks: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "exit_code": self.exit_code,
            "headline": self.headline,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "overrides": list(self.overrides),
            "registration_checks": list(self.registration_checks),
        }


def _describe(v: Verdict) -> str:
    return f"{v.constraint.describe()}: {v.reason}" if v.reason else v.constraint.describe()


def _check_lines(registration: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(every registration check as a line, the failed ones) from the run's per-course registration summaries."""
    lines, failed = [], []
    for course, summary in registration.items():
        for check in summary.get("checks", []):
            value = check.get("value")
            shown = "-" if value is None else f"{value:.3g}"
            line = f"course '{course}': {check['name']} {check['verdict'].upper()}: {shown} (threshold {check['threshold']})"
            lines.append(line)
            if check["verdict"] == "fail":
                failed.append(f"registration check failed: {line}; {check['message']}")
    return lines, failed


def run_status(
    verdicts: Sequence[Verdict],
    checks: CaseChecks,
    notes: Sequence[str] = (),
    has_constraints: bool = True,
    registration: Mapping[str, Mapping[str, Any]] | None = None,
) -> RunStatus:
    """The status of a run from its verdicts, the checks of its inputs, the notes it made and its registrations.

    ``registration`` maps each prior course to its registration summary (``QualityReport.to_dict()``
    entries: ``checks`` with ``name``, ``verdict``, ``value``, ``threshold``, ``message``).
    """
    scored = [v for v in verdicts if v.constraint.scored]
    failed = [v for v in scored if v.state == NOT_MET]
    skipped = [v for v in scored if v.state == NOT_EVALUATED]
    accepted = [v for v in scored if v.state == ACCEPTED_ABSENT]
    one_side = [v for v in scored if v.state == ONE_SIDE]
    unverified = [f.message for f in checks.unverified]
    warnings = tuple(f.message for f in checks.warnings) + tuple(notes)
    overrides = (
        tuple(f.message for f in checks.overridden)
        + tuple(f"{v.constraint.describe()}: structure absent, accepted ([accept] absent_structures)" for v in accepted)
        + tuple(
            f"{v.constraint.describe()}: exceeded on one side ({v.value:.2f}), allowed by one_side_may_exceed" for v in one_side
        )
    )
    evaluated = [v for v in scored if v.evaluated]
    reasons = tuple(f"not met: {_describe(v)} (value {v.value:.2f}, limit {v.limit:g})" for v in failed)
    reasons += tuple(f"not evaluated: {_describe(v)}" for v in skipped)
    reasons += tuple(f"not checked: {message}" for message in unverified)
    check_lines, check_failures = _check_lines(registration or {})
    reasons = tuple(check_failures) + reasons
    if check_failures:
        state = NEEDS_REVIEW
        headline = (
            f"{len(check_failures)} registration check(s) failed: review the registration pictures before using any "
            f"verdict ({len(failed)} of {len(evaluated)} evaluated constraints not met)"
        )
    elif failed:
        state = NOT_MET_STATE
        headline = f"{len(failed)} of {len(evaluated)} evaluated constraints not met"
        if skipped:
            headline += f"; {len(skipped)} not evaluated"
    elif skipped or unverified:
        state = INCOMPLETE
        parts = [f"{len(skipped)} of {len(scored)} constraints not evaluated"] if skipped else []
        parts += [f"{len(unverified)} input check(s) could not be done"] if unverified else []
        headline = "; ".join(parts) + ": no verdict on those"
    elif not has_constraints or not scored:
        state, headline = DOSES_ONLY, "no constraint set: doses computed, nothing judged"
    else:
        state = PASSED
        headline = f"all {len(evaluated)} constraints evaluated and met"
        tiers = [v for v in evaluated if v.tier and v.tier != v.constraint.tiers[0].name]
        if tiers:
            headline += f"; {len(tiers)} only in a lower tier ({', '.join(sorted({v.tier for v in tiers}))})"
        if accepted or one_side:
            headline += f" ({len(accepted)} absent, {len(one_side)} one side, accepted)"
    return RunStatus(state, EXIT_CODES[state], headline, reasons, warnings, overrides, tuple(check_lines))
