"""Every script of examples/ runs in a fresh folder and prints the physics it claims (checked here independently)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from accumulate.phantom import cumulative_eqd2_at, prior_dose_at, prior_point_of

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
NUMBER = r"(-?\d+(?:\.\d+)?)"


def _isocentre_eqd2(out: str) -> None:
    found = float(re.search(rf"cumulative EQD2 at the isocentre: {NUMBER} Gy", out).group(1))
    assert found == pytest.approx(float(cumulative_eqd2_at((0.0, 0.0, 0.0), 3.0)), rel=0.02)  # nearest voxel's value
    assert re.search(r"^overall: NOT MET: ", out, re.M) and "\nWarnings (" in out


def _eqd2_by_hand(out: str) -> None:
    for alpha_beta in (3.0, 10.0):
        dose, eqd2 = map(float, re.search(rf"a/b +{alpha_beta:.1f} Gy: max dose {NUMBER} Gy -> EQD2 {NUMBER} Gy", out).groups())
        assert dose == pytest.approx(35.0, rel=1e-3)  # the re-irradiation's plateau: 35 Gy in 5 fractions
        assert eqd2 == pytest.approx(dose * (dose / 5 + alpha_beta) / (2 + alpha_beta), abs=0.006)
    assert "written: eqd2.dcm (EQD2 a/b 3 Gy, 5 fx)" in out


def _warped_isocentre(out: str) -> None:
    found = float(re.search(rf"warped prior dose at the isocentre: {NUMBER} Gy", out).group(1))
    assert found == pytest.approx(float(prior_dose_at(prior_point_of((0.0, 0.0, 0.0)))), rel=0.02)
    cord = re.search(rf"^SpinalCord +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}", out, re.M)
    volume, dmax, d003, dmean = map(float, cord.groups())
    assert volume > 0 and dmax >= d003 >= dmean > 0


def _cohort(out: str) -> None:
    assert "2 of 2 patients done" in out and "warning: patient HN002: course 'prior': 30 fractions" in out


CHECKS = {
    "01_demo_case.py": _isocentre_eqd2,
    "02_eqd2_of_a_dose.py": _eqd2_by_hand,
    "03_warp_and_dvh.py": _warped_isocentre,
    "04_cohort_manifest.py": _cohort,
}


def test_every_example_has_a_check_and_a_docstring():
    assert [p.name for p in EXAMPLES] == sorted(CHECKS)
    for path in EXAMPLES:
        assert path.read_text().startswith('"""'), f"{path.name} needs a docstring saying what it shows"


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_example_runs_and_prints_its_numbers(script, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    CHECKS[script.name](done.stdout)
