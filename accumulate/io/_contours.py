"""Closed planar contours of an implicit shape on one plane (marching squares on a fine grid).

The shape is the set where a function is negative; the function is sampled on a regular grid
of the plane, crossings are placed on grid edges by linear interpolation and linked into
closed loops. Saddle cells are resolved by the value at the cell centre (mean of the corners).
"""

from __future__ import annotations

import numpy as np


def _crossings(values: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each edge along ``axis`` changes sign, and the fraction along the edge of the crossing."""
    first = values[:-1, :] if axis == 0 else values[:, :-1]
    second = values[1:, :] if axis == 0 else values[:, 1:]
    crossed = (first < 0) != (second < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(crossed, first / (first - second), np.nan)
    return crossed, fraction


def _segments(values: np.ndarray) -> np.ndarray:
    """Pairs of edge ids ``(m, 2)`` joined inside each cell.

    Edge ids: the edge from node (j, i) to (j, i + 1) is ``j * nx + i``; from (j, i) to
    (j + 1, i) it is ``ny * nx + j * nx + i``.
    """
    ny, nx = values.shape
    inside = values < 0
    j, i = np.nonzero(np.ones((ny - 1, nx - 1), dtype=bool))
    b0, b1, b2, b3 = inside[j, i], inside[j, i + 1], inside[j + 1, i + 1], inside[j + 1, i]
    edges = np.stack([j * nx + i, ny * nx + j * nx + i + 1, (j + 1) * nx + i, ny * nx + j * nx + i], axis=1)
    crossed = np.stack([b0 != b1, b1 != b2, b3 != b2, b0 != b3], axis=1)  # bottom, right, top, left
    count = crossed.sum(axis=1)
    simple = count == 2
    pairs = [edges[simple][crossed[simple]].reshape(-1, 2)]
    saddle = np.flatnonzero(count == 4)
    if saddle.size:
        centre = values[j[saddle], i[saddle]] + values[j[saddle], i[saddle] + 1]
        centre = centre + values[j[saddle] + 1, i[saddle]] + values[j[saddle] + 1, i[saddle] + 1]
        joined = (centre < 0) == b0[saddle]  # corners 0 and 2 connected: cut off corners 1 and 3
        e = edges[saddle]
        first = np.where(joined[:, None], e[:, [0, 1]], e[:, [3, 0]])
        second = np.where(joined[:, None], e[:, [2, 3]], e[:, [1, 2]])
        pairs += [first, second]
    return np.concatenate(pairs)


def _loops(segments: np.ndarray) -> list[list[int]]:
    """Link segments that share edge ids into closed loops of edge ids (every id occurs twice)."""
    flat = segments.ravel()
    order = np.argsort(flat, kind="stable")
    partner = np.empty_like(order)
    partner[order[0::2]] = order[1::2]
    partner[order[1::2]] = order[0::2]
    partner_list, flat_list = partner.tolist(), flat.tolist()
    used = [False] * len(segments)
    loops = []
    for start in range(len(segments)):
        if used[start]:
            continue
        loop, slot = [], 2 * start
        while not used[slot // 2]:
            used[slot // 2] = True
            loop.append(flat_list[slot])
            slot = partner_list[slot ^ 1]  # leave through the segment's other end, enter the next segment
        loops.append(loop)
    return loops


def level_contours(values: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray) -> list[np.ndarray]:
    """Closed polygons ``(n, 2)`` (x, y) mm around the region ``values < 0``.

    Parameters
    ----------
    values : ndarray (ny, nx)
        The function on the grid nodes ``(y_mm[j], x_mm[i])``; nodes exactly at 0 count as outside.
    x_mm, y_mm : ndarray (nx,), (ny,)
        Increasing node coordinates, mm.

    Returns
    -------
    list of ndarray
        One polygon per loop (islands and holes alike: fill them with the even-odd rule).
        Regions touching the grid's border are closed along it.

    Examples
    --------
    A square of half-width 1.5 mm around (2, 2) mm on a 1 mm grid of nodes:

    >>> x = y = np.arange(5.0)
    >>> xx, yy = np.meshgrid(x, y)
    >>> [loop] = level_contours(np.maximum(abs(xx - 2), abs(yy - 2)) - 1.5, x, y)
    >>> loop.min(axis=0), loop.max(axis=0)
    (array([0.5, 0.5]), array([3.5, 3.5]))
    """
    values = np.pad(np.asarray(values, dtype=float), 1, constant_values=1.0)
    x = np.concatenate([[2 * x_mm[0] - x_mm[1]], x_mm, [2 * x_mm[-1] - x_mm[-2]]])
    y = np.concatenate([[2 * y_mm[0] - y_mm[1]], y_mm, [2 * y_mm[-1] - y_mm[-2]]])
    ny, nx = values.shape
    if not np.any(values < 0):
        return []
    _, along_x = _crossings(values, axis=1)
    _, along_y = _crossings(values, axis=0)
    points = np.full((2 * ny * nx, 2), np.nan)
    jj, ii = np.nonzero(np.isfinite(along_x))
    t = along_x[jj, ii]
    points[jj * nx + ii] = np.stack([x[ii] + t * (x[ii + 1] - x[ii]), y[jj]], axis=1)
    jj, ii = np.nonzero(np.isfinite(along_y))
    t = along_y[jj, ii]
    points[ny * nx + jj * nx + ii] = np.stack([x[ii], y[jj] + t * (y[jj + 1] - y[jj])], axis=1)
    return [points[loop] for loop in _loops(_segments(values)) if len(loop) >= 3]
