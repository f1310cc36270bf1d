"""Pictures for the report: axial dose slices with structure outlines (PNG) and DVH plots (SVG)."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np

from ..evaluation.dvh import DVH
from ..geometry import Volume

# A perceptually ordered dose colour ramp (dark blue -> cyan -> yellow -> red), 0..1.
_RAMP = np.array([[0, 0, 90], [0, 90, 220], [0, 200, 200], [120, 220, 60], [250, 220, 0], [240, 90, 0], [200, 0, 0]], float)
PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#469990", "#808000"]


def _colour(values: np.ndarray) -> np.ndarray:
    x = np.clip(values, 0, 1) * (len(_RAMP) - 1)
    low = np.floor(x).astype(int).clip(0, len(_RAMP) - 2)
    t = (x - low)[..., None]
    return (1 - t) * _RAMP[low] + t * _RAMP[low + 1]


def _hex(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], float)


def axial_slice_rgb(
    dose: Volume,
    masks: Mapping[str, Volume],
    z_index: int,
    *,
    max_gy: float | None = None,
    ct: Volume | None = None,
    scale: int = 0,
) -> np.ndarray:
    """An (H, W, 3) uint8 picture of slice ``z_index``: dose colour-washed (over the CT if given) with outlines.

    ``ct`` must be on the dose grid. Voxels below 5 % of ``max_gy`` show no dose colour. ``scale``
    pixels per voxel (0: about 360 pixels across).
    """
    plane = np.asarray(dose.to_numpy().array[z_index], dtype=float)
    top = max_gy or float(np.nanmax(dose.to_numpy().array)) or 1.0
    if ct is not None:
        hu = np.asarray(ct.to_numpy().array[z_index], dtype=float)
        base = np.repeat(((np.clip(hu, -160, 240) + 160) / 400 * 255)[..., None], 3, axis=2)
    else:
        base = np.full(plane.shape + (3,), 30.0)
    wash = np.nan_to_num(plane / top, nan=0.0)
    alpha = np.where(wash > 0.05, 0.55, 0.0)[..., None]
    rgb = (1 - alpha) * base + alpha * _colour(wash)
    for i, mask in enumerate(masks.values()):
        inside = np.asarray(mask.to_numpy().array[z_index], dtype=float) >= 0.5
        interior = inside.copy()
        interior[1:, :] &= inside[:-1, :]
        interior[:-1, :] &= inside[1:, :]
        interior[:, 1:] &= inside[:, :-1]
        interior[:, :-1] &= inside[:, 1:]
        rgb[inside & ~interior] = _hex(PALETTE[i % len(PALETTE)])
    scale = scale or max(1, 360 // max(plane.shape))
    return np.kron(rgb, np.ones((scale, scale, 1))).clip(0, 255).astype(np.uint8)


def dvh_svg(dvhs: Mapping[str, DVH], *, title: str, width: int = 640, height: int = 360, bin_width_gy: float = 0.25) -> str:
    """An inline SVG of cumulative DVHs (volume % against dose in Gy), one line per structure."""
    left, right, top, bottom = 56, 150, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    max_dose = max((float(h.doses_gy[0]) for h in dvhs.values()), default=1.0) or 1.0
    max_dose = float(np.ceil(max_dose / 10) * 10)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>',
    ]
    for k in range(6):
        y = top + plot_h * k / 5
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{100 - 20 * k}</text>')
        x = left + plot_w * k / 5
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="11" text-anchor="middle">{max_dose * k / 5:g}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" font-size="12" text-anchor="middle">dose (Gy)</text>')
    parts.append(
        f'<text x="14" y="{top + plot_h / 2}" font-size="12" transform="rotate(-90 14 {top + plot_h / 2})">volume (%)</text>'
    )
    for i, (name, h) in enumerate(dvhs.items()):
        bins, volume = h.cumulative_curve(bin_width_gy)
        xs = left + plot_w * bins / max_dose
        ys = top + plot_h * (1 - volume / h.total_cc)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        colour = PALETTE[i % len(PALETTE)]
        line = f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{points}">'
        parts.append(f"{line}<title>{html.escape(name)}</title></polyline>")
        parts.append(
            f'<text x="{left + plot_w + 8}" y="{top + 12 + 15 * i}" font-size="11" fill="{colour}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
