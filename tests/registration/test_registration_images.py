"""Image and mask inputs: the body mask keeps the couch and air out and fills the lungs; bad files are named."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate import GeometryError, Grid, InputError, Volume
from accumulate.registration import body_mask, read_image, read_mask


def test_body_mask_excludes_couch_and_air_and_fills_lungs():
    grid = Grid((6, 40, 40))
    z, y, x = np.meshgrid(*grid.axis_coordinates(), indexing="ij")
    hu = np.full(grid.shape, -1000.0)
    body = (y - 18) ** 2 + (x - 20) ** 2 <= 12**2  # a 12-voxel cylinder of water
    hu[body] = 0.0
    lung = (y - 18) ** 2 + (x - 16) ** 2 <= 4**2  # air inside the body
    hu[lung] = -850.0
    hu[:, 33:35, 5:35] = 200.0  # a couch slab below two rows of air (the body ends at y = 30)
    mask = body_mask(Volume(hu, grid, "hu", "HU"))
    np.testing.assert_array_equal(mask.array, body)
    assert mask.array.dtype == bool and mask.grid == grid


def test_body_mask_of_an_all_air_image_is_empty():
    grid = Grid((3, 5, 5))
    assert not body_mask(Volume(np.full(grid.shape, -1000.0), grid, "hu", "HU")).array.any()


def test_bad_image_paths_are_named(tmp_path):
    with pytest.raises(InputError, match="missing.mha.*does not exist"):
        read_image(tmp_path / "missing.mha")
    text = tmp_path / "ct.txt"
    text.write_text("not an image")
    with pytest.raises(InputError, match="ct.txt.*unknown format"):
        read_image(text)


def test_mask_on_another_grid_is_refused(tmp_path):
    import itk

    grid = Grid((4, 5, 6), spacing_mm=(1.0, 1.0, 2.0))
    mask = np.zeros(grid.shape, np.uint8)
    mask[1:3, 1:4, 2:5] = 1
    itk.imwrite(Volume(mask, grid, "mask", "1").to_itk(), str(tmp_path / "mask.mha"))
    read = read_mask(tmp_path / "mask.mha")
    np.testing.assert_array_equal(read.array, mask.astype(bool))
    other = Volume(np.zeros((4, 5, 6)), Grid((4, 5, 6), origin_mm=(0.0, 0.0, 5.0), spacing_mm=(1.0, 1.0, 2.0)))
    with pytest.raises(GeometryError, match="mask"):
        read_mask(tmp_path / "mask.mha", like=other)
