"""Stage 7: the run's files, each written atomically (temporary name, then rename).

DICOM (see ``_dicom_outputs`` for what each says it is): cumulative_eqd2.dcm (EFFECTIVE),
cumulative_physical.dcm, warped_<course>.dcm and remaining_dose.dcm, on the reference dose grid
in the reference frame of reference; field_<course>.dcm (deformable REG) beside
field_<course>.mha; remaining_dose_nolimit.mha and remaining_dose_regions.dcm (RTSTRUCT); uncertainty_<eqdx>.mha
(the DIR uncertainty band's width, see ``_uncertainty``).
Tables: dvh.csv and summary.json. A page: report.html.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..evaluation import DVH, Verdict
from ..geometry import Volume
from ..io._atomic import write_json_atomic, write_text_atomic
from ..report import Figure, axial_slice_rgb, dvh_svg, write_report
from ._dicom_outputs import remaining_dose_cap, write_dicom_outputs
from ._uncertainty import add_uncertainty, write_uncertainty

if TYPE_CHECKING:
    from ._run import RunResult

SUMMARY_METRICS = ("Dmax", "D0.03cc", "Dmean")


def _write_dvh_csv(path: Path, dvhs: Mapping[tuple[str, str], Mapping[str, DVH]], keys: Sequence[tuple[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["scope", "quantity", "structure", "dose_gy", "volume_cc", "volume_percent"])
    for scope, quantity in keys:
        for name, h in dvhs[(scope, quantity)].items():
            bins, volume = h.cumulative_curve(0.1)
            for d, v in zip(bins, volume, strict=True):
                writer.writerow([scope, quantity, name, f"{d:.2f}", f"{v:.5f}", f"{100 * v / h.total_cc:.3f}"])
    write_text_atomic(path, buffer.getvalue())


def _verdict_row(v: Verdict) -> dict[str, Any]:
    c = v.constraint
    return {
        "id": c.full_id, "structure": c.structure, "found_as": v.structure_found, "metric": c.metric, "region": c.region,
        "scope": c.scope, "quantity": c.quantity, "alpha_beta": c.alpha_beta, "kind": c.kind, "value": v.value,
        "limit": v.limit, "published": c.published or None,
        "tiers": [t.describe() for t in c.tiers] if len(c.tiers) > 1 else None,
        "margin": v.margin, "verdict": v.verdict, "state": v.state, "tier": v.tier or None, "reason": v.reason,
        "interval_months": None if v.interval_months is None else round(v.interval_months, 2),
        "assumes_recovery": c.assumes_recovery, "constraint": c.describe(), "source": c.source, "note": "; ".join(
            n for n in (c.note, v.note) if n),
    }  # fmt: skip


def _structure_rows(dvhs: Mapping[tuple[str, str], Mapping[str, DVH]], keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    rows = []
    first = dvhs[keys[0]]
    for name in first:
        row: dict[str, Any] = {"structure": name, "volume_cc": round(first[name].total_cc, 3)}
        for scope, quantity in keys:
            for metric in SUMMARY_METRICS:
                row[f"{scope} {quantity} {metric}"] = round(dvhs[(scope, quantity)][name].metric(metric), 3)
        rows.append(row)
    return rows


def _checks_summary(prepared) -> dict[str, Any]:
    checks = prepared.checks
    return {
        "findings": [f.as_dict() for f in checks.findings],
        "structure_matches": {name: {"found": m.found, "how": m.how, "candidates": list(m.candidates)}
                              for name, m in checks.matches.items()},
        "overlaps": [o.as_dict() for o in checks.overlaps] or "none",
        "empty_on_dose_grid": checks.empty or "none",
        "registration_plan": dict(checks.registration),
    }  # fmt: skip


def _figures(result: RunResult, masks: Mapping[str, Volume], dvhs) -> list[Figure]:
    cumulative = result.cumulative_eqd2
    label = result.evaluation.quantity.upper()
    z = int(np.unravel_index(np.nanargmax(cumulative.array), cumulative.grid.shape)[0])
    remaining = result.remaining_dose.with_array(np.nan_to_num(result.remaining_dose.array, nan=0.0))
    top = float(np.nanmax(cumulative.array))
    return [
        Figure(
            f"cumulative {label} DVH",
            svg=dvh_svg(dvhs[("cumulative", result.evaluation.quantity)], title=f"Cumulative {label} (Gy)"),
        ),  # fmt: skip
        Figure(f"cumulative {label}, slice {z} (0-{top:.0f} Gy)", rgb=axial_slice_rgb(cumulative, masks, z, max_gy=top)),
        Figure(f"remaining dose, slice {z} (limited structures)", rgb=axial_slice_rgb(remaining, masks, z)),
    ]


def write_outputs(result: RunResult, stage_seconds: Mapping[str, float]) -> None:
    """Write every output of a run (its ``prepared`` case and ``evaluation``) into ``result.output_dir``.

    Fills ``result.files`` and ``result.summary``.
    """
    out, config, files = result.output_dir, result.config, result.files
    prepared, dvhs, keys = result.prepared, result.evaluation.dvhs, result.evaluation.reported
    quantity = result.evaluation.quantity
    courses, reference, masks = prepared.courses, prepared.reference, prepared.masks
    registration, intervals, notes = prepared.registration, prepared.intervals, prepared.notes
    recovery, alpha_beta = prepared.maps.recovery, prepared.maps.alpha_beta_values
    x = config.reference_dose_per_fraction

    files.update(write_dicom_outputs(result))
    files.update(write_uncertainty(result.uncertainty, out, quantity))
    _write_dvh_csv(out / "dvh.csv", dvhs, keys)
    files["dvh"] = out / "dvh.csv"

    summary = {
        "title": f"Re-irradiation dose accumulation: {config.source.name}",
        "subtitle": f"reference course '{reference.name}'; generated {dt.datetime.now().isoformat(timespec='seconds')}",
        "software": f"accumulate {__version__}",
        "status": result.status.as_dict(),
        "quantity": quantity,
        "constraints": [_verdict_row(v) for v in result.verdicts],
        "constraint_set": config.constraints.name if config.constraints else None,
        "structures": _structure_rows(dvhs, keys),
        "checks": _checks_summary(prepared),
        "registration": dict(registration),
        "assumptions": {
            "alpha_beta_gy": {"default": config.alpha_beta_default, **alpha_beta},
            "alpha_beta_overlap_priority": config.alpha_beta_priority,
            "overlaps": config.overlaps,
            f"reference_dose_per_fraction_gy ({quantity.upper()})": x,
            "dose_per_fraction": "EQDx is computed in every voxel from that voxel's own dose per fraction (its dose / the "
            "course's fractions), never from the prescription's dose per fraction",
            "constraint_quantities": "each constraint is evaluated in the quantity it states (EQD2 in EQD2 whatever the run's "
            "x; its own alpha/beta when it states one); a limit that assumes recovery (assumes_recovery) is compared with the "
            "cumulative dose without the run's recovery discount, so recovery is counted once",
            "recovery": {name: model.describe() for name, model in recovery.items()} or "none",
            "interval_months": {name: round(m, 2) for name, m in intervals.items()},
            "rbe": {c.name: c.config.rbe for c in courses},
            "warp": "direct (trilinear pull of dose)"
            if config.warp_method == "direct"
            else f"mass-consistent, {config.subsamples}^3 sub-samples per voxel",
            "remaining_dose": f"largest additional dose in {reference.fractions:g} fractions under the cumulative limits of "
            f"max-type constraints, capped at {remaining_dose_cap(reference):g} Gy (the larger of the reference course's "
            "prescription and dose maximum): the cap is written where no limit applies (remaining_dose_nolimit.mha = 1)",
            "notes": notes or "none",
        },
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
            for c in courses
        },  # fmt: skip
        "stages_s": dict(stage_seconds),
        "outputs": {key: path.name for key, path in files.items()},
    }
    add_uncertainty(summary, result.uncertainty)
    result.summary = summary
    write_json_atomic(out / "summary.json", summary)
    files["summary"] = out / "summary.json"
    files["report"] = write_report(out / "report.html", summary, _figures(result, masks, dvhs))
