"""Stages 5-6 of a run: EQDx with recovery, the remaining dose, DVHs and constraint verdicts.

:func:`evaluate` reads a :class:`Prepared` case and repeats cheaply under other radiobiology,
recovery or constraint settings (``evaluate(prepared.variant(other_config))``).

DVHs are computed per structure from its points (the voxels of its mask on the reference dose
grid) and every course's physical dose there, so that any quantity a constraint is stated in can
be formed (:class:`CaseDoses`): physical dose, EQDx for any x and any alpha/beta (a constraint in
EQD2 with alpha/beta 2 Gy is evaluated so, whatever the run's reporting x and map), with or
without the recovery discount, per course. Where structures with different parameters overlap
(``[radiobiology] overlaps``), ``"shared"`` (the default) gives each voxel one alpha/beta (the
priority rule) and the least recovery, so every structure sees the same value there; ``"own"``
evaluates each structure with its own alpha/beta and recovery. A constraint whose value differs
from the one its structure's own parameters give says so.

The remaining dose (Gy in the reference course's fractions and unit: physical, or Gy(RBE) for an
RBE-weighted course; a constant ``rbe`` of that course divides the RBE-weighted headroom) is, per voxel, the
smallest headroom over the scored max-type constraints (Dmax, D<=0.1cc) that apply to the
voxel's structures, each in its own quantity: a cumulative EQDx limit leaves L - (prior
residual EQDx) for the new course's EQDx (without the recovery discount for a limit that assumes
recovery), a new-course EQDx limit L, a physical limit the physical dose left; the strictest
tier of a tiered limit is used. NaN where no limit applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..accumulation import CourseDose, cumulative_eqd2
from ..evaluation import CaseDoses, CoursePart, StructureDoses, Verdict, headroom, quantity_name, support_voxels, values_at_points
from ..evaluation import evaluate as verdicts_for
from ..evaluation.verdicts import MET, NOT_MET, ONE_SIDE
from ..geometry import Volume
from ..radiobiology import eqd2, residual_map
from ..radiobiology.maps import OCCUPANCY_THRESHOLD
from ._prepare import Prepared
from ._stages import Stages, quiet

#: Two metrics closer than this (Gy) are the same value.
SAME_VALUE_GY = 5e-3


@dataclass(frozen=True)
class Evaluation:
    """The voxelwise results on the reference dose grid, their DVHs and the verdicts.

    ``cumulative`` (EQDx, Gy or Gy(RBE); x = the run's reference dose per fraction),
    ``physical`` (dose sum, Gy), ``new_course`` (the reference course's EQDx), ``prior_residual``
    (the prior courses' EQDx after recovery), ``remaining`` (largest additional physical dose in
    the reference course's fractions, Gy; NaN where no limit applies). ``dvhs`` forms every DVH
    (see :class:`CaseDoses`); ``reported`` lists the keys the tables and files show;
    ``quantity`` is the run's EQDx name (``"eqd2"``, ``"eqd1.8"``).
    """

    cumulative: Volume
    physical: Volume
    new_course: Volume
    prior_residual: Volume
    remaining: Volume
    dvhs: CaseDoses
    verdicts: list[Verdict]
    quantity: str
    reported: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class _Points:
    """One structure's points: flat voxel of each (for membership), the voxels its dose depends on, volumes, regions."""

    voxel: np.ndarray
    support: np.ndarray
    volumes_cc: np.ndarray
    doses: dict[str, np.ndarray]
    regions: dict[str, np.ndarray]
    method: str


def _grid_points(prepared: Prepared, name: str) -> _Points | None:
    mask = prepared.masks[name]
    index = np.flatnonzero(np.asarray(mask.to_numpy().array, dtype=float).reshape(-1) >= OCCUPANCY_THRESHOLD)
    if index.size == 0:
        return None
    volumes = np.full(index.size, mask.grid.voxel_volume_mm3 / 1000.0)
    courses = {p.name: prepared.warped[p.name] for p in prepared.priors} | {prepared.reference.name: prepared.reference.dose}
    doses = {course: np.asarray(v.to_numpy().array, dtype=float).reshape(-1)[index] for course, v in courses.items()}
    return _Points(index, index, volumes, doses, {}, "grid voxels: voxel centres of the dose grid inside the contours")


def _sampled_points(prepared: Prepared, name: str) -> _Points | None:
    samples = prepared.samples.get(name)
    if samples is None:
        return None
    grid = prepared.reference.dose.grid
    voxel = np.ravel_multi_index(
        tuple(np.clip(np.rint(grid.index_from_world(samples.points_mm)).astype(int), 0, np.asarray(grid.shape) - 1).T),
        grid.shape,
    )
    courses = {p.name: prepared.warped[p.name] for p in prepared.priors} | {prepared.reference.name: prepared.reference.dose}
    doses = {course: values_at_points(v, samples.points_mm)[0] for course, v in courses.items()}
    regions = {"surface": samples.surface, "core": samples.core}
    return _Points(voxel, support_voxels(grid, samples.points_mm), samples.volumes_cc, doses, regions, samples.method)


def _shared(name: str, voxel: np.ndarray, values: Mapping[str, float], order: list[str], masks: Mapping[str, Volume],
            default: float) -> np.ndarray:  # fmt: skip
    """Per point, the value of the first structure in ``order`` that holds it (the structure itself holds all its points;
    another one when the point's voxel is in its mask), else ``default``: the overlap rule of the parameter maps."""
    out = np.full(voxel.shape, np.nan)
    for other in order:
        holds = np.ones(voxel.shape, bool) if other == name else (
            np.asarray(masks[other].array, dtype=float).reshape(-1)[voxel] >= OCCUPANCY_THRESHOLD)  # fmt: skip
        out = np.where(np.isnan(out) & holds, values[other], out)
    return np.where(np.isnan(out), default, out)


def _ab_order(prepared: Prepared) -> list[str]:
    values, priority = prepared.maps.alpha_beta_values, prepared.config.alpha_beta_priority
    if priority == "lowest":
        return sorted(values, key=lambda n: values[n])
    if priority == "highest":
        return sorted(values, key=lambda n: -values[n])
    return [prepared.checks.matches[n].found for n in priority if prepared.checks.matches[n].found in values]


def _structure_doses(prepared: Prepared, own: bool) -> dict[str, StructureDoses]:
    """Each non-empty structure's points with every course's dose and the parameters there.

    The points are the structure's samples (``[dvh] method = "structure"``) or its voxels on the
    dose grid ("grid"). Parameters: with ``own``, the structure's own alpha/beta and recovery at
    every point; otherwise the overlap rule of the maps (a point in several structures with
    parameters takes the priority's alpha/beta and the least recovery).
    """
    config, maps, reference = prepared.config, prepared.maps, prepared.reference
    points_of = _sampled_points if config.dvh_method == "structure" else _grid_points
    ab_values, ab_order = maps.alpha_beta_values, _ab_order(prepared)
    out = {}
    for name in prepared.masks:
        points = points_of(prepared, name)
        if points is None:
            continue
        n = points.volumes_cc.shape
        if own:
            alpha_beta = np.full(n, ab_values.get(name, config.alpha_beta_default))
        else:  # a structure without a value of its own takes the others' where they hold the point
            holder = name if name in ab_values else ""
            alpha_beta = _shared(holder, points.voxel, ab_values, ab_order, prepared.masks, config.alpha_beta_default)
        parts = []
        for prior in prepared.priors:
            months = prepared.intervals[prior.name]
            residual_of = {other: 1.0 - model.recovered(months) for other, model in maps.recovery.items()}
            if own:
                residual = np.full(n, residual_of.get(name, 1.0))
            else:
                order = sorted(residual_of, key=lambda other: -residual_of[other])  # the least recovery first
                holder = name if name in residual_of else ""
                residual = _shared(holder, points.voxel, residual_of, order, prepared.masks, 1.0)
            parts.append(CoursePart(prior.name, points.doses[prior.name], prior.fractions, prior.config.rbe, residual, True))
        parts.append(CoursePart(reference.name, points.doses[reference.name], reference.fractions, reference.config.rbe,
                                np.ones(n), False))  # fmt: skip
        out[name] = StructureDoses(name, points.support, points.volumes_cc, alpha_beta, tuple(parts), points.regions,
                                   points.method)  # fmt: skip
    return out


def _overlap_notes(prepared: Prepared, verdicts: list[Verdict], own: CaseDoses) -> list[Verdict]:
    """Say so where a constraint's value was set by another structure's parameters (shared overlaps)."""
    partners: dict[str, list[str]] = {}
    for o in prepared.checks.overlaps:
        partners.setdefault(o.first, []).append(f"{o.second} ({o.rule})")
        partners.setdefault(o.second, []).append(f"{o.first} ({o.rule})")
    out = []
    for v in verdicts:
        name, c = v.structure_found, v.constraint
        if v.value is None or name not in partners or c.alpha_beta is not None:
            out.append(v)
            continue
        scope = "cumulative_no_recovery" if c.assumes_recovery and c.scope == "cumulative" else c.scope
        own_value = own.dvh(name, scope, c.quantity, None, c.region).metric(c.metric)
        if abs(own_value - v.value) > SAME_VALUE_GY:
            v = v.with_note(
                f"value set by the overlap with {', '.join(partners[name])}; with {name}'s own alpha/beta and recovery it "
                f"would be {own_value:.2f}"
            )
        out.append(v)
    return out


def binding_limits(verdicts: list[Verdict]) -> list[Verdict]:
    """The verdicts of the constraints that bound the remaining dose: scored, max-type, evaluated (so applicable)."""
    return [v for v in verdicts if v.constraint.scored and v.constraint.max_type and v.state in (MET, NOT_MET, ONE_SIDE)]


def remaining_dose(prepared: Prepared, verdicts: list[Verdict], doses: CaseDoses) -> Volume:
    """The remaining-dose map (see the module docstring) of the scored max-type constraints that applied."""
    grid, reference = prepared.reference.dose.grid, prepared.reference
    remaining = np.full(grid.size, np.nan)
    for v in binding_limits(verdicts):
        c = v.constraint
        if v.structure_found not in doses.structures:
            continue
        structure = doses.structures[v.structure_found]
        limit = c.tiers_for(v.interval_months)[0].limit
        headroom_ = headroom(c, structure, limit, reference.fractions, reference.config.rbe)
        support = structure.index.reshape(len(headroom_), -1)
        np.fmin.at(remaining, support.ravel(), np.repeat(headroom_, support.shape[1]))
    return reference.dose.with_array(remaining.reshape(grid.shape), quantity="remaining_dose", unit="Gy")


def evaluate(prepared: Prepared, stages: Stages | None = None) -> Evaluation:
    """Stages 5-6 for ``prepared`` under its configuration's radiobiology, recovery and constraints."""
    stages = stages or quiet()
    config, maps, masks, backend = prepared.config, prepared.maps, prepared.masks, prepared.backend
    reference, grid = prepared.reference, prepared.reference.dose.grid

    stages.start("EQD2, recovery and remaining dose")
    x = config.reference_dose_per_fraction
    residuals = {p.name: residual_map(grid, masks, maps.recovery, prepared.intervals[p.name]) for p in prepared.priors}
    prior_doses = [CourseDose(p.name, prepared.warped[p.name], p.fractions, rbe=p.config.rbe, residual=residuals[p.name])
                   for p in prepared.priors]  # fmt: skip
    budget = cumulative_eqd2(prior_doses, maps.alpha_beta, ref_dose=x, backend=backend)
    current = eqd2(reference.dose, reference.fractions, maps.alpha_beta, ref_dose=x, rbe=reference.config.rbe, backend=backend)
    rbe_unit = "Gy(RBE)" in (budget.cumulative.unit, current.unit)
    total = budget.cumulative.with_array(budget.cumulative.array + current.array, unit="Gy(RBE)" if rbe_unit else "Gy")
    physical = reference.dose.with_array(reference.dose.array + sum(w.array for w in prepared.warped.values()),
                                         quantity="dose")  # fmt: skip
    stages.done()

    stages.start("DVHs and constraints")
    own = config.overlaps == "own"
    rx = reference.plan.prescription_gy if reference.plan is not None else None
    table = CaseDoses(_structure_doses(prepared, own), prepared.intervals, x, rx)
    quantity = quantity_name(x)
    reported = (("cumulative", quantity), ("cumulative", "physical"), ("new_course", quantity), ("new_course", "physical"),
                ("prior_residual", quantity))  # fmt: skip
    verdicts: list[Verdict] = []
    if config.constraints:
        verdicts = verdicts_for(config.constraints, table, prepared.checks.matches.__getitem__, None, config.accepts_absent)
        if not own and prepared.checks.overlaps:
            own_table = CaseDoses(_structure_doses(prepared, True), prepared.intervals, x, rx)
            verdicts = _overlap_notes(prepared, verdicts, own_table)
    remaining = remaining_dose(prepared, verdicts, table)
    stages.done()
    return Evaluation(total, physical, current, budget.cumulative, remaining, table, verdicts, quantity, reported)
