"""Launchers for ``kernels/radiobiology.cu``, on a GPU (CuPy) or on the CPU (``cuda-host``, OpenMP).

Same contract as :mod:`._reference`. Arrays must already live where the executor runs
(CuPy arrays for ``cupy``, NumPy arrays for ``cuda-host``) and be C-contiguous; course stacks
are (K, n).
"""

from __future__ import annotations

import numpy as np

from .._arrays import array_module
from .._kernels import index_type, launch
from .operations import CourseStack, LQInputs

FAMILY = "radiobiology"


class CudaOps:
    """The radiobiology kernels bound to one executor (``"cupy"`` or ``"cuda-host"``)."""

    def __init__(self, executor: str) -> None:
        self.executor = executor

    def equivalent_dose(self, inputs: LQInputs):
        dose, alpha_beta = inputs.values, inputs.alpha_beta
        out = array_module(dose).empty_like(dose)
        idx = index_type(dose.size)
        launch(self.executor, FAMILY, "lq_equivalent_dose", dose.dtype, idx, dose.size, dose, alpha_beta,
               _stride(alpha_beta, idx), np.float64(inputs.fractions), np.float64(inputs.rbe), np.float64(inputs.ref_dose),
               out, idx(dose.size))  # fmt: skip
        return out

    def max_additional_dose(self, inputs: LQInputs):
        remaining, alpha_beta = inputs.values, inputs.alpha_beta
        out = array_module(remaining).empty_like(remaining)
        idx = index_type(remaining.size)
        launch(self.executor, FAMILY, "lq_max_additional_dose", remaining.dtype, idx, remaining.size, remaining, alpha_beta,
               _stride(alpha_beta, idx), np.float64(inputs.fractions), np.float64(inputs.ref_dose), out,
               idx(remaining.size))  # fmt: skip
        return out

    def accumulate_courses(self, stack: CourseStack):
        doses, alpha_beta, limit = stack.doses, stack.alpha_beta, stack.limit
        xp = array_module(doses)
        n = doses.shape[1]
        cumulative = xp.empty(n, dtype=doses.dtype)
        remaining = None if limit is None else xp.empty(n, dtype=doses.dtype)
        idx = index_type(doses.size)
        launch(self.executor, FAMILY, "accumulate_courses", doses.dtype, idx, n, doses, stack.residuals,
               xp.asarray(stack.fractions, dtype=np.float64), xp.asarray(stack.rbe, dtype=np.float64),
               np.int32(doses.shape[0]), alpha_beta, _stride(alpha_beta, idx), np.float64(stack.ref_dose), limit,
               np.float64(stack.new_fractions), cumulative, remaining, idx(n))  # fmt: skip
        return cumulative, remaining


def _stride(per_voxel, idx):
    return idx(1 if per_voxel.size > 1 else 0)
