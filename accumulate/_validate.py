"""Input checks shared by the public functions; each message names the argument and the value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._arrays import array_module, to_host
from .errors import InputError


def positive_number(value: Any, name: str) -> float:
    """``value`` as a float, which must be finite and > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise InputError(f"{name} must be finite and > 0, got {value!r}")
    return number


def _first_bad(mask: Any, shape: tuple[int, ...]) -> str:
    flat = int(to_host(array_module(mask).argmax(mask.reshape(-1))))
    return f"first at voxel (z,y,x)={np.unravel_index(flat, shape)}" if len(shape) == 3 else f"first at index {flat}"


def finite_array(array: Any, name: str, *, minimum: float | None = None, strictly_above: bool = False) -> None:
    """Reject NaN/inf values, and values below ``minimum`` (or not above it when ``strictly_above``)."""
    if array.size == 0:
        return
    low_value, high_value = float(array.min()), float(array.max())  # NaN propagates; two passes, no temporaries
    in_range = minimum is None or (low_value > minimum if strictly_above else low_value >= minimum)
    if math.isfinite(low_value) and math.isfinite(high_value) and in_range:
        return
    xp = array_module(array)
    bad = ~xp.isfinite(array)
    if bool(bad.any()):
        raise InputError(f"{name} contains {int(bad.sum())} NaN or infinite values ({_first_bad(bad, array.shape)})")
    if minimum is None:
        return
    low = array <= minimum if strictly_above else array < minimum
    if bool(low.any()):
        bound = f"> {minimum}" if strictly_above else f">= {minimum}"
        raise InputError(
            f"{name} must be {bound} everywhere; {int(low.sum())} values are not "
            f"(smallest {float(array.min()):.6g}, {_first_bad(low, array.shape)})"
        )
