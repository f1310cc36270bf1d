"""The run's report: one self-contained HTML page (inline SVG and PNG; no scripts, no external files)."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io._atomic import write_text_atomic
from ._png import encode_png

STYLE = """
body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1180px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f2f2f2} td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass,.desirable,.perprotocol{background:#d9f2d9} .acceptablevariation{background:#fff3c4}
.onesideallowed{background:#e8f0c8} .notapplicable{color:#888} .reported{background:#eef3fb} .warn{background:#fff3c4}
.acceptable{background:#fff3c4} .fail,.exceeded{background:#f8d0d0}
.notevaluated{background:#fde7c2} .absentaccepted{color:#777}
.banner{padding:8px 12px;font-weight:bold;display:inline-block;border-radius:4px}
.incomplete{background:#ffcf70} .dosesonly{background:#e4e4e4} .passed{background:#9fdc9f} .notmet{background:#f29c9c}
.panel{border:2px solid #e0a000;background:#fff8e6;padding:6px 12px;margin:10px 0;font-size:13px}
.panel h3{margin:4px 0;font-size:14px} .panel.reasons{border-color:#c04040;background:#fdeeee}
figure{display:inline-block;margin:8px 16px 8px 0;vertical-align:top} figcaption{font-size:12px;color:#555}
.small{font-size:12px;color:#555}
"""


@dataclass(frozen=True)
class Figure:
    """A picture for the report: ``svg`` markup, or an RGB image (H, W, 3 uint8) in ``rgb``."""

    caption: str
    svg: str | None = None
    rgb: Any = None

    def markup(self) -> str:
        if self.svg is not None:
            body = self.svg
        else:
            data = base64.b64encode(encode_png(self.rgb)).decode("ascii")
            body = f'<img alt="{html.escape(self.caption)}" src="data:image/png;base64,{data}">'
        return f"<figure>{body}<figcaption>{html.escape(self.caption)}</figcaption></figure>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.2f}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    if value is None:
        return "<td>-</td>"
    return f"<td>{html.escape(str(value))}</td>"


def table_html(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], css_column: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        css = str(row.get(css_column, "")).replace(" ", "") if css_column else ""
        body.append(f'<tr class="{css}">' + "".join(_cell(row.get(c)) for c in columns) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


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


VERDICT_COLUMNS = (
    "structure",
    "metric",
    "region",
    "scope",
    "quantity",
    "value",
    "limit",
    "margin",
    "verdict",
    "reason",
    "note",
    "source",
)
#: With [uncertainty] method = "shift": the plausible range under the shift bound and the robust verdict.
ROBUST_COLUMNS = ("value_range", "robust_verdict")
REPORTED_COLUMNS = ("structure", "metric", "kind", "scope", "quantity", "value", "limit", "verdict", "note", "source")


def _panel(title: str, lines: Sequence[str], css: str = "") -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(str(line))}</li>" for line in lines)
    return f'<div class="panel {css}"><h3>{html.escape(title)}</h3><ul>{items}</ul></div>'


def _banner(summary: Mapping[str, Any]) -> str:
    """The run's status (summary["status"]) as a coloured banner, with the reasons, warnings and overrides below it."""
    status = summary.get("status") or {"state": "doses only", "headline": "no status", "reasons": [], "warnings": []}
    css = status["state"].replace(" ", "")
    parts = [f'<span class="banner {css}">{html.escape(status["state"].upper())}: {html.escape(status["headline"])}</span>']
    parts.append(_panel("Why", status.get("reasons", []), "reasons"))
    parts.append(_panel("Warnings", status.get("warnings", [])))
    parts.append(_panel("Accepted overrides ([accept])", status.get("overrides", [])))
    return "\n".join(p for p in parts if p)


def render_report(summary: Mapping[str, Any], figures: Sequence[Figure] = ()) -> str:
    """The HTML text of the report for a run summary (the content of summary.json)."""
    verdicts = summary.get("constraints", [])
    scored = [v for v in verdicts if v.get("kind", "limit") == "limit"]
    reported = [v for v in verdicts if v.get("kind", "limit") != "limit"]
    banner = _banner(summary)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(summary.get('title', 'accumulate report'))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(summary.get('title', 'accumulate report'))}</h1>",
        f'<p class="small">{html.escape(summary.get("subtitle", ""))}</p>',
        banner,
        "<h2>Constraints</h2>",
        table_html(scored, VERDICT_COLUMNS + ROBUST_COLUMNS * any("robust_verdict" in v for v in scored), "verdict")
        if scored
        else "<p>No constraint set was given.</p>",
    ]
    if reported:
        parts += ["<h3>Reported, not scored: guidance, observations and risk classes</h3>",
                  table_html(reported, REPORTED_COLUMNS, "state")]  # fmt: skip
    if figures:
        quantity = str(summary.get("quantity", "eqd2")).upper()
        parts += [f"<h2>Dose, {html.escape(quantity)} and DVHs</h2>", "".join(f.markup() for f in figures)]
    if summary.get("structures"):
        columns = list(dict.fromkeys(k for row in summary["structures"] for k in row))
        parts += ["<h2>Structures</h2>", table_html(summary["structures"], columns)]
    for key, heading in (
        ("registration", "Registration quality"),
        ("checks", "Input checks, structure matches and overlaps"),
        ("assumptions", "Assumptions"),
        ("inputs", "Inputs"),
        ("stages_s", "Run time per stage (s)"),
    ):
        if summary.get(key):
            parts += [f"<h2>{heading}</h2>", definitions_html(summary[key])]
    parts.append(f'<p class="small">{html.escape(summary.get("software", ""))}</p></body></html>')
    return "\n".join(parts)


def write_report(path: str | Path, summary: Mapping[str, Any], figures: Sequence[Figure] = ()) -> Path:
    """Write the report atomically; returns the path."""
    return write_text_atomic(path, render_report(summary, figures))
