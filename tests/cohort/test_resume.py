"""Resuming: an interrupted cohort reruns only what is not done with the same inputs and settings."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest
from cohort_phantom import RECIPES, cord_conservative, write_cohort

from accumulate.cohort import read_manifest, run_cohort
from accumulate.cohort._hashing import input_hash
from accumulate.cohort._manifest import patient_config


def _state(out, patient):
    path = out / "patients" / patient / "status.json"
    return json.loads(path.read_text())["state"] if path.exists() else None


def test_an_interrupted_cohort_resumes_where_it_stopped(case, tmp_path):
    synthetic = write_cohort(tmp_path, RECIPES[:3] + RECIPES[-1:], case=case)
    out = tmp_path / "out"
    options = {"config": synthetic.base, "output_dir": out, "workers": 0}

    def interrupt_after_two(line):
        if line.startswith("[2/4]"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cohort(synthetic.manifest, progress=interrupt_after_two, **options)
    assert [_state(out, p) for p in ("P01", "P02", "P03", "P08-broken")] == ["done", "done", None, None]
    assert not (out / "results.parquet").exists()
    (out / "patients" / "P03").mkdir()
    (out / "patients" / "P03" / "rows.json").write_text('{"results": [')  # a patient cut off mid-way: no status.json
    finished = {p: (out / "patients" / p / "status.json").stat().st_mtime_ns for p in ("P01", "P02")}

    lines: list[str] = []
    result = run_cohort(synthetic.manifest, progress=lines.append, **options)
    assert (result.skipped, result.ran, result.done) == (2, 2, 3)
    assert "2 done before with the same inputs (skipped), 0 invalid, 2 to run" in lines[0]
    assert {p: (out / "patients" / p / "status.json").stat().st_mtime_ns for p in finished} == finished  # not rerun
    rows = pq.read_table(out / "results.parquet").to_pylist()
    assert {r["patient"] for r in rows if r["status"] == "done"} == {"P01", "P02", "P03"}

    # another interval for P03 in the manifest: P03 reruns (with the new recovery), and so does the failed patient
    text = synthetic.manifest.read_text().replace("interval_months = 3", "interval_months = 9")
    synthetic.manifest.write_text(text.replace("date = 2024-07-01", "date = 2024-01-01"))  # the date agrees with it
    result = run_cohort(synthetic.manifest, progress=lines.append, **options)
    assert (result.skipped, result.ran) == (2, 2)
    rows = pq.read_table(out / "results.parquet").to_pylist()
    cord = next(r for r in rows if r["patient"] == "P03" and r["structure"] == "SpinalCord")
    assert cord["course_prior_recovered"] == pytest.approx(cord_conservative(9), abs=1e-4)


def test_the_input_hash_follows_settings_files_and_the_grid(case, tmp_path):
    synthetic = write_cohort(tmp_path, RECIPES[:1], case=case)
    (patient,) = read_manifest(synthetic.manifest).patients
    base = {"radiobiology": {"alpha_beta_default": 3.0}}

    def digest(settings=base, grid=None):
        return input_hash(patient_config(patient, settings, synthetic.manifest), grid)

    first = digest()
    assert digest() == first
    assert digest({"radiobiology": {"alpha_beta_default": 3}}) == first  # the same value written otherwise
    assert digest({"radiobiology": {"alpha_beta_default": 2.5}}) != first
    assert digest(grid={"alpha_beta": [2.0, 3.0]}) != first
    rtdose = case.reirradiation.dose_path
    stat = rtdose.stat()
    os.utime(rtdose, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    try:
        assert digest() != first  # an input file was rewritten
    finally:
        os.utime(rtdose, ns=(stat.st_atime_ns, stat.st_mtime_ns))
