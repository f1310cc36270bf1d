"""Plans, doses and course discovery of the demo case, read with accumulate.io."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pydicom
import pytest

from accumulate.io import discover_courses, read_dose, read_plan, read_structures

COURSES = {
    # course: (fractions, prescription Gy, plan date, target)
    "prior": (35, 70.0, dt.date(2021, 3, 15), "PTV_prior"),
    "reirradiation": (5, 35.0, dt.date(2024, 10, 1), "PTV_reirr"),
}


def course_of(case, key):
    return case.prior if key == "prior" else case.reirradiation


@pytest.mark.parametrize("key", list(COURSES))
def test_plan_states_fractions_prescription_date_and_photons(case, key):
    fractions, prescription, date, _ = COURSES[key]
    course = course_of(case, key)
    plan = read_plan(course.plan_path)
    assert (plan.fractions, plan.prescription_gy, plan.plan_date, plan.radiation_type) == (
        fractions,
        prescription,
        date,
        "PHOTON",
    )
    assert (course.fractions, course.prescription_gy, course.plan_date) == (fractions, prescription, date)
    structures = pydicom.dcmread(course.structures_path, stop_before_pixels=True)
    assert plan.structure_set_uid == structures.SOPInstanceUID
    assert plan.frame_of_reference_uid == course.frame_of_reference_uid


def test_courses_are_about_three_and_a_half_years_apart(case):
    assert case.interval_months == pytest.approx(1296 / (365.25 / 12))  # 2021-03-15 -> 2024-10-01 is 1296 days


def test_discovery_finds_both_courses_complete(case):
    found = discover_courses(case.folder)
    assert len(found) == 2
    by_plan = {c.plan_path: c for c in found}
    for course in (case.prior, case.reirradiation):
        files = by_plan[course.plan_path]
        assert files.complete, files.missing
        assert files.dose_paths == (course.dose_path,)
        assert files.structure_path == course.structures_path
        assert files.ct_folder == course.folder
        assert len(files.ct_paths) == course.ct_grid.shape[0]
        assert files.frame_of_reference_uid == course.frame_of_reference_uid
    assert case.prior.frame_of_reference_uid != case.reirradiation.frame_of_reference_uid


@pytest.mark.parametrize("key", list(COURSES))
def test_dose_is_the_prescription_at_the_target_centre_on_a_grid_inside_the_ct(case, key):
    fractions, prescription, _, target = COURSES[key]
    course = course_of(case, key)
    dose = read_dose(course.dose_path)
    header = pydicom.dcmread(course.dose_path, stop_before_pixels=True)
    assert header.DoseSummationType == "PLAN" and header.FrameOfReferenceUID == course.frame_of_reference_uid
    assert header.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == course.plan_uid
    assert dose.grid.spacing_mm == pytest.approx((4.0, 4.0, 4.0))
    assert course.ct_grid.contains_world(dose.grid.corners_world(), margin_voxels=0.51).all()
    mask = read_structures(course.structures_path, dose.grid, names=[target])[target].array
    centroid = dose.grid.world_from_index(np.argwhere(mask).mean(axis=0))
    assert dose.value_at(centroid) == pytest.approx(prescription, rel=0.005)
    assert dose.array.max() < 1.005 * prescription
    assert np.median(dose.array[mask]) > 0.97 * prescription


def test_prior_cord_dose_is_below_tolerance_but_not_negligible(case):
    dose = read_dose(case.prior.dose_path)
    cord = read_structures(case.prior.structures_path, dose.grid, names=["SpinalCord"])["SpinalCord"].array
    assert 30.0 < dose.array[cord].max() < 45.0


def test_reirradiation_target_lies_partly_in_the_prior_high_dose_region(case, reference_ct, sample):
    prior_dose = read_dose(case.prior.dose_path)
    target = read_structures(case.reirradiation.structures_path, reference_ct.grid, names=["PTV_reirr"])["PTV_reirr"].array
    points = reference_ct.grid.world_coordinates()[target]
    prior_in_target = sample(prior_dose, case.prior_point_of(points))
    assert prior_in_target.max() > 60.0 and prior_in_target.min() < 45.0
