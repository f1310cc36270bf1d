"""Reading the CTs and masks a registration needs, and a body mask that keeps couch and air out."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Volume

IMAGE_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr", ".nii", ".nii.gz")


def read_image(path: Any, *, quantity: str = "hu", unit: str = "HU") -> Volume:
    """A scalar 3-D image as a Volume: a DICOM CT folder (``accumulate.io.read_ct``) or an MHA/NRRD/NIfTI file.

    Geometry is LPS mm (ITK converts NRRD/NIfTI's RAS to LPS on reading). Values are float32.
    MetaImage files (``.mha``/``.mhd``) are read without ITK.
    """
    path = Path(path)
    if path.is_dir():
        from ..io import read_ct

        return read_ct(path)
    if not path.is_file():
        raise InputError(f"image '{path}' does not exist; give a DICOM CT folder or an MHA/NRRD/NIfTI file")
    if not path.name.lower().endswith(IMAGE_SUFFIXES):
        raise InputError(f"image '{path}' has an unknown format; use a DICOM CT folder or one of {', '.join(IMAGE_SUFFIXES)}")
    if path.name.lower().endswith((".mha", ".mhd")):
        from ._vector_files import read_scalar_meta

        stored = read_scalar_meta(path, quantity=quantity, unit=unit)
        volume = stored.with_array(np.asarray(stored.array, dtype=np.float32))
    else:
        import itk

        try:
            image = itk.imread(str(path), itk.F)
        except (RuntimeError, OSError) as exc:
            raise InputError(f"could not read image '{path}': {exc}".strip()) from None
        volume = Volume.from_itk(image, quantity=quantity, unit=unit)
    if not np.isfinite(volume.array).all():
        raise InputError(f"image '{path}' contains NaN or infinite values")
    return volume


def write_image(volume: Volume, path: Any) -> Path:
    """Write a scalar volume as a MetaImage file (``.mha``, zlib level 1; no ITK), e.g. the Jacobian map."""
    from ._vector_files import write_scalar_meta

    path = Path(path)
    if not path.name.lower().endswith(".mha"):
        raise InputError(f"cannot write '{path}': scalar images are written as .mha")
    return write_scalar_meta(volume, path, compress=True)


def read_mask(path: Any, like: Volume | None = None) -> Volume:
    """A binary mask image (non-zero = inside) as a boolean Volume, optionally checked against ``like``'s grid."""
    volume = read_image(path, quantity="mask", unit="1")
    mask = volume.with_array(volume.array > 0)
    if like is not None:
        like.grid.require_same(mask.grid, f"mask '{path}' and its image")
    return mask


_BODY_MASKS: dict[tuple[int, float], tuple[weakref.ref, Volume]] = {}


def body_mask(ct: Volume, *, threshold_hu: float = -400.0) -> Volume:
    """The patient body in a CT: the largest connected region above ``threshold_hu``, holes filled per slice.

    The couch is removed when it does not touch the body at the threshold (it usually sits a
    few mm below the skin with air between); lungs and bowel gas are filled in slice by slice.
    Computed once per CT object (and threshold) while it lives: the registration, the given
    field's coverage check and the quality figures of a run share it (the CT must not be changed
    in place).
    """
    key = (id(ct), float(threshold_hu))
    cached = _BODY_MASKS.get(key)
    if cached is not None and cached[0]() is ct:
        return cached[1]
    from ._morphology import fill_holes_per_slice, largest_component

    above = np.asarray(ct.to_numpy().array) > threshold_hu
    body = ct.with_array(fill_holes_per_slice(largest_component(above)), quantity="mask", unit="1")
    _BODY_MASKS[key] = (weakref.ref(ct, lambda _, key=key: _BODY_MASKS.pop(key, None)), body)
    return body
