"""Stage 2's parameter maps: alpha/beta and recovery painted from the structures.

They depend on the radiobiology, recovery and constraint settings only, so a re-evaluation with
other settings repaints them from the same masks (see :meth:`Prepared.variant`). Every
structure name of the settings is looked up through its :class:`~accumulate.names.Match`
(see ``_preflight.match_settings_names``): ambiguity and unexpected absence were refused there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import RunConfig
from ..geometry import Grid, Volume
from ..names import Match
from ..radiobiology import alpha_beta_map
from ..radiobiology.recovery import RecoveryModel


@dataclass(frozen=True)
class ParameterMaps:
    """Per-voxel parameters on the reference dose grid, and the per-structure values they came from.

    ``alpha_beta`` (Gy) is a Volume; ``alpha_beta_values`` and ``recovery`` are keyed by the case's
    structure names;
    ``latest_interval`` is the shortest interval (months) from a prior course to the reference.
    """

    alpha_beta: Volume
    alpha_beta_values: dict[str, float]
    recovery: dict[str, RecoveryModel]
    latest_interval: float


def resolve_names(wanted: Mapping[str, Any], matches: Mapping[str, Match]) -> dict[str, Any]:
    """``wanted`` keyed by the case's structure names; names absent from the case (accepted) are left out."""
    return {matches[name].found: value for name, value in wanted.items() if matches[name].found is not None}


def parameter_maps(
    config: RunConfig, grid: Grid, masks: Mapping[str, Volume], intervals: Mapping[str, float], matches: Mapping[str, Match]
) -> ParameterMaps:
    """The maps of ``config``'s radiobiology and recovery on ``grid`` (the masks' grid)."""
    ab_values = resolve_names(config.alpha_beta, matches)
    priority = config.alpha_beta_priority
    if not isinstance(priority, str):
        priority = list(resolve_names(dict.fromkeys(priority), matches))
    alpha_beta = alpha_beta_map(grid, masks, ab_values, default=config.alpha_beta_default, priority=priority)
    recovery = resolve_names(config.recovery, matches)
    return ParameterMaps(alpha_beta, ab_values, recovery, min(intervals.values()))
