"""The head-and-neck anatomy in the reference (re-irradiation) frame: shapes, ROIs and CT numbers.

Coordinates are LPS mm: +x is the patient's left, +y posterior, +z superior. The neck axis is
the z axis through (0, 0). Bones stop at the skull base (z = 28 mm), where the brainstem begins.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._shapes import Ellipsoid, EllipticCylinder, difference, inside_fraction, intersection, union

SKULL_BASE_Z_MM = 28.0
EDGE_SIGMA_MM = 1.0
"""Width of every tissue boundary in the CT (a Gaussian edge, like a scanner's point-spread function)."""

BODY = EllipticCylinder((0.0, 0.0), (65.0, 55.0))
SOFT_TISSUE = EllipticCylinder((0.0, 0.0), (59.0, 49.0))  # inside a 6 mm subcutaneous fat layer
VERTEBRAL_BODY = EllipticCylinder((0.0, 8.0), (14.0, 10.0), (-np.inf, SKULL_BASE_Z_MM))
NEURAL_ARCH = EllipticCylinder((0.0, 28.0), (13.0, 13.0), (-np.inf, SKULL_BASE_Z_MM))
SPINOUS_PROCESS = EllipticCylinder((0.0, 44.0), (3.5, 6.0), (-np.inf, SKULL_BASE_Z_MM))
SPINAL_CANAL = EllipticCylinder((0.0, 28.0), (7.0, 7.0), (-np.inf, SKULL_BASE_Z_MM))
SPINAL_CORD = EllipticCylinder((0.0, 28.0), (5.0, 5.0), (-np.inf, SKULL_BASE_Z_MM + 4.0))
BRAINSTEM = Ellipsoid((0.0, 24.0, 44.0), (12.0, 11.0, 16.0))
PAROTID_L = Ellipsoid((44.0, 10.0, 22.0), (13.0, 19.0, 24.0))
PAROTID_R = Ellipsoid((-44.0, 10.0, 22.0), (13.0, 19.0, 24.0))
MANDIBLE_CENTRE_Y_MM = -4.0
MANDIBLE_Z_RANGE_MM = (-2.5, 27.5)
MANDIBLE_OUTER = EllipticCylinder((0.0, MANDIBLE_CENTRE_Y_MM), (44.0, 46.0), MANDIBLE_Z_RANGE_MM)
MANDIBLE_INNER = EllipticCylinder((0.0, MANDIBLE_CENTRE_Y_MM), (36.0, 38.0))
PTV_REIRR = Ellipsoid((16.0, 14.0, 0.0), (10.0, 9.0, 14.0))
"""The recurrence: left paravertebral, about 6 mm from the cord, inside the prior high-dose region's edge."""

HU = {"air": -1000.0, "fat": -100.0, "soft": 40.0, "parotid": 0.0, "brainstem": 35.0, "bone": 700.0, "csf": 10.0, "cord": 30.0}
"""CT numbers of the tissues, HU."""


def mandible_distance(points: np.ndarray) -> np.ndarray:
    """The mandible: the anterior half (y < centre) of an elliptic annulus 8 mm thick, z in [-2.5, 27.5] mm."""
    points = np.asarray(points, dtype=float)
    anterior_half = points[..., 1] - MANDIBLE_CENTRE_Y_MM
    return intersection(difference(MANDIBLE_OUTER.distance(points), MANDIBLE_INNER.distance(points)), anterior_half)


def mandible_volume_mm3() -> float:
    """Half an elliptic annulus times its height: ``pi / 2 (a1 b1 - a2 b2) h``."""
    (a1, b1), (a2, b2) = MANDIBLE_OUTER.semi_axes_xy_mm, MANDIBLE_INNER.semi_axes_xy_mm
    lo, hi = MANDIBLE_Z_RANGE_MM
    return 0.5 * np.pi * (a1 * b1 - a2 * b2) * (hi - lo)


def bone_distance(points: np.ndarray) -> np.ndarray:
    """Vertebral body, neural arch, spinous process and mandible (the canal is painted over the arch)."""
    return union(
        VERTEBRAL_BODY.distance(points), NEURAL_ARCH.distance(points), SPINOUS_PROCESS.distance(points), mandible_distance(points)
    )


ORGANS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "BODY": BODY.distance,
    "SpinalCord": SPINAL_CORD.distance,
    "Brainstem": BRAINSTEM.distance,
    "Parotid_L": PAROTID_L.distance,
    "Parotid_R": PAROTID_R.distance,
    "Mandible": mandible_distance,
}
"""Signed distance (mm) of each organ ROI in the reference frame, by ROI name."""

_LAYERS: tuple[tuple[str, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("fat", BODY.distance),
    ("soft", SOFT_TISSUE.distance),
    ("parotid", lambda p: union(PAROTID_L.distance(p), PAROTID_R.distance(p))),
    ("brainstem", BRAINSTEM.distance),
    ("bone", bone_distance),
    ("csf", SPINAL_CANAL.distance),
    ("cord", SPINAL_CORD.distance),
)


def reference_hu_at(points: np.ndarray) -> np.ndarray:
    """CT number (HU) of the reference anatomy at LPS points ``(..., 3)`` mm.

    Tissues are painted in order (air, fat, soft tissue, parotids, brainstem, bone, canal,
    cord), each blended over the previous with a Gaussian edge of ``EDGE_SIGMA_MM``.

    Parameters
    ----------
    points : array (..., 3)
        LPS mm in the reference frame.

    Returns
    -------
    array (...,)
        HU.

    Examples
    --------
    >>> reference_hu_at(np.array([[0.0, -300.0, 0.0]]))  # far anterior of the neck: air
    array([-1000.])
    """
    points = np.asarray(points, dtype=float)
    hu = np.full(points.shape[:-1], HU["air"])
    for tissue, distance in _LAYERS:
        weight = inside_fraction(distance(points), EDGE_SIGMA_MM)
        hu += weight * (HU[tissue] - hu)
    return hu
