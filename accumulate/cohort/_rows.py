"""One patient's rows for the cohort tables, computed where the patient ran, from its RunResult.

Per structure: the run's status (``run_status``: passed, doses only, not met, incomplete, and
``run_reasons``), the DVH metrics of summary.json (``cumulative_eqd2_d0_03cc`` for its
"cumulative eqd2 D0.03cc"; Gy; ``eqd1_8`` for EQD1.8), each prior course's EQDx before and after recovery
(``course_<name>_eqd2_dmax``, ``course_<name>_residual_eqd2_dmax``, with ``_interval_months`` and
``_recovered``, the recovered fraction applied, averaged over the structure's voxels), the
constraints on it (worst verdict, smallest margin and the constraint that sets it), and the
registration quality of the prior courses (worst verdict, Jacobian range, folded voxels,
smallest Dice of the structure).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..evaluation import Verdict
from ..radiobiology import residual_map
from ..radiobiology.maps import OCCUPANCY_THRESHOLD
from ..report import SUMMARY_METRICS
from ._sensitivity import NOT_MET, verdict_columns

if TYPE_CHECKING:
    from ..pipeline import RunResult

#: Verdicts from the best to the worst, for "the worst verdict" of a structure.
VERDICT_ORDER = ("pass", "desirable", "acceptable", "warn", "fail", "exceeded")


def column(key: str) -> str:
    """A table column name for a summary key: lower case, runs of other characters as ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def _worst(verdicts: list[str]) -> str | None:
    ranked = [v for v in verdicts if v in VERDICT_ORDER]
    return max(ranked, key=VERDICT_ORDER.index) if ranked else None


def _course_contributions(result: RunResult) -> dict[str, dict[str, Any]]:
    """Per structure: each prior course's EQDx metrics before and after recovery, its interval and recovered fraction."""
    prepared, evaluation = result.prepared, result.evaluation
    maps, masks, grid, quantity = prepared.maps, prepared.masks, prepared.reference.dose.grid, evaluation.quantity
    out: dict[str, dict[str, Any]] = {name: {} for name in masks}
    for prior in prepared.priors:
        interval = prepared.intervals[prior.name]
        residual = residual_map(grid, masks, maps.recovery, interval)
        prefix = f"course_{column(prior.name)}"
        for label, scope in ((quantity, f"course:{prior.name}"), (f"residual_{quantity}", f"residual:{prior.name}")):
            table = evaluation.dvhs[(scope, quantity)]
            for name in table:
                h = table[name]
                out[name].update({f"{prefix}_{column(label)}_{column(m)}": round(h.metric(m), 3) for m in SUMMARY_METRICS})
        for name, mask in masks.items():
            inside = np.asarray(mask.array, float) >= OCCUPANCY_THRESHOLD
            out[name][f"{prefix}_interval_months"] = round(interval, 2)
            out[name][f"{prefix}_recovered"] = round(1.0 - float(residual.array[inside].mean()), 4) if inside.any() else None
    return out


def _registration(registration: Mapping[str, Any], structure: str) -> dict[str, Any]:
    """The worst registration figures over the prior courses, for one structure."""
    verdicts, low, high, folded, dice = [], [], [], 0, []
    for course in registration.values():
        verdicts.append(course.get("verdict"))
        for check in course.get("checks", []):
            values = check.get("values", {})
            if check["name"] == "jacobian_range":
                low.append(values["min"])
                high.append(values["max"])
            elif check["name"] == "folding":
                folded += int(values.get("folded_voxels", 0))
            elif check["name"] == f"dice:{structure}":
                dice.append(values["dice"])
    return {
        "registration_verdict": _worst(verdicts),
        "jacobian_min": min(low, default=None),
        "jacobian_max": max(high, default=None),
        "folded_voxels": folded if low else None,
        "dice": min(dice, default=None),
    }


def _constraints(verdicts: list[Verdict], structure: str) -> dict[str, Any]:
    mine = [v for v in verdicts if v.structure_found == structure and v.value is not None]
    binding = min(mine, key=lambda v: v.margin, default=None)
    return {
        "constraints_evaluated": len(mine),
        "constraints_not_met": sum(v.verdict in NOT_MET for v in mine),
        "worst_verdict": _worst([v.verdict for v in mine]),
        "min_margin": None if binding is None else round(binding.margin, 3),
        "binding_constraint": None if binding is None else binding.constraint.describe(),
    }


def patient_rows(result: RunResult) -> dict[str, list[dict[str, Any]]]:
    """``{"results": [one per structure], "constraints": [one per constraint]}`` for a RunResult that kept its preparation."""
    contributions = _course_contributions(result)
    status = {"run_status": result.status.state, "run_reasons": "; ".join(result.status.reasons) or None}
    structures = []
    for row in result.summary["structures"]:
        name = row["structure"]
        metrics = {column(key): value for key, value in row.items() if key != "structure"}
        constraints = _constraints(result.verdicts, name)
        registration = _registration(result.summary["registration"], name)
        structures.append({"structure": name, **status, **metrics, **contributions.get(name, {}), **constraints, **registration})
    return {"results": structures, "constraints": [verdict_columns(v) for v in result.verdicts]}
