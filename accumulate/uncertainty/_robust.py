"""Robust verdicts: a constraint judged in every uncertainty scenario and at the voxelwise worst case.

Given the nominal verdicts of a run, the verdicts of each scenario (one consistent dose per
scenario) and those of the bound (the voxelwise lower and upper envelopes of the scenarios: the
cumulative dose is non-decreasing in every prior course's dose, since EQDx grows with dose and
the recovery discount multiplies by a residual >= 0, so the envelopes of the prior doses give
the envelopes of the cumulative dose), :func:`robust_rows` says per constraint:

- ``scenario_range``: the metric's lowest and highest value over the scenarios (Gy);
- ``value_range``: the metric of the lower and of the upper envelope (Gy), the plausible range
  under the bound; every scenario's value lies inside it (the metrics are non-decreasing in the
  dose of each point);
- ``scenarios_not_met``, ``scenarios``: in how many of the n scenarios the scored limit is not met;
- ``worst_case``: "within limit" or "exceeds limit" (the upper envelope's verdict);
- ``robust_verdict``: "met in every scenario (n)" or "not met in k of n scenarios", followed by
  the bound's "; worst case exceeds limit" when it does.

Constraints that were not evaluated (absent structure, not applicable, risk classes) get
``robust_verdict`` None. The limits here are upper limits (every shipped metric is bounded from
above), so the worst case is the upper envelope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..evaluation import Verdict


def _value(v: Verdict) -> float | None:
    return None if v.value is None else float(v.value)


def robust_rows(
    nominal: Sequence[Verdict],
    scenarios: Sequence[Sequence[Verdict]],
    lower: Sequence[Verdict],
    upper: Sequence[Verdict],
) -> list[dict[str, Any]]:
    """One dict of robust keys per nominal verdict, in its order (see the module docstring).

    Every sequence holds the same constraints in the same order (verdicts of one constraint set
    evaluated on different doses).
    """
    n = len(scenarios)
    if any(len(s) != len(nominal) for s in (*scenarios, lower, upper)):
        raise ValueError("the scenario verdicts do not list the same constraints as the nominal ones")
    rows = []
    for i, v in enumerate(nominal):
        values = [_value(s[i]) for s in scenarios]
        scored = v.constraint.scored and v.evaluated and all(s[i].evaluated for s in scenarios)
        if not scored or any(value is None for value in values) or upper[i].value is None or lower[i].value is None:
            rows.append({"robust_verdict": None, "value_range": None, "scenario_range": None, "scenarios": n,
                         "scenarios_not_met": None, "worst_case": None})  # fmt: skip
            continue
        not_met = sum(1 for s in scenarios if s[i].passed is False)
        worst = "exceeds limit" if upper[i].passed is False else "within limit"
        text = f"met in every scenario ({n})" if not_met == 0 else f"not met in {not_met} of {n} scenarios"
        if worst == "exceeds limit":
            text += "; worst case exceeds limit"
        rows.append({
            "robust_verdict": text,
            "value_range": [round(float(lower[i].value), 3), round(float(upper[i].value), 3)],
            "scenario_range": [round(min(values), 3), round(max(values), 3)],
            "scenarios": n,
            "scenarios_not_met": not_met,
            "worst_case": worst,
        })  # fmt: skip
    return rows
