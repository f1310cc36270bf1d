"""Shared input checks of the public warp launchers, and where results go back."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import to_host
from .._validate import finite_array
from ..errors import InputError
from ..geometry import DisplacementField, Volume

METHODS = ("mass", "direct")
DEFAULT_SUBSAMPLES = 1
MAX_SUBSAMPLES = 16


def check_method(method: str, subsamples: Any) -> int:
    """Validate the method name; the number of sub-samples per axis (1 for ``direct``)."""
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    if method == "direct":
        return 1
    if isinstance(subsamples, bool) or not isinstance(subsamples, int | np.integer) or not 1 <= subsamples <= MAX_SUBSAMPLES:
        raise InputError(f"subsamples (per axis, k^3 per voxel) must be an integer in [1, {MAX_SUBSAMPLES}], got {subsamples!r}")
    return int(subsamples)


def check_moving(dose: Any, field: Any, density: Any, what: str) -> None:
    """Types and values of one moving dose, its field and its density (all finite; dose >= 0, density > 0)."""
    if not isinstance(dose, Volume):
        raise InputError(f"{what}: the dose must be a Volume on the moving (prior) dose grid, got {type(dose).__name__}")
    if not isinstance(field, DisplacementField):
        raise InputError(f"{what}: the field must be a DisplacementField on the fixed grid, got {type(field).__name__}")
    if density is not None and not isinstance(density, Volume):
        raise InputError(
            f"{what}: moving_density must be a Volume in g/cm3 (see density_from_ct) or None, got {type(density).__name__}"
        )
    finite_array(dose.array, f"{what}: dose", minimum=0.0)
    finite_array(field.array, f"{what}: displacement field")
    if density is not None:
        finite_array(density.array, f"{what}: density (g/cm3)", minimum=0.0, strictly_above=True)


def host_or_device(array: Any, on_device: bool) -> Any:
    """``array`` where the caller's data lived: CuPy when ``on_device``, else NumPy."""
    if on_device:
        from .._arrays import to_device

        return to_device(array)
    return to_host(array)
