"""Stage 3: the displacement field of each prior course (given, identity, rigid or deformable), and its quality."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..config import PRESETS, RegistrationConfig
from ..errors import InputError
from ..geometry import DisplacementField, Grid, Volume
from ..io import displacement_from_matrix
from ..names import match_structure
from ..registration import (
    assess,
    on_grid,
    preset_files,
    read_field,
    register,
    resample_field,
    rigid_start,
    spatial_registrations,
)
from ._courses import LoadedCourse


def _fixed_grid(reference: LoadedCourse) -> Grid | None:
    return reference.ct.grid if reference.ct is not None else None


def _rigid_start(prior: LoadedCourse, reference: LoadedCourse) -> tuple[np.ndarray, Path] | None:
    """The rigid start of ``prior``'s registration: its ``rigid_start`` REG, else one in either export folder."""
    explicit = prior.config.rigid_start
    fixed, moving = reference.frame_of_reference_uid, prior.frame_of_reference_uid
    if not fixed or not moving or fixed == moving:
        if explicit is not None:
            raise InputError(
                f"course '{prior.name}': rigid_start {explicit} cannot be used: the frames of reference of the courses are "
                f"unknown or the same ({moving} -> {fixed})"
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


def _registered(
    prior: LoadedCourse,
    reference: LoadedCourse,
    mode: str,
    registration: RegistrationConfig,
    bodies: Mapping[str, Volume | None],
    workdir: Path,
    progress: Callable[[str], None],
) -> tuple[DisplacementField, str]:
    """Register with elastix: the preset's rigid stage alone (``rigid``), a preset, or the configured parameter files."""
    if reference.ct is None or prior.ct is None:
        missing = reference.name if reference.ct is None else prior.name
        raise InputError(
            f"cannot register course '{prior.name}': course '{missing}' has no CT series; "
            "add the CT to its export or give a displacement field with 'dvf'"
        )
    start = _rigid_start(prior, reference)
    if mode == "rigid" and start is not None:
        field = displacement_from_matrix(start[0], reference.ct.grid)
        return field, f"rigid, from the spatial registration {start[1]} (no elastix)"
    workdir.mkdir(parents=True, exist_ok=True)
    if mode == "rigid":
        files, how = (
            preset_files(registration.preset if registration.preset in PRESETS else "accurate")[:1],
            "elastix rigid stage",
        )
    elif mode == "files":
        files, how = list(registration.parameter_files), "elastix " + ", ".join(p.name for p in registration.parameter_files)
    else:
        files, how = None, f"elastix preset '{mode}'"
    result = register(
        reference.ct,
        prior.ct,
        preset=mode if mode in PRESETS else "accurate",
        parameter_files=files,
        fixed_mask=bodies.get(reference.name),
        moving_mask=bodies.get(prior.name),
        initial_moving_to_fixed=start[0] if start else None,
        output_directory=workdir,
        progress=progress,
    )
    how += f", rigid start from {start[1]}" if start else ""
    return result.field, f"{how}; log {result.log_path}"


def field_for(
    prior: LoadedCourse,
    reference: LoadedCourse,
    mode: str,
    registration: RegistrationConfig,
    bodies: Mapping[str, Volume | None],
    workdir: Path,
    progress: Callable[[str], None],
) -> tuple[DisplacementField, str]:
    """The field mapping the reference grid onto ``prior`` (elastix convention), and how it was obtained.

    ``mode`` (from the checks' registration plan): ``given`` (the course's ``dvf``), ``none``
    (the identity field on the reference CT grid, else its dose grid), ``rigid``, ``files``
    (``[registration] parameter_files``) or a deformable preset.
    """
    if mode == "given":
        field = read_field(prior.config.dvf)
        fixed = _fixed_grid(reference)
        if fixed is None or on_grid(field, fixed):
            return field, f"given field {prior.config.dvf}"
        source = f"the displacement field '{prior.config.dvf}' of course '{prior.name}'"
        resampled = resample_field(field, fixed, required=bodies[reference.name].array, source=source)
        return resampled, f"given field {prior.config.dvf}, resampled from {field.grid.describe()} onto the reference CT grid"
    if mode == "none":
        grid = _fixed_grid(reference) or reference.dose.grid
        return DisplacementField.identity(grid, np.float32), "identity (no registration)"
    return _registered(prior, reference, mode, registration, bodies, workdir, progress)


def quality(
    field: DisplacementField,
    reference: LoadedCourse,
    prior: LoadedCourse,
    masks_on_ct: Callable[[LoadedCourse], Mapping[str, Volume]],
    bodies: Mapping[str, Volume | None],
) -> dict[str, Any]:
    """Registration quality figures (Jacobian, Dice of structures in both courses), as a summary dict."""
    body = bodies.get(reference.name)
    region = body if body is not None and body.grid.is_close(field.grid) else None
    structures: dict[str, tuple[Volume, Volume]] = {}
    oars: dict[str, Volume] = {}
    if reference.ct is not None and prior.ct is not None and reference.structures_path and prior.structures_path:
        fixed_masks, moving_masks = masks_on_ct(reference), masks_on_ct(prior)
        for name, fixed_mask in fixed_masks.items():
            oars[name] = fixed_mask
            match = match_structure(moving_masks, name)
            if match.found is not None:
                structures[name] = (fixed_mask, moving_masks[match.found])
    return assess(field, region=region, structures=structures or None, oars=oars or None).to_dict()
