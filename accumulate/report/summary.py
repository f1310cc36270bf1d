"""summary.json: the run's results as data (the schema the report, the cohort tables and the service read).

Keys: ``title``, ``subtitle``, ``software``, ``configuration_sha256`` (:func:`configuration_hash`),
``identification`` (patient and per-course plan, prescription, fractions and dates with where
each came from: :func:`identification`), ``status`` (banner state, reasons, warnings, overrides),
``warnings`` (every warning of the run, each naming its course or structure), ``quantity``,
``constraints`` (one row per verdict), ``structures`` (per structure: volume, the DVH method and
sampling resolution, and :data:`SUMMARY_METRICS` of every reported (scope, quantity)),
``checks``, ``registration``, ``assumptions``, ``inputs``, ``stages_s``, ``outputs``, ``pdf``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..evaluation import Verdict

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..pipeline import RunResult, Uncertainty

#: The DVH metrics of every structure in summary.json and the cohort tables (Gy, in each row's quantity).
SUMMARY_METRICS = ("Dmax", "D0.03cc", "Dmean")
#: RunConfig fields that say where the run was, not what it computed: left out of the configuration hash.
_NOT_SETTINGS = ("source", "output_dir", "findings", "backend")


def configuration_hash(config: RunConfig) -> str:
    """SHA-256 (hex) of the effective settings: every RunConfig field that can change a result, as canonical JSON.

    The configuration file's location, the output folder, the backend and the plausibility
    findings are left out (two runs of the same settings on the same inputs hash the same
    wherever they run); the courses' file paths are in.
    """
    settings = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in _NOT_SETTINGS}
    text = json.dumps(_plain(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """JSON-able form of settings: dataclasses as their fields, mappings sorted, paths and dates as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__, **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def identification(result: RunResult) -> dict[str, Any]:
    """Patient (name, ID, birth date) and, per course, plan label, prescription, fractions and date with their sources,
    as read from the DICOM the run used (the reference course's RTPLAN, else RTDOSE, else CT for the patient)."""
    prepared = result.prepared
    reference = prepared.reference
    patient: dict[str, str] = {}
    for modality in ("RTPLAN", "RTDOSE", "CT", "RTSTRUCT"):
        ident = reference.identities.get(modality)
        if ident is not None and ident.patient_id:
            patient = {"name": ident.patient_name, "id": ident.patient_id, "birth_date": ident.birth_date,
                       "from": ident.label()}  # fmt: skip
            break
    courses = []
    for c in prepared.courses:
        plan = c.plan
        unit = "Gy(RBE)" if plan is not None and plan.rbe_weighted else "Gy"
        courses.append({
            "course": c.name,
            "reference": c is reference,
            "plan_label": plan.label if plan is not None else None,
            "plan_file": c.plan_path.name if c.plan_path is not None else None,
            "radiation": plan.radiation_type if plan is not None else None,
            "prescription": f"{plan.prescription_gy:g} {unit}" if plan is not None and plan.prescription_gy else None,
            "fractions": c.fractions,
            "fractions_from": c.fractions_from,
            "date": c.date.isoformat() if c.date else None,
            "date_from": c.date_from,
            "interval_months": round(prepared.intervals[c.name], 2) if c.name in prepared.intervals else None,
            "patient_id": next((i.patient_id for i in c.identities.values() if i.patient_id), None),
            "dose_file": c.dose_path.name,
        })  # fmt: skip
    return {"patient": patient or {"name": "", "id": "", "birth_date": "", "from": "no DICOM identity"}, "courses": courses}


def run_warnings(result: RunResult) -> list[str]:
    """Every warning of the run, each naming its course or structure: the status's warnings (input checks, notes such
    as voxels mapping outside a prior dose grid) and what structure sampling noticed."""
    out = list(result.status.warnings)
    for name, samples in result.prepared.samples.items():
        out += [f"structure '{name}': {note}" for note in samples.notes]
    return out


def verdict_row(v: Verdict, rbe: bool = False) -> dict[str, Any]:
    """One constraint's verdict as a summary row; ``unit`` of its value and limit: cc or % (volume metrics), else Gy
    or Gy(RBE) (``rbe``: a course of the run is RBE-weighted), with the EQDx named."""
    c = v.constraint
    if c.metric.upper().startswith("V"):
        unit = "%" if c.metric.endswith("%") or c.metric.lower().endswith("%rx") else "cc"
    else:
        unit = ("Gy(RBE)" if rbe else "Gy") + ("" if c.quantity == "physical" else f" {c.quantity.upper()}")
    return {"unit": unit,
        "id": c.full_id, "structure": c.structure, "found_as": v.structure_found, "metric": c.metric, "region": c.region,
        "scope": c.scope, "quantity": c.quantity, "alpha_beta": c.alpha_beta, "kind": c.kind, "value": v.value,
        "limit": v.limit, "published": c.published or None,
        "tiers": [t.describe() for t in c.tiers] if len(c.tiers) > 1 else None,
        "margin": v.margin, "verdict": v.verdict, "state": v.state, "tier": v.tier or None, "reason": v.reason,
        "interval_months": None if v.interval_months is None else round(v.interval_months, 2),
        "assumes_recovery": c.assumes_recovery, "constraint": c.describe(), "source": c.source, "note": "; ".join(
            n for n in (c.note, v.note) if n),
    }  # fmt: skip


def dvh_sampling(result: RunResult, name: str) -> tuple[str, float | None]:
    """(DVH method in words, sampling resolution in mm or None) of one structure: ``[dvh] method`` and its samples."""
    samples = result.prepared.samples.get(name)
    if samples is not None:
        return f"structure: {samples.method}", round(float(min(samples.spacing_mm[:2])), 4)
    doses = result.evaluation.dvhs.structures.get(name)
    grid = result.prepared.reference.dose.grid
    return (doses.method if doses is not None else "grid"), round(float(min(grid.spacing_mm)), 4)


def structure_rows(result: RunResult, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Per structure on the dose grid: volume (cc), the DVH method and resolution (mm), SUMMARY_METRICS per key (Gy)."""
    dvhs = result.evaluation.dvhs
    rows = []
    for name in dvhs.structures:
        method, resolution = dvh_sampling(result, name)
        row: dict[str, Any] = {"structure": name, "volume_cc": round(dvhs.dvh(name, *keys[0]).total_cc, 3),
                               "dvh_method": method, "resolution_mm": resolution}  # fmt: skip
        for scope, quantity in keys:
            for metric in SUMMARY_METRICS:
                row[f"{scope} {quantity} {metric}"] = round(dvhs.dvh(name, scope, quantity).metric(metric), 3)
        rows.append(row)
    return rows


def _checks(prepared) -> dict[str, Any]:
    checks = prepared.checks
    return {
        "findings": [f.as_dict() for f in checks.findings],
        "structure_matches": {name: {"found": m.found, "how": m.how, "candidates": list(m.candidates)}
                              for name, m in checks.matches.items()},
        "overlaps": [o.as_dict() for o in checks.overlaps] or "none",
        "empty_on_dose_grid": checks.empty or "none",
        "registration_plan": dict(checks.registration),
    }  # fmt: skip


def _assumptions(result: RunResult, cap_gy: float) -> dict[str, Any]:
    config, prepared, quantity = result.config, result.prepared, result.evaluation.quantity
    reference = prepared.reference
    return {
        "alpha_beta_gy": {"default": config.alpha_beta_default, **prepared.maps.alpha_beta_values},
        "alpha_beta_overlap_priority": config.alpha_beta_priority,
        "overlaps": config.overlaps,
        f"reference_dose_per_fraction_gy ({quantity.upper()})": config.reference_dose_per_fraction,
        "dose_per_fraction": "EQDx is computed in every voxel from that voxel's own dose per fraction (its dose / the "
        "course's fractions), never from the prescription's dose per fraction",
        "constraint_quantities": "each constraint is evaluated in the quantity it states (EQD2 in EQD2 whatever the run's "
        "x; its own alpha/beta when it states one); a limit that assumes recovery (assumes_recovery) is compared with the "
        "cumulative dose without the run's recovery discount, so recovery is counted once",
        "recovery": {name: model.describe() for name, model in prepared.maps.recovery.items()} or "none",
        "interval_months": {name: round(m, 2) for name, m in prepared.intervals.items()},
        "rbe": {c.name: c.config.rbe for c in prepared.courses},
        "warp": "direct (trilinear pull of dose)"
        if config.warp_method == "direct"
        else f"mass-consistent, {config.subsamples}^3 sub-samples per voxel",
        "dvh": f"[dvh] method = {config.dvh_method}"
        + (f", resolution {config.dvh_resolution_mm:g} mm" if config.dvh_resolution_mm else ", resolution per structure"),
        "remaining_dose": f"largest additional dose in {reference.fractions:g} fractions under the cumulative limits of "
        f"max-type constraints, capped at {cap_gy:g} Gy (the larger of the reference course's prescription and dose "
        "maximum): the cap is written where no limit applies (remaining_dose_nolimit.mha = 1)",
        "notes": prepared.notes or "none",
    }


def add_uncertainty(summary: dict[str, Any], uncertainty: Uncertainty | None) -> None:
    """Add the robust keys to summary.json's constraint rows (in the verdicts' order) and its ``uncertainty`` section."""
    if uncertainty is None:
        summary["uncertainty"] = {"method": "none"}
        return
    for row, robust in zip(summary["constraints"], uncertainty.rows, strict=True):
        row.update(robust)
    summary["uncertainty"] = uncertainty.summary(summary["quantity"])


def build_summary(result: RunResult, stage_s: Mapping[str, float], cap_gy: float) -> dict[str, Any]:
    """The content of summary.json for a run (``cap_gy``: the remaining dose's no-limit cap, Gy)."""
    config, prepared, evaluation = result.config, result.prepared, result.evaluation
    reference = prepared.reference
    ident = identification(result)
    patient = ident["patient"]
    rbe = any(c.config.rbe != 1.0 or c.dose.unit == "Gy(RBE)" for c in prepared.courses)
    who = f"{patient['name'] or 'unnamed'} ({patient['id']})" if patient.get("id") else "patient not identified"
    summary = {
        "title": f"Re-irradiation dose accumulation: {who}",
        "subtitle": f"reference course '{reference.name}'; configuration {config.source.name}; generated "
        f"{dt.datetime.now().isoformat(timespec='seconds')}",
        "software": f"accumulate {__version__}",
        "configuration_sha256": configuration_hash(config),
        "identification": ident,
        "status": result.status.as_dict(),
        "warnings": run_warnings(result),
        "quantity": evaluation.quantity,
        "constraints": [verdict_row(v, rbe) for v in result.verdicts],
        "constraint_set": config.constraints.name if config.constraints else None,
        "structures": structure_rows(result, evaluation.reported),
        "checks": _checks(prepared),
        "registration": dict(prepared.registration),
        "assumptions": _assumptions(result, cap_gy),
        "inputs": {
            c.name: {
                "dose": str(c.dose_path),
                "plan_uid": c.plan.sop_instance_uid if c.plan else None,
                "fractions": c.fractions,
                "fractions_from": c.fractions_from,
                "plan_fractions": c.plan_fractions,
                "date": c.date.isoformat() if c.date else None,
                "date_from": c.date_from,
                "reference": c is reference,
            }
            for c in prepared.courses
        },
        "stages_s": dict(stage_s),
        "outputs": {key: path.name for key, path in result.files.items()},
    }
    add_uncertainty(summary, result.uncertainty)
    return summary
