"""Even-odd regions of closed polygons in one plane: area, scanline intervals, band areas, distances.

Coordinates are ``(u, v)`` mm in the plane's own frame. A point is inside the region when a
ray towards +u crosses an odd number of edges (holes and islands by the even-odd rule). An
edge meets the horizontal line ``v`` when exactly one of its ends has ``v' <= v`` (the
half-open rule of :func:`accumulate.io._raster.fill_even_odd`), so a vertex on the line is
counted once and every line meets an even number of edges.

Exact areas use Green's theorem, ``area = sum over edges of w_e * integral of u dv``, with the
edge weight ``w_e`` = the sign of its polygon's shoelace area times ``(-1)**depth`` (depth: the
number of the plane's other polygons that contain it). That gives the even-odd area when the
polygons do not cross one another; where they cross (``Region.consistent`` False) areas fall
back to what the scanlines measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_PAIR_CHUNK = 1 << 21  # point-edge pairs handled at once


@dataclass(frozen=True, eq=False)
class Region:
    """The even-odd region of the closed polygons of one plane.

    ``polygons``: the (k, 2) vertex arrays; ``start``/``stop``: (E, 2) edge ends; ``weight``:
    (E,) Green's-theorem weights (+-1); ``area_mm2``, ``perimeter_mm``, ``centroid`` (2,) of the
    region; ``consistent``: False when two polygons cross (nesting, and so the exact area,
    undefined); ``v_range`` (min, max).
    """

    polygons: tuple[np.ndarray, ...]
    start: np.ndarray
    stop: np.ndarray
    weight: np.ndarray
    area_mm2: float
    perimeter_mm: float
    centroid: np.ndarray
    consistent: bool
    v_range: tuple[float, float]


def _edges(polygon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return polygon, np.roll(polygon, -1, axis=0)


def _shoelace(polygon: np.ndarray) -> tuple[float, np.ndarray]:
    """Signed area (counter-clockwise positive) and centroid of one simple polygon."""
    a, b = _edges(polygon - polygon[0])
    cross = a[:, 0] * b[:, 1] - b[:, 0] * a[:, 1]
    area = 0.5 * float(cross.sum())
    if area == 0:
        return 0.0, polygon.mean(axis=0)
    centroid = ((a + b) * cross[:, None]).sum(axis=0) / (6 * area)
    return area, centroid + polygon[0]


def crossings_inside(points: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Boolean (N,): whether each point is inside the even-odd region bounded by the edges.

    Inside means an odd number of edge crossings strictly to the right (+u) of the point on its
    horizontal line: the point's ``u`` lies in ``[a, b)`` of one of the line's inside intervals.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if not len(points):
        return np.zeros(0, dtype=bool)
    lines, line_of = np.unique(points[:, 1], return_inverse=True)
    row, a, b = _intervals(start, stop, lines)
    if not len(row):
        return np.zeros(len(points), dtype=bool)
    lowest = min(float(a.min()), float(points[:, 0].min()))
    width = max(float(b.max()), float(points[:, 0].max())) - lowest + 1.0
    key_a = row * width + (a - lowest)
    key = line_of * width + (points[:, 0] - lowest)
    index = np.searchsorted(key_a, key, side="right") - 1
    safe = np.maximum(index, 0)
    return (index >= 0) & (row[safe] == line_of) & (key < row[safe] * width + (b[safe] - lowest))


def region(polygons: list[np.ndarray]) -> Region:
    """The even-odd region of ``polygons`` ((k, 2) arrays, not closed, k >= 3)."""
    areas, centroids, depths, consistent = [], [], [], True
    for i, polygon in enumerate(polygons):
        area, centroid = _shoelace(polygon)
        areas.append(area)
        centroids.append(centroid)
        depth = 0
        for j, other in enumerate(polygons):
            if i == j:
                continue
            inside = crossings_inside(polygon, *_edges(other))
            consistent &= bool(inside.all() or not inside.any())
            depth += int(np.count_nonzero(inside) * 2 > len(inside))
        depths.append(depth)
    parity = np.asarray([(-1.0) ** d for d in depths])
    magnitudes = np.abs(np.asarray(areas))
    total = float(np.dot(parity, magnitudes))
    weights = [np.full(len(p), np.sign(a) * s) for p, a, s in zip(polygons, areas, parity, strict=True)]
    start = np.concatenate([p for p in polygons])
    stop = np.concatenate([np.roll(p, -1, axis=0) for p in polygons])
    if total > 0:
        centroid = (parity * magnitudes) @ np.asarray(centroids) / total
    else:
        centroid = start.mean(axis=0)
    perimeter = float(np.linalg.norm(stop - start, axis=1).sum())
    v = start[:, 1]
    v_range = (float(v.min()), float(v.max()))
    return Region(tuple(polygons), start, stop, np.concatenate(weights), total, perimeter, centroid, consistent, v_range)


def _intervals(start: np.ndarray, stop: np.ndarray, rows_v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows_v = np.asarray(rows_v, dtype=float).reshape(-1)
    y0, y1 = start[None, :, 1], stop[None, :, 1]
    meets = (y0 <= rows_v[:, None]) != (y1 <= rows_v[:, None])
    row, edge = np.nonzero(meets)
    a, b = start[edge], stop[edge]
    u = a[:, 0] + (rows_v[row] - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    order = np.lexsort((u, row))
    row, u = row[order], u[order]
    return row[0::2], u[0::2], u[1::2]


def row_intervals(reg: Region, rows_v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inside intervals of the horizontal lines ``v = rows_v``: (row index, u start, u stop), by row then u."""
    return _intervals(reg.start, reg.stop, rows_v)


def area_below(reg: Region, levels_v: np.ndarray) -> np.ndarray:
    """Exact area (mm^2) of the region below each level ``v`` (Green's theorem, edge by edge)."""
    levels = np.asarray(levels_v, dtype=float).reshape(-1, 1)
    v0, v1 = reg.start[None, :, 1], reg.stop[None, :, 1]
    lo, hi = np.minimum(v0, v1), np.maximum(v0, v1)
    top = np.clip(levels, lo, hi)
    mid = 0.5 * (lo + top)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(v1 != v0, (mid - v0) / (v1 - v0), 0.0)
    u_mid = reg.start[None, :, 0] + t * (reg.stop[None, :, 0] - reg.start[None, :, 0])
    signed = np.sign(v1 - v0) * (top - lo) * u_mid
    return signed @ reg.weight


def distance_within(points: np.ndarray, reg: Region, limit_mm: float) -> np.ndarray:
    """Distance (mm) from each point to the nearest edge when it is at most ``limit_mm``, else inf.

    Edges are binned on cells of ``limit_mm`` so that only nearby point-edge pairs are measured.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    out = np.full(len(points), np.inf)
    if not len(points) or not limit_mm > 0:
        return out
    if len(points) * len(reg.start) <= _PAIR_CHUNK // 16:  # few pairs: measure them all
        out = _distances(points, reg.start, reg.stop, pairwise=True).min(axis=1)
        out[out > limit_mm] = np.inf
        return out
    cell = float(limit_mm)
    start, stop = _split(reg.start, reg.stop, 4 * cell)  # short pieces of the same edges: few cells each
    origin = np.minimum(start.min(axis=0), points.min(axis=0)) - limit_mm
    lo = np.floor((np.minimum(start, stop) - limit_mm - origin) / cell).astype(np.int64)
    hi = np.floor((np.maximum(start, stop) + limit_mm - origin) / cell).astype(np.int64)
    width = int(max(hi[:, 0].max(), np.floor((points[:, 0].max() - origin[0]) / cell))) + 2
    span = hi - lo + 1
    counts = span[:, 0] * span[:, 1]
    edge = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cu = lo[edge, 0] + offset % span[edge, 0]
    cv = lo[edge, 1] + offset // span[edge, 0]
    keys = cv * width + cu
    order = np.argsort(keys, kind="stable")
    keys, edge = keys[order], edge[order]
    cells = np.floor((points - origin) / cell).astype(np.int64)
    point_keys = cells[:, 1] * width + cells[:, 0]
    first = np.searchsorted(keys, point_keys, side="left")
    many = np.searchsorted(keys, point_keys, side="right") - first
    step = max(1, _PAIR_CHUNK // max(int(many.max(initial=1)), 1))
    for chunk in range(0, len(points), step):
        n = many[chunk : chunk + step]
        owner = np.repeat(np.arange(len(n)), n) + chunk
        pair_edge = edge[np.repeat(first[chunk : chunk + step], n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)]
        np.minimum.at(out, owner, _distances(points[owner], start[pair_edge], stop[pair_edge], pairwise=False))
    out[out > limit_mm] = np.inf
    return out


def _distances(points: np.ndarray, start: np.ndarray, stop: np.ndarray, *, pairwise: bool) -> np.ndarray:
    """Distance from points to segments: every pair (N, E), or the i-th point to the i-th segment (N,)."""
    px, py = (points[:, :1], points[:, 1:]) if pairwise else (points[:, 0], points[:, 1])
    ax, ay = start[:, 0], start[:, 1]
    dx, dy = stop[:, 0] - ax, stop[:, 1] - ay
    qx, qy = px - ax, py - ay
    t = np.clip((qx * dx + qy * dy) / np.maximum(dx * dx + dy * dy, 1e-300), 0.0, 1.0)
    ex, ey = qx - t * dx, qy - t * dy
    return np.sqrt(ex * ex + ey * ey)


def _split(start: np.ndarray, stop: np.ndarray, max_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The edges cut into pieces at most ``max_mm`` long: (starts, stops)."""
    ab = stop - start
    pieces = np.maximum(1, np.ceil(np.linalg.norm(ab, axis=1) / max_mm)).astype(np.int64)
    edge = np.repeat(np.arange(len(pieces)), pieces)
    j = np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    return start[edge] + (j / pieces[edge])[:, None] * ab[edge], start[edge] + ((j + 1) / pieces[edge])[:, None] * ab[edge]


def boundary_points(reg: Region, spacing_mm: float, sharp_degrees: float = 30.0) -> np.ndarray:
    """Points along each polygon, evenly spaced by arc length at most ``spacing_mm`` apart, (B, 2).

    Vertices where the contour turns by more than ``sharp_degrees`` are added (the extremes of
    a dose over a polygon with corners lie at its corners).
    """
    out = []
    for polygon in reg.polygons:
        following = np.roll(polygon, -1, axis=0)
        lengths = np.linalg.norm(following - polygon, axis=1)
        cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
        count = max(3, math.ceil(cumulative[-1] / spacing_mm))
        s = np.arange(count) * (cumulative[-1] / count)
        edge = np.minimum(np.searchsorted(cumulative, s, side="right") - 1, len(polygon) - 1)
        t = (s - cumulative[edge]) / np.where(lengths[edge] > 0, lengths[edge], 1.0)
        out.append(polygon[edge] + t[:, None] * (following[edge] - polygon[edge]))
        incoming = polygon - np.roll(polygon, 1, axis=0)
        outgoing = following - polygon
        cosine = np.einsum("ij,ij->i", incoming, outgoing) / np.maximum(np.linalg.norm(incoming, axis=1) * lengths, 1e-300)
        out.append(polygon[cosine < np.cos(np.radians(sharp_degrees))])
    return np.concatenate(out)


@dataclass(frozen=True, eq=False)
class Cells:
    """The lattice cells a region covers: cell ``(band, column)`` spans ``u0 + column r .. + r`` and ``v0 + band r .. + r``.

    ``area`` (mm^2) exact (Green's theorem on the region clipped to the cell); ``v_low``, ``v_high``:
    the v-extent of the region within the cell, and ``u_low``, ``u_high`` a point of the region at
    each end of it.
    """

    band: np.ndarray
    column: np.ndarray
    area: np.ndarray
    v_low: np.ndarray
    v_high: np.ndarray
    u_low: np.ndarray
    u_high: np.ndarray


def _lattice_crossings(start: np.ndarray, stop: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(edge, t) where each edge crosses the integer lattice lines of ``axis`` (coordinates in cell units)."""
    a, b = start[:, axis], stop[:, axis]
    low = np.floor(np.minimum(a, b)).astype(np.int64) + 1
    count = np.maximum(np.ceil(np.maximum(a, b)).astype(np.int64) - low, 0)
    edge = np.repeat(np.arange(len(a)), count)
    line = low[edge] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return edge, (line - a[edge]) / (b[edge] - a[edge])


def cells(reg: Region, u0: float, v0: float, r: float) -> Cells:
    """Exact coverage of the lattice cells of side ``r`` (origin ``(u0, v0)``) by the region.

    The area of region x cell is ``-integral of v du`` around its boundary: the region's edges
    cut at the lattice lines (each piece in one cell, weighted as in :class:`Region`) plus the
    parts of the cell's bottom and top sides inside the region (from the scanlines at the
    lattice lines); the vertical sides add nothing.
    """
    origin = np.array([u0, v0])
    start, stop = (reg.start - origin) / r, (reg.stop - origin) / r  # cell units
    edge_u, t_u = _lattice_crossings(start, stop, 0)
    edge_v, t_v = _lattice_crossings(start, stop, 1)
    n = len(start)
    edge = np.concatenate([np.arange(n), edge_u, edge_v, np.arange(n)])
    t = np.concatenate([np.zeros(n), t_u, t_v, np.ones(n)])
    order = np.lexsort((t, edge))
    edge, t = edge[order], t[order]
    same = edge[1:] == edge[:-1]
    e, ta, tb = edge[:-1][same], t[:-1][same], t[1:][same]
    d = stop[e] - start[e]
    pa, pb = start[e] + ta[:, None] * d, start[e] + tb[:, None] * d
    mid = np.floor(0.5 * (pa + pb)).astype(np.int64)
    piece_area = -reg.weight[e] * (pb[:, 0] - pa[:, 0]) * (pa[:, 1] + pb[:, 1]) / 2
    low_end = np.where((pa[:, 1] <= pb[:, 1])[:, None], pa, pb)
    high_end = np.where((pa[:, 1] <= pb[:, 1])[:, None], pb, pa)
    # bottom and top sides of the cells: the region's inside intervals on the lattice lines v = band
    lines = np.arange(math.floor(start[:, 1].min()), math.ceil(start[:, 1].max()) + 1)
    line, a, b = _intervals(start, stop, lines.astype(float))
    first = np.floor(a).astype(np.int64)
    count = np.floor(b).astype(np.int64) - first + 1
    which = np.repeat(np.arange(len(a)), count)
    column = first[which] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    lo, hi = np.maximum(a[which], column), np.minimum(b[which], column + 1)
    keep = hi > lo
    column, lo, hi, v_line = column[keep], lo[keep], hi[keep], lines[line[which][keep]].astype(float)
    side = np.stack([0.5 * (lo + hi), v_line], axis=1)
    # per cell: bottom side of cell (v_line, column), top side of cell (v_line - 1, column)
    band = np.concatenate([mid[:, 1], v_line.astype(np.int64), v_line.astype(np.int64) - 1])
    col = np.concatenate([mid[:, 0], column, column])
    area = np.concatenate([piece_area, -v_line * (hi - lo), v_line * (hi - lo)])
    low_v = np.concatenate([low_end[:, 1], v_line, np.full(len(v_line), np.inf)])
    low_u = np.concatenate([low_end[:, 0], side[:, 0], side[:, 0]])
    high_v = np.concatenate([high_end[:, 1], np.full(len(v_line), -np.inf), v_line])
    high_u = np.concatenate([high_end[:, 0], side[:, 0], side[:, 0]])
    key = band * (1 << 32) + (col + (1 << 31))
    keys, cell_of = np.unique(key, return_inverse=True)
    total = np.bincount(cell_of, weights=area)
    lowest = np.lexsort((low_v, cell_of))
    lowest = lowest[np.searchsorted(cell_of[lowest], np.arange(len(keys)))]
    highest = np.lexsort((-high_v, cell_of))
    highest = highest[np.searchsorted(cell_of[highest], np.arange(len(keys)))]
    keep = total > 1e-12
    cell_band, cell_col = keys // (1 << 32), keys % (1 << 32) - (1 << 31)
    return Cells(
        cell_band[keep],
        cell_col[keep],
        total[keep] * r * r,
        v0 + low_v[lowest][keep] * r,
        v0 + high_v[highest][keep] * r,
        u0 + low_u[lowest][keep] * r,
        u0 + high_u[highest][keep] * r,
    )
