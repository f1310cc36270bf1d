"""Case completeness: which courses a folder of received objects holds, in which order, and what it still lacks."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from accumulate.errors import InputError
from accumulate.geometry import DisplacementField, Grid
from accumulate.io import write_deformable_registration, write_spatial_registration
from accumulate.registration import read_field
from accumulate.service._cases import assess, run_config
from accumulate.service._settings import Profile


def _case(demo, folder, *, prior=True, reirradiation=True, reg=True, without=()):
    """A case folder with the chosen parts of the demo export (less the files named in ``without``)."""
    folder.mkdir()
    for wanted, course in ((prior, demo.prior), (reirradiation, demo.reirradiation)):
        if wanted:
            shutil.copytree(course, folder / course.name, ignore=shutil.ignore_patterns(*without))
    if reg:
        shutil.copy(demo.reg, folder / "REG.dcm")
    return folder


def test_a_complete_case_is_ready_with_courses_by_plan_date_and_the_reg_as_the_prior_field(demo, tmp_path):
    found = assess(_case(demo, tmp_path / "case"))
    assert found.ready and found.waiting_for == ()
    prior, reference = found.courses
    assert (prior.date, reference.date) == (demo.case.prior.plan_date, demo.case.reirradiation.plan_date)
    assert prior.files.frame_of_reference_uid == demo.case.prior.frame_of_reference_uid
    assert prior.dvf == tmp_path / "case" / "REG.dcm" and reference.dvf is None

    config = run_config(found, Profile(tmp_path / "profile.toml", {"warp": {"method": "direct"}}))
    assert [c.name for c in config.courses] == ["course1_20210315", "course2_20241001"]
    assert config.reference.dose == tmp_path / "case" / "reirradiation" / "RD.dcm"
    assert config.courses[0].dvf == tmp_path / "case" / "REG.dcm" and config.warp_method == "direct"


def test_what_a_case_still_lacks_is_named(demo, tmp_path):
    no_dose = assess(_case(demo, tmp_path / "a", without=("RD.dcm",)))
    assert not no_dose.ready and any("RTDOSE" in item for item in no_dose.waiting_for)
    # the REG maps from the prior frame, so the case waits for the prior course
    one_course = assess(_case(demo, tmp_path / "b", prior=False))
    assert any(demo.case.prior.frame_of_reference_uid in item for item in one_course.waiting_for)
    assert any("a second course" in item for item in one_course.waiting_for)
    with pytest.raises(InputError, match="at least two"):
        run_config(one_course, Profile(tmp_path / "p.toml", {}))
    no_ct = assess(_case(demo, tmp_path / "c", without=("CT*",)))
    assert not no_ct.ready and any("CT series" in item for item in no_ct.waiting_for)


def test_a_prior_plan_named_by_the_new_plan_must_be_present(demo, tmp_path):
    folder = _case(demo, tmp_path / "case", prior=False, reg=False)
    plan_path = folder / "reirradiation" / "RP.dcm"
    plan = pydicom.dcmread(plan_path)
    reference = Dataset()
    reference.ReferencedSOPClassUID = plan.SOPClassUID
    reference.ReferencedSOPInstanceUID = demo.case.prior.plan_uid
    reference.RTPlanRelationship = "PRIOR"
    plan.ReferencedRTPlanSequence = [reference]
    plan.save_as(plan_path)
    assert any(demo.case.prior.plan_uid in item for item in assess(folder).waiting_for)
    shutil.copytree(demo.prior, folder / "prior")
    assert assess(folder).ready  # without a REG the prior course will be registered


@pytest.mark.parametrize("slices, used", [(slice(None), True), (slice(0, 6), False)], ids=["covering", "cropped"])
def test_a_reg_on_its_own_grid_is_used_only_where_it_covers_the_body(demo, tmp_path, slices, used):
    # a vendor REG on a coarser grid over the whole CT is used (the pipeline resamples it); one
    # cropped to the first 12 of 30 slices leaves most of the body unmapped, so the prior is registered
    folder = _case(demo, tmp_path / "case", reg=False)
    true_field = read_field(demo.case.true_field_path)
    grid = true_field.grid
    coarse = np.asarray(true_field.array)[::2, ::2, ::2][slices]
    coarse_grid = Grid(coarse.shape[:3], grid.origin_mm, tuple(2 * s for s in grid.spacing_mm), grid.direction)
    write_deformable_registration(DisplacementField(coarse, coarse_grid), folder / "REG.dcm",
                                  fixed_like=demo.case.reirradiation.dose_path,
                                  moving_frame_uid=demo.case.prior.frame_of_reference_uid)  # fmt: skip
    found = assess(folder)
    assert found.ready and [c.dvf for c in found.courses] == [folder / "REG.dcm" if used else None, None]


def test_a_received_rigid_reg_starts_the_registration_when_no_deformable_reg_came(demo, tmp_path):
    folder = _case(demo, tmp_path / "case", reg=False)
    moving_to_fixed = np.eye(4)
    moving_to_fixed[:3, 3] = (-3.0, 2.0, -4.0)
    write_spatial_registration(
        np.eye(4), folder / "REG_MR.dcm", fixed_like=demo.case.prior.dose_path, moving_frame_uid="1.2.826.0.1.7"
    )  # fmt: skip  (an MR fusion: other frames, passed over)
    write_spatial_registration(moving_to_fixed, folder / "REG_RT.dcm", fixed_like=demo.case.reirradiation.dose_path,
                               moving_frame_uid=demo.case.prior.frame_of_reference_uid)  # fmt: skip
    found = assess(folder)
    assert found.ready and [(c.dvf, c.rigid_start) for c in found.courses] == [(None, folder / "REG_RT.dcm"), (None, None)]
    config = run_config(found, Profile(tmp_path / "profile.toml", {}))
    assert config.courses[0].rigid_start == folder / "REG_RT.dcm" and config.courses[0].dvf is None
