"""Slice positions along a normal: even spacing, missing slices, resampling onto even spacing."""

from __future__ import annotations

import numpy as np

from ..errors import GeometryError


class MissingSlicesError(GeometryError):
    """Gaps that are whole multiples of the usual spacing: slices were lost, never resample them."""


def position_tolerance_mm(step_mm: float) -> float:
    """How far a slice may sit from its even-grid position: 1 % of the step, at least 0.02 mm."""
    return max(0.02, 0.01 * abs(step_mm))


def even_step(positions_mm: np.ndarray, what: str) -> float:
    """The constant step of ascending or descending ``positions_mm``, or a :class:`GeometryError`.

    The message lists missing slice positions when the gaps are whole multiples of the usual
    step, and otherwise the uneven gaps found.
    """
    positions = np.asarray(positions_mm, dtype=float)
    if positions.size < 2:
        raise GeometryError(f"{what}: needs at least two slices to define a slice spacing")
    diffs = np.diff(positions)
    if np.any(np.abs(diffs) < 1e-6) or not (np.all(diffs > 0) or np.all(diffs < 0)):
        raise GeometryError(f"{what}: slice positions are not strictly monotonic: {np.round(positions, 3).tolist()}")
    step = (positions[-1] - positions[0]) / (positions.size - 1)
    ideal = positions[0] + step * np.arange(positions.size)
    if np.all(np.abs(positions - ideal) <= position_tolerance_mm(step)):
        return float(step)
    usual = float(np.median(diffs))
    ratios = diffs / usual
    whole = np.rint(ratios)
    if np.all(np.abs(ratios - whole) * abs(usual) <= position_tolerance_mm(usual)) and np.any(whole > 1):
        missing = [positions[i] + usual * m for i in np.flatnonzero(whole > 1) for m in range(1, int(whole[i]))]
        raise MissingSlicesError(
            f"{what}: {len(missing)} slice(s) missing at position(s) {[round(float(p), 3) for p in missing]} mm "
            f"along the slice normal (usual spacing {abs(usual):.4g} mm); re-export the complete series"
        )
    odd = [(round(float(positions[i]), 3), round(float(diffs[i]), 4)) for i in np.flatnonzero(np.abs(diffs - usual) > 1e-3)]
    raise GeometryError(
        f"{what}: uneven slice spacing (usual {abs(usual):.4g} mm; gaps (position, gap) {odd[:10]}); "
        "re-export with even spacing, or read with uneven_spacing='resample'"
    )


def resample_even(stack: np.ndarray, positions_mm: np.ndarray) -> tuple[np.ndarray, float]:
    """Linear interpolation of an ascending slice stack (nz, ny, nx) onto even spacing.

    The new spacing is the smallest gap; the first and last positions are kept (the last one
    is moved onto the even grid, within half a step). Returns the new stack and its step.
    """
    positions = np.asarray(positions_mm, dtype=float)
    step = float(np.min(np.diff(positions)))
    count = int(np.floor((positions[-1] - positions[0]) / step + 1e-6)) + 1
    targets = positions[0] + step * np.arange(count)
    upper = np.clip(np.searchsorted(positions, targets, side="right"), 1, positions.size - 1)
    lower = upper - 1
    weight = ((targets - positions[lower]) / (positions[upper] - positions[lower])).astype(stack.dtype)
    out = stack[lower] * (1 - weight)[:, None, None] + stack[upper] * weight[:, None, None]
    return out, step
