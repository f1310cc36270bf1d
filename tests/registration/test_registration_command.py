"""``accumulate register`` end to end, and the rigid start read from a DICOM spatial registration."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from registration_phantom import regridded, rotation_matrix

from accumulate import InputError, Volume
from accumulate.registration import _command, read_field, read_image, read_rigid_registration


def write_spatial_registration(path, items: list[tuple[str, np.ndarray]], frame: str) -> None:
    """A minimal DICOM Spatial Registration: one RegistrationSequence item per (frame UID, 4x4 matrix)."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.66.1"  # Spatial Registration Storage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "REG"
    ds.FrameOfReferenceUID = frame
    registrations = []
    for uid, matrix in items:
        matrix_item = Dataset()
        matrix_item.FrameOfReferenceTransformationMatrixType = "RIGID"
        matrix_item.FrameOfReferenceTransformationMatrix = [f"{v:.10g}" for v in np.asarray(matrix).reshape(-1)]
        wrapper = Dataset()
        wrapper.MatrixSequence = Sequence([matrix_item])
        item = Dataset()
        item.FrameOfReferenceUID = uid
        item.MatrixRegistrationSequence = Sequence([wrapper])
        registrations.append(item)
    ds.RegistrationSequence = Sequence(registrations)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    pydicom.dcmwrite(path, ds, enforce_file_format=True)


def rigid(degrees, shift) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = rotation_matrix(degrees)
    out[:3, 3] = shift
    return out


def test_rigid_registration_matrix_read_from_dicom(tmp_path):
    moving_to_fixed = rigid((0.0, 5.0, -20.0), (10.0, -4.0, 30.0))
    path = tmp_path / "reg.dcm"
    write_spatial_registration(path, [("1.2.3", np.eye(4)), ("1.2.4", moving_to_fixed)], frame="1.2.3")
    np.testing.assert_allclose(read_rigid_registration(path), moving_to_fixed, atol=1e-9)
    # REG in a third frame: fixed -> REG by F, moving -> REG by F @ M; still M from moving to fixed
    to_reg = rigid((3.0, 0.0, 40.0), (-100.0, 0.0, 5.0))
    write_spatial_registration(path, [("1.2.3", to_reg), ("1.2.4", to_reg @ moving_to_fixed)], frame="9.9")
    read = read_rigid_registration(path, fixed_frame="1.2.3", moving_frame="1.2.4")
    np.testing.assert_allclose(read, moving_to_fixed, atol=1e-8)
    with pytest.raises(InputError, match="several frames"):
        read_rigid_registration(path)
    with pytest.raises(InputError, match="7.7"):
        read_rigid_registration(path, fixed_frame="1.2.3", moving_frame="7.7")


def write_points(path, points: np.ndarray) -> None:
    lines = [" ".join(f"{v:.6f}" for v in p) for p in points]
    path.write_text(f"point\n{len(points)}\n" + "\n".join(lines) + "\n")


def test_register_command_end_to_end(small_ct, tmp_path, capsys):
    import itk

    rotation = rotation_matrix((0.0, 0.0, 4.0))
    origin = np.asarray(small_ct.grid.origin_mm)
    new_origin = origin + [40.0, 25.0, -30.0]
    moving = regridded(small_ct, rotation, new_origin)
    itk.imwrite(small_ct.to_itk(), str(tmp_path / "fixed.mha"))
    itk.imwrite(moving.to_itk(), str(tmp_path / "moving.mha"))
    moving_to_fixed = np.eye(4)
    moving_to_fixed[:3, :3], moving_to_fixed[:3, 3] = rotation.T, origin - rotation.T @ new_origin
    write_spatial_registration(tmp_path / "reg.dcm", [("1.1", np.eye(4)), ("1.2", moving_to_fixed)], frame="1.1")
    # landmarks: voxel centres of the fixed CT and their known moving positions
    idx = np.array([[20.0, 30.0, 25.0], [40.0, 50.0, 30.0], [10.0, 40.0, 40.0]])
    fixed_points = small_ct.grid.world_from_index(idx)
    write_points(tmp_path / "fixed.txt", fixed_points)
    write_points(tmp_path / "moving.txt", moving.grid.world_from_index(idx))
    cube = np.zeros(small_ct.grid.shape, np.uint8)
    cube[25:40, 30:50, 20:40] = 1  # the same voxels on both grids: the same anatomy
    for name, grid_of in (("gtv_fixed.mha", small_ct), ("gtv_moving.mha", moving)):
        itk.imwrite(Volume(cube, grid_of.grid, "mask", "1").to_itk(), str(tmp_path / name))
    # a structure contoured 10 voxels off on the prior CT: its Dice (about 0.5) fails the check -> needs review (13)
    itk.imwrite(Volume(np.roll(cube, 10, axis=2), moving.grid, "mask", "1").to_itk(), str(tmp_path / "off_moving.mha"))
    parser = argparse.ArgumentParser()
    _command.configure(parser)
    args = parser.parse_args(
        [
            str(tmp_path / "fixed.mha"),
            str(tmp_path / "moving.mha"),
            "--out",
            str(tmp_path / "dvf.mha"),
            "--parameters",
            str(_rigid_file()),
            "--set",
            "MaximumNumberOfIterations=40",
            "--threads",
            "2",
            "--initial-reg",
            str(tmp_path / "reg.dcm"),
            "--fixed-mask",
            "auto",
            "--moving-mask",
            "auto",
            "--inverse-consistency",
            "--landmarks",
            str(tmp_path / "fixed.txt"),
            str(tmp_path / "moving.txt"),
            "--structure",
            "gtv",
            str(tmp_path / "gtv_fixed.mha"),
            str(tmp_path / "gtv_moving.mha"),
            "--structure",
            "off",
            str(tmp_path / "gtv_fixed.mha"),
            str(tmp_path / "off_moving.mha"),
            "--oar",
            "cord",
            str(tmp_path / "gtv_fixed.mha"),
        ]
    )
    assert _command.run(args) == 13
    field = read_field(tmp_path / "dvf.mha", fixed_grid=small_ct.grid)
    p = small_ct.grid.world_coordinates()
    expected = (p - origin) @ rotation.T + new_origin - p
    assert np.percentile(np.linalg.norm(field.array - expected, axis=-1), 95) < 0.5
    quality = json.loads((tmp_path / "dvf_registration" / "quality.json").read_text())
    checks = {c["name"]: c for c in quality["checks"]}
    assert checks["folding"]["verdict"] == "pass" and checks["folding"]["value"] == 0
    assert checks["jacobian_range"]["verdict"] == "pass" and abs(checks["jacobian_range"]["values"]["min"] - 1) < 0.02
    assert checks["jacobian_range"]["threshold"] == "0.5 <= J <= 2 inside the body"
    assert checks["inverse_consistency"]["values"]["p95_mm"] < 0.5
    tre = checks["target_registration_error"]["values"]
    assert tre["n"] == 3 and tre["max_mm"] < 0.5
    assert checks["dice:gtv"]["values"]["dice"] > 0.95 and checks["dice:gtv"]["verdict"] == "pass"
    assert checks["dice:off"]["values"]["dice"] < 0.6 and checks["dice:off"]["verdict"] == "fail"
    assert [c["name"] for c in quality["checks"] if c["verdict"] != "pass"] == ["dice:off"]
    assert quality["verdict"] == "fail" and quality["warnings"] == []
    assert quality["registration"]["masks"] == ["auto", "auto"]
    pictures = sorted(p.name for p in (tmp_path / "dvf_registration" / "pictures").iterdir())
    assert pictures == ["jacobian.png", "review_cord.png", "review_gtv.png", "review_off.png", "uncertainty.png"]
    # --inverse-consistency gives the per-voxel uncertainty radius max(2 mm, 2 x loop): the floor, the loop under 0.5 mm
    radius = read_image(tmp_path / "dvf_registration" / "uncertainty_mm.mha")
    assert radius.grid.is_close(small_ct.grid) and 2.0 <= radius.array.min() and np.percentile(radius.array, 50) == 2.0
    assert checks["uncertainty:cord"]["verdict"] == "pass" and checks["uncertainty:cord"]["value"] == pytest.approx(2.0)
    assert (tmp_path / "dvf_registration" / "elastix.log").exists() and (tmp_path / "dvf_registration" / "jacobian.mha").exists()
    captured = capsys.readouterr()
    assert "starting from the spatial registration" in captured.err and "stage 1/1: rigid" in captured.err
    assert "dice:gtv" in captured.out and "overall: NEEDS REVIEW" in captured.out and "threshold: Dice >= 0.8" in captured.out
    assert quality["registration"]["initial_registration"].endswith("reg.dcm")


def _rigid_file():
    from accumulate.registration import preset_files

    return preset_files("fast")[0]


def test_dicom_folders_with_a_spatial_registration_and_a_dicom_field(small_ct, tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
    from io_synthetic import write_ct_series

    shift = np.array([20.0, -15.0, 10.0])  # the prior CT's frame is offset: fixed p matches moving p + shift
    pixels = np.round(small_ct.array + 1024.0).astype(np.int16)
    origin = np.asarray(small_ct.grid.origin_mm)
    sx, sy, sz = small_ct.grid.spacing_mm
    for folder, start, frame in (("fixed", origin, "1.2.3.4.1"), ("moving", origin + shift, "1.2.3.4.9")):
        positions = [list(start + [0.0, 0.0, k * sz]) for k in range(small_ct.grid.shape[0])]
        write_ct_series(tmp_path / folder, pixels, positions, pixel_spacing=(sy, sx), for_uid=frame)
    moving_to_fixed = np.eye(4)
    moving_to_fixed[:3, 3] = -shift
    write_spatial_registration(
        tmp_path / "moving" / "reg.dcm", [("1.2.3.4.1", np.eye(4)), ("1.2.3.4.9", moving_to_fixed)], frame="1.2.3.4.1"
    )
    parser = argparse.ArgumentParser()
    _command.configure(parser)
    args = parser.parse_args(
        [
            str(tmp_path / "fixed"),
            str(tmp_path / "moving"),
            "--out",
            str(tmp_path / "dvf.mha"),
            "--parameters",
            str(_rigid_file()),
            "--set",
            "MaximumNumberOfIterations=20",
            "--threads",
            "2",
            "--dicom-reg",
            str(tmp_path / "dvf.dcm"),
        ]
    )
    assert _command.run(args) == 0
    assert "starting from the spatial registration" in capsys.readouterr().err
    field = read_field(tmp_path / "dvf.mha", fixed_grid=small_ct.grid)
    assert np.percentile(np.linalg.norm(field.array - shift, axis=-1), 95) < 0.3
    from_dicom = read_field(tmp_path / "dvf.dcm", fixed_grid=small_ct.grid)
    np.testing.assert_allclose(from_dicom.array, field.array, atol=1e-4)
