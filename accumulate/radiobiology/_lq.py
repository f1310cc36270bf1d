"""Public voxelwise linear-quadratic functions: BED, EQD2/EQDx and the dose headroom.

Every function takes scalars, NumPy/CuPy arrays or :class:`~accumulate.Volume` objects and
returns the same kind (a Volume on the dose's grid, an array where the input array lived, or a
float). Doses are total course doses in Gy; a course in Gy(RBE) is RBE-weighted already, and a
physical dose can be turned into RBE-weighted dose with a constant ``rbe`` factor.

References: Fowler JF, "The linear-quadratic formula and progress in fractionated radiotherapy",
Br J Radiol 1989;62:679-694, doi:10.1259/0007-1285-62-740-679; Bentzen SM et al., "Bioeffect
modeling and equieffective dose concepts in radiation oncology", Radiother Oncol 2012;105:266-268,
doi:10.1016/j.radonc.2012.10.006 (EQDx notation).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import finite_array, positive_number
from ..errors import InputError
from ..operands import Operand, is_rbe_unit, place, rbe_factor, result_dtype, wrap
from .operations import LQ, LQInputs


def _per_voxel(parameter: Operand, primary: Operand) -> None:
    """A per-voxel parameter must be a scalar or match the primary operand (and its grid)."""
    if parameter.shape in ((), (1,)):
        return
    if parameter.shape != primary.shape:
        raise InputError(f"{parameter.name} has shape {parameter.shape} but {primary.name} has shape {primary.shape}")
    if parameter.grid is not None and primary.grid is not None:
        primary.grid.require_same(parameter.grid, f"{primary.name} and {parameter.name}")


def _equivalent(dose, fractions, alpha_beta, ref_dose, rbe, backend, quantity):
    dose_op, ab_op = Operand(dose, "dose"), Operand(alpha_beta, "alpha_beta")
    _per_voxel(ab_op, dose_op)
    fractions = positive_number(fractions, "fractions")
    rbe = rbe_factor(dose_op, rbe)
    ref_dose = float(ref_dose)
    if not np.isfinite(ref_dose) or ref_dose < 0:
        raise InputError(f"ref_dose (Gy per fraction) must be finite and >= 0, got {ref_dose!r}")
    finite_array(dose_op.array, "dose", minimum=0.0)
    finite_array(ab_op.array, "alpha_beta", minimum=0.0, strictly_above=True)
    name, ops = LQ.operations(backend)
    dtype = result_dtype(dose_op.array)
    inputs = LQInputs(place(dose_op.array, name, dtype), place(ab_op.array, name, dtype), fractions, ref_dose, rbe)
    out = ops.equivalent_dose(inputs)
    unit = "Gy(RBE)" if rbe != 1.0 or is_rbe_unit(dose_op.unit) else "Gy"
    return wrap(out, dose_op, name, quantity, unit)


def bed(dose: Any, fractions: float, alpha_beta: Any, *, rbe: float = 1.0, backend: str = "auto") -> Any:
    """Biologically effective dose, BED = D (1 + d / (alpha/beta)) with d = D / n.

    Parameters
    ----------
    dose : float, array (any shape) or Volume
        Total course dose, Gy (or Gy(RBE)); finite and >= 0.
    fractions : float
        Number of equal fractions the course was given in, > 0.
    alpha_beta : float, array or Volume
        alpha/beta in Gy, > 0: a scalar or one value per voxel (same shape and grid as ``dose``).
    rbe : float
        Constant RBE factor turning a physical dose into RBE-weighted dose (1 for photons).
    backend : {"auto", "numpy", "numba", "cuda-host", "cupy"}
        See :mod:`accumulate.backends`.

    Returns
    -------
    float, array or Volume
        The BED in Gy, of the same kind as ``dose`` (Volume quantity ``"bed"``).

    Raises
    ------
    InputError
        A negative or non-finite dose, fractions <= 0, alpha/beta <= 0, an ``rbe`` other than 1 on a
        dose already in Gy(RBE), per-voxel values of another shape or grid.
    BackendUnavailable
        A named backend that cannot run here.

    Examples
    --------
    >>> bed(70.0, 35, 10.0, backend="numpy")  # 70 Gy in 2 Gy fractions, alpha/beta 10 Gy
    84.0
    """
    return _equivalent(dose, fractions, alpha_beta, 0.0, rbe, backend, "bed")


def eqd2(dose: Any, fractions: float, alpha_beta: Any, *, ref_dose: float = 2.0, rbe: float = 1.0, backend: str = "auto") -> Any:
    """Equieffective dose in ``ref_dose`` Gy fractions: EQDx = D (alpha/beta + d) / (alpha/beta + x).

    With the default ``ref_dose=2`` this is the EQD2; ``ref_dose=1.8`` gives the EQD1.8 used in
    some head-and-neck re-irradiation series. Parameters as in :func:`bed`.

    Returns
    -------
    float, array or Volume
        EQDx in Gy, of the same kind as ``dose`` (Volume quantity ``"eqd2"`` or ``"eqd<x>"``).

    Raises
    ------
    InputError, BackendUnavailable
        As :func:`bed`; also a ``ref_dose`` that is negative or not finite.

    Examples
    --------
    >>> eqd2(40.0, 5, 3.0, backend="numpy")  # 8 Gy x 5 to a late-reacting tissue
    88.0
    """
    return _equivalent(dose, fractions, alpha_beta, ref_dose, rbe, backend, equivalent_quantity(ref_dose))


def equivalent_quantity(ref_dose: float) -> str:
    """The quantity name of an EQDx: ``"eqd2"``, ``"eqd1.8"``, ``"bed"`` for x = 0.

    Parameters
    ----------
    ref_dose : float
        x, Gy per fraction.

    Returns
    -------
    str

    Examples
    --------
    >>> equivalent_quantity(2.0), equivalent_quantity(1.8), equivalent_quantity(0)
    ('eqd2', 'eqd1.8', 'bed')
    """
    return "bed" if ref_dose == 0 else f"eqd{float(ref_dose):g}"


def max_additional_dose(
    remaining_eqd2: Any, fractions: float, alpha_beta: Any, *, ref_dose: float = 2.0, backend: str = "auto"
) -> Any:
    """Largest total physical dose in ``fractions`` fractions whose EQDx stays within ``remaining_eqd2``.

    The closed-form inverse of :func:`eqd2`: with B = R (alpha/beta + x) / (alpha/beta), the dose
    is the positive root of D^2 / (n alpha/beta) + D - B = 0, D = 2B / (1 + sqrt(1 + 4B / (n alpha/beta))).
    Voxels with nothing left (R <= 0) get 0; NaN (no limit) stays NaN.

    Parameters
    ----------
    remaining_eqd2 : float, array or Volume
        EQDx still allowed, Gy (may be negative where a limit is already exceeded).
    fractions : float
        Fractions of the planned course, > 0.
    alpha_beta : float, array or Volume
        alpha/beta in Gy, > 0.
    ref_dose : float
        x of EQDx, Gy per fraction.
    backend : {"auto", "numpy", "numba", "cuda-host", "cupy"}

    Returns
    -------
    float, array or Volume
        Physical dose in Gy, of the kind of ``remaining_eqd2`` (Volume quantity ``"max_additional_dose"``).

    Raises
    ------
    InputError
        +inf in ``remaining_eqd2`` (NaN marks no limit), fractions <= 0, alpha/beta <= 0.
    BackendUnavailable
        A named backend that cannot run here.

    Examples
    --------
    >>> max_additional_dose(88.0, 5, 3.0, backend="numpy")  # the inverse of eqd2(40, 5, 3)
    40.0
    """
    rem_op, ab_op = Operand(remaining_eqd2, "remaining_eqd2"), Operand(alpha_beta, "alpha_beta")
    _per_voxel(ab_op, rem_op)
    fractions = positive_number(fractions, "fractions")
    if bool((rem_op.array == np.inf).any()):
        raise InputError("remaining_eqd2 contains +inf; use NaN to mark voxels without a limit")
    finite_array(ab_op.array, "alpha_beta", minimum=0.0, strictly_above=True)
    name, ops = LQ.operations(backend)
    dtype = result_dtype(rem_op.array)
    inputs = LQInputs(place(rem_op.array, name, dtype), place(ab_op.array, name, dtype), fractions, float(ref_dose))
    out = ops.max_additional_dose(inputs)
    return wrap(out, rem_op, name, "max_additional_dose", "Gy")
