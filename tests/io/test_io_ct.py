"""read_ct: slice sorting, HU, geometry of any orientation, and every refusal."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from io_synthetic import PYDICOM_RT, write_ct_series

from accumulate.errors import GeometryError, InputError
from accumulate.io import read_ct

RNG = np.random.default_rng(7)


def _pixels(n, rows=6, cols=5):
    return RNG.integers(-1000, 3000, size=(n, rows, cols)).astype(np.int16)


def _axial_positions(n, z0=-40.0, step=2.5):
    return [[-100.0, -80.0, z0 + step * k] for k in range(n)]


def test_axial_series_sorted_by_position_not_by_name_or_instance_number(tmp_path):
    pixels = _pixels(5)
    order = [3, 0, 4, 1, 2]  # slice n sits at position order[n]
    positions = [_axial_positions(5)[k] for k in order]
    write_ct_series(tmp_path, pixels, positions, slope=2.0, intercept=-1000.0)
    ct = read_ct(tmp_path)
    assert ct.quantity == "hu" and ct.unit == "HU" and ct.array.dtype == np.float32
    assert ct.grid.shape == (5, 6, 5)
    assert ct.grid.origin_mm == pytest.approx((-100.0, -80.0, -40.0))
    assert ct.grid.spacing_mm == pytest.approx((0.6, 0.8, 2.5))  # PixelSpacing is (row, column) spacing
    np.testing.assert_allclose(ct.grid.direction_matrix, np.eye(3), atol=1e-12)
    for n, k in enumerate(order):
        np.testing.assert_array_equal(ct.array[k], pixels[n] * 2.0 - 1000.0)


def test_descending_positions_give_the_same_volume(tmp_path):
    pixels = _pixels(4)
    write_ct_series(tmp_path, pixels, _axial_positions(4)[::-1])  # slice 0 is the highest
    ct = read_ct(tmp_path)
    assert ct.grid.origin_mm[2] == pytest.approx(-40.0)
    np.testing.assert_array_equal(ct.array[0], pixels[3].astype(np.float32) - 1024)


def test_oblique_orientation_is_kept_in_the_direction_matrix(tmp_path):
    angle = np.radians(30)
    row = np.array([np.cos(angle), np.sin(angle), 0.0])
    col = np.array([0.0, 0.0, -1.0])  # a tilted coronal plane
    normal = np.cross(row, col)
    ipp0 = np.array([10.0, 20.0, 30.0])
    positions = [list(ipp0 + 3.0 * k * normal) for k in range(4)]
    pixels = _pixels(4)
    write_ct_series(tmp_path, pixels, positions, iop=tuple(row) + tuple(col), pixel_spacing=(1.5, 0.5))
    ct = read_ct(tmp_path)
    np.testing.assert_allclose(ct.grid.direction_matrix, np.stack([row, col, normal], axis=1), atol=1e-9)
    # voxel (k=2, j=3, i=4): IPP_k + i * column spacing * row + j * row spacing * col, worked out by hand
    expected = ipp0 + 2 * 3.0 * normal + 4 * 0.5 * row + 3 * 1.5 * col
    np.testing.assert_allclose(ct.grid.world_from_index([2, 3, 4]), expected, atol=1e-6)
    assert ct.value_at(expected) == pixels[2, 3, 4] - 1024


def test_real_single_slice_matches_pydicom(tmp_path):
    shutil.copy(PYDICOM_RT / "CT_small.dcm", tmp_path)
    shutil.copy(PYDICOM_RT / "rtplan.dcm", tmp_path)  # other objects in the folder are ignored
    (tmp_path / "notes.txt").write_text("not dicom")
    ds = pydicom.dcmread(PYDICOM_RT / "CT_small.dcm")
    ct = read_ct(tmp_path)
    assert ct.grid.shape == (1, 128, 128)
    assert ct.grid.origin_mm == pytest.approx([float(v) for v in ds.ImagePositionPatient])
    hu = ds.pixel_array[10, 20] * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert ct.array[0, 10, 20] == pytest.approx(hu)
    assert ct.array.max() == pytest.approx(ds.pixel_array.max() * float(ds.RescaleSlope) + float(ds.RescaleIntercept))


def test_research_format_ct(tmp_path):
    import itk

    values = _pixels(3).astype(np.int16)
    image = itk.image_from_array(values)
    image.SetOrigin([1.0, 2.0, 3.0])
    image.SetSpacing([0.5, 0.75, 2.0])
    itk.imwrite(image, str(tmp_path / "ct.mha"))
    ct = read_ct(tmp_path / "ct.mha")
    assert (ct.quantity, ct.unit, ct.array.dtype) == ("hu", "HU", np.float32)
    assert ct.grid.origin_mm == pytest.approx((1.0, 2.0, 3.0)) and ct.grid.spacing_mm == pytest.approx((0.5, 0.75, 2.0))
    np.testing.assert_array_equal(ct.array, values)


def test_missing_slice_is_reported_with_its_position(tmp_path):
    positions = [p for k, p in enumerate(_axial_positions(6)) if k != 3]  # z = -32.5 missing
    write_ct_series(tmp_path, _pixels(5), positions)
    with pytest.raises(GeometryError, match=r"1 slice\(s\) missing at position\(s\) \[-32\.5\]"):
        read_ct(tmp_path)
    with pytest.raises(GeometryError, match="missing"):  # never interpolated over
        read_ct(tmp_path, uneven_spacing="resample")


def test_duplicated_slice_names_both_files(tmp_path):
    positions = _axial_positions(4)
    positions[2] = positions[1]
    write_ct_series(tmp_path, _pixels(4), positions, names=["a.dcm", "b.dcm", "c.dcm", "d.dcm"])
    with pytest.raises(InputError, match=r"duplicated slice .*b\.dcm and c\.dcm"):
        read_ct(tmp_path)


def test_uneven_spacing_refused_or_resampled(tmp_path):
    z = [0.0, 2.0, 4.0, 7.0]
    pixels = np.stack([np.full((3, 3), v, dtype=np.int16) for v in (0, 100, 200, 500)])
    write_ct_series(tmp_path, pixels, [[0.0, 0.0, v] for v in z], intercept=0.0)
    with pytest.raises(GeometryError, match="uneven slice spacing"):
        read_ct(tmp_path)
    ct = read_ct(tmp_path, uneven_spacing="resample")
    assert ct.grid.spacing_mm[2] == pytest.approx(2.0)
    assert ct.grid.shape[0] == 4  # 0, 2, 4, 6 mm
    # z = 6 mm lies 2/3 of the way from 4 mm (200) to 7 mm (500): 400
    np.testing.assert_allclose(ct.array[:, 1, 1], [0, 100, 200, 400], rtol=1e-6)


def test_mixed_series_are_refused_and_can_be_chosen(tmp_path):
    write_ct_series(tmp_path, _pixels(3), _axial_positions(3), series_uid="1.2.3.100", names=["a1", "a2", "a3"])
    write_ct_series(tmp_path, _pixels(2), _axial_positions(2), series_uid="1.2.3.200", names=["b1", "b2"])
    with pytest.raises(InputError, match=r"mixed CT series.*1\.2\.3\.100 \(3 slices.*1\.2\.3\.200 \(2 slices"):
        read_ct(tmp_path)
    assert read_ct(tmp_path, series_uid="1.2.3.200").grid.shape[0] == 2


def test_gantry_tilt_is_refused(tmp_path):
    shear = np.tan(np.radians(15))
    positions = [[0.0, 2.5 * k * shear, 2.5 * k] for k in range(4)]
    write_ct_series(tmp_path / "sheared", _pixels(4), positions, tilt=15.0)
    with pytest.raises(GeometryError, match="gantry-tilted CT .*15 deg, slices sheared by 15.00 deg"):
        read_ct(tmp_path / "sheared")
    # a stated tilt with slices stacked along the (tilted) normal is a rectangular grid: accepted
    a = np.radians(15)
    col = np.array([0.0, np.cos(a), np.sin(a)])
    normal = np.cross([1.0, 0.0, 0.0], col)
    write_ct_series(tmp_path / "resliced", _pixels(3), [list(2.0 * k * normal) for k in range(3)], iop=(1, 0, 0, *col), tilt=15.0)
    np.testing.assert_allclose(read_ct(tmp_path / "resliced").grid.direction_matrix[:, 2], normal, atol=1e-9)


def test_folders_without_ct(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hello")
    with pytest.raises(InputError, match="no CT image files found"):
        read_ct(tmp_path / "empty")
    with pytest.raises(InputError, match="not a folder"):
        read_ct(tmp_path / "nowhere")


def test_slices_that_disagree_on_size_are_refused(tmp_path):
    uid = "1.2.3.300"
    write_ct_series(tmp_path, _pixels(2), _axial_positions(2), series_uid=uid, names=["a", "b"])
    write_ct_series(tmp_path, _pixels(1, rows=7), _axial_positions(3)[2:], series_uid=uid, names=["c"])
    with pytest.raises(InputError, match="disagree on Rows"):
        read_ct(tmp_path)


def test_image_series_lists_the_images_in_slice_order_with_their_planes(tmp_path):
    from accumulate.io import ct_image_series

    order = [3, 0, 4, 1, 2]  # slice n sits at position order[n]
    positions = [_axial_positions(5)[k] for k in order]
    paths = write_ct_series(tmp_path, _pixels(5), positions, series_uid="1.2.3.4.9", extra={"BodyPartExamined": "HEADNECK"})
    series = ct_image_series(tmp_path)
    by_position = sorted(paths, key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    assert series.instance_uids == tuple(str(pydicom.dcmread(p).SOPInstanceUID) for p in by_position)
    assert series.positions_mm == tuple(tuple(p) for p in _axial_positions(5))
    assert (series.series_uid, series.study_uid, series.frame_uid) == ("1.2.3.4.9", "1.2.3.4.2", "1.2.3.4.1")
    assert series.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2" and (series.rows, series.columns) == (6, 5)
    assert (series.body_part, series.laterality) == ("HEADNECK", "")
    # PixelSpacing (0.8 rows, 0.6 columns): pixel (row 2, column 3) of slice 1 is 1.8 mm along x and 1.6 mm along y
    centres = series.pixel_centres(1)
    assert centres.shape == (6, 5, 3)
    np.testing.assert_allclose(centres[2, 3], [-100.0 + 3 * 0.6, -80.0 + 2 * 0.8, -37.5], atol=1e-12)
    assert [ref.sop_instance_uid for ref in series.references()] == list(series.instance_uids)
