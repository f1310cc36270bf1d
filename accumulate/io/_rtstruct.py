"""RTSTRUCT -> closed planar contours (LPS mm) per ROI, or masks on any Grid."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from ..errors import GeometryError, InputError
from ..geometry import Grid, Volume
from ..names import find_structure
from ._dicom import PathLike, file_errors, read_dataset, whole
from ._dicom import frame_of_reference_uid as frame_of
from ._raster import rasterise

log = logging.getLogger(__name__)


@dataclass
class Roi:
    """One ROI of a structure set: its closed planar contours (LPS mm) and the other geometric types seen."""

    number: int
    name: str
    contours: list[np.ndarray] = field(default_factory=list)
    other_types: set[str] = field(default_factory=set)


def _contour_points(contour: Dataset, path: PathLike, roi: str) -> np.ndarray:
    """ContourData as floats; parsed straight from the raw bytes when possible (pydicom's DS objects are slow)."""
    if "ContourData" not in contour:
        return np.zeros(0)
    raw = contour.get_item("ContourData").value
    try:
        if isinstance(raw, bytes):
            text = raw.decode("ascii", errors="replace").strip(" \x00")
            points = np.asarray(text.split("\\"), dtype=float) if text else np.zeros(0)
        else:
            points = np.asarray(contour.ContourData, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{path}: ContourData of ROI {roi} holds values that are not numbers") from None
    if not np.all(np.isfinite(points)):
        raise InputError(f"{path}: ContourData of ROI {roi} holds NaN or infinite coordinates")
    return points


def parse_rois(ds: Dataset, path: PathLike) -> dict[str, Roi]:
    """ROIs by name (a repeated name gets ``" #<ROINumber>"`` appended), in StructureSetROISequence order."""
    if ds.get("Modality") != "RTSTRUCT" or "StructureSetROISequence" not in ds:
        raise InputError(f"{path}: not an RT Structure Set (Modality {ds.get('Modality')!r})")
    by_number: dict[int, Roi] = {}
    rois: dict[str, Roi] = {}
    for item in ds.StructureSetROISequence:
        number = whole(item, "ROINumber", path, minimum=0)
        name = str(item.get("ROIName", "")).strip() or f"ROI {number}"
        if name in rois:
            name = f"{name} #{number}"
        roi = Roi(number, name)
        rois[name] = by_number[roi.number] = roi
    for item in ds.get("ROIContourSequence", []):
        number = whole(item, "ReferencedROINumber", path, minimum=0)
        roi = by_number.get(number)
        if roi is None:
            log.warning("%s: contours for undeclared ROI number %s ignored", path, number)
            continue
        for contour in item.get("ContourSequence", []):
            kind = str(contour.get("ContourGeometricType", "")).upper()
            points = _contour_points(contour, path, roi.name)
            if kind == "CLOSED_PLANAR" and points.size >= 9 and points.size % 3 == 0:
                roi.contours.append(points.reshape(-1, 3))
            else:
                roi.other_types.add(kind or "EMPTY")
    return rois


def _select(rois: dict[str, Roi], names: Iterable[str] | None, path: PathLike) -> dict[str, Roi]:
    if names is None:
        chosen = {name: roi for name, roi in rois.items() if roi.contours}
        skipped = [name for name, roi in rois.items() if not roi.contours]
        if skipped:
            log.info("%s: ROIs without closed contours skipped: %s", path, skipped)
        return chosen
    chosen = {}
    for wanted in names:
        try:
            roi = rois[find_structure(rois, wanted)]
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
        if not roi.contours:
            kinds = sorted(roi.other_types) or ["no contours"]
            raise InputError(f"{path}: ROI {roi.name!r} has {kinds} geometry but no closed planar contours; it is not a volume")
        chosen[wanted] = roi
    return chosen


def _chosen_rois(rtstruct_path: PathLike, names: Iterable[str] | None, frame_of_reference_uid: str | None) -> dict[str, Roi]:
    path = Path(rtstruct_path)
    ds = read_dataset(path, stop_before_pixels=True)
    rois = parse_rois(ds, path)
    own_frame = frame_of(ds)
    if frame_of_reference_uid is not None and own_frame is not None and own_frame != frame_of_reference_uid:
        raise GeometryError(
            f"{path}: the structure set is in frame of reference {own_frame}, the grid in {frame_of_reference_uid}; "
            "register the courses and map the structures, or use the structure set of this CT"
        )
    return _select(rois, names, path)


@file_errors
def read_contours(
    rtstruct_path: PathLike,
    *,
    names: Iterable[str] | None = None,
    frame_of_reference_uid: str | None = None,
) -> dict[str, list[np.ndarray]]:
    """The closed planar contours of the ROIs of an RTSTRUCT, as they are stored.

    Parameters
    ----------
    rtstruct_path : path
        The RT Structure Set file.
    names : iterable of str, optional
        Only these structures (matched through the synonym table, keyed by these names); by
        default every ROI with closed contours, keyed by ROIName (as :func:`read_structures`).
    frame_of_reference_uid : str, optional
        The frame the caller works in; a structure set in another frame is refused.

    Returns
    -------
    dict of str to list of (n, 3) float arrays
        Each contour's vertices in LPS mm (x, y, z), in file order, not repeated at the end.
        Sample them with :func:`accumulate.evaluation.sample_structure`.

    Raises
    ------
    InputError
        As :func:`read_structures`.

    Examples
    --------
    >>> course = demo_case().reirradiation
    >>> contours = read_contours(course.structures_path, names=["SpinalCord"])["SpinalCord"]
    >>> contours[0].shape[1], len(contours) > 1
    (3, True)
    """
    chosen = _chosen_rois(rtstruct_path, names, frame_of_reference_uid)
    return {key: [c.copy() for c in roi.contours] for key, roi in chosen.items()}


@file_errors
def read_structures(
    rtstruct_path: PathLike,
    grid: Grid,
    *,
    names: Iterable[str] | None = None,
    partial_volume: bool = False,
    subsamples: int = 4,
    frame_of_reference_uid: str | None = None,
) -> dict[str, Volume]:
    """Rasterise the closed planar ROIs of an RTSTRUCT onto ``grid``.

    Rules (see :mod:`accumulate.io._raster`): even-odd fill of all the contours of a plane
    (holes, several islands); a plane's contours fill the grid slices within half the ROI's
    plane spacing of it, other grid slices stay empty; parts outside the grid are cut off.

    Parameters
    ----------
    rtstruct_path : path
        The RT Structure Set file.
    grid : Grid
        Target grid (a CT or dose grid); its slices must be parallel to the contour planes.
    names : iterable of str, optional
        Only these structures, matched case-insensitively through the synonym table; the
        returned keys are then these names. By default every ROI with closed contours (POINT
        and empty ROIs are skipped), keyed by ROIName.
    partial_volume : bool
        Return the fraction (float32, 0..1) of ``subsamples**3`` sub-voxels inside instead of a
        boolean mask of voxel centres (for small organs such as the optic nerves).
    subsamples : int
        Sub-voxels per axis in partial-volume mode.
    frame_of_reference_uid : str, optional
        The grid's frame of reference; a structure set in another frame is refused.

    Returns
    -------
    dict of str to Volume
        ``quantity="mask"``, ``unit="1"``; bool or float32 arrays (z, y, x).

    Raises
    ------
    InputError
        Not a structure set, a name asked for that it lacks (or matches twice), a structure set in
        another frame of reference.
    GeometryError
        Contour planes not parallel to the grid's slices.

    Examples
    --------
    >>> course = demo_case().reirradiation
    >>> masks = read_structures(course.structures_path, course.ct_grid, names=["SpinalCord"])
    >>> mask = masks["SpinalCord"]
    >>> mask.array.dtype, mask.grid == course.ct_grid, bool(mask.array.any())
    (dtype('bool'), True, True)
    """
    path = Path(rtstruct_path)
    chosen = _chosen_rois(path, names, frame_of_reference_uid)
    steps = subsamples if partial_volume else 1
    return {
        key: Volume(rasterise(roi.contours, grid, subsamples=steps, what=f"{path} ROI {roi.name!r}"), grid, "mask", "1")
        for key, roi in chosen.items()
    }
