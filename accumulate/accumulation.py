"""The voxelwise sum over courses: cumulative EQDx with recovery, and the remaining-dose map.

All course doses must already be on one grid (the reference course's); warping a prior course
onto it is :mod:`accumulate.warp`'s job. One pass over the voxels reads each input once
(fused on every backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import array_module, is_cupy
from ._validate import finite_array, positive_number
from .errors import InputError
from .geometry import Grid, Volume
from .operands import Operand, is_rbe_unit, place, rbe_factor, result_dtype, wrap
from .radiobiology import equivalent_quantity
from .radiobiology.maps import as_map
from .radiobiology.operations import LQ, CourseStack


@dataclass(frozen=True)
class CourseDose:
    """One course's dose on the reference grid, with what turns it into a residual EQDx.

    Parameters
    ----------
    name : str
    dose : Volume
        Total course dose, Gy (physical) or Gy(RBE).
    fractions : float
        Number of fractions of the course, > 0.
    rbe : float
        Constant RBE factor applied to a physical dose (must stay 1 for a Gy(RBE) dose).
    residual : float or Volume
        Fraction of the course's EQDx that still counts, 1 - recovered, in [0, 1]: 1 for the
        newest course, per voxel for a prior one (see :func:`accumulate.residual_map`).
    """

    name: str
    dose: Volume
    fractions: float
    rbe: float = 1.0
    residual: float | Volume = 1.0


def _residual(value: Any, grid: Grid, name: str, backend: str, dtype: Any) -> Any:
    """A course's residual (1 - recovered) checked where it lives, as a row of one value per voxel on the backend.

    The values must be finite fractions in [0, 1].
    """
    residual = as_map(value, grid, f"residual of course {name!r}")
    residual = residual if is_cupy(residual) else np.asarray(residual, dtype=float)
    finite_array(residual.reshape(-1), f"residual of course {name!r}", minimum=0.0)
    if bool((residual > 1).any()):
        raise InputError(
            f"residual of course {name!r} must be a fraction in [0, 1] (1 - recovered), got up to {float(residual.max()):g}"
        )
    row = place(residual, backend, dtype)
    return row if row.size == grid.size else array_module(row).broadcast_to(row.reshape(1), (grid.size,))


@dataclass(frozen=True)
class AccumulationResult:
    """``cumulative``: sum of residual EQDx (Gy); ``remaining``: headroom in physical Gy, or None."""

    cumulative: Volume
    remaining: Volume | None


def cumulative_eqd2(
    courses: Sequence[CourseDose],
    alpha_beta: Any,
    *,
    ref_dose: float = 2.0,
    limit: Volume | None = None,
    new_fractions: float | None = None,
    backend: str = "auto",
) -> AccumulationResult:
    """Cumulative EQDx over courses, each discounted by its residual, and optionally the dose headroom.

    cumulative = sum_k residual_k * EQDx(rbe_k * D_k, n_k, alpha/beta)

    Parameters
    ----------
    courses : sequence of CourseDose
        On one grid. Any number of prior courses, each with its own residual. Doses must be
        finite and >= 0: NaN is refused (a warped dose holds NaN only from
        ``warp_dose(..., outside="nan")``; the default ``outside="zero"`` gives 0 Gy there).
    alpha_beta : float or Volume
        alpha/beta in Gy, scalar or per voxel (see :func:`accumulate.alpha_beta_map`).
    ref_dose : float
        Reference dose per fraction x of EQDx, Gy (2 for EQD2).
    limit : Volume, optional
        Cumulative EQDx limit per voxel, Gy, NaN where there is none (see :func:`accumulate.limit_map`).
    new_fractions : float, optional
        Fractions of the course being planned; required with ``limit``. The headroom is the
        largest additional physical dose in that many fractions keeping the cumulative EQDx
        within the limit, relative to the courses given (pass only the prior courses to get the
        budget for a course not yet planned).
    backend : {"auto", "numpy", "numba", "cuda-host", "cupy"}
        See :mod:`accumulate.backends`.

    Returns
    -------
    AccumulationResult
        ``cumulative`` (Gy, or Gy(RBE) when any course is RBE-weighted; quantity ``"eqd2"`` or
        ``"eqd<x>"``) and ``remaining`` (physical Gy, NaN where there is no limit; None without ``limit``).

    Raises
    ------
    InputError
        No course, doses on different grids, negative or non-finite doses, residuals outside [0, 1],
        ``limit`` without ``new_fractions`` (or the reverse).
    GeometryError
        A limit map or residual on another grid.
    BackendUnavailable
        A named backend that cannot run here.

    Examples
    --------
    >>> import numpy as np
    >>> from accumulate import CourseDose, Grid, Volume
    >>> grid = Grid((1, 1, 2))
    >>> prior = CourseDose("prior", Volume(np.array([[[40.0, 0.0]]]), grid, "dose", "Gy"), fractions=5, residual=0.5)
    >>> new = CourseDose("new", Volume(np.array([[[20.0, 20.0]]]), grid, "dose", "Gy"), fractions=10)
    >>> cumulative_eqd2([prior, new], 3.0, backend="numpy").cumulative.array  # 0.5 * 88 + 20 * 5 / 5
    array([[[64., 20.]]])
    """
    if not courses:
        raise InputError("cumulative_eqd2 needs at least one course")
    grid = courses[0].dose.grid
    for course in courses:
        grid.require_same(course.dose.grid, f"course {courses[0].name!r} and course {course.name!r}")
    if (limit is None) != (new_fractions is None):
        raise InputError("give both limit and new_fractions to get the remaining-dose map, or neither")
    dose_ops = [Operand(c.dose, f"dose of course {c.name!r}") for c in courses]
    rbes = [rbe_factor(op, c.rbe) for op, c in zip(dose_ops, courses, strict=True)]
    fractions = [positive_number(c.fractions, f"fractions of course {c.name!r}") for c in courses]
    name, ops = LQ.operations(backend)
    dtype = result_dtype(*(op.array for op in dose_ops))

    for op in dose_ops:
        try:
            finite_array(op.array, op.name, minimum=0.0)
        except InputError as exc:
            if "NaN" not in str(exc):
                raise
            raise InputError(f"{exc}. A warped prior dose is NaN where it maps outside its dose grid only with "
                             "warp_dose(..., outside='nan'): use outside='zero' (the default) to count those voxels "
                             "as 0 Gy, or replace the NaN yourself (WarpResult.outside marks them)") from None  # fmt: skip
    residuals = [_residual(c.residual, grid, c.name, name, dtype) for c in courses]
    ab = Operand(as_map(alpha_beta, grid, "alpha/beta map"), "alpha_beta")
    finite_array(ab.array, "alpha_beta", minimum=0.0, strictly_above=True)

    xp = array_module(residuals[0])
    doses = xp.stack([place(op.array, name, dtype) for op in dose_ops])  # (K, n): one compiled loop for any K
    limit_array = None
    if limit is not None:
        grid.require_same(limit.grid, "the courses and the limit map")
        limit_array = place(limit.array, name, dtype)
        new_fractions = positive_number(new_fractions, "new_fractions")
    stack = CourseStack(
        doses, np.asarray(fractions, dtype=np.float64), np.asarray(rbes, dtype=np.float64), xp.stack(residuals),
        place(ab.array, name, dtype), float(ref_dose), limit_array, new_fractions or 1.0,
    )  # fmt: skip
    cumulative, remaining = ops.accumulate_courses(stack)
    template = dose_ops[0]
    rbe_weighted = any(r != 1.0 or is_rbe_unit(op.unit) for r, op in zip(rbes, dose_ops, strict=True))
    unit = "Gy(RBE)" if rbe_weighted else "Gy"
    return AccumulationResult(
        cumulative=wrap(cumulative, template, name, equivalent_quantity(ref_dose), unit),
        remaining=None if remaining is None else wrap(remaining, template, name, "remaining_dose", "Gy"),
    )
