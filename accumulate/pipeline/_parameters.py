"""Stage 2's parameter maps: alpha/beta, recovery and cumulative EQD2 limits painted from the structures.

They depend on the radiobiology, recovery and constraint settings only, so a re-evaluation with
other settings repaints them from the same masks (see :meth:`Prepared.variant`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import RunConfig
from ..errors import InputError
from ..geometry import Grid, Volume
from ..io import find_structure
from ..radiobiology import alpha_beta_map, limit_map
from ..radiobiology.recovery import RecoveryModel

#: Constraint metrics that bound every voxel of the structure, so they can drive the remaining-dose map.
VOXEL_METRICS = ("dmax", "d0.03cc", "d0.035cc", "d0.1cc")


@dataclass(frozen=True)
class ParameterMaps:
    """Per-voxel parameters on the reference dose grid, and the per-structure values they came from.

    ``alpha_beta`` (Gy) and ``limits`` (cumulative EQD2, Gy, NaN where none applies) are Volumes;
    ``alpha_beta_values`` and ``recovery`` are keyed by the case's structure names;
    ``latest_interval`` is the shortest interval (months) from a prior course to the reference.
    """

    alpha_beta: Volume
    alpha_beta_values: dict[str, float]
    recovery: dict[str, RecoveryModel]
    limits: Volume
    latest_interval: float


def resolve_names(wanted: Mapping[str, Any], masks: Mapping[str, Volume], what: str) -> dict[str, Any]:
    """Map configuration structure names onto the case's names (synonyms); an unknown name is an error."""
    out = {}
    for name, value in wanted.items():
        try:
            out[find_structure(masks, name)] = value
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None
    return out


def _voxel_limits(config: RunConfig, masks: Mapping[str, Volume], interval: float | None) -> dict[str, float]:
    """Cumulative EQD2 limits that hold in every voxel of their structure (max-type metrics)."""
    limits: dict[str, float] = {}
    for constraint in config.constraints.constraints if config.constraints else ():
        if constraint.scope != "cumulative" or constraint.quantity != "eqd2" or constraint.metric.lower() not in VOXEL_METRICS:
            continue
        try:
            name = find_structure(masks, constraint.structure)
        except InputError:
            continue
        limits[name] = min(limits.get(name, math.inf), constraint.limit_for(interval))
    return limits


def parameter_maps(config: RunConfig, grid: Grid, masks: Mapping[str, Volume], intervals: Mapping[str, float]) -> ParameterMaps:
    """The maps of ``config``'s radiobiology, recovery and constraints on ``grid`` (the masks' grid)."""
    ab_values = resolve_names(config.alpha_beta, masks, "[radiobiology.alpha_beta]")
    priority = config.alpha_beta_priority
    if not isinstance(priority, str):
        priority = list(resolve_names(dict.fromkeys(priority), masks, "[radiobiology].alpha_beta_priority"))
    alpha_beta = alpha_beta_map(grid, masks, ab_values, default=config.alpha_beta_default, priority=priority)
    recovery = resolve_names(config.recovery, masks, "[recovery]")
    latest_interval = min(intervals.values())
    limits = limit_map(grid, masks, _voxel_limits(config, masks, latest_interval))
    return ParameterMaps(alpha_beta, ab_values, recovery, limits, latest_interval)
