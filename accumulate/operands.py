"""Operands of the voxelwise operations: what an argument is, where its data lives, how a result goes back.

The public functions (:func:`accumulate.eqd2`, :func:`accumulate.cumulative_eqd2`,
:func:`accumulate.warp_dose`) take scalars, NumPy or CuPy arrays and :class:`~accumulate.Volume`
objects, and return the same kind. These helpers are the shared steps: :class:`Operand` records
an argument (its array, grid, unit, whether it lived on a GPU); :func:`place` moves an array to
where a backend computes, flat, in the working dtype (:func:`result_dtype`); :func:`wrap` returns
a backend's flat result in the kind and place of the primary argument.

RBE: a dose in one of :data:`RBE_UNITS` is RBE-weighted already; :func:`rbe_factor` refuses to
weight it again.

Examples
--------
>>> import numpy as np
>>> dose = Operand(np.array([[1.0, 2.0]]), "dose")
>>> place(dose.array, "numpy", result_dtype(dose.array)).shape
(2,)
>>> wrap(np.array([3.0, 4.0]), dose, "numpy", "eqd2", "Gy")
array([[3., 4.]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import is_cupy, to_device, to_host
from ._validate import positive_number
from .errors import InputError
from .geometry import Grid, Volume

__all__ = [
    "RBE_UNITS",
    "Operand",
    "is_rbe_unit",
    "place",
    "rbe_factor",
    "result_dtype",
    "wrap",
]

#: Spellings of an RBE-weighted dose unit (compared without spaces, case-insensitively).
RBE_UNITS = ("Gy(RBE)", "GyE", "Gy (RBE)", "GyRBE")


class Operand:
    """A scalar, array or Volume argument: its array, grid, unit and where it lived.

    Parameters
    ----------
    value : float, array (NumPy or CuPy) or Volume
        Numeric (integers and booleans become float64).
    name : str
        How error messages name the argument.

    Raises
    ------
    InputError
        For a non-numeric array.
    """

    def __init__(self, value: Any, name: str) -> None:
        self.name = name
        self.grid: Grid | None = value.grid if isinstance(value, Volume) else None
        self.unit: str | None = value.unit if isinstance(value, Volume) else None
        array = value.array if isinstance(value, Volume) else value
        self.on_device = is_cupy(array)
        if not self.on_device:
            array = np.asarray(array)
            if not np.issubdtype(array.dtype, np.floating):
                if not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
                    raise InputError(f"{name} must be numeric, got an array of dtype {array.dtype}")
                array = array.astype(np.float64)
        self.array = array
        self.shape = tuple(array.shape)
        self.is_volume = isinstance(value, Volume)


def is_rbe_unit(unit: str | None) -> bool:
    """Whether ``unit`` names an RBE-weighted dose (see :data:`RBE_UNITS`).

    Parameters
    ----------
    unit : str or None
        A dose unit as written (``"Gy"``, ``"Gy(RBE)"``, ``"GyE"``...).

    Returns
    -------
    bool

    Examples
    --------
    >>> is_rbe_unit("gy (rbe)"), is_rbe_unit("Gy"), is_rbe_unit(None)
    (True, False, False)
    """
    return unit is not None and unit.replace(" ", "").lower() in {u.replace(" ", "").lower() for u in RBE_UNITS}


def rbe_factor(dose: Operand, rbe: float) -> float:
    """The checked constant RBE factor for ``dose``: finite, > 0, and 1 for a dose already in Gy(RBE).

    Parameters
    ----------
    dose : Operand
        The dose it applies to (its unit says whether it is RBE-weighted already).
    rbe : float
        The factor asked for.

    Returns
    -------
    float

    Raises
    ------
    InputError
        A factor that is not a positive number, or a factor other than 1 on an RBE-weighted dose.

    Examples
    --------
    >>> rbe_factor(Operand(2.0, "dose"), 1.1)
    1.1
    """
    rbe = positive_number(rbe, "rbe")
    if rbe != 1.0 and is_rbe_unit(dose.unit):
        raise InputError(f"{dose.name} is already RBE-weighted ({dose.unit}); applying rbe={rbe} again would double-count it")
    return rbe


def result_dtype(*arrays: Any) -> np.dtype:
    """The working dtype: float32 when every floating input is float32, else float64.

    Parameters
    ----------
    *arrays : arrays
        The inputs of one operation (objects without a dtype are ignored).

    Returns
    -------
    numpy.dtype

    Examples
    --------
    >>> result_dtype(np.zeros(2, np.float32)), result_dtype(np.zeros(2, np.float32), np.zeros(2))
    (dtype('float32'), dtype('float64'))
    """
    dtypes = [np.dtype(a.dtype) for a in arrays if hasattr(a, "dtype")]
    return np.dtype(np.float32) if dtypes and all(d == np.float32 for d in dtypes) else np.dtype(np.float64)


def place(array: Any, backend: str, dtype: Any) -> Any:
    """``array`` flattened, C-contiguous, of ``dtype``, on the device ``backend`` computes on (CuPy for ``cupy``).

    Parameters
    ----------
    array : array (NumPy or CuPy) or scalar
    backend : str
        A resolved backend name (:data:`accumulate.backends.NAMES`).
    dtype : dtype
        The working dtype (:func:`result_dtype`).

    Returns
    -------
    array (n,)
        A CuPy array for ``cupy``, else NumPy (copied only when needed).

    Examples
    --------
    >>> place(np.ones((2, 2), dtype=np.float32), "numpy", np.float64)
    array([1., 1., 1., 1.])
    """
    if backend == "cupy":
        return to_device(array).astype(dtype, copy=False).reshape(-1)
    host = to_host(array) if is_cupy(array) else np.asarray(array)
    return np.ascontiguousarray(host, dtype=dtype).reshape(-1)


def wrap(result: Any, primary: Operand, backend: str, quantity: str, unit: str) -> Any:
    """A backend's flat ``result`` in the kind of ``primary``: a Volume on its grid, an array where it lived, or a float.

    Parameters
    ----------
    result : array
        Flat values as the backend returned them.
    primary : Operand
        The argument whose shape, grid and device the result takes.
    backend : str
        The backend that computed ``result`` (``"cupy"`` results live on the GPU).
    quantity, unit : str
        Of the returned Volume.

    Returns
    -------
    Volume, array or float
        A Volume on ``primary``'s grid, an array of its shape where it lived, or a float for a scalar.

    Examples
    --------
    >>> wrap(np.array([7.0]), Operand(2.0, "dose"), "numpy", "eqd2", "Gy")
    7.0
    """
    if primary.on_device and backend != "cupy":
        result = to_device(result)
    elif not primary.on_device and backend == "cupy":
        result = to_host(result)
    result = result.reshape(primary.shape)
    if primary.is_volume:
        return Volume(result, primary.grid, quantity, unit)
    return float(result) if primary.shape == () else result
