"""``accumulate dvh``: on a dose linear in x, Dmax, Dmin, Dmean and the volume follow the contours worked out here by hand.

For D = a + b x the mean dose over a solid is a + b x_c (x_c its centroid), the maximum a + b
max x: the contours' area-weighted centroid (shoelace) and their extreme vertices, read with
pydicom, give them independently of the package's sampling.
"""

from __future__ import annotations

import csv
import re

import numpy as np
import pydicom
import pytest

from accumulate import Volume, read_dose, write_dose
from accumulate.cli import main

A_GY, B_GY_PER_MM = 20.0, 0.2


def _polygons(rtstruct, name) -> list[np.ndarray]:
    ds = pydicom.dcmread(rtstruct)
    number = next(int(r.ROINumber) for r in ds.StructureSetROISequence if r.ROIName == name)
    roi = next(c for c in ds.ROIContourSequence if int(c.ReferencedROINumber) == number)
    return [np.asarray(c.ContourData, float).reshape(-1, 3) for c in roi.ContourSequence]


def _by_hand(polygons) -> tuple[float, float, float, float]:
    """Volume (cc, slabs of the plane spacing), centroid x, min x and max x (mm) of axial contours."""
    z = np.unique([p[0, 2] for p in polygons])
    thickness = float(np.median(np.diff(z))) if z.size > 1 else 0.0
    area = moment = 0.0
    for p in polygons:
        x, y = p[:, 0], p[:, 1]
        xn, yn = np.roll(x, -1), np.roll(y, -1)
        cross = x * yn - xn * y
        a = cross.sum() / 2
        area, moment = area + abs(a), moment + abs(a) * ((x + xn) * cross).sum() / (6 * a)
    xs = np.concatenate([p[:, 0] for p in polygons])
    return area * thickness / 1000, moment / area, float(xs.min()), float(xs.max())


@pytest.fixture(scope="module")
def linear_dose(case, tmp_path_factory):
    grid = read_dose(case.reirradiation.folder / "RD.dcm").grid
    x = grid.world_coordinates()[..., 0]
    path = tmp_path_factory.mktemp("dose") / "linear.mha"
    write_dose(Volume(A_GY + B_GY_PER_MM * x, grid), path)
    return path, grid


def _table(printed: str) -> dict[str, dict[str, str]]:
    lines = [line for line in printed.splitlines() if line and not line.startswith(("dose ", "note", "WARNING", "written"))]
    header = re.split(r"\s{2,}", lines[0].strip())
    return {row[0]: dict(zip(header, row, strict=True)) for row in (re.split(r"\s{2,}", line.strip()) for line in lines[1:])}


@pytest.mark.parametrize("structure", ["SpinalCord", "Parotid_L", "Mandible"])
def test_metrics_on_a_linear_dose_follow_the_contours(case, linear_dose, capsys, structure, tmp_path):
    path, _ = linear_dose
    rtstruct = case.reirradiation.folder / "RS.dcm"
    out_csv = tmp_path / "dvh.csv"
    assert main(["dvh", str(path), str(rtstruct), "--structures", structure, "--metrics", "Dmax", "Dmin", "Dmean",
                 "--csv", str(out_csv)]) == 0  # fmt: skip
    row = _table(capsys.readouterr().out)[structure]
    volume, centroid, low, high = _by_hand(_polygons(rtstruct, structure))
    assert float(row["Dmean (Gy)"]) == pytest.approx(A_GY + B_GY_PER_MM * centroid, abs=0.03)
    assert float(row["Dmax (Gy)"]) == pytest.approx(A_GY + B_GY_PER_MM * high, abs=0.1)
    assert float(row["Dmin (Gy)"]) == pytest.approx(A_GY + B_GY_PER_MM * low, abs=0.1)
    assert float(row["volume (cc)"]) == pytest.approx(volume, rel=0.02)
    with out_csv.open() as handle:
        (written,) = list(csv.DictReader(handle))
    assert float(written["Dmean (Gy)"]) == pytest.approx(float(row["Dmean (Gy)"]), abs=0.005)


def test_volume_metrics_are_in_cc_and_percent_and_the_part_outside_the_grid_is_said(case, linear_dose, tmp_path, capsys):
    path, grid = linear_dose
    half = tmp_path / "half.mha"
    nz, ny, nx = grid.shape
    cropped = grid.crop((0, 0, 0), (nz, ny, nx // 2))  # the half at lower x
    write_dose(Volume(A_GY + B_GY_PER_MM * cropped.world_coordinates()[..., 0], cropped), half)
    rtstruct = case.reirradiation.folder / "RS.dcm"
    assert main(["dvh", str(half), str(rtstruct), "--structures", "BODY", "--metrics", "V0Gy", "V0Gy%", "Dmax"]) == 0
    printed = capsys.readouterr().out
    row = _table(printed)["BODY"]
    inside = float(row["V0Gy (cc)"])
    outside = float(row["outside (%)"])
    assert 0 < outside < 100 and float(row["V0Gy% (%)"]) == pytest.approx(100.0)  # of the part inside
    assert inside == pytest.approx(float(row["volume (cc)"]) * (1 - outside / 100), rel=1e-3)
    assert float(row["Dmax (Gy)"]) <= A_GY + B_GY_PER_MM * cropped.world_coordinates()[..., 0].max() + 1e-6
    assert f"WARNING: {outside:.1f} % of BODY lies outside the dose grid" in printed


@pytest.mark.parametrize(
    "args, code, named",
    [
        (lambda c: [c.reirradiation.folder / "RS.dcm", c.reirradiation.folder / "RS.dcm"], 3, "RS.dcm"),
        (lambda c: [c.reirradiation.folder / "RD.dcm", c.reirradiation.folder / "RD.dcm"], 3, "RD.dcm"),
        (lambda c: [c.reirradiation.folder / "RD.dcm", c.reirradiation.folder / "RS.dcm", "--metrics", "Dhot"], 3, "Dhot"),
        (lambda c: [c.reirradiation.folder / "RD.dcm", c.prior.folder / "RS.dcm"], 4, "RS.dcm"),  # another frame
    ],
    ids=["structure-set-as-dose", "dose-as-structure-set", "unknown-metric", "other-frame"],
)
def test_bad_inputs_are_refused_naming_the_file(case, capsys, args, code, named):
    assert main(["dvh", *map(str, args(case))]) == code
    err = capsys.readouterr().err
    assert err.startswith("accumulate dvh: error: ") and named in err and "Traceback" not in err
