"""Analytic phantoms for the structure-sampled DVH: circular cylinders beside a steep dose gradient in x.

Everything here is worked out without the package: the cylinder of radius R (axis along z,
centre (xc, yc)) is contoured on K planes t apart; under the slab rule with full end caps the
solid is the cylinder over K * t mm. The dose depends on x only, so the structure's dose-volume
relation reduces to one-dimensional integrals over the circle's chords, done with
``scipy.integrate.quad`` and ``scipy.optimize.brentq``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize

GRADIENT_GY_PER_MM = 5.0


@dataclass(frozen=True)
class Cylinder:
    radius_mm: float
    centre_mm: tuple[float, float]
    planes_mm: tuple[float, ...]  # contour plane z positions, evenly spaced
    vertices: int = 128
    phase: float = 0.0  # rotation of the polygon, in vertex steps

    @property
    def spacing_mm(self) -> float:
        return self.planes_mm[1] - self.planes_mm[0]

    @property
    def length_mm(self) -> float:
        return len(self.planes_mm) * self.spacing_mm

    @property
    def volume_cc(self) -> float:
        return math.pi * self.radius_mm**2 * self.length_mm / 1000

    def contours(self, dx_mm: float = 0.0, dr_mm: float = 0.0, dz_mm: float = 0.0) -> list[np.ndarray]:
        angle = 2 * np.pi * (np.arange(self.vertices) + self.phase) / self.vertices
        x = self.centre_mm[0] + dx_mm + (self.radius_mm + dr_mm) * np.cos(angle)
        y = self.centre_mm[1] + (self.radius_mm + dr_mm) * np.sin(angle)
        return [np.stack([x, y, np.full(self.vertices, z + dz_mm)], axis=1) for z in self.planes_mm]


def linear_dose(x):
    """40 Gy at x = 0, rising 5 Gy/mm along x (reproduced exactly by trilinear interpolation)."""
    return 40.0 + GRADIENT_GY_PER_MM * np.asarray(x, dtype=float)


def sigmoid_dose(x, edge_mm: float = 6.0):
    """20 + 60 / (1 + exp(-(x - edge) / 3)) Gy: 5 Gy/mm at x = edge (a penumbra across the organ)."""
    return 20.0 + 60.0 / (1.0 + np.exp(-(np.asarray(x, dtype=float) - edge_mm) / 3.0))


def _chord(x, radius, xc):
    return 2.0 * math.sqrt(max(radius**2 - (x - xc) ** 2, 0.0))


def analytic_metrics(cylinder: Cylinder, dose, dx_mm: float = 0.0, dr_mm: float = 0.0) -> dict[str, float]:
    """Volume (cc), Dmean, Dmax, D0.03cc, D0.1cc of a dose increasing in x over the cylinder (circle, not polygon)."""
    radius, xc = cylinder.radius_mm + dr_mm, cylinder.centre_mm[0] + dx_mm
    length = cylinder.length_mm
    area = math.pi * radius**2
    mean = integrate.quad(lambda x: float(dose(x)) * _chord(x, radius, xc), xc - radius, xc + radius, epsabs=1e-10)[0] / area

    def hot_area(x_star):  # area of the circle with x >= x_star
        h = xc + radius - x_star
        return radius**2 * math.acos((radius - h) / radius) - (radius - h) * math.sqrt(max(2 * radius * h - h * h, 0.0))

    out = {"volume_cc": area * length / 1000, "Dmean": mean, "Dmax": float(dose(xc + radius))}
    for cc in (0.03, 0.1):
        x_star = optimize.brentq(lambda x, cc=cc: hot_area(x) * length - cc * 1000, xc - radius, xc + radius, xtol=1e-12)
        out[f"D{cc:g}cc"] = float(dose(x_star))
    return out


# A cord (R = 6 mm) and an optic nerve (R = 2.5 mm) on 3 mm planes, for a 3 mm dose grid with centres on
# multiples of 3 mm: once with the hot-side vertex and the planes on voxel centres, once off them.
PLANES_MM = tuple(np.arange(-15.0, 15.1, 3.0))
CASES = {
    "cord, vertices on voxel centres": Cylinder(6.0, (0.0, 0.0), PLANES_MM),
    "cord, off voxel centres": Cylinder(6.0, (0.37, 0.81), tuple(p + 1.1 for p in PLANES_MM), phase=0.5),
    "nerve, vertices on voxel centres": Cylinder(2.5, (0.5, 0.0), PLANES_MM),
    "nerve, off voxel centres": Cylinder(2.5, (0.37, 0.81), tuple(p + 1.1 for p in PLANES_MM), phase=0.5),
}


def dose_function(kind: str, cylinder: Cylinder):
    """``"linear"`` (5 Gy/mm everywhere) or ``"sigmoid"`` (steepest, 5 Gy/mm, on the organ's hot edge)."""
    if kind == "linear":
        return linear_dose
    edge = cylinder.centre_mm[0] + cylinder.radius_mm
    return lambda x: sigmoid_dose(x, edge)
