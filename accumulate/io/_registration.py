"""DICOM Spatial Registration (rigid) and Deformable Spatial Registration, in and out.

DICOM maps a point of the Registered RCS (the REG object's own frame, our fixed/reference
course) to the Source RCS (a prior, moving course). For the deformable IOD (PS3.3 C.20.3.1.1)::

    p_source = M_post @ (M_pre @ p + D(p))       (homogeneous, D has w = 0)

at each deformation-grid point ``p``; that is exactly our convention ``moving = p + u(p)`` with
``u(p) = p_source - p``. A rigid registration stores ``p_registered = M @ p_source``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from ..atomic import atomic_path
from ..errors import GeometryError, InputError
from ..geometry import DisplacementField, Grid
from ._dicom import (
    ImageSeries,
    PathLike,
    add_common_instance_reference,
    code_item,
    file_errors,
    frame_of_reference_uid,
    grid_to_plane,
    like_dataset,
    new_series_dataset,
    plane_axes,
    read_dataset,
    require,
    set_equipment,
)
from .uids import DEFORMABLE_REG, SPATIAL_REG

#: CID 7100 "RCS Registration Method Type" (DCM): the Registration Type Code of an item.
FRAME_OF_REFERENCE_IDENTITY = ("125021", "Frame of Reference Identity")
IMAGE_CONTENT_BASED = ("125024", "Image Content-based Alignment")


def _matrix(item: Dataset, path: PathLike) -> np.ndarray:
    values = [float(v) for v in require(item, "FrameOfReferenceTransformationMatrix", path)]
    if len(values) != 16:
        raise InputError(f"{path}: FrameOfReferenceTransformationMatrix needs 16 values, got {len(values)}")
    matrix = np.asarray(values).reshape(4, 4)
    if not np.allclose(matrix[3], [0, 0, 0, 1], atol=1e-6):
        raise InputError(f"{path}: transformation matrix bottom row is {matrix[3].tolist()}, expected [0, 0, 0, 1]")
    return matrix


def _pick(items: list[Dataset], key: str, registered: str | None, source_frame_uid: str | None, path: PathLike) -> Dataset:
    frames = [str(item.get(key, "")) for item in items]
    if source_frame_uid is not None:
        chosen = [item for item, f in zip(items, frames, strict=True) if f == source_frame_uid]
        if not chosen:
            raise InputError(f"{path}: no registration from frame of reference {source_frame_uid}; it holds {frames}")
        return chosen[0]
    others = [item for item, f in zip(items, frames, strict=True) if f != registered] or items
    if len(others) > 1:
        raise InputError(f"{path}: registrations from several frames {frames}; pass source_frame_uid=... to choose one")
    return others[0]


def _rigid(ds: Dataset, path: PathLike, source_frame_uid: str | None) -> np.ndarray:
    item = _pick(
        list(require(ds, "RegistrationSequence", path)), "FrameOfReferenceUID", frame_of_reference_uid(ds), source_frame_uid, path
    )
    total = np.eye(4)
    for registration in item.get("MatrixRegistrationSequence", []):
        for matrix_item in registration.get("MatrixSequence", []):
            total = _matrix(matrix_item, path) @ total  # applied in the order listed
    return total


def _grid_of(item: Dataset, path: PathLike) -> Grid:
    dims = [int(v) for v in require(item, "GridDimensions", path)]
    resolution = [float(v) for v in require(item, "GridResolution", path)]
    axes = plane_axes(require(item, "ImageOrientationPatient", path), path)
    return Grid(dims[::-1], [float(v) for v in require(item, "ImagePositionPatient", path)], resolution, tuple(axes.reshape(-1)))


def _deformable(ds: Dataset, path: PathLike, source_frame_uid: str | None) -> DisplacementField:
    items = [i for i in require(ds, "DeformableRegistrationSequence", path) if i.get("DeformableRegistrationGridSequence")]
    if not items:
        raise InputError(f"{path}: no Deformable Registration Grid in any item; nothing to read")
    item = _pick(items, "SourceFrameOfReferenceUID", frame_of_reference_uid(ds), source_frame_uid, path)
    grid_item = item.DeformableRegistrationGridSequence[0]
    grid = _grid_of(grid_item, path)
    raw = np.frombuffer(require(grid_item, "VectorGridData", path), dtype="<f4")
    if raw.size != grid.size * 3:
        raise InputError(f"{path}: VectorGridData holds {raw.size} floats, GridDimensions need {grid.size * 3}")
    offsets = raw.reshape(grid.shape + (3,)).astype(np.float64)
    pre = (
        _matrix(item.PreDeformationMatrixRegistrationSequence[0], path)
        if item.get("PreDeformationMatrixRegistrationSequence")
        else np.eye(4)
    )
    post = (
        _matrix(item.PostDeformationMatrixRegistrationSequence[0], path)
        if item.get("PostDeformationMatrixRegistrationSequence")
        else np.eye(4)
    )
    points = grid.world_coordinates()
    moved = points @ pre[:3, :3].T + pre[:3, 3] + offsets
    source = moved @ post[:3, :3].T + post[:3, 3]
    return DisplacementField(source - points, grid)


def deformable_frames(ds: Dataset) -> tuple[str, list[str]]:
    """A Deformable Spatial Registration's registered (fixed) frame of reference and its source (moving) frames.

    The source frames are those of its DeformableRegistrationSequence items, the registered frame
    itself left out (an item from the registered frame is the identity that files often carry).
    """
    registered = str(ds.get("FrameOfReferenceUID", ""))
    sources = [str(item.get("SourceFrameOfReferenceUID", "")) for item in ds.get("DeformableRegistrationSequence", [])]
    return registered, [frame for frame in dict.fromkeys(sources) if frame != registered]


@file_errors
def read_registration(path: PathLike, *, source_frame_uid: str | None = None) -> np.ndarray | DisplacementField:
    """Read a DICOM REG: a rigid 4x4 matrix or a deformable :class:`DisplacementField`.

    Parameters
    ----------
    path : path
        Spatial Registration Storage or Deformable Spatial Registration Storage file.
    source_frame_uid : str, optional
        The moving frame to read when the file registers several.

    Returns
    -------
    ndarray (4, 4) or DisplacementField
        Rigid: the homogeneous matrix (LPS mm) with ``p_registered = M @ p_source`` (matrices of
        one item multiplied in the order listed). Deformable: the field on the deformation grid
        (in the registered frame) with ``p_source = p + u(p)``, pre and post matrices folded in.

    Raises
    ------
    InputError
        Not DICOM, not a registration, no item for ``source_frame_uid``, an unusable matrix or grid.

    Examples
    --------
    >>> import numpy as np
    >>> course = demo_case().reirradiation
    >>> shift = np.eye(4)
    >>> shift[:3, 3] = (5.0, 0.0, -2.5)  # mm
    >>> path = write_spatial_registration(shift, scratch / "REG.dcm", fixed_like=course.dose_path,
    ...                                   moving_frame_uid="1.2.3.4")
    >>> read_registration(path, source_frame_uid="1.2.3.4")[:3, 3]
    array([ 5. ,  0. , -2.5])
    """
    ds = read_dataset(path, stop_before_pixels=True)
    sop = ds.get("SOPClassUID")
    if sop == SPATIAL_REG:
        return _rigid(ds, path, source_frame_uid)
    if sop == DEFORMABLE_REG:
        return _deformable(ds, path, source_frame_uid)
    raise InputError(
        f"{path}: not a Spatial or Deformable Spatial Registration (SOP class {sop}, Modality {ds.get('Modality')!r})"
    )


@file_errors
def read_deformable_registration(path: PathLike, *, source_frame_uid: str | None = None) -> DisplacementField:
    """The :class:`DisplacementField` of a Deformable Spatial Registration file (see :func:`read_registration`).

    Parameters
    ----------
    path : path
        A Deformable Spatial Registration Storage file.
    source_frame_uid : str, optional
        The moving frame to read when the file registers several.

    Returns
    -------
    DisplacementField
        On the deformation grid (registered frame), ``p_source = p + u(p)``, mm.

    Raises
    ------
    InputError
        Not DICOM, a rigid registration, or no item for ``source_frame_uid``.

    Examples
    --------
    >>> import numpy as np
    >>> from accumulate import DisplacementField
    >>> course = demo_case().reirradiation
    >>> field = DisplacementField(np.full(course.dose_grid.shape + (3,), 2.0), course.dose_grid)
    >>> path = write_deformable_registration(field, scratch / "REG.dcm", fixed_like=course.dose_path,
    ...                                      moving_frame_uid="1.2.3.4")
    >>> back = read_deformable_registration(path)
    >>> back.grid.is_close(field.grid), float(abs(back.array - 2.0).max())
    (True, 0.0)
    """
    result = read_registration(path, source_frame_uid=source_frame_uid)
    if not isinstance(result, DisplacementField):
        raise InputError(f"{path}: a rigid Spatial Registration, not a deformable one; use read_registration")
    return result


def displacement_from_matrix(matrix: np.ndarray, grid: Grid) -> DisplacementField:
    """The field on ``grid`` (registered frame) of a rigid ``p_registered = M @ p_source``: ``u = M^-1 p - p``.

    Parameters
    ----------
    matrix : array (4, 4)
        Homogeneous, LPS mm.
    grid : Grid
        Where the field is sampled (the registered, fixed frame).

    Returns
    -------
    DisplacementField
        ``p_source = p + u(p)``, mm.

    Examples
    --------
    >>> from accumulate import Grid
    >>> shift = np.eye(4)
    >>> shift[:3, 3] = (5.0, 0.0, 0.0)  # the registered frame is the source moved 5 mm along x
    >>> displacement_from_matrix(shift, Grid((1, 1, 2))).array[0, 0, 0]
    array([-5.,  0.,  0.])
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (4, 4):
        raise GeometryError(f"a rigid registration is a 4x4 matrix, got shape {matrix.shape}")
    inverse = np.linalg.inv(matrix)
    points = grid.world_coordinates()
    return DisplacementField(points @ inverse[:3, :3].T + inverse[:3, 3] - points, grid)


def _matrix_item(matrix: np.ndarray) -> Dataset:
    item = Dataset()
    item.FrameOfReferenceTransformationMatrixType = "RIGID"
    item.FrameOfReferenceTransformationMatrix = [format_number_as_ds(float(v)) for v in np.asarray(matrix).reshape(-1)]
    return item


def _registration_dataset(sop_class: str, fixed_like: PathLike | Dataset, moving_frame_uid: str, label: str,
                          description: str, writer: str, series_number: int,
                          images: tuple[ImageSeries | None, ImageSeries | None]) -> Dataset:  # fmt: skip
    """The REG header shared by both kinds: patient and study of the fixed course, its frame as the registered one.

    ``images`` (fixed, moving) are checked against the two frames and listed in the Common
    Instance Reference module. BodyPartExamined and Laterality are those of the fixed CT (its
    series, else ``fixed_like``); Laterality is absent unless stated there, as the standard
    wants for an unpaired body part (it is Type 2C: required only for a paired one).
    """
    like = like_dataset(fixed_like)
    fixed_frame = frame_of_reference_uid(like)
    if not fixed_frame:
        raise InputError(f"{writer}: {fixed_like} has no FrameOfReferenceUID; pass a CT or RTDOSE of the fixed course")
    if not moving_frame_uid:
        raise InputError(f"{writer}: moving_frame_uid (the prior course's FrameOfReferenceUID) is required")
    for role, series, frame in (("fixed", images[0], fixed_frame), ("moving", images[1], moving_frame_uid)):
        if series is not None and series.frame_uid != frame:
            raise InputError(
                f"{writer}: the {role} images (series {series.series_uid}) are in frame of reference {series.frame_uid}, "
                f"not the {role} frame {frame}; pass the CT series of the {role} course"
            )
    ds = new_series_dataset(sop_class, "REG", like, series_number)
    ds.SeriesDescription = description[:64]
    for keyword, attribute in (("BodyPartExamined", "body_part"), ("Laterality", "laterality")):
        value = getattr(images[0], attribute, "") or like.get(keyword)
        if value:
            setattr(ds, keyword, value)
    ds.ContentDate, ds.ContentTime = ds.SeriesDate, ds.SeriesTime
    ds.FrameOfReferenceUID = fixed_frame
    ds.PositionReferenceIndicator = ""
    set_equipment(ds, enhanced=True)
    ds.InstanceNumber = 1
    ds.ContentLabel = label
    ds.ContentDescription = description[:64]
    ds.ContentCreatorName = ""
    add_common_instance_reference(ds, [series for series in images if series is not None])
    return ds


def _registration_type(code: tuple[str, str] | None) -> list[Dataset]:
    """RegistrationTypeCodeSequence (Type 2): the code, or empty when the method is not known."""
    return [code_item(*code)] if code else []


def _write(ds: Dataset, path: PathLike) -> Path:
    with atomic_path(path) as temp:
        pydicom.dcmwrite(temp, ds, enforce_file_format=True)
    return Path(path)


def write_deformable_registration(
    field: DisplacementField,
    path: PathLike,
    *,
    fixed_like: PathLike | Dataset,
    moving_frame_uid: str,
    description: str = "accumulate deformable registration",
    fixed_images: ImageSeries | None = None,
    moving_images: ImageSeries | None = None,
    method: tuple[str, str] | None = None,
    series_number: int = 901,
) -> Path:
    """Write a Deformable Spatial Registration holding ``field``, atomically.

    Parameters
    ----------
    field : DisplacementField
        On the fixed (reference) grid, ``moving = p + u(p)`` in LPS mm; stored as float32 with
        identity pre- and post-deformation matrices, so a planning system reproduces the mapping.
    path : path
        Destination ``.dcm``.
    fixed_like : path or Dataset
        A file of the fixed course (CT slice, RTDOSE...): patient, study and the registered
        FrameOfReferenceUID are taken from it.
    moving_frame_uid : str
        FrameOfReferenceUID of the moving (prior) course: the Source Frame of Reference.
    description : str
        SeriesDescription and ContentDescription (64 characters at most).
    fixed_images, moving_images : ImageSeries, optional
        The CT series of the two courses (:func:`accumulate.io.ct_image_series`). The moving
        images are the registration item's ReferencedImageSequence; both series are listed in
        the Common Instance Reference module (by study), so a planning system finds the pair.
    method : (CodeValue, CodeMeaning), optional
        The item's RegistrationTypeCodeSequence (CID 7100), e.g. :data:`IMAGE_CONTENT_BASED`
        for an intensity-based registration; empty (unknown) by default.
    series_number : int
        SeriesNumber of the new series.

    Returns
    -------
    Path
        The path written (``.dcm``), complete or not at all.

    Raises
    ------
    InputError
        As for :func:`write_spatial_registration`.

    Examples
    --------
    See :func:`read_deformable_registration`.
    """
    ds = _registration_dataset(DEFORMABLE_REG, fixed_like, moving_frame_uid, "DEFORMABLE", description,
                               "write_deformable_registration", series_number, (fixed_images, moving_images))  # fmt: skip
    item = _deformable_item(field, moving_frame_uid)
    item.RegistrationTypeCodeSequence = _registration_type(method)
    if moving_images is not None:
        item.ReferencedImageSequence = moving_images.reference_items()
    ds.DeformableRegistrationSequence = [item]
    return _write(ds, path)


def write_spatial_registration(
    moving_to_fixed: np.ndarray,
    path: PathLike,
    *,
    fixed_like: PathLike | Dataset,
    moving_frame_uid: str,
    description: str = "accumulate rigid registration",
    fixed_images: ImageSeries | None = None,
    moving_images: ImageSeries | None = None,
    method: tuple[str, str] | None = None,
    series_number: int = 901,
) -> Path:
    """Write a (rigid) Spatial Registration, atomically: ``p_fixed = M @ p_moving`` in LPS mm.

    Two RegistrationSequence items, as planning systems write them: the fixed frame with the
    identity (Registration Type "Frame of Reference Identity") and the moving frame with
    ``moving_to_fixed`` (4x4, homogeneous). Each item names its frame and, when given, its
    images (ReferencedImageSequence). Read back with :func:`read_registration`
    (``source_frame_uid=moving_frame_uid``). The other arguments as for
    :func:`write_deformable_registration`.

    Parameters
    ----------
    moving_to_fixed : array (4, 4)
        Homogeneous matrix, LPS mm, last row (0, 0, 0, 1).
    path : path
        Destination ``.dcm``.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    GeometryError
        A matrix that is not 4x4 homogeneous.
    InputError
        No ``moving_frame_uid``, images in another frame than the one they stand for.

    Examples
    --------
    See :func:`read_registration`.
    """
    matrix = np.asarray(moving_to_fixed, dtype=float)
    if matrix.shape != (4, 4) or not np.allclose(matrix[3], (0, 0, 0, 1)):
        raise GeometryError(f"write_spatial_registration: a 4x4 homogeneous matrix is needed, got\n{matrix}")
    ds = _registration_dataset(SPATIAL_REG, fixed_like, moving_frame_uid, "RIGID", description, "write_spatial_registration",
                               series_number, (fixed_images, moving_images))  # fmt: skip
    items = []
    for frame, m, images, code in ((ds.FrameOfReferenceUID, np.eye(4), fixed_images, FRAME_OF_REFERENCE_IDENTITY),
                                   (moving_frame_uid, matrix, moving_images, method)):  # fmt: skip
        wrapper = Dataset()
        wrapper.MatrixSequence = [_matrix_item(m)]
        wrapper.RegistrationTypeCodeSequence = _registration_type(code)
        item = Dataset()
        item.FrameOfReferenceUID = frame
        if images is not None:
            item.ReferencedImageSequence = images.reference_items()
        item.MatrixRegistrationSequence = [wrapper]
        items.append(item)
    ds.RegistrationSequence = items
    return _write(ds, path)


def _deformable_item(field: DisplacementField, moving_frame_uid: str) -> Dataset:
    grid = field.grid
    vectors = np.asarray(field.to_numpy().array, dtype=np.float32)
    ipp, iop, _, step = grid_to_plane(grid)
    if step < 0:  # DICOM's grid runs along +normal: store the slices in reverse
        vectors = vectors[::-1]
        ipp = [float(v) for v in grid.world_from_index([grid.shape[0] - 1, 0, 0])]
    grid_item = Dataset()
    grid_item.ImagePositionPatient = [format_number_as_ds(v) for v in ipp]
    grid_item.ImageOrientationPatient = [format_number_as_ds(v) for v in iop]
    grid_item.GridDimensions = list(grid.shape[::-1])
    grid_item.GridResolution = list(grid.spacing_mm)
    grid_item.VectorGridData = np.ascontiguousarray(vectors).astype("<f4").tobytes()
    item = Dataset()
    item.SourceFrameOfReferenceUID = moving_frame_uid
    item.PreDeformationMatrixRegistrationSequence = [_matrix_item(np.eye(4))]
    item.PostDeformationMatrixRegistrationSequence = [_matrix_item(np.eye(4))]
    item.DeformableRegistrationGridSequence = [grid_item]
    return item
