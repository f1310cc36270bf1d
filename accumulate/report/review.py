"""The report's dose review section: three planes at each constrained structure's hottest point and at the target, for
every quantity, and an axial slice scroller; each picture records what it drew (``data-*`` attributes).

Points: for each structure a scored constraint was evaluated on, the voxel of its largest
cumulative EQDx inside its mask (occupancy >= 0.5, reference dose grid); for the target, the
centroid of the reference course's first PTV (else CTV, GTV), or where none is found the
reference course's dose maximum (said so). Isodoses: round levels of each quantity's scale (and
the reference prescription on the reference course's physical dose) in white; the limits of the
constraints on that point's structure that are stated in the picture's quantity and scope, dashed
black and labelled (a D-metric's limit; a V-metric's dose threshold). Colour scales are fixed per
quantity (0 to its maximum), so pictures of one quantity compare.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..evaluation import values_at_points
from ..evaluation.dvh import METRIC_PATTERN
from ..evaluation.verdicts import MET, NOT_MET, ONE_SIDE
from .quantities import Quantity
from .views import CONTOUR_COLOURS, ORIENTATION_NOTE, Oriented, PlaneFigure, lps_oriented, nice_levels

if TYPE_CHECKING:
    from ..pipeline import RunResult

#: Spacing of the scroller's axial slices, mm (at least one voxel; wider where more than MAX_SLICES would be needed).
SCROLL_STEP_MM = 5.0
MAX_SLICES = 16
TARGET_PATTERN = re.compile(r"^(PTV|CTV|GTV)", re.IGNORECASE)
EVALUATED = (MET, NOT_MET, ONE_SIDE)


@dataclass(frozen=True)
class Point:
    """A place to look: ``index`` (z, y, x) in the LPS-oriented arrays, the structure and why it was chosen."""

    name: str
    structure: str | None
    index: tuple[int, int, int]
    why: str


def limit_level(verdict, rx_gy: float | None) -> float | None:
    """The dose (Gy) a constraint's limit means on an isodose picture: a D-metric's limit, a V-metric's threshold."""
    match = METRIC_PATTERN.match(verdict.constraint.metric.strip())
    if match is None:
        return None
    _, simple, d_value, _, v_value, v_unit = match.groups()
    if simple or d_value is not None:
        return float(verdict.limit)
    if v_unit and v_unit.lower() == "%rx":
        return float(v_value) / 100 * rx_gy if rx_gy else None
    return float(v_value)


def view_matches(verdict, quantity: Quantity, reference: str) -> bool:
    """Whether a constraint is stated in ``quantity`` (its scope and quantity name)."""
    c = verdict.constraint
    scope = "cumulative" if c.scope == "cumulative" else f"course:{reference}"
    return quantity.scope == scope and quantity.quantity == c.quantity


def limits_for(result: RunResult, quantity: Quantity, structure: str | None) -> list[float]:
    """The limit levels (Gy) of the evaluated scored constraints on ``structure`` stated in ``quantity``."""
    reference = result.prepared.reference
    rx = reference.plan.prescription_gy if reference.plan is not None else None
    out = []
    for v in result.verdicts:
        if v.structure_found != structure or not v.constraint.scored or v.state not in EVALUATED:
            continue
        if view_matches(v, quantity, reference.name):
            level = limit_level(v, rx)
            if level is not None and level not in out:
                out.append(round(level, 3))
    return out


def _points(result: RunResult, cumulative: Oriented, masks: Mapping[str, Oriented], reference_dose: Oriented) -> list[Point]:
    out = []
    seen = set()
    for v in result.verdicts:
        name = v.structure_found
        if name is None or name in seen or name not in masks or not v.constraint.scored or v.state not in EVALUATED:
            continue
        seen.add(name)
        inside = masks[name].array >= 0.5
        if not inside.any():
            continue
        values = np.where(inside, np.nan_to_num(cumulative.array, nan=-np.inf), -np.inf)
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(values)), values.shape))
        out.append(Point(f"{name}: hottest point", name, index,
                         f"largest cumulative {result.evaluation.quantity.upper()} in {name} "
                         f"({cumulative.array[index]:.2f} Gy)"))  # fmt: skip
    targets = sorted((n for n in masks if TARGET_PATTERN.match(n)), key=lambda n: ("PCG".index(n[0].upper()), n))
    targets = [n for n in targets if (masks[n].array >= 0.5).any()]
    if targets:
        inside = np.argwhere(masks[targets[0]].array >= 0.5)
        centre = inside[np.argmin(((inside - inside.mean(axis=0)) ** 2).sum(axis=1))]
        out.append(Point(f"{targets[0]}: target", targets[0], tuple(int(i) for i in centre), f"centroid of {targets[0]}"))
    else:
        index = tuple(int(i) for i in np.unravel_index(int(np.nanargmax(reference_dose.array)), reference_dose.array.shape))
        out.append(Point("target (no PTV/CTV/GTV found)", None, index, "no target structure: the reference dose maximum"))
    return out


def printed_in_pdf(quantity: Quantity) -> bool:
    """Whether the printed report (PDF) holds the point views of ``quantity``: the cumulative EQDx and the remaining
    dose (the page shows every quantity)."""
    return (quantity.kind == "eqdx" and quantity.course is None) or quantity.kind == "remaining"


def _ct_on_dose_grid(result: RunResult) -> Oriented | None:
    reference = result.prepared.reference
    if reference.ct is None:
        return None
    grid = reference.dose.grid
    values, outside = values_at_points(reference.ct, grid.world_coordinates().reshape(-1, 3))
    values[outside] = -1000.0
    return lps_oriented(reference.dose.with_array(values.reshape(grid.shape), quantity="ct", unit="HU"))


def _levels(result: RunResult, quantity: Quantity, top: float) -> list[float]:
    levels = nice_levels(top)
    reference = result.prepared.reference
    if quantity.kind == "physical" and quantity.course == reference.name and reference.plan is not None:
        rx = reference.plan.prescription_gy
        if rx and rx < top and round(rx, 3) not in levels:
            levels.append(round(rx, 3))
    return sorted(levels)


def _note(quantity: Quantity) -> str:
    if quantity.kind != "remaining":
        return ""
    return "uncoloured: no limit applies\n(the DICOM holds the cap there)"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _figure(quantity: Quantity, png: bytes, alt: str, levels: Sequence[float], limits: Sequence[float], top: float,
            printed: bool, shown: bool, extra: str = "") -> str:  # fmt: skip
    css = "dose-view" + (" printed" if printed else "") + ("" if shown else " hidden")
    return (
        f'<figure class="{css}" data-quantity="{quantity.key}" data-unit="{html.escape(quantity.unit_label)}" '
        f'data-colorbar="0 {top:.4g}" data-levels="{" ".join(f"{x:g}" for x in levels)}" '
        f'data-limits="{" ".join(f"{x:g}" for x in limits)}" data-note="{html.escape(_note(quantity))}"{extra}>'
        f"{_img(png, alt)}"
        f"<figcaption>{html.escape(quantity.label)}: colour 0-{top:.3g} {html.escape(quantity.unit_label)}; isodoses "
        f"{', '.join(f'{x:g}' for x in levels) or 'none'}"
        + (f"; limits (dashed) {', '.join(f'{x:g}' for x in limits)}" if limits else "")
        + (f"; {html.escape(_note(quantity).replace(chr(10), ' '))}" if _note(quantity) else "")
        + "</figcaption></figure>"
    )


def _legend(masks: Mapping[str, Oriented]) -> str:
    swatches = "".join(
        f'<span class="swatch" style="border-color:{CONTOUR_COLOURS[i % len(CONTOUR_COLOURS)]}">{html.escape(name)}</span>'
        for i, name in enumerate(masks)
    )
    return (f'<p class="legend small">Structures: {swatches} <span class="swatch iso">isodose</span> '
            '<span class="swatch limit">limit isodose</span></p>')  # fmt: skip


def _chooser(group: str, quantities: Sequence[Quantity], default: str) -> str:
    buttons = "".join(
        f'<label><input type="radio" name="{group}" value="{q.key}"{" checked" if q.key == default else ""}> '
        f"{html.escape(q.label)}</label>"
        for q in quantities
    )
    return f'<div class="chooser" data-group="{group}">{buttons}</div>'


def review_section(result: RunResult, quantities: Sequence[Quantity]) -> str:
    """The HTML of the dose review: point views (three planes, every quantity) and the axial scroller."""
    masks = {name: lps_oriented(m) for name, m in result.prepared.masks.items()}
    ct = _ct_on_dose_grid(result)
    oriented = {q.key: lps_oriented(q.volume) for q in quantities}
    default = next(q.key for q in quantities if q.kind == "eqdx" and q.course is None)
    tops = {q.key: float(np.nanmax(np.where(np.isfinite(oriented[q.key].array), oriented[q.key].array, 0.0))) or 1.0
            for q in quantities}  # fmt: skip
    reference_key = next(q.key for q in quantities if q.kind == "physical" and q.course == result.prepared.reference.name)
    points = _points(result, oriented[default], masks, oriented[reference_key])
    where = oriented[default]
    positions = [f"(x {where.x_mm[x]:.1f}, y {where.y_mm[y]:.1f}, z {where.z_mm[z]:.1f}) mm LPS" for z, y, x in
                 (p.index for p in points)]  # fmt: skip
    parts = [
        "<h2>Dose review</h2>",
        f'<p class="small">{html.escape(ORIENTATION_NOTE)}. CT window {-160}..{240} HU. Dose wash from 5 % of each '
        "quantity's scale; white lines: isodoses; dashed black lines: the limits of the constraints on the structure. "
        "Choose the quantity above each picture; the printed report holds the cumulative "
        f"{result.evaluation.quantity.upper()} and the remaining dose.</p>",
        _legend(masks),
    ]
    figures: dict[int, list[str]] = {n: [] for n in range(len(points))}
    for q in quantities:
        levels = _levels(result, q, tops[q.key])
        picture = PlaneFigure(("axial", "coronal", "sagittal"), oriented[q.key], ct, masks, top=tops[q.key],
                              unit_label=q.unit_label, legend_note=_note(q))  # fmt: skip
        for n, point in enumerate(points):
            limits = limits_for(result, q, point.structure)
            png = picture.png(point.index, levels=levels, limits=limits, title=f"{q.label} at {point.name} {positions[n]}")
            alt = f"{q.label}, {point.name}: axial, coronal, sagittal"
            figures[n].append(_figure(q, png, alt, levels, limits, tops[q.key], printed_in_pdf(q), q.key == default,
                                      f' data-point="{html.escape(point.name)}"'))  # fmt: skip
    for n, point in enumerate(points):
        group = f"point{n}"
        parts += [
            f'<section class="point" data-point="{html.escape(point.name)}"><h3>{html.escape(point.name)} {positions[n]}</h3>',
            f'<p class="small">{html.escape(point.why)}</p>',
            _chooser(group, quantities, default),
            f'<div class="views" data-group="{group}">{"".join(figures[n])}</div></section>',
        ]
    parts.append(_scroller(result, quantities, oriented, ct, masks, tops))
    return "\n".join(parts)


def _scroller(result: RunResult, quantities: Sequence[Quantity], oriented: Mapping[str, Oriented], ct: Oriented | None,
              masks: Mapping[str, Oriented], tops: Mapping[str, float]) -> str:  # fmt: skip
    """Axial slices every SCROLL_STEP_MM through the structures, for the cumulative EQDx and the remaining dose."""
    chosen = [q for q in quantities if printed_in_pdf(q)]
    anywhere = np.zeros(next(iter(oriented.values())).array.shape[0], bool)
    for mask in masks.values():
        anywhere |= (mask.array >= 0.5).any(axis=(1, 2))
    slices = np.flatnonzero(anywhere)
    if slices.size == 0:
        return ""
    z_mm = next(iter(oriented.values())).z_mm
    step = max(1, round(SCROLL_STEP_MM / abs(z_mm[1] - z_mm[0]))) if z_mm.size > 1 else 1
    step = max(step, -(-slices.size // MAX_SLICES))
    slices = slices[::step]
    group = "scroller"
    stacks = []
    for q in chosen:
        levels = _levels(result, q, tops[q.key])
        picture = PlaneFigure(("axial",), oriented[q.key], ct, masks, top=tops[q.key], unit_label=q.unit_label,
                              legend_note=_note(q), panel_inches=4.0)  # fmt: skip
        images = []
        for i, z in enumerate(slices):
            png = picture.png((int(z),), levels=levels, limits=(), title=q.label)
            hidden = "" if i == len(slices) // 2 else ' class="hidden"'
            images.append(f'<div data-slice="{i}"{hidden}>{_img(png, f"{q.label}, axial z = {z_mm[z]:.1f} mm")}</div>')
        shown = q.kind == "eqdx"
        stacks.append(f'<figure class="stack{"" if shown else " hidden"}" data-quantity="{q.key}" '
                      f'data-slices="{len(slices)}">{"".join(images)}</figure>')  # fmt: skip
    default = next(q.key for q in chosen if q.kind == "eqdx")
    return (
        f'<section class="scroller"><h3>Axial slices every {step * abs(z_mm[1] - z_mm[0]) if z_mm.size > 1 else 0:.1f} mm '
        f"through the structures ({len(slices)} slices)</h3>"
        + _chooser(group, chosen, default)
        + f'<input type="range" class="slider" data-group="{group}" min="0" max="{len(slices) - 1}" '
        f'value="{len(slices) // 2}"> <span class="small">drag, or use the arrow keys</span>'
        + f'<div class="views" data-group="{group}">{"".join(stacks)}</div></section>'
    )
