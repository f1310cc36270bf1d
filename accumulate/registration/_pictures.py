"""Pictures for the review of a registration (AAPM TG-132 asks for visual review): PNG files and report figures.

Each picture shows three planes of the fixed (reference) grid, axial, coronal and sagittal,
through one point, in radiological display: axial with the patient's anterior up and right on
the viewer's left, coronal and sagittal with superior up; pixels are square in mm.

- ``review_<organ>.png``, one per organ at risk, through the organ's centroid: fixed CT vs the
  warped moving CT as a checkerboard (row 1), as a colour blend (row 2: fixed in magenta, warped
  moving in green; grey where they agree), and the structures propagated from the moving CT
  (dashed) over the fixed CT with the fixed contours of the same name (solid) (row 3).
- ``jacobian.png``: the Jacobian determinant over the fixed CT, coloured inside the body, on a log
  colour scale 0.25-4 (blue < 1 < red), through the voxel of smallest determinant inside the body
  (its centroid where the map is flat), with the checks' range marked on the colour bar.
- ``uncertainty.png`` (when a per-voxel uncertainty is given): mm, the same way, through its
  largest value, the check's threshold marked.

Rendered with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..geometry import DisplacementField, Grid, Volume
from ._report import QualityReport
from ._sampling import sample_linear

PLANES = ("axial", "coronal", "sagittal")
#: CT display window (HU): lung to bone, so that both lung and soft-tissue edges show.
CT_WINDOW_HU = (-1000.0, 600.0)
_CHECKER_MM = 20.0
GRID_CENTRE = "the grid centre"
_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#ff7f00", "#984ea3", "#a65628", "#f781bf", "#17becf")


@dataclass
class Picture:
    """One review picture: ``rgb`` (H, W, 3 uint8), its ``caption``, file ``name`` and where each panel is.

    ``panels`` maps ``(row, plane)`` to the panel's pixel box ``(left, top, right, bottom)`` in
    ``rgb`` (image rows from the top); ``index_zyx`` is the fixed-grid voxel the planes pass through.
    """

    name: str
    caption: str
    rgb: np.ndarray
    index_zyx: tuple[int, int, int]
    panels: dict[tuple[str, str], tuple[int, int, int, int]] = field(default_factory=dict)


def _plane(array: np.ndarray, plane: str, index: tuple[int, int, int], grid: Grid) -> np.ndarray:
    """The 2-D view of an array on ``grid`` in display orientation (rows top to bottom), through voxel ``index``.

    The array is first seen along LPS (:meth:`Grid.lps_axes`: a feet-first or prone CT, whose
    index axes run against LPS, shows as a head-first supine one; an oblique grid is refused).
    """
    axes = grid.lps_axes()
    view = axes.view(array)
    k, j, i = axes.index(index)
    if plane == "axial":
        return view[k]  # rows y (anterior first), columns x (patient right first)
    if plane == "coronal":
        return view[::-1, j, :]  # rows z from superior, columns x
    return view[::-1, :, i]  # sagittal: rows z from superior, columns y (anterior first)


def _extent(grid: Grid, plane: str) -> tuple[float, float, float, float]:
    """Panel size in mm (width, height) as an imshow extent, so pixels are square in mm."""
    axes = grid.lps_axes()
    sx, sy, sz = axes.spacing_mm
    nz, ny, nx = axes.shape
    width, height = {"axial": (nx * sx, ny * sy), "coronal": (nx * sx, nz * sz), "sagittal": (ny * sy, nz * sz)}[plane]
    return (0.0, width, height, 0.0)


def _grey(array: np.ndarray) -> np.ndarray:
    low, high = CT_WINDOW_HU
    return np.clip((np.asarray(array, dtype=np.float32) - low) / (high - low), 0.0, 1.0)


def _plane_index(grid: Grid, plane: str, index) -> np.ndarray:
    """The grid's (k, j, i) voxel indices of one displayed plane, (rows, cols, 3), in the orientation of :func:`_plane`."""
    return np.stack([_plane(g, plane, index, grid) for g in np.indices(grid.shape)], axis=-1)


def warped_plane(moving: Volume, field: DisplacementField, plane: str, index) -> np.ndarray:
    """The moving CT pulled through ``field`` on one plane of the fixed grid only (trilinear; air outside)."""
    voxels = _plane_index(field.grid, plane, index)
    u = np.asarray(field.to_numpy().array)[voxels[..., 0], voxels[..., 1], voxels[..., 2]]
    points = field.grid.world_from_index(voxels.reshape(-1, 3).astype(float)).reshape(u.shape) + u
    return sample_linear(np.asarray(moving.to_numpy().array), moving.grid, points, outside=CT_WINDOW_HU[0])


def _checkerboard(fixed: np.ndarray, warped: np.ndarray, pixel_mm: tuple[float, float]) -> np.ndarray:
    rows, cols = np.indices(fixed.shape)
    squares = ((rows * pixel_mm[0] // _CHECKER_MM) + (cols * pixel_mm[1] // _CHECKER_MM)) % 2 == 0
    return np.where(squares, _grey(fixed), _grey(warped))


def _blend(fixed: np.ndarray, warped: np.ndarray) -> np.ndarray:
    f, w = _grey(fixed), _grey(warped)
    return np.stack([f, w, f], axis=-1)


def _pixel_mm(grid: Grid, plane: str) -> tuple[float, float]:
    sx, sy, sz = grid.lps_axes().spacing_mm
    return {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}[plane]


def _canvas(rows: int, title: str):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10.5, 3.2 * rows + 0.6), dpi=90, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=10)
    return figure


def _finish(figure, name: str, caption: str, index, axes: Mapping[tuple[str, str], Any]) -> Picture:
    canvas = figure.canvas
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    height = rgb.shape[0]
    panels = {}
    for key, ax in axes.items():
        box = ax.get_window_extent()
        panels[key] = (int(round(box.x0)), int(round(height - box.y1)), int(round(box.x1)), int(round(height - box.y0)))
    return Picture(name, caption, rgb, tuple(int(v) for v in index), panels)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "structure"


def centroid_index(mask: Any) -> tuple[int, int, int]:
    """The voxel (z, y, x) nearest the centroid of a boolean mask (the grid centre for an empty mask)."""
    where = np.argwhere(np.asarray(mask, dtype=bool))
    if where.size == 0:
        return tuple(int(n // 2) for n in np.shape(mask))
    return tuple(int(v) for v in np.rint(where.mean(axis=0)))


def _contours(ax, structures: Mapping[str, Volume], propagated: Mapping[str, np.ndarray], plane: str, index,
              grid: Grid) -> None:  # fmt: skip
    """Each fixed contour (solid) and its propagated twin (dashed) in one colour, at pixel centres in mm."""
    pixel_mm = _pixel_mm(grid, plane)
    for number, (label, mask) in enumerate(structures.items()):
        colour = _COLOURS[number % len(_COLOURS)]
        for view, style in ((np.asarray(mask.array), "solid"), (propagated.get(label), "dashed")):
            if view is None:
                continue
            section = _plane(np.asarray(view, dtype=float), plane, index, grid)
            if section.min() == section.max():
                continue
            rows, cols = np.indices(section.shape)
            ax.contour((cols + 0.5) * pixel_mm[1], (rows + 0.5) * pixel_mm[0], section, levels=[0.5], colors=[colour],
                       linewidths=1.0, linestyles=style)  # fmt: skip


def _review_picture(
    name: str, index, fixed: Volume, moving: Volume, field: DisplacementField, structures: Mapping[str, Volume],
    propagated: Mapping[str, np.ndarray],
) -> Picture:  # fmt: skip
    where = name if name == GRID_CENTRE else f"the centroid of {name}"
    figure = _canvas(3, f"Registration review through {where} (voxel z, y, x = {tuple(index)})")
    grid = figure.add_gridspec(3, 3)
    axes = {}
    fixed_a = np.asarray(fixed.array)
    for column, plane in enumerate(PLANES):
        f, w = _plane(fixed_a, plane, index, fixed.grid), warped_plane(moving, field, plane, index)
        extent = _extent(fixed.grid, plane)
        views = (
            ("checkerboard", _checkerboard(f, w, _pixel_mm(fixed.grid, plane)), "gray"),
            ("blend", _blend(f, w), None),
            ("structures", _grey(f), "gray"),
        )
        for row, (kind, image, cmap) in enumerate(views):
            ax = figure.add_subplot(grid[row, column])
            ax.imshow(image, cmap=cmap, vmin=0, vmax=1, extent=extent, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(plane, fontsize=9)
            if column == 0:
                ax.set_ylabel({"checkerboard": "fixed | warped moving", "blend": "fixed (magenta) / warped (green)",
                               "structures": "fixed (solid) / propagated (dashed)"}[kind], fontsize=8)  # fmt: skip
            if kind == "structures":
                _contours(ax, structures, propagated, plane, index, fixed.grid)
            axes[(kind, plane)] = ax
    caption = (
        f"{name}: fixed vs warped moving CT (checkerboard of {_CHECKER_MM:g} mm squares; colour blend) and the structures "
        f"propagated from the moving CT (dashed) over the fixed CT, at its centroid; CT window {CT_WINDOW_HU[0]:g} to "
        f"{CT_WINDOW_HU[1]:g} HU"
    )
    return _finish(figure, f"review_{_safe(name)}.png", caption, index, axes)


def _map_picture(name: str, volume: Volume, index, title: str, caption: str, *, ct: Volume, inside: np.ndarray,
                 jacobian: tuple[float, float] | None = None, limit: float | None = None) -> Picture:  # fmt: skip
    """A map over the fixed CT (grey), coloured inside the body only, on three planes, with its colour bar.

    ``jacobian``: a log scale 0.25-4 with the checks' range marked; else a linear scale from 0 to
    the larger of the map's maximum and 4/3 of ``limit`` (mm), ``limit`` marked.
    """
    from matplotlib.colors import LogNorm, Normalize

    figure = _canvas(1, title)
    grid = figure.add_gridspec(1, 4, width_ratios=[1, 1, 1, 0.06])
    values = np.asarray(volume.array, dtype=np.float32)
    if jacobian is not None:
        norm, cmap = LogNorm(vmin=0.25, vmax=4.0), "RdBu_r"
        values = np.clip(values, 0.25, 4.0)  # folded voxels (<= 0) show as the darkest blue
    else:
        finite = values[np.isfinite(values) & inside]
        top = max(float(finite.max()) if finite.size else 0.0, 4.0 / 3.0 * (limit or 0.0), 1e-6)
        norm, cmap = Normalize(vmin=0.0, vmax=top), "viridis"
    shown = np.where(inside, values, np.nan)  # outside the body: the CT alone
    axes = {}
    image = None
    for column, plane in enumerate(PLANES):
        ax = figure.add_subplot(grid[0, column])
        extent = _extent(volume.grid, plane)
        ax.imshow(_grey(_plane(np.asarray(ct.array), plane, index, ct.grid)), cmap="gray", vmin=0, vmax=1, extent=extent,
                  interpolation="nearest")  # fmt: skip
        image = ax.imshow(_plane(shown, plane, index, volume.grid), cmap=cmap, norm=norm, extent=extent, alpha=0.65,
                          interpolation="nearest")  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(plane, fontsize=9)
        axes[("map", plane)] = ax
    bar = figure.colorbar(image, cax=figure.add_subplot(grid[0, 3]))
    bar.solids.set_alpha(1.0)
    if jacobian is not None:
        bar.ax.minorticks_off()
        bar.set_ticks([0.25, 0.5, 1.0, 2.0, 4.0], labels=["<=0.25", "0.5", "1", "2", ">=4"])
        for value in jacobian:
            bar.ax.axhline(value, color="black", linewidth=1.5)
        bar.set_label("Jacobian determinant (1 = volume kept)", fontsize=8)
    else:
        if limit is not None:
            bar.ax.axhline(limit, color="red", linewidth=1.5)
        bar.set_label(f"{volume.quantity} ({volume.unit})", fontsize=8)
    return _finish(figure, name, caption, index, axes)


def _through(values: np.ndarray, inside: np.ndarray, pick) -> tuple[int, int, int]:
    """The voxel of ``pick`` (argmin/argmax) of ``values`` inside the body; the body's centroid where the map is flat there."""
    finite = inside & np.isfinite(values)
    if not finite.any() or np.ptp(values[finite]) <= 1e-6:
        return centroid_index(inside)
    masked = np.where(finite, values, np.inf if pick is np.argmin else -np.inf)
    return tuple(int(v) for v in np.unravel_index(int(pick(masked)), values.shape))


def review_pictures(
    fixed: Volume,
    moving: Volume,
    field: DisplacementField,
    report: QualityReport,
    *,
    structures: Mapping[str, Volume] | None = None,
    region: Any = None,
    uncertainty: Volume | None = None,
    tolerances: tuple[float, float] = (0.5, 2.0),
    uncertainty_limit_mm: float = 3.0,
) -> list[Picture]:
    """The review pictures of one registration (see the module docstring).

    Parameters
    ----------
    fixed, moving : Volume
        The CTs (HU); ``fixed`` on the field's grid.
    field : DisplacementField
        Fixed -> moving (moving point = p + u(p), mm, LPS).
    report : QualityReport
        From :func:`assess`: its Jacobian map and propagated structures are shown.
    structures : mapping name -> fixed-grid mask, optional
        The reference's structures (organs at risk): one review picture through each centroid;
        one through the grid centre when there are none.
    region : bool array, optional
        The body: the Jacobian picture passes through its smallest determinant there.
    uncertainty : Volume, optional
        Per-voxel registration uncertainty (mm) on the fixed grid.
    tolerances : (float, float)
        The Jacobian range of the checks, marked on the colour bar.
    uncertainty_limit_mm : float
        The uncertainty check's threshold (mm), marked on its colour bar.
    """
    structures = dict(structures or {})
    pictures = []
    centres = {name: centroid_index(mask.array) for name, mask in structures.items() if np.asarray(mask.array).any()}
    for name, index in (centres or {GRID_CENTRE: centroid_index(np.zeros(fixed.grid.shape, bool))}).items():
        pictures.append(_review_picture(name, index, fixed, moving, field, structures, report.propagated))
    inside = np.ones(fixed.grid.shape, bool) if region is None else np.asarray(region, dtype=bool)
    if report.jacobian is not None:
        jac = np.asarray(report.jacobian.array)
        index = _through(jac, inside, np.argmin)
        low = float(jac[index])
        pictures.append(
            _map_picture(
                "jacobian.png",
                report.jacobian,
                index,
                f"Jacobian determinant through its smallest value in the body ({low:.2f}, voxel z, y, x = {tuple(index)})",
                f"Jacobian determinant of the registration over the fixed CT, inside the body (log scale; blue: "
                f"compression, red: expansion; folded voxels, J <= 0, darkest blue); the bars on the scale mark the checks' "
                f"range {tolerances[0]:g}-{tolerances[1]:g}",
                ct=fixed,
                inside=inside,
                jacobian=tolerances,
            )  # fmt: skip
        )
    if uncertainty is not None:
        values = np.asarray(uncertainty.array, float)
        index = _through(values, inside, np.argmax)
        pictures.append(
            _map_picture(
                "uncertainty.png",
                uncertainty,
                index,
                f"Registration uncertainty through its largest value in the body ({float(values[index]):.2f} mm, voxel z, "
                f"y, x = {tuple(index)})",
                f"per-voxel registration uncertainty (mm) over the fixed CT, inside the body; the red bar on the scale marks "
                f"the check's {uncertainty_limit_mm:g} mm (95th percentile inside each organ at risk)",
                ct=fixed,
                inside=inside,
                limit=uncertainty_limit_mm,
            )  # fmt: skip
        )
    return pictures


def write_pictures(folder: Any, fixed: Volume, moving: Volume, field: DisplacementField, report: QualityReport,
                   **options: Any) -> list[Path]:  # fmt: skip
    """Write :func:`review_pictures` as PNG files into ``folder`` (created); returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_png(picture, folder / picture.name) for picture in review_pictures(fixed, moving, field, report, **options)]


def write_png(picture: Picture, path: Any) -> Path:
    """Write one picture's pixels as a PNG file."""
    from matplotlib.image import imsave

    imsave(path, picture.rgb, format="png")
    return Path(path)


def report_figures(pictures: list[Picture]) -> list[Any]:
    """The pictures as the HTML report's :class:`accumulate.report.Figure` objects (embedded PNG)."""
    import io

    from matplotlib.image import imsave

    from ..report import Figure

    figures = []
    for picture in pictures:
        buffer = io.BytesIO()
        imsave(buffer, picture.rgb, format="png")
        figures.append(Figure(picture.caption, png=buffer.getvalue()))
    return figures
