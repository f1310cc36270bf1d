"""Synthetic DICOM objects for the io tests, built with pydicom alone (not with the code under test)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DATA = Path(__file__).resolve().parents[1] / "data"
DICOMPYLER = DATA / "dicompyler-example"
PYDICOM_RT = DATA / "pydicom-rt"
ECLIPSE = DATA / "slicerrt-eclipse"

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
STRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"


def _base(sop_class: str, modality: str, for_uid: str, study_uid: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "Synthetic^Phantom"
    ds.PatientID = "SYN001"
    ds.StudyInstanceUID = study_uid
    ds.FrameOfReferenceUID = for_uid
    return ds


def write_ct_series(
    folder: Path,
    pixels: np.ndarray,
    positions: list[list[float]],
    *,
    iop=(1, 0, 0, 0, 1, 0),
    pixel_spacing=(0.8, 0.6),
    slope: float = 1.0,
    intercept: float = -1024.0,
    series_uid: str | None = None,
    for_uid: str = "1.2.3.4.1",
    names: list[str] | None = None,
    tilt: float | None = None,
    study_uid: str = "1.2.3.4.2",
    extra: dict | None = None,
) -> list[Path]:
    """One CT file per slice: ``pixels[n]`` (int16, rows x cols) at ImagePositionPatient ``positions[n]``.

    Files are named by ``names`` (default: reverse order, so name order never equals slice order);
    InstanceNumber is deliberately scrambled. ``extra`` attributes (keyword: value) go into every file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    count = len(positions)
    names = names or [f"slice_{count - n:03d}.dcm" for n in range(count)]
    paths = []
    for n in range(count):
        ds = _base(CT_CLASS, "CT", for_uid, study_uid)
        ds.SeriesInstanceUID = series_uid
        for keyword, value in (extra or {}).items():
            setattr(ds, keyword, value)
        ds.InstanceNumber = (n * 7) % count + 1
        ds.ImagePositionPatient = [float(v) for v in positions[n]]
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
        ds.SliceThickness = 2.0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        if tilt is not None:
            ds.GantryDetectorTilt = tilt
        ds.Rows, ds.Columns = pixels.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(pixels[n], dtype="<i2").tobytes()
        path = folder / names[n]
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def circle(center_xy, radius: float, z: float, points: int = 128) -> np.ndarray:
    """A closed planar polygon (points, 3) in LPS mm approximating a circle in the plane z = const."""
    t = np.linspace(0, 2 * np.pi, points, endpoint=False)
    return np.stack([center_xy[0] + radius * np.cos(t), center_xy[1] + radius * np.sin(t), np.full(points, z)], axis=1)


def sphere_contours(center, radius: float, spacing: float, points: int = 128) -> list[np.ndarray]:
    """Axial circles of a sphere on planes ``center_z + k * spacing`` (planes with radius > 0 only)."""
    out = []
    for k in range(-int(radius // spacing), int(radius // spacing) + 1):
        dz = k * spacing
        if abs(dz) < radius:
            out.append(circle(center[:2], np.sqrt(radius**2 - dz**2), center[2] + dz, points))
    return out


def write_rtstruct(
    path: Path, rois: dict[str, list[np.ndarray]], *, for_uid: str = "1.2.3.4.1", kinds: dict | None = None
) -> Path:
    """An RTSTRUCT with one ROI per entry; contours are (n, 3) LPS arrays, CLOSED_PLANAR unless ``kinds`` says otherwise."""
    kinds = kinds or {}
    ds = _base(STRUCT_CLASS, "RTSTRUCT", for_uid, "1.2.3.4.2")
    del ds.FrameOfReferenceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.StructureSetLabel = "synthetic"
    frame = Dataset()
    frame.FrameOfReferenceUID = for_uid
    ds.ReferencedFrameOfReferenceSequence = [frame]
    ds.StructureSetROISequence, ds.ROIContourSequence = [], []
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, for_uid
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = []
        for contour in contours:
            c = Dataset()
            c.ContourGeometricType = kinds.get(name, "CLOSED_PLANAR")
            c.NumberOfContourPoints = len(contour)
            c.ContourData = [f"{v:.6f}" for v in np.asarray(contour, dtype=float).reshape(-1)]
            item.ContourSequence.append(c)
        ds.ROIContourSequence.append(item)
    ds.save_as(path, enforce_file_format=True)
    return path


def read_raw_dose(path: Path) -> tuple[Dataset, np.ndarray]:
    """An RTDOSE read by hand: the dataset and pixel values * DoseGridScaling, shape (frames, rows, cols)."""
    ds = pydicom.dcmread(path, force=True)
    frames = int(ds.get("NumberOfFrames", 1))
    bits = int(ds.BitsAllocated)
    raw = np.frombuffer(ds.PixelData, dtype=f"<u{bits // 8}").reshape(frames, ds.Rows, ds.Columns)
    return ds, raw.astype(np.float64) * float(ds.DoseGridScaling)


def rotation_z(degrees: float, translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 homogeneous matrix: rotation about +z, then a translation (mm)."""
    a = np.radians(degrees)
    m = np.eye(4)
    m[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    m[:3, 3] = translation
    return m


HAVE_DCIODVFY = shutil.which("dciodvfy") is not None


def dciodvfy_errors(path) -> list[str]:
    """The 'Error' lines that dicom3tools' dciodvfy prints for ``path``."""
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr[-500:]
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def axial_ct(folder: Path, *, for_uid: str, study_uid: str, slices: int = 4, extra: dict | None = None) -> list[Path]:
    """A small axial CT (6 x 5 pixels of 0.8 (rows) x 0.6 (columns) mm, slices 2 mm apart from z = 10 mm), files by slice."""
    positions = [[-1.0, 2.0, 10.0 + 2.0 * k] for k in range(slices)]
    pixels = np.zeros((slices, 6, 5), dtype=np.int16)
    return write_ct_series(folder, pixels, positions, for_uid=for_uid, study_uid=study_uid, extra=extra)


def in_slice_order(paths: list[Path]) -> list[pydicom.Dataset]:
    """The headers of CT files sorted by ImagePositionPatient z (axial series)."""
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
    return sorted(headers, key=lambda ds: float(ds.ImagePositionPatient[2]))


def sixteen_bit_copy(path: Path, target: Path) -> Path:
    """An RTDOSE with its pixels re-encoded in 16 bits, nothing else changed.

    Debian's dciodvfy (2022) aborts on any 32-bit pixel data (real Eclipse doses too), so a 32-bit
    file's header is validated on this copy.
    """
    ds = pydicom.dcmread(path)
    ds.PixelData = (ds.pixel_array >> 16).astype("<u2").tobytes()
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.save_as(target)
    return target
