"""A synthetic re-irradiation cohort with analytic truth, for the cohort tests and benchmarks/bench_cohort.py.

Every patient is the built-in two-course case (accumulate.phantom, "test" size, written once),
given with its true displacement field (no registration), under other per-patient overrides:
fractions, dates, intervals, alpha/beta, a structure renamed with its own recovery. The base
settings give the cord the "cord-conservative" recovery (25 % at 6 months, 50 % from 12 months).
Each recipe states the fraction of the prior course's EQD2 that still counts (the residual) in
the spinal cord and in the left parotid, worked out by hand below; the expected metrics are then
``residual * EQD2(prior dose at p + u(p)) + EQD2(re-irradiation dose at p)`` over the
structure's voxels, with the LQ formula written out here, independent of the package.
One patient's export is broken: its prior RTDOSE is overwritten with bytes that are not DICOM.
"""

from __future__ import annotations

import csv
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accumulate import read_dose, read_structures
from accumulate.phantom import DemoCase, prior_dose_at, prior_point_of, reirr_dose_at, write_demo_case

DAYS_PER_MONTH = 365.25 / 12
BASE_SETTINGS = """
[radiobiology]
alpha_beta_default = 3.0
[recovery.SpinalCord]
model = "cord-conservative"
[constraints]
set = "hn-reirradiation"
[dvh]
method = "grid"  # the expected values are worked out at the voxel centres of the masks
"""


def cord_conservative(months: float) -> float:
    """Recovered fraction of "cord-conservative": 0 -> 25 % over 6 months, -> 50 % at 12 months, then flat."""
    return 0.25 * months / 6 if months < 6 else min(0.5, 0.25 + 0.25 * (months - 6) / 6)


@dataclass(frozen=True)
class Recipe:
    """One patient: its manifest overrides and the residuals they imply (cord, left parotid)."""

    id: str
    toml: str = ""  # extra lines of its [[patient]] table and course overrides, see _patient_toml
    prior: str = ""  # extra keys of the prior course
    reirr: str = ""  # extra keys of the re-irradiation course
    prior_fractions: int = 35
    reirr_fractions: int = 5
    alpha_beta: float = 3.0
    cord_residual: float = 0.5  # > 3 years apart: cord-conservative gives 50 %
    parotid_residual: float = 1.0
    body: str = "BODY"
    broken: bool = False


_MARCH_TO_OCTOBER = 214 / DAYS_PER_MONTH  # months from 2024-03-01 to 2024-10-01, the re-irradiation plan date
RECIPES = (
    Recipe("P01"),
    Recipe("P02", prior="fractions = 30", prior_fractions=30),
    Recipe("P03", prior="interval_months = 3\ndate = 2024-07-01", cord_residual=1 - cord_conservative(3)),
    Recipe("P04", prior="date = 2024-03-01", cord_residual=1 - cord_conservative(_MARCH_TO_OCTOBER)),
    Recipe("P05", toml="[patient.settings.radiobiology]\nalpha_beta_default = 10.0", alpha_beta=10.0),
    # BODY is called "Everything" in this patient's settings, with 30 % recovery: the least recovery wins in the cord
    Recipe(
        "P06",
        toml='rename = { BODY = "Everything" }\n[patient.settings.recovery.Everything]\nmodel = "constant"\nrecovered = 0.3',
        cord_residual=0.7,
        parotid_residual=0.7,
        body="Everything",
    ),  # fmt: skip
    Recipe("P07", reirr="fractions = 7", reirr_fractions=7),
    Recipe("P08-broken", broken=True),
)


@dataclass(frozen=True)
class Cohort:
    case: DemoCase
    folder: Path
    manifest: Path
    base: Path
    recipes: tuple[Recipe, ...]

    def recipe(self, patient: str) -> Recipe:
        return next(r for r in self.recipes if r.id == patient)


def _course(name: str, folder: Path, dvf: Path, extra: str) -> str:
    return f'[[patient.course]]\nname = "{name}"\ndicom = "{folder}"\ndvf = "{dvf}"\n{extra}\n'


def _broken_prior(case: DemoCase, folder: Path) -> Path:
    """A copy of the prior export whose RTDOSE is not DICOM any more."""
    broken = folder / "broken-prior"
    if not broken.exists():
        shutil.copytree(case.prior.folder, broken)
        (broken / "RD.dcm").write_bytes(b"this export was interrupted" * 10)
    return broken


def write_manifest(cohort_folder: Path, case: DemoCase, recipes, name: str = "manifest.toml") -> Path:
    """A TOML manifest of ``recipes`` (courses: the case's exports with the true field)."""
    parts = []
    for recipe in recipes:
        prior = _broken_prior(case, cohort_folder) if recipe.broken else case.prior.folder
        parts.append(f'[[patient]]\nid = "{recipe.id}"\n{recipe.toml}\n'
                     + _course("prior", prior, case.true_field_path, recipe.prior)
                     + _course("reirradiation", case.reirradiation.folder, case.true_field_path, recipe.reirr))  # fmt: skip
    path = cohort_folder / name
    path.write_text("\n".join(parts))
    return path


def write_csv_manifest(cohort_folder: Path, case: DemoCase, recipes, name: str = "manifest.csv") -> Path:
    """The same as a CSV manifest, for recipes whose overrides are course keys (no per-patient settings)."""
    path = cohort_folder / name
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        handle.write("# synthetic cohort: one row per course, oldest first\n")
        writer.writerow(["patient", "course", "folder", "fractions", "interval_months", "date", "dvf"])
        for recipe in recipes:
            prior = _broken_prior(case, cohort_folder) if recipe.broken else case.prior.folder
            keys = dict(line.split(" = ") for line in recipe.prior.splitlines())
            writer.writerow([recipe.id, "prior", prior, keys.get("fractions", ""), keys.get("interval_months", ""),
                             keys.get("date", ""), case.true_field_path])  # fmt: skip
            writer.writerow([recipe.id, "reirradiation", case.reirradiation.folder, "", "", "", case.true_field_path])
    return path


def write_cohort(folder: Path, recipes=RECIPES, case: DemoCase | None = None) -> Cohort:
    """The case (unless given), base.toml and manifest.toml in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    case = case or write_demo_case(folder / "case", size="test")
    base = folder / "base.toml"
    base.write_text(textwrap.dedent(BASE_SETTINGS))
    return Cohort(case, folder, write_manifest(folder, case, recipes), base, tuple(recipes))


def _lq_eqd2(dose: np.ndarray, fractions: float, alpha_beta: float) -> np.ndarray:
    return dose * (alpha_beta + dose / fractions) / (alpha_beta + 2.0)


def expected_cumulative(case: DemoCase, recipe: Recipe, structure: str, residual: float | None = None) -> np.ndarray:
    """The analytic cumulative EQD2 (Gy) in the voxels of ``structure`` on the reference dose grid."""
    grid = read_dose(case.reirradiation.dose_path).grid
    mask = read_structures(case.reirradiation.structures_path, grid)[structure].array
    points = grid.world_coordinates()[mask]
    if residual is None:
        residual = recipe.cord_residual if structure == "SpinalCord" else recipe.parotid_residual
    prior = _lq_eqd2(prior_dose_at(prior_point_of(points)), recipe.prior_fractions, recipe.alpha_beta)
    return residual * prior + _lq_eqd2(reirr_dose_at(points), recipe.reirr_fractions, recipe.alpha_beta)
