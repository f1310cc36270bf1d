"""DICOM REG: rigid matrices, deformable grids (DICOM's formula by hand), our writer, dciodvfy."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from io_synthetic import CT_CLASS, DICOMPYLER, HAVE_DCIODVFY, axial_ct, dciodvfy_errors, in_slice_order, rotation_z
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from accumulate.errors import InputError
from accumulate.geometry import DisplacementField, Grid
from accumulate.io import (
    IMAGE_CONTENT_BASED,
    ct_image_series,
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


@pytest.fixture
def two_cts(tmp_path):
    """Fixed and moving CT series in frames FIXED and MOVING and in two studies (the courses of two years)."""
    fixed = axial_ct(tmp_path / "fixed", for_uid=FIXED, study_uid="1.2.3.4.100", extra={"BodyPartExamined": "HEADNECK"})
    moving = axial_ct(tmp_path / "moving", for_uid=MOVING, study_uid="1.2.3.4.200", slices=3)
    return fixed, moving


def _write(kind, path, fixed_files, moving_files, **options):
    fixed_images, moving_images = ct_image_series(fixed_files[0].parent), ct_image_series(moving_files[0].parent)
    common = dict(fixed_like=fixed_files[0], moving_frame_uid=MOVING, fixed_images=fixed_images, moving_images=moving_images)
    if kind == "deformable":
        grid = Grid((3, 4, 5), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
        return write_deformable_registration(DisplacementField(_smooth_field(grid), grid), path, **common, **options)
    return write_spatial_registration(_rigid_matrix(), path, **common, **options)


def _image_refs(items):
    return [(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID) for i in items]


def _uids(files):
    return [(CT_CLASS, str(ds.SOPInstanceUID)) for ds in in_slice_order(files)]


@pytest.mark.parametrize("kind", ["deformable", "rigid"])
def test_registration_references_the_images_of_both_frames(two_cts, tmp_path, kind):
    from importlib.metadata import version

    fixed, moving = two_cts
    ds = pydicom.dcmread(_write(kind, tmp_path / "reg.dcm", fixed, moving, method=IMAGE_CONTENT_BASED, series_number=42))
    if kind == "deformable":
        (item,) = ds.DeformableRegistrationSequence
        assert item.SourceFrameOfReferenceUID == MOVING and _image_refs(item.ReferencedImageSequence) == _uids(moving)
        assert item.RegistrationTypeCodeSequence[0].CodeValue == "125024"  # image content-based
    else:
        by_frame = {item.FrameOfReferenceUID: item for item in ds.RegistrationSequence}
        assert _image_refs(by_frame[FIXED].ReferencedImageSequence) == _uids(fixed)
        assert _image_refs(by_frame[MOVING].ReferencedImageSequence) == _uids(moving)
        codes = {frame: item.MatrixRegistrationSequence[0].RegistrationTypeCodeSequence[0].CodeValue
                 for frame, item in by_frame.items()}  # fmt: skip
        assert codes == {FIXED: "125021", MOVING: "125024"}  # the fixed frame's identity; image content-based
    # Common Instance Reference: the REG is in the fixed course's study; the moving series is in another study
    assert ds.StudyInstanceUID == "1.2.3.4.100" and ds.FrameOfReferenceUID == FIXED
    (own,) = ds.ReferencedSeriesSequence
    assert own.SeriesInstanceUID == in_slice_order(fixed)[0].SeriesInstanceUID
    assert _image_refs(own.ReferencedInstanceSequence) == _uids(fixed)
    (other,) = ds.StudiesContainingOtherReferencedInstancesSequence
    assert other.StudyInstanceUID == "1.2.3.4.200"
    assert _image_refs(other.ReferencedSeriesSequence[0].ReferencedInstanceSequence) == _uids(moving)
    # General Series / Enhanced General Equipment
    assert "Laterality" not in ds and ds.BodyPartExamined == "HEADNECK"  # an unpaired body part: no Laterality at all
    assert ds.SeriesNumber == 42 and ds.Manufacturer == "accumulate" and ds.SoftwareVersions == version("accumulate-rt")


@pytest.mark.skipif(not HAVE_DCIODVFY, reason="dciodvfy (apt install dicom3tools) not found")
@pytest.mark.parametrize("kind", ["deformable", "rigid"])
def test_registration_validates_with_dciodvfy(two_cts, tmp_path, kind):
    assert dciodvfy_errors(_write(kind, tmp_path / "reg.dcm", *two_cts)) == []


@pytest.mark.skipif(not HAVE_DCIODVFY, reason="dciodvfy (apt install dicom3tools) not found")
def test_a_paired_body_part_keeps_its_laterality(tmp_path):
    fixed = axial_ct(tmp_path / "fixed", for_uid=FIXED, study_uid="1.2.3.4.100",
                     extra={"BodyPartExamined": "BREAST", "Laterality": "L"})  # fmt: skip
    moving = axial_ct(tmp_path / "moving", for_uid=MOVING, study_uid="1.2.3.4.200")
    out = _write("deformable", tmp_path / "reg.dcm", fixed, moving)
    ds = pydicom.dcmread(out)
    assert (ds.BodyPartExamined, ds.Laterality) == ("BREAST", "L")
    assert dciodvfy_errors(out) == []


def test_images_of_another_frame_are_refused(two_cts, tmp_path):
    fixed, moving = two_cts
    with pytest.raises(InputError, match=r"the moving images \(series .*\) are in frame of reference 1.2.3.10, not the moving"):
        write_deformable_registration(DisplacementField.identity(Grid((2, 2, 2))), tmp_path / "r.dcm", fixed_like=fixed[0],
                                      moving_frame_uid=MOVING, moving_images=ct_image_series(fixed[0].parent))  # fmt: skip
