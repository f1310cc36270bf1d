"""How the mass-consistent warp converges with its sub-samples per axis k: the table in the README.

For two analytic cases (the tests' phantoms) it warps with k = 1, 2, 3, 4 and 8 and reports the
energy error against the prior energy (only where the whole grid maps inside the prior dose grid;
n/a otherwise and for ``direct``, which maps no mass) and
the largest dose difference from k = 8 relative to the dose maximum; ``direct`` for comparison.
Writes ``benchmarks/results/warp_accuracy.json``.

Usage::

    python benchmarks/warp_accuracy.py [--backend cuda-host]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "warp"))
from warp_phantoms import cube_grid, gaussian_dose, layered_density, prior_energy, radial_bumps, smooth_field  # noqa: E402

from accumulate.warp import DEFAULT_SUBSAMPLES, warp_dose  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
KS = (1, 2, 3, 4, 8)


def cases():
    grid = cube_grid(40)
    bumps = radial_bumps(grid, [((-6, 0, 0), -0.2, 6.0), ((12, 4, 2), 0.25, 5.0)])
    yield "3 mm hot spot under 2x compression (det J 0.51 .. 1.95)", grid, bumps, gaussian_dose(grid, (-6, 0, 0), 3.0)
    yield "8 mm dose, sinusoidal 3 mm field", grid, smooth_field(grid, 3.0), gaussian_dose(grid, (5, -3, 2), 8.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--output", type=Path, default=RESULTS / "warp_accuracy.json")
    args = parser.parse_args()
    report = {"default_subsamples": DEFAULT_SUBSAMPLES, "cases": []}
    for name, grid, field, dose in cases():
        density = layered_density(grid)
        runs = {k: warp_dose(dose, field, moving_density=density, subsamples=k, backend=args.backend, outside="nan") for k in KS}
        finest = runs[KS[-1]].dose.array
        peak = float(np.nanmax(finest))
        prior = prior_energy(dose, density)
        rows = {}
        for k, result in runs.items():
            values = result.dose.array
            both = ~np.isnan(values) & ~np.isnan(finest)
            covered = not np.isnan(values).any()  # the energy balance needs the whole grid mapped inside
            rows[f"k={k}"] = {
                "energy_error": float(np.sum(values * result.mass.array) / prior - 1) if covered else None,
                "max_dose_difference_from_k8_of_max": float(np.max(np.abs(values[both] - finest[both])) / peak),
            }
        direct = warp_dose(dose, field, method="direct", backend=args.backend, outside="nan").dose.array
        both = ~np.isnan(direct) & ~np.isnan(finest)
        difference = float(np.max(np.abs(direct[both] - finest[both])) / peak)
        rows["direct"] = {"energy_error": None, "max_dose_difference_from_k8_of_max": difference}
        report["cases"].append({"case": name, "voxels": grid.size, "rows": rows})
        print(name)
        for what, row in rows.items():
            energy = row.get("energy_error")
            energy_text = f"energy {energy:+.3%}" if energy is not None else "energy n/a"
            print(f"  {what:>6}: {energy_text}, max |D - D(k=8)| {row['max_dose_difference_from_k8_of_max']:.3%} of the maximum")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
