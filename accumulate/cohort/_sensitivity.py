"""Sensitivity analysis: each patient's verdicts over a grid of alpha/beta and recovery assumptions.

The grid file (TOML) lists values per structure; every combination is one grid point::

    [alpha_beta]                  # alpha/beta in Gy; "default" is [radiobiology] alpha_beta_default
    default = [2.0, 3.0]
    SpinalCord = [1.5, 2.0, 3.0]

    [recovery]                    # per structure: a recovered fraction (constant model), a preset
    SpinalCord = [0.0, 0.25, "cord-conservative", { model = "exponential", r_max = 0.5, tau_months = 6 }]

A point replaces those values in the patient's settings; everything else stays. Registration and
warping are done once per patient: each point repeats only stages 5-6 (EQD2, recovery, DVHs,
verdicts) on the prepared case.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import RunConfig, read_toml
from ..errors import ConfigError, InputError
from ..evaluation import Verdict
from ..radiobiology.recovery import RecoveryModel, recovery_model

if TYPE_CHECKING:
    from ..pipeline import RunResult

SECTIONS = ("alpha_beta", "recovery")
MAX_POINTS = 1000
#: Verdicts that count as "not met" when the summary counts failures.
NOT_MET = ("fail", "exceeded")


@dataclass(frozen=True)
class Axis:
    """One varied setting: ``section`` (alpha_beta or recovery), ``structure`` ("default" for alpha_beta_default)."""

    section: str
    structure: str
    values: tuple[float | RecoveryModel, ...]

    @property
    def column(self) -> str:
        return f"{self.section}_{self.structure}"

    def shown(self, value: float | RecoveryModel) -> float | str:
        return value if isinstance(value, float) else value.describe()


@dataclass(frozen=True)
class GridPoint:
    index: int
    values: tuple[tuple[Axis, float | RecoveryModel], ...]

    @property
    def label(self) -> str:
        return ", ".join(f"{axis.section}[{axis.structure}]={_short(axis.shown(value))}" for axis, value in self.values)

    def columns(self) -> dict[str, float | str]:
        return {axis.column: axis.shown(value) for axis, value in self.values}

    def apply(self, config: RunConfig) -> RunConfig:
        """``config`` with this point's alpha/beta and recovery values."""
        default, alpha_beta, recovery = config.alpha_beta_default, dict(config.alpha_beta), dict(config.recovery)
        for axis, value in self.values:
            if axis.section == "recovery":
                recovery[axis.structure] = value
            elif axis.structure == "default":
                default = value
            else:
                alpha_beta[axis.structure] = value
        return replace(config, alpha_beta_default=default, alpha_beta=alpha_beta, recovery=recovery)


def _short(value: float | str) -> str:
    return f"{value:g}" if isinstance(value, float) else value


@dataclass(frozen=True)
class SensitivityGrid:
    source: Path
    axes: tuple[Axis, ...]

    def points(self) -> list[GridPoint]:
        combos = itertools.product(*(axis.values for axis in self.axes))
        return [GridPoint(i, tuple(zip(self.axes, combo, strict=True))) for i, combo in enumerate(combos)]


def _alpha_beta(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{where}: alpha/beta values must be numbers > 0 Gy, got {value!r}")
    return float(value)


def _recovery(value: Any, where: str) -> RecoveryModel:
    spec = {"model": "constant", "recovered": value} if isinstance(value, int | float) and not isinstance(value, bool) else value
    try:
        return recovery_model(dict(spec) if isinstance(spec, Mapping) else spec)
    except InputError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def read_grid(path: str | Path) -> SensitivityGrid:
    """Read and check a grid file; errors name the file, the section and the structure."""
    source = Path(path).resolve()
    table = read_toml(source)
    unknown = sorted(set(table) - set(SECTIONS))
    if unknown or not table:
        raise ConfigError(f"{source}: a sensitivity grid has the sections {list(SECTIONS)}, got {sorted(table)}")
    axes = []
    for section in SECTIONS:
        entries = table.get(section, {})
        if not isinstance(entries, Mapping):
            raise ConfigError(f"{source}: [{section}] must be a table of structure = [values]")
        for structure, values in entries.items():
            where = f"{source}: [{section}] {structure}"
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}: give a non-empty list of values, e.g. [2.0, 3.0]")
            if section == "recovery" and structure == "default":
                raise ConfigError(f"{where}: recovery is per structure; name the structure (e.g. BODY for everywhere)")
            parse = _alpha_beta if section == "alpha_beta" else _recovery
            axes.append(Axis(section, structure, tuple(parse(v, f"{where} value {i + 1}") for i, v in enumerate(values))))
    count = math.prod(len(axis.values) for axis in axes)
    if count > MAX_POINTS:
        raise ConfigError(f"{source}: the grid has {count} points (more than {MAX_POINTS}); list fewer values")
    return SensitivityGrid(source, tuple(axes))


def verdict_columns(verdict: Verdict) -> dict[str, Any]:
    """The columns of one constraint verdict in the cohort's tables."""
    c = verdict.constraint
    return {
        "constraint": c.describe(), "structure": verdict.structure_found or c.structure, "metric": c.metric,
        "scope": c.scope, "quantity": c.quantity, "value": verdict.value, "limit": verdict.limit,
        "margin": verdict.margin, "verdict": verdict.verdict, "state": verdict.state, "reason": verdict.reason or None,
    }  # fmt: skip


def sensitivity_rows(result: RunResult, grid: SensitivityGrid) -> list[dict[str, Any]]:
    """One row per grid point and constraint for a finished run (a RunResult that kept its preparation).

    Each point re-runs stages 5-6 on ``result.prepared``; ``evaluate_s`` is its wall time.
    """
    from ..pipeline import evaluate

    rows = []
    for point in grid.points():
        started = time.perf_counter()
        evaluation = evaluate(result.prepared.variant(point.apply(result.config)))
        seconds = round(time.perf_counter() - started, 4)
        for base, verdict in zip(result.verdicts, evaluation.verdicts, strict=True):
            rows.append({"point": point.index, "label": point.label, **point.columns(), **verdict_columns(verdict),
                         "base_verdict": base.verdict, "changed": verdict.verdict != base.verdict,
                         "evaluate_s": seconds})  # fmt: skip
    return rows


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How the verdicts move across the grid: per constraint, per grid point, and in all.

    A (patient, constraint) pair *changes* when its evaluated verdicts are not all the same over the grid.
    """
    verdicts: dict[tuple[str, str], set[str]] = {}
    points: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row["value"] is None:
            continue
        verdicts.setdefault((row["patient"], row["constraint"]), set()).add(row["verdict"])
        point = points.setdefault(row["point"], {"point": row["point"], "grid point": row["label"], "not met": 0,
                                                 "evaluate_s": row["evaluate_s"]})  # fmt: skip
        point["not met"] += row["verdict"] in NOT_MET
    per_constraint: dict[str, dict[str, Any]] = {}
    for (_patient, constraint), seen in verdicts.items():
        entry = per_constraint.setdefault(constraint, {"constraint": constraint, "patients": 0, "verdict changes": 0})
        entry["patients"] += 1
        entry["verdict changes"] += len(seen) > 1
    return {
        "pairs": len(verdicts),
        "changed": sum(len(seen) > 1 for seen in verdicts.values()),
        "constraints": list(per_constraint.values()),
        "points": [points[k] for k in sorted(points)],
    }
