"""The run's report: one self-contained HTML page (inline SVG and PNG, a few lines of inline script; no external files).

The page reads on screen (quantity choosers, slice scroller, DVH toggles) and prints (the print
stylesheet: A4 or Letter, tables wrap and split between rows, no figure split across pages,
only the chosen views printed); report.pdf is this page printed (:mod:`accumulate.report.pdf`).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..evaluation import metric_unit

STYLE = """
body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1180px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f2f2f2} td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass,.desirable,.perprotocol{background:#d9f2d9} .acceptablevariation{background:#fff3c4}
.onesideallowed{background:#e8f0c8} .notapplicable{color:#888} .reported{background:#eef3fb} .warn{background:#fff3c4}
.acceptable{background:#fff3c4} .fail,.exceeded{background:#f8d0d0}
.notevaluated{background:#fde7c2} .absentaccepted{color:#777}
.banner{padding:8px 12px;font-weight:bold;display:inline-block;border-radius:4px} .needsreview{background:#f7b267}
.incomplete{background:#ffcf70} .dosesonly{background:#e4e4e4} .passed{background:#9fdc9f} .notmet{background:#f29c9c}
.panel{border:2px solid #e0a000;background:#fff8e6;padding:6px 12px;margin:10px 0;font-size:13px}
.panel h3{margin:4px 0;font-size:14px} .panel.reasons{border-color:#c04040;background:#fdeeee}
figure{display:inline-block;margin:8px 16px 8px 0;vertical-align:top} figcaption{font-size:12px;color:#555}
.small{font-size:12px;color:#555}
.hidden{display:none!important}
th,td{overflow-wrap:break-word} td td,td th{overflow-wrap:anywhere}
td.c-note,td.c-source,td.c-reason,td.c-constraint{overflow-wrap:anywhere;min-width:6em}
table{max-width:100%} img,svg{max-width:100%;height:auto}
caption{caption-side:top;text-align:left;font-weight:bold;font-size:13px;padding:4px 0}
td.limit{font-weight:bold}
.chooser{font-size:12px;margin:4px 0} .chooser label{margin-right:12px;display:inline-block}
section.point,section.scroller{margin:12px 0;padding-top:4px;border-top:1px dashed #ccc}
.dose-view,.stack,.dvh{display:block;margin:6px 0}
.signoff td{height:28px;min-width:160px} .identification th{width:22%}
.swatch{border-left:14px solid;padding:0 8px 0 4px;margin-right:6px;white-space:nowrap}
.swatch.iso{border-color:#bbb} .swatch.limit{border-left:14px dashed #000}
.panel.pdf{border-color:#c00000;background:#fdeeee}
@page{margin:12mm}
@media (max-width:1000px){
 body{margin:8px} table{font-size:11px} th,td{padding:2px 3px;overflow-wrap:anywhere}
}
@media print{
 body{margin:0;max-width:none;font-size:11px}
 table{font-size:9px;width:100%} th,td{padding:2px 3px;overflow-wrap:break-word}
 td td,td th,td.c-note,td.c-source,td.c-reason{overflow-wrap:anywhere} td.c-note,td.c-source{width:18%}
 thead{display:table-header-group} tr,figure,.panel,.signoff{break-inside:avoid}
 h2,h3{break-after:avoid}
 .chooser,.slider,section.scroller,.screen-only{display:none!important}
 .views figure.dose-view{display:none!important} .views figure.dose-view.printed{display:block!important}
 .dvh-controls{display:none}
}
"""


@dataclass(frozen=True)
class Figure:
    """A picture for a page: ``svg`` markup, or ``png`` bytes."""

    caption: str
    svg: str | None = None
    png: bytes | None = None

    def markup(self) -> str:
        if self.svg is not None:
            body = self.svg
        else:
            data = base64.b64encode(self.png or b"").decode("ascii")
            body = f'<img alt="{html.escape(self.caption)}" src="data:image/png;base64,{data}">'
        return f"<figure>{body}<figcaption>{html.escape(self.caption)}</figcaption></figure>"


#: Column headers with their units (the unit column says which unit a row's value and limit are in).
HEADERS = {"value": "value [unit]", "limit": "limit [unit]", "margin": "margin [unit]", "volume_cc": "volume [cc]",
           "resolution_mm": "resolution [mm]", "interval_months": "interval [months]"}  # fmt: skip


def _cell(value: Any, column: str = "") -> str:
    css = f"c-{column}" if column else ""
    if isinstance(value, float):
        return f'<td class="num {css}">{value:.2f}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num {css}">{value}</td>'
    if value is None:
        return f'<td class="{css}">-</td>'
    return f'<td class="{css}">{html.escape(str(value))}</td>'


def table_html(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], css_column: str | None = None, *,
               headers: Mapping[str, str] | None = None, css: str = "") -> str:  # fmt: skip
    """A table of ``rows`` (mappings) in ``columns``; ``headers`` renames columns (:data:`HEADERS` give units);
    ``css_column``'s value is each row's class; ``css`` the table's class; each cell has the class ``c-<column>``."""
    names = {**HEADERS, **(headers or {})}
    head = "".join(f"<th>{html.escape(names.get(c, c))}</th>" for c in columns)
    body = []
    for row in rows:
        row_css = str(row.get(css_column, "")).replace(" ", "") if css_column else ""
        body.append(f'<tr class="{row_css}">' + "".join(_cell(row.get(c), c) for c in columns) + "</tr>")
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _shown(value: Any) -> str:
    """A nested value as HTML: mappings as definition tables, lists of mappings as tables."""
    if isinstance(value, Mapping):
        return definitions_html(value)
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        columns = list(dict.fromkeys(k for row in value for k in row))
        flat = [{k: ", ".join(f"{a}={_short(b)}" for a, b in v.items()) if isinstance(v, Mapping) else v for k, v in row.items()}
                for row in value]  # fmt: skip
        return table_html(flat, columns, "verdict" if "verdict" in columns else None)
    if isinstance(value, list):
        return "<br>".join(html.escape(str(v)) for v in value) or "-"
    return html.escape(str(value))


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def definitions_html(mapping: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(key))}</th><td>{_shown(value)}</td></tr>" for key, value in mapping.items())
    return f"<table>{rows}</table>"


VERDICT_COLUMNS = ("structure", "metric", "scope", "value", "limit", "margin", "unit", "verdict", "reason", "note", "source")
#: With an [uncertainty] method: the plausible range under the bound and the robust verdict.
ROBUST_COLUMNS = ("value_range", "robust_verdict")
REPORTED_COLUMNS = ("structure", "metric", "kind", "scope", "value", "limit", "unit", "verdict", "note", "source")
SCRIPT = """
document.querySelectorAll('.chooser[data-group]').forEach(function (chooser) {
  chooser.addEventListener('change', function (event) {
    document.querySelectorAll('.views[data-group="' + chooser.dataset.group + '"] > figure').forEach(function (f) {
      f.classList.toggle('hidden', f.dataset.quantity !== event.target.value);
    });
  });
});
document.querySelectorAll('input.slider').forEach(function (slider) {
  slider.addEventListener('input', function () {
    document.querySelectorAll('.views[data-group="' + slider.dataset.group + '"] figure.stack > div').forEach(function (d) {
      d.classList.toggle('hidden', d.dataset.slice !== slider.value);
    });
  });
});
document.querySelectorAll('input.dvh-toggle').forEach(function (box) {
  box.addEventListener('change', function () {
    document.querySelectorAll('[id^="dvh--' + box.value + '--"]').forEach(function (g) {
      g.style.display = box.checked ? '' : 'none';
    });
  });
});
document.querySelectorAll('input[name="dvh-unit"]').forEach(function (radio) {
  radio.addEventListener('change', function () {
    var pct = radio.value === 'pct';
    document.querySelectorAll('.dvh-cc').forEach(function (d) { d.classList.toggle('hidden', pct); });
    document.querySelectorAll('.dvh-pct').forEach(function (d) { d.classList.toggle('hidden', !pct); });
  });
});
"""


def unit_of(row: Mapping[str, Any]) -> str:
    """The unit of a constraint row's value and limit: cc or % for a volume metric, else Gy or Gy EQDx (a summary row's
    own ``unit`` says Gy(RBE) where RBE applies)."""
    return metric_unit(str(row.get("metric", "")), quantity=str(row.get("quantity", "physical")))


def _panel(title: str, lines: Sequence[str], css: str = "") -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(str(line))}</li>" for line in lines)
    return f'<div class="panel {css}"><h3>{html.escape(title)}</h3><ul>{items}</ul></div>'


def _banner(summary: Mapping[str, Any]) -> str:
    """The run's status as a coloured banner; under it the reasons, every warning of the run, a missing PDF, overrides."""
    status = summary.get("status") or {"state": "doses only", "headline": "no status", "reasons": [], "warnings": []}
    css = status["state"].replace(" ", "")
    parts = [f'<span class="banner {css}">{html.escape(status["state"].upper())}: {html.escape(status["headline"])}</span>']
    pdf = summary.get("pdf") or {}
    if pdf.get("wanted") and not pdf.get("written") and pdf.get("reason"):
        parts.append(_panel("report.pdf was NOT written", [pdf.get("reason", "unknown reason")], "pdf"))
    parts.append(_panel("Why", status.get("reasons", []), "reasons"))
    parts.append(_panel("Registration checks (value, threshold)", status.get("registration_checks", [])))
    parts.append(_panel("Warnings", summary.get("warnings", status.get("warnings", [])), "warnings"))
    parts.append(_panel("Accepted overrides ([accept])", status.get("overrides", [])))
    return "\n".join(p for p in parts if p)


def _identification(summary: Mapping[str, Any]) -> str:
    ident = summary.get("identification")
    if not ident:
        return ""
    patient = ident["patient"]
    rows = [("Patient name", patient.get("name")), ("Patient ID", patient.get("id")),
            ("Birth date", _date(patient.get("birth_date"))), ("Identity read from", patient.get("from"))]  # fmt: skip
    head = "".join(f'<tr><th>{html.escape(k)}</th><td class="id-{k.split()[-1].lower()}">{html.escape(str(v or "-"))}</td></tr>'
                   for k, v in rows)  # fmt: skip
    columns = ("course", "plan_label", "radiation", "prescription", "fractions", "fractions_from", "date", "date_from",
               "interval_months")  # fmt: skip
    names = {"plan_label": "plan label", "prescription": "prescription [Gy or Gy(RBE)]", "fractions_from": "fractions from",
             "date": "date", "date_from": "date from", "interval_months": "interval to reference [months]"}  # fmt: skip
    courses = [{**c, "course": f"{c['course']} (reference)" if c.get("reference") else c["course"]} for c in ident["courses"]]
    return (f'<h2>Identification</h2><table class="identification">{head}</table>'
            + table_html(courses, columns, headers=names, css="courses"))  # fmt: skip


def _date(text: Any) -> str:
    text = str(text or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _signoff(summary: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{role}</th><td></td><td></td><td></td></tr>" for role in ("Prepared by", "Reviewed by",
                                                                                      "Approved by"))  # fmt: skip
    return (
        "<h2>Sign-off</h2>"
        f'<p class="small">Software: {html.escape(summary.get("software", ""))}; configuration SHA-256 '
        f'<code class="config-hash">{html.escape(summary.get("configuration_sha256", "-"))}</code>'
        " (the effective settings: the same hash means the same settings and input files).</p>"
        '<table class="signoff"><thead><tr><th>role</th><th>name</th><th>signature</th><th>date</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _verdict_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "unit": row.get("unit") or unit_of(row), "scope": str(row.get("scope", "")).replace("_", " "),
             "metric": row["metric"] if row.get("region", "whole") == "whole" else f"{row['region']} {row['metric']}"}
            for row in rows]  # fmt: skip


def render_report(summary: Mapping[str, Any], sections: Sequence[str] = (), figures: Sequence[Figure] = ()) -> str:
    """The HTML text of the report for a run summary (the content of summary.json).

    ``sections`` are pre-rendered HTML parts (dose review, DVHs, structure tables) placed after
    the constraints; ``figures`` are shown in a section of their own.
    """
    verdicts = summary.get("constraints", [])
    scored = _verdict_rows([v for v in verdicts if v.get("kind", "limit") == "limit"])
    reported = _verdict_rows([v for v in verdicts if v.get("kind", "limit") != "limit"])
    title = summary.get("title", "accumulate report")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="small">{html.escape(summary.get("subtitle", ""))}</p>',
        _banner(summary),
        _identification(summary),
        "<h2>Constraints</h2>",
        table_html(scored, VERDICT_COLUMNS + ROBUST_COLUMNS * any("robust_verdict" in v for v in scored), "verdict")
        if scored
        else "<p>No constraint set was given.</p>",
    ]
    if reported:
        parts += ["<h3>Reported, not scored: guidance, observations and risk classes</h3>",
                  table_html(reported, REPORTED_COLUMNS, "state")]  # fmt: skip
    parts += list(sections)
    if figures:
        parts += ["<h2>Figures</h2>", "".join(f.markup() for f in figures)]
    for key, heading in (
        ("registration", "Registration quality"),
        ("uncertainty", "Registration uncertainty: method, radius, band"),
        ("checks", "Input checks, structure matches and overlaps"),
        ("assumptions", "Assumptions"),
        ("inputs", "Inputs"),
        ("stages_s", "Run time per stage (s)"),
    ):
        if summary.get(key) and summary[key] != {"method": "none"}:
            parts += [f"<h2>{heading}</h2>", definitions_html(summary[key])]
    parts += [_signoff(summary), f"<script>{SCRIPT}</script></body></html>"]
    return "\n".join(parts)


def write_report(path: str | Path, summary: Mapping[str, Any], sections: Sequence[str] = (),
                 figures: Sequence[Figure] = ()) -> Path:  # fmt: skip
    """Write the report atomically; returns the path."""
    return write_text_atomic(path, render_report(summary, sections, figures))
