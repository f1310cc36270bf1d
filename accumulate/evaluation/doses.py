"""Per-point doses of a case's structures, and every DVH and headroom formed from them.

A structure is a set of points (the voxels of its mask on the reference dose grid, or sub-voxel
samples), each with its volume (cm^3) and alpha/beta (Gy), and each course's dose there
(:class:`CoursePart`: physical Gy, or Gy(RBE), with its fractions, RBE factor and the residual
of its recovery). From them :class:`StructureDoses` forms any quantity of any scope and
:class:`CaseDoses` serves DVHs (a :class:`~accumulate.evaluation.verdicts.DoseTable`); EQDx is
computed at each point from the point's own dose per fraction (D/n), never from a prescription's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..radiobiology import equivalent_quantity, max_additional_dose
from .constraints import Constraint, equivalent_x
from .dvh import DVH, dvh_from_points

#: The quantity name of an EQDx (``"eqd2"``, ``"eqd1.8"``; ``"bed"`` for x = 0): the radiobiology's one rule.
quantity_name = equivalent_quantity


#: Scopes of a DVH: which courses it sums (see :meth:`StructureDoses.values`).
SCOPES = ("cumulative", "cumulative_no_recovery", "new_course", "prior_residual")


@dataclass(frozen=True)
class CoursePart:
    """One course's share of a structure's doses: physical dose at the points (Gy) and what turns it into EQDx."""

    name: str
    dose: np.ndarray
    fractions: float
    rbe: float
    residual: np.ndarray
    prior: bool

    def equivalent(self, x: float, alpha_beta: np.ndarray) -> np.ndarray:
        """EQDx of this course at the points (before recovery)."""
        dose = self.rbe * self.dose
        return dose * (alpha_beta + dose / self.fractions) / (alpha_beta + x)


@dataclass(frozen=True)
class StructureDoses:
    """Everything a DVH of one structure needs, at its points (each with its volume, cm^3).

    ``index`` holds, per point, the voxels of the reference dose grid its dose depends on (flat
    indices, shape (n,) or (n, k): the voxel itself, or the 8 of its trilinear support);
    ``alpha_beta`` is per point (Gy). ``regions`` (``"surface"``, ``"core"``: (n,) bool) and
    ``method`` come from structure sampling; without regions the points are grid voxels and the
    DVH counts each whole (a step DVH), with them the DVH is the samples' linear one.
    :meth:`values` forms any quantity of any scope.
    """

    name: str
    index: np.ndarray
    volumes_cc: np.ndarray
    alpha_beta: np.ndarray
    parts: tuple[CoursePart, ...]
    regions: Mapping[str, np.ndarray] = field(default_factory=dict)
    method: str = "grid voxels (voxel centres inside the contours)"

    def dvh(self, values: np.ndarray) -> DVH:
        """The DVH of ``values`` (one per point): linear over samples, step over grid voxels."""
        if self.regions:
            return dvh_from_points(values, self.volumes_cc, self.name, regions=self.regions, method=self.method)
        order = np.argsort(values, kind="stable")[::-1]
        return DVH(self.name, values[order], self.volumes_cc[order])

    def chosen(self, scope: str) -> tuple[list[CoursePart], bool]:
        """The courses a scope sums, and whether their recovery discount applies."""
        if scope.startswith(("course:", "residual:")):
            kind, name = scope.split(":", 1)
            return [p for p in self.parts if p.name == name], kind == "residual"
        if scope not in SCOPES:
            raise KeyError(scope)
        parts = [p for p in self.parts if (scope != "new_course" or not p.prior) and (scope != "prior_residual" or p.prior)]
        return parts, scope in ("cumulative", "prior_residual")

    def values(self, scope: str, quantity: str, alpha_beta: float | None = None) -> np.ndarray:
        """The dose of every point in ``quantity`` (physical, eqd<x>, bed), with ``alpha_beta`` (Gy) instead of the map's.

        ``physical`` is the courses' dose as prescribed: physical Gy for photons, Gy(RBE) for a
        particle course (its constant ``rbe`` applied to a physical dose).

        ``scope`` is one of :data:`SCOPES`, ``"course:<name>"`` (one course, before recovery) or
        ``"residual:<name>"`` (one prior course after its recovery).
        """
        x = equivalent_x(quantity)
        parts, recovery = self.chosen(scope)
        ab = self.alpha_beta if alpha_beta is None else np.full(self.volumes_cc.shape, float(alpha_beta))
        total = np.zeros(self.volumes_cc.shape)
        for part in parts:
            if x is None:
                total += part.rbe * part.dose
            else:
                term = part.equivalent(x, ab)
                total += part.residual * term if recovery else term
        return total


class _Quantity(Mapping):
    """{structure: DVH} of one (scope, quantity), computed on first use; empty structures are absent."""

    def __init__(self, doses: CaseDoses, scope: str, quantity: str) -> None:
        self._doses, self._key = doses, (scope, quantity)

    def __getitem__(self, name: str) -> DVH:
        return self._doses.dvh(name, *self._key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._doses.structures)

    def __len__(self) -> int:
        return len(self._doses.structures)


class CaseDoses(Mapping):
    """The case's DVHs in any quantity: ``dvh(structure, scope, quantity, alpha_beta, region)`` (a DoseTable), and
    as ``{(scope, quantity): {structure: DVH}}`` for the tables and files. Computed when asked for, then kept."""

    def __init__(self, structures: Mapping[str, StructureDoses], intervals: Mapping[str, float], x: float,
                 prescription_gy: float | None = None) -> None:  # fmt: skip
        self.structures, self.intervals, self.x = dict(structures), dict(intervals), x
        self.prescription_gy = prescription_gy
        self._cache: dict[tuple, DVH] = {}

    def dvh(self, structure: str, scope: str, quantity: str, alpha_beta: float | None = None, region: str = "whole") -> DVH:
        """The DVH of ``structure`` (KeyError when it has no point on the dose grid); ``region``: whole, surface, core."""
        key = (structure, scope, quantity, alpha_beta)
        if key not in self._cache:
            doses = self.structures[structure]
            self._cache[key] = doses.dvh(doses.values(scope, quantity, alpha_beta))
        h = self._cache[key]
        if region == "whole":
            return h
        if not self.structures[structure].regions:
            raise InputError(f'the {region} of {structure} needs structure sampling ([dvh] method = "structure")')
        return h.region(region)

    def interval_months(self, structure: str) -> float | None:
        """Months since the prior course with the highest EQDx (before recovery) in ``structure``."""
        doses = self.structures.get(structure)
        priors = [p for p in doses.parts if p.prior] if doses is not None else []
        if not priors:
            return min(self.intervals.values(), default=None)
        strongest = max(priors, key=lambda p: float(np.max(p.equivalent(self.x or 2.0, doses.alpha_beta))))
        return self.intervals[strongest.name]

    def __getitem__(self, key: tuple[str, str]) -> _Quantity:
        scope, quantity = key
        if not (scope in SCOPES or scope.startswith(("course:", "residual:"))):
            raise KeyError(key)
        return _Quantity(self, scope, quantity)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(())

    def __len__(self) -> int:
        return 0


def headroom(c: Constraint, doses: StructureDoses, limit: float, new_fractions: float, rbe: float) -> np.ndarray:
    """The largest additional dose (in the new course's unit, ``new_fractions`` fractions) at the structure's points under
    ``c``; ``rbe`` is the new course's constant RBE factor (the headroom in RBE-weighted dose is divided by it).

    Parameters
    ----------
    c : Constraint
        Its quantity (physical dose or EQDx), scope and alpha/beta.
    doses : StructureDoses
        The structure's courses at its points.
    limit : float
        The constraint's limit, Gy (in its quantity).
    new_fractions : float
        Fractions of the course being planned, > 0.
    rbe : float
        The new course's constant RBE factor.

    Returns
    -------
    (n,) float64 array
        Gy at each point, >= 0 (0 where the limit is used up).
    """
    x = equivalent_x(c.quantity)
    priors = [p for p in doses.parts if p.prior]
    if x is None:
        left = limit - (sum(p.rbe * p.dose for p in priors) if c.scope == "cumulative" else 0.0)
        return np.maximum(left, 0.0) / rbe
    ab = doses.alpha_beta if c.alpha_beta is None else np.full(doses.volumes_cc.shape, c.alpha_beta)
    prior = np.zeros(doses.volumes_cc.shape)
    if c.scope == "cumulative":
        for part in priors:
            term = part.equivalent(x, ab)
            prior += term if c.assumes_recovery else part.residual * term
    return max_additional_dose(limit - prior, new_fractions, ab, ref_dose=x, backend="numpy") / rbe
