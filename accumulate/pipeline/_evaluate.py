"""Stages 5-6 of a run: EQDx with recovery, the remaining dose, DVHs and constraint verdicts.

:func:`evaluate` reads a :class:`Prepared` case and repeats cheaply under other radiobiology,
recovery or constraint settings (``evaluate(prepared.variant(other_config))``).

DVHs are computed per structure from its points (the voxels of its mask on the reference dose
grid) and every course's physical dose there, so that any quantity a constraint is stated in
can be formed: physical dose, EQDx for any x (a constraint in EQD2 is evaluated in EQD2 whatever
the run's reporting x), with or without the recovery discount, per course. Where structures with
different parameters overlap (``[radiobiology] overlaps``), ``"shared"`` (the default) gives each
voxel one alpha/beta (the priority rule) and the least recovery, so every structure sees the
same value there; ``"own"`` evaluates each structure with its own alpha/beta and recovery. A
constraint whose value differs from the one its structure's own parameters give says so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..accumulation import CourseDose, cumulative_eqd2
from ..evaluation import DVH, Verdict
from ..evaluation import evaluate as verdicts_for
from ..evaluation.constraints import equivalent_x
from ..geometry import Volume
from ..radiobiology import eqd2, residual_map
from ..radiobiology.maps import OCCUPANCY_THRESHOLD
from ..radiobiology.recovery import NoRecovery
from ._prepare import Prepared
from ._stages import Stages, quiet

#: Scopes of a DVH: which courses it sums (see :meth:`StructureDoses.values`).
SCOPES = ("cumulative", "cumulative_no_recovery", "new_course", "prior_residual")
#: Two metrics closer than this (Gy) are the same value.
SAME_VALUE_GY = 5e-3


def quantity_name(x: float) -> str:
    """``"eqd2"``, ``"eqd1.8"``; ``"bed"`` for x = 0."""
    return "bed" if x == 0 else f"eqd{x:g}"


@dataclass(frozen=True)
class CoursePart:
    """One course's share of a structure's doses: physical dose at the points (Gy) and what turns it into EQDx."""

    name: str
    dose: np.ndarray
    fractions: float
    rbe: float
    residual: np.ndarray
    prior: bool


@dataclass(frozen=True)
class StructureDoses:
    """Everything a DVH of one structure needs, at its points (each with its volume, cm^3).

    ``alpha_beta`` is per point (Gy). :meth:`values` forms any quantity of any scope.
    """

    name: str
    volumes_cc: np.ndarray
    alpha_beta: np.ndarray
    parts: tuple[CoursePart, ...]

    def values(self, scope: str, quantity: str) -> np.ndarray:
        """The dose of every point in ``quantity`` (physical, eqd<x>, bed).

        ``scope`` is one of :data:`SCOPES`, ``"course:<name>"`` (one course, before recovery) or
        ``"residual:<name>"`` (one prior course after its recovery).
        """
        x = equivalent_x(quantity)
        if scope.startswith(("course:", "residual:")):
            kind, name = scope.split(":", 1)
            chosen, recovery = [p for p in self.parts if p.name == name], kind == "residual"
        else:
            chosen = [p for p in self.parts if (scope != "new_course" or not p.prior) and (scope != "prior_residual" or p.prior)]
            recovery = scope in ("cumulative", "prior_residual")
        total = np.zeros(self.volumes_cc.shape)
        for part in chosen:
            if x is None:
                total += part.dose
                continue
            dose = part.rbe * part.dose
            term = dose * (self.alpha_beta + dose / part.fractions) / (self.alpha_beta + x)
            total += part.residual * term if recovery else term
        return total

    def dvh(self, scope: str, quantity: str) -> DVH:
        return _dvh(self.name, self.values(scope, quantity), self.volumes_cc)


def _dvh(name: str, values: np.ndarray, volumes_cc: np.ndarray) -> DVH:
    order = np.argsort(values, kind="stable")[::-1]
    return DVH(name, values[order], volumes_cc[order])


class _Quantity(Mapping):
    """{structure: DVH} of one (scope, quantity), computed on first use; empty structures are absent."""

    def __init__(self, doses: Mapping[str, StructureDoses], scope: str, quantity: str) -> None:
        self._doses, self._key, self._cache = doses, (scope, quantity), {}

    def __getitem__(self, name: str) -> DVH:
        if name not in self._cache:
            self._cache[name] = self._doses[name].dvh(*self._key)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._doses)

    def __len__(self) -> int:
        return len(self._doses)


class DVHTable(Mapping):
    """{(scope, quantity): {structure: DVH}} for every scope and quantity, computed when asked for."""

    def __init__(self, doses: Mapping[str, StructureDoses]) -> None:
        self.doses, self._tables = doses, {}

    def __getitem__(self, key: tuple[str, str]) -> _Quantity:
        scope, quantity = key
        if not (scope in SCOPES or scope.startswith(("course:", "residual:"))):
            raise KeyError(key)
        if key not in self._tables:
            self._tables[key] = _Quantity(self.doses, scope, quantity)
        return self._tables[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)


@dataclass(frozen=True)
class Evaluation:
    """The voxelwise results on the reference dose grid, their DVHs and the verdicts.

    ``cumulative`` (EQDx, Gy or Gy(RBE); x = the run's reference dose per fraction),
    ``physical`` (dose sum, Gy), ``new_course`` (the reference course's EQDx), ``prior_residual``
    (the prior courses' EQDx after recovery), ``remaining`` (largest additional physical dose in
    the reference course's fractions, Gy; NaN where no limit applies). ``dvhs`` are keyed by
    (scope, quantity), then structure (see :class:`DVHTable`); ``reported`` lists the keys the
    tables and files show; ``quantity`` is the run's EQDx name (``"eqd2"``, ``"eqd1.8"``).
    """

    cumulative: Volume
    physical: Volume
    new_course: Volume
    prior_residual: Volume
    remaining: Volume
    dvhs: DVHTable
    verdicts: list[Verdict]
    quantity: str
    reported: tuple[tuple[str, str], ...] = field(default=())


def _structure_doses(prepared: Prepared, residuals: Mapping[str, Volume], own: bool) -> dict[str, StructureDoses]:
    """Each non-empty structure's points (voxels of its mask) with every course's dose and the parameters there."""
    config, maps, reference = prepared.config, prepared.maps, prepared.reference
    ab_map = np.asarray(maps.alpha_beta.array, dtype=float)
    out = {}
    for name, mask in prepared.masks.items():
        occupancy = np.asarray(mask.to_numpy().array, dtype=float)
        inside = occupancy >= OCCUPANCY_THRESHOLD if occupancy.dtype != bool else occupancy
        if not inside.any():
            continue
        volumes = np.where(occupancy[inside] > 0, 1.0, 0.0) * mask.grid.voxel_volume_mm3 / 1000.0
        if own:
            alpha_beta = np.full(volumes.shape, maps.alpha_beta_values.get(name, config.alpha_beta_default))
            model = maps.recovery.get(name, NoRecovery())
        else:
            alpha_beta = ab_map[inside]
        parts = []
        for prior in prepared.priors:
            if own:
                residual = np.full(volumes.shape, 1.0 - model.recovered(prepared.intervals[prior.name]))
            else:
                residual = np.asarray(residuals[prior.name].array, dtype=float)[inside]
            dose = np.asarray(prepared.warped[prior.name].array, dtype=float)[inside]
            parts.append(CoursePart(prior.name, dose, prior.fractions, prior.config.rbe, residual, True))
        dose = np.asarray(reference.dose.to_numpy().array, dtype=float)[inside]
        parts.append(CoursePart(reference.name, dose, reference.fractions, reference.config.rbe, np.ones(volumes.shape), False))
        out[name] = StructureDoses(name, volumes, alpha_beta, tuple(parts))
    return out


def _overlap_notes(prepared: Prepared, verdicts: list[Verdict], shared: DVHTable, own: DVHTable) -> list[Verdict]:
    """Say so where a constraint's value was set by another structure's parameters (shared overlaps)."""
    partners: dict[str, list[str]] = {}
    for o in prepared.checks.overlaps:
        partners.setdefault(o.first, []).append(f"{o.second} ({o.rule})")
        partners.setdefault(o.second, []).append(f"{o.first} ({o.rule})")
    out = []
    for v in verdicts:
        name = v.structure_found
        if v.value is None or name not in partners:
            out.append(v)
            continue
        c = v.constraint
        own_value = own[(c.scope, c.quantity)][name].metric(c.metric)
        if abs(own_value - v.value) > SAME_VALUE_GY:
            note = (
                f"value set by the overlap with {', '.join(partners[name])}; with {name}'s own alpha/beta and recovery it "
                f"would be {own_value:.2f}"
            )
            v = Verdict(v.constraint, v.structure_found, v.value, v.limit, v.margin, v.verdict, v.state, v.reason, note)
        out.append(v)
    return out


def evaluate(prepared: Prepared, stages: Stages | None = None) -> Evaluation:
    """Stages 5-6 for ``prepared`` under its configuration's radiobiology, recovery and constraints."""
    stages = stages or quiet()
    config, maps, masks, backend = prepared.config, prepared.maps, prepared.masks, prepared.backend
    reference, grid = prepared.reference, prepared.reference.dose.grid

    stages.start("EQD2, recovery and remaining dose")
    x = config.reference_dose_per_fraction
    residuals = {p.name: residual_map(grid, masks, maps.recovery, prepared.intervals[p.name]) for p in prepared.priors}
    prior_doses = [
        CourseDose(p.name, prepared.warped[p.name], p.fractions, rbe=p.config.rbe, residual=residuals[p.name])
        for p in prepared.priors
    ]
    budget = cumulative_eqd2(prior_doses, maps.alpha_beta, ref_dose=x, backend=backend)
    remaining = None
    for limit_x, limit in sorted(maps.limits.items()):
        headroom = cumulative_eqd2(
            prior_doses, maps.alpha_beta, ref_dose=limit_x, limit=limit, new_fractions=reference.fractions, backend=backend
        ).remaining
        remaining = headroom if remaining is None else remaining.with_array(np.fmin(remaining.array, headroom.array))
    if remaining is None:
        remaining = reference.dose.with_array(np.full(grid.shape, np.nan), quantity="remaining_dose", unit="Gy")
    current = eqd2(reference.dose, reference.fractions, maps.alpha_beta, ref_dose=x, rbe=reference.config.rbe, backend=backend)
    rbe_unit = "Gy(RBE)" in (budget.cumulative.unit, current.unit)
    total = budget.cumulative.with_array(budget.cumulative.array + current.array, unit="Gy(RBE)" if rbe_unit else "Gy")
    physical = reference.dose.with_array(reference.dose.array + sum(w.array for w in prepared.warped.values()), quantity="dose")
    stages.done()

    stages.start("DVHs and constraints")
    own = config.overlaps == "own"
    table = DVHTable(_structure_doses(prepared, residuals, own))
    quantity = quantity_name(x)
    reported = (
        ("cumulative", quantity),
        ("cumulative", "physical"),
        ("new_course", quantity),
        ("new_course", "physical"),
        ("prior_residual", quantity),
    )
    verdicts: list[Verdict] = []
    if config.constraints:
        verdicts = verdicts_for(
            config.constraints, table, prepared.checks.matches.__getitem__, maps.latest_interval, config.accepts_absent
        )
        if not own and prepared.checks.overlaps:
            own_table = DVHTable(_structure_doses(prepared, residuals, True))
            verdicts = _overlap_notes(prepared, verdicts, table, own_table)
    stages.done()
    return Evaluation(total, physical, current, budget.cumulative, remaining, table, verdicts, quantity, reported)
