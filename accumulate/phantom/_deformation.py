"""The known deformation between the courses: prior anatomy = reference anatomy seen through u.

The prior (moving) point of the reference (fixed) point p is ``p + u(p)`` (elastix/ITK
convention, LPS mm), with

``u(p) = t + (R - I)(p - c) + A g(z) rho^2 exp(1 - rho^2) (x / a, y / b, 0)``,

a rigid part (translation ``t``, rotation R by ``ROTATION_DEG`` about the z axis through
``c``) and the neck's shrinkage from weight loss: the prior neck was wider, by ``A`` at the
reference skin (rho = 1 on the body ellipse of semi-axes a, b), fading towards the spine
(rho -> 0) and away from mid-neck (``g(z) = exp(-z^2 / (2 sz^2))``). ``|grad u|`` stays
below 0.15 everywhere, so the map is invertible and the inverse converges by fixed-point
iteration.
"""

from __future__ import annotations

import numpy as np

from ..errors import GeometryError
from ._anatomy import BODY

TRANSLATION_MM = np.array([3.0, -2.0, 4.0])
ROTATION_DEG = 2.0
ROTATION_CENTRE_MM = np.array([0.0, 10.0, 0.0])
SHRINKAGE_MM = 4.5
SHRINKAGE_SIGMA_Z_MM = 60.0

_COS, _SIN = np.cos(np.radians(ROTATION_DEG)), np.sin(np.radians(ROTATION_DEG))


def displacement_at(points: np.ndarray) -> np.ndarray:
    """``u(p)`` (ux, uy, uz) in mm at reference-frame LPS points ``(..., 3)`` mm.

    Parameters
    ----------
    points : array (..., 3) of LPS mm, reference frame

    Returns
    -------
    u_mm : array (..., 3)
        mm; the prior-frame point is ``p + u(p)`` (:func:`prior_point_of`).
    """
    p = np.asarray(points, dtype=float)
    x, y = p[..., 0] - ROTATION_CENTRE_MM[0], p[..., 1] - ROTATION_CENTRE_MM[1]
    u = np.empty(p.shape)
    u[..., 0] = (_COS - 1.0) * x - _SIN * y + TRANSLATION_MM[0]
    u[..., 1] = _SIN * x + (_COS - 1.0) * y + TRANSLATION_MM[1]
    u[..., 2] = TRANSLATION_MM[2]
    a, b = BODY.semi_axes_xy_mm
    sx, sy = p[..., 0] / a, p[..., 1] / b
    rho2 = sx * sx + sy * sy
    weight = SHRINKAGE_MM * rho2 * np.exp(1.0 - rho2 - 0.5 * (p[..., 2] / SHRINKAGE_SIGMA_Z_MM) ** 2)
    u[..., 0] += weight * sx
    u[..., 1] += weight * sy
    return u


def prior_point_of(points: np.ndarray) -> np.ndarray:
    """The prior-frame point ``p + u(p)`` of reference points ``(..., 3)`` LPS mm.

    Parameters
    ----------
    points : array (..., 3)

    Returns
    -------
    array (..., 3)
        LPS mm in the prior frame.
    """
    p = np.asarray(points, dtype=float)
    return p + displacement_at(p)


def reference_point_of(points: np.ndarray, *, tolerance_mm: float = 1e-6, max_iterations: int = 100) -> np.ndarray:
    """The reference point p with ``p + u(p) = q`` for prior-frame points q ``(..., 3)`` LPS mm.

    Fixed-point iteration ``p <- q - u(p)`` until every point moves less than ``tolerance_mm``.

    Parameters
    ----------
    points : array (..., 3)
        LPS mm in the prior frame.
    tolerance_mm : float
    max_iterations : int

    Returns
    -------
    array (..., 3)
        LPS mm in the reference frame.

    Examples
    --------
    >>> q = np.array([[10.0, -5.0, 3.0]])
    >>> bool(np.abs(prior_point_of(reference_point_of(q)) - q).max() < 1e-6)
    True
    """
    q = np.asarray(points, dtype=float)
    p = q - displacement_at(q)
    for _ in range(max_iterations):
        new = q - displacement_at(p)
        step = float(np.max(np.abs(new - p), initial=0.0))
        p = new
        if step < tolerance_mm:
            return p
    raise GeometryError(f"inverse of the phantom deformation did not converge ({step:.3g} mm after {max_iterations} steps)")
