"""dvh.csv and the report's table per structure (units in every header; each prior course in its own columns).

dvh.csv: ``scope, quantity, structure, dose_gy, volume_cc, volume_percent``, a row per 0.1 Gy of
each cumulative DVH, for the run's reported (scope, quantity) pairs and then for every course
(``course:<name>``: before recovery) and every prior course after recovery
(``residual:<name>``). Doses are Gy (Gy(RBE) for RBE-weighted courses; EQDx where the quantity says).
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..atomic import write_text_atomic
from ..evaluation import volume_metric_unit
from .quantities import Quantity
from .review import EVALUATED, view_matches
from .summary import SUMMARY_METRICS, dvh_sampling

if TYPE_CHECKING:
    from ..pipeline import RunResult

CSV_BIN_GY = 0.1


def dvh_keys(result: RunResult, quantities: Sequence[Quantity]) -> list[tuple[str, str]]:
    """The (scope, quantity) pairs of dvh.csv: the run's reported ones, then each course's and each prior's residual."""
    keys = list(result.evaluation.reported)
    keys += [(q.scope, q.quantity) for q in quantities if q.scope is not None and (q.scope, q.quantity) not in keys]
    return keys


def write_dvh_csv(path: Path, result: RunResult, keys: Sequence[tuple[str, str]]) -> Path:
    """Write dvh.csv (module docstring) atomically; returns the path."""
    table = result.evaluation.dvhs
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["scope", "quantity", "structure", "dose_gy", "volume_cc", "volume_percent"])
    for scope, quantity in keys:
        for name in table.structures:
            h = table.dvh(name, scope, quantity)
            bins, volume = h.cumulative_curve(CSV_BIN_GY)
            for d, v in zip(bins, volume, strict=True):
                writer.writerow([scope, quantity, name, f"{d:.2f}", f"{v:.5f}", f"{100 * v / h.total_cc:.3f}"])
    return write_text_atomic(path, buffer.getvalue())


def _recovered(result: RunResult, structure: str, course: str) -> float | None:
    """The recovered fraction applied to ``course`` in ``structure``: 1 - residual, volume-weighted over its points."""
    doses = result.evaluation.dvhs.structures[structure]
    part = next((p for p in doses.parts if p.name == course), None)
    if part is None or doses.volumes_cc.sum() <= 0:
        return None
    return float(1.0 - np.dot(part.residual, doses.volumes_cc) / doses.volumes_cc.sum())


def _header(result: RunResult, q: Quantity, structure: str) -> str:
    if q.course is not None and q.kind == "residual":
        months = result.prepared.intervals[q.course]
        recovered = _recovered(result, structure, q.course)
        shown = "-" if recovered is None else f"{abs(round(100 * recovered)):.0f} %"
        extra = f"<br><span class='small'>interval {months:.1f} months; recovered {shown}</span>"
    elif q.course is not None and q.course != result.prepared.reference.name:
        extra = f"<br><span class='small'>interval {result.prepared.intervals[q.course]:.1f} months; before recovery</span>"
    else:
        extra = ""
    return f'<th title="{html.escape(q.label)}">{html.escape(q.short)} [{html.escape(q.unit_label)}]{extra}</th>'


def structure_table(result: RunResult, structure: str, quantities: Sequence[Quantity]) -> str:
    """The HTML table of one structure: a row per metric (SUMMARY_METRICS and its constraints' metrics), a column per
    quantity (header: the quantity, its unit, and for a prior course its interval and the recovered fraction applied)."""
    table, reference = result.evaluation.dvhs, result.prepared.reference
    columns = [q for q in quantities if q.scope is not None]
    verdicts = [v for v in result.verdicts if v.structure_found == structure and v.state in EVALUATED]
    metrics = list(SUMMARY_METRICS) + [v.constraint.metric for v in verdicts if v.constraint.region == "whole"]
    metrics = list(dict.fromkeys(metrics))
    rx = reference.plan.prescription_gy if reference.plan is not None else None
    rows = []
    for metric in metrics:
        unit = volume_metric_unit(metric)
        cells = []
        for q in columns:
            value = table.dvh(structure, q.scope, q.quantity).metric(metric, prescription_gy=rx)
            limit = next((v.limit for v in verdicts if v.constraint.metric == metric and view_matches(v, q, reference.name)),
                         None)  # fmt: skip
            css = " limit" if limit is not None else ""
            shown = f"{value:.2f}" + (f" <span class='small'>(limit {limit:g})</span>" if limit is not None else "")
            cells.append(f'<td class="num{css}">{shown}</td>')
        label = f"{metric} [{unit}]" if unit else metric
        rows.append(f"<tr><th>{html.escape(label)}</th>{''.join(cells)}</tr>")
    method, resolution = dvh_sampling(result, structure)
    volume = table.dvh(structure, *result.evaluation.reported[0]).total_cc
    head = "".join(_header(result, q, structure) for q in columns)
    caption = (f"{html.escape(structure)}: {volume:.2f} cc; DVH method {html.escape(method)}; sampling resolution "
               f"{'-' if resolution is None else f'{resolution:g} mm'}")  # fmt: skip
    return (f'<table class="structure" data-structure="{html.escape(structure)}"><caption>{caption}</caption>'
            f"<thead><tr><th>metric</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")  # fmt: skip
