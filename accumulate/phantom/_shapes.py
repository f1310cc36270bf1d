"""Analytic shapes as approximate signed distances (mm, negative inside) and smooth edges.

Every shape maps LPS points ``(..., 3)`` (x, y, z) mm to an array ``(...)``: about the distance
to its surface near the surface, negative inside. Boolean combinations use min/max.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TINY = 1e-9


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), vectorised."""
    x = np.asarray(x, dtype=float)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-a * a))


def inside_fraction(distance_mm: np.ndarray, sigma_mm: float) -> np.ndarray:
    """Smooth indicator ``Phi(-d / sigma)``: 1 deep inside, 0.5 on the surface, 0 far outside."""
    return 0.5 * (1.0 - erf(np.asarray(distance_mm) / (sigma_mm * np.sqrt(2.0))))


def _normalised_distance(offsets: np.ndarray, semi_axes: tuple[float, ...]) -> np.ndarray:
    """First-order distance ``(r^2 - 1) / |grad r^2|`` of the level set r = 1, r = |offset / semi_axes|."""
    r2 = np.zeros(offsets.shape[:-1])
    g2 = np.zeros(offsets.shape[:-1])
    for axis, semi in enumerate(semi_axes):
        component = offsets[..., axis] / semi
        r2 += component * component
        g2 += (component / semi) ** 2
    return (r2 - 1.0) / np.maximum(2.0 * np.sqrt(g2), _TINY)


@dataclass(frozen=True)
class Ellipsoid:
    """Axis-aligned ellipsoid: ``centre_mm`` (x, y, z) LPS and ``semi_axes_mm`` (a, b, c)."""

    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]

    def distance(self, points: np.ndarray) -> np.ndarray:
        offsets = np.asarray(points, dtype=float) - np.asarray(self.centre_mm)
        return _normalised_distance(offsets, self.semi_axes_mm)

    @property
    def volume_mm3(self) -> float:
        """``4/3 pi a b c``."""
        return 4.0 / 3.0 * np.pi * float(np.prod(self.semi_axes_mm))


@dataclass(frozen=True)
class EllipticCylinder:
    """Elliptic cylinder along z: ``centre_xy_mm`` and ``semi_axes_xy_mm``; infinite unless ``z_range_mm`` cuts it."""

    centre_xy_mm: tuple[float, float]
    semi_axes_xy_mm: tuple[float, float]
    z_range_mm: tuple[float, float] = (-np.inf, np.inf)

    def distance(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=float)
        side = _normalised_distance(points[..., :2] - np.asarray(self.centre_xy_mm), self.semi_axes_xy_mm)
        lo, hi = self.z_range_mm
        z = points[..., 2]
        return np.maximum(side, np.maximum(lo - z, z - hi))


def union(*distances: np.ndarray) -> np.ndarray:
    """Inside any of the shapes."""
    return np.minimum.reduce(distances)


def intersection(*distances: np.ndarray) -> np.ndarray:
    """Inside all of the shapes."""
    return np.maximum.reduce(distances)


def difference(inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Inside the first shape and outside the second."""
    return np.maximum(inside, -outside)
