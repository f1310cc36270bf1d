"""Launchers for ``kernels/radiobiology.cu``, on a GPU (CuPy) or on the CPU (``cuda-host``).

Same contract as :mod:`._reference`. Arrays must already live where the executor runs
(CuPy arrays for ``cupy``, NumPy arrays for ``cuda-host``) and be C-contiguous.
"""

from __future__ import annotations

import numpy as np

from .._arrays import array_module
from .._kernels import launch, pointer_array

FAMILY = "radiobiology"


class CudaOps:
    """The radiobiology kernels bound to one executor (``"cupy"`` or ``"cuda-host"``)."""

    def __init__(self, executor: str) -> None:
        self.executor = executor

    def _run(self, function, dtype, n, *args):
        launch(self.executor, FAMILY, function, dtype, n, *args, np.int64(n))

    def equivalent_dose(self, dose, alpha_beta, fractions, rbe, ref_dose):
        real = dose.dtype.type
        out = array_module(dose).empty_like(dose)
        self._run("lq_equivalent_dose", dose.dtype, dose.size, dose, alpha_beta, _stride(alpha_beta),
                  real(fractions), real(rbe), real(ref_dose), out)  # fmt: skip
        return out

    def max_additional_dose(self, remaining, alpha_beta, fractions, ref_dose):
        real = remaining.dtype.type
        out = array_module(remaining).empty_like(remaining)
        self._run("lq_max_additional_dose", remaining.dtype, remaining.size, remaining, alpha_beta, _stride(alpha_beta),
                  real(fractions), real(ref_dose), out)  # fmt: skip
        return out

    def accumulate_courses(self, doses, fractions, rbe, residuals, alpha_beta, ref_dose, limit, new_fractions):
        real = doses[0].dtype.type
        n = doses[0].size
        xp = array_module(doses[0])
        cumulative = xp.empty_like(doses[0])
        remaining = None if limit is None else xp.empty_like(doses[0])
        strides = xp.asarray(np.array([_stride(r) for r in residuals], dtype=np.int64))
        self._run("accumulate_courses", doses[0].dtype, n, pointer_array(self.executor, doses),
                  pointer_array(self.executor, residuals), strides, fractions, rbe, alpha_beta, _stride(alpha_beta),
                  np.int32(len(doses)), real(ref_dose), limit, real(new_fractions), cumulative, remaining)  # fmt: skip
        return cumulative, remaining


def _stride(per_voxel) -> np.int64:
    return np.int64(1 if per_voxel.size > 1 else 0)
