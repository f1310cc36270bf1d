"""Research formats (MHA, NRRD, NIfTI) through ITK; ITK reports every geometry in LPS."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_path, full_suffix
from ..errors import InputError
from ..geometry import Volume
from ._dicom import PathLike

ITK_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr", ".nii", ".nii.gz")


def is_itk_path(path: PathLike) -> bool:
    """Whether the extension is one of :data:`ITK_SUFFIXES`.

    Parameters
    ----------
    path : path
        A file name; only its extension counts.

    Returns
    -------
    bool
        True for MHA/MHD, NRRD/NHDR and NIfTI.

    Examples
    --------
    >>> is_itk_path("field.nii.gz"), is_itk_path("RD.dcm")
    (True, False)
    """
    return full_suffix(Path(path)) in ITK_SUFFIXES


def read_itk_volume(path: PathLike, *, quantity: str, unit: str) -> Volume:
    """A scalar MHA/NRRD/NIfTI image as a float64 :class:`Volume`.

    ITK converts NRRD ``space: right-anterior-superior`` and NIfTI's RAS+ into LPS, so the
    grid is in DICOM patient coordinates whatever the file's convention.
    """
    import itk

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        image = itk.imread(str(path))
    except Exception as exc:
        raise InputError(
            f"{path}: ITK cannot read it ({type(exc).__name__}: {exc}); is it a valid {full_suffix(path)} file?"
        ) from exc
    if image.GetNumberOfComponentsPerPixel() != 1 or image.GetImageDimension() != 3:
        raise InputError(
            f"{path}: expected a scalar 3-D image, got {image.GetImageDimension()}-D with "
            f"{image.GetNumberOfComponentsPerPixel()} components per voxel"
        )
    volume = Volume.from_itk(image, quantity=quantity, unit=unit)
    return volume.with_array(volume.array.astype(np.float64))


def write_itk_volume(volume: Volume, path: PathLike) -> None:
    """Write a volume as MHA/NRRD/NIfTI (chosen by extension), atomically; bool masks as uint8.

    Parameters
    ----------
    volume : Volume
        Any quantity; the geometry (LPS origin, spacing, direction) is written with it.
    path : path
        ``.mha``, ``.mhd``, ``.nrrd``, ``.nhdr``, ``.nii`` or ``.nii.gz``.

    Raises
    ------
    InputError
        Another extension, or a folder that does not exist.
    """
    import itk

    image = volume.to_itk()
    with atomic_path(path) as temp:
        itk.imwrite(image, str(temp), compression=True)
