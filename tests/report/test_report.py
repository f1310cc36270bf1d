"""Report pieces: PNG encoding, DVH SVG geometry, and the page rendered by headless Chromium."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest

from accumulate import Grid, Volume
from accumulate.evaluation import dvh
from accumulate.report import Figure, axial_slice_rgb, dvh_svg, render_report, write_report


def _decode_png(data: bytes) -> np.ndarray:
    """Independent minimal decoder for 8-bit RGB, filter-0 PNGs (what the encoder claims to write)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks.setdefault(kind, b"")
        chunks[kind] += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, 1 + 3 * width)
    assert np.all(raw[:, 0] == 0)
    return raw[:, 1:].reshape(height, width, 3)


def test_png_round_trip():
    image = np.random.default_rng(3).integers(0, 256, size=(7, 11, 3), dtype=np.uint8)
    from accumulate.report._png import encode_png

    np.testing.assert_array_equal(_decode_png(encode_png(image)), image)


def test_slice_outlines_the_structure():
    grid = Grid((1, 20, 20))
    dose = Volume(np.full(grid.shape, 50.0), grid)
    mask = np.zeros(grid.shape, bool)
    mask[0, 5:15, 5:15] = True
    rgb = axial_slice_rgb(dose, {"box": Volume(mask, grid, "mask", "1")}, 0, scale=1)
    red = np.array([0xE6, 0x19, 0x4B])
    outline = np.all(rgb == red, axis=-1)
    assert outline[5, 5:15].all() and outline[14, 5:15].all()  # edges of the box
    assert not outline[6:14, 6:14].any()  # not the inside
    assert outline.sum() == 36  # perimeter of a 10 x 10 square of pixels


def test_dvh_svg_is_well_formed_with_a_step_for_uniform_dose():
    grid = Grid((1, 1, 10))
    h = dvh(Volume(np.full(grid.shape, 40.0), grid), Volume(np.ones(grid.shape, bool), grid, "mask", "1"), "Cord")
    root = ET.fromstring(dvh_svg({"Cord": h}, title="cumulative EQD2"))
    (line,) = root.findall("{http://www.w3.org/2000/svg}polyline")
    points = np.array([p.split(",") for p in line.get("points").split()], float)
    full, empty = points[:, 1].min(), points[:, 1].max()  # SVG y grows downwards: 100 % is the smallest y
    x_full, x_empty = points[points[:, 1] == full, 0], points[points[:, 1] == empty, 0]
    assert empty - full > 100 and x_full.size and x_empty.size
    assert x_full.max() < x_empty.min()  # a single step: 100 % up to 40 Gy, 0 % beyond
    assert line.find("{http://www.w3.org/2000/svg}title").text == "Cord"


SUMMARY = {
    "title": "Re-irradiation: test case",
    "status": {
        "state": "not met",
        "exit_code": 10,
        "headline": "1 of 2 evaluated constraints not met",
        "reasons": ["not met: SpinalCord D0.03cc <= 50 (value 52.10, limit 50)"],
        "warnings": ["course 'prior': 2867 reference voxels map outside its dose grid and count as 0 Gy"],
        "overrides": [],
    },
    "constraints": [
        {
            "structure": "SpinalCord",
            "metric": "D0.03cc",
            "scope": "cumulative",
            "quantity": "eqd2",
            "value": 52.1,
            "limit": 50.0,
            "margin": -2.1,
            "verdict": "fail",
            "source": "QUANTEC",
        },
        {
            "structure": "Brainstem",
            "metric": "D0.03cc",
            "scope": "cumulative",
            "quantity": "eqd2",
            "value": 40.0,
            "limit": 60.0,
            "margin": 20.0,
            "verdict": "pass",
            "source": "convention",
        },
    ],
    "assumptions": {
        "alpha_beta_gy": {"default": 3.0, "SpinalCord": 2.0},
        "recovery": {"SpinalCord": "table (0 mo: 0 %, 12 mo: 50 %)"},
    },  # noqa: E501
}


def test_report_states_verdicts_and_assumptions(tmp_path):
    page = render_report(SUMMARY, [Figure("a slice", rgb=np.zeros((4, 4, 3), np.uint8))])
    assert '<span class="banner notmet">NOT MET: 1 of 2 evaluated constraints not met</span>' in page
    assert '<div class="panel reasons"><h3>Why</h3><ul><li>not met: SpinalCord D0.03cc' in page
    assert "<h3>Warnings</h3><ul><li>course &#x27;prior&#x27;: 2867 reference voxels map outside" in page
    assert '<tr class="fail"><td>SpinalCord</td>' in page and "-2.10" in page
    assert "table (0 mo: 0 %, 12 mo: 50 %)" in page and "data:image/png;base64," in page
    path = write_report(tmp_path / "report.html", SUMMARY)
    assert path.read_text().startswith("<!DOCTYPE html>") and not list(tmp_path.glob(".report*"))


def test_incomplete_banner_is_amber_with_its_reasons():
    status = {
        "state": "incomplete",
        "exit_code": 12,
        "headline": "1 of 2 constraints not evaluated",
        "reasons": ["not evaluated: Brianstem D0.03cc <= 60: structure absent"],
        "warnings": [],
        "overrides": [],
    }
    page = render_report({**SUMMARY, "status": status})
    assert '<span class="banner incomplete">INCOMPLETE: 1 of 2 constraints not evaluated' in page
    assert "Brianstem D0.03cc &lt;= 60: structure absent" in page
    assert "banner pass" not in page and "banner passed" not in page


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is required on CI to check report.html renders")
    pytest.skip("Chromium is not installed")


def test_report_renders_in_headless_chromium(tmp_path):
    grid = Grid((1, 1, 10))
    h = dvh(
        Volume(np.linspace(0, 60, 10).reshape(grid.shape), grid), Volume(np.ones(grid.shape, bool), grid, "mask", "1"), "Cord"
    )
    path = write_report(tmp_path / "report.html", SUMMARY, [Figure("DVH", svg=dvh_svg({"Cord": h}, title="DVH"))])
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert "SpinalCord" in dom.stdout and "<polyline" in dom.stdout
    shot = tmp_path / "shot.png"
    subprocess.run(
        [_chromium(), *flags, f"--screenshot={shot}", "--window-size=1000,800", path.as_uri()], capture_output=True, timeout=120
    )
    assert shot.exists() and shot.stat().st_size > 5000  # a rendered page, not an empty canvas
