"""``accumulate.run``: configuration -> courses -> fields -> warped doses -> EQD2 -> verdicts -> outputs.

The one place that knows the order of the stages. Each stage is timed and announced; the log
(elastix included) goes to ``<out>/accumulate.log``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..accumulation import CourseDose, cumulative_eqd2
from ..backends import resolve
from ..config import RunConfig, load_config
from ..density import density_from_ct
from ..errors import InputError
from ..evaluation import DVH, Verdict, dvh, evaluate
from ..geometry import DisplacementField, Volume
from ..io import find_structure, read_structures
from ..radiobiology import alpha_beta_map, eqd2, limit_map, residual_map
from ..warp import warp_dose
from ._courses import LoadedCourse, intervals_months, load_course
from ._fields import field_for, quality
from ._outputs import write_outputs

log = logging.getLogger("accumulate")

#: Constraint metrics that bound every voxel of the structure, so they can drive the remaining-dose map.
VOXEL_METRICS = ("dmax", "d0.03cc", "d0.035cc", "d0.1cc")


@dataclass
class RunResult:
    """What a run produced: the volumes on the reference dose grid, the verdicts and the output paths."""

    config: RunConfig
    output_dir: Path
    cumulative_eqd2: Volume
    cumulative_physical: Volume
    remaining_dose: Volume
    warped: dict[str, Volume]
    verdicts: list[Verdict]
    summary: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(v.passed is not False for v in self.verdicts)


class _Stages:
    """Announces and times the stages: ``[k/n] name ... seconds``."""

    NAMES = ("read courses", "structures and parameter maps", "displacement fields", "warp prior doses",
             "EQD2, recovery and remaining dose", "DVHs and constraints", "write outputs")  # fmt: skip

    def __init__(self, progress: Callable[[str], None]) -> None:
        self.progress, self.seconds, self._started, self._index = progress, {}, 0.0, 0

    def start(self, name: str) -> None:
        self._index += 1
        self._started, self._name = time.perf_counter(), name
        self.progress(f"[{self._index}/{len(self.NAMES)}] {name} ...")

    def done(self) -> None:
        elapsed = time.perf_counter() - self._started
        self.seconds[self._name] = round(elapsed, 3)
        self.progress(f"      {self._name}: {elapsed:.1f} s")
        log.info("stage '%s' took %.2f s", self._name, elapsed)


def _resolve_names(wanted: Mapping[str, Any], masks: Mapping[str, Volume], what: str) -> dict[str, Any]:
    """Map configuration structure names onto the case's names (synonyms); an unknown name is an error."""
    out = {}
    for name, value in wanted.items():
        try:
            out[find_structure(masks, name)] = value
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None
    return out


def _renamed(masks: dict[str, Volume], rename: Mapping[str, str], where: str, strict: bool) -> dict[str, Volume]:
    """Apply ``[structures.rename]`` (case name -> settings name); ``strict``: every name must be in the case."""
    unknown = sorted(set(rename) - set(masks))
    if strict and unknown:
        raise InputError(f"[structures.rename]: {where} has no structure named {unknown}; it has {sorted(masks)}")
    out = {rename.get(name, name): mask for name, mask in masks.items()}
    if len(out) != len(masks):
        raise InputError(f"[structures.rename] in {where} gives two structures the same name: {dict(rename)}")
    return out


def _voxel_limits(config: RunConfig, masks: Mapping[str, Volume], interval: float | None) -> dict[str, float]:
    """Cumulative EQD2 limits that hold in every voxel of their structure (max-type metrics)."""
    limits: dict[str, float] = {}
    for constraint in config.constraints.constraints if config.constraints else ():
        if constraint.scope != "cumulative" or constraint.quantity != "eqd2" or constraint.metric.lower() not in VOXEL_METRICS:
            continue
        try:
            name = find_structure(masks, constraint.structure)
        except InputError:
            continue
        limits[name] = min(limits.get(name, math.inf), constraint.limit_for(interval))
    return limits


def _finite_or_zero(volume: Volume, course: str, masks: Mapping[str, Volume], notes: list[str]) -> Volume:
    """Replace NaN (voxels mapping outside the prior dose grid) by 0 Gy, saying so in the log and summary."""
    outside = np.isnan(volume.array)
    count = int(outside.sum())
    if count:
        touched = [name for name, m in masks.items() if np.any(outside & (np.asarray(m.array, float) >= 0.5))]
        note = (f"course '{course}': {count} reference voxels map outside its dose grid and count as 0 Gy"
                + (f" (inside {', '.join(touched)})" if touched else ""))  # fmt: skip
        log.warning(note)
        notes.append(note)
    return volume.with_array(np.where(outside, 0.0, volume.array))


def run(
    config: RunConfig | str | Path,
    *,
    output_dir: str | Path | None = None,
    backend: str | None = None,
    progress: Callable[[str], None] = print,
) -> RunResult:
    """Run the whole re-irradiation accumulation described by ``config`` (a RunConfig or a TOML path).

    Outputs (in ``output_dir``, default the configuration's ``[output] dir``), all written atomically:
    ``cumulative_eqd2.dcm``, ``cumulative_physical.dcm``, ``warped_<course>.dcm``,
    ``remaining_dose.dcm``, ``field_<course>.mha``, ``dvh.csv``, ``summary.json``, ``report.html``
    and ``accumulate.log``.
    """
    config = config if isinstance(config, RunConfig) else load_config(config)
    out = Path(output_dir).resolve() if output_dir is not None else config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "accumulate.log", mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        return _run(config, out, resolve(backend or config.backend), progress)
    finally:
        log.removeHandler(handler)
        handler.close()


def _run(config: RunConfig, out: Path, backend: str, progress: Callable[[str], None]) -> RunResult:
    stages, notes = _Stages(progress), []
    log.info("configuration %s, backend %s", config.source, backend)

    stages.start("read courses")
    courses = [load_course(c) for c in config.courses]
    reference = courses[config.reference_index]
    priors = [c for c in courses if c is not reference]
    intervals = intervals_months(config, courses)
    stages.done()

    stages.start("structures and parameter maps")
    grid = reference.dose.grid
    if reference.structures_path is None:
        raise InputError(
            f"the reference course '{reference.name}' has no RTSTRUCT: structures are needed for the parameter maps and DVHs"
        )
    masks = _renamed(read_structures(reference.structures_path, grid), config.structure_rename,
                     str(reference.structures_path), strict=True)  # fmt: skip
    ab_values = _resolve_names(config.alpha_beta, masks, "[radiobiology.alpha_beta]")
    priority = config.alpha_beta_priority
    if not isinstance(priority, str):
        priority = list(_resolve_names(dict.fromkeys(priority), masks, "[radiobiology].alpha_beta_priority"))
    alpha_beta = alpha_beta_map(grid, masks, ab_values, default=config.alpha_beta_default, priority=priority)
    recovery = _resolve_names(config.recovery, masks, "[recovery]")
    latest_interval = min(intervals.values())
    limits = limit_map(grid, masks, _voxel_limits(config, masks, latest_interval))
    stages.done()

    stages.start("displacement fields")
    fields: dict[str, DisplacementField] = {}
    registration: dict[str, Any] = {}
    ct_masks: dict[str, Mapping[str, Volume]] = {}

    def masks_on_ct(course: LoadedCourse) -> Mapping[str, Volume]:
        if course.name not in ct_masks:
            found = read_structures(course.structures_path, course.ct.grid)
            ct_masks[course.name] = _renamed(found, config.structure_rename, str(course.structures_path), strict=False)
        return ct_masks[course.name]

    for prior in priors:
        fields[prior.name], how = field_for(prior, reference, config.registration, out / "registration" / prior.name, progress)
        registration[prior.name] = {"field": how, **quality(fields[prior.name], reference, prior, masks_on_ct)}
    stages.done()

    stages.start("warp prior doses")
    warped: dict[str, Volume] = {}
    for prior in priors:
        density = density_from_ct(prior.ct) if config.warp_method == "mass" and prior.ct is not None else None
        result = warp_dose(prior.dose, fields[prior.name], method=config.warp_method, moving_density=density,
                           target_grid=grid, subsamples=config.subsamples, backend=backend)  # fmt: skip
        if result.unit_density:
            notes.append(f"course '{prior.name}': no CT, mass-consistent warping assumed unit density")
        warped[prior.name] = _finite_or_zero(result.dose, prior.name, masks, notes)
    stages.done()

    stages.start("EQD2, recovery and remaining dose")
    x = config.reference_dose_per_fraction
    prior_doses = [
        CourseDose(
            p.name, warped[p.name], p.fractions, rbe=p.config.rbe, residual=residual_map(grid, masks, recovery, intervals[p.name])
        )
        for p in priors
    ]
    budget = cumulative_eqd2(
        prior_doses, alpha_beta, ref_dose=x, limit=limits, new_fractions=reference.fractions, backend=backend
    )
    current_eqd2 = eqd2(reference.dose, reference.fractions, alpha_beta, ref_dose=x, rbe=reference.config.rbe, backend=backend)
    rbe_unit = "Gy(RBE)" in (budget.cumulative.unit, current_eqd2.unit)
    total = budget.cumulative.with_array(budget.cumulative.array + current_eqd2.array, unit="Gy(RBE)" if rbe_unit else "Gy")
    physical = reference.dose.with_array(reference.dose.array + sum(w.array for w in warped.values()), quantity="dose")
    stages.done()

    stages.start("DVHs and constraints")
    volumes = {
        ("cumulative", "eqd2"): total,
        ("cumulative", "physical"): physical,
        ("new_course", "eqd2"): current_eqd2,
        ("new_course", "physical"): reference.dose,
        ("prior_residual", "eqd2"): budget.cumulative,
    }
    dvhs: dict[tuple[str, str], dict[str, DVH]] = {
        key: {name: dvh(volume, mask, name) for name, mask in masks.items() if np.any(np.asarray(mask.array, float) > 0)}
        for key, volume in volumes.items()
    }
    verdicts = (
        evaluate(config.constraints, dvhs, lambda n: _find_or_none(masks, n), latest_interval) if config.constraints else []
    )
    stages.done()

    stages.start("write outputs")
    result = RunResult(config, out, total, physical, budget.remaining, warped, verdicts, {})
    write_outputs(
        result, courses, reference, fields, dvhs, masks, registration, intervals, recovery, ab_values, notes, stages.seconds
    )
    stages.done()
    result.summary["stages_s"] = stages.seconds
    return result


def _find_or_none(masks: Mapping[str, Volume], name: str) -> str | None:
    try:
        return find_structure(masks, name)
    except InputError:
        return None
