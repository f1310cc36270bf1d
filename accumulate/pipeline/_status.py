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
=============  =====  ===========================================================================

A constraint on a structure that ``[accept] absent_structures`` allows to be missing is
"absent (accepted)": it does not make the run incomplete, and the report lists it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..evaluation import Verdict
from ..evaluation.verdicts import ACCEPTED_ABSENT, NOT_EVALUATED, NOT_MET, ONE_SIDE
from ._preflight import CaseChecks

PASSED, DOSES_ONLY, NOT_MET_STATE, INCOMPLETE = "passed", "doses only", "not met", "incomplete"
EXIT_CODES = {PASSED: 0, DOSES_ONLY: 0, NOT_MET_STATE: 10, INCOMPLETE: 12}


@dataclass(frozen=True)
class RunStatus:
    """``state`` (see the module docstring), its ``exit_code``, a one-line ``headline`` and the ``reasons`` behind it.

    ``warnings`` are what a reviewer must see whatever the state; ``overrides`` every unusual
    value the configuration accepted (``[accept]``).
    """

    state: str
    exit_code: int
    headline: str
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    overrides: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "exit_code": self.exit_code,
            "headline": self.headline,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "overrides": list(self.overrides),
        }


def _describe(v: Verdict) -> str:
    return f"{v.constraint.describe()}: {v.reason}" if v.reason else v.constraint.describe()


def run_status(
    verdicts: Sequence[Verdict], checks: CaseChecks, notes: Sequence[str] = (), has_constraints: bool = True
) -> RunStatus:
    """The status of a run from its verdicts, the checks of its inputs and the notes it made."""
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
    if failed:
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
    return RunStatus(state, EXIT_CODES[state], headline, reasons, warnings, overrides)
