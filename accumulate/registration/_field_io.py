"""Reading and writing displacement fields: MHA/NRRD/NIfTI vector images and DICOM deformable REG.

MHA/MHD/NRRD are read and written by :mod:`._vector_files` (no ITK import: a run with a given
field never loads ITK); NIfTI goes through ITK. The convention (the same as elastix, ITK,
plastimatch and the DICOM deformable REG grid):
the field lives on the fixed grid, the vector components are (ux, uy, uz) in LPS mm, and the
moving point of fixed point p is p + u(p). Fields exported from MIM, Velocity or RayStation
in this convention are accepted as they are; NIfTI components are taken as LPS (what ITK
and ANTs write), the image geometry is converted from RAS by ITK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeometryError, InputError
from ..geometry import DisplacementField, Grid
from ._vector_files import handles, read_vector_file, write_vector_file

FIELD_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr", ".nii", ".nii.gz")
DICOM_SUFFIXES = (".dcm",)


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(DICOM_SUFFIXES):
        return "dicom"
    if name.endswith(FIELD_SUFFIXES):
        return "itk"
    known = ", ".join(FIELD_SUFFIXES + DICOM_SUFFIXES)
    raise InputError(f"displacement field '{path}' has an unknown extension; use one of {known}")


def _dicom_function(name: str) -> Any:
    from .. import io

    function = getattr(io, name, None)
    if function is None:
        raise InputError(f"DICOM deformable registration support (accumulate.io.{name}) is not available in this installation")
    return function


def on_grid(field: DisplacementField, fixed_grid: Grid) -> bool:
    """Whether ``field`` lies on ``fixed_grid``: shape, and origin/spacing within 0.01 mm, direction within 1e-4."""
    return field.grid.is_close(fixed_grid, atol_mm=1e-2, atol_direction=1e-4)


def check_field_grid(field: DisplacementField, fixed_grid: Grid, source: Any = "the displacement field") -> None:
    """Raise :class:`GeometryError` unless ``field`` lies on ``fixed_grid`` (see :func:`on_grid`)."""
    if not on_grid(field, fixed_grid):
        raise GeometryError(
            f"{source} is not on the fixed CT's grid, so it cannot map that CT's voxels.\n"
            f"  field    : {field.grid.describe()}\n  fixed CT : {fixed_grid.describe()}\n"
            "Register again with this CT as the fixed image, or resample the field onto the fixed grid "
            "in the tool that produced it (fixed = re-irradiation CT, moving point = fixed point + u)."
        )


def read_field(path: Any, *, fixed_grid: Grid | None = None) -> DisplacementField:
    """Read a displacement field (fixed grid, (ux, uy, uz) LPS mm, moving point = p + u(p)).

    Parameters
    ----------
    path : path
        MHA/MHD/NRRD/NIfTI vector image with 3 components, or a DICOM deformable REG (``.dcm``).
    fixed_grid : Grid, optional
        The fixed CT's grid; a field on any other grid is refused with :class:`GeometryError`.

    Returns
    -------
    DisplacementField
        The vectors (mm) on the fixed grid.

    Raises
    ------
    InputError
        A missing or unreadable file, a field that is not 3-component, NaN or infinite vectors.
    GeometryError
        A field whose grid is not ``fixed_grid``.

    Examples
    --------
    A uniform 1.5 mm shift along -y (anterior), written as MHA and read back:

    >>> import numpy as np
    >>> from accumulate import DisplacementField, Grid
    >>> grid = Grid((2, 3, 4), (0.0, 0.0, 0.0), (2.0, 2.0, 3.0))
    >>> u = np.zeros((2, 3, 4, 3))
    >>> u[..., 1] = -1.5
    >>> path = write_field(DisplacementField(u, grid), scratch / "shift.mha")
    >>> field = read_field(path, fixed_grid=grid)
    >>> float(field.array[1, 2, 3, 1]), field.grid == grid
    (-1.5, True)
    """
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise InputError(f"displacement field '{path}' does not exist")
    if kind == "dicom":
        field = _dicom_function("read_deformable_registration")(path)
    elif handles(path):
        field = read_vector_file(path)
    else:
        field = _read_with_itk(path)
    if not np.isfinite(np.asarray(field.to_numpy().array)).all():
        raise InputError(f"displacement field '{path}' contains NaN or infinite vectors")
    if fixed_grid is not None:
        check_field_grid(field, fixed_grid, f"displacement field '{path}'")
    return field


def write_field(field: DisplacementField, path: Any, *, fixed_like: Any = None, **dicom_options: Any) -> Path:
    """Write a displacement field as an MHA/NRRD/NIfTI vector image or a DICOM deformable REG (``.dcm``).

    Parameters
    ----------
    field : DisplacementField
    path : path
        The extension chooses the format.
    fixed_like : optional
        For DICOM only: the fixed CT (folder or dataset) whose patient, study and frame of
        reference the REG refers to; passed to ``accumulate.io.write_deformable_registration``.
    **dicom_options
        Further keywords for the DICOM writer.

    Returns
    -------
    Path
        ``path``. See :func:`read_field` for an example.

    Raises
    ------
    InputError
        DICOM options given for a non-DICOM file.
    """
    path = Path(path)
    if _kind(path) == "dicom":
        _dicom_function("write_deformable_registration")(field, path, fixed_like=fixed_like, **dicom_options)
        return path
    if dicom_options or fixed_like is not None:
        raise InputError(f"fixed_like and DICOM options apply to '.dcm' outputs only, not '{path.name}'")
    if handles(path):
        write_vector_file(field, path)
        return path
    import itk

    path.parent.mkdir(parents=True, exist_ok=True)
    itk.imwrite(field.to_itk(), str(path), compression=True)
    return path


def _read_with_itk(path: Path) -> DisplacementField:
    """A NIfTI displacement field through ITK (which converts its RAS geometry to LPS)."""
    import itk

    try:
        header = itk.ImageIOFactory.CreateImageIO(str(path), itk.CommonEnums.IOFileMode_ReadMode)
        if header is None:
            raise OSError("no ITK reader recognises the file")
        header.SetFileName(str(path))
        header.ReadImageInformation()
        dimensions, components = header.GetNumberOfDimensions(), header.GetNumberOfComponents()
        if dimensions != 3 or components != 3:
            raise InputError(
                f"'{path}' is not a 3-D displacement field: it has {dimensions} dimensions and "
                f"{components} components per voxel (3 and 3 needed)"
            )
        # read every component type (float, double, ...) as double: no loss, one wrapped reader
        reader = itk.ImageFileReader[itk.VectorImage[itk.D, 3]].New(FileName=str(path))
        reader.Update()
    except (RuntimeError, OSError) as exc:
        raise InputError(f"could not read displacement field '{path}': {exc}".strip()) from None
    return DisplacementField.from_itk(reader.GetOutput())
