"""Warp a prior dose through a displacement field onto the reference dose grid, then its DVH metrics.

The phantom's prior dose is pulled through the case's known deformation (``true_field.mha``,
elastix convention: fixed = the re-irradiation CT, moving point = p + u(p)) onto the
re-irradiation dose grid, mass-consistently with the prior CT's density. Voxels that map
outside the prior dose grid hold 0 Gy (``outside="zero"``, the default; ``"nan"`` marks them
instead) and are counted. Then the DVH metrics of the reference structures, sampled from their
contours as a run does. Prints the warped dose at the isocentre next to the analytic prior dose
at the point the deformation maps it to.

Run: ``python examples/03_warp_and_dvh.py``; from the shell:
``accumulate warp case/prior/RD.dcm case/true_field.mha -o warped.dcm --moving-ct case/prior --fixed case/reirradiation/RD.dcm``
then ``accumulate dvh warped.dcm case/reirradiation/RS.dcm``.
"""

from pathlib import Path

import accumulate
from accumulate.evaluation import metric_unit
from accumulate.phantom import prior_dose_at, prior_point_of, write_demo_case
from accumulate.tools import structure_metrics


def main() -> None:
    case = write_demo_case(Path("case"), size="test")
    prior = accumulate.read_dose(case.prior.dose_path)
    field = accumulate.read_field(case.true_field_path)
    density = accumulate.density_from_ct(accumulate.read_ct(case.prior.folder))
    target = accumulate.read_dose(case.reirradiation.dose_path).grid
    warped = accumulate.warp_dose(prior, field, moving_density=density, target_grid=target)
    print(f"warped: {warped.dose!r}")
    print(f"{int(warped.outside.array.sum())} of {target.size} voxels map outside the prior dose grid (0 Gy there)")
    isocentre = (0.0, 0.0, 0.0)
    analytic = float(prior_dose_at(prior_point_of(isocentre)))
    print(f"warped prior dose at the isocentre: {warped.dose.value_at(isocentre):.2f} Gy (analytic {analytic:.2f} Gy)")
    metrics = ("Dmax", "D0.03cc", "Dmean", "V20Gy")
    rows = structure_metrics(warped.dose, case.reirradiation.structures_path, metrics=metrics)
    print("structure     volume (cc)  " + "  ".join(f"{m} ({metric_unit(m, warped.dose.unit)})" for m in metrics))
    for row in rows:
        print(f"{row.structure:<13s} {row.volume_cc:11.2f}  " + "  ".join(f"{row.values[m]:>{len(m) + 5}.2f}" for m in metrics))


if __name__ == "__main__":
    main()
