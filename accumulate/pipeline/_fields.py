"""Stage 2: the displacement field of each prior course (given, or registered with elastix), and its quality."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RegistrationConfig
from ..errors import InputError
from ..geometry import DisplacementField, Grid, Volume
from ..io import find_structure
from ..registration import assess, body_mask, on_grid, read_field, register, resample_field, rigid_start, spatial_registrations
from ._courses import LoadedCourse


def _fixed_grid(reference: LoadedCourse) -> Grid | None:
    return reference.ct.grid if reference.ct is not None else None


def _frame(course: LoadedCourse) -> str | None:
    return course.plan.frame_of_reference_uid if course.plan is not None else None


def _rigid_start(prior: LoadedCourse, reference: LoadedCourse) -> tuple[np.ndarray, Path] | None:
    """The rigid start of ``prior``'s registration: its ``rigid_start`` REG, else one in either export folder."""
    explicit = prior.config.rigid_start
    fixed, moving = _frame(reference), _frame(prior)
    if not fixed or not moving or fixed == moving:
        if explicit is not None:
            raise InputError(
                f"course '{prior.name}': rigid_start {explicit} cannot be used: the frames of reference of the courses are "
                f"unknown (no RTPLAN) or the same ({moving} -> {fixed})"
            )
        return None
    if explicit is not None:
        found = rigid_start([explicit], fixed_frame=fixed, moving_frame=moving)
        if found is None:
            raise InputError(
                f"course '{prior.name}': rigid_start {explicit} is not a spatial REG from frame {moving} to frame {fixed}"
            )
        return found
    folders = dict.fromkeys(c.config.dicom for c in (prior, reference) if c.config.dicom is not None)
    return rigid_start(spatial_registrations(*folders), fixed_frame=fixed, moving_frame=moving)


def field_for(
    prior: LoadedCourse,
    reference: LoadedCourse,
    registration: RegistrationConfig,
    workdir: Path,
    progress: Callable[[str], None],
) -> tuple[DisplacementField, str]:
    """The field mapping the reference grid onto ``prior`` (elastix convention), and how it was obtained."""
    if prior.config.dvf is not None:
        field = read_field(prior.config.dvf)
        fixed = _fixed_grid(reference)
        if fixed is None or on_grid(field, fixed):
            return field, f"given field {prior.config.dvf}"
        source = f"the displacement field '{prior.config.dvf}' of course '{prior.name}'"
        resampled = resample_field(field, fixed, required=body_mask(reference.ct).array, source=source)
        return resampled, f"given field {prior.config.dvf}, resampled from {field.grid.describe()} onto the reference CT grid"
    if reference.ct is None or prior.ct is None:
        missing = reference.name if reference.ct is None else prior.name
        raise InputError(
            f"cannot register course '{prior.name}': course '{missing}' has no CT series; "
            "add the CT to its export or give a displacement field with 'dvf'"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    start = _rigid_start(prior, reference)
    result = register(
        reference.ct,
        prior.ct,
        preset=registration.preset,
        parameter_files=list(registration.parameter_files) or None,
        fixed_mask=body_mask(reference.ct),
        moving_mask=body_mask(prior.ct),
        initial_moving_to_fixed=start[0] if start else None,
        output_directory=workdir,
        progress=progress,
    )
    how = "elastix " + (", ".join(p.name for p in registration.parameter_files) or f"preset '{registration.preset}'")
    how += f", rigid start from {start[1]}" if start else ""
    return result.field, f"{how}; log {result.log_path}"


def quality(
    field: DisplacementField,
    reference: LoadedCourse,
    prior: LoadedCourse,
    masks_on_ct: Callable[[LoadedCourse], Mapping[str, Volume]],
) -> dict[str, Any]:
    """Registration quality figures (Jacobian, Dice of structures in both courses), as a summary dict."""
    region = body_mask(reference.ct) if reference.ct is not None and reference.ct.grid.is_close(field.grid) else None
    structures: dict[str, tuple[Volume, Volume]] = {}
    oars: dict[str, Volume] = {}
    if reference.ct is not None and prior.ct is not None and reference.structures_path and prior.structures_path:
        fixed_masks, moving_masks = masks_on_ct(reference), masks_on_ct(prior)
        for name, fixed_mask in fixed_masks.items():
            oars[name] = fixed_mask
            try:
                match = find_structure(moving_masks, name)
            except InputError:
                continue
            structures[name] = (fixed_mask, moving_masks[match])
    return assess(field, region=region, structures=structures or None, oars=oars or None).to_dict()
