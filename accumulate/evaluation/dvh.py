"""Cumulative dose-volume histograms and the metrics constraints are written in.

A DVH is computed from the voxels of a structure without binning: each voxel contributes its
volume (times its occupancy for a fractional mask) at its dose. Metrics follow the usual
conventions:

* ``Dmax``, ``Dmin``, ``Dmean`` -- over the structure's voxels (volume-weighted mean).
* ``D<v>cc`` -- the minimum dose received by the hottest ``v`` cm^3 (``D0.03cc`` is the
  near-maximum of ICRU 83 style reporting). ``D<p>%`` -- the same for ``p`` % of the volume.
* ``V<x>Gy`` -- the volume (cm^3) receiving at least ``x`` Gy; ``V<x>Gy%`` as a percentage.

When the requested volume is smaller than the hottest voxel the result is that voxel's dose
(the resolution limit of the grid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..geometry import Volume

MM3_PER_CC = 1000.0
METRIC_PATTERN = re.compile(r"^(?:(Dmax|Dmin|Dmean)|D(\d+(?:\.\d+)?)(cc|%)|V(\d+(?:\.\d+)?)Gy(%?))$", re.IGNORECASE)


@dataclass(frozen=True)
class DVH:
    """The voxel doses of one structure, sorted from hottest to coldest, with their volumes.

    ``doses_gy`` descending; ``volumes_cc`` the volume of each voxel (occupancy included).
    """

    structure: str
    doses_gy: np.ndarray
    volumes_cc: np.ndarray

    @property
    def total_cc(self) -> float:
        return float(self.volumes_cc.sum())

    def dose_at_volume(self, volume_cc: float) -> float:
        """Minimum dose of the hottest ``volume_cc`` cm^3 (D<v>cc)."""
        if volume_cc <= 0:
            raise InputError(f"D<v>cc needs a positive volume, got {volume_cc} cc")
        if volume_cc > self.total_cc * (1 + 1e-9):
            raise InputError(f"{self.structure}: D{volume_cc:g}cc asks for more than the structure's {self.total_cc:.3f} cc")
        cumulative = np.cumsum(self.volumes_cc)
        index = int(np.searchsorted(cumulative, volume_cc * (1 - 1e-12), side="left"))
        return float(self.doses_gy[min(index, self.doses_gy.size - 1)])

    def volume_at_dose(self, dose_gy: float) -> float:
        """Volume (cm^3) receiving at least ``dose_gy`` (V<x>Gy)."""
        return float(self.volumes_cc[self.doses_gy >= dose_gy].sum())

    def metric(self, name: str) -> float:
        """A metric by name: Dmax, Dmin, Dmean, D0.03cc, D2%, V20Gy (cc), V20Gy% (%)."""
        match = METRIC_PATTERN.match(name.strip())
        if not match:
            raise InputError(f"unknown DVH metric {name!r}; use Dmax, Dmin, Dmean, D<v>cc, D<p>%, V<x>Gy or V<x>Gy%")
        simple, d_value, d_unit, v_dose, v_percent = match.groups()
        if simple:
            key = simple.lower()
            if key == "dmax":
                return float(self.doses_gy[0])
            if key == "dmin":
                return float(self.doses_gy[-1])
            return float(np.dot(self.doses_gy, self.volumes_cc) / self.total_cc)
        if d_value is not None:
            volume = float(d_value) if d_unit.lower() == "cc" else float(d_value) / 100 * self.total_cc
            return self.dose_at_volume(volume)
        volume = self.volume_at_dose(float(v_dose))
        return 100 * volume / self.total_cc if v_percent else volume

    def cumulative_curve(self, bin_width_gy: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """(dose bins in Gy from 0 to one bin past the maximum, volume in cm^3 receiving at least each bin dose)."""
        bins = np.arange(0.0, float(self.doses_gy[0]) + 1.5 * bin_width_gy, bin_width_gy)
        count = np.searchsorted(-self.doses_gy, -bins, side="right")  # voxels with dose >= bin
        return bins, np.concatenate([[0.0], np.cumsum(self.volumes_cc)])[count]


def dvh(dose: Volume, mask: Volume, structure: str = "") -> DVH:
    """The DVH of ``dose`` inside ``mask`` (bool, or occupancy in [0, 1]); both on the same grid.

    Raises
    ------
    InputError
        When the mask is empty on this grid (the structure lies outside the dose grid).
    """
    dose.grid.require_same(mask.grid, f"the dose and the mask of {structure or 'the structure'}")
    occupancy = np.asarray(mask.to_numpy().array, dtype=np.float64).reshape(-1)
    inside = occupancy > 0
    if not inside.any():
        raise InputError(f"structure {structure!r} has no voxel on the dose grid ({dose.grid.describe()})")
    values = np.asarray(dose.to_numpy().array, dtype=np.float64).reshape(-1)[inside]
    volumes = occupancy[inside] * dose.grid.voxel_volume_mm3 / MM3_PER_CC
    order = np.argsort(values, kind="stable")[::-1]
    return DVH(structure, values[order], volumes[order])
