"""The two-course phantom's truth for the uncertainty tests, worked out without the code's warp and DVHs.

The true cumulative EQD2 at reference points: the analytic prior dose (or the prior dose as stored
in its RTDOSE, trilinear) at the true prior point ``p + u(p)`` (``accumulate.phantom``), through
the LQ formula with a uniform alpha/beta of 3 Gy and no recovery, plus the re-irradiation's.
:func:`run_config` writes the run configuration these tests use: voxel DVHs (``[dvh] method =
"grid"``) so the metrics are maxima over the same voxel centres the truth is taken at.
"""

from __future__ import annotations

import textwrap

import numpy as np

from accumulate import read_dose
from accumulate.config import load_config
from accumulate.phantom import prior_dose_at, prior_point_of, reirr_dose_at
from accumulate.registration import sample_linear

ALPHA_BETA = 3.0


def eqd2(dose, fractions):
    """EQD2 (Gy) of ``dose`` (Gy) in ``fractions`` fractions at alpha/beta 3 Gy."""
    return dose * (ALPHA_BETA + dose / fractions) / (ALPHA_BETA + 2.0)


def analytic_cumulative(points, shift=(0.0, 0.0, 0.0)):
    """EQD2 (Gy) of the analytic prior dose at the true prior point moved by ``shift`` plus the re-irradiation's."""
    prior = prior_dose_at(prior_point_of(points) + np.asarray(shift, float))
    return eqd2(prior, 35) + eqd2(reirr_dose_at(points), 5)


def stored_prior_cumulative(case, points, shift=(0.0, 0.0, 0.0)):
    """Like :func:`analytic_cumulative` but the prior dose as stored in its RTDOSE (4 mm grid), trilinear at the point."""
    prior = read_dose(case.prior.dose_path)
    dose = sample_linear(prior.array, prior.grid, prior_point_of(points) + np.asarray(shift, float), outside=0.0)
    return eqd2(dose, 35) + eqd2(reirr_dose_at(points), 5)


def run_config(case, folder, name, *, dvf, uncertainty, limit=None, warp="mass", inverse=None):
    """Write ``folder/<name>.toml`` (outputs in ``folder/out``) and load it.

    ``uncertainty`` is the body of the ``[uncertainty]`` table (TOML lines); with ``limit`` the
    constraints are the mandible's Dmax at that limit (Gy) and a chiasm the phantom lacks; with
    ``inverse`` the prior course gives its field and the field's inverse (``dvf_inverse``).
    """
    constraint = (
        ""
        if limit is None
        else f"""
    [constraints]
    [[constraints.constraint]]
    id = "mandible"
    structure = "Mandible"
    metric = "Dmax"
    limit = {limit:.4f}
    source = "test: between the nominal and the worst-case values worked out from the phantom"
    [[constraints.constraint]]
    id = "chiasm"
    structure = "Chiasm"
    metric = "D0.03cc"
    limit = 50.0
    source = "test: a structure the phantom does not have"
    """
    )
    courses = case.course_tables()
    registration = f'[registration]\ndvf = "{dvf}"'
    if inverse is not None:
        prior = f'dicom = "{case.prior.folder}"\n'
        courses = courses.replace(prior, f'{prior}dvf = "{dvf}"\ndvf_inverse = "{inverse}"\n')
        registration = "[registration]"
    text = f"""
    [radiobiology]
    alpha_beta_default = {ALPHA_BETA}
    [warp]
    method = "{warp}"
    [dvh]
    method = "grid"
    [output]
    dir = "{folder / "out"}"
    """
    path = folder / f"{name}.toml"
    path.write_text(courses + registration + textwrap.dedent(text) + "[uncertainty]\n" + textwrap.dedent(uncertainty).strip()
                    + "\n" + textwrap.dedent(constraint))  # fmt: skip
    return load_config(path)
