"""The registration uncertainty carried into the cumulative dose and the verdicts (``[uncertainty] method = "shift"``).

For every shift scenario of :func:`accumulate.uncertainty.shift_vectors` (the nominal, 6 axis and
8 diagonal shifts at the radius) each prior course's dose is warped again with its field moved
by the shift (the same warp, density and backend as the run) and stages 5-6 run on those doses:
one set of verdicts per scenario, the same shift for every prior course. The per-voxel lower and
upper envelopes of each prior course's scenario doses (each course's registration erring on its
own) go through the same EQDx, recovery and sum into the per-voxel band of the cumulative EQDx
and the metric's plausible range; the upper envelope is the bound's worst case. The nominal
scenario reuses the run's warped doses, so the nominal verdicts are those of the run.

Cost: 14 warps per prior course and 16 evaluations of stages 5-6 (measured in
``summary.json``'s ``uncertainty.seconds`` beside ``stages_s``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..geometry import Volume
from ..io import write_itk_volume
from ..radiobiology.maps import OCCUPANCY_THRESHOLD
from ..uncertainty import COVERING_COSINE, robust_rows, shift_vectors, shifted
from ._evaluate import Evaluation, evaluate
from ._prepare import Prepared, prior_density, warp_prior
from ._stages import Stages, quiet

log = logging.getLogger("accumulate")

STAGE = "DIR uncertainty"


@dataclass(frozen=True)
class Uncertainty:
    """The shift bound of a run: envelopes of the cumulative EQDx, robust keys per verdict, cost.

    ``lower`` and ``upper`` (Gy or Gy(RBE), the run's EQDx on the reference dose grid) are the
    per-voxel envelopes of the cumulative EQDx; ``rows`` holds the robust keys of each verdict of the
    run, in its order (see :func:`accumulate.uncertainty.robust_rows`); ``seconds`` the wall time;
    ``structure_band_gy`` the widest band (Gy) inside each reference structure (its voxels on the dose grid).
    """

    method: str
    radius_mm: float
    shifts_mm: np.ndarray
    lower: Volume
    upper: Volume
    rows: list[dict[str, Any]]
    seconds: float
    structure_band_gy: dict[str, float] = field(default_factory=dict)

    @property
    def band(self) -> Volume:
        """The per-voxel band width ``upper - lower`` of the cumulative EQDx (Gy, >= 0)."""
        return self.upper.with_array(self.upper.array - self.lower.array, quantity="uncertainty")

    def summary(self, quantity: str) -> dict[str, Any]:
        """The ``uncertainty`` section of summary.json."""
        band = np.asarray(self.band.array, dtype=float)
        return {
            "method": self.method,
            "radius_mm": self.radius_mm,
            "scenarios": len(self.shifts_mm),
            "shifts_mm": "the nominal, 6 axis and 8 diagonal shifts of the prior dose's moving points at the radius",
            "band": f"per voxel, the {quantity.upper()} of the lowest and highest warped prior dose over the scenarios, each "
            "prior course on its own (uncertainty_" + quantity + ".mha: the band's width, Gy)",
            "band_max_gy": round(float(band.max()), 3),
            "band_max_gy_by_structure": {name: round(value, 3) for name, value in self.structure_band_gy.items()},
            "robust_verdict": "met in every scenario (the same shift for all prior courses) or not met in k of n; 'worst case "
            "exceeds limit': the metric of the voxelwise upper envelope is over the limit",
            "covers": f"registration errors up to about {COVERING_COSINE:.2f} x the radius where the dose is locally linear",
            "seconds": round(self.seconds, 2),
        }


def _scenario_doses(prepared: Prepared, shift_mm: np.ndarray, densities: dict[str, Volume | None]) -> dict[str, Volume]:
    grid, out = prepared.reference.dose.grid, {}
    for prior in prepared.priors:
        field = shifted(prepared.fields[prior.name], shift_mm)
        result = warp_prior(prior, field, prepared.config, grid, prepared.backend, densities[prior.name])
        out[prior.name] = result.dose.with_array(np.nan_to_num(np.asarray(result.dose.to_numpy().array), nan=0.0))
    return out


def dir_uncertainty(prepared: Prepared, nominal: Evaluation, stages: Stages | None = None) -> Uncertainty | None:
    """The shift bound of ``prepared`` (None when ``[uncertainty] method = "none"`` or there is no prior course)."""
    config = prepared.config
    if config.uncertainty_method == "none" or not prepared.priors:
        return None
    stages = stages or quiet()
    stages.start(STAGE)
    start = time.perf_counter()
    shifts = shift_vectors(config.uncertainty_radius_mm)
    densities = {p.name: prior_density(p, config) for p in prepared.priors}
    lower = {name: np.asarray(v.array, dtype=float).copy() for name, v in prepared.warped.items()}
    upper = {name: a.copy() for name, a in lower.items()}
    scenario_verdicts = [nominal.verdicts]
    for shift in shifts[1:]:
        doses = _scenario_doses(prepared, shift, densities)
        for name, volume in doses.items():
            np.minimum(lower[name], volume.array, out=lower[name])
            np.maximum(upper[name], volume.array, out=upper[name])
        scenario_verdicts.append(evaluate(replace(prepared, warped=doses)).verdicts)
    envelopes = {}
    for key, arrays in (("lower", lower), ("upper", upper)):
        warped = {name: prepared.warped[name].with_array(a) for name, a in arrays.items()}
        envelopes[key] = evaluate(replace(prepared, warped=warped))
    rows = robust_rows(nominal.verdicts, scenario_verdicts, envelopes["lower"].verdicts, envelopes["upper"].verdicts)
    width = envelopes["upper"].cumulative.array - envelopes["lower"].cumulative.array
    inside = {name: np.asarray(mask.array, dtype=float) >= OCCUPANCY_THRESHOLD for name, mask in prepared.masks.items()}
    structure_band = {name: float(width[voxels].max()) for name, voxels in inside.items() if voxels.any()}
    seconds = time.perf_counter() - start
    log.info("DIR uncertainty: %d shift scenarios of %.1f mm in %.1f s", len(shifts), config.uncertainty_radius_mm, seconds)
    stages.done()
    return Uncertainty(config.uncertainty_method, config.uncertainty_radius_mm, shifts, envelopes["lower"].cumulative,
                       envelopes["upper"].cumulative, rows, seconds, structure_band)  # fmt: skip


def write_uncertainty(uncertainty: Uncertainty | None, out: Path, quantity: str) -> dict[str, Path]:
    """Write ``uncertainty_<eqdx>.mha`` (the band's width, Gy, on the reference dose grid) into ``out``; its path by key."""
    if uncertainty is None:
        return {}
    path = out / f"uncertainty_{quantity}.mha"
    write_itk_volume(uncertainty.band, path)
    return {"uncertainty": path}
