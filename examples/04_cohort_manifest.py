"""A cohort from a manifest: two patients (the phantom case twice, one with a shorter prior course), run in this process.

Writes the phantom case, base settings (``base.toml``: alpha/beta, recovery, constraint set)
and a CSV manifest (one row per course, oldest first) whose second patient overrides the prior
course's fractions, then ``accumulate.cohort.run_cohort``: each patient runs into
``cohort-out/patients/<id>/``, the cohort's tables and page (``cohort.html``) beside. The manifest
format is that of ``configs/examples/cohort-manifest.csv``.

Run: ``python examples/04_cohort_manifest.py``; from the shell:
``accumulate cohort manifest.csv --config base.toml --workers 0``.
"""

from pathlib import Path

from accumulate.cohort import run_cohort
from accumulate.phantom import write_demo_case

BASE = """
# The settings every patient shares (a run configuration without [[course]]).
[radiobiology]
alpha_beta_default = 3.0          # Gy, everywhere a structure has no value of its own
alpha_beta = { SpinalCord = 2.0 }

[recovery.SpinalCord]
model = "cord-conservative"       # 25 % after 6 months, 50 % from 12 months

[constraints]
set = "hn-reirradiation"

[accept]
absent_structures = ["OpticNerve_L", "OpticNerve_R", "Chiasm", "Larynx"]   # the phantom has none
"""


def main() -> None:
    case = write_demo_case(Path("case"), size="test")
    Path("base.toml").write_text(BASE)
    field = case.true_field_path
    rows = ["patient,course,folder,fractions,dvf"]
    for patient, prior_fractions in (("HN001", ""), ("HN002", "30")):
        rows += [f"{patient},prior,{case.prior.folder},{prior_fractions},{field}",
                 f"{patient},reirradiation,{case.reirradiation.folder},,{field}"]  # fmt: skip
    Path("manifest.csv").write_text("\n".join(rows) + "\n")
    result = run_cohort("manifest.csv", config="base.toml", workers=0, progress=print)
    print(f"{result.done} of {result.patients} patients done; page: {result.files['page']}")


if __name__ == "__main__":
    main()
