"""Stage 3: the displacement field of each prior course (given, identity, rigid or deformable), its checks and pictures.

With ``[registration] inverse_consistency = true`` each elastix registration is also run the
other way round (reference -> prior; the elastix time of the course doubles) for the
inverse-consistency check. The checks (:func:`accumulate.registration.assess`, thresholds from
``[registration.checks]``) go into the summary; a failed one makes the run "needs review".
The review pictures are written under ``registration/<course>/pictures/`` of the run's
(staged) outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..config import PRESETS, RegistrationConfig
from ..errors import InputError
from ..geometry import DisplacementField, Grid, Volume
from ..io import deformable_frames, displacement_from_matrix, read_dataset
from ..names import match_structure
from ..registration import (
    Picture,
    QualityReport,
    Tolerances,
    assess,
    choose_rigid_start,
    on_grid,
    preset_files,
    read_field,
    register,
    resample_field,
    review_pictures,
    write_image,
    write_png,
)
from ._courses import LoadedCourse

_DEFAULTS = RegistrationConfig()


def _fixed_grid(reference: LoadedCourse) -> Grid | None:
    return reference.ct.grid if reference.ct is not None else None


def _rigid_start(prior: LoadedCourse, reference: LoadedCourse) -> tuple[np.ndarray, Path] | None:
    """The rigid start of ``prior``'s registration (:func:`accumulate.registration.choose_rigid_start`)."""
    folders = dict.fromkeys(c.config.dicom for c in (prior, reference) if c.config.dicom is not None)
    return choose_rigid_start(
        fixed_frame=reference.frame_of_reference_uid,
        moving_frame=prior.frame_of_reference_uid,
        explicit=prior.config.rigid_start,
        search=list(folders),
        what=f"course '{prior.name}': rigid_start",
    )


def _registered(
    prior: LoadedCourse,
    reference: LoadedCourse,
    mode: str,
    registration: RegistrationConfig,
    bodies: Mapping[str, Volume | None],
    workdir: Path,
    progress: Callable[[str], None],
) -> tuple[DisplacementField, str, DisplacementField | None]:
    """Register with elastix: the preset's rigid stage alone (``rigid``), a preset, or the configured parameter files.

    Returns the field, how it was obtained and, with ``inverse_consistency``, the field of the
    registration the other way round (on the prior CT's grid), else None.
    """
    if reference.ct is None or prior.ct is None:
        missing = reference.name if reference.ct is None else prior.name
        raise InputError(
            f"cannot register course '{prior.name}': course '{missing}' has no CT series; "
            "add the CT to its export or give a displacement field with 'dvf'"
        )
    start = _rigid_start(prior, reference)
    if mode == "rigid" and start is not None:
        field = displacement_from_matrix(start[0], reference.ct.grid)
        return field, f"rigid, from the spatial registration {start[1]} (no elastix)", None
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
    if registration.inverse_consistency:
        progress(f"course '{prior.name}': registering both ways for the inverse-consistency check")
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
        backward=registration.inverse_consistency,
    )
    how += f", rigid start from {start[1]}" if start else ""
    backward = None
    if result.backward is not None:
        backward = result.backward.field
        how += "; inverse consistency from a second registration the other way round"
    return result.field, f"{how}; log {result.log_path}", backward


def _given(path: Path, fixed: LoadedCourse, moving: LoadedCourse, bodies: Mapping[str, Volume | None],
           source: str) -> tuple[DisplacementField, str]:  # fmt: skip
    """A given field from course ``fixed``'s CT to ``moving``'s, on that CT's grid (resampled if on another), and how.

    A DICOM deformable REG must register ``fixed``'s frame of reference from ``moving``'s (where
    the courses' frames are known): another patient's file, or the two directions swapped, is
    refused (InputError naming the file and the frames).
    """
    if path.suffix.lower() == ".dcm":
        _check_frames(path, fixed, moving, source)
    field = read_field(path)
    grid = _fixed_grid(fixed)
    if grid is None or on_grid(field, grid):
        return field, str(path)
    body = bodies.get(fixed.name)
    resampled = resample_field(field, grid, required=None if body is None else body.array, source=source)
    return resampled, f"{path}, resampled from {field.grid.describe()} onto the CT grid of course '{fixed.name}'"


def _check_frames(path: Path, fixed: LoadedCourse, moving: LoadedCourse, source: str) -> None:
    """InputError unless the DICOM REG ``path`` registers ``fixed``'s frame from ``moving``'s (where they are known)."""
    registered, sources = deformable_frames(read_dataset(path, stop_before_pixels=True))
    want_fixed, want_moving = fixed.frame_of_reference_uid, moving.frame_of_reference_uid
    wrong = []
    if want_fixed and registered != want_fixed:
        wrong.append(f"it registers frame {registered or '(none)'}, but course '{fixed.name}' is in frame {want_fixed}")
    if want_moving and want_moving != want_fixed and want_moving not in sources:
        wrong.append(f"it maps from frame(s) {sources or '(none)'}, not from course '{moving.name}''s frame {want_moving}")
    if wrong:
        hint = " (dvf and dvf_inverse swapped?)" if registered == want_moving and want_fixed in sources else ""
        raise InputError(f"{source} is not a registration of these courses: " + "; ".join(wrong) + hint)


def field_for(
    prior: LoadedCourse,
    reference: LoadedCourse,
    mode: str,
    registration: RegistrationConfig,
    bodies: Mapping[str, Volume | None],
    workdir: Path,
    progress: Callable[[str], None],
) -> tuple[DisplacementField, str, DisplacementField | None]:
    """The field mapping the reference grid onto ``prior`` (elastix convention), how it was obtained, and its backward twin.

    The third item is the registration prior -> reference (on the prior CT grid) when
    ``[registration] inverse_consistency`` asked for it and elastix registered the course, or the
    course's given ``dvf_inverse``, else None.

    ``mode`` (from the checks' registration plan): ``given`` (the course's ``dvf``), ``none``
    (the identity field on the reference CT grid, else its dose grid), ``rigid``, ``files``
    (``[registration] parameter_files``) or a deformable preset.
    """
    if mode == "given":
        field, how = _given(prior.config.dvf, reference, prior, bodies,
                            f"the displacement field '{prior.config.dvf}' of course '{prior.name}'")  # fmt: skip
        if prior.config.dvf_inverse is None:
            return field, f"given field {how}", None
        backward, back = _given(prior.config.dvf_inverse, prior, reference, bodies,
                                f"the inverse field '{prior.config.dvf_inverse}' of course '{prior.name}'")  # fmt: skip
        return field, f"given field {how}; its inverse {back}", backward
    if mode == "none":
        grid = _fixed_grid(reference) or reference.dose.grid
        return DisplacementField.identity(grid, np.float32), "identity (no registration)", None
    return _registered(prior, reference, mode, registration, bodies, workdir, progress)


def tolerances(registration: RegistrationConfig) -> Tolerances:
    """The thresholds of the registration checks: ``[registration.checks]`` over the documented defaults."""
    return Tolerances(**registration.checks)


def quality(
    field: DisplacementField,
    reference: LoadedCourse,
    prior: LoadedCourse,
    masks_on_ct: Callable[[LoadedCourse], Mapping[str, Volume]],
    bodies: Mapping[str, Volume | None],
    *,
    registration: RegistrationConfig = _DEFAULTS,
    loop_error: Volume | None = None,
    uncertainty: Volume | None = None,
) -> QualityReport:
    """The registration checks of ``field`` (reference CT grid -> prior CT).

    Jacobian (folding and range inside the reference body), inverse consistency (with the
    field's ``loop_error`` against its backward twin,
    :func:`accumulate.registration.inverse_consistency_error`), Dice of every structure contoured
    on both CTs (the prior's propagated onto the reference CT, matched by name) and, with a
    per-voxel ``uncertainty`` map (mm, on the field's grid), its 95th percentile inside each
    reference structure. Thresholds from ``registration.checks``.
    """
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
    return assess(
        field,
        region=region,
        loop_error=loop_error,
        structures=structures or None,
        oars=oars or None,
        uncertainty=uncertainty,
        tolerances=tolerances(registration),
    )


def review(
    field: DisplacementField,
    reference: LoadedCourse,
    prior: LoadedCourse,
    report: QualityReport,
    structures: Mapping[str, Volume],
    bodies: Mapping[str, Volume | None],
    folder: Path,
    *,
    registration: RegistrationConfig = _DEFAULTS,
    uncertainty: Volume | None = None,
) -> list[Picture]:
    """The review pictures of one course's registration, written as PNG into ``folder`` (none without both CTs).

    ``structures`` are the reference's organs at risk on its CT grid (one picture through each
    centroid); with ``jacobian_map`` the Jacobian determinant is written as ``jacobian.mha`` beside.
    """
    if reference.ct is None or prior.ct is None or not field.grid.is_close(reference.ct.grid):
        return []
    body = bodies.get(reference.name)
    limits = tolerances(registration)
    pictures = review_pictures(
        reference.ct,
        prior.ct,
        field,
        report,
        structures=structures,
        region=None if body is None else body.array,
        uncertainty=uncertainty,
        tolerances=(limits.jacobian_min, limits.jacobian_max),
        uncertainty_limit_mm=limits.uncertainty_p95_mm,
    )
    folder.mkdir(parents=True, exist_ok=True)
    for picture in pictures:
        write_png(picture, folder / picture.name)
    if registration.jacobian_map and report.jacobian is not None:
        write_image(report.jacobian, folder.parent / "jacobian.mha")
    return pictures
