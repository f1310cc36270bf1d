"""The contract of the voxelwise LQ operations: their operands, their signatures, one implementation per backend.

Every backend (:mod:`._reference` for ``numpy``, :mod:`._numba`, :class:`._cuda.CudaOps` for
``cuda-host`` and ``cupy``) implements :class:`LQOperations`. Arrays are flat and C-contiguous,
in the working dtype (float32 or float64), already where the backend computes (CuPy arrays for
``cupy``, NumPy arrays otherwise); all arithmetic is float64. A length-1 ``alpha_beta`` applies
to every voxel. Doses are in Gy (or Gy(RBE)), alpha/beta in Gy.

Examples
--------
>>> import numpy as np
>>> name, ops = LQ.operations("numpy")
>>> ops.equivalent_dose(LQInputs(np.array([40.0]), np.array([3.0]), fractions=5, ref_dose=2.0))
array([88.])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..backends import Family


@dataclass(frozen=True)
class LQInputs:
    """Operands of :meth:`LQOperations.equivalent_dose` and :meth:`LQOperations.max_additional_dose`.

    Parameters
    ----------
    values : array (n,)
        Total course dose, Gy (``equivalent_dose``), or the EQDx still allowed, Gy, NaN where
        there is no limit (``max_additional_dose``).
    alpha_beta : array (n,) or (1,)
        alpha/beta, Gy.
    fractions : float
        Number of fractions, > 0.
    ref_dose : float
        Reference dose per fraction x of EQDx, Gy (0 gives the BED).
    rbe : float
        Constant RBE factor applied to ``values`` (``equivalent_dose`` only).
    """

    values: Any
    alpha_beta: Any
    fractions: float
    ref_dose: float
    rbe: float = 1.0


@dataclass(frozen=True)
class CourseStack:
    """Operands of :meth:`LQOperations.accumulate_courses`: K courses on one grid of n voxels.

    Parameters
    ----------
    doses, residuals : arrays (K, n)
        Course doses, Gy, and the fraction of each course's EQDx that still counts, in [0, 1].
    fractions, rbe : float64 arrays (K,)
        Fractions and constant RBE factor of each course.
    alpha_beta : array (n,) or (1,)
        alpha/beta, Gy.
    ref_dose : float
        x of EQDx, Gy.
    limit : array (n,) or None
        Cumulative EQDx limit, Gy (NaN: none); None for no headroom.
    new_fractions : float
        Fractions of the course the headroom is for (used with ``limit``).
    """

    doses: Any
    fractions: np.ndarray
    rbe: np.ndarray
    residuals: Any
    alpha_beta: Any
    ref_dose: float
    limit: Any | None = None
    new_fractions: float = 1.0


@runtime_checkable
class LQOperations(Protocol):
    """What every backend of the LQ family offers."""

    def equivalent_dose(self, inputs: LQInputs) -> Any:
        """EQDx = rbe D (alpha/beta + rbe D / n) / (alpha/beta + x), Gy, in the dtype of ``values``."""

    def max_additional_dose(self, inputs: LQInputs) -> Any:
        """Largest physical dose, Gy, in ``fractions`` fractions with an EQDx within ``values`` (0 where none is left)."""

    def accumulate_courses(self, stack: CourseStack) -> tuple[Any, Any | None]:
        """(cumulative residual EQDx, headroom or None), each (n,), Gy."""


#: The radiobiology operation family: ``LQ.operations(backend) -> (resolved name, LQOperations)``.
LQ: Family[LQOperations] = Family.standard(__package__, LQOperations, "CudaOps")
