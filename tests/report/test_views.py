"""The pictures' geometry: LPS reordering of any axis-aligned grid, round isodose levels, structure outlines."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate import Grid, Volume
from accumulate.errors import GeometryError
from accumulate.report.views import lps_oriented, nice_levels, outlines_rgba


@pytest.mark.parametrize(
    "direction",
    [
        (1, 0, 0, 0, 1, 0, 0, 0, 1),
        (-1, 0, 0, 0, 1, 0, 0, 0, -1),  # x and z index axes run towards patient's right and inferior
        (0, 1, 0, 1, 0, 0, 0, 0, 1),  # index x runs along LPS y, index y along LPS x
        (0, 0, 1, -1, 0, 0, 0, -1, 0),  # every axis permuted, two reversed
    ],
    ids=["identity", "flipped", "swapped", "permuted"],
)
def test_lps_oriented_puts_every_axis_along_lps_ascending(direction):
    grid = Grid((4, 5, 6), (10.0, -20.0, 30.0), (1.5, 2.0, 2.5), direction)
    world = grid.world_coordinates()  # (z, y, x, 3) LPS mm
    for axis, name in enumerate("xyz"):
        o = lps_oriented(Volume(world[..., axis], grid))
        coordinates = {"x": o.x_mm, "y": o.y_mm, "z": o.z_mm}[name]
        assert np.all(np.diff(coordinates) > 0)
        along = {"x": 2, "y": 1, "z": 0}[name]  # the oriented array axis of this LPS axis
        shape = [1, 1, 1]
        shape[along] = coordinates.size
        np.testing.assert_allclose(o.array, np.broadcast_to(coordinates.reshape(shape), o.array.shape))
    assert sorted(o.array.shape) == sorted(grid.shape)


def test_oblique_grid_is_refused():
    c, s = np.cos(0.3), np.sin(0.3)
    grid = Grid((2, 3, 4), direction=(c, -s, 0, s, c, 0, 0, 0, 1))
    with pytest.raises(GeometryError, match="not along LPS"):
        lps_oriented(Volume(np.zeros(grid.shape), grid))


def test_isodose_levels_are_round_and_below_the_top():
    assert nice_levels(73.0) == [20.0, 40.0, 60.0]
    assert nice_levels(124.0) == [25.0, 50.0, 75.0, 100.0]
    assert nice_levels(0.0) == [] and nice_levels(float("nan")) == []


def test_outline_of_a_square_is_its_perimeter():
    plane = np.zeros((20, 20))
    plane[5:15, 5:15] = 1.0
    rgba = outlines_rgba(plane.shape, [plane], ["#ff0000"], upsample=1, width=1)
    edge = rgba[..., 3] == 1
    assert edge[5, 5:15].all() and edge[14, 5:15].all() and not edge[6:14, 6:14].any()
    assert edge.sum() == 36 and np.all(rgba[edge, :3] == (1.0, 0.0, 0.0))
    thick = outlines_rgba(plane.shape, [plane], ["#ff0000"], upsample=2, width=2)[..., 3] == 1
    assert thick.sum() == 20 * 20 - 16 * 16  # the 20 x 20 sub-pixel square less its 16 x 16 core
