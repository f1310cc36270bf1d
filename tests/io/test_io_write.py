"""write_dose and the deformable REG writer: values, headers, atomicity, dciodvfy."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from io_synthetic import DICOMPYLER, HAVE_DCIODVFY, dciodvfy_errors, read_raw_dose, rotation_z, sixteen_bit_copy

import accumulate.io._dose_writer as dose_writer_module
from accumulate.errors import InputError
from accumulate.geometry import Grid, Volume
from accumulate.io import read_dose, write_dose

CT = DICOMPYLER / "ct.0.dcm"
PLAN_UID = "1.2.826.0.1.3680043.8.498.1"


@pytest.fixture(scope="module")
def cropped_dose():
    """The dicompyler dose cut to a 20 x 30 x 40 box around its maximum (the values are real)."""
    dose = read_dose(DICOMPYLER / "rtdose.dcm")
    k, j, i = np.unravel_index(np.argmax(dose.array), dose.grid.shape)
    start = np.array([max(k - 10, 0), max(j - 15, 0), max(i - 20, 0)])
    grid = dose.grid.crop(start, start + [20, 30, 40])
    return Volume(dose.array[start[0] : start[0] + 20, start[1] : start[1] + 30, start[2] : start[2] + 40].copy(), grid)


def test_rtdose_round_trip_read_by_hand(cropped_dose, tmp_path):
    out = write_dose(cropped_dose, tmp_path / "sum.dcm", like=CT, quantity="physical dose sum", referenced_plans=[PLAN_UID])
    ds, values = read_raw_dose(out)
    ct = pydicom.dcmread(CT, stop_before_pixels=True)
    scaling = float(ds.DoseGridScaling)
    assert len(str(ds["DoseGridScaling"].value)) <= 16
    assert values.max() == pytest.approx(cropped_dose.array.max(), abs=scaling / 2)
    assert np.abs(values - cropped_dose.array).max() <= scaling / 2 * (1 + 1e-9)
    assert scaling <= cropped_dose.array.max() / (2**32 - 1) * (1 + 1e-8)  # uses the whole 32-bit range
    assert ds.FrameOfReferenceUID == ct.FrameOfReferenceUID and ds.StudyInstanceUID == ct.StudyInstanceUID
    assert ds.PatientName == ct.PatientName and ds.PatientID == ct.PatientID
    source = pydicom.dcmread(DICOMPYLER / "rtdose.dcm", stop_before_pixels=True)
    assert ds.SeriesInstanceUID != source.SeriesInstanceUID and ds.SOPInstanceUID != source.SOPInstanceUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert (ds.DoseType, ds.DoseUnits, ds.DoseSummationType) == ("PHYSICAL", "GY", "PLAN")
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == PLAN_UID
    assert ds.SeriesDescription == ds.DoseComment == "physical dose sum"
    np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], cropped_dose.grid.origin_mm, atol=1e-6)
    np.testing.assert_allclose([float(v) for v in ds.GridFrameOffsetVector], 3.0 * np.arange(20), atol=1e-9)
    assert [float(v) for v in ds.PixelSpacing] == [2.5, 2.5]
    back = read_dose(out)
    assert back.grid.is_close(cropped_dose.grid)


def test_eqd2_is_effective_and_names_its_quantity(cropped_dose, tmp_path):
    eqd2 = cropped_dose.with_array(cropped_dose.array * 1.3, quantity="eqd2", unit="Gy")
    out = write_dose(eqd2, tmp_path / "eqd2.dcm", like=DICOMPYLER / "rtplan.dcm", quantity="cumulative EQD2, alpha/beta 2 Gy")
    ds = pydicom.dcmread(out)
    assert ds.DoseType == "EFFECTIVE" and ds.DoseComment == "cumulative EQD2, alpha/beta 2 Gy"
    plan = pydicom.dcmread(DICOMPYLER / "rtplan.dcm", stop_before_pixels=True)
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == plan.SOPInstanceUID  # taken from like
    two = write_dose(eqd2, tmp_path / "two.dcm", like=CT, referenced_plans=[PLAN_UID, PLAN_UID + ".2"])
    assert pydicom.dcmread(two).DoseSummationType == "MULTI_PLAN"


def test_sixteen_bit_option(cropped_dose, tmp_path):
    out = write_dose(cropped_dose, tmp_path / "d16.dcm", like=CT, referenced_plans=[PLAN_UID], bits=16)
    ds, values = read_raw_dose(out)
    assert ds.BitsAllocated == 16
    assert np.abs(values - cropped_dose.array).max() <= float(ds.DoseGridScaling) / 2 * (1 + 1e-9)


@pytest.mark.parametrize(
    "direction", [rotation_z(20)[:3, :3], rotation_z(20)[:3, :3] @ np.diag([1, 1, -1.0])], ids=["oblique", "left-handed"]
)
def test_any_orientation_round_trips(direction, tmp_path):
    grid = Grid((3, 4, 5), (1.0, -2.0, 3.0), (1.5, 2.0, 2.5), tuple(direction.reshape(-1)))
    values = np.arange(60, dtype=float).reshape(3, 4, 5) / 7
    out = write_dose(Volume(values, grid), tmp_path / "o.dcm", like=CT, referenced_plans=[PLAN_UID])
    back = read_dose(out)
    # every voxel keeps its value at its own LPS position
    np.testing.assert_allclose(back.grid.world_coordinates(), grid.world_coordinates(), atol=1e-6)
    np.testing.assert_allclose(back.array, values, atol=float(pydicom.dcmread(out).DoseGridScaling))


@pytest.mark.parametrize("suffix", [".mha", ".nrrd", ".nii.gz"])
def test_research_formats_round_trip(cropped_dose, tmp_path, suffix):
    out = write_dose(cropped_dose, tmp_path / f"dose{suffix}")
    back = read_dose(out)
    assert back.grid.is_close(cropped_dose.grid)
    np.testing.assert_allclose(back.array, cropped_dose.array, rtol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [f"dose{suffix}"]


def test_refusals_name_the_problem(cropped_dose, tmp_path):
    target = tmp_path / "x.dcm"
    negative = cropped_dose.with_array(cropped_dose.array - 1.0, quantity="remaining_dose")
    with pytest.raises(InputError, match=r"no negative values \(min -1 Gy\); clip at 0"):
        write_dose(negative, target, like=CT, referenced_plans=[PLAN_UID])
    nan = cropped_dose.array.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="1 NaN"):
        write_dose(cropped_dose.with_array(nan), target, like=CT, referenced_plans=[PLAN_UID])
    with pytest.raises(InputError, match="holds Gy or Gy\\(RBE\\), got a volume in 'HU'"):
        write_dose(
            cropped_dose.with_array(cropped_dose.array, quantity="hu", unit="HU"),
            target,
            like=CT,
            referenced_plans=[PLAN_UID],
        )
    with pytest.raises(InputError, match="must reference the RTPLAN"):
        write_dose(cropped_dose, target, like=CT)
    with pytest.raises(InputError, match="cannot tell the format"):
        write_dose(cropped_dose, tmp_path / "x.txt")
    assert list(tmp_path.iterdir()) == []


def test_nothing_is_written_half(cropped_dose, tmp_path, monkeypatch):
    target = tmp_path / "dose.dcm"
    target.write_bytes(b"previous version")

    def broken_write(path, dataset, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"DICM partial")
        raise OSError("disk full")

    monkeypatch.setattr(dose_writer_module.pydicom, "dcmwrite", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_dose(cropped_dose, target, like=CT, referenced_plans=[PLAN_UID])
    assert target.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir()] == ["dose.dcm"]


needs_dciodvfy = pytest.mark.skipif(not HAVE_DCIODVFY, reason="dciodvfy (apt install dicom3tools) not found")


@needs_dciodvfy
def test_rtdose_validates_with_dciodvfy(cropped_dose, tmp_path):
    out16 = write_dose(cropped_dose, tmp_path / "d16.dcm", like=CT, referenced_plans=[PLAN_UID], bits=16)
    assert dciodvfy_errors(out16) == []
    out32 = write_dose(cropped_dose, tmp_path / "d32.dcm", like=CT, referenced_plans=[PLAN_UID])
    assert dciodvfy_errors(sixteen_bit_copy(out32, tmp_path / "header32.dcm")) == []


RT_PLAN_CLASS, RT_ION_PLAN_CLASS = "1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.481.8"
REG_CLASS = "1.2.840.10008.5.1.4.1.1.66.3"


def _ion_plan(tmp_path):
    """The dicompyler plan turned into an RT Ion Plan (protons) with pydicom: class, beams, Modality RTPLAN."""
    ds = pydicom.dcmread(DICOMPYLER / "rtplan.dcm")
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = RT_ION_PLAN_CLASS
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    beam = pydicom.Dataset()
    beam.BeamNumber, beam.RadiationType, beam.BeamName = 1, "PROTON", "P1"
    ds.IonBeamSequence = [beam]
    del ds.BeamSequence
    ds.save_as(tmp_path / "ion_plan.dcm", enforce_file_format=True)
    return tmp_path / "ion_plan.dcm", ds


def test_ion_plans_are_referenced_as_ion_plans(cropped_dose, tmp_path):
    from accumulate.io import InstanceReference, read_plan

    path, ion = _ion_plan(tmp_path)
    plan = read_plan(path)
    assert plan.sop_class_uid == RT_ION_PLAN_CLASS and plan.rbe_weighted
    assert plan.reference == InstanceReference(RT_ION_PLAN_CLASS, str(ion.SOPInstanceUID))
    by_like = pydicom.dcmread(write_dose(cropped_dose, tmp_path / "a.dcm", like=path))
    by_ref = pydicom.dcmread(write_dose(cropped_dose, tmp_path / "b.dcm", like=CT, referenced_plans=[plan.reference, PLAN_UID]))
    assert [(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID) for i in by_like.ReferencedRTPlanSequence] == [
        (RT_ION_PLAN_CLASS, ion.SOPInstanceUID)
    ]
    assert [i.ReferencedSOPClassUID for i in by_ref.ReferencedRTPlanSequence] == [RT_ION_PLAN_CLASS, RT_PLAN_CLASS]
    assert by_ref.DoseSummationType == "MULTI_PLAN"
    # an RTDOSE as ``like`` passes its plans on with their classes
    again = pydicom.dcmread(write_dose(cropped_dose, tmp_path / "c.dcm", like=tmp_path / "a.dcm"))
    assert again.ReferencedRTPlanSequence[0].ReferencedSOPClassUID == RT_ION_PLAN_CLASS


def test_every_dose_names_its_software(cropped_dose, tmp_path):
    from importlib.metadata import version

    ds = pydicom.dcmread(write_dose(cropped_dose, tmp_path / "d.dcm", like=CT, referenced_plans=[PLAN_UID], series_number=7))
    assert ds.Manufacturer == "accumulate" and ds.SoftwareVersions == version("accumulate-rt")
    assert ds.SeriesNumber == 7
    assert "ImageType" not in ds and "SpatialTransformOfDose" not in ds  # an original dose says nothing of a derivation


def _derived(cropped_dose, tmp_path, transform="NON_RIGID"):
    from accumulate.io import COMPOSED_FROM_DEFORMABLE_REGISTRATION, COMPOSED_WITH_RADIOBIOLOGY, DoseDerivation, InstanceReference

    source = InstanceReference("1.2.840.10008.5.1.4.1.1.481.2", "1.2.826.0.1.3680043.8.498.77")
    reg = InstanceReference(REG_CLASS, "1.2.826.0.1.3680043.8.498.78")
    derivation = DoseDerivation("EQD2 of the prior dose, alpha/beta 2 Gy", [COMPOSED_WITH_RADIOBIOLOGY,
                                COMPOSED_FROM_DEFORMABLE_REGISTRATION], [source], transform, [reg])  # fmt: skip
    eqd2 = cropped_dose.with_array(cropped_dose.array, quantity="eqd2")
    return write_dose(eqd2, tmp_path / "derived.dcm", like=CT, referenced_plans=[PLAN_UID], derivation=derivation)


def test_a_derived_dose_says_how_it_was_made(cropped_dose, tmp_path):
    ds = pydicom.dcmread(_derived(cropped_dose, tmp_path))
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert ds.SpatialTransformOfDose == "NON_RIGID"
    assert [(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID) for i in ds.ReferencedSpatialRegistrationSequence] == [
        (REG_CLASS, "1.2.826.0.1.3680043.8.498.78")
    ]
    # PS3.16 CID 7220 codes and the CID 7221 purpose of a source dose
    assert [(c.CodeValue, c.CodingSchemeDesignator) for c in ds.DerivationCodeSequence] == [("121377", "DCM"), ("121367", "DCM")]
    (source,) = ds.ReferencedInstanceSequence
    assert source.ReferencedSOPInstanceUID == "1.2.826.0.1.3680043.8.498.77"
    assert source.PurposeOfReferenceCodeSequence[0].CodeValue == "121372"
    assert ds.DerivationDescription == "EQD2 of the prior dose, alpha/beta 2 Gy"
    assert ds.DoseType == "EFFECTIVE"


def test_no_registration_is_referenced_without_a_transform(cropped_dose, tmp_path):
    ds = pydicom.dcmread(_derived(cropped_dose, tmp_path, transform="NONE"))
    assert ds.SpatialTransformOfDose == "NONE" and "ReferencedSpatialRegistrationSequence" not in ds


def test_derivation_refusals():
    from accumulate.io import DoseDerivation

    with pytest.raises(InputError, match="spatial_transform must be one of"):
        DoseDerivation("x", spatial_transform="DEFORMED")
    with pytest.raises(InputError, match="1025 characters; DICOM ST holds 1024"):
        DoseDerivation("x" * 1025)


@needs_dciodvfy
def test_derived_dose_validates_with_dciodvfy(cropped_dose, tmp_path):
    assert dciodvfy_errors(sixteen_bit_copy(_derived(cropped_dose, tmp_path), tmp_path / "d16.dcm")) == []
