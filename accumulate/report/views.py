"""Dose review pictures: axial, coronal and sagittal planes with the CT, a dose wash, isodoses and contours.

Drawn on matplotlib's Agg canvas without pyplot (no screen needed; the user's backend and
settings are left alone).

Orientation (the section states it; every panel is labelled R/L, A/P, S/I): the volumes are
first reordered so that their array axes run along LPS (+z superior, +y posterior, +x patient's
left; :func:`lps_oriented`), then shown in the radiological convention: axial and coronal with
the patient's right on the image's left, anterior (axial) or superior (coronal, sagittal) at the
top; sagittal with anterior on the left.
Axes are in mm (LPS), so the aspect ratio is that of the voxel spacing. A grid whose axes are
not along LPS (an oblique acquisition) is refused with a GeometryError: its planes would be
mislabelled (the report then says that no pictures were drawn, and why).

The CT (HU, window -160..240) is resampled onto the dose grid (trilinear); the dose wash shows
values from 5 % of the colour scale's top upwards; NaN (e.g. the remaining dose where no limit
applies) is not coloured.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from ..geometry import Volume

#: CT window for the pictures, HU.
CT_WINDOW_HU = (-160.0, 240.0)
#: Dose values below this fraction of the colour scale's top are not washed.
WASH_FLOOR = 0.05
WASH_ALPHA = 0.5
DPI = 72
#: Colours of the pictures' PNG palette (quantised: a third of the size of RGB, no visible loss at this resolution).
PNG_COLOURS = 192
CONTOUR_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#469990",
                   "#808000")  # fmt: skip
ORIENTATION_NOTE = (
    "radiological convention: axial and coronal with the patient's right (R) on the image's left; sagittal with anterior "
    "(A) on the left; axes in mm (LPS), aspect from the voxel spacing"
)


@dataclass(frozen=True)
class Oriented:
    """A volume's array reordered to LPS axes ``[z (I->S), y (A->P), x (R->L)]`` with the voxel-centre coordinates (mm)."""

    array: np.ndarray
    z_mm: np.ndarray
    y_mm: np.ndarray
    x_mm: np.ndarray


def lps_oriented(volume: Volume) -> Oriented:
    """``volume`` with its axes along LPS, ascending; GeometryError for a grid whose axes are not along LPS."""
    grid = volume.grid
    axes = grid.lps_axes()
    array = axes.view(np.asarray(volume.to_numpy().array, dtype=float))
    corner = grid.world_from_index(np.array([[0.0, 0.0, 0.0], [n - 1.0 for n in grid.shape]]))
    low = corner.min(axis=0)  # the smallest coordinate along each LPS axis: the view starts there
    x, y, z = (low[a] + axes.spacing_mm[a] * np.arange(axes.shape[2 - a]) for a in range(3))
    return Oriented(np.ascontiguousarray(array), z, y, x)


def nice_levels(top: float, count: int = 5) -> list[float]:
    """Round isodose levels (1, 2, 2.5, 5 x 10^n steps) from above 0 up to ``top``."""
    if not np.isfinite(top) or top <= 0:
        return []
    ticks = MaxNLocator(nbins=count, steps=[1, 2, 2.5, 5, 10]).tick_values(0.0, top)
    return [float(t) for t in ticks if 0 < t < top]


@dataclass(frozen=True)
class Plane:
    """One plane to draw: its name, the index along the fixed axis of an :class:`Oriented` array."""

    name: str  # axial, coronal, sagittal
    index: int


def plane_of(o: Oriented, plane: Plane) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, str, str, str]]:
    """(image rows x columns, column coordinates, row coordinates, (left, right, top, bottom) labels) of a plane."""
    if plane.name == "axial":
        return o.array[plane.index], o.x_mm, o.y_mm, ("R", "L", "A", "P")
    if plane.name == "coronal":
        return o.array[:, plane.index, :], o.x_mm, o.z_mm, ("R", "L", "S", "I")
    return o.array[:, :, plane.index], o.y_mm, o.z_mm, ("A", "P", "S", "I")


def _labels(ax, labels: tuple[str, str, str, str]) -> None:
    left, right, up, down = labels
    for text, x, y in ((left, 0.0, 0.5), (right, 1.0, 0.5), (up, 0.5, 1.0), (down, 0.5, 0.0)):
        ax.text(x, y, text, transform=ax.transAxes, ha="center", va="center", fontsize=8, color="yellow", fontweight="bold")


def _scale_bar(ax, extent: tuple[float, float, float, float]) -> None:
    """A 50 mm bar in the lower left corner (the axes carry no tick labels; the aspect is that of the mm)."""
    left, right = extent[0], extent[1]
    low, high = sorted(extent[2:])
    length = 50.0 if right - left > 80 else 10.0
    x, y = left + 0.06 * (right - left), low + 0.06 * (high - low)
    y = y if extent[2] < extent[3] else high - 0.06 * (high - low)
    ax.plot([x, x + length], [y, y], color="white", linewidth=2)
    ax.text(x + length / 2, y, f"{length:g} mm", color="white", fontsize=6, ha="center",
            va="bottom" if extent[2] < extent[3] else "top")  # fmt: skip


def outlines_rgba(shape: tuple[int, int], planes: Sequence[np.ndarray], colours: Sequence[str], upsample: int = 4,
                  width: int = 2) -> np.ndarray:  # fmt: skip
    """An RGBA image (``shape`` x ``upsample``) of the outlines of occupancy planes (>= 0.5) of that shape, each in its
    colour: the voxelised structure's inner edge, ``width`` sub-pixels wide (later structures drawn over earlier ones)."""
    out = np.zeros((shape[0] * upsample, shape[1] * upsample, 4))
    block = np.ones((upsample, upsample), bool)
    for plane, colour in zip(planes, colours, strict=True):
        inside = np.kron(plane >= 0.5, block)
        if not inside.any():
            continue
        core = inside.copy()
        for _ in range(width):
            eroded = core.copy()
            eroded[1:, :] &= core[:-1, :]
            eroded[:-1, :] &= core[1:, :]
            eroded[:, 1:] &= core[:, :-1]
            eroded[:, :-1] &= core[:, 1:]
            core = eroded
        out[inside & ~core] = (*matplotlib.colors.to_rgb(colour), 1.0)
    return out


class PlaneFigure:
    """Pictures of one quantity: ``planes`` (axial, coronal, sagittal) side by side, one colour bar (0..``top``,
    ``unit_label``; ``legend_note`` under it, e.g. what uncoloured voxels mean), a 50 mm scale bar; the structures'
    outlines in :data:`CONTOUR_COLOURS` in the order of ``masks`` (the page carries their legend).

    The figure is built once and redrawn for each :meth:`png` (only the slices, isodoses and
    titles change), which keeps many pictures of one quantity cheap.
    """

    def __init__(self, planes: Sequence[str], dose: Oriented, ct: Oriented | None, masks: Mapping[str, Oriented], *,
                 top: float, unit_label: str, legend_note: str = "", panel_inches: float = 3.0) -> None:  # fmt: skip
        self.planes, self.dose, self.ct, self.masks, self.top = list(planes), dose, ct, masks, top
        self.figure = MplFigure(figsize=(panel_inches * len(planes) + 1.8, panel_inches + 0.5), dpi=DPI)
        FigureCanvasAgg(self.figure)
        self.axes = self.figure.subplots(1, len(planes), squeeze=False)[0]
        cmap = matplotlib.colormaps["turbo"].copy()
        self.images, self.drawn = [], []
        for ax, name in zip(self.axes, self.planes, strict=True):
            values, cols, rows, labels = plane_of(dose, Plane(name, 0))
            (c0, c1), (r0, r1) = _edges(cols), _edges(rows)
            extent, origin = ((c0, c1, r1, r0), "upper") if name == "axial" else ((c0, c1, r0, r1), "lower")
            base = None
            if ct is not None:
                base = ax.imshow(plane_of(ct, Plane(name, 0))[0], cmap="gray", vmin=CT_WINDOW_HU[0], vmax=CT_WINDOW_HU[1],
                                 extent=extent, origin=origin, interpolation="bilinear")  # fmt: skip
            else:
                ax.set_facecolor("#202020")
            wash = ax.imshow(np.ma.masked_all(values.shape), cmap=cmap, vmin=0.0, vmax=top, alpha=WASH_ALPHA,
                             extent=extent, origin=origin, interpolation="nearest")  # fmt: skip
            outline = ax.imshow(np.zeros((2, 2, 4)), extent=extent, origin=origin, interpolation="nearest")
            self.images.append((base, wash, outline))
            ax.set_aspect("equal")
            ax.set_axis_off()
            _labels(ax, labels)
            _scale_bar(ax, extent)
        self.bar = self.figure.colorbar(self.images[0][1], ax=list(self.axes), fraction=0.03, pad=0.02)
        self.bar.set_label(unit_label + (f"\n{legend_note}" if legend_note else ""), fontsize=7)
        self.bar.ax.tick_params(labelsize=6)
        self.colours = [CONTOUR_COLOURS[i % len(CONTOUR_COLOURS)] for i in range(len(masks))]
        self.title = self.figure.suptitle("", fontsize=9)
        self.figure.subplots_adjust(left=0.01, right=0.9, top=0.86, bottom=0.03, wspace=0.05)

    def png(self, indices: Sequence[int], *, levels: Sequence[float], limits: Sequence[float], title: str) -> bytes:
        """The PNG of the planes at ``indices`` (one per plane) with isodoses at ``levels`` (white) and ``limits``
        (dashed black, labelled; also marked on the colour bar)."""
        for artist in self.drawn:
            artist.remove()
        self.drawn = []
        for ax, name, index, (base, wash, outline) in zip(self.axes, self.planes, indices, self.images, strict=True):
            plane = Plane(name, int(index))
            values, cols, rows, _ = plane_of(self.dose, plane)
            if base is not None:
                base.set_data(plane_of(self.ct, plane)[0])
            wash.set_data(np.ma.masked_where(~np.isfinite(values) | (values < WASH_FLOOR * self.top), values))
            finite = np.where(np.isfinite(values), values, -1.0)
            if levels and finite.max() > min(levels):
                self.drawn.append(ax.contour(cols, rows, finite, levels=sorted(levels), colors="white", linewidths=0.7))
            if limits and finite.max() > min(limits):
                lines = ax.contour(cols, rows, finite, levels=sorted(set(limits)), colors="black", linewidths=1.4,
                                   linestyles="dashed")  # fmt: skip
                ax.clabel(lines, fmt="%g", fontsize=7, inline=True)  # removed with the contour set
                self.drawn.append(lines)
            outline.set_data(outlines_rgba(values.shape, [plane_of(m, plane)[0] for m in self.masks.values()], self.colours))
            ax.set_title(f"{name} {_position(self.dose, plane)}", fontsize=8)
        self.drawn += [self.bar.ax.axhline(level, color="black", linewidth=1.5, linestyle="--") for level in limits
                       if 0 <= level <= self.top]  # fmt: skip
        self.title.set_text(title)
        self.figure.canvas.draw()
        rgba = np.asarray(self.figure.canvas.buffer_rgba())
        image = PIL.Image.fromarray(rgba[..., :3]).quantize(colors=PNG_COLOURS, method=PIL.Image.Quantize.FASTOCTREE)
        buffer = io.BytesIO()
        image.save(buffer, format="png", compress_level=6)
        return buffer.getvalue()


def _edges(centres: np.ndarray) -> tuple[float, float]:
    """The outer edges (mm) of voxels centred at ``centres`` (ascending)."""
    half = (centres[1] - centres[0]) / 2 if centres.size > 1 else 0.5
    return float(centres[0] - half), float(centres[-1] + half)


def _position(o: Oriented, plane: Plane) -> str:
    if plane.name == "axial":
        return f"z = {o.z_mm[plane.index]:.1f} mm"
    if plane.name == "coronal":
        return f"y = {o.y_mm[plane.index]:.1f} mm"
    return f"x = {o.x_mm[plane.index]:.1f} mm"
