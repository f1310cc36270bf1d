"""What a run's DICOM files say, read back with pydicom and checked with dciodvfy.

The demo case (true field, direct warp, the hn-reirradiation constraints): every RTDOSE, REG
and RTSTRUCT of the run validates; references resolve to the files of the same run and of the
case's exports (read here with pydicom, not with the package); each dose says what it is; the
remaining dose is capped, is no plan's dose, and its mask and regions mark where limits apply.
A second run makes the prior course a proton course (RT Ion Plan, EFFECTIVE dose).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy.ndimage import binary_dilation

from accumulate import read_dose, read_structures
from accumulate.phantom import write_demo_case
from accumulate.pipeline import run
from accumulate.registration import read_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from io_synthetic import HAVE_DCIODVFY, dciodvfy_errors, sixteen_bit_copy  # noqa: E402
from test_pipeline import _config  # noqa: E402

RT_PLAN, RT_ION_PLAN, RT_DOSE = "1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.481.8", "1.2.840.10008.5.1.4.1.1.481.2"
CT_IMAGE, DEFORMABLE_REG = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.66.3"
#: The structures of the demo case that hn-reirradiation bounds voxel by voxel (cumulative D0.03cc / Dmax)
LIMITED = ("SpinalCord", "Brainstem", "Mandible")


SETTINGS = """
[constraints]
set = "hn-reirradiation"
[radiobiology]
alpha_beta_default = 2.5
alpha_beta = { SpinalCord = 2.0 }
[warp]
method = "direct"
"""


def _run(case, folder: Path, prior: Path | None = None):
    """The demo case with its true field (the prior course's export from ``prior`` if given) and SETTINGS."""
    config = _config(case, folder, SETTINGS)
    if prior is not None:
        config = replace(config, courses=(replace(config.courses[0], dicom=prior), *config.courses[1:]))
    return run(config, progress=lambda line: None)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("case") / "hn", size="test")


@pytest.fixture(scope="module")
def outputs(case, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    result = _run(case, folder)
    return result, {p.name: pydicom.dcmread(p) for p in (folder / "out").glob("*.dcm")}


def _header(path):
    return pydicom.dcmread(path, stop_before_pixels=True)


def _ct_uids(folder: Path) -> list[str]:
    """The CT SOP Instance UIDs of an export folder, in slice order (by z)."""
    cts = [_header(p) for p in sorted(folder.glob("CT*.dcm"))]
    return [str(ds.SOPInstanceUID) for ds in sorted(cts, key=lambda ds: float(ds.ImagePositionPatient[2]))]


def _refs(sequence):
    return [(str(i.ReferencedSOPClassUID), str(i.ReferencedSOPInstanceUID)) for i in sequence]


def _dose_values(ds):
    return ds.pixel_array.astype(float) * float(ds.DoseGridScaling)


@pytest.mark.skipif(not HAVE_DCIODVFY, reason="dciodvfy (apt install dicom3tools) not found")
def test_every_dicom_output_validates(outputs, tmp_path):
    result, files = outputs
    assert set(files) == {"cumulative_eqd2.dcm", "cumulative_physical.dcm", "warped_prior.dcm", "remaining_dose.dcm",
                          "field_prior.dcm", "remaining_dose_regions.dcm"}  # fmt: skip
    for name in files:
        path = result.output_dir / name
        if files[name].Modality == "RTDOSE":  # 32-bit pixels: the header on a 16-bit copy (dciodvfy's bug)
            path = sixteen_bit_copy(path, tmp_path / name)
        assert dciodvfy_errors(path) == [], name


def test_series_are_apart_and_name_their_software(outputs):
    _, files = outputs
    numbers = [int(ds.SeriesNumber) for ds in files.values()]
    assert len(set(numbers)) == len(numbers)
    assert len({ds.SeriesInstanceUID for ds in files.values()}) == len(files)
    assert len({ds.SeriesDescription for ds in files.values()}) == len(files)
    for ds in files.values():
        assert ds.Manufacturer == "accumulate" and ds.SoftwareVersions == version("accumulate-rt")
        assert "Laterality" not in ds


def test_the_registration_maps_the_reference_ct_onto_the_prior_ct(case, outputs):
    _, files = outputs
    reg = files["field_prior.dcm"]
    assert reg.SOPClassUID == DEFORMABLE_REG
    assert reg.FrameOfReferenceUID == case.reirradiation.frame_of_reference_uid
    (item,) = reg.DeformableRegistrationSequence
    assert item.SourceFrameOfReferenceUID == case.prior.frame_of_reference_uid
    assert _refs(item.ReferencedImageSequence) == [(CT_IMAGE, uid) for uid in _ct_uids(case.prior.folder)]
    # both CT series in the Common Instance Reference module: the reference CT in this study, the prior CT in its own
    reference_ct = _header(next(case.reirradiation.folder.glob("CT*.dcm")))
    prior_ct = _header(next(case.prior.folder.glob("CT*.dcm")))
    assert reg.StudyInstanceUID == reference_ct.StudyInstanceUID != prior_ct.StudyInstanceUID
    (own,) = reg.ReferencedSeriesSequence
    assert own.SeriesInstanceUID == reference_ct.SeriesInstanceUID
    assert [uid for _, uid in _refs(own.ReferencedInstanceSequence)] == _ct_uids(case.reirradiation.folder)
    (other,) = reg.StudiesContainingOtherReferencedInstancesSequence
    assert other.StudyInstanceUID == prior_ct.StudyInstanceUID
    assert other.ReferencedSeriesSequence[0].SeriesInstanceUID == prior_ct.SeriesInstanceUID
    assert reg.BodyPartExamined == "HEADNECK"  # from the reference CT: an unpaired body part, so no Laterality


def test_warped_and_summed_doses_are_marked_as_deformed_and_name_their_plans(case, outputs):
    _, files = outputs
    reg = (DEFORMABLE_REG, str(files["field_prior.dcm"].SOPInstanceUID))
    plans = {key: _header(getattr(case, key).plan_path) for key in ("prior", "reirradiation")}
    doses = {key: _header(getattr(case, key).dose_path) for key in ("prior", "reirradiation")}
    warped = files["warped_prior.dcm"]
    assert (warped.DoseType, warped.DoseSummationType, warped.SpatialTransformOfDose) == ("PHYSICAL", "PLAN", "NON_RIGID")
    assert _refs(warped.ReferencedRTPlanSequence) == [(RT_PLAN, plans["prior"].SOPInstanceUID)]
    assert _refs(warped.ReferencedSpatialRegistrationSequence) == [reg]
    assert _refs(warped.ReferencedInstanceSequence) == [(RT_DOSE, doses["prior"].SOPInstanceUID)]
    assert warped.ReferencedInstanceSequence[0].PurposeOfReferenceCodeSequence[0].CodeValue == "121372"  # source dose
    assert [c.CodeValue for c in warped.DerivationCodeSequence] == ["121367"]  # composed from deformable registration
    for name, dose_type, codes in (("cumulative_eqd2.dcm", "EFFECTIVE", ["121371", "121377", "121367"]),
                                   ("cumulative_physical.dcm", "PHYSICAL", ["121371", "121367"])):  # fmt: skip
        ds = files[name]
        assert (ds.DoseType, ds.DoseSummationType, ds.SpatialTransformOfDose) == (dose_type, "MULTI_PLAN", "NON_RIGID")
        assert _refs(ds.ReferencedRTPlanSequence) == [(RT_PLAN, plans[k].SOPInstanceUID) for k in ("prior", "reirradiation")]
        assert _refs(ds.ReferencedSpatialRegistrationSequence) == [reg]
        assert _refs(ds.ReferencedInstanceSequence) == [(RT_DOSE, doses[k].SOPInstanceUID) for k in ("prior", "reirradiation")]
        assert [c.CodeValue for c in ds.DerivationCodeSequence] == codes
    for ds in (warped, files["cumulative_eqd2.dcm"], files["cumulative_physical.dcm"], files["remaining_dose.dcm"]):
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
        assert ds.FrameOfReferenceUID == case.reirradiation.frame_of_reference_uid
        assert ds.StudyInstanceUID == doses["reirradiation"].StudyInstanceUID


def test_the_eqd2_names_its_radiobiology(outputs):
    _, files = outputs
    ds = files["cumulative_eqd2.dcm"]
    assert ds.SeriesDescription.startswith("cumulative EQD2 Gy, a/b per structure, default 2.5 Gy")
    assert ds.DoseComment == ds.SeriesDescription
    text = ds.DerivationDescription
    assert "reference dose 2 Gy per fraction" in text and "SpinalCord 2; elsewhere 2.5" in text
    assert "recovery: none" in text and len(text) <= 1024


def test_remaining_dose_is_capped_no_plans_dose_and_says_where_no_limit_applies(case, outputs):
    result, files = outputs
    out = result.output_dir
    ds = files["remaining_dose.dcm"]
    assert (ds.DoseType, ds.DoseSummationType, ds.SpatialTransformOfDose) == ("PHYSICAL", "PLAN", "NON_RIGID")
    # the cap: the re-irradiation's 35 Gy prescription (its dose maximum is 35 Gy as well)
    assert read_dose(case.reirradiation.dose_path).array.max() == pytest.approx(35.0, abs=1e-3)
    assert "cap 35 Gy" in ds.SeriesDescription and "Capped at 35 Gy" in ds.DerivationDescription
    values = _dose_values(ds)
    assert values.max() <= 35.0 + float(ds.DoseGridScaling)
    # the plan it names is no plan of the case nor of the run: it cannot be taken for the clinical plan's dose
    (plan,) = ds.ReferencedRTPlanSequence
    known = {str(_header(p).SOPInstanceUID) for p in list(case.folder.rglob("*.dcm")) + list(out.glob("*.dcm"))}
    assert plan.ReferencedSOPInstanceUID not in known
    assert _refs(ds.ReferencedInstanceSequence) == [(RT_DOSE, str(_header(case.prior.dose_path).SOPInstanceUID))]
    assert [c.CodeValue for c in ds.DerivationCodeSequence] == ["121370", "121377", "121367"]
    # the mask: 1 outside the structures that a max-type limit bounds. A limit on a structure's samples binds every
    # dose voxel those samples' trilinear doses depend on: all the voxels of its mask, and none beyond its neighbours
    mask = read_image(out / "remaining_dose_nolimit.mha", quantity="mask", unit="1")
    dose = read_dose(out / "remaining_dose.dcm")
    assert mask.grid.is_close(dose.grid)
    masks = read_structures(case.reirradiation.structures_path, dose.grid)
    inside = np.any([np.asarray(masks[name].array, bool) for name in LIMITED], axis=0)
    limited = np.asarray(mask.array) == 0
    assert np.all(limited[inside])
    assert np.all(~limited[~binary_dilation(inside, np.ones((3, 3, 3), bool), iterations=2)])  # end-cap slabs: 2 voxels
    np.testing.assert_allclose(dose.array[~limited], 35.0, atol=float(ds.DoseGridScaling))


def test_remaining_dose_regions_are_on_the_reference_ct(case, outputs):
    result, files = outputs
    rs = files["remaining_dose_regions.dcm"]
    assert [roi.ROIName for roi in rs.StructureSetROISequence] == ["limits apply", "remaining < 2 Gy/fx"]
    assert [o.RTROIInterpretedType for o in rs.RTROIObservationsSequence] == ["CONTROL", "AVOIDANCE"]
    assert rs.FrameOfReferenceUID == case.reirradiation.frame_of_reference_uid
    headers = [_header(p) for p in case.reirradiation.folder.glob("CT*")]
    ct = {str(h.SOPInstanceUID): float(h.ImagePositionPatient[2]) for h in headers}
    for roi in rs.ROIContourSequence:
        for contour in roi.ContourSequence:
            image = contour.ContourImageSequence[0].ReferencedSOPInstanceUID
            assert np.allclose(np.asarray(contour.ContourData, float)[2::3], ct[image])  # on the plane of its image
    # rasterised back onto the dose grid: "limits apply" is where the map is limited, the avoidance ROI where < 10 Gy remain
    dose = read_dose(result.output_dir / "remaining_dose.dcm")
    limited = np.asarray(read_image(result.output_dir / "remaining_dose_nolimit.mha", quantity="mask", unit="1").array) == 0
    regions = read_structures(result.output_dir / "remaining_dose_regions.dcm", dose.grid)
    applies, avoid = np.asarray(regions["limits apply"].array), np.asarray(regions["remaining < 2 Gy/fx"].array)
    assert 2 * np.sum(applies & limited) / (applies.sum() + limited.sum()) >= 0.9  # Dice
    low, high = limited & (dose.array < 10.0 - 2.0), limited & (dose.array > 10.0 + 2.0)
    assert avoid[low].all() and high.sum() > 100 and np.mean(avoid[high]) <= 0.02  # the level itself: test_regions.py
    assert not avoid[~limited].any()  # avoidance only where a limit applies


def _as_proton_course(case, folder: Path) -> Path:
    """The prior export with its plan made an RT Ion Plan (protons) and its dose RBE-weighted (EFFECTIVE), by pydicom."""
    shutil.copytree(case.prior.folder, folder)
    plan = pydicom.dcmread(folder / "RP.dcm")
    plan.SOPClassUID = plan.file_meta.MediaStorageSOPClassUID = RT_ION_PLAN
    plan.IonBeamSequence = plan.BeamSequence
    for beam in plan.IonBeamSequence:
        beam.RadiationType = "PROTON"
    del plan.BeamSequence
    plan.save_as(folder / "RP.dcm", enforce_file_format=True)
    dose = pydicom.dcmread(folder / "RD.dcm")
    dose.DoseType = "EFFECTIVE"
    dose.ReferencedRTPlanSequence[0].ReferencedSOPClassUID = RT_ION_PLAN
    dose.save_as(folder / "RD.dcm", enforce_file_format=True)
    return folder


def test_an_ion_plan_is_referenced_as_an_ion_plan(case, tmp_path):
    prior = _as_proton_course(case, tmp_path / "proton")
    result = _run(case, tmp_path, prior)
    ion_uid = str(_header(prior / "RP.dcm").SOPInstanceUID)
    warped = _header(result.output_dir / "warped_prior.dcm")
    assert _refs(warped.ReferencedRTPlanSequence) == [(RT_ION_PLAN, ion_uid)]
    assert warped.DoseType == "EFFECTIVE"  # an RBE-weighted dose stays one
    summed = _header(result.output_dir / "cumulative_eqd2.dcm")
    reference_plan = str(_header(case.reirradiation.plan_path).SOPInstanceUID)
    assert _refs(summed.ReferencedRTPlanSequence) == [(RT_ION_PLAN, ion_uid), (RT_PLAN, reference_plan)]
    if HAVE_DCIODVFY:
        for name in ("warped_prior.dcm", "cumulative_eqd2.dcm"):
            assert dciodvfy_errors(sixteen_bit_copy(result.output_dir / name, tmp_path / name)) == [], name
