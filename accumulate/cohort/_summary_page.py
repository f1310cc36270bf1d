"""``cohort.html``: one self-contained page on the whole cohort (inline SVG, no scripts).

Sections: the run, the patients (status, run time, warnings, constraints not met, smallest margin,
links to their reports), every patient's warnings naming the patient, the cumulative EQD2 of each
cumulative constraint per patient with its limit, the distribution of constraint margins, the
failures with their errors and, with a sensitivity grid, how many verdicts change across it.
"""

from __future__ import annotations

import datetime as dt
import html
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import write_text_atomic
from ..report import Figure
from ..report.html import STYLE, definitions_html, table_html
from ._plots import NEUTRAL, VERDICT_COLOURS, bars_svg, histogram_svg
from ._sensitivity import NOT_MET
from ._tables import CohortRows

#: At most this many per-constraint charts (the first cumulative constraints met in the table).
MAX_CHARTS = 6
_FAILED = ".failed{background:#f8d0d0}"  # patient rows (the report's style colours verdicts)


def _patients(rows: CohortRows) -> list[dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for row in rows.results:
        entry = table.setdefault(row["patient"], {"patient": row["patient"], "status": row["status"], "run (s)": row["run_s"],
                                                  "structures": 0, "error": row["error"], "output": row["output"]})  # fmt: skip
        entry["structures"] += row.get("structure") is not None
    for entry in table.values():
        entry["warnings"] = len((rows.statuses.get(entry["patient"]) or {}).get("warnings") or ())
    for row in rows.constraints:
        entry = table[row["patient"]]
        if row["value"] is not None:
            entry["not met"] = entry.get("not met", 0) + (row["verdict"] in NOT_MET)
            entry["min margin"] = min(entry.get("min margin", row["margin"]), row["margin"])
    return list(table.values())


def _warnings(rows: CohortRows) -> list[dict[str, str]]:
    """One row per warning of every patient's run (status.json ``warnings``), naming the patient."""
    return [{"patient": patient, "warning": warning} for patient, status in rows.statuses.items()
            for warning in (status or {}).get("warnings") or ()]  # fmt: skip


def _constraint_charts(constraints: Sequence[Mapping[str, Any]]) -> list[Figure]:
    """One bar chart per cumulative constraint: the value per patient, coloured by verdict, the limit marked."""
    by_constraint: dict[str, list[Mapping[str, Any]]] = {}
    for row in constraints:
        if row["scope"] == "cumulative" and row["value"] is not None:
            by_constraint.setdefault(row["constraint"], []).append(row)
    figures = []
    for constraint, found in list(by_constraint.items())[:MAX_CHARTS]:
        first = found[0]
        unit = "Gy" if first["metric"].upper().startswith("D") else "cc or %"
        svg = bars_svg([r["patient"] for r in found], [max(r["value"], 0.0) for r in found],
                       title=f"{first['structure']} {first['metric']}", y_label=f"{first['quantity']} {first['metric']} ({unit})",
                       colours=[VERDICT_COLOURS.get(r["verdict"], NEUTRAL) for r in found],
                       marks=[r["limit"] for r in found])  # fmt: skip
        figures.append(Figure(f"{constraint}: value per patient (bars), limit (black marks)", svg=svg))
    return figures


def _margins(constraints: Sequence[Mapping[str, Any]]) -> tuple[list[Figure], list[dict[str, Any]]]:
    """The histogram of dose-metric margins (Gy) and a table per constraint."""
    evaluated = [r for r in constraints if r["value"] is not None]
    dose_margins = [r["margin"] for r in evaluated if r["metric"].upper().startswith("D")]
    svg = histogram_svg(dose_margins, title="Constraint margins", x_label="margin (Gy)") if dose_margins else None
    figures = [Figure("limit - value for every dose constraint of every patient (red: not met)", svg=svg)] if svg else []
    per: dict[str, list[Mapping[str, Any]]] = {}
    for row in evaluated:
        per.setdefault(row["constraint"], []).append(row)
    table = [
        {"constraint": name, "patients": len(found), "not met": sum(r["verdict"] in NOT_MET for r in found),
         "min margin": min(r["margin"] for r in found), "median margin": statistics.median(r["margin"] for r in found)}
        for name, found in per.items()
    ]  # fmt: skip
    return figures, table


def _sensitivity(summary: Mapping[str, Any]) -> list[str]:
    points = summary["points"]
    parts = [
        "<h2>Sensitivity to alpha/beta and recovery</h2>",
        f"<p>{summary['changed']} of {summary['pairs']} (patient, constraint) verdicts change across the {len(points)} grid "
        "points. Each point re-evaluated EQD2, recovery, DVHs and verdicts on the registered and warped doses "
        f"(median {statistics.median(p['evaluate_s'] for p in points):.2f} s per point and patient).</p>"
        if points
        else "<p>No constraint was evaluated over the grid.</p>",
    ]
    if points:
        svg = bars_svg([str(p["point"]) for p in points], [p["not met"] for p in points],
                       title="Not met per grid point", y_label="constraints (all patients)")  # fmt: skip
        parts += [
            table_html(summary["constraints"], ("constraint", "patients", "verdict changes")),
            Figure("constraints not met, per grid point (numbers as in the table below)", svg=svg).markup(),
            table_html(points, ("point", "grid point", "not met", "evaluate_s")),
        ]
    return parts


def render_page(title: str, rows: CohortRows, run: Mapping[str, Any], sensitivity: Mapping[str, Any] | None) -> str:
    """The HTML text of the cohort page."""
    patients = _patients(rows)
    failed = [p for p in patients if p["status"] != "done"]
    banner_class = "fail" if failed else "pass"
    margin_figures, margin_table = _margins(rows.constraints)
    warnings = _warnings(rows)
    links = " &middot; ".join(
        f'<a href="{html.escape(p["output"])}/report.html">{html.escape(p["patient"])}</a>'
        for p in patients
        if p["status"] == "done"
    )
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        f"<style>{STYLE}{_FAILED}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="small">generated {dt.datetime.now().isoformat(timespec="seconds")}; results.parquet / results.csv '
        "(patient x structure), constraints.* (patient x constraint) beside this page</p>",
        f'<span class="banner {banner_class}">{len(patients) - len(failed)} of {len(patients)} patients done, '
        f"{len(failed)} failed</span>",
        "<h2>Run</h2>",
        definitions_html(run),
        "<h2>Patients</h2>",
        table_html(
            patients, ("patient", "status", "run (s)", "structures", "warnings", "not met", "min margin", "error"), "status"
        ),  # fmt: skip
        f'<p class="small">Reports: {links or "none"}</p>',
        "<h2>Warnings</h2>",
        table_html(warnings, ("patient", "warning")) if warnings else "<p>No patient's run gave a warning.</p>",
        "<h2>Cumulative dose against the limits</h2>",
        "".join(f.markup() for f in _constraint_charts(rows.constraints)) or "<p>No cumulative constraint was evaluated.</p>",
        "<h2>Constraint margins</h2>",
        "".join(f.markup() for f in margin_figures),
        table_html(margin_table, ("constraint", "patients", "not met", "min margin", "median margin"))
        if margin_table
        else "<p>No constraint was evaluated.</p>",
    ]
    if failed:
        parts += ["<h2>Failures</h2>", table_html(failed, ("patient", "status", "error"), "status")]
    if sensitivity is not None:
        parts += _sensitivity(sensitivity)
    parts.append(f'<p class="small">accumulate {__version__}</p></body></html>')
    return "\n".join(parts)


def write_page(path: Path, title: str, rows: CohortRows, run: Mapping[str, Any], sensitivity: Mapping[str, Any] | None) -> Path:
    """Write the cohort page atomically; returns the path."""
    return write_text_atomic(path, render_page(title, rows, run, sensitivity))
