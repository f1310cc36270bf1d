"""Sensitivity grids: registration and warping once per patient, stages 5-6 per grid point, analytic values."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pyarrow.parquet as pq
import pytest
from cohort_phantom import RECIPES, expected_cumulative, write_manifest

import accumulate.pipeline as pipeline_module
import accumulate.pipeline._prepare as prepare_module
from accumulate import ConfigError
from accumulate.cohort import read_grid, run_cohort

# uniform alpha/beta and recovery (BODY holds the cord): the cord's cumulative EQD2 is
# (1 - r) EQD2(prior) + EQD2(re-irradiation); its maximum lies 20-43 Gy over this grid, >= 1.9 Gy from 40 Gy.
BASE = """
[radiobiology]
alpha_beta_default = 3.0
[dvh]
method = "grid"  # the expected values are worked out at the voxel centres of the masks
[[constraints.constraint]]
structure = "SpinalCord"
metric = "Dmax"
limit = 40.0
[[constraints.constraint]]
structure = "Brainstem"
metric = "Dmax"
limit = 200.0
"""
GRID = """
[alpha_beta]
default = [2.0, 10]
[recovery]
BODY = [0.0, 0.5]
"""


def _counting(monkeypatch, module, name, counts):
    original = getattr(module, name)

    def counted(*args, **kwargs):
        counts[name] = counts.get(name, 0) + 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


def test_each_grid_point_reuses_the_registration_and_follows_the_analytic_truth(case, tmp_path, monkeypatch):
    recipes = RECIPES[:2]  # 35 and 30 prior fractions
    manifest = write_manifest(tmp_path, case, recipes)
    (tmp_path / "base.toml").write_text(textwrap.dedent(BASE))
    (tmp_path / "grid.toml").write_text(textwrap.dedent(GRID))
    counts: dict[str, int] = {}
    _counting(monkeypatch, prepare_module, "field_for", counts)
    _counting(monkeypatch, prepare_module, "warp_dose", counts)
    _counting(monkeypatch, pipeline_module, "evaluate", counts)
    result = run_cohort(manifest, config=tmp_path / "base.toml", output_dir=tmp_path / "out", workers=0,
                        sensitivity=tmp_path / "grid.toml", progress=lambda line: None)  # fmt: skip
    assert result.done == 2
    # one registration (here: the given field) and one warp per patient; stages 5-6 once per grid point and patient
    assert counts == {"field_for": 2, "warp_dose": 2, "evaluate": 2 * 4}

    rows = pq.read_table(result.output_dir / "sensitivity.parquet").to_pylist()
    assert len(rows) == 2 * 4 * 2
    for row in (r for r in rows if r["structure"] == "SpinalCord"):
        recipe = replace(next(r for r in recipes if r.id == row["patient"]), alpha_beta=row["alpha_beta_default"])
        recovered = {"constant 0 % recovered": 0.0, "constant 50 % recovered": 0.5}[row["recovery_BODY"]]
        expected = expected_cumulative(case, recipe, "SpinalCord", residual=1 - recovered).max()
        assert row["value"] == pytest.approx(expected, rel=0.01)
        assert row["verdict"] == ("pass" if expected <= 40.0 else "fail")
        assert row["changed"] == (row["verdict"] != row["base_verdict"])
    # only a/b 10 without recovery exceeds 40 Gy: both patients' cord verdicts change across the grid, the brainstem's never
    page = (result.output_dir / "cohort.html").read_text()
    assert "2 of 4 (patient, constraint) verdicts change across the 4 grid points" in page


@pytest.mark.parametrize(
    "text, message",
    [
        ("[alpha_beta]\ndefault = 2.0\n", r"\[alpha_beta\] default: give a non-empty list"),
        ("[alpha_beta]\nSpinalCord = [2.0, 0]\n", r"\[alpha_beta\] SpinalCord value 2: alpha/beta values must be numbers > 0"),
        ("[recovery]\nSpinalCord = [1.5]\n", r"\[recovery\] SpinalCord value 1: recovered fraction must be a fraction"),
        ('[recovery]\nSpinalCord = ["fast"]\n', r"\[recovery\] SpinalCord value 1: unknown recovery model 'fast'"),
        ("[recovery]\ndefault = [0.5]\n", r"recovery is per structure"),
        ("[fractions]\nprior = [30]\n", r"a sensitivity grid has the sections"),
        ("[alpha_beta]\n" + "\n".join(f"S{i} = [1.0, 2.0, 3.0, 4.0]" for i in range(5)) + "\n", r"the grid has 1024 points"),
    ],
)
def test_grid_errors_name_the_file_section_and_structure(tmp_path, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_grid(path)


def test_grid_points_are_every_combination(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text('[alpha_beta]\nSpinalCord = [2.0, 3.0]\n[recovery]\nSpinalCord = [0.25, "cord-conservative", "none"]\n')
    points = read_grid(path).points()
    assert len(points) == 6
    assert points[1].label == "alpha_beta[SpinalCord]=2, recovery[SpinalCord]=table (0 mo: 0 %, 6 mo: 25 %, 12 mo: 50 %)"
