"""write_structure_set: contours on the images of a CT series, read back by read_structures, dciodvfy."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from io_synthetic import HAVE_DCIODVFY, circle, dciodvfy_errors, in_slice_order, write_ct_series

from accumulate.errors import InputError
from accumulate.io import StructureROI, ct_image_series, read_ct, read_structures, write_structure_set

FRAME = "1.2.3.4.1"


@pytest.fixture
def ct(tmp_path):
    """A 40 x 40 axial CT of 1 mm pixels, slices at z = 10, 12, 14, 16 mm, its first pixel at (-20, -20)."""
    positions = [[-20.0, -20.0, 10.0 + 2.0 * k] for k in range(4)]
    return write_ct_series(tmp_path / "ct", np.zeros((4, 40, 40), np.int16), positions, pixel_spacing=(1.0, 1.0),
                           for_uid=FRAME)  # fmt: skip


def _rois():
    disc = [(k, circle((0.0, 0.0), 8.0, 10.0 + 2.0 * k, points=256)) for k in (1, 2)]
    return [StructureROI("Disc", disc, (255, 0, 255), "AVOIDANCE", "a disc of 8 mm"), StructureROI("Empty", [])]


def test_contours_are_on_their_images_and_read_back(ct, tmp_path):
    series = ct_image_series(ct[0].parent)
    out = write_structure_set(_rois(), tmp_path / "rs.dcm", like=ct[0], images=series, label="test", description="two ROIs",
                              series_number=904)  # fmt: skip
    ds = pydicom.dcmread(out)
    slices = in_slice_order(ct)
    assert ds.Modality == "RTSTRUCT" and ds.SeriesNumber == 904 and ds.SeriesDescription == "two ROIs"
    assert ds.FrameOfReferenceUID == FRAME and ds.StructureSetLabel == "test"
    (frame,) = ds.ReferencedFrameOfReferenceSequence
    series_item = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert series_item.SeriesInstanceUID == slices[0].SeriesInstanceUID
    assert [i.ReferencedSOPInstanceUID for i in series_item.ContourImageSequence] == [s.SOPInstanceUID for s in slices]
    disc, empty = ds.ROIContourSequence
    for contour in disc.ContourSequence:  # each contour names the image whose plane it lies on
        z = float(contour.ContourData[2])
        image = contour.ContourImageSequence[0].ReferencedSOPInstanceUID
        assert float(next(s for s in slices if s.SOPInstanceUID == image).ImagePositionPatient[2]) == pytest.approx(z)
    assert "ContourSequence" not in empty
    names = [(r.ROIName, r.get("ROIDescription")) for r in ds.StructureSetROISequence]
    assert names == [("Disc", "a disc of 8 mm"), ("Empty", None)]
    assert [o.RTROIInterpretedType for o in ds.RTROIObservationsSequence] == ["AVOIDANCE", "ORGAN"]
    assert list(disc.ROIDisplayColor) == [255, 0, 255]
    grid = read_ct(ct[0].parent).grid
    mask = np.asarray(read_structures(out, grid)["Disc"].array)
    areas = mask.sum(axis=(1, 2)) * 1.0  # 1 mm^2 pixels
    assert areas[0] == areas[3] == 0
    np.testing.assert_allclose(areas[1:3], np.pi * 8.0**2, rtol=0.04)


def test_refusals_name_the_problem(ct, tmp_path):
    series = ct_image_series(ct[0].parent)
    other = pydicom.dcmread(ct[0])
    other.FrameOfReferenceUID = "9.9.9"
    with pytest.raises(InputError, match="in frame of reference 9.9.9, the images"):
        write_structure_set(_rois(), tmp_path / "rs.dcm", like=other, images=series, label="x", description="x", series_number=1)
    far = [StructureROI("Far", [(7, circle((0.0, 0.0), 3.0, 24.0))])]
    with pytest.raises(InputError, match=r"ROI 'Far' has contours on image indices \[7\], the series has 4 images"):
        write_structure_set(far, tmp_path / "rs.dcm", like=ct[0], images=series, label="x", description="x", series_number=1)
    assert not (tmp_path / "rs.dcm").exists()


@pytest.mark.skipif(not HAVE_DCIODVFY, reason="dciodvfy (apt install dicom3tools) not found")
def test_structure_set_validates_with_dciodvfy(ct, tmp_path):
    out = write_structure_set(_rois(), tmp_path / "rs.dcm", like=ct[0], images=ct_image_series(ct[0].parent), label="t",
                              description="t", series_number=2)  # fmt: skip
    assert dciodvfy_errors(out) == []
