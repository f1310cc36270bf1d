"""DICOM REG: rigid matrices, deformable grids (DICOM's formula by hand), our writer, dciodvfy."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from io_synthetic import DICOMPYLER, HAVE_DCIODVFY, dciodvfy_errors, rotation_z
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from accumulate.errors import InputError
from accumulate.geometry import DisplacementField, Grid
from accumulate.io import (
    displacement_from_matrix,
    read_deformable_registration,
    read_registration,
    write_deformable_registration,
    write_spatial_registration,
)

CT = DICOMPYLER / "ct.0.dcm"
FIXED, MOVING = "1.2.3.10", "1.2.3.20"


def _reg(sop_class):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, generate_uid(), "REG"
    ds.FrameOfReferenceUID = FIXED
    return ds


def _matrix_item(matrix):
    item = Dataset()
    item.FrameOfReferenceTransformationMatrixType = "RIGID"
    item.FrameOfReferenceTransformationMatrix = [f"{v:.10g}" for v in np.asarray(matrix).reshape(-1)]
    return item


def _rigid_file(path, matrices):
    ds = _reg("1.2.840.10008.5.1.4.1.1.66.1")
    items = []
    for frame, chain in ((FIXED, [np.eye(4)]), (MOVING, matrices)):
        item, registration = Dataset(), Dataset()
        item.FrameOfReferenceUID = frame
        registration.MatrixSequence = [_matrix_item(m) for m in chain]
        item.MatrixRegistrationSequence = [registration]
        items.append(item)
    ds.RegistrationSequence = items
    ds.save_as(path, enforce_file_format=True)
    return path


def test_rigid_registration_matrix_and_chain_order(tmp_path):
    first, second = rotation_z(30, (5, -2, 1)), rotation_z(0, (10, 0, 0))
    np.testing.assert_allclose(read_registration(_rigid_file(tmp_path / "one.dcm", [first])), first, atol=1e-9)
    chained = read_registration(_rigid_file(tmp_path / "two.dcm", [first, second]))
    np.testing.assert_allclose(chained, second @ first, atol=1e-9)  # applied in the order listed
    with pytest.raises(InputError, match="no registration from frame of reference 9.9"):
        read_registration(tmp_path / "one.dcm", source_frame_uid="9.9")
    with pytest.raises(InputError, match="a rigid Spatial Registration, not a deformable one"):
        read_deformable_registration(tmp_path / "one.dcm")


def test_rigid_matrix_as_a_field():
    grid = Grid((2, 3, 4), (1.0, 2.0, 3.0), (2.0, 2.0, 2.0))
    field = displacement_from_matrix(rotation_z(0, (4.0, -1.0, 2.5)), grid)
    # p_registered = p_source + t, so the source (moving) point of p is p - t
    np.testing.assert_allclose(field.array, np.broadcast_to([-4.0, 1.0, -2.5], grid.shape + (3,)))


def _deformable_file(path, grid, vectors, pre, post):
    ds = _reg("1.2.840.10008.5.1.4.1.1.66.3")
    grid_item = Dataset()
    grid_item.ImagePositionPatient = list(grid.origin_mm)
    grid_item.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    grid_item.GridDimensions = list(grid.shape[::-1])
    grid_item.GridResolution = list(grid.spacing_mm)
    grid_item.VectorGridData = vectors.astype("<f4").tobytes()
    item = Dataset()
    item.SourceFrameOfReferenceUID = MOVING
    item.PreDeformationMatrixRegistrationSequence = [_matrix_item(pre)]
    item.PostDeformationMatrixRegistrationSequence = [_matrix_item(post)]
    item.DeformableRegistrationGridSequence = [grid_item]
    ds.DeformableRegistrationSequence = [item]
    ds.save_as(path, enforce_file_format=True)
    return path


def test_deformable_registration_follows_the_dicom_formula(tmp_path):
    grid = Grid((2, 3, 4), (-10.0, 5.0, 20.0), (2.0, 3.0, 4.0))
    vectors = np.random.default_rng(1).normal(size=grid.shape + (3,)).astype(np.float32)
    pre, post = rotation_z(0, (1.0, 2.0, 3.0)), rotation_z(90)
    field = read_registration(_deformable_file(tmp_path / "dr.dcm", grid, vectors, pre, post))
    assert isinstance(field, DisplacementField) and field.grid.is_close(grid)
    # grid point (k, j, i) = (1, 2, 3): p = origin + (3*2, 2*3, 1*4); source = Post (Pre p + D)
    p = np.array([-10.0 + 6.0, 5.0 + 6.0, 20.0 + 4.0])
    shifted = p + [1.0, 2.0, 3.0] + vectors[1, 2, 3]
    source = np.array([-shifted[1], shifted[0], shifted[2]])  # 90 degrees about z
    np.testing.assert_allclose(field.moving_points()[1, 2, 3], source, atol=1e-5)


def _smooth_field(grid):
    z, y, x = np.meshgrid(*grid.axis_coordinates(), indexing="ij")
    return np.stack([np.sin(x / 3), 0.5 * np.cos(y / 2), 0.1 * z], axis=-1)


@pytest.mark.parametrize("flip", [False, True], ids=["right-handed", "left-handed"])
def test_deformable_round_trip(tmp_path, flip):
    direction = np.diag([1.0, 1.0, -1.0]) if flip else np.eye(3)
    grid = Grid((4, 5, 6), (-3.0, 7.0, 11.0), (2.0, 2.5, 3.0), tuple(direction.reshape(-1)))
    field = DisplacementField(_smooth_field(grid), grid)
    out = write_deformable_registration(field, tmp_path / "reg.dcm", fixed_like=CT, moving_frame_uid=MOVING)
    ds = pydicom.dcmread(out)
    ct = pydicom.dcmread(CT, stop_before_pixels=True)
    assert ds.FrameOfReferenceUID == ct.FrameOfReferenceUID and ds.PatientID == ct.PatientID
    assert ds.DeformableRegistrationSequence[0].SourceFrameOfReferenceUID == MOVING
    back = read_deformable_registration(out)
    # the same mapping point by point, whatever order the slices were stored in
    np.testing.assert_allclose(
        np.sort(back.moving_points().reshape(-1, 3), axis=0), np.sort(field.moving_points().reshape(-1, 3), axis=0), atol=1e-5
    )
    if not flip:
        raw = np.frombuffer(ds.DeformableRegistrationSequence[0].DeformableRegistrationGridSequence[0].VectorGridData, "<f4")
        np.testing.assert_allclose(raw[:3], field.array[0, 0, 0], rtol=1e-6)  # first vector = voxel (0, 0, 0)
        np.testing.assert_allclose(back.array, field.array, atol=1e-6)
    else:
        np.testing.assert_allclose(back.array[::-1], field.array, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["reg.dcm"]


def test_deformable_writer_refusals(tmp_path):
    field = DisplacementField.identity(Grid((2, 2, 2)))
    with pytest.raises(InputError, match="moving_frame_uid"):
        write_deformable_registration(field, tmp_path / "r.dcm", fixed_like=CT, moving_frame_uid="")
    with pytest.raises(InputError, match="not a Spatial or Deformable Spatial Registration"):
        read_registration(CT)


@pytest.mark.skipif(not HAVE_DCIODVFY, reason="dciodvfy (apt install dicom3tools) not found")
def test_deformable_registration_validates_with_dciodvfy(tmp_path):
    grid = Grid((3, 4, 5), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    out = write_deformable_registration(
        DisplacementField(_smooth_field(grid), grid), tmp_path / "r.dcm", fixed_like=CT, moving_frame_uid=MOVING
    )
    assert dciodvfy_errors(out) == []


def _rigid_matrix() -> np.ndarray:
    return rotation_z(3.0, translation=(4.0, -2.5, 7.0))


def test_spatial_registration_round_trip_in_both_readers(tmp_path):
    from accumulate.registration import read_rigid_registration

    moving_to_fixed = _rigid_matrix()
    out = write_spatial_registration(moving_to_fixed, tmp_path / "rigid.dcm", fixed_like=CT, moving_frame_uid=MOVING)
    fixed_frame = str(pydicom.dcmread(CT, stop_before_pixels=True).FrameOfReferenceUID)
    np.testing.assert_allclose(read_registration(out, source_frame_uid=MOVING), moving_to_fixed, atol=1e-9)
    np.testing.assert_allclose(read_registration(out, source_frame_uid=fixed_frame), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(
        read_rigid_registration(out, fixed_frame=fixed_frame, moving_frame=MOVING), moving_to_fixed, atol=1e-9
    )
    with pytest.raises(InputError, match="moving_frame_uid"):
        write_spatial_registration(moving_to_fixed, tmp_path / "r.dcm", fixed_like=CT, moving_frame_uid="")


@pytest.mark.skipif(not HAVE_DCIODVFY, reason="dciodvfy (apt install dicom3tools) not found")
def test_spatial_registration_validates_with_dciodvfy(tmp_path):
    out = write_spatial_registration(_rigid_matrix(), tmp_path / "r.dcm", fixed_like=CT, moving_frame_uid=MOVING)
    assert dciodvfy_errors(out) == []
