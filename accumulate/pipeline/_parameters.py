"""Stage 2's parameter maps: alpha/beta, recovery and cumulative EQD2 limits painted from the structures.

They depend on the radiobiology, recovery and constraint settings only, so a re-evaluation with
other settings repaints them from the same masks (see :meth:`Prepared.variant`). Every
structure name of the settings is looked up through its :class:`~accumulate.names.Match`
(see ``_preflight.match_settings_names``): ambiguity and unexpected absence were refused there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import RunConfig
from ..evaluation.constraints import equivalent_x
from ..geometry import Grid, Volume
from ..names import Match
from ..radiobiology import alpha_beta_map, limit_map
from ..radiobiology.recovery import RecoveryModel

#: Constraint metrics that bound every voxel of the structure, so they can drive the remaining-dose map.
VOXEL_METRICS = ("dmax", "d0.03cc", "d0.035cc", "d0.05cc", "d0.1cc")


@dataclass(frozen=True)
class ParameterMaps:
    """Per-voxel parameters on the reference dose grid, and the per-structure values they came from.

    ``alpha_beta`` (Gy) is a Volume; ``limits`` maps the x of each EQDx that max-type cumulative limits
    are stated in (2 for EQD2) to its limit Volume (Gy, NaN where none applies);
    ``alpha_beta_values`` and ``recovery`` are keyed by the case's structure names;
    ``latest_interval`` is the shortest interval (months) from a prior course to the reference.
    """

    alpha_beta: Volume
    alpha_beta_values: dict[str, float]
    recovery: dict[str, RecoveryModel]
    limits: dict[float, Volume]
    latest_interval: float


def resolve_names(wanted: Mapping[str, Any], matches: Mapping[str, Match]) -> dict[str, Any]:
    """``wanted`` keyed by the case's structure names; names absent from the case (accepted) are left out."""
    return {matches[name].found: value for name, value in wanted.items() if matches[name].found is not None}


def _voxel_limits(config: RunConfig, matches: Mapping[str, Match], interval: float | None) -> dict[float, dict[str, float]]:
    """Cumulative EQDx limits that hold in every voxel of their structure (max-type metrics), by x."""
    limits: dict[float, dict[str, float]] = {}
    for constraint in config.constraints.constraints if config.constraints else ():
        if constraint.scope != "cumulative" or constraint.metric.lower() not in VOXEL_METRICS:
            continue
        x = equivalent_x(constraint.quantity)
        name = matches[constraint.structure].found
        if x is None or name is None:
            continue
        per_x = limits.setdefault(x, {})
        per_x[name] = min(per_x.get(name, math.inf), constraint.limit_for(interval))
    return limits


def parameter_maps(
    config: RunConfig, grid: Grid, masks: Mapping[str, Volume], intervals: Mapping[str, float], matches: Mapping[str, Match]
) -> ParameterMaps:
    """The maps of ``config``'s radiobiology, recovery and constraints on ``grid`` (the masks' grid)."""
    ab_values = resolve_names(config.alpha_beta, matches)
    priority = config.alpha_beta_priority
    if not isinstance(priority, str):
        priority = list(resolve_names(dict.fromkeys(priority), matches))
    alpha_beta = alpha_beta_map(grid, masks, ab_values, default=config.alpha_beta_default, priority=priority)
    recovery = resolve_names(config.recovery, matches)
    latest_interval = min(intervals.values())
    limits = {x: limit_map(grid, masks, per_x) for x, per_x in _voxel_limits(config, matches, latest_interval).items()}
    return ParameterMaps(alpha_beta, ab_values, recovery, limits, latest_interval)
