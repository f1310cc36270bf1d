"""``accumulate warp``: a whole-voxel shift moves the dose by exactly one voxel; what maps outside is 0 or NaN as asked."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from accumulate import DisplacementField, read_dose, write_field
from accumulate.cli import main


def _pixels_gy(path) -> tuple[np.ndarray, float]:
    ds = pydicom.dcmread(path)
    return ds.pixel_array.astype(float) * float(ds.DoseGridScaling), float(ds.DoseGridScaling)


@pytest.fixture(scope="module")
def shifted(case, tmp_path_factory):
    """A field on the prior dose grid pulling every voxel from its +x neighbour (moving = fixed + one voxel in x)."""
    grid = read_dose(case.prior.folder / "RD.dcm").grid
    u = np.zeros(grid.shape + (3,))
    u[..., 0] = grid.spacing_mm[0]
    path = tmp_path_factory.mktemp("field") / "shift.mha"
    write_field(DisplacementField(u, grid), path)
    return path


@pytest.mark.parametrize("method", ["direct", "mass"])
def test_a_one_voxel_shift_moves_the_dose_by_one_voxel_and_the_last_column_is_zero(case, shifted, tmp_path, capsys, method):
    source = case.prior.folder / "RD.dcm"
    out = tmp_path / "warped.dcm"
    code = main(["warp", str(source), str(shifted), "-o", str(out), "--method", method, "--fixed", str(source),
                 "--backend", "numba"])  # fmt: skip
    assert code == 0
    dose, _ = _pixels_gy(source)
    warped, scaling = _pixels_gy(out)
    np.testing.assert_allclose(warped[..., :-1], dose[..., 1:], atol=scaling)
    assert np.all(warped[..., -1] == 0)
    printed = capsys.readouterr().out
    outside = dose.shape[0] * dose.shape[1]  # the last column of every row
    assert f"WARNING   {outside} of {dose.size} voxels map outside the prior dose grid: they hold 0 Gy" in printed
    ds = pydicom.dcmread(out, stop_before_pixels=True)
    assert ds.FrameOfReferenceUID == pydicom.dcmread(source, stop_before_pixels=True).FrameOfReferenceUID


def test_outside_nan_writes_nan_into_an_mha_and_is_refused_for_an_rtdose(case, shifted, tmp_path, capsys):
    source = case.prior.folder / "RD.dcm"
    out = tmp_path / "warped.mha"
    assert main(["warp", str(source), str(shifted), "-o", str(out), "--method", "direct", "--outside", "nan",
                 "--backend", "numba"]) == 0  # fmt: skip
    warped = read_dose(out).array
    dose, _ = _pixels_gy(source)
    assert np.isnan(warped[..., -1]).all() and not np.isnan(warped[..., :-1]).any()
    np.testing.assert_allclose(warped[..., :-1], dose[..., 1:], rtol=1e-6)  # float32 MHA of a float64 dose
    assert main(["warp", str(source), str(shifted), "-o", str(tmp_path / "w.dcm"), "--outside", "nan"]) == 3
    err = capsys.readouterr().err
    assert "w.dcm: an RTDOSE cannot hold NaN" in err and "Traceback" not in err


def test_a_field_that_is_not_one_is_exit_3_naming_it(case, tmp_path, capsys):
    bad = tmp_path / "field.mha"
    bad.write_text("not a vector image")
    assert main(["warp", str(case.prior.folder / "RD.dcm"), str(bad), "-o", str(tmp_path / "w.dcm")]) == 3
    err = capsys.readouterr().err
    assert "field.mha" in err and "Traceback" not in err


def test_another_patients_dose_is_refused_and_a_shared_frame_is_said(case, shifted, tmp_path, capsys):
    source = tmp_path / "RD.dcm"
    ds = pydicom.dcmread(case.prior.folder / "RD.dcm")
    ds.PatientID = "SOMEONE-ELSE"
    ds.save_as(source)
    out = tmp_path / "warped.dcm"
    fixed = case.reirradiation.folder / "RD.dcm"
    assert main(["warp", str(source), str(shifted), "-o", str(out), "--fixed", str(fixed), "--method", "direct"]) == 3
    err = capsys.readouterr().err
    assert "is patient 'SOMEONE-ELSE' but --fixed" in err and str(fixed) in err and "Traceback" not in err
    assert not out.exists()
    # --fixed naming a file of the dose's own frame (the prior's) is done, but said
    prior = case.prior.folder / "RD.dcm"
    assert main(["warp", str(prior), str(shifted), "-o", str(out), "--fixed", str(prior), "--method", "direct"]) == 0
    assert "share one frame of reference" in capsys.readouterr().out
