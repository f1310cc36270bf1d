"""Grid/Volume geometry: index <-> world, comparison, crops, and the ITK round trip."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate import DisplacementField, GeometryError, Grid, Volume


def _rotation_z(degrees: float) -> np.ndarray:
    t = np.deg2rad(degrees)
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])


@pytest.fixture
def oblique_grid() -> Grid:
    """Anisotropic spacing, rotated 30 degrees about z and flipped in z (a non-identity direction)."""
    direction = _rotation_z(30) @ np.diag([1, 1, -1])
    return Grid((4, 5, 6), origin_mm=(10.0, -20.0, 30.0), spacing_mm=(0.8, 1.2, 2.5), direction=tuple(direction.ravel()))


def test_world_from_index_by_hand(oblique_grid):
    # voxel (z=3, y=1, x=5): origin + R @ (5*0.8, 1*1.2, 3*2.5) worked out with the rotation by hand
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    offset = np.array([4.0 * c - 1.2 * s, 4.0 * s + 1.2 * c, -7.5])
    expected = np.array([10.0, -20.0, 30.0]) + offset
    np.testing.assert_allclose(oblique_grid.world_from_index([3, 1, 5]), expected, atol=1e-12)


def test_index_world_round_trip(oblique_grid):
    rng = np.random.default_rng(0)
    idx = rng.uniform(-1, 6, size=(50, 3))
    np.testing.assert_allclose(oblique_grid.index_from_world(oblique_grid.world_from_index(idx)), idx, atol=1e-10)


def test_axis_order_is_zyx():
    grid = Grid((2, 3, 4), spacing_mm=(1.0, 2.0, 3.0))  # sx=1, sy=2, sz=3
    assert grid.world_coordinates().shape == (2, 3, 4, 3)
    np.testing.assert_allclose(grid.world_from_index([1, 0, 0]), [0, 0, 3])  # one slice up: +sz along z
    np.testing.assert_allclose(grid.world_from_index([0, 0, 1]), [1, 0, 0])  # one column: +sx along x


def test_itk_round_trip_keeps_values_and_geometry(oblique_grid):
    array = np.arange(np.prod(oblique_grid.shape), dtype=np.float32).reshape(oblique_grid.shape)
    volume = Volume(array, oblique_grid)
    image = volume.to_itk()
    # ITK indices are (x, y, z); ours are (z, y, x)
    assert tuple(image.GetLargestPossibleRegion().GetSize()) == (6, 5, 4)
    assert image.GetPixel([5, 1, 3]) == array[3, 1, 5]
    np.testing.assert_allclose(
        image.TransformIndexToPhysicalPoint([5, 1, 3]), oblique_grid.world_from_index([3, 1, 5]), atol=1e-9
    )
    back = Volume.from_itk(image)
    assert back.grid.is_close(oblique_grid)
    np.testing.assert_array_equal(back.array, array)


def test_field_itk_round_trip(oblique_grid):
    field = DisplacementField(np.random.default_rng(1).normal(size=oblique_grid.shape + (3,)), oblique_grid)
    back = DisplacementField.from_itk(field.to_itk())
    assert back.grid.is_close(oblique_grid)
    np.testing.assert_array_equal(back.array, field.array)


def test_moving_points_add_the_field():
    grid = Grid((2, 2, 2), origin_mm=(1, 2, 3))
    field = DisplacementField(np.broadcast_to(np.array([1.0, -2.0, 0.5]), grid.shape + (3,)).copy(), grid)
    np.testing.assert_allclose(field.moving_points()[0, 0, 0], [2.0, 0.0, 3.5])


def test_mismatch_names_both_grids():
    a, b = Grid((2, 3, 4)), Grid((2, 3, 4), origin_mm=(0, 0, 1))
    assert a.is_close(Grid((2, 3, 4), origin_mm=(0, 0, 1e-4)))
    with pytest.raises(
        GeometryError,
        match=r"dose and mask.*\n.*first .*origin=\(0\.000, 0\.000, 0\.000\).*\n.*second.*origin=\(0\.000, 0\.000, 1\.000\)",
    ):
        a.require_same(b, "dose and mask")


def test_crop_and_with_spacing():
    grid = Grid((10, 20, 30), origin_mm=(0, 0, 0), spacing_mm=(1, 1, 2))
    sub = grid.crop((2, 5, 10), (4, 10, 30))
    assert sub.shape == (2, 5, 20)
    np.testing.assert_allclose(sub.origin_mm, (10, 5, 4))
    coarse = grid.with_spacing((2, 2, 4))
    assert coarse.shape == (5, 10, 15)
    # same outer box: first voxel edge at -0.5 mm in x, y and -1 mm in z
    np.testing.assert_allclose(coarse.corners_world()[0], grid.corners_world()[0])
    with pytest.raises(GeometryError, match="outside the grid"):
        grid.crop((0, 0, 0), (11, 1, 1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shape": (0, 2, 2)}, "positive sizes"),
        ({"shape": (2, 2, 2), "spacing_mm": (1, 0, 1)}, "spacing_mm must be > 0"),
        ({"shape": (2, 2, 2), "direction": (1, 0, 0, 1, 0, 0, 0, 0, 1)}, "orthonormal"),
        ({"shape": (2, 2, 2), "origin_mm": (0, float("nan"), 0)}, "three finite numbers"),
    ],
)
def test_bad_grids(kwargs, message):
    with pytest.raises(GeometryError, match=message):
        Grid(**kwargs)


def test_volume_shape_must_match_grid():
    with pytest.raises(GeometryError, match=r"\(3, 2, 2\) does not match its grid shape"):
        Volume(np.zeros((3, 2, 2)), Grid((2, 2, 2)))


def test_value_at_nearest_voxel():
    grid = Grid((3, 3, 3), origin_mm=(-1, -1, -1))
    volume = Volume(np.arange(27.0).reshape(3, 3, 3), grid)
    assert volume.value_at((0.2, -0.9, 1.1)) == 2 * 9 + 0 * 3 + 1
    with pytest.raises(GeometryError, match="outside the grid"):
        volume.value_at((5, 0, 0))
