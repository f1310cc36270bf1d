"""NumPy reference of the voxelwise LQ operations: the specification the fast backends must match.

All arrays are flat (n voxels). ``alpha_beta`` and residual arrays are either length n or
length 1 (one value for every voxel); NumPy broadcasting covers both.
"""

from __future__ import annotations

import numpy as np


def equivalent_dose(dose, alpha_beta, fractions, rbe, ref_dose):
    """EQDx = D (a/b + d) / (a/b + x), D = rbe * dose, d = D / fractions; x = ref_dose (0: BED)."""
    total = rbe * dose
    per_fraction = total / fractions
    return total * (alpha_beta + per_fraction) / (alpha_beta + ref_dose)


def max_additional_dose(remaining, alpha_beta, fractions, ref_dose):
    """Largest D with EQDx(D in ``fractions``) <= remaining: positive root of D^2/(n a/b) + D - BED = 0."""
    bed = np.maximum(remaining, 0) * (alpha_beta + ref_dose) / alpha_beta
    dose = 2 * bed / (1 + np.sqrt(1 + 4 * bed / (fractions * alpha_beta)))
    return np.where(np.isnan(remaining), np.nan, dose).astype(remaining.dtype, copy=False)


def accumulate_courses(doses, fractions, rbe, residuals, alpha_beta, ref_dose, limit, new_fractions):
    """Sum over courses k of residual_k * EQDx_k, and the headroom for a new course under ``limit``.

    ``doses`` and ``residuals`` are sequences of K flat arrays (a residual of length 1 applies to every voxel).
    """
    cumulative = np.zeros_like(doses[0])
    for k, (dose, residual) in enumerate(zip(doses, residuals, strict=True)):
        cumulative += residual * equivalent_dose(dose, alpha_beta, fractions[k], rbe[k], ref_dose)
    remaining = None if limit is None else max_additional_dose(limit - cumulative, alpha_beta, new_fractions, ref_dose)
    return cumulative, remaining
