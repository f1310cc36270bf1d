"""read_structures: analytic shapes, holes, slices between contours, partial volume, real structure sets."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from io_synthetic import DICOMPYLER, PYDICOM_RT, circle, sphere_contours, write_rtstruct

from accumulate.errors import GeometryError, InputError
from accumulate.geometry import Grid
from accumulate.io import read_contours, read_dose, read_structures
from accumulate.io._raster import fill_even_odd

SPHERE_VOLUME = 4 / 3 * np.pi * 20.0**3


def _grid(spacing=(1.0, 1.0, 1.0), shape=(60, 60, 60), origin=(-29.5, -29.5, -29.5)):
    return Grid(shape, origin, spacing)


def _volume_mm3(mask):
    return float(np.asarray(mask.array, dtype=float).sum() * mask.grid.voxel_volume_mm3)


def test_square_fills_exactly_the_voxel_centres_inside():
    # pixel centres at integers; a square from 1.5 to 5.5 holds centres 2..5 in x and y
    square = np.array([[1.5, 1.5], [5.5, 1.5], [5.5, 5.5], [1.5, 5.5]])
    mask = fill_even_odd([square], 8, 8)
    expected = np.zeros((8, 8), bool)
    expected[2:6, 2:6] = True
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("seed", range(5))
def test_fill_matches_half_plane_tests_on_random_convex_polygons(seed):
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
    centre, radius = rng.uniform(8, 12, 2), rng.uniform(3, 9)
    poly = centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # convex, counter-clockwise
    jj, ii = np.mgrid[0:20, 0:20]
    inside = np.ones((20, 20), bool)
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):  # left of every edge
        inside &= (b[0] - a[0]) * (jj - a[1]) - (b[1] - a[1]) * (ii - a[0]) > 0
    np.testing.assert_array_equal(fill_even_odd([poly], 20, 20), inside)
    # the same polygon twice is a hole in itself (even-odd)
    assert not fill_even_odd([poly, poly], 20, 20).any()


def test_sphere_volume_within_discretisation_error(tmp_path):
    path = write_rtstruct(tmp_path / "rs.dcm", {"Sphere": sphere_contours((0.0, 0.0, 0.0), 20.0, 1.0)})
    binary = read_structures(path, _grid())["Sphere"]
    assert binary.array.dtype == bool and binary.quantity == "mask" and binary.unit == "1"
    assert abs(_volume_mm3(binary) / SPHERE_VOLUME - 1) < 0.01
    partial = read_structures(path, _grid(), partial_volume=True, subsamples=4)["Sphere"]
    assert partial.array.dtype == np.float32 and 0 <= partial.array.min() and partial.array.max() <= 1
    assert abs(_volume_mm3(partial) / SPHERE_VOLUME - 1) < 0.005


def test_small_organ_partial_volume_beats_binary(tmp_path):
    # an optic-nerve-sized cylinder, radius 1.6 mm, 10 mm long, on a 1.25 mm grid
    contours = [circle((0.3, -0.2), 1.6, z) for z in np.arange(-4.5, 5.0, 1.0)]
    path = write_rtstruct(tmp_path / "rs.dcm", {"Optic Nerve L": contours})
    grid = Grid((12, 12, 12), (-6.875, -6.875, -6.875), (1.25, 1.25, 1.25))
    exact = np.pi * 1.6**2 * 10.0
    partial = _volume_mm3(read_structures(path, grid, partial_volume=True, subsamples=8)["Optic Nerve L"])
    binary = _volume_mm3(read_structures(path, grid)["Optic Nerve L"])
    assert abs(partial / exact - 1) < 0.05
    assert abs(partial / exact - 1) < abs(binary / exact - 1)


def test_holes_and_islands_by_the_even_odd_rule(tmp_path):
    rings, islands = [], []
    for z in np.arange(-5.0, 6.0, 1.0):
        rings += [circle((0, 0), 20.0, z), circle((0, 0), 10.0, z)]
        islands += [circle((-15, 0), 5.0, z), circle((15, 0), 5.0, z)]
    path = write_rtstruct(tmp_path / "rs.dcm", {"Ring": rings, "Islands": islands})
    masks = read_structures(path, _grid())
    ring, isl = masks["Ring"], masks["Islands"]
    assert not ring.value_at((0.5, 0.5, 0.5)) and ring.value_at((15.5, 0.5, 0.5))
    assert isl.value_at((-15.5, 0.5, 0.5)) and isl.value_at((15.5, 0.5, 0.5)) and not isl.value_at((0.5, 0.5, 0.5))
    area = np.pi * (20.0**2 - 10.0**2)
    assert abs(ring.array[30].sum() / area - 1) < 0.02
    assert abs(isl.array[30].sum() / (2 * np.pi * 25.0) - 1) < 0.05


def test_contours_apply_to_the_nearest_grid_slices_within_half_their_spacing(tmp_path):
    # planes every 3 mm at z = -6 .. 6; a 1 mm grid; slab rule: |z - plane| <= 1.5 mm
    contours = [circle((0, 0), 8.0, z) for z in np.arange(-6.0, 7.0, 3.0)]
    path = write_rtstruct(tmp_path / "rs.dcm", {"Cyl": contours})
    grid = Grid((30, 30, 30), (-14.5, -14.5, -15.0), (1.0, 1.0, 1.0))
    mask = read_structures(path, grid)["Cyl"].array
    z = -15.0 + np.arange(30)
    filled = mask.any(axis=(1, 2))
    np.testing.assert_array_equal(filled, np.abs(z) <= 7.5)
    # a coarse 5 mm grid takes the nearest plane
    coarse = Grid((5, 30, 30), (-14.5, -14.5, -10.0), (1.0, 1.0, 5.0))
    np.testing.assert_array_equal(read_structures(path, coarse)["Cyl"].array.any(axis=(1, 2)), [False, True, True, True, False])


def test_uneven_contour_spacing_and_gaps(tmp_path):
    # planes 0, 2, 4, 7, 10 (median gap 2.5 mm: the 3 mm gaps are bridged) and 20, 22 (a 10 mm gap: a second part)
    planes = [0.0, 2.0, 4.0, 7.0, 10.0, 20.0, 22.0]
    path = write_rtstruct(tmp_path / "rs.dcm", {"Two": [circle((0, 0), 5.0, z) for z in planes]})
    grid = Grid((60, 12, 12), (-5.5, -5.5, -4.75), (1.0, 1.0, 0.5))
    z = -4.75 + 0.5 * np.arange(60)
    # slab ends: 2.5/2 = 1.25 mm beyond the outer planes and on each side of the 10 mm gap
    expected = ((z >= -1.25) & (z <= 11.25)) | ((z >= 18.75) & (z <= 23.25))
    np.testing.assert_array_equal(read_structures(path, grid)["Two"].array.any(axis=(1, 2)), expected)


def test_structures_partly_outside_the_grid_are_cut(tmp_path):
    path = write_rtstruct(tmp_path / "rs.dcm", {"Sphere": sphere_contours((0.0, 0.0, 0.0), 20.0, 1.0)})
    half = Grid((60, 60, 30), (0.5, -29.5, -29.5), (1.0, 1.0, 1.0))  # x >= 0.5 only
    assert abs(_volume_mm3(read_structures(path, half)["Sphere"]) / (SPHERE_VOLUME / 2) - 1) < 0.015
    away = Grid((5, 5, 5), (100.0, 100.0, 100.0))
    assert not read_structures(path, away)["Sphere"].array.any()


def test_sagittal_grid_and_contours(tmp_path):
    # contours in planes x = const, on a grid whose slice axis is +x (rows along -z, columns along +y)
    contours = []
    for x in np.arange(-19.0, 20.0, 1.0):
        ring = circle((0, 0), np.sqrt(20.0**2 - x**2), 0.0)
        contours.append(np.stack([np.full(len(ring), x), ring[:, 0], ring[:, 1]], axis=1))
    path = write_rtstruct(tmp_path / "rs.dcm", {"Sphere": contours})
    direction = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float)  # columns: x-index->+y, y-index->-z, z-index->+x
    grid = Grid((60, 60, 60), (-29.5, -29.5, 29.5), (1.0, 1.0, 1.0), tuple(direction.reshape(-1)))
    assert abs(_volume_mm3(read_structures(path, grid)["Sphere"]) / SPHERE_VOLUME - 1) < 0.01


def test_contours_oblique_to_the_grid_are_refused(tmp_path):
    path = write_rtstruct(tmp_path / "rs.dcm", {"Sphere": sphere_contours((0.0, 0.0, 0.0), 20.0, 2.0)})
    a = np.radians(30)
    tilted = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    with pytest.raises(GeometryError, match="ROI 'Sphere'.*contour spans .* mm along the grid's slice axis"):
        read_structures(path, Grid((10, 10, 10), direction=tuple(tilted.reshape(-1))))


def test_names_synonyms_points_and_frames(tmp_path):
    rois = {"CORD": [circle((0, 0), 5.0, 0.0)], "Iso": [np.array([[0.0, 0.0, 0.0]])]}
    path = write_rtstruct(tmp_path / "rs.dcm", rois, kinds={"Iso": "POINT"})
    masks = read_structures(path, _grid(), names=["Spinal Cord"])
    assert list(masks) == ["Spinal Cord"] and masks["Spinal Cord"].array.any()
    assert list(read_structures(path, _grid())) == ["CORD"]  # the point ROI is not a volume
    with pytest.raises(InputError, match=r"rs\.dcm: ROI 'Iso' has \['POINT'\] geometry but no closed planar contours"):
        read_structures(path, _grid(), names=["Iso"])
    with pytest.raises(InputError, match=r"no structure matches 'Heart'.*available: \['CORD', 'Iso'\]"):
        read_structures(path, _grid(), names=["Heart"])
    with pytest.raises(GeometryError, match="frame of reference 1.2.3.4.1, the grid in 9.9.9"):
        read_structures(path, _grid(), frame_of_reference_uid="9.9.9")
    with pytest.raises(InputError, match="not an RT Structure Set"):
        read_structures(DICOMPYLER / "rtplan.dcm", _grid())


def _shoelace_volume(ds, roi_name, thickness):
    number = next(r.ROINumber for r in ds.StructureSetROISequence if r.ROIName == roi_name)
    item = next(c for c in ds.ROIContourSequence if c.ReferencedROINumber == number)
    total = 0.0
    for contour in item.ContourSequence:
        xyz = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
        x, y = xyz[:, 0], xyz[:, 1]
        total += 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) * thickness
    return total


def test_real_structure_set_volumes_match_shoelace_areas():
    dose = read_dose(DICOMPYLER / "rtdose.dcm")
    ds = pydicom.dcmread(DICOMPYLER / "rtss.dcm")
    masks = read_structures(DICOMPYLER / "rtss.dcm", dose.grid, names=["Heart", "Lung L"])
    for name, roi in (("Heart", "Heart"), ("Lung L", "Lt Lung")):
        reference = _shoelace_volume(ds, roi, 3.0)  # contours every 3 mm, like the dose slices
        assert abs(_volume_mm3(masks[name]) / reference - 1) < 0.03, name


def test_pydicom_structure_set_skips_point_rois():
    masks = read_structures(PYDICOM_RT / "rtstruct.dcm", Grid((3, 4, 4), (-200.0, -200.0, -10.0), (100.0, 100.0, 5.0)))
    assert list(masks) == ["patient"]


def test_read_contours_returns_the_stored_polygons(tmp_path):
    spine = [circle((1.0, -2.0), 6.0, z) for z in (0.0, 2.5, 5.0)]
    rois = {"SpinalCord": spine, "Iso": [np.array([[0.0, 0.0, 0.0]])]}
    path = write_rtstruct(tmp_path / "rs.dcm", rois, kinds={"Iso": "POINT"})
    contours = read_contours(path)
    assert list(contours) == ["SpinalCord"]  # POINT ROIs are not volumes
    for read, written in zip(contours["SpinalCord"], spine, strict=True):
        np.testing.assert_allclose(read, written, atol=1e-6)  # ContourData is written with 6 decimals
    assert list(read_contours(path, names=["spinal cord"])) == ["spinal cord"]  # synonyms, keyed by the asked name
    with pytest.raises(GeometryError, match="frame of reference"):
        read_contours(path, frame_of_reference_uid="9.9.9")
