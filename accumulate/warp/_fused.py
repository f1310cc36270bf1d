"""``accumulate_warped``: warp every prior course, convert to EQDx, discount, add the current course, in one pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._arrays import is_cupy
from .._validate import finite_array, positive_number
from ..accumulation import AccumulationResult, CourseDose, residual_row
from ..errors import InputError
from ..geometry import DisplacementField, Grid, Volume
from ..radiobiology._dispatch import place, result_dtype
from ..radiobiology._lq import _is_rbe_unit, _Operand, _rbe_factor, equivalent_quantity
from ..radiobiology.maps import as_map
from . import _layout
from ._dispatch import DEFAULT_SUBSAMPLES, check_method, check_moving, host_or_device, operations
from ._warp import density_for_mass, moving_geometry


@dataclass(frozen=True)
class PriorCourse:
    """A prior course on its own grid, with the field that maps the reference grid onto it.

    Parameters
    ----------
    name : str
    dose : Volume
        Total course dose on the prior (moving) dose grid, Gy or Gy(RBE).
    fractions : float
        Number of fractions, > 0.
    field : DisplacementField
        On the reference (fixed) grid, elastix convention: prior point = reference point + u.
        Courses may share one field object.
    density : Volume, optional
        Prior-anatomy mass density, g/cm3, for the ``mass`` method; None: unit density.
    rbe : float
        Constant RBE factor for a physical dose (1 for photons or a Gy(RBE) dose).
    residual : float or Volume
        Fraction of the course's EQDx that still counts (1 - recovered), in [0, 1], scalar or a
        map on the reference grid (see :func:`accumulate.residual_map`).
    """

    name: str
    dose: Volume
    fractions: float
    field: DisplacementField
    density: Volume | None = None
    rbe: float = 1.0
    residual: float | Volume = 1.0


def accumulate_warped(
    priors: Sequence[PriorCourse],
    current: CourseDose | Sequence[CourseDose] | None,
    alpha_beta: Any,
    *,
    reference_grid: Grid | None = None,
    method: str = "mass",
    subsamples: int = DEFAULT_SUBSAMPLES,
    ref_dose: float = 2.0,
    limit: Volume | None = None,
    new_fractions: float | None = None,
    backend: str = "auto",
) -> AccumulationResult:
    """Cumulative EQDx of warped prior courses plus the current course(s), fused in one pass.

    For every reference voxel: each prior dose is warped as by :func:`warp_dose` (same
    ``method``/``subsamples``), turned into EQDx with the voxel's alpha/beta, multiplied by its
    residual; courses already on the reference grid (``current``) are added the same way:

        cumulative = sum_k residual_k * EQDx(rbe_k * D_k, fractions_k, alpha/beta)

    equal to :func:`warp_dose` followed by :func:`accumulate.cumulative_eqd2`, but each input is
    read once and no warped dose is stored.

    Parameters
    ----------
    priors : sequence of PriorCourse
        Each on its own grid with its own field (may be shared).
    current : CourseDose, sequence of CourseDose, or None
        Courses already on the reference grid (the re-irradiation course), residual usually 1.
    alpha_beta : float or Volume
        alpha/beta in Gy, scalar or a map on the reference grid.
    reference_grid : Grid, optional
        Default: the current course's grid, else the first prior's field grid.
    method, subsamples, backend
        As in :func:`warp_dose`.
    ref_dose : float
        x of EQDx, Gy per fraction (2 for EQD2).
    limit, new_fractions
        As in :func:`accumulate.cumulative_eqd2`: the remaining-dose map (physical Gy in
        ``new_fractions`` fractions) keeping the cumulative EQDx within ``limit``.

    Returns
    -------
    AccumulationResult
        ``cumulative`` (Gy) and ``remaining`` (or None). A voxel that maps outside any prior dose
        grid is NaN in both (never silently 0).
    """
    k = check_method(method, subsamples)
    currents = [] if current is None else [current] if isinstance(current, CourseDose) else list(current)
    if not priors and not currents:
        raise InputError("accumulate_warped needs at least one course")
    grid = reference_grid or (currents[0].dose.grid if currents else priors[0].field.grid)
    for course in currents:
        grid.require_same(course.dose.grid, f"the reference grid and current course {course.name!r}")
    for prior in priors:
        check_moving(prior.dose, prior.field, prior.density, f"prior course {prior.name!r}")
    if (limit is None) != (new_fractions is None):
        raise InputError("give both limit and new_fractions to get the remaining-dose map, or neither")
    name, ops = operations(backend)
    inputs = [p.dose.array for p in priors] + [p.field.array for p in priors] + [c.dose.array for c in currents]
    inputs += [p.density.array for p in priors if p.density is not None and method == "mass"]
    dtype = result_dtype(*inputs)

    rows, rbe_weighted = [], False
    for course in [*priors, *currents]:
        operand = _Operand(course.dose, f"dose of course {course.name!r}")
        rbe = _rbe_factor(operand, course.rbe)
        rbe_weighted |= rbe != 1.0 or _is_rbe_unit(operand.unit)
        residual, stride = residual_row(course.residual, grid, course.name, name, dtype)
        if isinstance(course, PriorCourse):
            density = density_for_mass(course.density, course.dose.grid, method, k, backend)
            geom = moving_geometry(course.dose, course.field, density, grid, k)
            data = (place(course.dose.array, name, dtype), None if density is None else place(density.array, name, dtype),
                    place(course.field.array, name, dtype))  # fmt: skip
        else:
            finite_array(course.dose.array, f"dose of course {course.name!r}", minimum=0.0)
            geom = _layout.course_geometry(grid, None, grid, k)
            data = (place(course.dose.array, name, dtype), None, None)
        geom[_layout.FRACTIONS] = positive_number(course.fractions, f"fractions of course {course.name!r}")
        geom[_layout.RBE] = rbe
        geom[_layout.RES_STRIDE] = stride
        rows.append((*data, residual, geom))

    ab = as_map(alpha_beta, grid, "alpha/beta map")
    finite_array(_Operand(ab, "alpha_beta").array, "alpha_beta", minimum=0.0, strictly_above=True)
    limit_array = None
    if limit is not None:
        grid.require_same(limit.grid, "the reference grid and the limit map")
        limit_array = place(limit.array, name, dtype)
        new_fractions = positive_number(new_fractions, "new_fractions")
    cumulative, remaining = ops.accumulate(
        rows, place(ab, name, dtype), float(ref_dose), limit_array, new_fractions or 1.0, method, k, grid.shape
    )
    on_device = any(is_cupy(p.dose.array) for p in priors) or any(is_cupy(c.dose.array) for c in currents)
    unit = "Gy(RBE)" if rbe_weighted else "Gy"

    def volume(array, quantity, unit):
        return Volume(host_or_device(array, on_device).reshape(grid.shape), grid, quantity, unit)

    return AccumulationResult(
        cumulative=volume(cumulative, equivalent_quantity(ref_dose), unit),
        remaining=None if remaining is None else volume(remaining, "remaining_dose", "Gy"),
    )
