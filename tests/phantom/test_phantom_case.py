"""write_demo_case as a whole: the analytic answer agrees with the files, determinism, atomic replacement."""

from __future__ import annotations

import numpy as np
import pytest

from accumulate.errors import InputError
from accumulate.io import read_dose
from accumulate.phantom import cumulative_eqd2_at, write_demo_case

PTV_REIRR_CENTRE = (16.0, 14.0, 0.0)


def test_cumulative_eqd2_without_the_prior_course_is_the_reirradiation_eqd2():
    # 35 Gy in 5 x 7 Gy to alpha/beta 3 Gy: 35 (3 + 7) / (3 + 2) = 70 Gy EQD2
    assert cumulative_eqd2_at(np.array(PTV_REIRR_CENTRE), 3.0, residual=0.0) == pytest.approx(70.0, rel=1e-5)


def test_expected_cumulative_eqd2_agrees_with_the_dose_files_through_the_field_file(
    case, reference_ct, reference_masks, true_field, sample
):
    """Given-field accumulation done by hand (trilinear dose interpolation): within 1 % of the maximum in 99 % of the body."""
    body = reference_masks["BODY"].array
    points = reference_ct.grid.world_coordinates()[body]
    prior = sample(read_dose(case.prior.dose_path), true_field.moving_points()[body])
    reirr = sample(read_dose(case.reirradiation.dose_path), points)
    alpha_beta, residual = 2.0, 0.7
    by_hand = residual * prior * (alpha_beta + prior / 35) / 4.0 + reirr * (alpha_beta + reirr / 5) / 4.0
    expected = cumulative_eqd2_at(points, alpha_beta, residual)
    error = np.abs(by_hand - expected) / expected.max()
    assert np.mean(error < 0.01) > 0.99
    assert expected.max() == pytest.approx(by_hand.max(), rel=0.02)


def test_case_is_deterministic_and_an_earlier_case_is_replaced(case, tmp_path):
    again = write_demo_case(tmp_path / "again", size="test")
    for name in ("RS.dcm", "RP.dcm", "CT.010.dcm"):
        assert (again.prior.folder / name).read_bytes() == (case.prior.folder / name).read_bytes()
    assert again.reirradiation.plan_uid == case.reirradiation.plan_uid
    (again.folder / "stale.txt").write_text("from the earlier case")
    write_demo_case(tmp_path / "again", size="test")
    assert not (again.folder / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # no temporary folders left behind


def test_a_folder_that_is_not_a_demo_case_is_refused_and_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a demo case"):
        write_demo_case(tmp_path, size="test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}")) == []


def test_unknown_size_is_refused(tmp_path):
    with pytest.raises(InputError, match="size must be one of"):
        write_demo_case(tmp_path / "case", size="large")
