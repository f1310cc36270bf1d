"""Shared DICOM helpers: reading a file with errors that name it, plane geometry, UIDs, references, equipment."""

from __future__ import annotations

import datetime as _dt
import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from ..distribution import __version__
from ..errors import AccumulateError, GeometryError, InputError
from ..geometry import Grid

#: What the writers put in the (Enhanced) General Equipment modules.
MANUFACTURER = "accumulate"

PathLike = str | os.PathLike[str]


class NotDicom(InputError):
    """A file that is not DICOM at all (told from its first bytes): export folders may hold such files beside the objects."""


#: How much of a file is looked at to tell DICOM from anything else, before pydicom reads it.
_SNIFF_BYTES = 132


def looks_like_dicom(head: bytes) -> bool:
    """Whether the first bytes of a file are DICOM: a Part 10 preamble with "DICM", or a bare little-endian
    dataset starting with a File Meta (0002,xxxx) or an Identifying (0008,xxxx) element (older exports).

    Parameters
    ----------
    head : bytes
        The file's first bytes (at least 132 for a Part 10 file).

    Returns
    -------
    bool

    Examples
    --------
    >>> looks_like_dicom(bytes(128) + b"DICM" + bytes(16)), looks_like_dicom(b"%PDF-1.7 ...")
    (True, False)
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[2:4] != b"\x00\x00"


def read_dataset(path: PathLike, *, stop_before_pixels: bool = False, expect: str | None = None) -> Dataset:
    """Read a DICOM file; raise :class:`InputError` naming the file if it is not one.

    Files without the 128-byte preamble (older exports) are accepted. A file that is not DICOM is
    rejected from its first bytes, before it is read whole. ``expect`` is a Modality
    (``"RTDOSE"``...) the file must have.

    Parameters
    ----------
    path : path
    stop_before_pixels : bool
        Skip the pixel data (headers only).
    expect : str, optional
        The Modality the file must have.

    Returns
    -------
    pydicom.Dataset

    Raises
    ------
    NotDicom
        The file is not DICOM at all.
    InputError
        It cannot be read, or has another Modality than ``expect``.

    Examples
    --------
    >>> read_dataset(demo_case().reirradiation.dose_path, stop_before_pixels=True, expect="RTDOSE").Modality
    'RTDOSE'
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise InputError(f"{path}: the file is empty (0 bytes); was the export interrupted?")
    if not looks_like_dicom(head):
        raise NotDicom(f"{path}: not a DICOM file (no DICM preamble and no DICOM element at its start)")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
    except Exception as exc:  # pydicom raises many types on garbage
        raise InputError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc}); is it truncated?") from exc
    if "SOPClassUID" not in ds and "Modality" not in ds:
        raise InputError(f"{path}: not a DICOM file (no SOP Class UID or Modality found); is it corrupt or another format?")
    _check_complete(ds, path)
    if expect is not None and ds.get("Modality") != expect:
        raise InputError(f"{path}: expected a DICOM {expect} object, found Modality {ds.get('Modality')!r}")
    return ds


def file_errors(reader: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a reader whose first argument is the file: an unforeseen malformation in it (a ValueError,
    KeyError... from pydicom or numpy) becomes an InputError naming the file, never a traceback. The readers
    validate what they use (:func:`numbers`, :func:`whole`); this is the last resort for what they did not foresee."""

    @functools.wraps(reader)
    def read(path: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return reader(path, *args, **kwargs)
        except AccumulateError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as exc:
            raise InputError(f"{path}: malformed file, {reader.__name__} failed ({type(exc).__name__}: {exc})") from exc

    return read


def _check_complete(ds: Dataset, path: Path) -> None:
    """A file cut short ends in an element with fewer bytes than its stated length (pydicom reads it silently)."""
    elements = list(ds._dict.values())  # the raw elements as read, before any conversion
    last = elements[-1] if elements else None
    if isinstance(last, RawDataElement) and last.length != 0xFFFFFFFF and last.value is not None:
        if len(last.value) < last.length:
            raise InputError(
                f"{path}: the file is truncated (element {last.tag} holds {len(last.value)} of its {last.length} bytes); "
                "was the export or the transfer interrupted?"
            )


def require(ds: Dataset, keyword: str, path: PathLike) -> Any:
    """The value of a required attribute, or an :class:`InputError` naming file and attribute."""
    try:
        value = ds.get(keyword)
    except Exception as exc:  # a value pydicom cannot convert
        raise InputError(f"{path}: attribute {keyword} is malformed ({exc})") from None
    if value is None or value == "":
        raise InputError(f"{path}: required attribute {keyword} is missing or empty")
    return value


def numbers(ds: Dataset, keyword: str, path: PathLike, *, count: int | None = None, positive: bool = False) -> np.ndarray:
    """A required numeric attribute as a float array; an InputError names the file and the attribute when it is
    missing, not numeric, not finite, has another number of values than ``count``, or (``positive``) is not > 0."""
    raw = require(ds, keyword, path)
    items = (
        list(raw) if isinstance(raw, list | tuple) or (hasattr(raw, "__iter__") and not isinstance(raw, str | bytes)) else [raw]
    )
    try:
        values = np.asarray([float(v) for v in items], dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{path}: attribute {keyword} must be numeric, got {raw!r}") from None
    if count is not None and values.size != count:
        raise InputError(f"{path}: attribute {keyword} needs {count} value(s), got {values.size} ({raw!r})")
    if not np.all(np.isfinite(values)):
        raise InputError(f"{path}: attribute {keyword} must be finite, got {raw!r}")
    if positive and np.any(values <= 0):
        raise InputError(f"{path}: attribute {keyword} must be > 0, got {raw!r}")
    return values


def number(ds: Dataset, keyword: str, path: PathLike, *, default: float | None = None, positive: bool = False) -> float:
    """One numeric attribute as a float (``default`` when absent or empty; required when ``default`` is None)."""
    if default is not None and ds.get(keyword) in (None, ""):
        return float(default)
    return float(numbers(ds, keyword, path, count=1, positive=positive)[0])


def whole(ds: Dataset, keyword: str, path: PathLike, *, default: int | None = None, minimum: int = 1) -> int:
    """One integer attribute (``default`` when absent), at least ``minimum``; an InputError names file and attribute."""
    value = number(ds, keyword, path, default=default)
    if not float(value).is_integer() or value < minimum:
        raise InputError(f"{path}: attribute {keyword} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def plane_axes(iop: Any, path: PathLike) -> np.ndarray:
    """3x3 matrix whose columns are the row, column and normal directions of ImageOrientationPatient.

    Column 0 is the direction of increasing column index (array x), column 1 of increasing
    row index (array y), column 2 their cross product (the slice normal).
    """
    try:
        values = np.asarray([float(v) for v in iop], dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{path}: ImageOrientationPatient must be 6 numbers, got {iop!r}") from None
    if values.size != 6 or not np.all(np.isfinite(values)):
        raise GeometryError(f"{path}: ImageOrientationPatient needs 6 finite values, got {list(iop)}")
    row, col = values[:3], values[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3 or abs(row @ col) > 1e-3:
        raise GeometryError(f"{path}: ImageOrientationPatient {list(values)} is not two orthogonal unit vectors")
    row = row / np.linalg.norm(row)
    col = col - (col @ row) * row
    col = col / np.linalg.norm(col)
    return np.stack([row, col, np.cross(row, col)], axis=1)


def plane_grid(ipp: Any, axes: np.ndarray, pixel_spacing: Any, rows: int, columns: int, nz: int, z_step_mm: float) -> Grid:
    """The Grid of a stack of planes starting at ``ipp``; ``z_step_mm`` may be negative (stack along -normal)."""
    ps = [float(v) for v in pixel_spacing]
    direction = axes.copy()
    if z_step_mm < 0:
        direction[:, 2] = -direction[:, 2]
    return Grid(
        shape=(nz, int(rows), int(columns)),
        origin_mm=tuple(float(v) for v in ipp),
        spacing_mm=(ps[1], ps[0], abs(z_step_mm)),
        direction=tuple(direction.reshape(-1)),
    )


def grid_to_plane(grid: Grid) -> tuple[list[float], list[float], list[float], float]:
    """ImagePositionPatient, ImageOrientationPatient, PixelSpacing and the signed frame step.

    The step is negative when the grid's z axis points along minus the IOP normal.

    Parameters
    ----------
    grid : Grid

    Returns
    -------
    position, orientation, pixel_spacing : lists of float
        Of the first slice, mm (PixelSpacing is row spacing, column spacing).
    step : float
        Slice step along the IOP normal, mm.

    Examples
    --------
    >>> grid_to_plane(Grid((3, 2, 2), origin_mm=(0.0, 0.0, 10.0), spacing_mm=(1.0, 2.0, 3.0)))
    ([0.0, 0.0, 10.0], [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], [2.0, 1.0], 3.0)
    """
    d = grid.direction_matrix
    sign = 1.0 if float(np.cross(d[:, 0], d[:, 1]) @ d[:, 2]) > 0 else -1.0
    iop = [float(v) for v in np.concatenate([d[:, 0], d[:, 1]])]
    return [float(v) for v in grid.origin_mm], iop, [grid.spacing_mm[1], grid.spacing_mm[0]], sign * grid.spacing_mm[2]


def parse_date(value: Any) -> _dt.date | None:
    """A DICOM DA value (``YYYYMMDD``) as a date, ``None`` when absent or malformed."""
    text = str(value or "").strip()
    try:
        return _dt.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
STUDY_KEYWORDS = ("StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")


def copy_patient_and_study(source: Dataset | None, target: Dataset) -> None:
    """Copy the Patient and General Study modules (empty Type 2 values when absent)."""
    for keyword in PATIENT_KEYWORDS + STUDY_KEYWORDS:
        value = source.get(keyword) if source is not None else None
        setattr(target, keyword, value if value is not None else "")
    if not target.StudyInstanceUID:
        target.StudyInstanceUID = pydicom.uid.generate_uid()
    if source is not None and "SpecificCharacterSet" in source:
        target.SpecificCharacterSet = source.SpecificCharacterSet


def frame_of_reference_uid(ds: Dataset) -> str | None:
    """FrameOfReferenceUID of an image/dose/plan, or the one an RTSTRUCT's contours are in.

    The RT Structure Set IOD has no Frame of Reference module: its frame is the first
    ReferencedFrameOfReferenceSequence item's (a top-level FrameOfReferenceUID some writers add
    is used only when that sequence is absent).
    """
    referenced = [str(item.FrameOfReferenceUID) for item in ds.get("ReferencedFrameOfReferenceSequence", [])
                  if item.get("FrameOfReferenceUID")]  # fmt: skip
    if ds.get("Modality") == "RTSTRUCT" and referenced:
        return referenced[0]
    if ds.get("FrameOfReferenceUID"):
        return str(ds.FrameOfReferenceUID)
    return referenced[0] if referenced else None


def like_dataset(like: PathLike | Dataset | None) -> Dataset | None:
    """``like`` as a header-only Dataset (a path is read without its pixels)."""
    if like is None or isinstance(like, Dataset):
        return like
    return read_dataset(like, stop_before_pixels=True)


def now_date_time() -> tuple[str, str]:
    """Today's date and time as DICOM DA and TM strings."""
    now = _dt.datetime.now()
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S")


def new_file_meta(ds: Dataset, sop_class_uid: str) -> None:
    """Set SOP class/instance UIDs and an Explicit VR Little Endian file meta header."""
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.InstanceCreationDate, ds.InstanceCreationTime = now_date_time()


def new_series_dataset(sop_class_uid: str, modality: str, like: Dataset | None, series_number: int) -> Dataset:
    """A new instance in a new series: file meta, SOP UIDs, Patient and Study copied from ``like``, Modality and series.

    The series gets a fresh SeriesInstanceUID, ``series_number`` and the current SeriesDate/Time.
    """
    ds = Dataset()
    new_file_meta(ds, sop_class_uid)
    copy_patient_and_study(like, ds)
    ds.Modality = modality
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDate, ds.SeriesTime = now_date_time()
    return ds


@dataclass(frozen=True)
class InstanceReference:
    """A SOP instance to reference: its SOP Class UID and SOP Instance UID (PS3.3 Table 10-11)."""

    sop_class_uid: str
    sop_instance_uid: str

    def item(self) -> Dataset:
        """The SOP Instance Reference Macro item (ReferencedSOPClassUID, ReferencedSOPInstanceUID)."""
        item = Dataset()
        item.ReferencedSOPClassUID = self.sop_class_uid
        item.ReferencedSOPInstanceUID = self.sop_instance_uid
        return item


def instance_reference(source: PathLike | Dataset) -> InstanceReference:
    """The :class:`InstanceReference` of a DICOM file (read without pixels) or dataset.

    Parameters
    ----------
    source : path or Dataset

    Returns
    -------
    InstanceReference
        Its SOP Class UID and SOP Instance UID.

    Raises
    ------
    InputError
        Not DICOM, or without SOP UIDs.

    Examples
    --------
    >>> from accumulate.io.uids import RT_PLAN
    >>> course = demo_case().reirradiation
    >>> instance_reference(course.plan_path) == InstanceReference(RT_PLAN, course.plan_uid)
    True
    """
    ds = like_dataset(source)
    return InstanceReference(str(require(ds, "SOPClassUID", source)), str(require(ds, "SOPInstanceUID", source)))


@dataclass(frozen=True)
class ImageSeries:
    """The instances of one image series, as references and planes.

    ``instance_uids`` and ``positions_mm`` (ImagePositionPatient, LPS mm, of each image's first
    pixel centre) run in slice order along the normal of ``orientation`` (ImageOrientationPatient);
    ``pixel_spacing_mm`` is (row spacing, column spacing) as in PixelSpacing. ``body_part`` and
    ``laterality`` are the series' BodyPartExamined and Laterality ("" where not stated).
    """

    study_uid: str
    series_uid: str
    frame_uid: str
    sop_class_uid: str
    instance_uids: tuple[str, ...]
    positions_mm: tuple[tuple[float, float, float], ...]
    orientation: tuple[float, ...]
    pixel_spacing_mm: tuple[float, float]
    rows: int
    columns: int
    body_part: str = ""
    laterality: str = ""

    def references(self) -> list[InstanceReference]:
        return [InstanceReference(self.sop_class_uid, uid) for uid in self.instance_uids]

    def reference_items(self) -> list[Dataset]:
        """One Image SOP Instance Reference Macro item per image, in slice order."""
        return [ref.item() for ref in self.references()]

    def pixel_centres(self, index: int, rows: slice = slice(None), columns: slice = slice(None)) -> np.ndarray:
        """LPS positions (rows, columns, 3), mm, of the pixel centres of image ``index`` (or of those rows and columns)."""
        row_dir, col_dir = np.asarray(self.orientation[:3]), np.asarray(self.orientation[3:])
        j = np.arange(self.rows)[rows][:, None, None] * self.pixel_spacing_mm[0]
        i = np.arange(self.columns)[columns][None, :, None] * self.pixel_spacing_mm[1]
        return np.asarray(self.positions_mm[index]) + i * row_dir + j * col_dir


def series_item(series: ImageSeries) -> Dataset:
    """A Series and Instance Reference Macro item: the SeriesInstanceUID and a ReferencedInstanceSequence."""
    item = Dataset()
    item.SeriesInstanceUID = series.series_uid
    item.ReferencedInstanceSequence = series.reference_items()
    return item


def add_common_instance_reference(ds: Dataset, series: Iterable[ImageSeries]) -> None:
    """Fill the Common Instance Reference module (PS3.3 C.12.2) with every image of ``series``.

    Series of ``ds``'s own study go to ReferencedSeriesSequence, those of other studies to
    StudiesContainingOtherReferencedInstancesSequence (one item per study).
    """
    own, others = [], {}
    for s in series:
        if s.study_uid == ds.StudyInstanceUID:
            own.append(series_item(s))
        else:
            others.setdefault(s.study_uid, []).append(series_item(s))
    if own:
        ds.ReferencedSeriesSequence = own
    if others:
        ds.StudiesContainingOtherReferencedInstancesSequence = [Dataset() for _ in others]
        for item, (study, items) in zip(ds.StudiesContainingOtherReferencedInstancesSequence, others.items(), strict=True):
            item.StudyInstanceUID = study
            item.ReferencedSeriesSequence = items


def code_item(value: str, meaning: str, scheme: str = "DCM") -> Dataset:
    """A Code Sequence Macro item (CodeValue, CodingSchemeDesignator, CodeMeaning)."""
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def set_equipment(ds: Dataset, *, enhanced: bool = False) -> None:
    """General Equipment: Manufacturer, model and the installed version (SoftwareVersions).

    ``enhanced`` adds DeviceSerialNumber for the Enhanced General Equipment module, where
    all four attributes are Type 1 (REG objects); software has no serial number, so it is
    ``"0"``.
    """
    ds.Manufacturer = ds.ManufacturerModelName = MANUFACTURER
    ds.SoftwareVersions = __version__
    if enhanced:
        ds.DeviceSerialNumber = "0"
