"""The registration uncertainty carried into the cumulative dose and the verdicts (``[uncertainty]``).

For every direction of :func:`accumulate.uncertainty.shift_directions` (the nominal, 6 axis and 8
diagonal directions) each prior course's dose is warped again with its field moved by the radius
times the direction (the same warp, density and backend as the run) and stages 5-6 run on those
doses: one set of verdicts per scenario, the same direction for every prior course. The radius is
one number (``method = "shift"``: ``radius_mm``) or one per voxel (``method =
"inverse-consistency"``: each course's :attr:`Prepared.uncertainty_radius`, the scenario then
being a smooth shift field of the registration's own uncertainty). The per-voxel lower and
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

from ..config import UNCERTAINTY_KEYS
from ..errors import InputError
from ..geometry import Volume
from ..io import write_itk_volume
from ..radiobiology.maps import OCCUPANCY_THRESHOLD
from ..uncertainty import COVERING_COSINE, robust_rows, shift_directions, shifted
from ._evaluate import Evaluation, evaluate
from ._prepare import Prepared, prior_density, warp_prior
from ._stages import Stages, quiet

log = logging.getLogger("accumulate")

STAGE = "DIR uncertainty"


@dataclass(frozen=True)
class Uncertainty:
    """The uncertainty bound of a run: envelopes of the cumulative EQDx, robust keys per verdict, cost.

    ``settings`` are the method's ``[uncertainty]`` keys (``radius_mm``; ``minimum_mm``, ``scale``);
    ``directions`` the 15 unit shift directions (x, y, z; the first the nominal); ``radius``
    each prior course's per-voxel radius figures (mm: its median, 95th percentile and largest
    value inside the reference body; empty for one radius);
    ``lower`` and ``upper`` (Gy or Gy(RBE), the run's EQDx on the reference dose grid) are the
    per-voxel envelopes of the cumulative EQDx; ``rows`` holds the robust keys of each verdict of the
    run, in its order (see :func:`accumulate.uncertainty.robust_rows`); ``seconds`` the wall time;
    ``structure_band_gy`` the widest band (Gy) inside each reference structure (its voxels on the dose grid).
    """

    method: str
    settings: dict[str, float]
    directions: np.ndarray
    lower: Volume
    upper: Volume
    rows: list[dict[str, Any]]
    seconds: float
    structure_band_gy: dict[str, float] = field(default_factory=dict)
    radius: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def band(self) -> Volume:
        """The per-voxel band width ``upper - lower`` of the cumulative EQDx (Gy, >= 0)."""
        return self.upper.with_array(self.upper.array - self.lower.array, quantity="uncertainty")

    def summary(self, quantity: str) -> dict[str, Any]:
        """The ``uncertainty`` section of summary.json."""
        band = np.asarray(self.band.array, dtype=float)
        linear = "where the dose is locally linear"
        covers = f"registration errors up to about {COVERING_COSINE:.2f} x the radius {linear}"
        per_voxel = {}
        if self.radius:
            per_voxel = {
                "radius_mm": "per voxel: max(minimum_mm, scale x the inverse-consistency error of the course's registration)",
                "radius_mm_in_body_by_course": self.radius,
            }
            covers = (f"registration errors up to about {COVERING_COSINE:.2f} x the local radius {linear}; the radius is "
                      "the registration's evidence of its error, not a bound on it (README)")  # fmt: skip
        return {
            "method": self.method,
            **self.settings,
            **per_voxel,
            "scenarios": len(self.directions),
            "shifts_mm": "the nominal, 6 axis and 8 diagonal shifts of the prior dose's moving points at the radius",
            "band": f"per voxel, the {quantity.upper()} of the lowest and highest warped prior dose over the scenarios, each "
            "prior course on its own (uncertainty_" + quantity + ".mha: the band's width, Gy)",
            "band_max_gy": round(float(band.max()), 3),
            "band_max_gy_by_structure": {name: round(value, 3) for name, value in self.structure_band_gy.items()},
            "robust_verdict": "met in every scenario (the same shift for all prior courses) or not met in k of n; 'worst case "
            "exceeds limit': the metric of the voxelwise upper envelope is over the limit",
            "covers": covers,
            "seconds": round(self.seconds, 2),
        }


def _shift(prepared: Prepared, course: str, direction: np.ndarray) -> np.ndarray:
    """The shift (mm) of ``course``'s moving points in ``direction``: one vector, or one per voxel of its field."""
    if prepared.config.uncertainty_method != "inverse-consistency":
        return prepared.config.uncertainty_radius_mm * direction
    radius = prepared.uncertainty_radius.get(course)
    if radius is None:
        raise InputError(f"course '{course}' has no per-voxel uncertainty radius (Prepared.uncertainty_radius)")
    return np.asarray(radius.array, dtype=float)[..., None] * direction


def _radius_figures(prepared: Prepared) -> dict[str, dict[str, float]]:
    """Per course, the per-voxel radius's median, 95th percentile and maximum (mm) in the reference body (else everywhere).

    The same figures inside each organ at risk are the registration checks ``uncertainty:<organ>``.
    """
    out = {}
    body = prepared.bodies.get(prepared.reference.name)
    for name, radius in prepared.uncertainty_radius.items():
        values = np.asarray(radius.array, dtype=float)
        if body is not None and body.grid.is_close(radius.grid) and (body.array >= 0.5).any():
            values = values[body.array >= 0.5]
        out[name] = {"median": round(float(np.median(values)), 2), "p95": round(float(np.percentile(values, 95)), 2),
                     "max": round(float(values.max()), 2)}  # fmt: skip
    return out


def _scenario_doses(prepared: Prepared, direction: np.ndarray, densities: dict[str, Volume | None]) -> dict[str, Volume]:
    grid, out = prepared.reference.dose.grid, {}
    for prior in prepared.priors:
        field = shifted(prepared.fields[prior.name], _shift(prepared, prior.name, direction))
        result = warp_prior(prior, field, prepared.config, grid, prepared.backend, densities[prior.name])
        out[prior.name] = result.dose.with_array(np.nan_to_num(np.asarray(result.dose.to_numpy().array), nan=0.0))
    return out


def dir_uncertainty(prepared: Prepared, nominal: Evaluation, stages: Stages | None = None) -> Uncertainty | None:
    """The uncertainty bound of ``prepared`` (None when ``[uncertainty] method = "none"`` or there is no prior course)."""
    config = prepared.config
    if config.uncertainty_method == "none" or not prepared.priors:
        return None
    stages = stages or quiet()
    stages.start(STAGE)
    start = time.perf_counter()
    directions = shift_directions()
    densities = {p.name: prior_density(p, config) for p in prepared.priors}
    lower = {name: np.asarray(v.array, dtype=float).copy() for name, v in prepared.warped.items()}
    upper = {name: a.copy() for name, a in lower.items()}
    scenario_verdicts = [nominal.verdicts]
    for direction in directions[1:]:
        doses = _scenario_doses(prepared, direction, densities)
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
    per_voxel = config.uncertainty_method == "inverse-consistency"
    radius = _radius_figures(prepared) if per_voxel else {}
    seconds = time.perf_counter() - start
    said = "a per-voxel radius" if per_voxel else f"{config.uncertainty_radius_mm:.1f} mm"
    log.info("DIR uncertainty: %d shift scenarios of %s in %.1f s", len(directions), said, seconds)
    stages.done()
    settings = {key: getattr(config, f"uncertainty_{key}") for key in UNCERTAINTY_KEYS[config.uncertainty_method]}
    return Uncertainty(config.uncertainty_method, settings, directions,
                       envelopes["lower"].cumulative, envelopes["upper"].cumulative, rows, seconds, structure_band,
                       radius)  # fmt: skip


def write_uncertainty(uncertainty: Uncertainty | None, out: Path, quantity: str) -> dict[str, Path]:
    """Write ``uncertainty_<eqdx>.mha`` (the band's width, Gy, on the reference dose grid) into ``out``; its path by key."""
    if uncertainty is None:
        return {}
    path = out / f"uncertainty_{quantity}.mha"
    write_itk_volume(uncertainty.band, path)
    return {"uncertainty": path}
