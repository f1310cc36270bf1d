"""Verdicts: each constraint of a set evaluated on a case's doses, with its state, tier and reasons.

Every constraint ends in one state:

===================  ==========================================================================
state                when
===================  ==========================================================================
met                  evaluated, within its limit (the verdict names the tier: pass, desirable,
                     acceptable, per protocol ...)
not met              evaluated, beyond its last tier
not evaluated        scored but not evaluable: the reason says why (structure absent, ambiguous
                     match, empty on the grid, metric undefined)
absent (accepted)    its structure is absent and the configuration allows it
one side allowed     a left/right constraint exceeded on one side while the other side meets it,
                     and ``one_side_may_exceed`` names the pair
not applicable       its interval condition does not hold for this case (another of its group does)
reported             guidance, an observation or a risk classification: shown, never scored
===================  ==========================================================================

A run passes only when every scored constraint is met, accepted absent or one side allowed.
The interval a condition is judged on is that of the prior course that set the structure's
prior dose (the one with the highest EQDx in it); a constraint that ``assumes_recovery`` is
compared with the cumulative dose without the run's recovery discount (recovery counted once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from ..errors import InputError
from ..names import Match, match_structure
from .constraints import Constraint, ConstraintSet, Tier
from .dvh import DVH

MET, NOT_MET, NOT_EVALUATED = "met", "not met", "not evaluated"
ACCEPTED_ABSENT, ONE_SIDE, NOT_APPLICABLE, REPORTED = "absent (accepted)", "one side allowed", "not applicable", "reported"
#: States that let a run pass (the others, for scored constraints, do not).
PASSING = (MET, ACCEPTED_ABSENT, ONE_SIDE, NOT_APPLICABLE, REPORTED)
#: Why a constraint was not evaluated.
ABSENT, AMBIGUOUS, EMPTY, UNDEFINED = "structure absent", "ambiguous match", "empty on the grid", "metric undefined"


class DoseTable(Protocol):
    """What verdicts read: DVHs of the case's structures in any quantity, and the interval that applies to each."""

    def dvh(self, structure: str, scope: str, quantity: str, alpha_beta: float | None = None, region: str = "whole") -> DVH:
        """The DVH of ``structure``; KeyError when it has no volume on the dose grid, InputError when it cannot be formed."""

    def interval_months(self, structure: str) -> float | None:
        """Months since the prior course that set ``structure``'s prior dose (None: unknown)."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one constraint: value, limit, margin (limit - value), verdict, state and reasons.

    ``verdict`` is what is shown (the tier met: pass, desirable, acceptable ...; fail or exceeded;
    not evaluated; for reported constraints what the value means); ``state`` is one of the module's
    states; ``limit`` the scored limit that applied (after interval steps), ``tier`` the tier met;
    ``interval_months`` the interval it was judged on; ``tier_margins`` the room left to each tier
    (limit - value); ``reason`` why it was not evaluated (or not applicable); ``note`` anything
    else worth saying (overlaps, recovery counted once, pairs).
    """

    constraint: Constraint
    structure_found: str | None
    value: float | None
    limit: float | None
    margin: float | None
    verdict: str
    state: str = MET
    reason: str = ""
    note: str = ""
    tier: str = ""
    interval_months: float | None = None
    tier_margins: tuple[tuple[str, float], ...] = ()

    @property
    def passed(self) -> bool | None:
        """True when met (or allowed), False when not met, None when not evaluated, not applicable or reported."""
        if self.state in (MET, ONE_SIDE):
            return True
        if self.state == NOT_MET:
            return False
        return None

    @property
    def evaluated(self) -> bool:
        return self.value is not None and self.state in (MET, NOT_MET, ONE_SIDE)

    def with_note(self, note: str) -> Verdict:
        return replace(self, note="; ".join(n for n in (self.note, note) if n))


class _MappingTable:
    """A :class:`DoseTable` over ``{(scope, quantity): {structure: DVH}}`` (whole structures, the map's alpha/beta)."""

    def __init__(self, dvhs: Mapping[tuple[str, str], Mapping[str, DVH]], interval: float | None) -> None:
        self.dvhs, self.interval = dvhs, interval

    def dvh(self, structure: str, scope: str, quantity: str, alpha_beta: float | None = None, region: str = "whole") -> DVH:
        if alpha_beta is not None or region != "whole" or scope == "cumulative_no_recovery":
            raise InputError("these DVHs were computed with the run's alpha/beta, recovery and whole structures only")
        table = self.dvhs.get((scope, quantity))
        if table is None:
            raise InputError(f"no {scope} {quantity} dose was computed")
        return table[structure]

    def interval_months(self, structure: str) -> float | None:
        return self.interval


def _tier(tiers: tuple[Tier, ...], value: float) -> Tier | None:
    return next((t for t in tiers if t.holds(value)), None)


def _scope(c: Constraint) -> str:
    return "cumulative_no_recovery" if c.assumes_recovery and c.scope == "cumulative" else c.scope


def _reported(c: Constraint, value: float, months: float | None) -> str:
    if c.kind == "risk":
        chosen = next((r for r in c.risk if r.holds(value, months)), c.otherwise)
        if chosen is None:
            return "no risk class applies"
        return f"risk: {chosen.name}" + (f" ({chosen.toxicity})" if chosen.toxicity else "")
    if c.kind == "observation":
        side = "at or above" if value >= c.limit else "below"
        return f"{side} the dose observed ({c.observed or c.published or c.limit})"
    return "within guidance" if _tier(c.tiers, value) else "above guidance"


def _one(c: Constraint, match: Match, table: DoseTable, accept_absent: Callable[[str], bool]) -> Verdict:
    def skipped(reason: str, state: str = NOT_EVALUATED) -> Verdict:
        return Verdict(c, match.found, None, c.limit, None, state if c.scored or state != NOT_EVALUATED else REPORTED,
                       state, reason)  # fmt: skip

    if match.how == "ambiguous":
        return skipped(f"{AMBIGUOUS}: {list(match.candidates)}")
    if match.found is None:
        return skipped(ABSENT, ACCEPTED_ABSENT if accept_absent(c.structure) else NOT_EVALUATED)
    months = table.interval_months(match.found)
    try:
        h = table.dvh(match.found, _scope(c), c.quantity, c.alpha_beta, c.region)
        value = h.metric(c.metric, prescription_gy=getattr(table, "prescription_gy", None))
    except KeyError:
        return skipped(f"{EMPTY}: {match.found} has no volume inside the dose grid")
    except InputError as exc:
        return skipped(f"{UNDEFINED}: {exc}")
    note = "the limit assumes recovery: compared with the cumulative dose without the run's recovery discount" if (
        c.assumes_recovery and c.scope == "cumulative") else ""  # fmt: skip
    if not c.scored:
        return Verdict(c, match.found, value, c.limit, None if c.limit is None else c.limit - value, _reported(c, value, months),
                       REPORTED, note=note, interval_months=months)  # fmt: skip
    tiers = c.tiers_for(months)
    tier = _tier(tiers, value)
    if len(tiers) == 1:
        verdict = "pass" if tier else "fail"
    else:
        verdict = tier.name if tier else "exceeded"
    limit = tiers[-1].limit
    margins = tuple((t.name, t.limit - value) for t in tiers) if len(tiers) > 1 else ()
    return Verdict(c, match.found, value, limit, limit - value, verdict, MET if tier else NOT_MET, note=note,
                   tier=tier.name if tier else "", interval_months=months, tier_margins=margins)  # fmt: skip


def _interval_groups(constraints: list[Constraint], verdicts: list[Verdict]) -> list[Verdict]:
    """Interval conditions: a constraint whose condition fails is not applicable.

    In a group where none holds (a published boundary), the lowest limit applies; where the
    interval is unknown, every alternative applies (the strictest decides).
    """
    out = list(verdicts)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(constraints):
        if c.interval is not None:
            groups.setdefault((c.set_name, c.group or f"#{i}"), []).append(i)
    for members in groups.values():
        months = {i: out[i].interval_months for i in members}
        if any(m is None for m in months.values()):
            for i in members:
                if out[i].value is not None:
                    out[i] = out[i].with_note("the interval is unknown: every interval alternative is applied")
            continue
        holding = [i for i in members if constraints[i].interval.holds(months[i])]
        if not holding and len(members) > 1:
            lowest = min(members, key=lambda i: constraints[i].limit)
            holding = [lowest]
            boundary = [constraints[i].interval.text for i in members]
            out[lowest] = out[lowest].with_note(
                f"the interval ({months[lowest]:.1f} months) is on the published boundary of {boundary}: the lowest limit applies"
            )
        for i in members:
            if i not in holding and out[i].state != ACCEPTED_ABSENT:
                reason = f"interval condition {constraints[i].interval.text} does not hold ({months[i]:.1f} months)"
                out[i] = replace(out[i], state=NOT_APPLICABLE, verdict=NOT_APPLICABLE, reason=reason)
    return out


def _laterality(constraints: list[Constraint], verdicts: list[Verdict], one_side: Iterable[str]) -> list[Verdict]:
    """With ``one_side_may_exceed``, a left/right pair is one requirement: met when at least one side meets it."""
    allowed = set(one_side)
    out = list(verdicts)
    pairs: dict[tuple, list[int]] = {}
    for i, c in enumerate(constraints):
        if c.laterality in allowed:
            pairs.setdefault((c.laterality, c.set_name, c.metric, c.scope, c.region, c.quantity, c.interval), []).append(i)
    for members in pairs.values():
        if any(out[i].state == MET for i in members):
            for i in members:
                if out[i].state == NOT_MET:
                    out[i] = replace(out[i], state=ONE_SIDE).with_note(
                        f"exceeded on this side; allowed because the other side meets it ({constraints[i].laterality}: "
                        "one side may exceed when the other is functional)"
                    )
    return out


def _pairs(constraints: list[Constraint], verdicts: list[Verdict]) -> list[Verdict]:
    """ "Whichever is met first": every member of a pair must hold; name the binding one (the smallest margin)."""
    out = list(verdicts)
    pairs: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(constraints):
        if c.pair:
            pairs.setdefault((c.set_name, c.pair), []).append(i)
    for members in pairs.values():
        evaluated = [i for i in members if out[i].margin is not None and out[i].state != NOT_APPLICABLE]
        if len(evaluated) < 2:
            continue
        binding = min(evaluated, key=lambda i: out[i].margin)
        for i in evaluated:
            out[i] = out[i].with_note(f"whichever is met first: {constraints[binding].describe()} binds")
    return out


def evaluate(
    constraints: ConstraintSet,
    doses: DoseTable | Mapping[tuple[str, str], Mapping[str, DVH]],
    structures: Iterable[str] | Callable[[str], Match],
    interval_months: float | None = None,
    accept_absent: Callable[[str], bool] = lambda name: False,
) -> list[Verdict]:
    """Verdicts for every constraint of ``constraints``.

    Parameters
    ----------
    doses : DoseTable, or {(scope, quantity): {structure name in the case: DVH}}
        The case's doses. A mapping serves whole structures under the run's alpha/beta only (a
        structure of the case without a DVH there is empty on the dose grid); the pipeline
        passes a :class:`DoseTable` that forms any quantity, region and alpha/beta.
    structures : iterable of str, or callable
        The case's structure names (each constraint's name is matched among them by
        :func:`accumulate.names.match_structure`), or a callable giving a name's
        :class:`accumulate.names.Match` (the pipeline's, with the case's renames applied).
    interval_months : float, optional
        With a mapping: the interval (months) for interval steps and conditions.
    accept_absent : callable
        Whether a structure may be absent (``[accept] absent_structures``).

    Returns
    -------
    list of Verdict
        In the order of the set; see the module docstring for the states.

    Examples
    --------
    The case calls its cord "Cord"; the constraint's "SpinalCord" finds it through the synonyms.

    >>> import numpy as np
    >>> from accumulate.evaluation import dvh_from_points, parse_constraint_set
    >>> rules = parse_constraint_set({"name": "local", "constraint": [
    ...     {"id": "cord", "structure": "SpinalCord", "metric": "Dmax", "limit": 50.0}]})
    >>> cord = dvh_from_points(np.array([45.0, 30.0]), np.array([0.5, 0.5]), "Cord")  # cumulative EQD2, Gy
    >>> verdict = evaluate(rules, {("cumulative", "eqd2"): {"Cord": cord}}, ["Cord", "BODY"])[0]
    >>> verdict.state, verdict.structure_found, verdict.value, verdict.margin
    ('met', 'Cord', 45.0, 5.0)
    """
    table = doses if hasattr(doses, "interval_months") else _MappingTable(doses, interval_months)
    if callable(structures):
        match = structures
    else:
        names = list(structures)

        def match(name: str) -> Match:
            return match_structure(names, name)

    items = list(constraints.constraints)
    verdicts = [_one(c, match(c.structure), table, accept_absent) for c in items]
    verdicts = _interval_groups(items, verdicts)
    verdicts = _laterality(items, verdicts, constraints.one_side_may_exceed)
    return _pairs(items, verdicts)
