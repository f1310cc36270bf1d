"""A spatial (rigid) REG from the planning system starts the elastix registration of a prior course.

The phantom's deformation has a known rigid part (accumulate.phantom._deformation): the prior
point of reference point p is R (p - c) + c + t plus the neck's shrinkage, R a rotation of 2
degrees about z. The REG holds the inverse (prior -> reference), as a planning system writes it.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from accumulate import InputError, write_spatial_registration
from accumulate.config import config_with_courses
from accumulate.phantom import write_demo_case
from accumulate.pipeline import _fields, run
from accumulate.registration import RegistrationResult, read_field


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("case") / "hn", size="test")


def _prior_to_reference() -> np.ndarray:
    a = np.radians(2.0)
    rotation = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    centre, translation = np.array([0.0, 10.0, 0.0]), np.array([3.0, -2.0, 4.0])
    reference_to_prior = np.eye(4)
    reference_to_prior[:3, :3] = rotation
    reference_to_prior[:3, 3] = centre - rotation @ centre + translation
    return np.linalg.inv(reference_to_prior)


@pytest.fixture
def captured(case, monkeypatch):
    """Replaces elastix by the true field and keeps the arguments it was called with."""
    calls = []

    def fake_register(fixed, moving, **options):
        calls.append(options)
        return RegistrationResult(read_field(case.true_field_path), (), options["output_directory"], ())

    monkeypatch.setattr(_fields, "register", fake_register)
    return calls


def _run(case, tmp_path, prior_folder, **prior_keys):
    settings = {"registration": {"preset": "fast"}, "output": {"dir": str(tmp_path / "out")}}
    prior = {"name": "prior", "dicom": str(prior_folder), **prior_keys}
    courses = [prior, {"name": "reirr", "dicom": str(case.reirradiation.folder)}]
    return run(config_with_courses(settings, courses, tmp_path / "run.toml"), progress=lambda line: None)


def test_a_reg_in_the_export_starts_the_registration_and_other_frames_are_passed_over(case, tmp_path, captured):
    prior = tmp_path / "prior"
    shutil.copytree(case.prior.folder, prior)
    # an MR fusion of the prior course (another frame) listed first, then the planning system's rigid REG
    write_spatial_registration(np.eye(4), prior / "REG_MR.dcm", fixed_like=case.prior.dose_path, moving_frame_uid="1.2.826.0.1.9")
    write_spatial_registration(_prior_to_reference(), prior / "REG_RT.dcm", fixed_like=case.reirradiation.dose_path,
                               moving_frame_uid=case.prior.frame_of_reference_uid)  # fmt: skip
    result = _run(case, tmp_path, prior)
    (options,) = captured
    np.testing.assert_allclose(options["initial_moving_to_fixed"], _prior_to_reference(), atol=1e-9)
    assert "rigid start from" in result.summary["registration"]["prior"]["field"]
    assert "REG_RT.dcm" in result.summary["registration"]["prior"]["field"]


def test_without_a_reg_elastix_starts_from_the_identity(case, tmp_path, captured):
    _run(case, tmp_path, case.prior.folder)
    assert captured[0]["initial_moving_to_fixed"] is None


def test_a_given_rigid_start_between_other_frames_is_an_error(case, tmp_path, captured):
    reg = write_spatial_registration(np.eye(4), tmp_path / "mr.dcm", fixed_like=case.prior.dose_path, moving_frame_uid="1.2.9")
    with pytest.raises(InputError, match=r"course 'prior': rigid_start .*mr.dcm is not a spatial REG from frame"):
        _run(case, tmp_path, case.prior.folder, rigid_start=str(reg))
    assert captured == []
