"""The CTs of the demo case, read back with accumulate.read_ct: grids, tissue values, the two scans."""

from __future__ import annotations

import pydicom
import pytest

# Anatomical points of the reference frame (LPS mm) and the CT numbers the anatomy gives them.
TISSUE_POINTS = {
    "vertebral body centre (bone)": ((0.0, 8.0, -30.0), 700.0),
    "spinal cord centre": ((0.0, 28.0, -30.0), 30.0),
    "air in front of the neck": ((0.0, -100.0, 0.0), -1000.0),
    "middle of the 6 mm anterior fat layer": ((0.0, -52.0, -50.0), -100.0),
    "anterior neck soft tissue": ((0.0, -20.0, -50.0), 40.0),
    "brainstem centre": ((0.0, 24.0, 44.0), 35.0),
    "left parotid centre": ((44.0, 10.0, 22.0), 0.0),
    "right parotid centre": ((-44.0, 10.0, 22.0), 0.0),
}


def test_reference_ct_grid_is_the_test_size_with_the_neck_axis_on_voxel_centres(reference_ct):
    grid = reference_ct.grid
    assert grid.shape == (30, 64, 64)
    assert grid.spacing_mm == pytest.approx((4.0, 4.0, 5.0))
    assert grid.origin_mm == pytest.approx((-128.0, -128.0, -75.0))
    assert grid.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))


@pytest.mark.parametrize("where", list(TISSUE_POINTS))
def test_reference_ct_has_the_tissue_values_at_anatomical_points(reference_ct, where):
    point, hu = TISSUE_POINTS[where]
    assert reference_ct.value_at(point) == pytest.approx(hu, abs=5.0)


def test_prior_ct_is_another_scan_with_thinner_slices_and_its_own_frame(case, reference_ct, prior_ct):
    assert prior_ct.grid.spacing_mm == pytest.approx((4.4, 4.4, 5.5))
    assert prior_ct.grid.shape == (31, 60, 60)
    assert prior_ct.grid.origin_mm != pytest.approx(reference_ct.grid.origin_mm, abs=1.0)
    prior = pydicom.dcmread(sorted(case.prior.folder.glob("CT.*.dcm"))[0], stop_before_pixels=True)
    reirr = pydicom.dcmread(sorted(case.reirradiation.folder.glob("CT.*.dcm"))[0], stop_before_pixels=True)
    assert prior.FrameOfReferenceUID != reirr.FrameOfReferenceUID
    assert prior.StudyInstanceUID != reirr.StudyInstanceUID
    assert (prior.PatientID, str(prior.PatientName)) == (reirr.PatientID, str(reirr.PatientName))
    assert prior.StudyDate < "20210315" < "20240901" < reirr.StudyDate
    assert (prior.BitsAllocated, prior.PixelRepresentation, float(prior.RescaleIntercept)) == (16, 1, -1024.0)


def test_prior_ct_holds_every_reference_body_voxel_once_deformed(reference_ct, reference_masks, prior_ct, true_field):
    moving = true_field.moving_points()[reference_masks["BODY"].array]
    assert prior_ct.grid.contains_world(moving).all()


def test_prior_ct_sampled_through_the_true_field_is_the_reference_ct(reference_ct, reference_masks, prior_ct, true_field, sample):
    """The defining relation prior(p + u(p)) = reference(p), up to trilinear interpolation of 4.4 mm voxels."""
    body = reference_masks["BODY"].array
    reference = reference_ct.array[body]
    through_field = sample(prior_ct, true_field.moving_points()[body])
    without_field = sample(prior_ct, reference_ct.grid.world_coordinates()[body])
    assert abs(through_field - reference).mean() < 30.0
    assert abs(without_field - reference).mean() > 50.0  # the scans differ: the relation is not trivially true
