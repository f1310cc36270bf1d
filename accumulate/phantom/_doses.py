"""Analytic doses of the two courses and the cumulative EQD2 they imply.

Each course's dose is a plateau on its target with an erf fall-off plus a broad low-dose bath:

``D(x) = D_rx [(1 - beta) Phi(-(s - m) / sigma) + beta exp(-softplus(s)^2 / (2 L^2))]``

with s the target's signed distance (mm, negative inside), m the margin by which the plateau
edge lies outside the target (so the target surface gets about 95 % of the plateau), sigma
the penumbra (80-20 % width = 1.68 sigma) and L the reach of the bath. The plateau equals
``D_rx`` to 1e-6 deep inside the target. The dose is not cut at the skin: it stays smooth
there, as interpolation-based accuracy tests need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._anatomy import PTV_REIRR
from ._deformation import prior_point_of
from ._shapes import Ellipsoid, inside_fraction

_SOFTPLUS_MM = 2.0


@dataclass(frozen=True)
class AnalyticDose:
    """A course's analytic dose around an ellipsoidal target, in the target's frame (LPS mm, Gy)."""

    target: Ellipsoid
    prescription_gy: float
    fractions: int
    margin_mm: float
    penumbra_sigma_mm: float
    bath_fraction: float
    bath_reach_mm: float

    def dose_at(self, points: np.ndarray) -> np.ndarray:
        """Dose (Gy) at LPS points ``(..., 3)`` mm of the course's frame."""
        s = self.target.distance(points)
        plateau = inside_fraction(s - self.margin_mm, self.penumbra_sigma_mm)
        outside = _SOFTPLUS_MM * np.logaddexp(0.0, s / _SOFTPLUS_MM)
        bath = np.exp(-0.5 * (outside / self.bath_reach_mm) ** 2)
        return self.prescription_gy * ((1.0 - self.bath_fraction) * plateau + self.bath_fraction * bath)


PTV_PRIOR_REFERENCE_CENTRE_MM = (18.0, -6.0, 5.0)
"""Where the first course's target lay, in reference-frame anatomy: left oropharynx and upper neck nodes."""

PRIOR = AnalyticDose(
    target=Ellipsoid(tuple(float(v) for v in prior_point_of(PTV_PRIOR_REFERENCE_CENTRE_MM)), (18.0, 15.0, 26.0)),
    prescription_gy=70.0,
    fractions=35,
    margin_mm=5.0,
    penumbra_sigma_mm=3.0,
    bath_fraction=0.6,
    bath_reach_mm=40.0,
)
"""First course, 70 Gy in 35 fractions; its target ``PTV_prior`` and dose live in the PRIOR frame."""

REIRRADIATION = AnalyticDose(
    target=PTV_REIRR,
    prescription_gy=35.0,
    fractions=5,
    margin_mm=2.5,
    penumbra_sigma_mm=2.5,
    bath_fraction=0.15,
    bath_reach_mm=15.0,
)
"""Stereotactic re-irradiation, 35 Gy in 5 fractions to ``PTV_reirr``, in the reference frame."""


def prior_dose_at(points_prior: np.ndarray) -> np.ndarray:
    """Prior-course dose (Gy, 70 Gy / 35 fx) at PRIOR-frame LPS points ``(..., 3)`` mm.

    Parameters
    ----------
    points_prior : array (..., 3)
        LPS mm in the prior CT's frame.

    Returns
    -------
    array (...,)
        Gy.

    Examples
    --------
    >>> prior_dose_at(np.array([PRIOR.target.centre_mm]))  # the prescription inside the target
    array([70.])
    """
    return PRIOR.dose_at(points_prior)


def reirr_dose_at(points_reference: np.ndarray) -> np.ndarray:
    """Re-irradiation dose (Gy, 35 Gy / 5 fx) at reference-frame LPS points ``(..., 3)`` mm.

    Parameters and result as for :func:`prior_dose_at`, the points in the reference frame.

    Examples
    --------
    >>> reirr_dose_at(np.array([REIRRADIATION.target.centre_mm]))
    array([35.])
    """
    return REIRRADIATION.dose_at(points_reference)


def _eqd2(dose_gy: np.ndarray, fractions: int, alpha_beta_gy: np.ndarray | float) -> np.ndarray:
    """LQ equivalent dose in 2 Gy fractions: ``D (alpha/beta + D / n) / (alpha/beta + 2)``, Gy."""
    dose = np.asarray(dose_gy, dtype=float)
    return dose * (alpha_beta_gy + dose / fractions) / (alpha_beta_gy + 2.0)


def cumulative_eqd2_at(
    points_reference: np.ndarray, alpha_beta_gy: np.ndarray | float, residual: np.ndarray | float = 1.0
) -> np.ndarray:
    """The exact cumulative EQD2 (Gy) at reference points ``(..., 3)`` mm.

    ``residual * EQD2(D_prior(p + u(p)), 35) + EQD2(D_reirr(p), 5)``; ``alpha_beta_gy`` (Gy)
    and ``residual`` (the unrecovered fraction of the prior EQD2, 1 = no recovery) are
    scalars or arrays broadcasting with the points' leading shape.

    Parameters
    ----------
    points_reference : array (..., 3)
        LPS mm in the reference frame.
    alpha_beta_gy : float or array
        alpha/beta, Gy.
    residual : float or array
        Unrecovered fraction of the prior course's EQD2.

    Returns
    -------
    array (...,)
        Gy (EQD2).

    Examples
    --------
    At the new target's centre without the prior course: 35 Gy in 5 fractions at alpha/beta 3 Gy
    is 35 (3 + 7) / (3 + 2) = 70 Gy EQD2.

    >>> cumulative_eqd2_at(np.array([REIRRADIATION.target.centre_mm]), 3.0, residual=0.0)
    array([70.])
    """
    p = np.asarray(points_reference, dtype=float)
    prior = _eqd2(prior_dose_at(prior_point_of(p)), PRIOR.fractions, alpha_beta_gy)
    return residual * prior + _eqd2(reirr_dose_at(p), REIRRADIATION.fractions, alpha_beta_gy)
