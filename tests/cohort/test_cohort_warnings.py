"""Each patient's warnings reach the cohort log and page naming the patient; no base settings is refused without --defaults."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from cohort_phantom import RECIPES, write_csv_manifest

from accumulate.cli import main
from accumulate.cohort import read_manifest, run_cohort
from accumulate.cohort._task import Outcome, PatientTask, record

EXAMPLES = Path(__file__).resolve().parents[2] / "configs" / "examples"


def _warning_of(patient: str) -> str:
    return f"course 'prior': {len(patient) * 100} reference voxels map outside its dose grid and count as 0 Gy"


def _task_with_warnings(task: PatientTask) -> Outcome:
    """Stands in for a patient's run: records it done with one warning of its own (no pipeline)."""
    outcome = Outcome(task.patient, "done", None, 0.01, (_warning_of(task.patient),))
    record(task.folder, outcome, task.input_hash, dt.datetime.now())
    return outcome


def test_each_patients_warning_is_in_the_log_and_the_page_naming_the_patient(case, tmp_path):
    recipes = RECIPES[:2]
    manifest = write_csv_manifest(tmp_path, case, recipes)
    lines: list[str] = []
    result = run_cohort(manifest, output_dir=tmp_path / "out", workers=0, progress=lines.append, task=_task_with_warnings)
    page = re.sub(r"<td[^>]*>", "<td>", result.files["page"].read_text())  # cells without their classes
    for recipe in recipes:
        assert f"  warning: patient {recipe.id}: {_warning_of(recipe.id)}" in lines
        assert f"<td>{recipe.id}</td><td>{_warning_of(recipe.id)}</td>" in page.replace("&#x27;", "'")
    assert "<h2>Warnings</h2>" in page


def test_cohort_without_base_settings_is_refused_unless_defaults_is_given(case, tmp_path, capsys):
    manifest = write_csv_manifest(tmp_path, case, RECIPES[:1])
    assert main(["cohort", str(manifest), "--out", str(tmp_path / "out"), "--workers", "0"]) == 5
    err = capsys.readouterr().err
    assert "no base settings" in err and "--defaults" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_the_example_manifests_parse_and_name_the_folders_to_fill_in():
    for name in ("cohort-manifest.csv", "cohort-manifest.toml"):
        manifest = read_manifest(EXAMPLES / name)
        assert [p.id for p in manifest.patients] == ["HN001", "HN002", "HN003"]
        assert [len(p.courses) for p in manifest.patients] == [2, 2, 3]
        text = (EXAMPLES / name).read_text()
        assert "exports/<patient>/<course>" in text and "replace" in text  # the comment says what to fill in
