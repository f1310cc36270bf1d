"""Cumulative dose-volume histograms and the metrics constraints are written in.

A DVH holds dose samples of one structure, sorted from hottest to coldest, with the volume
each stands for; no binning. Two kinds:

* **grid-voxel** (:func:`dvh`): the dose voxels of a mask on the dose grid, each with its
  volume (times its occupancy for a fractional mask); step semantics, as voxel-counting tools:
  ``D<v>cc`` is the dose of the voxel where the hottest voxels reach ``v`` cm^3 (a volume
  smaller than the hottest voxel gives that voxel's dose: the resolution limit of the grid),
  ``V<x>Gy`` the volume of the voxels at ``x`` Gy or more.
* **structure-sampled** (:func:`dvh_from_samples`, :func:`dvh_from_points`): doses at the
  sample points of :func:`accumulate.evaluation.sample_structure`; zero-volume boundary
  samples count for Dmax and Dmin only. Linear semantics, continuous in the doses and the
  volumes: the cumulative DVH is the piecewise-linear curve through ``(0, Dmax)``, one node
  per distinct sample dose at the middle of its volume (``(C - w / 2, d)``, ``C`` the volume
  at that dose or more, ``w`` the volume at exactly that dose) and ``(total, Dmin)``;
  ``D<v>cc`` reads the dose of that curve at ``v``, ``V<x>Gy`` its volume at ``x`` (the largest
  where the curve is flat at ``x``). A contour moved by 0.01 mm moves every metric by about
  the dose gradient times 0.01 mm, not by a voxel.

Metrics (case-insensitive):

* ``Dmax``, ``Dmin``, ``Dmean`` (volume-weighted mean).
* ``D<v>cc``: the minimum dose of the hottest ``v`` cm^3 (``D0.03cc``, ``D0.05cc``, ``D0.1cc``
  near-maxima). ``D<p>%``: the same for ``p`` % of the volume (``D95%`` for targets).
* ``V<x>Gy``: the volume (cm^3) receiving at least ``x`` Gy; ``V<x>Gy%``: as a percentage.
* ``V<p>%Rx``: the percentage of the volume receiving at least ``p`` % of a prescription,
  given as ``prescription_gy`` (``V95%Rx``, a target's coverage).
* A prefix ``surface`` or ``core`` evaluates the metric on that region of a structure-sampled
  DVH (``surface Dmax``, ``core Dmax`` of the MSK proton re-irradiation protocol; regions as
  :mod:`accumulate.evaluation.sampling` defines them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..geometry import Volume
from .sampling import MM3_PER_CC, StructureSamples

INTERPOLATIONS = ("step", "linear")
REGIONS = ("surface", "core")
METRIC_PATTERN = re.compile(
    r"^(?:(surface|core)\s+)?(?:(Dmax|Dmin|Dmean)|D(\d+(?:\.\d+)?)(cc|%)|V(\d+(?:\.\d+)?)(Gy%?|%Rx))$", re.IGNORECASE
)
METRIC_HELP = "Dmax, Dmin, Dmean, D<v>cc, D<p>%, V<x>Gy, V<x>Gy%, V<p>%Rx, optionally prefixed by 'surface ' or 'core '"


@dataclass(frozen=True)
class DVH:
    """Dose samples of one structure, sorted from hottest to coldest, with their volumes.

    ``doses_gy`` descending; ``volumes_cc`` the volume of each sample (occupancy included; 0 for
    boundary samples); ``interpolation`` ``"step"`` (grid-voxel) or ``"linear"``
    (structure-sampled), see the module docstring; ``regions`` boolean masks in the same order
    (``"surface"``, ``"core"``); ``method`` one line saying how the samples were made.
    """

    structure: str
    doses_gy: np.ndarray
    volumes_cc: np.ndarray
    interpolation: str = "step"
    regions: Mapping[str, np.ndarray] = field(default_factory=dict)
    method: str = "grid-voxel"

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise InputError(f"DVH interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")

    @property
    def total_cc(self) -> float:
        return float(self.volumes_cc.sum())

    def _curve(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes of the linear cumulative DVH: (cumulative volume cc, increasing; dose Gy, non-increasing)."""
        weighted = self.volumes_cc > 0
        doses, volumes = self.doses_gy[weighted], self.volumes_cc[weighted]
        cumulative = np.cumsum(volumes)
        nodes_cc = np.concatenate([[0.0], cumulative - volumes / 2, [cumulative[-1]]])
        nodes_gy = np.concatenate([[self.doses_gy[0]], doses, [self.doses_gy[-1]]])
        return nodes_cc, nodes_gy

    def dose_at_volume(self, volume_cc: float) -> float:
        """Minimum dose of the hottest ``volume_cc`` cm^3 (D<v>cc)."""
        if volume_cc <= 0:
            raise InputError(f"D<v>cc needs a positive volume, got {volume_cc} cc")
        if volume_cc > self.total_cc * (1 + 1e-9):
            raise InputError(f"{self.structure}: D{volume_cc:g}cc asks for more than the structure's {self.total_cc:.3f} cc")
        if self.interpolation == "linear":
            nodes_cc, nodes_gy = self._curve()
            return float(np.interp(volume_cc, nodes_cc, nodes_gy))
        cumulative = np.cumsum(self.volumes_cc)
        index = int(np.searchsorted(cumulative, volume_cc * (1 - 1e-12), side="left"))
        return float(self.doses_gy[min(index, self.doses_gy.size - 1)])

    def volumes_at_doses(self, doses_gy: np.ndarray) -> np.ndarray:
        """Volume (cm^3) receiving at least each dose (V<x>Gy), vectorised."""
        doses = np.asarray(doses_gy, dtype=float)
        if self.interpolation == "linear":
            nodes_cc, nodes_gy = self._curve()
            gy, cc = nodes_gy[::-1], nodes_cc[::-1]  # dose ascending, volume descending
            above = np.clip(np.searchsorted(gy, doses, side="right"), 1, len(gy) - 1)
            lo, hi = gy[above - 1], gy[above]
            t = np.clip(np.divide(doses - lo, hi - lo, out=np.zeros_like(doses), where=hi > lo), 0.0, 1.0)
            out = cc[above - 1] + t * (cc[above] - cc[above - 1])
            exact = np.searchsorted(gy, doses, side="left")  # at a node's dose: the largest volume there (a flat part)
            at_node = (exact < len(gy)) & (gy[np.minimum(exact, len(gy) - 1)] == doses)
            out = np.where(at_node, cc[np.minimum(exact, len(gy) - 1)], out)
            return np.where(doses > gy[-1], 0.0, np.where(doses < gy[0], cc[0], out))
        count = np.searchsorted(-self.doses_gy, -doses, side="right")  # samples with dose >= each value
        return np.concatenate([[0.0], np.cumsum(self.volumes_cc)])[count]

    def volume_at_dose(self, dose_gy: float) -> float:
        """Volume (cm^3) receiving at least ``dose_gy`` (V<x>Gy)."""
        return float(self.volumes_at_doses(np.asarray([dose_gy]))[0])

    def region(self, name: str) -> DVH:
        """The DVH of one region (``"surface"``, ``"core"``) of a structure-sampled DVH."""
        if name not in self.regions:
            have = sorted(self.regions) or "none (a grid-voxel DVH)"
            raise InputError(f"{self.structure}: no {name!r} region in this DVH (regions: {have}); sample the structure")
        mask = np.asarray(self.regions[name], dtype=bool)
        if not mask.any():
            raise InputError(f"{self.structure}: its {name} region holds no sample")
        return DVH(f"{self.structure} ({name})", self.doses_gy[mask], self.volumes_cc[mask], self.interpolation, {}, self.method)

    def metric(self, name: str, *, prescription_gy: float | None = None) -> float:
        """A metric by name (module docstring): Dmax, D0.03cc, D95%, V20Gy (cc), V20Gy% (%), V95%Rx (%), core Dmax."""
        match = METRIC_PATTERN.match(name.strip())
        if not match:
            raise InputError(f"unknown DVH metric {name!r}; use {METRIC_HELP}")
        region, simple, d_value, d_unit, v_value, v_unit = match.groups()
        if region:
            return self.region(region.lower()).metric(name.strip()[len(region) :], prescription_gy=prescription_gy)
        if simple:
            key = simple.lower()
            if key == "dmax":
                return float(self.doses_gy[0])
            if key == "dmin":
                return float(self.doses_gy[-1])
            if self.total_cc <= 0:
                raise InputError(f"{self.structure}: Dmean of samples without volume (boundary points only)")
            return float(np.dot(self.doses_gy, self.volumes_cc) / self.total_cc)
        if d_value is not None:
            volume = float(d_value) if d_unit.lower() == "cc" else float(d_value) / 100 * self.total_cc
            return self.dose_at_volume(volume)
        unit = v_unit.lower()
        if unit == "%rx":
            if prescription_gy is None or not prescription_gy > 0:
                raise InputError(
                    f"{self.structure}: {name} needs the prescription dose (prescription_gy > 0), got {prescription_gy!r}"
                )
            return 100 * self.volume_at_dose(float(v_value) / 100 * prescription_gy) / self.total_cc
        volume = self.volume_at_dose(float(v_value))
        return 100 * volume / self.total_cc if unit == "gy%" else volume

    def cumulative_curve(self, bin_width_gy: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """(dose bins in Gy from 0 to one bin past the maximum, volume in cm^3 receiving at least each bin dose)."""
        bins = np.arange(0.0, float(self.doses_gy[0]) + 1.5 * bin_width_gy, bin_width_gy)
        return bins, self.volumes_at_doses(bins)


def volume_metric_unit(metric: str) -> str | None:
    """The unit of a volume metric's value: ``cc`` for V<x>Gy, ``%`` for V<x>Gy% and V<p>%Rx; None for a dose metric.

    >>> volume_metric_unit("V20Gy"), volume_metric_unit("V95%Rx"), volume_metric_unit("D0.03cc")
    ('cc', '%', None)
    """
    name = metric.split()[-1].upper()
    if name.startswith("V"):
        return "%" if name.endswith("%") or name.endswith("%RX") else "cc"
    return None


def metric_unit(metric: str, dose_unit: str = "Gy", quantity: str = "physical") -> str:
    """The unit of a metric's value: its volume unit (:func:`volume_metric_unit`), else the dose's with its quantity.

    ``dose_unit`` is ``"Gy"`` or ``"Gy(RBE)"`` (RBE-weighted courses); a radiobiological
    ``quantity`` (EQD2, BED ...) follows it.

    >>> metric_unit("Dmax", "Gy(RBE)", "eqd2"), metric_unit("V50Gy", quantity="eqd2")
    ('Gy(RBE) EQD2', 'cc')
    """
    return volume_metric_unit(metric) or (dose_unit if quantity == "physical" else f"{dose_unit} {quantity.upper()}")


def dvh(dose: Volume, mask: Volume, structure: str = "") -> DVH:
    """The grid-voxel DVH of ``dose`` inside ``mask`` (bool, or occupancy in [0, 1]); both on the same grid.

    Parameters
    ----------
    dose : Volume
        Dose, Gy (or any dose quantity: EQD2, remaining dose).
    mask : Volume
        On ``dose``'s grid: boolean voxel centres, or the fraction of each voxel inside.
    structure : str
        Name carried by the DVH (and its error messages).

    Returns
    -------
    DVH
        One entry per voxel inside, its dose and its volume in cm^3 (occupancy x voxel volume).

    Raises
    ------
    InputError
        When the mask is empty on this grid (the structure lies outside the dose grid).
    GeometryError
        A mask on another grid.

    Examples
    --------
    >>> from accumulate import Grid, Volume
    >>> grid = Grid((1, 1, 4), spacing_mm=(10.0, 10.0, 10.0))  # 1 cc voxels
    >>> dose = Volume(np.array([[[10.0, 20.0, 30.0, 40.0]]]), grid, "dose", "Gy")
    >>> cord = dvh(dose, Volume(np.array([[[False, True, True, True]]]), grid, "mask", "1"), "SpinalCord")
    >>> cord.total_cc, cord.metric("Dmax"), cord.dose_at_volume(2.0)
    (3.0, 40.0, 30.0)
    """
    dose.grid.require_same(mask.grid, f"the dose and the mask of {structure or 'the structure'}")
    occupancy = np.asarray(mask.to_numpy().array, dtype=np.float64).reshape(-1)
    inside = occupancy > 0
    if not inside.any():
        raise InputError(f"structure {structure!r} has no voxel on the dose grid ({dose.grid.describe()})")
    values = np.asarray(dose.to_numpy().array, dtype=np.float64).reshape(-1)[inside]
    volumes = occupancy[inside] * dose.grid.voxel_volume_mm3 / MM3_PER_CC
    order = np.argsort(values, kind="stable")[::-1]
    sx, sy, sz = dose.grid.spacing_mm
    kind = "voxel centres" if mask.array.dtype == bool else "voxel occupancy"
    method = f"grid-voxel: {sx:.3g} x {sy:.3g} x {sz:.3g} mm dose voxels, {kind}"
    return DVH(structure, values[order], volumes[order], method=method)


def dvh_from_points(
    doses_gy: np.ndarray,
    volumes_cc: np.ndarray,
    structure: str = "",
    *,
    regions: Mapping[str, np.ndarray] | None = None,
    method: str = "points",
) -> DVH:
    """A structure-sampled (linear) DVH from the doses at sample points and their volumes.

    Parameters
    ----------
    doses_gy, volumes_cc : (n,) arrays
        Dose at each point (Gy, or Gy EQD2: any quantity) and the volume it stands for (cm^3,
        >= 0; zero for points that count only for Dmax/Dmin).
    structure : str
        Name carried by the DVH.
    regions : mapping of str to (n,) bool arrays, optional
        Sub-sets of the points (``"surface"``, ``"core"``), in the same order.
    method : str
        How the points were made, carried into the DVH's ``method`` line.

    Returns
    -------
    DVH
        Linear interpolation between the sorted points.

    Raises
    ------
    InputError
        Mismatched lengths, a non-finite dose (e.g. a point outside the dose grid), a negative
        volume, or no volume at all.

    Examples
    --------
    >>> curve = dvh_from_points(np.array([50.0, 10.0, 30.0]), np.array([1.0, 1.0, 2.0]), "Parotid")
    >>> curve.total_cc, curve.metric("Dmax")
    (4.0, 50.0)
    """
    doses = np.asarray(doses_gy, dtype=np.float64).reshape(-1)
    volumes = np.asarray(volumes_cc, dtype=np.float64).reshape(-1)
    regions = dict(regions or {})
    if doses.shape != volumes.shape or any(np.shape(m) != doses.shape for m in regions.values()):
        raise InputError(
            f"structure {structure!r}: {doses.size} doses, {volumes.size} volumes and regions of other lengths; one per point"
        )
    bad = ~np.isfinite(doses)
    if bad.any():
        raise InputError(
            f"structure {structure!r}: {int(bad.sum())} of {doses.size} sample points have no dose (outside the dose grid, "
            "or NaN in it); extend the dose grid over the structure or leave the structure out"
        )
    if np.any(volumes < 0) or not volumes.sum() > 0:
        raise InputError(f"structure {structure!r}: sample volumes must be >= 0 and sum to more than 0")
    order = np.argsort(-doses, kind="stable")
    sorted_regions = {key: np.asarray(mask, dtype=bool)[order] for key, mask in regions.items()}
    return DVH(structure, doses[order], volumes[order], "linear", sorted_regions, method)


def dvh_from_samples(samples: StructureSamples, doses_gy: np.ndarray, structure: str | None = None) -> DVH:
    """The structure-sampled DVH of ``samples`` given the dose at each of its points (Gy, any quantity).

    ``doses_gy`` is in the order of ``samples.points_mm`` (e.g. from :func:`values_at_points`);
    the DVH keeps the samples' surface and core regions and their ``method`` line.

    Parameters
    ----------
    samples : StructureSamples
        From :func:`accumulate.evaluation.sample_structure`.
    doses_gy : (n,) array
        The dose at each sample point, Gy (or any dose quantity).
    structure : str, optional
        Name of the DVH (default: the samples').

    Returns
    -------
    DVH

    Raises
    ------
    InputError
        A number of doses other than the number of points, or as :func:`dvh_from_points`.
    """
    doses = np.asarray(doses_gy, dtype=np.float64).reshape(-1)
    if doses.size != len(samples):
        raise InputError(f"structure {samples.name!r}: {doses.size} doses for {len(samples)} sample points")
    regions = {"surface": samples.surface, "core": samples.core}
    return dvh_from_points(doses, samples.volumes_cc, structure or samples.name, regions=regions, method=samples.method)
