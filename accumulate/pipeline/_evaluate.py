"""Stages 5-6 of a run: EQD2 with recovery, the remaining dose, DVHs and constraint verdicts.

:func:`evaluate` reads a :class:`Prepared` case and repeats cheaply under other radiobiology,
recovery or constraint settings (``evaluate(prepared.variant(other_config))``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..accumulation import CourseDose, cumulative_eqd2
from ..errors import InputError
from ..evaluation import DVH, Verdict, dvh
from ..evaluation import evaluate as verdicts_for
from ..geometry import Volume
from ..io import find_structure
from ..radiobiology import eqd2, residual_map
from ._prepare import Prepared
from ._stages import Stages, quiet


@dataclass(frozen=True)
class Evaluation:
    """The voxelwise results on the reference dose grid, their DVHs and the verdicts.

    ``cumulative`` (EQD2, Gy or Gy(RBE)), ``physical`` (dose sum, Gy), ``new_course`` (the reference
    course's EQD2), ``prior_residual`` (the prior courses' EQD2 after recovery), ``remaining``
    (largest additional physical dose in the reference course's fractions, Gy; NaN where no
    limit applies). ``dvhs`` are keyed by (scope, quantity), then structure.
    """

    cumulative: Volume
    physical: Volume
    new_course: Volume
    prior_residual: Volume
    remaining: Volume
    dvhs: dict[tuple[str, str], dict[str, DVH]]
    verdicts: list[Verdict]


def _find_or_none(masks: Mapping[str, Volume], name: str) -> str | None:
    try:
        return find_structure(masks, name)
    except InputError:
        return None


def evaluate(prepared: Prepared, stages: Stages | None = None) -> Evaluation:
    """Stages 5-6 for ``prepared`` under its configuration's radiobiology, recovery and constraints."""
    stages = stages or quiet()
    config, maps, masks, backend = prepared.config, prepared.maps, prepared.masks, prepared.backend
    reference, grid = prepared.reference, prepared.reference.dose.grid

    stages.start("EQD2, recovery and remaining dose")
    x = config.reference_dose_per_fraction
    prior_doses = [
        CourseDose(p.name, prepared.warped[p.name], p.fractions, rbe=p.config.rbe,
                   residual=residual_map(grid, masks, maps.recovery, prepared.intervals[p.name]))
        for p in prepared.priors
    ]  # fmt: skip
    budget = cumulative_eqd2(
        prior_doses, maps.alpha_beta, ref_dose=x, limit=maps.limits, new_fractions=reference.fractions, backend=backend
    )
    current = eqd2(reference.dose, reference.fractions, maps.alpha_beta, ref_dose=x, rbe=reference.config.rbe, backend=backend)
    rbe_unit = "Gy(RBE)" in (budget.cumulative.unit, current.unit)
    total = budget.cumulative.with_array(budget.cumulative.array + current.array, unit="Gy(RBE)" if rbe_unit else "Gy")
    physical = reference.dose.with_array(reference.dose.array + sum(w.array for w in prepared.warped.values()),
                                         quantity="dose")  # fmt: skip
    stages.done()

    stages.start("DVHs and constraints")
    volumes = {
        ("cumulative", "eqd2"): total,
        ("cumulative", "physical"): physical,
        ("new_course", "eqd2"): current,
        ("new_course", "physical"): reference.dose,
        ("prior_residual", "eqd2"): budget.cumulative,
    }
    dvhs = {
        key: {name: dvh(volume, mask, name) for name, mask in masks.items() if np.any(np.asarray(mask.array, float) > 0)}
        for key, volume in volumes.items()
    }
    verdicts = (
        verdicts_for(config.constraints, dvhs, lambda n: _find_or_none(masks, n), maps.latest_interval)
        if config.constraints
        else []
    )
    stages.done()
    return Evaluation(total, physical, current, budget.cumulative, budget.remaining, dvhs, verdicts)
