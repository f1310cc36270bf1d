"""The small real thoracic CT (57x78x64, 2.7x2.7x5 mm) and its synthetic deformation, shared by the module."""

from __future__ import annotations

from pathlib import Path

import pytest

from accumulate.registration import body_mask, read_image

DATA = Path(__file__).resolve().parents[1] / "data" / "elastix-lung"
SMALL_CT = DATA / "3DCT_lung_baseline_small.mha"


@pytest.fixture(scope="session")
def small_ct():
    return read_image(SMALL_CT)


@pytest.fixture(scope="session")
def small_phantom(small_ct):
    from registration_phantom import make_phantom

    return make_phantom(small_ct, bump_peak_mm=8.0, bump_sigma_mm=40.0, seed=2)


@pytest.fixture(scope="session")
def small_truth(small_phantom):
    """The true fixed -> moving field of the small phantom."""
    return small_phantom.true_field()


@pytest.fixture(scope="session")
def small_region(small_phantom, small_truth):
    """Body voxels of the small CT whose true moving point is at least 10 mm inside the moving CT."""
    grid = small_phantom.fixed.grid
    inside = grid.contains_world(small_truth.moving_points(), margin_voxels=-10.0 / max(grid.spacing_mm))
    region = body_mask(small_phantom.fixed).array & inside
    assert region.mean() > 0.3
    return region


@pytest.fixture(scope="session")
def fast_registration(small_phantom, tmp_path_factory):
    from accumulate.registration import register

    out = tmp_path_factory.mktemp("elastix")
    return register(small_phantom.fixed, small_phantom.moving, preset="fast", threads=2, output_directory=out)
