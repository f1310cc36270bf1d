"""read_dose: RTDOSE values and grids against pydicom read by hand; units, types, summations; NRRD."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pydicom
import pytest
from io_synthetic import DICOMPYLER, ECLIPSE, PYDICOM_RT, read_raw_dose

from accumulate.errors import GeometryError, InputError
from accumulate.io import read_dose, read_plan

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # pydicom's sample has a malformed UID


def test_dicompyler_dose_matches_pydicom_by_hand():
    ds, values = read_raw_dose(DICOMPYLER / "rtdose.dcm")
    dose = read_dose(DICOMPYLER / "rtdose.dcm")
    assert dose.quantity == "dose" and dose.unit == "Gy"
    assert dose.grid.shape == (98, 129, 194)
    assert dose.array.max() == pytest.approx(values.max(), rel=1e-12)
    k, j, i = np.unravel_index(np.argmax(values), values.shape)
    ipp = np.asarray([float(v) for v in ds.ImagePositionPatient])
    offsets = [float(v) for v in ds.GridFrameOffsetVector]
    expected = ipp + np.array([i * float(ds.PixelSpacing[1]), j * float(ds.PixelSpacing[0]), offsets[k]])
    np.testing.assert_allclose(dose.grid.world_from_index([k, j, i]), expected, atol=1e-9)
    assert dose.value_at(expected) == pytest.approx(values.max())


@pytest.fixture
def small_dose(tmp_path):
    """pydicom's 10x10x15 RTDOSE made GY / PLAN, with its matching RTPLAN beside it; returns (path, raw values)."""
    ds = pydicom.dcmread(PYDICOM_RT / "rtdose.dcm", force=True)
    ds.DoseUnits, ds.DoseSummationType = "GY", "PLAN"
    plan = pydicom.dcmread(PYDICOM_RT / "rtplan.dcm", force=True)
    plan.SOPInstanceUID = ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID = "1.2.3.4.5.6"
    plan.save_as(tmp_path / "plan.dcm")
    ds.save_as(tmp_path / "dose.dcm")
    return tmp_path / "dose.dcm", read_raw_dose(tmp_path / "dose.dcm")[1]


def _edit(path, **attributes):
    ds = pydicom.dcmread(path, force=True)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.save_as(path)
    return path


def test_relative_units_need_a_normalisation():
    with pytest.raises(InputError, match=r"rtdose\.dcm: DoseUnits RELATIVE.*relative_to_gy="):
        read_dose(PYDICOM_RT / "rtdose.dcm", accept_partial=True)
    _, values = read_raw_dose(PYDICOM_RT / "rtdose.dcm")
    dose = read_dose(PYDICOM_RT / "rtdose.dcm", relative_to_gy=2.0, accept_partial=True)
    np.testing.assert_allclose(dose.array, 2.0 * values, rtol=1e-12)


def test_beam_dose_is_partial(small_dose):
    path, values = small_dose
    _edit(path, DoseSummationType="BEAM")
    with pytest.raises(InputError, match="DoseSummationType BEAM holds part of a plan"):
        read_dose(path)
    np.testing.assert_allclose(read_dose(path, accept_partial=True).array, values)


def test_fraction_dose_is_scaled_to_the_course(small_dose, tmp_path):
    path, values = small_dose
    _edit(path, DoseSummationType="FRACTION")
    np.testing.assert_allclose(read_dose(path, fractions=5).array, 5 * values)
    # the referenced plan beside the dose (30 fractions) is found through ReferencedRTPlanSequence
    np.testing.assert_allclose(read_dose(path).array, 30 * values)
    np.testing.assert_allclose(read_dose(path, plan=tmp_path / "plan.dcm").array, 30 * values)
    (tmp_path / "plan.dcm").unlink()
    with pytest.raises(InputError, match=r"FRACTION is the dose of one fraction; pass fractions=\.\.\. or the RTPLAN"):
        read_dose(path)


def test_a_plan_that_is_not_the_referenced_one_is_refused(small_dose):
    path, _ = small_dose
    with pytest.raises(InputError, match=r"references RTPLAN 1\.2\.3\.4\.5\.6 but the plan given is 1\.2\.777"):
        read_dose(path, plan=PYDICOM_RT / "rtplan.dcm")


def test_effective_dose_is_in_gy_rbe(small_dose):
    path, values = small_dose
    _edit(path, DoseType="EFFECTIVE")
    dose = read_dose(path)
    assert dose.unit == "Gy(RBE)"
    np.testing.assert_allclose(dose.array, values)
    _edit(path, DoseType="ERROR")
    with pytest.raises(InputError, match="DoseType 'ERROR' is not a dose"):
        read_dose(path)


def test_physical_dose_of_a_proton_plan_needs_an_rbe(small_dose, tmp_path):
    path, values = small_dose
    plan = pydicom.dcmread(tmp_path / "plan.dcm")
    plan.BeamSequence[0].RadiationType = "PROTON"
    plan.save_as(tmp_path / "plan.dcm")
    assert read_plan(tmp_path / "plan.dcm").rbe_weighted
    with pytest.raises(InputError, match="PHYSICAL dose of a PROTON plan.*rbe="):
        read_dose(path)
    dose = read_dose(path, rbe=1.1)
    assert dose.unit == "Gy(RBE)"
    np.testing.assert_allclose(dose.array, 1.1 * values)


def test_frame_offsets_relative_absolute_and_descending(small_dose):
    path, values = small_dose
    ds = pydicom.dcmread(path)
    ipp = np.asarray([float(v) for v in ds.ImagePositionPatient])
    relative = read_dose(path).grid
    assert relative.origin_mm == pytest.approx(ipp)
    assert relative.spacing_mm == pytest.approx((10.0, 10.0, 5.0))
    _edit(path, GridFrameOffsetVector=[ipp[2] + 5.0 * k for k in range(15)])
    assert read_dose(path).grid.is_close(relative)
    _edit(path, GridFrameOffsetVector=[-5.0 * k for k in range(15)])
    descending = read_dose(path)
    np.testing.assert_allclose(descending.grid.world_from_index([4, 0, 0]), ipp + [0, 0, -20.0], atol=1e-9)
    np.testing.assert_allclose(descending.array, values)  # frames keep the file's order
    _edit(path, GridFrameOffsetVector=[3.0 + 5.0 * k for k in range(15)])
    with pytest.raises(GeometryError, match="must start at 0"):
        read_dose(path)
    _edit(path, GridFrameOffsetVector=[0.0, 5.0, 12.0] + [12.0 + 5.0 * k for k in range(1, 13)])
    with pytest.raises(GeometryError, match="uneven slice spacing"):
        read_dose(path)


def test_not_a_dose(tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x00" * 50)
    with pytest.raises(InputError, match=r"junk\.dcm: not a"):
        read_dose(junk)
    with pytest.raises(InputError, match="expected a DICOM RTDOSE object, found Modality 'CT'"):
        read_dose(DICOMPYLER / "ct.0.dcm")
    with pytest.raises(InputError, match="no such file"):
        read_dose(tmp_path / "absent.dcm")


def test_dose_in_another_frame_of_reference_is_refused():
    ct = pydicom.dcmread(DICOMPYLER / "ct.0.dcm", stop_before_pixels=True)
    assert read_dose(DICOMPYLER / "rtdose.dcm", frame_of_reference_uid=ct.FrameOfReferenceUID).grid.shape == (98, 129, 194)
    with pytest.raises(GeometryError, match=r"rtdose\.dcm: the dose is in frame of reference 2\.16\.840.* not 1\.2\.3"):
        read_dose(DICOMPYLER / "rtdose.dcm", frame_of_reference_uid="1.2.3")


def _nrrd_by_hand(path):
    raw = path.read_bytes()
    header, _, body = raw.partition(b"\n\n")
    fields = dict(line.split(": ", 1) for line in header.decode().splitlines()[1:] if ": " in line)
    sizes = [int(v) for v in fields["sizes"].split()]
    values = np.frombuffer(gzip.decompress(body), dtype="<f4").reshape(sizes[::-1])
    origin = [float(v) for v in fields["space origin"].strip("()").split(",")]
    return fields, values, origin


def test_nrrd_dose_matches_its_header_read_by_hand():
    path = ECLIPSE / "EclipseProstate_Dose.nrrd"
    fields, values, origin = _nrrd_by_hand(path)
    assert fields["space"] == "left-posterior-superior"
    dose = read_dose(path)
    assert dose.grid.shape == values.shape == (92, 86, 136)
    assert dose.grid.origin_mm == pytest.approx(origin)
    assert dose.grid.spacing_mm == pytest.approx((2.5, 2.5, 2.5))
    assert dose.array.max() == pytest.approx(float(values.max()))
    assert dose.array[40, 43, 70] == pytest.approx(float(values[40, 43, 70]))


def test_research_format_corrupt_file(tmp_path):
    bad = tmp_path / "bad.nrrd"
    shutil.copy(ECLIPSE / "EclipseProstate_Dose.nrrd", bad)
    bad.write_bytes(bad.read_bytes()[:300])
    with pytest.raises(InputError, match=r"bad\.nrrd: ITK cannot read it"):
        read_dose(bad)
