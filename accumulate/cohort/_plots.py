"""Inline SVG charts for the cohort page: a value per patient (bars, with limit marks) and a histogram.

The DVH plot of a single run is :func:`accumulate.report.dvh_svg`; these are the cohort's two
extra kinds, drawn in the same style (plain SVG, no scripts).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

#: Bar colours by verdict (the report's table colours, darker), and for anything else.
VERDICT_COLOURS = {"pass": "#4caf50", "desirable": "#4caf50", "acceptable": "#e0b000", "fail": "#d9534f", "exceeded": "#d9534f"}
NEUTRAL = "#4363d8"
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 64


def _nice_top(value: float) -> float:
    """The axis maximum: ``value`` rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _frame(width: int, height: int, title: str, y_label: str, y_top: float) -> list[str]:
    """The opening of an SVG chart: title, plot box, y ticks (0 to ``y_top`` in 5 steps) and the y label."""
    plot_h = height - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{width - LEFT - RIGHT}" height="{plot_h}" fill="none" stroke="#444"/>',
        f'<text x="14" y="{TOP + plot_h / 2}" font-size="12" transform="rotate(-90 14 {TOP + plot_h / 2})">'
        f"{html.escape(y_label)}</text>",
    ]
    for k in range(6):
        value = y_top * k / 5
        y = TOP + plot_h * (1 - k / 5)
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{value:g}</text>')
    return parts


def bars_svg(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    y_label: str,
    colours: Sequence[str] | None = None,
    marks: Sequence[float | None] | None = None,
) -> str:
    """One vertical bar per label (``values`` >= 0), optionally coloured and with a black mark each (a limit)."""
    count = max(len(values), 1)
    width = min(1100, max(400, LEFT + RIGHT + 16 * count))
    height = 320
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    top = _nice_top(max([*values, *(m for m in marks or () if m is not None)], default=1.0))
    parts = _frame(width, height, title, y_label, top)
    step = plot_w / count
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + i * step
        bar_h = plot_h * value / top
        colour = colours[i] if colours else NEUTRAL
        parts.append(f'<rect x="{x + 0.15 * step:.1f}" y="{TOP + plot_h - bar_h:.1f}" width="{0.7 * step:.1f}" '
                     f'height="{bar_h:.1f}" fill="{colour}"><title>{html.escape(label)}: {value:.2f}</title></rect>')  # fmt: skip
        mark = marks[i] if marks else None
        if mark is not None:
            y = TOP + plot_h * (1 - mark / top)
            parts.append(f'<line x1="{x:.1f}" x2="{x + step:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#000" stroke-width="2"/>')
        if count <= 60:
            centre, base = x + step / 2, TOP + plot_h + 8
            parts.append(f'<text x="{centre:.1f}" y="{base}" font-size="10" text-anchor="end" '
                         f'transform="rotate(-60 {centre:.1f} {base})">{html.escape(label)}</text>')  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts)


def histogram_svg(values: Sequence[float], *, title: str, x_label: str, bins: int = 20) -> str:
    """A histogram of ``values``; bins below zero are drawn red (negative margins: limits exceeded)."""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    low, high = (low - 0.5, high + 0.5) if high - low < 1e-9 else (low, high)
    width_bin = (high - low) / bins
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / width_bin), bins - 1)] += 1
    width, height = 480, 300
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    top = _nice_top(max(counts, default=1))
    parts = _frame(width, height, title, "count", top)
    for i, count in enumerate(counts):
        start = low + i * width_bin
        bar_h = plot_h * count / top
        colour = VERDICT_COLOURS["fail"] if start + width_bin <= 0 else NEUTRAL
        parts.append(f'<rect x="{LEFT + i * plot_w / bins:.1f}" y="{TOP + plot_h - bar_h:.1f}" width="{plot_w / bins:.1f}" '
                     f'height="{bar_h:.1f}" fill="{colour}" stroke="#fff"><title>{start:.1f} to {start + width_bin:.1f}: '
                     f"{count}</title></rect>")  # fmt: skip
    for k in range(5):
        x = LEFT + plot_w * k / 4
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" font-size="11" text-anchor="middle">'
                     f"{low + (high - low) * k / 4:.1f}</text>")  # fmt: skip
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{height - 24}" font-size="12" text-anchor="middle">{html.escape(x_label)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)
