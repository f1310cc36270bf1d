"""Numba backend of the voxelwise LQ operations: parallel loops, no temporaries.

Same contract and arithmetic as :mod:`._reference`: values read and written in the working dtype,
all arithmetic in float64; a length-1 ``alpha_beta`` applies to every voxel; course stacks are
(K, n) arrays, so one compiled loop serves any number of courses.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._kernels import numba_compile_notice
from .operations import CourseStack, LQInputs


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
        out[i] = _lq_equivalent(rbe * float(dose[i]), fractions, float(alpha_beta[i * ab_step]), ref_dose)


@numba.njit(parallel=True, cache=True)
def _max_additional_dose(remaining, alpha_beta, fractions, ref_dose, out):
    ab_step = 1 if alpha_beta.size > 1 else 0
    for i in numba.prange(remaining.size):
        out[i] = _lq_max_dose(float(remaining[i]), fractions, float(alpha_beta[i * ab_step]), ref_dose)


@numba.njit(parallel=True, cache=True)
def _accumulate(doses, fractions, rbe, residuals, alpha_beta, ref_dose, limit, has_limit, new_fractions, cumulative, remaining):
    ab_step = 1 if alpha_beta.size > 1 else 0
    for i in numba.prange(doses.shape[1]):
        ab = float(alpha_beta[i * ab_step])
        total = 0.0
        for k in range(doses.shape[0]):
            total += float(residuals[k, i]) * _lq_equivalent(rbe[k] * float(doses[k, i]), fractions[k], ab, ref_dose)
        cumulative[i] = total
        if has_limit:
            remaining[i] = _lq_max_dose(float(limit[i]) - total, new_fractions, ab, ref_dose)


def equivalent_dose(inputs: LQInputs) -> np.ndarray:
    numba_compile_notice(_equivalent_dose, "the LQ equivalent dose")
    out = np.empty_like(inputs.values)
    _equivalent_dose(inputs.values, inputs.alpha_beta, float(inputs.fractions), float(inputs.rbe), float(inputs.ref_dose), out)
    return out


def max_additional_dose(inputs: LQInputs) -> np.ndarray:
    numba_compile_notice(_max_additional_dose, "the LQ dose headroom")
    out = np.empty_like(inputs.values)
    _max_additional_dose(inputs.values, inputs.alpha_beta, float(inputs.fractions), float(inputs.ref_dose), out)
    return out


def accumulate_courses(stack: CourseStack) -> tuple[np.ndarray, np.ndarray | None]:
    numba_compile_notice(_accumulate, "the sum over courses")
    doses, limit = stack.doses, stack.limit
    n = doses.shape[1]
    cumulative = np.empty(n, dtype=doses.dtype)
    remaining = np.empty_like(cumulative) if limit is not None else np.empty(1, dtype=cumulative.dtype)
    _accumulate(
        doses, np.asarray(stack.fractions, dtype=np.float64), np.asarray(stack.rbe, dtype=np.float64), stack.residuals,
        stack.alpha_beta, float(stack.ref_dose), remaining if limit is None else limit, limit is not None,
        float(stack.new_fractions), cumulative, remaining,
    )  # fmt: skip
    return cumulative, (remaining if limit is not None else None)
