"""Readers for the SlicerRT test data: planar contours saved as VTK polydata, and DVH tables (CERR, SlicerRT).

A SlicerRT segmentation whose master representation is "Planar contour" stores each segment
as one ``.vtp`` file (VTK XML PolyData, zlib-compressed base64 binary arrays) whose *lines*
are the closed contours exported by the planning system, in Slicer's RAS mm (its "Reference
image geometry" shows the CT's LPS axes as -x, -y); the last point repeats the first. The DVH
tables hold, per structure, a dose column (Gy) and the percentage of the structure's volume
(stated in the header, cc) receiving at least that dose.
"""

from __future__ import annotations

import base64
import csv
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np

_TYPES = {"Float32": "<f4", "Float64": "<f8", "Int32": "<i4", "Int64": "<i8", "UInt8": "u1", "String": "u1"}


def _decode(text: str, dtype: str) -> np.ndarray:
    """A binary VTK XML array: base64 of a UInt32 header (blocks, block size, last size, compressed sizes) and zlib blocks."""
    raw = text.strip().encode()
    blocks = struct.unpack("<I", base64.b64decode(raw[:8])[:4])[0]
    header_bytes = (3 + blocks) * 4
    header_chars = (header_bytes + 2) // 3 * 4
    sizes = struct.unpack(f"<{3 + blocks}I", base64.b64decode(raw[:header_chars])[:header_bytes])[3:]
    data, at, out = base64.b64decode(raw[header_chars:]), 0, b""
    for size in sizes:
        out += zlib.decompress(data[at : at + size])
        at += size
    return np.frombuffer(out, dtype=dtype)


def read_segment(path: Path) -> tuple[str, list[np.ndarray]]:
    """(segment name, closed contours as (k, 3) LPS mm arrays) of one SlicerRT planar-contour ``.vtp``."""
    root = ET.parse(path).getroot()
    name = ""
    for array in root.find(".//FieldData"):
        if array.get("Name") == "Segment_Name":
            name = _decode(array.text, "u1").tobytes().decode().strip("\x00 ")
    piece = root.find(".//Piece")
    points_array = piece.find("Points/DataArray")
    ras = _decode(points_array.text, _TYPES[points_array.get("type")]).reshape(-1, 3)
    points = ras * np.array([-1.0, -1.0, 1.0])  # RAS -> LPS
    lines = {a.get("Name"): _decode(a.text, _TYPES[a.get("type")]) for a in piece.find("Lines").findall("DataArray")}
    ends = lines["offsets"].astype(np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    return name, [points[lines["connectivity"][a:b]] for a, b in zip(starts, ends, strict=True)]


def read_segmentation(folder: Path) -> dict[str, list[np.ndarray]]:
    """Every segment of a ``*.seg`` folder, by segment name."""
    return dict(read_segment(p) for p in sorted(folder.glob("*.vtp")))


def key(name: str) -> str:
    """A structure name reduced to lower-case letters and digits ("Optic Nerve - Rt" -> "opticnervert")."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def read_dvh_table(path: Path) -> dict[str, tuple[float, np.ndarray, np.ndarray]]:
    """{key(structure): (volume cc, dose Gy, % of the volume receiving at least that dose)} of a CERR/SlicerRT table."""
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle)]
    header, body = rows[0], rows[1:]
    out = {}
    for column in range(0, len(header) - 1, 2):
        match = re.match(r"(.*?)(?:_DvhArray)? Value \(% of ([0-9.]+) cc\)", header[column + 1].strip())
        if not match:
            continue
        values = np.array([[float(r[column]), float(r[column + 1])] for r in body if len(r) > column + 1 and r[column].strip()])
        out[key(match.group(1))] = (float(match.group(2)), values[:, 0], values[:, 1])
    return out


def table_metrics(volume_cc: float, dose: np.ndarray, percent: np.ndarray) -> dict[str, float]:
    """Dmax (first dose at 0 %), Dmean (integral of the cumulative curve) and D-metrics read from a cumulative table."""
    fraction = percent / 100
    dmean = float(np.sum(np.diff(dose) * 0.5 * (fraction[1:] + fraction[:-1])))
    zero = np.flatnonzero(fraction <= 0)
    out = {"volume_cc": volume_cc, "Dmax": float(dose[zero[0]] if zero.size else dose[-1]), "Dmean": dmean}
    for cc in (0.03, 0.1):
        if cc < volume_cc:
            target = 100 * cc / volume_cc
            out[f"D{cc:g}cc"] = float(np.interp(-target, -percent, dose))
    for p in (2, 50, 95, 98):
        out[f"D{p}%"] = float(np.interp(-p, -percent, dose))
    return out
