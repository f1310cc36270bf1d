"""A rigid start for the registration from a DICOM Spatial Registration (REG) object.

DICOM convention (PS3.3 C.20.2): each item of the RegistrationSequence holds a 4x4 matrix
that maps points of its own Frame of Reference into the REG's registered frame
(``p_registered = M @ p_source``). The matrix returned here maps *moving* (prior CT) LPS points
to *fixed* (re-irradiation CT) LPS points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.uids import SPATIAL_REG as SPATIAL_REGISTRATION_SOP_CLASS


def read_rigid_registration(path: Any, *, fixed_frame: str | None = None, moving_frame: str | None = None) -> np.ndarray:
    """The 4x4 matrix (mm, LPS) mapping moving points to fixed points, from a DICOM spatial REG file.

    Read with :func:`accumulate.io.read_registration`. ``moving_frame`` picks the moving CT's item
    (needed when the REG registers several frames). When the REG's own frame is not
    ``fixed_frame``, the fixed CT's item is inverted and composed: ``M = M_fixed^-1 @ M_moving``.
    """
    import pydicom

    from ..io import read_registration

    matrix = read_registration(path, source_frame_uid=moving_frame)
    if not isinstance(matrix, np.ndarray):
        raise InputError(f"'{path}' is a deformable registration; pass it as the displacement field, not as a rigid start")
    header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["FrameOfReferenceUID"])
    registered = str(header.get("FrameOfReferenceUID", ""))
    if fixed_frame and fixed_frame != registered:
        matrix = np.linalg.inv(read_registration(path, source_frame_uid=fixed_frame)) @ matrix
    return matrix


def first_ct_file(folder: Any) -> tuple[Path, str] | None:
    """The first DICOM CT file in ``folder`` and its FrameOfReferenceUID (None for image files)."""
    import pydicom

    folder = Path(folder)
    if not folder.is_dir():
        return None
    for candidate in sorted(folder.iterdir()):
        try:
            ds = pydicom.dcmread(candidate, stop_before_pixels=True, specific_tags=["Modality", "FrameOfReferenceUID"])
        except (OSError, pydicom.errors.InvalidDicomError):
            continue
        if getattr(ds, "Modality", "") == "CT" and "FrameOfReferenceUID" in ds:
            return candidate, str(ds.FrameOfReferenceUID)
    return None


def spatial_registrations(*folders: Any) -> list[Path]:
    """The DICOM Spatial Registration files directly in ``folders``, in folder order, then by name."""
    import pydicom

    found = []
    for folder in (Path(f) for f in folders):
        if not folder.is_dir():
            continue
        for candidate in sorted(folder.iterdir()):
            try:
                ds = pydicom.dcmread(candidate, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            except (OSError, pydicom.errors.InvalidDicomError):
                continue
            if str(getattr(ds, "SOPClassUID", "")) == SPATIAL_REGISTRATION_SOP_CLASS:
                found.append(candidate)
    return found


def find_spatial_registration(*folders: Any) -> Path | None:
    """The first DICOM Spatial Registration file found directly in any of ``folders`` (None if none)."""
    found = spatial_registrations(*folders)
    return found[0] if found else None


def rigid_start(candidates: Any, *, fixed_frame: str, moving_frame: str) -> tuple[np.ndarray, Path] | None:
    """``(moving_to_fixed, path)`` from the first REG of ``candidates`` relating the two frames, else None.

    A REG that registers other frames (an MR fusion, another course) is passed over.
    """
    for path in candidates:
        try:
            return read_rigid_registration(path, fixed_frame=fixed_frame, moving_frame=moving_frame), Path(path)
        except InputError:
            continue
    return None


def choose_rigid_start(
    *, fixed_frame: str | None, moving_frame: str | None, explicit: Any = None, search: Any = (), what: str = "the REG"
) -> tuple[np.ndarray, Path] | None:
    """The one rule for the rigid start of a registration: ``(moving_to_fixed, path)`` or None.

    Used by ``accumulate register`` and by a run's registration stage.

    - CTs in the same frame of reference: no start (they are aligned already); an ``explicit``
      REG is then refused (InputError).
    - An ``explicit`` REG must relate the moving frame to the fixed frame (InputError otherwise);
      when a frame is unknown (image files without DICOM), the REG is read as it stands (it must
      then register a single frame besides its own).
    - Else the first REG among the files of the ``search`` folders that relates the two frames
      (REGs of other frames, e.g. an MR fusion, are passed over); None when the frames are unknown.

    ``what`` names the REG's source in errors (e.g. ``"course 'prior': rigid_start"``).
    """
    if fixed_frame and moving_frame and fixed_frame == moving_frame:
        if explicit is not None:
            raise InputError(
                f"{what} {explicit} cannot be used: both CTs are in the same frame of reference {fixed_frame} "
                "(they are aligned already)"
            )
        return None
    if explicit is not None:
        if not fixed_frame or not moving_frame:
            return read_rigid_registration(explicit, fixed_frame=fixed_frame, moving_frame=moving_frame), Path(explicit)
        found = rigid_start([explicit], fixed_frame=fixed_frame, moving_frame=moving_frame)
        if found is None:
            raise InputError(f"{what} {explicit} is not a spatial REG from frame {moving_frame} to frame {fixed_frame}")
        return found
    if not fixed_frame or not moving_frame:
        return None
    return rigid_start(spatial_registrations(*search), fixed_frame=fixed_frame, moving_frame=moving_frame)


def initial_transform_map(moving_to_fixed: Any) -> dict[str, list[str]]:
    """An elastix parameter map for the affine transform fixed -> moving, the inverse of ``moving_to_fixed``.

    Elastix transforms map fixed points to moving points: ``T(p) = A p + t`` with the centre of
    rotation at the LPS origin.
    """
    matrix = np.asarray(moving_to_fixed, dtype=float)
    if matrix.shape != (4, 4) or not np.allclose(matrix[3], (0, 0, 0, 1)) or abs(np.linalg.det(matrix[:3, :3])) < 1e-6:
        raise InputError(f"an initial transform must be an invertible 4x4 homogeneous matrix, got\n{matrix}")
    inverse = np.linalg.inv(matrix)
    values = list(inverse[:3, :3].reshape(-1)) + list(inverse[:3, 3])
    return {
        "Transform": ["AffineTransform"],
        "NumberOfParameters": ["12"],
        "TransformParameters": [repr(float(v)) for v in values],
        "CenterOfRotationPoint": ["0", "0", "0"],
        "InitialTransformParameterFileName": ["NoInitialTransform"],
        "HowToCombineTransforms": ["Compose"],
        "FixedImageDimension": ["3"],
        "MovingImageDimension": ["3"],
        "FixedInternalImagePixelType": ["float"],
        "MovingInternalImagePixelType": ["float"],
    }
