"""Field files: exact round trips, refusal of fields on another grid, clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate import DisplacementField, GeometryError, Grid, InputError, Volume
from accumulate.registration import read_field, resample_field, uncovered_voxels, write_field

OBLIQUE = Grid((5, 6, 7), origin_mm=(-12.5, 40.0, 7.25), spacing_mm=(1.5, 2.0, 3.0), direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))


def random_field(grid: Grid, dtype=np.float32) -> DisplacementField:
    return DisplacementField(np.random.default_rng(3).normal(scale=4.0, size=grid.shape + (3,)).astype(dtype), grid)


@pytest.mark.parametrize("suffix", [".mha", ".nrrd", ".nii.gz"])
def test_round_trip_keeps_vectors_and_geometry(tmp_path, suffix):
    field = random_field(OBLIQUE)
    back = read_field(write_field(field, tmp_path / f"dvf{suffix}"), fixed_grid=OBLIQUE)
    assert back.grid.is_close(OBLIQUE, atol_mm=1e-6)
    np.testing.assert_array_equal(back.array, field.array)


def test_mha_file_holds_the_itk_convention(tmp_path):
    # independent of our reader: ITK sees a 3-component vector image whose voxel [z=1, y=2, x=3] is (ux, uy, uz)
    import itk

    field = random_field(OBLIQUE)
    image = itk.imread(str(write_field(field, tmp_path / "dvf.mha")))
    assert image.GetNumberOfComponentsPerPixel() == 3
    assert tuple(image.GetLargestPossibleRegion().GetSize()) == (7, 6, 5)
    np.testing.assert_allclose(tuple(image.GetOrigin()), (-12.5, 40.0, 7.25))
    np.testing.assert_array_equal(np.asarray(image.GetPixel([3, 2, 1])), field.array[1, 2, 3])


def test_field_on_another_grid_is_refused(tmp_path):
    path = write_field(random_field(OBLIQUE), tmp_path / "dvf.mha")
    shifted = Grid(OBLIQUE.shape, (-12.5, 41.0, 7.25), OBLIQUE.spacing_mm, OBLIQUE.direction)
    with pytest.raises(GeometryError, match="dvf.mha.*not on the fixed CT's grid"):
        read_field(path, fixed_grid=shifted)
    with pytest.raises(GeometryError, match="not on the fixed CT's grid"):
        read_field(path, fixed_grid=Grid((5, 6, 8), OBLIQUE.origin_mm, OBLIQUE.spacing_mm, OBLIQUE.direction))


def test_bad_field_files_raise_input_errors(tmp_path):
    scalar = tmp_path / "scalar.mha"
    import itk

    itk.imwrite(Volume(np.zeros(OBLIQUE.shape, np.float32), OBLIQUE).to_itk(), str(scalar))
    with pytest.raises(InputError, match="not a 3-D displacement field"):
        read_field(scalar)
    with pytest.raises(InputError, match="unknown extension"):
        read_field(tmp_path / "dvf.txt")
    with pytest.raises(InputError, match="does not exist"):
        read_field(tmp_path / "missing.mha")
    nan_field = random_field(OBLIQUE)
    nan_field.array[0, 0, 0, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        read_field(write_field(nan_field, tmp_path / "nan.mha"))


def test_dicom_deformable_registration_round_trip(tmp_path):
    io = pytest.importorskip("accumulate.io")
    if not hasattr(io, "write_deformable_registration") or not hasattr(io, "read_deformable_registration"):
        pytest.skip("accumulate.io has no DICOM deformable registration reader/writer yet")
    from pydicom.dataset import Dataset

    fixed_ct = Dataset()
    fixed_ct.PatientID, fixed_ct.FrameOfReferenceUID = "ANON", "1.2.826.0.1.3680043.8.498.1"
    field = random_field(OBLIQUE)
    path = write_field(field, tmp_path / "reg.dcm", fixed_like=fixed_ct, moving_frame_uid="1.2.826.0.1.3680043.8.498.2")
    back = read_field(path, fixed_grid=OBLIQUE)
    assert back.grid.is_close(OBLIQUE, atol_mm=1e-4)
    np.testing.assert_allclose(back.array, field.array, atol=1e-4)


def test_double_precision_field_files_are_read_losslessly(tmp_path):
    """Fields stored as double vectors (SimpleITK, plastimatch, our own float64 fields) read back exactly."""
    import itk

    grid = Grid((3, 4, 5), origin_mm=(1.5, -2.0, 7.25), spacing_mm=(1.0, 2.0, 3.0))
    values = np.random.default_rng(5).normal(scale=4.0, size=grid.shape + (3,))
    itk.imwrite(DisplacementField(values, grid).to_itk(), str(tmp_path / "double.mha"))
    field = read_field(tmp_path / "double.mha", fixed_grid=grid)
    assert field.array.dtype == np.float64
    np.testing.assert_array_equal(field.array, values)


def _affine_field(grid: Grid, points: np.ndarray) -> np.ndarray:
    """u(p) = A p + b (mm): trilinear interpolation reproduces it exactly between voxel centres."""
    a = np.array([[0.02, -0.01, 0.03], [0.01, 0.04, -0.02], [-0.03, 0.02, 0.01]])
    return points @ a.T + np.array([1.5, -2.0, 0.5])


def test_resampled_field_reproduces_an_affine_field_and_continues_its_edges():
    coarse = Grid((6, 8, 9), origin_mm=(-40.0, -30.0, -20.0), spacing_mm=(10.0, 8.0, 8.0))
    field = DisplacementField(_affine_field(coarse, coarse.world_coordinates()), coarse)
    # a finer grid with permuted and flipped axes, reaching 3 mm beyond the first coarse centre in LPS x
    fine = Grid((9, 11, 13), origin_mm=(-43.0, -26.0, 28.0), spacing_mm=(4.0, 4.0, 4.0), direction=OBLIQUE.direction)
    resampled = resample_field(field, fine)
    points = fine.world_coordinates()
    # beyond the outermost centres the edge vectors continue: evaluate at the clamped point
    index = np.clip(coarse.index_from_world(points), 0, np.asarray(coarse.shape) - 1)
    expected = _affine_field(coarse, coarse.world_from_index(index))
    assert resampled.grid == fine
    np.testing.assert_allclose(resampled.array, expected, atol=1e-4)
    assert np.abs(expected - _affine_field(coarse, points)).max() > 0.05  # the edge continuation was exercised


def test_resampling_refuses_a_field_that_does_not_cover_the_required_region():
    coarse = Grid((4, 4, 4), origin_mm=(0.0, 0.0, 0.0), spacing_mm=(10.0, 10.0, 10.0))  # covers -5..35 mm
    field = DisplacementField(np.zeros(coarse.shape + (3,), np.float32), coarse)
    fine = Grid((1, 1, 10), origin_mm=(0.0, 0.0, 0.0), spacing_mm=(5.0, 5.0, 5.0))  # x = 0..45 mm
    required = np.ones(fine.shape, bool)
    assert uncovered_voxels(coarse, fine, required) == 2  # x = 40 and 45 mm
    with pytest.raises(GeometryError, match="2 of its 10 voxels lie outside"):
        resample_field(field, fine, required=required, source="REG.dcm")
    required[..., 8:] = False
    assert resample_field(field, fine, required=required).grid == fine
