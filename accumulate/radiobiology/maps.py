"""Per-voxel parameter maps painted from structure masks: alpha/beta, recovery residual, EQD2 limits.

Masks are :class:`~accumulate.Volume` objects on the target grid, boolean or fractional
occupancy in [0, 1]; a voxel belongs to a structure when its occupancy is >= 0.5. A structure
named in the values is found among the masks by :func:`accumulate.names.find_structure`. Where
structures overlap, one rule decides which value a voxel gets (stated per function).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Grid, Volume
from ..names import find_structure
from .recovery import NoRecovery, RecoveryModel

OCCUPANCY_THRESHOLD = 0.5
NO_RECOVERY = NoRecovery()


def paint(
    grid: Grid, masks: Mapping[str, Volume], values: Mapping[str, float], default: float, order: Sequence[str]
) -> np.ndarray:
    """A float64 map on ``grid``: ``default`` everywhere, then each structure's value, the first in ``order`` winning."""
    out = np.full(grid.shape, float(default), dtype=np.float64)
    painted = np.zeros(grid.shape, dtype=bool)
    for name in order:
        mask = masks[find_structure(masks, name)]
        grid.require_same(mask.grid, f"the parameter map and structure {name!r}")
        inside = np.asarray(mask.to_numpy().array, dtype=float) >= OCCUPANCY_THRESHOLD
        take = inside & ~painted
        out[take] = values[name]
        painted |= inside
    return out


def alpha_beta_map(
    grid: Grid,
    masks: Mapping[str, Volume],
    values: Mapping[str, float],
    *,
    default: float,
    priority: Sequence[str] | str = "lowest",
) -> Volume:
    """alpha/beta (Gy) per voxel from structures, ``default`` outside all of them.

    Parameters
    ----------
    values : {structure name: alpha/beta in Gy}
        Names are matched as everywhere in the package (:func:`accumulate.names.find_structure`:
        ignoring case and punctuation, then the synonyms); an unknown or ambiguous name is an error.
    priority : "lowest", "highest" or a list of names
        Who wins where structures overlap: the lowest alpha/beta (default, conservative for
        late-reacting organs at risk inside a target), the highest, or the first listed name.

    Other parameters: ``grid`` (the target grid), ``masks`` ({name: mask Volume on ``grid``}) and
    ``default`` (alpha/beta outside every structure, Gy).

    Returns
    -------
    Volume
        float64, quantity ``"alpha_beta"``, unit ``"Gy"``.

    Raises
    ------
    InputError
        A value that is not finite and > 0, an unknown or ambiguous structure, a bad priority.

    Examples
    --------
    >>> import numpy as np
    >>> from accumulate import Grid, Volume
    >>> grid = Grid((1, 1, 3))
    >>> cord = Volume(np.array([[[True, True, False]]]), grid, "mask", "1")
    >>> ptv = Volume(np.array([[[False, True, True]]]), grid, "mask", "1")
    >>> alpha_beta_map(grid, {"SpinalCord": cord, "PTV": ptv}, {"SpinalCord": 2.0, "PTV": 10.0}, default=3.0).array
    array([[[ 2.,  2., 10.]]])
    """
    for name, value in values.items():
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"alpha/beta of {name!r} must be finite and > 0 Gy, got {value!r}")
    if not (np.isfinite(default) and default > 0):
        raise InputError(f"default alpha/beta must be finite and > 0 Gy, got {default!r}")
    if priority == "lowest":
        order = sorted(values, key=lambda n: values[n])
    elif priority == "highest":
        order = sorted(values, key=lambda n: -values[n])
    elif isinstance(priority, str):
        raise InputError(f"priority must be 'lowest', 'highest' or a list of structure names, got {priority!r}")
    else:
        order = list(priority)
        missing = [n for n in values if n not in order]
        unknown = [n for n in order if n not in values]
        if missing or unknown:
            raise InputError(
                f"the priority list must name exactly the structures with an alpha/beta: missing {missing}, unknown {unknown}"
            )
    return Volume(paint(grid, masks, values, default, order), grid, "alpha_beta", "Gy")


def residual_map(
    grid: Grid,
    masks: Mapping[str, Volume],
    models: Mapping[str, RecoveryModel],
    interval_months: float,
    *,
    default: RecoveryModel = NO_RECOVERY,
) -> Volume:
    """The fraction ``1 - r(t)`` of a prior course's EQD2 that still counts, per voxel.

    Each structure has its recovery model; voxels outside all of them use ``default``. Where
    structures overlap the least recovery wins (the largest residual), the conservative choice.

    Parameters
    ----------
    grid, masks
        As for :func:`alpha_beta_map`.
    models : mapping of str to RecoveryModel
        Recovery model of each structure named (see :func:`accumulate.recovery_model`).
    interval_months : float
        Time since the prior course, months (see :func:`accumulate.months_between`).
    default : RecoveryModel
        Outside every structure (no recovery by default).

    Returns
    -------
    Volume
        float64 fractions in [0, 1], quantity ``"residual_fraction"``, unit ``"1"``.

    Raises
    ------
    InputError
        An unknown or ambiguous structure name.

    Examples
    --------
    >>> import numpy as np
    >>> from accumulate import ConstantRecovery, Grid, Volume
    >>> grid = Grid((1, 1, 2))
    >>> cord = Volume(np.array([[[True, False]]]), grid, "mask", "1")
    >>> residual_map(grid, {"SpinalCord": cord}, {"SpinalCord": ConstantRecovery(0.25)}, 12.0).array
    array([[[0.75, 1.  ]]])
    """
    residual = {name: 1.0 - model.recovered(interval_months) for name, model in models.items()}
    order = sorted(residual, key=lambda n: -residual[n])
    values = paint(grid, masks, residual, 1.0 - default.recovered(interval_months), order)
    return Volume(values, grid, "residual_fraction", "1")


def limit_map(grid: Grid, masks: Mapping[str, Volume], limits: Mapping[str, float]) -> Volume:
    """Cumulative EQDx limit (Gy) per voxel; NaN where no structure has a limit; the lowest limit wins overlaps.

    Parameters
    ----------
    grid : Grid
        The target grid; ``masks`` are on it ({name: mask Volume}).
    masks : mapping of str to Volume
    limits : mapping of str to float
        Cumulative EQDx limit of each structure named, Gy, finite and >= 0.

    Returns
    -------
    Volume
        float64, quantity ``"eqd_limit"``, unit ``"Gy"``.

    Raises
    ------
    InputError
        A limit that is negative or not finite, an unknown or ambiguous structure name.

    Examples
    --------
    >>> import numpy as np
    >>> from accumulate import Grid, Volume
    >>> grid = Grid((1, 1, 2))
    >>> cord = Volume(np.array([[[True, False]]]), grid, "mask", "1")
    >>> limit_map(grid, {"SpinalCord": cord}, {"SpinalCord": 50.0}).array
    array([[[50., nan]]])
    """
    for name, value in limits.items():
        if not (np.isfinite(value) and value >= 0):
            raise InputError(f"limit of {name!r} must be finite and >= 0 Gy, got {value!r}")
    order = sorted(limits, key=lambda n: limits[n])
    return Volume(paint(grid, masks, limits, np.nan, order), grid, "eqd_limit", "Gy")


def as_map(value: Any, grid: Grid, name: str) -> Any:
    """A scalar passes through; a Volume must be on ``grid`` and is returned as its array."""
    if isinstance(value, Volume):
        grid.require_same(value.grid, f"the dose and {name}")
        return value.array
    return value
