"""DVH figures (matplotlib SVG, inline): one per structure, a line per quantity, in cc and in %, with the limits drawn.

Each line is an SVG group whose id is ``dvh--<quantity key>--<figure>``, so that the page's
toggles can hide and show a quantity; every figure exists twice (volume in cc, in %), one shown.
Limits of the constraints on the structure: a dose limit (D-metric) as a vertical dashed marker
at the limit, drawn at the metric's volume where it has one (D0.03cc: a point at 0.03 cc); a
volume limit (V-metric) as a point at (threshold dose, volume limit). Dose ticks are round
(1, 2, 2.5, 5 x 10^n Gy).
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from ..evaluation.dvh import METRIC_PATTERN
from .quantities import Quantity
from .review import EVALUATED, view_matches

if TYPE_CHECKING:
    from ..pipeline import RunResult

BIN_GY = 0.25
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
#: SVG settings: stable ids (the same run gives the same page), text kept as text (searchable, printable).
SVG_SETTINGS = {"svg.hashsalt": "accumulate-report", "svg.fonttype": "none"}


def _limit_marks(v, total_cc: float, rx_gy: float | None) -> tuple[float, float | None, float | None, str]:
    """(dose Gy, volume cc or None, volume % or None, kind) of a constraint's limit on the DVH plane (``rx_gy``: the
    reference course's prescription, for V<p>%Rx)."""
    _, simple, d_value, d_unit, v_value, v_unit = METRIC_PATTERN.match(v.constraint.metric.strip()).groups()
    if simple:
        return float(v.limit), None, None, "dose"
    if d_value is not None:
        cc = float(d_value) if d_unit.lower() == "cc" else float(d_value) / 100 * total_cc
        return float(v.limit), cc, 100 * cc / total_cc if total_cc else None, "dose"
    if v_unit.lower() == "%rx":
        return float(v_value) / 100 * (rx_gy or 0.0), float(v.limit) / 100 * total_cc, float(v.limit), "volume"
    if v_unit.lower() == "gy%":
        return float(v_value), float(v.limit) / 100 * total_cc, float(v.limit), "volume"
    return float(v_value), float(v.limit), 100 * float(v.limit) / total_cc if total_cc else None, "volume"


def structure_dvh_svgs(result: RunResult, structure: str, quantities: Sequence[Quantity], figure_id: str) -> tuple[str, str]:
    """(SVG in cc, SVG in %) of ``structure``'s DVH in every quantity with a scope, with its constraints' limits."""
    table, reference = result.evaluation.dvhs, result.prepared.reference.name
    plan = result.prepared.reference.plan
    rx = plan.prescription_gy if plan is not None else None
    with_dvh = [q for q in quantities if q.scope is not None]
    curves = [(q, table.dvh(structure, q.scope, q.quantity)) for q in with_dvh]
    total = curves[0][1].total_cc
    verdicts = [v for v in result.verdicts if v.structure_found == structure and v.constraint.scored
                and v.state in EVALUATED]  # fmt: skip
    limit_doses = [_limit_marks(v, total, rx)[0] for v in verdicts]
    top = max([float(h.doses_gy[0]) for _, h in curves] + limit_doses) or 1.0  # every limit on the axis
    out = []
    for unit in ("cc", "%"):
        figure = MplFigure(figsize=(7.0, 3.4), dpi=72)
        ax = figure.subplots()
        for i, (q, h) in enumerate(curves):
            bins, volume = h.cumulative_curve(BIN_GY)
            y = volume if unit == "cc" else 100 * volume / max(h.total_cc, 1e-12)
            style = "--" if q.quantity == "physical" else "-"
            (line,) = ax.plot(bins, y, color=COLOURS[i % len(COLOURS)], linewidth=1.3, linestyle=style,
                              label=f"{q.short} [{q.unit_label}]")  # fmt: skip
            line.set_gid(f"dvh--{q.key}--{figure_id}-{'cc' if unit == 'cc' else 'pct'}")
        for v in verdicts:
            dose, cc, pct, kind = _limit_marks(v, total, rx)
            colour = next((COLOURS[i % len(COLOURS)] for i, (q, _) in enumerate(curves) if view_matches(v, q, reference)),
                          "black")  # fmt: skip
            label = f"limit: {v.constraint.describe()}"
            volume = cc if unit == "cc" else pct
            if kind == "dose":
                ax.axvline(dose, color=colour, linestyle=":", linewidth=1.4)
                if volume is not None:
                    ax.plot([dose], [volume], marker="v", color=colour, markersize=7, linestyle="none")
                ax.annotate(label, (dose, ax.get_ylim()[1] if volume is None else volume), fontsize=6, color=colour,
                            rotation=90, va="top", ha="right")  # fmt: skip
            elif volume is not None:
                ax.plot([dose], [volume], marker="o", color=colour, markersize=7, markerfacecolor="none", linestyle="none")
                ax.annotate(label, (dose, volume), fontsize=6, color=colour, xytext=(4, 4), textcoords="offset points")
        ax.set_xlim(0, top * 1.05)
        ax.set_ylim(0, None)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 2.5, 5, 10]))
        ax.set_xlabel("dose (Gy; Gy(RBE) where stated; EQDx as labelled)", fontsize=8)
        ax.set_ylabel(f"volume ({unit})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_title(f"{structure}: cumulative DVH ({total:.2f} cc)", fontsize=9)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        figure.subplots_adjust(left=0.08, right=0.66, bottom=0.14, top=0.9)
        buffer = io.StringIO()
        with matplotlib.rc_context(SVG_SETTINGS):
            figure.savefig(buffer, format="svg")
        svg = buffer.getvalue()
        out.append(svg[svg.index("<svg") :])
    return out[0], out[1]


def dvh_section(result: RunResult, quantities: Sequence[Quantity], structures: Sequence[str]) -> str:
    """The DVH section: quantity toggles, the cc/% switch, and a figure per structure."""
    with_dvh = [q for q in quantities if q.scope is not None]
    toggles = "".join(f'<label><input type="checkbox" class="dvh-toggle" value="{q.key}" checked> {html.escape(q.short)}'
                      "</label>" for q in with_dvh)  # fmt: skip
    switch = ('<label><input type="radio" name="dvh-unit" value="cc" checked> volume in cc</label>'
              '<label><input type="radio" name="dvh-unit" value="pct"> volume in %</label>')  # fmt: skip
    parts = [
        "<h2>DVHs</h2>",
        '<p class="small">Solid lines EQDx, dashed physical dose. Dotted verticals: dose limits of the constraints on the '
        "structure (a triangle at the metric's volume); circles: volume limits at their dose threshold.</p>",
        f'<div class="chooser dvh-controls">{toggles}</div><div class="chooser dvh-controls">{switch}</div>',
    ]
    for n, name in enumerate(structures):
        cc, pct = structure_dvh_svgs(result, name, quantities, f"s{n}")
        parts.append(f'<figure class="dvh" data-structure="{html.escape(name)}"><div class="dvh-cc">{cc}</div>'
                     f'<div class="dvh-pct hidden">{pct}</div></figure>')  # fmt: skip
    return "\n".join(parts)
