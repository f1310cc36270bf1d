"""CT series from a folder: sort along the slice normal, rescale to HU, check the geometry."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydicom.dataset import Dataset

from ..errors import GeometryError, InputError
from ..geometry import Volume
from ._dicom import (
    ImageSeries,
    NotDicom,
    PathLike,
    file_errors,
    number,
    numbers,
    plane_axes,
    plane_grid,
    read_dataset,
    require,
    whole,
)
from ._itkio import is_itk_path, read_itk_volume
from ._stack import MissingSlicesError, even_step, resample_even
from .uids import CT_IMAGE, ENHANCED_CT_IMAGE

log = logging.getLogger(__name__)

_TILT_TOLERANCE_DEG = 0.05


@dataclass(frozen=True)
class _Slice:
    path: Path
    header: Dataset
    position: float


def scan_folder(folder: PathLike) -> tuple[list[tuple[Path, Dataset]], list[Path]]:
    """Headers of the DICOM files directly in ``folder`` (sorted by name) and the files that are not DICOM.

    A file that looks like DICOM but cannot be read (empty, truncated, corrupt) is an InputError
    naming it: a CT series with an unreadable slice must not shrink silently.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; pass the folder that holds the exported files")
    found, skipped, unreadable = [], [], []
    for path in sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            found.append((path, read_dataset(path, stop_before_pixels=True)))
        except NotDicom:
            skipped.append(path)
        except InputError as exc:
            unreadable.append(str(exc))
    if unreadable:
        raise InputError(f"{root}: {len(unreadable)} file(s) cannot be read:\n  " + "\n  ".join(unreadable))
    return found, skipped


def ct_series(folder: Path, series_uid: str | None) -> list[tuple[Path, Dataset]]:
    found, skipped = scan_folder(folder)
    if skipped:
        log.info("%s: %d files are not DICOM and were skipped (%s ...)", folder, len(skipped), skipped[0].name)
    cts = [
        (p, ds) for p, ds in found if ds.get("SOPClassUID") == CT_IMAGE or (ds.get("Modality") == "CT" and "PixelSpacing" in ds)
    ]
    if not cts:
        enhanced = [p.name for p, ds in found if ds.get("SOPClassUID") == ENHANCED_CT_IMAGE]
        if enhanced:
            raise InputError(
                f"{folder}: holds Enhanced (multi-frame) CT {enhanced[:3]}; export classic single-frame CT Image Storage"
            )
        modalities = sorted({str(ds.get("Modality")) for _, ds in found})
        raise InputError(
            f"{folder}: no CT image files found ({len(found)} DICOM files with modalities {modalities}, "
            f"{len(skipped)} other files)"
        )
    by_series: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for path, ds in cts:
        by_series[str(ds.get("SeriesInstanceUID", ""))].append((path, ds))
    if series_uid is not None:
        if series_uid not in by_series:
            raise InputError(f"{folder}: no CT series with SeriesInstanceUID {series_uid}; found {sorted(by_series)}")
        return by_series[series_uid]
    if len(by_series) > 1:
        listing = "; ".join(
            f"{uid} ({len(files)} slices, '{files[0][1].get('SeriesDescription', '')}')" for uid, files in by_series.items()
        )
        raise InputError(f"{folder}: mixed CT series in one folder: {listing}; pass series_uid=... or split the folder")
    return next(iter(by_series.values()))


def _check_consistent(files: list[tuple[Path, Dataset]], folder: Path) -> None:
    for keyword in ("FrameOfReferenceUID", "PatientID", "Rows", "Columns"):
        values = {str(ds.get(keyword)) for _, ds in files}
        if len(values) > 1:
            raise InputError(f"{folder}: CT slices disagree on {keyword} ({sorted(values)}); the series is mixed or corrupt")
    first_path, first = files[0]
    iop0 = numbers(first, "ImageOrientationPatient", first_path, count=6)
    ps0 = numbers(first, "PixelSpacing", first_path, count=2, positive=True)
    for path, ds in files:  # every slice's geometry attributes must be readable numbers
        for keyword in ("Rows", "Columns"):
            whole(ds, keyword, path)
        numbers(ds, "ImagePositionPatient", path, count=3)
    for path, ds in files[1:]:
        if not np.allclose(numbers(ds, "ImageOrientationPatient", path, count=6), iop0, atol=1e-4):
            raise GeometryError(
                f"{path}: ImageOrientationPatient differs from {first_path.name}; slices of one volume must be parallel"
            )
        if not np.allclose(numbers(ds, "PixelSpacing", path, count=2), ps0, atol=1e-4):
            raise GeometryError(f"{path}: PixelSpacing differs from {first_path.name}; the series is mixed")


def _check_tilt(slices: list[_Slice], normal: np.ndarray, folder: Path) -> None:
    tilts = {number(s.header, "GantryDetectorTilt", s.path, default=0.0) for s in slices}
    stated = max(tilts, key=abs)
    ipp = np.asarray([numbers(s.header, "ImagePositionPatient", s.path, count=3) for s in slices])
    stack = ipp - ipp[0]
    along = stack @ normal
    lateral = np.linalg.norm(stack - along[:, None] * normal, axis=1)
    extent = float(np.abs(along).max())
    angle = float(np.degrees(np.arctan2(lateral.max(), extent))) if extent > 0 else 0.0
    if angle > _TILT_TOLERANCE_DEG:  # a stated tilt whose slices stack along the normal is a valid grid
        raise GeometryError(
            f"{folder}: gantry-tilted CT (GantryDetectorTilt {stated:g} deg, slices sheared by {angle:.2f} deg from the "
            "slice normal); the slices do not form a rectangular grid. Resample to an untilted volume first "
            "(e.g. in the planning system, or dcm2niix's tilt correction) and export that"
        )


@file_errors
def read_ct(
    folder: PathLike, *, series_uid: str | None = None, uneven_spacing: Literal["refuse", "resample"] = "refuse"
) -> Volume:
    """Read a CT series from the DICOM files in ``folder`` (in any order) as Hounsfield units.

    ``folder`` may instead be an MHA/NRRD/NIfTI file (values taken as HU, geometry in LPS).

    Slices are sorted by their position along the slice normal (ImagePositionPatient projected
    on the cross product of the ImageOrientationPatient vectors), not by file name or
    InstanceNumber, and each is rescaled with its RescaleSlope/RescaleIntercept. Any
    orientation (axial, sagittal, coronal, oblique) is kept in the grid's direction matrix.
    Files that are not DICOM, and DICOM files that are not CT images, are skipped.

    Parameters
    ----------
    folder : path
        Folder holding the series (not searched recursively).
    series_uid : str, optional
        Which series to read when the folder holds several.
    uneven_spacing : {"refuse", "resample"}
        Unevenly spaced slices raise :class:`GeometryError` (default), or are linearly
        interpolated along the normal onto the smallest gap (``"resample"``). Missing slices
        (gaps that are whole multiples of the usual spacing) are always refused.

    Returns
    -------
    Volume
        ``quantity="hu"``, ``unit="HU"``, float32 array (z, y, x); z runs along the slice normal.

    Raises
    ------
    InputError
        No CT in the folder, several series, duplicated slices, inconsistent headers.
    GeometryError
        Missing slices (with their positions), uneven spacing, gantry tilt.

    Examples
    --------
    >>> case = demo_case()  # the built-in test case's exports (see accumulate.phantom.write_demo_case)
    >>> ct = read_ct(case.reirradiation.folder)
    >>> ct.quantity, ct.unit, ct.grid == case.reirradiation.ct_grid
    ('hu', 'HU', True)
    """
    root = Path(folder)
    if root.is_file() and is_itk_path(root):
        volume = read_itk_volume(root, quantity="hu", unit="HU")
        return volume.with_array(volume.array.astype(np.float32))
    slices, axes = _sorted_slices(root, series_uid)
    first_path, first = slices[0].path, slices[0].header
    _check_tilt(slices, axes[:, 2], root)
    positions = np.asarray([s.position for s in slices])
    stack = np.stack([_hu_pixels(s.path) for s in slices])
    if len(slices) == 1:
        step = number(first, "SpacingBetweenSlices", first_path, default=number(first, "SliceThickness", first_path, default=1.0))
    elif uneven_spacing == "resample":
        try:
            step = even_step(positions, str(root))
        except MissingSlicesError:
            raise
        except GeometryError as exc:
            log.warning("%s; resampling onto even spacing", exc)
            stack, step = resample_even(stack, positions)
    elif uneven_spacing == "refuse":
        step = even_step(positions, str(root))
    else:
        raise InputError(f"uneven_spacing must be 'refuse' or 'resample', got {uneven_spacing!r}")
    origin = numbers(slices[0].header, "ImagePositionPatient", slices[0].path, count=3)
    spacing = numbers(first, "PixelSpacing", first_path, count=2, positive=True)
    rows, columns = whole(first, "Rows", first_path), whole(first, "Columns", first_path)
    grid = plane_grid(origin, axes, spacing, rows, columns, stack.shape[0], step)
    return Volume(stack, grid, "hu", "HU")


def _sorted_slices(root: Path, series_uid: str | None) -> tuple[list[_Slice], np.ndarray]:
    """The CT slices of ``root`` sorted along their normal (duplicates refused), and the plane axes."""
    files = ct_series(root, series_uid)
    _check_consistent(files, root)
    first_path, first = files[0]
    axes = plane_axes(numbers(first, "ImageOrientationPatient", first_path, count=6), first_path)
    slices = []
    for path, ds in files:
        ipp = numbers(ds, "ImagePositionPatient", path, count=3)
        slices.append(_Slice(path, ds, float(ipp @ axes[:, 2])))
    slices.sort(key=lambda s: s.position)
    for a, b in zip(slices, slices[1:], strict=False):
        if abs(b.position - a.position) < 1e-3:
            raise InputError(
                f"{root}: duplicated slice at {a.position:.3f} mm along the normal: {a.path.name} and {b.path.name}; "
                "remove one of them"
            )
    return slices, axes


@file_errors
def ct_image_series(folder: PathLike, *, series_uid: str | None = None) -> ImageSeries:
    """The images of the CT series in ``folder`` as an :class:`ImageSeries` (for references), without pixels.

    The slices are chosen and sorted as :func:`read_ct` does (``series_uid`` when the folder
    holds several series), so ``instance_uids[k]`` is slice ``k`` of the volume it returns
    (unless it resampled uneven slices).

    Parameters
    ----------
    folder : path
        Folder holding the series.
    series_uid : str, optional
        Which series, when the folder holds several.

    Returns
    -------
    ImageSeries

    Raises
    ------
    InputError, GeometryError
        As :func:`read_ct`.

    Examples
    --------
    >>> course = demo_case().reirradiation  # the built-in test case
    >>> len(ct_image_series(course.folder).instance_uids) == course.ct_grid.shape[0]
    True
    """
    root = Path(folder)
    slices, _ = _sorted_slices(root, series_uid)
    first_path, first = slices[0].path, slices[0].header
    spacing = numbers(first, "PixelSpacing", first_path, count=2, positive=True)
    return ImageSeries(
        study_uid=str(require(first, "StudyInstanceUID", first_path)),
        series_uid=str(require(first, "SeriesInstanceUID", first_path)),
        frame_uid=str(require(first, "FrameOfReferenceUID", first_path)),
        sop_class_uid=str(first.get("SOPClassUID") or CT_IMAGE),
        instance_uids=tuple(str(require(s.header, "SOPInstanceUID", s.path)) for s in slices),
        positions_mm=tuple(tuple(float(v) for v in numbers(s.header, "ImagePositionPatient", s.path, count=3)) for s in slices),
        orientation=tuple(float(v) for v in numbers(first, "ImageOrientationPatient", first_path, count=6)),
        pixel_spacing_mm=(float(spacing[0]), float(spacing[1])),
        rows=whole(first, "Rows", first_path),
        columns=whole(first, "Columns", first_path),
        body_part=str(first.get("BodyPartExamined") or ""),
        laterality=str(first.get("Laterality") or ""),
    )


def _hu_pixels(path: Path) -> np.ndarray:
    ds = read_dataset(path)
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        raise InputError(f"{path}: cannot decode the pixel data ({type(exc).__name__}: {exc})") from exc
    if pixels.ndim != 2:
        raise InputError(f"{path}: expected one 2-D CT slice, got pixel data of shape {pixels.shape}")
    slope = number(ds, "RescaleSlope", path, default=1.0)
    intercept = number(ds, "RescaleIntercept", path, default=0.0)
    if slope == 0:
        raise InputError(f"{path}: RescaleSlope is 0; the slice's HU cannot be computed")
    return (pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)
