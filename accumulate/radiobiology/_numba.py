"""Numba backend of the voxelwise LQ operations: parallel loops, no temporaries.

Same contract as :mod:`._reference`; a length-1 ``alpha_beta`` or residual row applies to every voxel.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(inline="always")
def _lq_equivalent(dose, n, ab, ref):
    return dose * (ab + dose / n) / (ab + ref)


@numba.njit(inline="always")
def _lq_max_dose(remaining, n, ab, ref):
    if math.isnan(remaining):
        return remaining
    if remaining <= 0:
        return 0.0
    bed = remaining * (ab + ref) / ab
    return 2.0 * bed / (1.0 + math.sqrt(1.0 + 4.0 * bed / (n * ab)))


@numba.njit(parallel=True, cache=True)
def _equivalent_dose(dose, alpha_beta, fractions, rbe, ref_dose, out):
    ab_step = 1 if alpha_beta.size > 1 else 0
    for i in numba.prange(dose.size):
        out[i] = _lq_equivalent(rbe * dose[i], fractions, alpha_beta[i * ab_step], ref_dose)


@numba.njit(parallel=True, cache=True)
def _max_additional_dose(remaining, alpha_beta, fractions, ref_dose, out):
    ab_step = 1 if alpha_beta.size > 1 else 0
    for i in numba.prange(remaining.size):
        out[i] = _lq_max_dose(remaining[i], fractions, alpha_beta[i * ab_step], ref_dose)


@numba.njit(parallel=True, cache=True)
def _accumulate(doses, fractions, rbe, residuals, alpha_beta, ref_dose, limit, has_limit, new_fractions, cumulative, remaining):
    ab_step = 1 if alpha_beta.size > 1 else 0
    n_courses = len(doses)
    res_steps = np.empty(n_courses, dtype=np.int64)
    for k in range(n_courses):
        res_steps[k] = 1 if residuals[k].size > 1 else 0
    for i in numba.prange(doses[0].size):
        ab = alpha_beta[i * ab_step]
        total = 0.0
        for k in range(n_courses):
            total += residuals[k][i * res_steps[k]] * _lq_equivalent(rbe[k] * doses[k][i], fractions[k], ab, ref_dose)
        cumulative[i] = total
        if has_limit:
            remaining[i] = _lq_max_dose(limit[i] - total, new_fractions, ab, ref_dose)


def equivalent_dose(dose, alpha_beta, fractions, rbe, ref_dose):
    out = np.empty_like(dose)
    _equivalent_dose(dose, alpha_beta, dose.dtype.type(fractions), dose.dtype.type(rbe), dose.dtype.type(ref_dose), out)
    return out


def max_additional_dose(remaining, alpha_beta, fractions, ref_dose):
    out = np.empty_like(remaining)
    _max_additional_dose(remaining, alpha_beta, remaining.dtype.type(fractions), remaining.dtype.type(ref_dose), out)
    return out


def accumulate_courses(doses, fractions, rbe, residuals, alpha_beta, ref_dose, limit, new_fractions):
    real = doses[0].dtype.type
    cumulative = np.empty_like(doses[0])
    remaining = np.empty_like(cumulative) if limit is not None else np.empty(1, dtype=cumulative.dtype)
    _accumulate(
        tuple(doses), fractions, rbe, tuple(residuals), alpha_beta, real(ref_dose),
        remaining if limit is None else limit, limit is not None, real(new_fractions), cumulative, remaining,
    )  # fmt: skip
    return cumulative, (remaining if limit is not None else None)
