"""Stages 1-4 of a run: courses, structures and parameter maps, displacement fields, warped prior doses.

Everything here but the parameter maps is independent of the radiobiology, recovery and
constraint settings, so :meth:`Prepared.variant` lets stages 5-6 (:func:`evaluate`) run again under
other settings without registering or warping again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig
from ..density import density_from_ct
from ..errors import InputError
from ..geometry import DisplacementField, Volume
from ..io import read_structures
from ..warp import warp_dose
from ._courses import LoadedCourse, intervals_months, load_course
from ._fields import field_for, quality
from ._parameters import ParameterMaps, parameter_maps
from ._stages import Stages

log = logging.getLogger("accumulate")


@dataclass(frozen=True)
class Prepared:
    """A case read, registered and warped (stages 1-4), with the parameter maps of ``config``.

    ``masks`` (renamed by ``[structures.rename]``), ``warped`` prior doses (Gy, NaN replaced by 0)
    and ``maps`` live on the reference course's dose grid; ``intervals`` are months from each
    prior course to the reference; ``registration`` holds the quality figures per prior course;
    ``notes`` what the run had to assume. ``backend`` is the resolved compute backend.
    """

    config: RunConfig
    backend: str
    courses: list[LoadedCourse]
    reference: LoadedCourse
    intervals: dict[str, float]
    masks: dict[str, Volume]
    fields: dict[str, DisplacementField]
    registration: dict[str, Any]
    warped: dict[str, Volume]
    notes: list[str]
    maps: ParameterMaps

    @property
    def priors(self) -> list[LoadedCourse]:
        return [c for c in self.courses if c is not self.reference]

    def variant(self, config: RunConfig) -> Prepared:
        """The same courses, fields and warped doses under ``config``'s radiobiology, recovery and constraints.

        Only those settings of ``config`` are used (the structure renaming, registration and warp
        settings stay those of this preparation). Raises InputError for an unknown structure name.
        """
        return replace(self, config=config, maps=parameter_maps(config, self.reference.dose.grid, self.masks, self.intervals))


def _renamed(masks: dict[str, Volume], rename: Mapping[str, str], where: str, strict: bool) -> dict[str, Volume]:
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
        note = (f"course '{course}': {count} reference voxels map outside its dose grid and count as 0 Gy"
                + (f" (inside {', '.join(touched)})" if touched else ""))  # fmt: skip
        log.warning(note)
        notes.append(note)
    return volume.with_array(np.where(outside, 0.0, volume.array))


def prepare(config: RunConfig, out: Path, backend: str, stages: Stages) -> Prepared:
    """Stages 1-4 for ``config`` on the resolved ``backend``; elastix works under ``out/registration``."""
    notes: list[str] = []
    stages.start("read courses")
    courses = [load_course(c) for c in config.courses]
    reference = courses[config.reference_index]
    priors = [c for c in courses if c is not reference]
    intervals = intervals_months(config, courses)
    stages.done()

    stages.start("structures and parameter maps")
    grid = reference.dose.grid
    if reference.structures_path is None:
        raise InputError(
            f"the reference course '{reference.name}' has no RTSTRUCT: structures are needed for the parameter maps and DVHs"
        )
    masks = _renamed(read_structures(reference.structures_path, grid), config.structure_rename,
                     str(reference.structures_path), strict=True)  # fmt: skip
    maps = parameter_maps(config, grid, masks, intervals)
    stages.done()

    stages.start("displacement fields")
    fields: dict[str, DisplacementField] = {}
    registration: dict[str, Any] = {}
    ct_masks: dict[str, Mapping[str, Volume]] = {}

    def masks_on_ct(course: LoadedCourse) -> Mapping[str, Volume]:
        if course.name not in ct_masks:
            found = read_structures(course.structures_path, course.ct.grid)
            ct_masks[course.name] = _renamed(found, config.structure_rename, str(course.structures_path), strict=False)
        return ct_masks[course.name]

    for prior in priors:
        fields[prior.name], how = field_for(prior, reference, config.registration, out / "registration" / prior.name,
                                            stages.progress)  # fmt: skip
        registration[prior.name] = {"field": how, **quality(fields[prior.name], reference, prior, masks_on_ct)}
    stages.done()

    stages.start("warp prior doses")
    warped: dict[str, Volume] = {}
    for prior in priors:
        density = density_from_ct(prior.ct) if config.warp_method == "mass" and prior.ct is not None else None
        result = warp_dose(prior.dose, fields[prior.name], method=config.warp_method, moving_density=density,
                           target_grid=grid, subsamples=config.subsamples, backend=backend)  # fmt: skip
        if result.unit_density:
            notes.append(f"course '{prior.name}': no CT, mass-consistent warping assumed unit density")
        warped[prior.name] = _finite_or_zero(result.dose, prior.name, masks, notes)
    stages.done()
    return Prepared(config, backend, courses, reference, intervals, masks, fields, registration, warped, notes, maps)
