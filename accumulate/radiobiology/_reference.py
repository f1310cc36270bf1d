"""NumPy reference of the voxelwise LQ operations: the specification the fast backends must match.

All arrays are flat (n voxels); ``alpha_beta`` is length n or length 1 (one value for every
voxel), course stacks are (K, n). Arithmetic is float64 whatever the storage dtype (the rule every
backend follows); results come back in the dtype of the voxel input.
"""

from __future__ import annotations

import numpy as np

from .operations import CourseStack, LQInputs


def _equivalent(dose, alpha_beta, fractions, rbe, ref_dose):
    total = rbe * np.asarray(dose, dtype=np.float64)
    return total * (alpha_beta + total / fractions) / (alpha_beta + ref_dose)


def _max_dose(remaining, alpha_beta, fractions, ref_dose):
    bed = np.maximum(remaining, 0) * (alpha_beta + ref_dose) / alpha_beta
    return np.where(np.isnan(remaining), np.nan, 2 * bed / (1 + np.sqrt(1 + 4 * bed / (fractions * alpha_beta))))


def equivalent_dose(inputs: LQInputs) -> np.ndarray:
    """EQDx = D (a/b + d) / (a/b + x), D = rbe * dose, d = D / fractions; x = ref_dose (0: BED)."""
    dose, ab = inputs.values, np.asarray(inputs.alpha_beta, dtype=np.float64)
    return _equivalent(dose, ab, inputs.fractions, inputs.rbe, inputs.ref_dose).astype(dose.dtype)


def max_additional_dose(inputs: LQInputs) -> np.ndarray:
    """Largest D with EQDx(D in ``fractions``) <= remaining: positive root of D^2/(n a/b) + D - BED = 0."""
    remaining, ab = inputs.values, np.asarray(inputs.alpha_beta, dtype=np.float64)
    return _max_dose(np.asarray(remaining, dtype=np.float64), ab, inputs.fractions, inputs.ref_dose).astype(remaining.dtype)


def accumulate_courses(stack: CourseStack) -> tuple[np.ndarray, np.ndarray | None]:
    """Sum over courses k of residual_k * EQDx_k, and the headroom for a new course under ``limit``."""
    doses, fractions, rbe, residuals, ref_dose = stack.doses, stack.fractions, stack.rbe, stack.residuals, stack.ref_dose
    limit, new_fractions = stack.limit, stack.new_fractions
    ab = np.asarray(stack.alpha_beta, dtype=np.float64)
    cumulative = np.zeros(doses.shape[1])
    for k in range(doses.shape[0]):
        cumulative += np.asarray(residuals[k], dtype=np.float64) * _equivalent(doses[k], ab, fractions[k], rbe[k], ref_dose)
    remaining = None
    if limit is not None:
        remaining = _max_dose(np.asarray(limit, dtype=np.float64) - cumulative, ab, new_fractions, ref_dose).astype(doses.dtype)
    return cumulative.astype(doses.dtype), remaining
