"""The geometry block: kernels/warp.cu reads it at the offsets accumulate/warp/_layout.py writes."""

from __future__ import annotations

import re

import numpy as np

from accumulate import Grid, _kernels
from accumulate.warp import _layout


def test_cuda_defines_mirror_the_layout():
    source = (_kernels.kernel_dir() / "warp.cu").read_text()
    defines = {name: int(value) for name, value in re.findall(r"#define G_(\w+) (\d+)", source)}
    python = {name: getattr(_layout, name) for name in defines}
    assert defines == python
    # and every offset the Python side defines has its define (none is left unmirrored)
    constants = {name for name, value in vars(_layout).items() if name.isupper() and isinstance(value, int)}
    assert constants == set(defines)
    # every field of the block is mirrored, and the offsets do not overlap
    documented = re.findall(r"^([A-Z][A-Z0-9_, ]*?)\s{2,}(\d+)\s{2}", _layout.__doc__, flags=re.MULTILINE)
    names = [n.strip() for group, _ in documented for n in group.split(",")]
    assert set(names) == set(defines) - {"SIZE"}
    spans = sorted(
        (getattr(_layout, n), int(count)) for group, count in documented for n in (x.strip() for x in group.split(","))
    )
    for (start, count), (following, _) in zip(spans, spans[1:], strict=False):
        assert start + count <= following
    assert spans[-1][0] + spans[-1][1] <= _layout.SIZE


def test_block_of_an_identical_grid_is_the_identity():
    grid = Grid((4, 5, 6), origin_mm=(1.0, 2.0, 3.0), spacing_mm=(2.0, 2.5, 3.0))
    block = _layout.course_geometry(grid, grid, grid, has_density=True)
    np.testing.assert_array_equal(block[_layout.T2F : _layout.T2F + 12], np.eye(3, 4).ravel())
    np.testing.assert_array_equal(block[_layout.T2D : _layout.T2D + 12], np.eye(3, 4).ravel())
    np.testing.assert_allclose(block[_layout.U2D : _layout.U2D + 9].reshape(3, 3), np.diag([1 / 2.0, 1 / 2.5, 1 / 3.0]))
    assert block[_layout.DV] == 2.0 * 2.5 * 3.0 * 1e-3 and block[_layout.ALIGNED] == 1 and block[_layout.HAS_RHO] == 1
