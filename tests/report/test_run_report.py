"""The report of a real run (the phantom's test-size case, one run for the module), rendered by headless Chromium.

The prior course's RTDOSE is cut by 4 planes at its superior end, so that reference voxels map
outside the prior dose grid (the warning the panel under the banner must carry). Expected values
come from the DICOM files (read here with pydicom) and from the published constraints the
shipped set states (Nieder 2006: spinal cord 135.5 Gy2 BED after more than 6 months, i.e.
67.75 Gy EQD2 with alpha/beta 2 Gy; 49 Gy EQD2 for the re-irradiation alone), not from the code.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pypdf import PdfReader

from accumulate.config import load_config
from accumulate.phantom import write_demo_case
from accumulate.pipeline import run
from accumulate.report import configuration_hash, run_report
from accumulate.report.pdf import CHROMIUM_FLAGS, find_chromium

CUT_PLANES = 4
#: Printable width at 96 px/inch inside the report's 12 mm page margins: A4 (210 mm) and Letter (8.5 in).
PRINTABLE_PX = {"A4": round((210 - 24) / 25.4 * 96), "Letter": round((8.5 - 24 / 25.4) * 96)}


def _chromium() -> str:
    found = find_chromium()
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is required on CI to check the report renders")
    pytest.skip("Chromium is not installed")


def _cut_superior_planes(dose_path: Path, planes: int) -> None:
    """Drop the last ``planes`` frames of a multi-frame RTDOSE (a dose grid that stops short superiorly)."""
    ds = pydicom.dcmread(dose_path)
    frames = ds.pixel_array[: int(ds.NumberOfFrames) - planes]
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds.NumberOfFrames = frames.shape[0]
    ds.GridFrameOffsetVector = list(ds.GridFrameOffsetVector)[: frames.shape[0]]
    ds.save_as(dose_path, enforce_file_format=True)


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    case = write_demo_case(root / "hn", size="test")
    _cut_superior_planes(case.prior.dose_path, CUT_PLANES)
    config = root / "run.toml"
    config.write_text(
        case.course_tables()
        + textwrap.dedent(f"""
        [registration]
        dvf = "{case.true_field_path}"
        [radiobiology]
        alpha_beta_default = 3.0
        [radiobiology.alpha_beta]
        SpinalCord = 2.0
        [recovery.SpinalCord]
        model = "cord-conservative"
        [dvh]
        resolution_mm = 2.0
        [constraints]
        set = "hn-reirradiation"
        [accept]
        absent_structures = ["OpticNerve_L", "OpticNerve_R", "Chiasm", "Larynx"]
        [output]
        dir = "{root / "out"}"
        """)
    )
    before = os.environ.get("ACCUMULATE_PDF")
    os.environ["ACCUMULATE_PDF"] = "1" if find_chromium() else "0"
    try:
        result = run(config, progress=lambda line: None)
    finally:
        if before is None:
            del os.environ["ACCUMULATE_PDF"]
        else:
            os.environ["ACCUMULATE_PDF"] = before
    out = root / "out"
    return {"case": case, "result": result, "out": out, "page": (out / "report.html").read_text(),
            "summary": json.loads((out / "summary.json").read_text()), "config": config}  # fmt: skip


def _figures(page: str, css: str) -> list[dict[str, str]]:
    """The attributes of every <figure> whose class list holds ``css``."""
    out = []
    for match in re.finditer(r"<figure ([^>]*)>", page):
        attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1)))
        if css in attributes.get("class", "").split():
            out.append({k: html.unescape(v) for k, v in attributes.items()})
    return out


def test_identification_matches_the_dicom(done):
    summary, page, case = done["summary"], done["page"], done["case"]
    plans = {"prior": pydicom.dcmread(case.prior.plan_path), "reirradiation": pydicom.dcmread(case.reirradiation.plan_path)}
    reference = plans["reirradiation"]
    patient = summary["identification"]["patient"]
    assert patient["name"] == str(reference.PatientName) and patient["id"] == reference.PatientID
    assert patient["birth_date"] == reference.PatientBirthDate
    assert f'<td class="id-name">{html.escape(str(reference.PatientName))}</td>' in page
    assert f'<td class="id-id">{html.escape(reference.PatientID)}</td>' in page
    birth = reference.PatientBirthDate
    assert f'<td class="id-date">{birth[:4]}-{birth[4:6]}-{birth[6:]}</td>' in page
    for row in summary["identification"]["courses"]:
        plan = plans[row["course"]]
        assert row["plan_label"] == plan.RTPlanLabel and html.escape(plan.RTPlanLabel) in page
        rx = float(plan.DoseReferenceSequence[0].TargetPrescriptionDose)
        assert row["prescription"] == f"{rx:g} Gy"
        assert row["fractions"] == float(plan.FractionGroupSequence[0].NumberOfFractionsPlanned)
        date = next(getattr(plan, k) for k in ("ReviewDate", "RTPlanDate", "StudyDate") if getattr(plan, k, ""))
        assert row["date"] == dt.datetime.strptime(date, "%Y%m%d").date().isoformat()
        assert row["date_from"].startswith("RTPLAN") and row["date_from"] in html.unescape(page)
    assert re.fullmatch(r"[0-9a-f]{64}", summary["configuration_sha256"])
    assert summary["configuration_sha256"] in page
    for role in ("Prepared by", "Reviewed by", "Approved by"):
        assert f"<th>{role}</th>" in page


def test_every_quantity_has_its_views_legend_and_isodoses(done):
    page = done["page"]
    views = _figures(page, "dose-view")
    points = sorted({v["data-point"] for v in views})
    keys = ["prior-physical", "prior-eqd2", "prior-eqd2-recovered", "reirradiation-physical", "reirradiation-eqd2",
            "cumulative-physical", "cumulative-eqd2", "remaining"]  # fmt: skip
    assert "SpinalCord: hottest point" in points and any(p.endswith(": target") for p in points)
    for point in points:
        assert sorted(v["data-quantity"] for v in views if v["data-point"] == point) == sorted(keys)
    for v in views:
        low, high = map(float, v["data-colorbar"].split())
        assert low == 0 and high > 0 and v["data-unit"].startswith("Gy")
        assert v["data-levels"], v  # isodoses drawn on every picture
    cord = {v["data-quantity"]: v for v in views if v["data-point"] == "SpinalCord: hottest point"}
    assert 67.75 in [float(x) for x in cord["cumulative-eqd2"]["data-limits"].split()]
    assert 49.0 in [float(x) for x in cord["reirradiation-eqd2"]["data-limits"].split()]
    assert cord["cumulative-physical"]["data-limits"] == ""  # no physical constraint on the cord in this set
    assert cord["cumulative-eqd2"]["data-unit"] == "Gy EQD2" and cord["remaining"]["data-unit"] == "Gy"
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= len(views) and all(base64.b64decode(i[:12])[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "no limit applies" in cord["remaining"]["data-note"] and not cord["cumulative-eqd2"]["data-note"]
    assert "radiological convention" in page and "slider" in page


def test_dvhs_per_quantity_with_limits_and_tables_with_units(done):
    page, summary = done["page"], done["summary"]
    for key in ("prior-physical", "prior-eqd2", "prior-eqd2-recovered", "reirradiation-eqd2", "cumulative-eqd2"):
        assert f'id="dvh--{key}--s0-cc"' in page and f'id="dvh--{key}--s0-pct"' in page
        assert f'class="dvh-toggle" value="{key}"' in page
    assert "limit: SpinalCord D0.03cc" in page and "volume (%)" in page and "volume (cc)" in page
    cord_table = re.search(r'<table class="structure" data-structure="SpinalCord">(.*?)</table>', page, re.S).group(1)
    head = re.search(r"<thead>(.*?)</thead>", cord_table, re.S).group(1)
    headers = re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", head, re.S)
    assert headers[0] == "metric" and len(headers) == 8 and all("[Gy" in h for h in headers[1:]), headers
    # cord-conservative recovery: 50 % from 12 months; the phantom's interval is over 3 years
    assert any("prior EQD2 after recovery" in h and "recovered 50 %" in h for h in headers)
    assert "sampling resolution 2 mm" in cord_table
    for row in summary["structures"]:
        assert row["resolution_mm"] == 2.0 and row["dvh_method"].startswith("structure")
    units = {(row["structure"], row["metric"]): row["unit"] for row in summary["constraints"]}
    assert units[("SpinalCord", "D0.03cc")] == "Gy EQD2"


def test_warnings_panel_carries_the_outside_grid_note(done):
    summary, page = done["summary"], done["page"]
    note = next(w for w in summary["warnings"] if "map outside its dose grid" in w)
    assert note.startswith("course 'prior': ")
    panel = re.search(r'<div class="panel warnings"><h3>Warnings</h3><ul>(.*?)</ul></div>', page, re.S).group(1)
    assert html.escape(note) in panel
    banner_end = page.index("</span>", page.index('class="banner'))
    assert page.index('class="panel warnings"') - banner_end < 2000  # directly under the banner


def _measure_tables(page: Path, width: int, profile: Path) -> str:
    probe = page.with_name(f"probe-{width}.html")
    script = ("<script>var bad=[];document.querySelectorAll('table').forEach(function(t,i){var r=t.getBoundingClientRect();"
              "if(r.right>document.documentElement.clientWidth+1||t.scrollWidth>t.clientWidth+1){bad.push(i)}});"
              "document.body.setAttribute('data-clipped',bad.join(','));"
              "document.body.setAttribute('data-tables',document.querySelectorAll('table').length)</script></body>")  # fmt: skip
    probe.write_text(page.read_text().replace("</body>", script))
    dom = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},1000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)  # fmt: skip
    return dom.stdout


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_no_table_is_clipped_at_paper_width(done, tmp_path, paper):
    dom = _measure_tables(done["out"] / "report.html", PRINTABLE_PX[paper], tmp_path / "profile")
    tables = int(re.search(r'data-tables="(\d+)"', dom).group(1))
    assert tables > 10
    assert re.search(r'data-clipped="([\d,]*)"', dom).group(1) == ""


def test_pdf_is_written_with_every_table_whole(done, tmp_path):
    _chromium()
    pdf = done["out"] / "report.pdf"
    assert done["summary"]["pdf"] == {"wanted": True, "written": True, "file": "report.pdf", "reason": None}
    assert pdf.read_bytes()[:5] == b"%PDF-" and done["result"].files["pdf"] == pdf
    assert not list(done["out"].glob(".*tmp*"))  # written inside the run's staged outputs, nothing half-written
    text = re.sub(r"\s+", " ", "".join(page.extract_text() for page in PdfReader(pdf).pages))
    reference = pydicom.dcmread(done["case"].reirradiation.plan_path)
    assert reference.PatientID in text and "Approved by" in text and "Warnings" in text
    # the last column header of every kind of table is on the page
    for last in ("source", "cumulative EQD2", "interval to reference [months]", "date"):
        assert last in text, last
    shot = tmp_path / "shot.png"
    page = (done["out"] / "report.html").as_uri()
    subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'p'}", f"--screenshot={shot}",
                    "--window-size=1100,1600", page], capture_output=True, timeout=120)  # fmt: skip
    assert shot.stat().st_size > 50_000  # a rendered page with pictures, not an empty canvas


def test_missing_chromium_is_said_not_hidden(done, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no Chromium to be found
    monkeypatch.setenv("ACCUMULATE_PDF", "1")
    monkeypatch.setattr(run_report, "review_section", lambda result, quantities: "")  # the pictures are tested above
    result = dataclasses.replace(done["result"], output_dir=tmp_path, files={})
    files = run_report.write_run_report(result, {}, 35.0)
    assert "pdf" not in files and not (tmp_path / "report.pdf").exists()
    summary = json.loads(files["summary"].read_text())
    assert summary["pdf"]["written"] is False and "no Chromium" in summary["pdf"]["reason"]
    assert any(w.startswith("report.pdf was NOT written: no Chromium") for w in summary["warnings"])
    page = files["report"].read_text()
    assert '<div class="panel pdf"><h3>report.pdf was NOT written</h3>' in page
    assert page.index('class="panel pdf"') < page.index("<h2>Identification</h2>")  # under the banner


def test_configuration_hash_follows_the_settings(done, tmp_path):
    config = done["config"]
    same = tmp_path / "elsewhere" / "run.toml"
    same.parent.mkdir()
    shutil.copy(config, same)
    assert configuration_hash(load_config(config)) == configuration_hash(load_config(same))
    other = tmp_path / "other.toml"
    other.write_text(config.read_text().replace("alpha_beta_default = 3.0", "alpha_beta_default = 3.5"))
    assert configuration_hash(load_config(other)) != configuration_hash(load_config(config))
