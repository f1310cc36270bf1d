"""Structures sampled at their own resolution: sub-voxel points inside the contours, each with its volume.

A structure is the solid its closed planar contours describe; :func:`sample_structure` fills
it with points, independently of any dose grid, so that DVH metrics are properties of the
structure (evaluate a dose at the points with :func:`values_at_points`, then
:func:`accumulate.evaluation.dvh_from_samples`).

Geometry
--------
* **Plane frame.** The contours must be planar and parallel to one another: the common normal
  ``n`` is the area-weighted mean of the contours' normals (sign: positive along its largest
  LPS component), and every contour's points must lie within 0.5 mm of their plane along
  ``n`` (else :class:`GeometryError`). Oblique planes are sampled in a frame of their own:
  ``e_u`` is the first LPS axis (x, y, z) at least 60 degrees off ``n``, projected onto the
  plane, and ``e_v = n x e_u`` (axial contours: ``e_u`` = x, ``e_v`` = y, ``n`` = z; components
  of ``n`` under 1e-9 are taken as 0, so the frame does not depend on rounding).
* **Slabs** (:func:`accumulate.io.slab_extents`, the rasteriser's rule): contours within
  0.05 mm along ``n`` form one plane; each plane's slab reaches halfway to the neighbouring
  plane; at an end, or a gap wider than 1.5 times the median plane spacing, it reaches half
  the median spacing (``end_caps="full"``, the default: every plane stands for one whole CT
  slice, as in the voxel rasteriser, CERR and on average for an organ end anywhere within
  the slice) or stops at the plane (``end_caps="half"``: the solid runs from the first to the
  last plane, as dicompyler-core's structure volume; the breast plan's planning system in
  tests/data lies close to it).
* **In-plane**: the even-odd region of the plane's polygons (holes, islands).

Samples
-------
* **Volume samples** (jittered stratified sampling). The plane is cut into square cells of
  side ``r`` on a lattice anchored on the structure's own extent (its smallest ``u`` and ``v``,
  less 0.38 ``r``, so that a translated structure is sampled identically). Each cell's area
  inside the region is exact (Green's theorem on the region clipped to the cell), so a plane's
  samples hold exactly its area and the structure exactly its contours' volume (sum of area x
  slab thickness). Along ``n`` each slab of thickness ``T`` has ``m = ceil(T / r)`` layers.
  Every (cell, layer) holds one sample at a deterministic pseudo-random place (splitmix64 of
  the cell's lattice indices, the layer and the plane): a whole cell anywhere in it; a partial
  cell on the scanline through its jittered ``v`` (clamped to the region's extent in the
  cell), at a jittered place along each inside piece of that line, the cell's area shared by
  piece length. The height is jittered within the layer. Where a plane's contours cross one
  another (nesting undefined), its cell areas are measured on 4 scanlines per cell row
  instead, and ``notes`` says so. Jittering spreads the doses of a cell column over
  the column's width, so near-maximum metrics resolve gradients finer than ``r``; weights and
  positions change continuously when a contour moves.
* **Boundary samples** (volume 0, for Dmax, Dmin and surface maxima): points along every
  contour, evenly spaced by arc length at most ``r`` apart (plus its sharp vertices), at both
  slab faces and at every layer's centre; and points on the exposed part of each slab face
  (the whole face at an end; at an interface between planes, the part the neighbouring plane
  does not cover), at the in-plane positions of the nearest layer's samples.

Resolution rule
---------------
``r`` = the smallest in-plane cross-section width of the structure (``4 A / P`` of a plane:
area over perimeter, the diameter of a circle) divided by 10, clipped to [0.2, 1.0] mm: a
3 mm optic nerve is sampled at 0.3 mm, a 5 mm one at 0.5 mm, a cord or larger organ at 1 mm.
Then, if the estimated number of samples (volume and boundary) exceeds ``max_points``
(250 000 by default), ``r`` grows by 5 % steps until it does not: a BODY or brain is sampled
at a few mm, about the dose grid's resolution. An explicit ``resolution_mm`` is used as given.

Surface and core
----------------
* **Surface**: every boundary sample, and the volume samples within ``surface_mm`` (default
  ``r``: the outer layer of samples) of the solid's boundary: in-plane distance to the plane's
  contours, or distance along ``n`` to an exposed slab face (an end cap, or a step where the
  neighbouring plane does not cover the sample). "Surface Dmax" is then the maximum over the
  organ's outer boundary, which equals Dmax unless the dose peaks inside the organ.
* **Core** (the MSK proton re-irradiation protocol's "central 3 mm diameter structure inside
  the organ"): per contour plane, the disc of diameter ``core_diameter_mm`` around the plane's
  centre, through the plane's whole slab, clipped to the region. The centre is the area
  centroid of the plane's region. When the disc lies inside the region (no contour within its
  radius of the centroid), the disc and the rest of the region are sampled as two regions, so
  the core's volume is exact; otherwise (a thin organ; or a centroid outside the region, when
  the centre is the whole cell farthest from the contours among up to 1024 spread ones) the
  volume samples within the radius of the centre are the core. Zero-volume points on the
  disc's circle and at its centre (inside the region) make "core Dmax" the maximum over the
  whole core disc.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from ..errors import GeometryError, InputError
from ..io import plane_groups, slab_extents
from . import _polygons as poly

log = logging.getLogger(__name__)

MM3_PER_CC = 1000.0
SAMPLES_ACROSS = 10
FINEST_MM = 0.2
COARSEST_MM = 1.0
DEFAULT_MAX_POINTS = 250_000
LINES_PER_CELL = 4
CORE_DIAMETER_MM = 3.0
PLANARITY_MM = 0.5
_POLE_CANDIDATES = 1024
_TOUCH_MM = 1e-6
_LATTICE_OFFSET = (3 - math.sqrt(5)) / 2  # lattice lines clear of the extreme vertices


@dataclass(frozen=True, eq=False)
class StructureSamples:
    """Sample points of one structure and the volume each stands for.

    Attributes
    ----------
    name : str
    points_mm : (n, 3) float array
        LPS positions (x, y, z), mm.
    volumes_cc : (n,) float array
        Volume each sample stands for, cm^3; 0 for boundary samples (see the module docstring).
    spacing_mm : (float, float, float)
        The in-plane resolution along ``e_u`` and ``e_v`` and the largest sub-plane spacing
        along the normal, mm.
    surface, core : (n,) bool arrays
        Samples of the structure's surface and of its central core (module docstring).
    method : str
        One line for summaries and reports: resolution, sub-planes, end caps, sample counts.
    normal : (3,) float
        Unit normal (LPS) of the contour planes.
    planes : int
        Number of contour planes.
    contour_volume_cc : float
        The contours' own volume: sum over planes of the exact even-odd area (Green's theorem)
        times the slab thickness, cm^3.
    surface_mm, core_diameter_mm : float
        The distances the surface and core were defined with, mm.
    notes : tuple of str
        What was noticed while sampling (crossing contours), also logged.
    """

    name: str
    points_mm: np.ndarray
    volumes_cc: np.ndarray
    spacing_mm: tuple[float, float, float]
    surface: np.ndarray
    core: np.ndarray
    method: str
    normal: tuple[float, float, float]
    planes: int
    contour_volume_cc: float
    surface_mm: float
    core_diameter_mm: float
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.volumes_cc)

    @property
    def total_cc(self) -> float:
        """Sum of the sample volumes, cm^3."""
        return float(self.volumes_cc.sum())

    @property
    def resolution_mm(self) -> float:
        """The in-plane resolution ``r``, mm."""
        return float(self.spacing_mm[0])

    def subset(self, keep: np.ndarray, note: str) -> StructureSamples:
        """The samples where ``keep`` (n,) is True, e.g. those inside a dose grid; ``note`` says why, for reports.

        ``contour_volume_cc`` stays the whole structure's, so ``total_cc`` tells what was left out.
        """
        keep = np.asarray(keep, dtype=bool).reshape(-1)
        if keep.shape != self.volumes_cc.shape:
            raise InputError(f"structure {self.name!r}: subset needs one flag per sample ({len(self)}), got {keep.size}")
        kept = self.volumes_cc[keep].sum()
        line = f"{note}: {kept:.4g} of {self.total_cc:.4g} cc kept"
        return replace(
            self,
            points_mm=self.points_mm[keep],
            volumes_cc=self.volumes_cc[keep],
            surface=self.surface[keep],
            core=self.core[keep],
            method=f"{self.method}; {line}",
            notes=(*self.notes, line),
        )


@dataclass(frozen=True, eq=False)
class _Plane:
    height_mm: float
    below_mm: float
    above_mm: float
    region: poly.Region

    @property
    def thickness_mm(self) -> float:
        return self.below_mm + self.above_mm


@dataclass(frozen=True)
class _Frame:
    e_u: np.ndarray
    e_v: np.ndarray
    normal: np.ndarray

    def project(self, points: np.ndarray) -> np.ndarray:
        return points @ np.stack([self.e_u, self.e_v, self.normal], axis=1)

    def world(self, u: np.ndarray, v: np.ndarray, h: np.ndarray) -> np.ndarray:
        return u[:, None] * self.e_u + v[:, None] * self.e_v + h[:, None] * self.normal


def _clean(contours: Iterable[np.ndarray], what: str) -> list[np.ndarray]:
    """(k, 3) float arrays without a repeated closing vertex or repeated consecutive vertices; k >= 3."""
    out = []
    for contour in contours:
        c = np.asarray(contour, dtype=float).reshape(-1, 3)
        if len(c) > 1 and np.array_equal(c[0], c[-1]):
            c = c[:-1]
        if len(c):
            c = c[np.concatenate([[True], np.any(np.diff(c, axis=0) != 0, axis=1)])]
        if len(c) >= 3:
            out.append(c)
    if not out:
        raise InputError(f"{what}: no closed contour with 3 or more distinct points; it is not a volume")
    return out


def _frame(contours: list[np.ndarray], what: str) -> _Frame:
    """The contours' common plane frame (module docstring)."""
    normals = []
    for c in contours:
        d = c - c.mean(axis=0)
        normals.append(0.5 * np.cross(d, np.roll(d, -1, axis=0)).sum(axis=0))  # Newell: area vector
    normals = np.asarray(normals)
    reference = normals[np.argmax(np.linalg.norm(normals, axis=1))]
    total = (normals * np.where(normals @ reference < 0, -1.0, 1.0)[:, None]).sum(axis=0)
    length = float(np.linalg.norm(total))
    if length == 0:
        raise GeometryError(f"{what}: the contours enclose no area (all degenerate); it is not a volume")
    normal = total / length
    normal = np.where(np.abs(normal) < 1e-9, 0.0, normal)  # axial contours: exactly axial, not by rounding
    normal = normal * np.sign(normal[np.argmax(np.abs(normal))]) / np.linalg.norm(normal)
    axis = np.eye(3)[int(np.flatnonzero(np.abs(normal) < 0.5)[0])]  # the first LPS axis at least 60 degrees off the normal
    e_u = axis - (axis @ normal) * normal
    e_u /= np.linalg.norm(e_u)
    return _Frame(e_u, np.cross(normal, e_u), normal)


def _planes(contours: list[np.ndarray], frame: _Frame, end_caps: str, single_plane_mm: float | None, what: str) -> list[_Plane]:
    projected = [frame.project(c) for c in contours]
    heights = []
    for c, p in zip(contours, projected, strict=True):
        spread = float(np.ptp(p[:, 2]))
        if spread > PLANARITY_MM:
            raise GeometryError(
                f"{what}: a contour (first point {np.round(c[0], 2).tolist()} mm) spreads {spread:.2f} mm along the "
                f"contours' common normal {np.round(frame.normal, 4).tolist()}; contours must be planar and parallel to "
                f"one another (within {PLANARITY_MM} mm)"
            )
        heights.append(float(p[:, 2].mean()))
    groups = plane_groups(np.asarray(heights))
    if len(groups) == 1 and single_plane_mm is None:
        raise GeometryError(
            f"{what}: all contours lie in one plane, which has no thickness of its own; pass single_plane_mm "
            "(the CT slice spacing)"
        )
    positions = np.asarray([np.mean([heights[i] for i in g]) for g in groups])
    below, above = slab_extents(positions, single_plane_mm=single_plane_mm or 0.0, end_caps=end_caps)
    return [
        _Plane(float(h), float(b), float(a), poly.region([projected[i][:, :2] for i in g]))
        for h, b, a, g in zip(positions, below, above, groups, strict=True)
    ]


def _sub_planes(thickness_mm: float, r: float) -> int:
    """Layers of a slab: ``ceil(T / r)``, at least one."""
    return max(1, math.ceil(thickness_mm / r - 1e-9))


def choose_resolution(planes_area_perimeter: Iterable[tuple[float, float, float]], max_points: int = DEFAULT_MAX_POINTS) -> float:
    """The automatic resolution ``r`` (mm) of the module docstring's rule.

    ``planes_area_perimeter``: (area mm^2, perimeter mm, slab thickness mm) of each plane. The
    estimated count of a plane with ``m`` layers: ``A / r^2 m`` volume samples, ``P / r (m + 2)``
    boundary points and ``2 A / r^2`` face points.

    Parameters
    ----------
    planes_area_perimeter : iterable of (float, float, float)
        As above.
    max_points : int
        Cap on the estimated sample count.

    Returns
    -------
    float
        ``r``, mm.

    Raises
    ------
    GeometryError
        No plane encloses any area.

    Examples
    --------
    >>> choose_resolution([(400.0, 80.0, 2.0)] * 5)  # a 20 mm square on five planes
    1.0
    """
    rows = [(a, p, t) for a, p, t in planes_area_perimeter if a > 0 and p > 0]
    if not rows:
        raise GeometryError("no contour plane encloses any area; cannot choose a sampling resolution")
    width = min(4 * a / p for a, p, _ in rows)
    r = min(max(width / SAMPLES_ACROSS, FINEST_MM), COARSEST_MM)

    def estimate(step: float) -> float:
        return sum((a / step**2) * (_sub_planes(t, step) + 2) + p / step * (_sub_planes(t, step) + 2) for a, p, t in rows)

    while estimate(r) > max_points:
        r *= 1.05
    return r


_MIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93)


def jitter(*keys: np.ndarray) -> np.ndarray:
    """A deterministic pseudo-random number in [0, 1) for each combination of integer keys (splitmix64)."""
    x = np.zeros(np.broadcast(*keys).shape, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for key, mix in zip(keys, _MIX, strict=False):
            x = (x ^ (np.asarray(key).astype(np.int64).astype(np.uint64) * np.uint64(mix))) * np.uint64(_MIX[1])
            x ^= x >> np.uint64(31)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(_MIX[1])
        x = (x ^ (x >> np.uint64(27))) * np.uint64(_MIX[2])
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _cut(row: np.ndarray, a: np.ndarray, b: np.ndarray, u0: float, step: float) -> tuple[np.ndarray, ...]:
    """Intervals ``[a, b)`` of ``row`` cut at the columns ``u0 + j step``: (row, column j, piece start, length)."""
    keep = b > a
    row, a, b = row[keep], a[keep], b[keep]
    first = np.floor((a - u0) / step).astype(np.int64)
    count = np.floor((b - u0) / step).astype(np.int64) - first + 1
    which = np.repeat(np.arange(len(count)), count)
    column = first[which] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    lo = np.maximum(a[which], u0 + column * step)
    hi = np.minimum(b[which], u0 + (column + 1) * step)
    keep = hi > lo
    return row[which][keep], column[keep], lo[keep], (hi - lo)[keep]


@dataclass(frozen=True, eq=False)
class _Part:
    """A region of one plane with its lattice cells: exact areas (mm^2), which cells are whole, which deep inside."""

    region: poly.Region
    cells: poly.Cells
    area: np.ndarray
    whole: np.ndarray
    deep: np.ndarray  # whole cells at least ``rings + 1`` cells from any cell the contours cross
    in_core: bool


def _deep_cells(band: np.ndarray, column: np.ndarray, rings: int) -> np.ndarray:
    """Whether every cell within ``rings`` cells (Chebyshev) of each given cell is among the given cells."""
    if not len(band):
        return np.zeros(0, dtype=bool)
    rows, cols = band - band.min() + rings + 1, column - column.min() + rings + 1
    grid = np.zeros((rows.max() + rings + 1, cols.max() + rings + 1))
    grid[rows, cols] = 1
    total = np.pad(grid.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    hi_r, lo_r, hi_c, lo_c = rows + rings + 1, rows - rings, cols + rings + 1, cols - rings
    count = total[hi_r, hi_c] - total[lo_r, hi_c] - total[hi_r, lo_c] + total[lo_r, lo_c]
    return count >= (2 * rings + 1) ** 2 - 0.5


def _match(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each key, whether it is among ``wanted`` and at which index."""
    if not len(wanted):
        return np.zeros(len(keys), dtype=bool), np.zeros(len(keys), dtype=np.int64)
    order = np.argsort(wanted, kind="stable")
    at = np.clip(np.searchsorted(wanted[order], keys), 0, len(wanted) - 1)
    return wanted[order][at] == keys, order[at]


def _scanned_areas(reg: poly.Region, lattice: tuple[float, float, float], cells: poly.Cells) -> np.ndarray:
    """Cell areas measured on ``LINES_PER_CELL`` scanlines per band (for contours that cross one another)."""
    u0, v0, r = lattice
    bands = np.arange(cells.band.min(), cells.band.max() + 1)
    lines_v = v0 + (bands[:, None] + (np.arange(LINES_PER_CELL) + 0.5) / LINES_PER_CELL).reshape(-1) * r
    line, a, b = poly.row_intervals(reg, lines_v)
    line, column, _, length = _cut(line, a, b, u0, r)
    hit, index = _match(_key(bands[line // LINES_PER_CELL], column), _key(cells.band, cells.column))
    out = np.zeros(len(cells.area))
    np.add.at(out, index[hit], length[hit] * r / LINES_PER_CELL)
    return out


def _part(reg: poly.Region, lattice: tuple[float, float, float], rings: int, in_core: bool) -> _Part:
    c = poly.cells(reg, *lattice)
    r = lattice[2]
    area = c.area if reg.consistent else _scanned_areas(reg, lattice, c)
    whole = c.area >= r * r * (1 - 1e-9)
    deep = np.zeros(len(area), dtype=bool)
    deep[whole] = _deep_cells(c.band[whole], c.column[whole], rings + 1)
    return _Part(reg, c, area, whole, deep, in_core)


def _layers(part: _Part, lattice: tuple[float, float, float], layers: int, code: int) -> tuple[np.ndarray, ...]:
    """Volume samples of a part in every layer: (uv (k, 2), area (k,) mm^2, cell index (k,), layer index (k,)).

    The jitter is keyed by (band, column, layer, ``3 code + 0 or 1``). A whole cell holds one point at a jittered position;
    a partial cell one point per inside piece of the scanline through its jittered ``v``
    (clamped to the region's extent in the cell), at a jittered place along the piece, the
    cell's area shared by piece length; a cell whose scanline holds no piece (a tip) its region
    point at that end of its extent.
    """
    u0, v0, r = lattice
    c = part.cells
    k = np.arange(layers)[:, None]
    s, t = jitter(c.band, c.column, k, np.full(1, 3 * code)), jitter(c.band, c.column, k, np.full(1, 3 * code + 1))  # (m, n)
    v = v0 + (c.band + s) * r
    whole_layer, whole = np.nonzero(np.broadcast_to(part.whole, v.shape))
    partial_layer, partial = np.nonzero(np.broadcast_to(~part.whole, v.shape))
    v_partial = np.clip(v[partial_layer, partial], c.v_low[partial], c.v_high[partial])
    lines_v, line_of = np.unique(v_partial, return_inverse=True)
    line, a, b = poly.row_intervals(part.region, lines_v)
    line, column, lo, length = _cut(line, a, b, u0, r)
    hit, index = _match(_key(line, column), _key(line_of, c.column[partial]))
    pair, length = index[hit], length[hit]  # the (layer, partial cell) pair of each matching piece
    held = np.bincount(pair, weights=length, minlength=len(partial))
    tip = np.flatnonzero(held == 0)
    tip_v = v_partial[tip]
    near_low = np.abs(tip_v - c.v_low[partial[tip]]) <= np.abs(tip_v - c.v_high[partial[tip]])
    tip_u = np.where(near_low, c.u_low[partial[tip]], c.u_high[partial[tip]])
    u = np.concatenate([
        u0 + (c.column[whole] + t[whole_layer, whole]) * r,
        lo[hit] + t[partial_layer[pair], partial[pair]] * length,
        tip_u,
    ])  # fmt: skip
    v_out = np.concatenate([v[whole_layer, whole], v_partial[pair], tip_v])
    cell = np.concatenate([whole, partial[pair], partial[tip]])
    layer = np.concatenate([whole_layer, partial_layer[pair], partial_layer[tip]])
    share = np.concatenate([np.ones(len(whole)), length / held[pair], np.ones(len(tip))])
    return np.stack([u, v_out], axis=1), part.area[cell] * share, cell, layer


def _farthest(reg: poly.Region, uv: np.ndarray) -> np.ndarray:
    """The point farthest from the contours, among up to 1024 evenly spread ones of ``uv`` (cell centres)."""
    candidates = uv[:: max(1, len(uv) // _POLE_CANDIDATES)]
    limit = 0.5 * math.sqrt(reg.area_mm2) + 1e-9
    distance = poly.distance_within(candidates, reg, limit)
    distance[np.isinf(distance)] = limit
    return candidates[int(np.argmax(distance))]


def _disc(centre: np.ndarray, radius: float, r: float) -> np.ndarray:
    """A regular polygon with the area of the disc (at least 64 vertices, about r / 4 apart), counter-clockwise."""
    count = max(64, math.ceil(8 * math.pi * radius / r))
    scale = math.sqrt(2 * math.pi / (count * math.sin(2 * math.pi / count)))
    angle = 2 * math.pi * np.arange(count) / count
    return centre + radius * scale * np.stack([np.cos(angle), np.sin(angle)], axis=1)


@dataclass(frozen=True, eq=False)
class _Core:
    """A plane's parts (the core disc and the rest, or the whole region), the core's centre and zero-volume points."""

    parts: list[_Part]
    centre: np.ndarray
    radius: float
    points: np.ndarray
    exact: bool


def _core_split(reg: poly.Region, lattice: tuple[float, float, float], rings: int, radius: float) -> _Core:
    """The plane's parts with its core (module docstring).

    When the core disc lies inside the region (no contour within ``radius`` of the centroid),
    the disc and the rest (the plane's polygons with the disc as a hole) are two parts, so the
    core's volume is exact; otherwise one part, whose samples are core by their distance to the
    centre.
    """
    centroid_inside = bool(poly.crossings_inside(reg.centroid[None, :], reg.start, reg.stop)[0])
    if centroid_inside and np.isinf(poly.distance_within(reg.centroid[None, :], reg, radius)[0]):
        disc = _disc(reg.centroid, radius, lattice[2])
        core = _part(poly.region([disc]), lattice, rings, True)
        rest = _part(poly.region([*reg.polygons, disc]), lattice, rings, False)
        points = np.concatenate([reg.centroid[None, :], poly.boundary_points(core.region, lattice[2])])
        return _Core([core, rest], reg.centroid, radius, points, True)
    whole = _part(reg, lattice, rings, False)
    if centroid_inside or not len(whole.area):
        centre = reg.centroid
    else:
        c = whole.cells
        pick = whole.whole if whole.whole.any() else np.ones(len(c.area), dtype=bool)
        u0, v0, r = lattice
        centre = _farthest(reg, np.stack([u0 + (c.column[pick] + 0.5) * r, v0 + (c.band[pick] + 0.5) * r], axis=1))
    count = max(16, math.ceil(2 * math.pi * radius / lattice[2]))
    angle = 2 * math.pi * np.arange(count) / count
    ring = np.concatenate([centre[None, :], centre + radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)])
    return _Core([whole], centre, radius, ring[poly.crossings_inside(ring, reg.start, reg.stop)], False)


class _Collector:
    """Samples of the planes as they are made: (u, v, h, volume mm^3, surface, core) chunks."""

    def __init__(self) -> None:
        self.chunks: list[tuple[np.ndarray, ...]] = []

    def add(self, uv: np.ndarray, heights: np.ndarray, volume, surface, core) -> None:
        """Every position at every height (``heights`` (k,)); the other values broadcast to (k, n)."""
        heights = np.asarray(heights, dtype=float).reshape(-1)
        k, n = len(heights), len(uv)
        if not k or not n:
            return
        shape = (k, n)
        self.chunks.append(
            (
                np.tile(uv[:, 0], k),
                np.tile(uv[:, 1], k),
                np.repeat(heights, n),
                np.broadcast_to(volume, shape).reshape(-1),
                np.broadcast_to(surface, shape).reshape(-1),
                np.broadcast_to(core, shape).reshape(-1),
            )
        )

    def add_points(self, uv: np.ndarray, heights: np.ndarray, volume: np.ndarray, surface: np.ndarray, core: np.ndarray) -> None:
        """One sample per row of ``uv``, at its own height."""
        if len(uv):
            self.chunks.append((uv[:, 0], uv[:, 1], heights, volume, surface, core))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(column) for column in zip(*self.chunks, strict=True))


def _neighbour(planes: list[_Plane], index: int, step: int) -> bool:
    """Whether a plane's slab touches plane ``index``'s on the side ``step`` (-1 below, +1 above)."""
    other = index + step
    if not 0 <= other < len(planes):
        return False
    plane, near = planes[index], planes[other]
    face = plane.height_mm + (plane.above_mm if step > 0 else -plane.below_mm)
    near_face = near.height_mm + (-near.below_mm if step > 0 else near.above_mm)
    return abs(face - near_face) < _TOUCH_MM


@dataclass(frozen=True, eq=False)
class _Cover:
    """Which lattice cells a plane's region holds whole, and which in part (sorted keys ``band << 32 | column``)."""

    region: poly.Region
    whole: np.ndarray
    partial: np.ndarray

    @classmethod
    def of(cls, reg: poly.Region, parts: list[_Part], lattice: tuple[float, float, float]) -> _Cover:
        """From the plane's parts (the core disc and the rest together cover the region's cells)."""
        keys = np.concatenate([_key(p.cells.band, p.cells.column) for p in parts])
        cells, cell_of = np.unique(keys, return_inverse=True)
        area = np.bincount(cell_of, weights=np.concatenate([p.cells.area for p in parts]))
        whole = area >= lattice[2] ** 2 * (1 - 1e-9)
        return cls(reg, cells[whole], cells[~whole])

    def holds(self, uv: np.ndarray, lattice: tuple[float, float, float]) -> np.ndarray:
        """Whether each point is inside the region: by its cell, tested exactly only in partial cells."""
        u0, v0, r = lattice
        keys = _key(np.floor((uv[:, 1] - v0) / r).astype(np.int64), np.floor((uv[:, 0] - u0) / r).astype(np.int64))
        inside = _sorted_member(self.whole, keys)
        edge = np.flatnonzero(_sorted_member(self.partial, keys))
        inside[edge] = poly.crossings_inside(uv[edge], self.region.start, self.region.stop)
        return inside


def _key(band: np.ndarray, column: np.ndarray) -> np.ndarray:
    return band * (1 << 32) + (column + (1 << 31))


def _sorted_member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.clip(np.searchsorted(sorted_keys, keys), 0, len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _exposed(neighbour: _Cover | None, uv: np.ndarray, lattice: tuple[float, float, float]) -> np.ndarray:
    """Whether each position of a slab face is on the structure's surface (not covered by the touching plane)."""
    if neighbour is None:
        return np.ones(len(uv), dtype=bool)
    return ~neighbour.holds(uv, lattice)


def _sample_plane(
    planes: list[_Plane],
    cores: list[_Core],
    covers: list[_Cover],
    index: int,
    lattice: tuple[float, float, float],
    surface_mm: float,
    out: _Collector,
) -> tuple[float, int, bool, bool]:
    """Add plane ``index``'s samples to ``out``; returns (layer thickness, layers, exact areas, exact core)."""
    r = lattice[2]
    plane, core = planes[index], cores[index]
    reg = plane.region
    lo_face, hi_face = plane.height_mm - plane.below_mm, plane.height_mm + plane.above_mm
    below, above = (covers[index + step] if _neighbour(planes, index, step) else None for step in (-1, 1))
    m = _sub_planes(plane.thickness_mm, r)
    layer = plane.thickness_mm / m
    for part in core.parts:
        code = 2 * index + part.in_core
        uv, area, cell, k = _layers(part, lattice, m, code)
        c = part.cells
        h = lo_face + (k + jitter(c.band[cell], c.column[cell], k, np.full(1, 3 * code + 2))) * layer
        surface = np.zeros(len(uv), dtype=bool)
        near = np.flatnonzero(~part.deep[cell])
        surface[near] = np.isfinite(poly.distance_within(uv[near], reg, surface_mm))
        in_core = np.full(len(uv), part.in_core) if core.exact else np.linalg.norm(uv - core.centre, axis=1) <= core.radius
        faces = []
        for face, neighbour, depth, nearest in ((lo_face, below, h - lo_face, k == 0), (hi_face, above, hi_face - h, k == m - 1)):
            tested = np.flatnonzero((depth <= surface_mm) | nearest)
            exposed = tested[_exposed(neighbour, uv[tested], lattice)]
            surface[exposed[depth[exposed] <= surface_mm]] = True
            faces.append((face, exposed[nearest[exposed]]))  # the face's exposed part, at its nearest layer's positions
        out.add_points(uv, h, area * layer, surface, in_core)
        for face, exposed in faces:
            out.add(uv[exposed], np.asarray([face]), np.zeros(1), np.ones(1, dtype=bool), in_core[exposed][None, :])
    faces = np.concatenate([[lo_face], lo_face + (np.arange(m) + 0.5) * layer, [hi_face]])
    out.add(poly.boundary_points(reg, r), faces, np.zeros(1), np.ones(1, dtype=bool), np.zeros(1, dtype=bool))
    core_surface = np.isfinite(poly.distance_within(core.points, reg, surface_mm))
    out.add(core.points, faces, np.zeros(1), core_surface[None, :], np.ones(1, dtype=bool))
    return layer, m, all(p.region.consistent for p in core.parts), core.exact


def sample_structure(
    contours: Iterable[np.ndarray],
    *,
    name: str = "structure",
    resolution_mm: float | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    end_caps: str = "full",
    single_plane_mm: float | None = None,
    surface_mm: float | None = None,
    core_diameter_mm: float = CORE_DIAMETER_MM,
) -> StructureSamples:
    """Sample the solid described by closed planar contours (rules: the module docstring).

    Parameters
    ----------
    contours : iterable of (k, 3) arrays
        Closed polygons, LPS mm (e.g. :func:`accumulate.io.read_contours`); a repeated closing
        vertex is ignored. All planar and parallel to one another, any orientation.
    name : str
        The structure's name (messages, the result).
    resolution_mm : float, optional
        In-plane resolution ``r``; by default the resolution rule (module docstring).
    max_points : int
        Cap on the estimated sample count for the automatic resolution.
    end_caps : {"full", "half"}
        How far the end planes' slabs reach (module docstring).
    single_plane_mm : float, optional
        Slab thickness of a structure contoured on a single plane (the CT slice spacing);
        required for such a structure.
    surface_mm : float, optional
        Depth of the surface layer; default ``r``.
    core_diameter_mm : float
        Diameter of the core (3 mm in the MSK protocol).

    Returns
    -------
    StructureSamples

    Raises
    ------
    InputError
        No contour with 3 distinct points; bad parameters.
    GeometryError
        Contours not planar or not parallel; a single plane without ``single_plane_mm``.

    Examples
    --------
    A 20 x 20 mm square contoured on five planes 2 mm apart: with full end caps each plane's slab
    is 2 mm thick, 5 x 2 mm x 400 mm^2 = 4 cc (half end caps: the end slabs are 1 mm, 3.2 cc).

    >>> square = [np.array([[0, 0, z], [20, 0, z], [20, 20, z], [0, 20, z]], float) for z in (0, 2, 4, 6, 8)]
    >>> round(sample_structure(square, name="box", resolution_mm=1.0).total_cc, 9)
    4.0
    >>> round(sample_structure(square, name="box", resolution_mm=1.0, end_caps="half").total_cc, 9)
    3.2
    """
    what = f"structure {name!r}"
    for label, value in (("resolution_mm", resolution_mm), ("surface_mm", surface_mm), ("single_plane_mm", single_plane_mm)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"{what}: {label} must be a positive number of mm, got {value!r}")
    if not core_diameter_mm > 0 or int(max_points) < 1:
        raise InputError(f"{what}: core_diameter_mm and max_points must be positive, got {core_diameter_mm!r}, {max_points!r}")
    cleaned = _clean(contours, what)
    frame = _frame(cleaned, what)
    planes = [p for p in _planes(cleaned, frame, end_caps, single_plane_mm, what) if p.region.area_mm2 > 0]
    if not planes:
        raise GeometryError(f"{what}: no contour plane encloses any area; it is not a volume")
    if resolution_mm is None:
        r = choose_resolution(((p.region.area_mm2, p.region.perimeter_mm, p.thickness_mm) for p in planes), max_points)
    else:
        r = float(resolution_mm)
    depth = float(surface_mm) if surface_mm is not None else r
    every = np.concatenate([p.region.start for p in planes])
    u0, v0 = float(every[:, 0].min()) - _LATTICE_OFFSET * r, float(every[:, 1].min()) - _LATTICE_OFFSET * r
    out = _Collector()
    layers, counts, notes, exact_cores = [], [], [], 0
    lattice = (u0, v0, r)
    cores = [_core_split(p.region, lattice, math.ceil(depth / r - 1e-9), core_diameter_mm / 2) for p in planes]
    covers = [_Cover.of(p.region, c.parts, lattice) for p, c in zip(planes, cores, strict=True)]
    for index in range(len(planes)):
        layer, m, corrected, exact_core = _sample_plane(planes, cores, covers, index, lattice, depth, out)
        layers.append(layer)
        counts.append(m)
        exact_cores += exact_core
        if not corrected:
            notes.append(f"plane at {planes[index].height_mm:.2f} mm: contours cross one another; areas as scanned")
    for note in notes:
        log.warning("%s: %s", what, note)
    u, v, h, volume, surface, core = out.arrays()
    volumes_cc = volume / MM3_PER_CC
    weighted = int(np.count_nonzero(volumes_cc > 0))
    sub = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
    method = (
        f"structure-sampled: {r:.3g} mm cells in-plane, {sub} layers per slab (<= {max(layers):.3g} mm), "
        f"{end_caps} end caps; {weighted} volume + {len(volumes_cc) - weighted} boundary samples; "
        f"core disc exact in {exact_cores} of {len(planes)} planes"
    )
    contour_cc = sum(p.region.area_mm2 * p.thickness_mm for p in planes) / MM3_PER_CC
    return StructureSamples(
        name=name,
        points_mm=frame.world(u, v, h),
        volumes_cc=volumes_cc,
        spacing_mm=(r, r, max(layers)),
        surface=surface.astype(bool),
        core=core.astype(bool),
        method=method,
        normal=tuple(float(c) for c in frame.normal),
        planes=len(planes),
        contour_volume_cc=contour_cc,
        surface_mm=depth,
        core_diameter_mm=float(core_diameter_mm),
        notes=tuple(notes),
    )


def sample_structures(contours: Mapping[str, Iterable[np.ndarray]], **options) -> dict[str, StructureSamples]:
    """:func:`sample_structure` for each named structure (same keyword options for all).

    Parameters
    ----------
    contours : mapping of str to iterable of (k, 3) arrays
        Each structure's contours, LPS mm (e.g. :func:`accumulate.io.read_contours`).
    **options
        Keyword arguments of :func:`sample_structure`.

    Returns
    -------
    dict of str to StructureSamples

    Raises
    ------
    InputError, GeometryError
        As :func:`sample_structure`, naming the structure.
    """
    return {name: sample_structure(c, name=name, **options) for name, c in contours.items()}
