"""RT Structure Set out: closed planar contours on the images of a CT series, with new UIDs.

The Structure Set, ROI Contour and RT ROI Observations modules are filled by
:func:`fill_structure_set`, shared by :func:`write_structure_set` (a structure set derived by a
run, e.g. the remaining dose's avoidance regions) and the demo case's own structure sets.
Contours lie on image planes and name their image (ContourImageSequence), as planning systems
expect of an importable structure set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from ..atomic import atomic_path
from ..errors import InputError
from ._dicom import (
    ImageSeries,
    InstanceReference,
    PathLike,
    frame_of_reference_uid,
    like_dataset,
    new_series_dataset,
    now_date_time,
    set_equipment,
)
from .uids import CT_IMAGE, DETACHED_STUDY_MANAGEMENT, RT_STRUCT

_CONTOUR_DATA = Tag("ContourData")
#: Detached Study Management SOP Class (retired), the class planning systems put in RTReferencedStudySequence.


@dataclass(frozen=True)
class StructureROI:
    """One ROI to write.

    Parameters
    ----------
    name : str
        ROIName (64 characters at most).
    planes : sequence of (int, ndarray (n, 3))
        Closed polygons, LPS mm, each with the index of the image (in the series' slice order)
        whose plane it lies on. An ROI without planes is written without contours.
    colour : (r, g, b)
        ROIDisplayColor, 0-255.
    interpreted_type : str
        RTROIInterpretedType: ``"EXTERNAL"``, ``"PTV"``, ``"ORGAN"``, ``"AVOIDANCE"``, ``"CONTROL"``...
    description : str
        ROIDescription (what the region is, in words; omitted when empty).
    """

    name: str
    planes: Sequence[tuple[int, np.ndarray]]
    colour: tuple[int, int, int] = (255, 0, 0)
    interpreted_type: str = "ORGAN"
    description: str = ""


def fill_structure_set(
    ds: Dataset,
    rois: Sequence[StructureROI],
    *,
    frame_uid: str,
    study_uid: str,
    series_uid: str,
    image_uids: Sequence[str],
    label: str,
    date: str,
    time: str,
    image_class: str = CT_IMAGE,
) -> None:
    """The Frame of Reference, Structure Set, ROI Contour and RT ROI Observations modules of ``ds``.

    ``image_uids`` are the SOP Instance UIDs of the series ``series_uid`` (study ``study_uid``,
    frame ``frame_uid``) in slice order; the referenced frame lists them all, each contour its own.

    Parameters
    ----------
    ds : pydicom.Dataset
        The RT Structure Set being made (filled in place).
    rois : sequence of StructureROI
    frame_uid, study_uid, series_uid : str
        Of the image series the contours lie on.
    image_uids : sequence of str
        Its images in slice order.
    label : str
        StructureSetLabel (16 characters at most).
    date, time : str
        StructureSetDate and StructureSetTime (DA, TM).
    image_class : str
        SOP Class UID of the images.

    Examples
    --------
    See :func:`write_structure_set`.
    """
    images = [InstanceReference(image_class, uid) for uid in image_uids]
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame_uid, ""
    ds.StructureSetLabel = label[:16]
    ds.StructureSetDate, ds.StructureSetTime = date, time
    series = Dataset()
    series.SeriesInstanceUID = series_uid
    series.ContourImageSequence = [ref.item() for ref in images]
    study = InstanceReference(DETACHED_STUDY_MANAGEMENT, study_uid).item()
    study.RTReferencedSeriesSequence = [series]
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_uid
    frame.RTReferencedStudySequence = [study]
    ds.ReferencedFrameOfReferenceSequence = [frame]
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = [], [], []
    for number, roi in enumerate(rois, start=1):
        declared = Dataset()
        declared.ROINumber, declared.ReferencedFrameOfReferenceUID, declared.ROIName = number, frame_uid, roi.name[:64]
        if roi.description:
            declared.ROIDescription = roi.description
        declared.ROIGenerationAlgorithm = "AUTOMATIC"
        ds.StructureSetROISequence.append(declared)
        item = Dataset()
        item.ROIDisplayColor = list(roi.colour)
        item.ReferencedROINumber = number
        if roi.planes:
            item.ContourSequence = [_contour(images[k], polygon) for k, polygon in roi.planes]
        ds.ROIContourSequence.append(item)
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = number, number
        observation.RTROIInterpretedType, observation.ROIInterpreter = roi.interpreted_type, ""
        ds.RTROIObservationsSequence.append(observation)


def _contour(image: InstanceReference, polygon: np.ndarray) -> Dataset:
    contour = Dataset()
    contour.ContourImageSequence = [image.item()]
    contour.ContourGeometricType = "CLOSED_PLANAR"
    contour.NumberOfContourPoints = len(polygon)
    text = "\\".join(f"{v:.3f}" for v in np.asarray(polygon, dtype=float).reshape(-1)).encode("ascii")
    text += b" " * (len(text) % 2)  # even length, DICOM's padding for text values
    # a raw element: written as it is, instead of pydicom validating thousands of DS values one by one
    contour[_CONTOUR_DATA] = RawDataElement(_CONTOUR_DATA, "DS", len(text), text, 0, False, True)
    contour.set_original_encoding(False, True, "iso8859")  # the file's encoding: pydicom then keeps the raw value
    return contour


def write_structure_set(
    rois: Sequence[StructureROI],
    path: PathLike,
    *,
    like: PathLike | Dataset,
    images: ImageSeries,
    label: str,
    description: str,
    series_number: int,
) -> Path:
    """Write an RT Structure Set of ``rois`` on ``images``, atomically, with new Series and SOP Instance UIDs.

    Parameters
    ----------
    rois : sequence of StructureROI
        Contours on the planes of ``images`` (indices into its slice order).
    path : path
        Destination ``.dcm``.
    like : path or Dataset
        A file of the course (RTDOSE, CT...): Patient and Study modules; its frame of reference
        must be that of ``images``.
    images : ImageSeries
        The CT series the contours lie on (:func:`accumulate.io.ct_image_series`).
    label, description : str
        StructureSetLabel (16 characters at most) and SeriesDescription (64).
    series_number : int
        SeriesNumber of the new series.

    Returns
    -------
    path : Path
        The file written (complete, or not at all).

    Raises
    ------
    InputError
        ``like`` in another frame of reference than ``images``, contours on image indices the
        series does not have.

    Examples
    --------
    A square along voxel boundaries (3 x 3 voxels) on the middle CT slice, read back onto the CT grid:

    >>> from accumulate import read_structures
    >>> from accumulate.io import ct_image_series
    >>> course = demo_case().reirradiation
    >>> grid, k = course.ct_grid, course.ct_grid.shape[0] // 2
    >>> corners = grid.world_from_index(np.array([[k, 9.5, 9.5], [k, 9.5, 12.5], [k, 12.5, 12.5], [k, 12.5, 9.5]]))
    >>> roi = StructureROI("Box", [(k, corners)])
    >>> path = write_structure_set([roi], scratch / "RS.dcm", like=course.dose_path,
    ...                            images=ct_image_series(course.folder), label="boxes", description="example",
    ...                            series_number=950)
    >>> int(read_structures(path, grid)["Box"].array.sum())  # the voxel centres 10, 11, 12 along x and y
    9
    """
    like_ds = like_dataset(like)
    frame = frame_of_reference_uid(like_ds)
    if frame != images.frame_uid:
        raise InputError(
            f"write_structure_set: {like} is in frame of reference {frame}, the images (series {images.series_uid}) in "
            f"{images.frame_uid}; pass a file of the course the images belong to"
        )
    for roi in rois:
        outside = [k for k, _ in roi.planes if not 0 <= k < len(images.instance_uids)]
        if outside:
            raise InputError(f"write_structure_set: ROI '{roi.name}' has contours on image indices {outside[:5]}, "
                             f"the series has {len(images.instance_uids)} images")  # fmt: skip
    ds = new_series_dataset(RT_STRUCT, "RTSTRUCT", like_ds, series_number)
    ds.InstanceNumber = 1
    ds.SeriesDescription = description[:64]
    ds.OperatorsName = ""
    set_equipment(ds)
    date, time = now_date_time()
    fill_structure_set(ds, rois, frame_uid=images.frame_uid, study_uid=images.study_uid, series_uid=images.series_uid,
                       image_uids=images.instance_uids, label=label, date=date, time=time,
                       image_class=images.sop_class_uid)  # fmt: skip
    with atomic_path(path) as temp:
        pydicom.dcmwrite(temp, ds, enforce_file_format=True)
    return Path(path)
