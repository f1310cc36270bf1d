"""The structure sets, rasterised with accumulate.read_structures: names, analytic volumes, agreement with the CTs."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate.io import read_structures

ORGANS = {"BODY", "SpinalCord", "Brainstem", "Parotid_L", "Parotid_R", "Mandible"}


def ellipsoid_cc(a: float, b: float, c: float) -> float:
    return 4.0 / 3.0 * np.pi * a * b * c / 1000.0


# Semi-axes (mm) of the analytic shapes; the mandible is half an elliptic annulus
# (outer 44 x 46 mm, inner 36 x 38 mm) 30 mm high: pi / 2 (44 * 46 - 36 * 38) * 30.
REFERENCE_VOLUMES_CC = {
    "Parotid_L": ellipsoid_cc(13, 19, 24),
    "Parotid_R": ellipsoid_cc(13, 19, 24),
    "Brainstem": ellipsoid_cc(12, 11, 16),
    "PTV_reirr": ellipsoid_cc(10, 9, 14),
    "Mandible": np.pi / 2 * (44 * 46 - 36 * 38) * 30 / 1000.0,
}


def test_each_course_has_the_organs_and_its_own_target(reference_masks, prior_masks):
    assert set(reference_masks) == ORGANS | {"PTV_reirr"}
    assert set(prior_masks) == ORGANS | {"PTV_prior"}


def test_parotids_are_about_25_cc():
    assert REFERENCE_VOLUMES_CC["Parotid_L"] == pytest.approx(24.8, abs=0.1)


@pytest.fixture(scope="module")
def reference_fractions(case, reference_ct):
    return read_structures(case.reirradiation.structures_path, reference_ct.grid, partial_volume=True)


@pytest.mark.parametrize("name", list(REFERENCE_VOLUMES_CC))
def test_reference_structure_volumes_match_the_analytic_shapes(reference_fractions, reference_ct, name):
    volume_cc = float(reference_fractions[name].array.sum()) * reference_ct.grid.voxel_volume_mm3 / 1000.0
    assert volume_cc == pytest.approx(REFERENCE_VOLUMES_CC[name], rel=0.03)


def test_prior_target_is_its_ellipsoid_in_the_prior_frame(case, prior_ct):
    fraction = read_structures(case.prior.structures_path, prior_ct.grid, names=["PTV_prior"], partial_volume=True)["PTV_prior"]
    volume_cc = float(fraction.array.sum()) * prior_ct.grid.voxel_volume_mm3 / 1000.0
    assert volume_cc == pytest.approx(ellipsoid_cc(18, 15, 26), rel=0.03)


@pytest.mark.parametrize("course", ["reference", "prior"])
def test_contours_agree_with_their_ct(course, reference_ct, prior_ct, reference_masks, prior_masks):
    ct, masks = (reference_ct, reference_masks) if course == "reference" else (prior_ct, prior_masks)
    hu = ct.array
    assert hu[masks["Mandible"].array].mean() > 500.0  # bone, blurred at the edges of an 8 mm thick arc
    assert 20.0 < hu[masks["SpinalCord"].array].mean() < 35.0  # cord 30 HU inside 10 HU fluid
    assert hu[masks["Parotid_L"].array].mean() == pytest.approx(0.0, abs=20.0)
    assert np.mean(hu[masks["BODY"].array] > -500.0) > 0.97
    assert np.mean(hu[~masks["BODY"].array] < -900.0) > 0.97


@pytest.fixture(scope="module")
def prior_fractions(case, prior_ct):
    return read_structures(case.prior.structures_path, prior_ct.grid, partial_volume=True)


@pytest.mark.parametrize("name", sorted(ORGANS))
def test_prior_structures_are_the_reference_ones_moved_by_the_true_field(
    name, reference_fractions, prior_fractions, true_field, sample
):
    """Soft Dice of partial-volume masks (4.4 and 4 mm voxels blur thin shapes such as the 8 mm mandible)."""
    reference = reference_fractions[name].array

    def dice(pulled):
        return 2.0 * np.minimum(pulled, reference).sum() / (pulled.sum() + reference.sum())

    through_field = dice(sample(prior_fractions[name], true_field.moving_points()))
    unmoved = dice(sample(prior_fractions[name], true_field.grid.world_coordinates()))
    assert through_field > 0.84
    assert through_field > unmoved + 0.04
