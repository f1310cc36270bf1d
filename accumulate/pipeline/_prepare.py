"""Stages 1-4 of a run: courses and their checks, structures and parameter maps, displacement fields, warped prior doses.

:func:`preflight` is stages 1-2 (everything the dry run ``accumulate check`` shows, no
registration); :func:`prepare` continues with the fields and the warped doses. Everything but
the parameter maps is independent of the radiobiology, recovery and constraint settings, so
:meth:`Prepared.variant` lets stages 5-6 (:func:`evaluate`) run again under other settings
without registering or warping again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig
from ..density import density_from_ct
from ..errors import GeometryError, InputError
from ..evaluation import StructureSamples, sample_structures, values_at_points
from ..geometry import DisplacementField, Grid, Volume
from ..io import read_contours, read_structures
from ..plausibility import WARNING, Finding
from ..registration import body_mask, inverse_consistency_error, write_image
from ..uncertainty import consistency_radius
from ..warp import WarpResult, warp_dose
from ._courses import LoadedCourse, intervals_months, load_course
from ._fields import field_for, quality, review
from ._parameters import ParameterMaps, parameter_maps
from ._preflight import CaseChecks, check_case, match_settings_names, overlaps, structure_findings, unused_accepts
from ._stages import Stages

log = logging.getLogger("accumulate")


@dataclass(frozen=True)
class Preflight:
    """Stages 1-2: the courses read and checked, the reference masks (renamed) and the parameter maps.

    ``masks`` and ``maps`` live on the reference course's dose grid; ``intervals`` are months
    from each prior course to the reference; ``bodies`` the body mask of each course's CT (or
    None); ``checks`` what the checks found (see ``_preflight``); ``samples`` each reference
    structure sampled at its own resolution (``[dvh] method = "structure"``; empty for "grid").
    """

    config: RunConfig
    courses: list[LoadedCourse]
    reference: LoadedCourse
    intervals: dict[str, float]
    bodies: dict[str, Volume | None]
    masks: dict[str, Volume]
    maps: ParameterMaps
    checks: CaseChecks
    samples: dict[str, StructureSamples] = field(default_factory=dict)

    @property
    def priors(self) -> list[LoadedCourse]:
        return [c for c in self.courses if c is not self.reference]


@dataclass(frozen=True)
class Prepared(Preflight):
    """A case read, checked, registered and warped (stages 1-4), with the parameter maps of ``config``.

    Adds to :class:`Preflight`: ``fields`` (one per prior course, on the reference CT grid),
    ``registration`` (how each field was obtained and its quality figures), ``warped`` prior
    doses on the reference dose grid (Gy, NaN replaced by 0), ``notes`` (what the run had to
    assume), ``backend`` (the resolved compute backend) and ``review`` (each prior course's
    registration review pictures, also written under ``registration/<course>/pictures/``) and,
    with ``[uncertainty] method = "inverse-consistency"``, ``uncertainty_radius`` (each prior
    course's per-voxel uncertainty radius, mm, on its field's grid; see :func:`uncertainty_radius`).
    """

    backend: str = "numpy"
    fields: dict[str, DisplacementField] | None = None
    registration: dict[str, Any] | None = None
    warped: dict[str, Volume] | None = None
    notes: list[str] | None = None
    review: dict[str, list[Any]] = field(default_factory=dict)
    uncertainty_radius: dict[str, Volume] = field(default_factory=dict)

    def variant(self, config: RunConfig) -> Prepared:
        """The same courses, fields and warped doses under ``config``'s radiobiology, recovery and constraints.

        Only those settings of ``config`` are used (the structure renaming, registration and warp
        settings stay those of this preparation). Raises InputError for an unknown or ambiguous
        structure name.
        """
        # the warped doses were made with this preparation's warp: later warps (the uncertainty scenarios) use it too
        config = replace(config, warp_method=self.config.warp_method, subsamples=self.config.subsamples)
        checks = CaseChecks(
            list(self.checks.findings), dict(self.checks.matches), [], dict(self.checks.registration), list(self.checks.empty)
        )
        match_settings_names(config, self.masks, checks)
        maps = parameter_maps(config, self.reference.dose.grid, self.masks, self.intervals, checks.matches)
        checks.overlaps = overlaps(config, self.masks, maps.alpha_beta_values, maps.recovery, self.intervals)
        return replace(self, config=config, maps=maps, checks=checks)


def renamed(masks: dict[str, Volume], rename: Mapping[str, str], where: str, strict: bool) -> dict[str, Volume]:
    """Apply ``[structures.rename]`` (case name -> settings name); ``strict``: every name must be in the case."""
    unknown = sorted(set(rename) - set(masks))
    if strict and unknown:
        raise InputError(f"[structures.rename]: {where} has no structure named {unknown}; it has {sorted(masks)}")
    out = {rename.get(name, name): mask for name, mask in masks.items()}
    if len(out) != len(masks):
        raise InputError(f"[structures.rename] in {where} gives two structures the same name: {dict(rename)}")
    return out


def _finite_or_zero(volume: Volume, course: str, masks: Mapping[str, Volume], notes: list[str]) -> Volume:
    """Replace NaN (voxels mapping outside the prior dose grid) by 0 Gy, saying so in the log and summary."""
    outside = np.isnan(volume.array)
    count = int(outside.sum())
    if count:
        touched = [name for name, m in masks.items() if np.any(outside & (np.asarray(m.array, float) >= 0.5))]
        note = f"course '{course}': {count} reference voxels map outside its dose grid and count as 0 Gy" + (
            f" (inside {', '.join(touched)})" if touched else ""
        )
        log.warning(note)
        notes.append(note)
    return volume.with_array(np.where(outside, 0.0, volume.array))


def _samples(config: RunConfig, reference: LoadedCourse, grid: Grid, checks: CaseChecks) -> dict[str, StructureSamples]:
    """Each reference structure sampled on its own fine grid, cut to the dose grid (the cut said in findings)."""
    contours = renamed(read_contours(reference.structures_path), config.structure_rename, str(reference.structures_path),
                       strict=True)  # fmt: skip
    options = {"end_caps": config.dvh_end_caps, "single_plane_mm": grid.spacing_mm[2]}
    if config.dvh_resolution_mm is not None:
        options["resolution_mm"] = config.dvh_resolution_mm
    out = {}
    for name, sampled in sample_structures(contours, **options).items():
        _, outside = values_at_points(reference.dose, sampled.points_mm)
        if outside.all():
            if name not in checks.empty:
                checks.empty.append(name)
            continue
        if outside.any():
            share = float(sampled.volumes_cc[outside].sum() / max(sampled.total_cc, 1e-12))
            message = f"{100 * share:.1f} % of {name}'s volume lies outside the reference dose grid: its DVH covers the rest"
            checks.findings.append(Finding(f"structure.{name}", round(share, 4), WARNING if share > 0.001 else "ok", message))
            sampled = sampled.subset(~outside, "cut to the dose grid")
        out[name] = sampled
    return out


def preflight(config: RunConfig, stages: Stages) -> Preflight:
    """Stages 1-2 for ``config``: read the courses, check them, match the structures, paint the parameter maps.

    Raises the package's errors for anything that cannot be right (see ``_preflight``); what is
    merely unusual, unverified or overridden is in ``checks``.
    """
    stages.start("read courses")
    courses = [load_course(c) for c in config.courses]
    reference = courses[config.reference_index]
    intervals = intervals_months(config, courses)
    bodies = {c.name: body_mask(c.ct) if c.ct is not None else None for c in courses}
    checks = check_case(config, courses, intervals, bodies)
    stages.done()

    stages.start("structures and parameter maps")
    grid = reference.dose.grid
    if reference.structures_path is None:
        raise InputError(
            f"the reference course '{reference.name}' has no RTSTRUCT: structures are needed for the parameter maps and DVHs"
        )
    found = read_structures(reference.structures_path, grid)
    masks = renamed(found, config.structure_rename, str(reference.structures_path), strict=True)
    structure_findings(masks, reference.structures_path, checks)
    samples = _samples(config, reference, grid, checks) if config.dvh_method == "structure" else {}
    match_settings_names(config, masks, checks)
    maps = parameter_maps(config, grid, masks, intervals, checks.matches)
    checks.overlaps = overlaps(config, masks, maps.alpha_beta_values, maps.recovery, intervals)
    unused_accepts(config, checks)
    stages.done()
    return Preflight(config, courses, reference, intervals, bodies, masks, maps, checks, samples)


def prior_density(prior: LoadedCourse, config: RunConfig) -> Volume | None:
    """The prior CT's mass density (g/cm3) for the mass-consistent warp; None for ``direct`` or without a CT."""
    return density_from_ct(prior.ct) if config.warp_method == "mass" and prior.ct is not None else None


def warp_prior(prior: LoadedCourse, field: DisplacementField, config: RunConfig, grid: Grid, backend: str,
               density: Volume | None) -> WarpResult:  # fmt: skip
    """``prior``'s dose warped through ``field`` onto ``grid`` with the run's warp settings; NaN where it maps outside."""
    return warp_dose(prior.dose, field, method=config.warp_method, moving_density=density, target_grid=grid,
                     subsamples=config.subsamples, backend=backend, outside="nan")  # fmt: skip


def uncertainty_radius(
    prior: LoadedCourse, field: DisplacementField, loop_error: Volume | None, config: RunConfig, body: Volume | None,
    notes: list[str],
) -> Volume | None:  # fmt: skip
    """The per-voxel uncertainty radius (mm) of ``prior``'s field for ``[uncertainty] method = "inverse-consistency"``.

    :func:`accumulate.uncertainty.consistency_radius` of the field's ``loop_error`` (its
    inverse-consistency error), the evidence counted inside the reference ``body`` (when on the
    field's grid). A course whose field was not registered both ways (a given field without
    ``dvf_inverse``, the identity, a rigid transform from a spatial REG) has no evidence: its
    radius is ``minimum_mm`` everywhere, said in ``notes`` (a warning of the run). None for the
    other methods.
    """
    if config.uncertainty_method != "inverse-consistency":
        return None
    minimum, scale = config.uncertainty_minimum_mm, config.uncertainty_scale
    if loop_error is None:
        notes.append(
            f"course '{prior.name}': no inverse-consistency evidence for its field (not registered both ways here, no "
            f"dvf_inverse given): its registration uncertainty is taken as the minimum radius {minimum:g} mm everywhere"
        )
        return Volume(np.full(field.grid.shape, minimum, np.float32), field.grid, "registration_uncertainty", "mm")
    region = body.array >= 0.5 if body is not None and body.grid.is_close(field.grid) else None
    return consistency_radius(loop_error, minimum_mm=minimum, scale=scale, region=region)


def prepare(config: RunConfig, out: Path, backend: str, stages: Stages) -> Prepared:
    """Stages 1-4 for ``config`` on the resolved ``backend``; elastix works under ``out/registration``."""
    checked = preflight(config, stages)
    reference, masks, grid = checked.reference, checked.masks, checked.reference.dose.grid
    notes: list[str] = []

    stages.start("displacement fields")
    fields: dict[str, DisplacementField] = {}
    registration: dict[str, Any] = {}
    ct_masks: dict[str, Mapping[str, Volume]] = {}

    def masks_on_ct(course: LoadedCourse) -> Mapping[str, Volume]:
        if course.name not in ct_masks:
            found = read_structures(course.structures_path, course.ct.grid)
            ct_masks[course.name] = renamed(found, config.structure_rename, str(course.structures_path), strict=False)
        return ct_masks[course.name]

    pictures: dict[str, list[Any]] = {}
    radii: dict[str, Volume] = {}
    checked_names = {m.found for m in checked.checks.matches.values() if m.found}
    for prior in checked.priors:
        mode = checked.checks.registration[prior.name]
        workdir = out / "registration" / prior.name
        fields[prior.name], how, backward = field_for(
            prior, reference, mode, config.registration, checked.bodies, workdir, stages.progress
        )
        loop = None if backward is None else inverse_consistency_error(fields[prior.name], backward)  # once: check and radius
        radius = uncertainty_radius(prior, fields[prior.name], loop, config, checked.bodies[reference.name], notes)
        if radius is not None:
            radii[prior.name] = radius
            workdir.mkdir(parents=True, exist_ok=True)
            write_image(radius, workdir / "uncertainty_mm.mha")
        report = quality(fields[prior.name], reference, prior, masks_on_ct, checked.bodies,
                         registration=config.registration, loop_error=loop, uncertainty=radius)  # fmt: skip
        registration[prior.name] = {"field": how, **report.to_dict()}
        if reference.ct is not None and prior.ct is not None:
            on_ct = masks_on_ct(reference) if reference.structures_path else {}
            organs = {n: m for n, m in on_ct.items() if n in checked_names} or dict(on_ct)
            try:
                pictures[prior.name] = review(fields[prior.name], reference, prior, report, organs, checked.bodies,
                                              workdir / "pictures", registration=config.registration,
                                              uncertainty=radius)  # fmt: skip
            except GeometryError as exc:  # an oblique CT: its planes are not axial, coronal, sagittal
                notes.append(f"course '{prior.name}': no registration review pictures: {exc}")
    stages.done()

    stages.start("warp prior doses")
    warped: dict[str, Volume] = {}
    for prior in checked.priors:
        if checked.checks.registration[prior.name] == "none" and prior.dose.grid.is_close(grid):
            warped[prior.name] = prior.dose  # the identity onto the same grid: the dose itself, exactly
            continue
        result = warp_prior(prior, fields[prior.name], config, grid, backend, prior_density(prior, config))
        # voxels mapped outside the prior dose grid (NaN) are counted and set to 0 Gy, with a note naming the structures
        if result.unit_density:
            notes.append(f"course '{prior.name}': no CT, mass-consistent warping assumed unit density")
        warped[prior.name] = _finite_or_zero(result.dose, prior.name, masks, notes)
    stages.done()
    return Prepared(
        **{f: getattr(checked, f) for f in Preflight.__dataclass_fields__},
        backend=backend,
        fields=fields,
        registration=registration,
        warped=warped,
        notes=notes,
        review=pictures,
        uncertainty_radius=radii,
    )
