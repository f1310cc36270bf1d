"""Closed planar contours -> voxel masks on any Grid (even-odd rule, optional partial volume).

Rule between slices (:func:`slab_extents`, shared with the structure sampler of
:mod:`accumulate.evaluation.sampling`): the contours of one plane fill a slab around it that
reaches halfway to the neighbouring contour plane on each side. A neighbour further than 1.5
times the ROI's median plane spacing marks a gap (an organ in two parts, or an end): the slab
then reaches half the median spacing on that side (half a grid slice when the ROI has a single
plane). A grid slice takes the contours of the nearest plane whose slab holds its centre; grid
slices outside every slab are empty. In-plane, a voxel is inside when its centre is inside an
odd number of the plane's contours (holes and islands by the even-odd rule). The partial-volume
mode samples each voxel on ``s x s x s`` sub-voxel centres with the same rules and returns the
inside fraction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import GeometryError
from ..geometry import Grid

PLANARITY_MM = 0.5  # largest spread of one contour's points across its plane
SAME_PLANE_MM = 0.05  # contours whose planes are this close are one plane
END_CAPS = ("full", "half")


def fill_even_odd(polygons: list[np.ndarray], ny: int, nx: int) -> np.ndarray:
    """Boolean (ny, nx): pixel centres (i, j) = (x, y) index inside an odd number of polygons.

    ``polygons`` are (n, 2) arrays of continuous (x, y) indices; ray casting towards +x with a
    half-open rule at vertices, vectorised over rows and edges.
    """
    out = np.zeros((ny, nx), dtype=bool)
    edges = [(p, np.roll(p, -1, axis=0)) for p in polygons if len(p) >= 3]
    if not edges:
        return out
    start = np.concatenate([a for a, _ in edges])
    stop = np.concatenate([b for _, b in edges])
    lo = max(int(np.ceil(start[:, 1].min())), 0)
    hi = min(int(np.floor(start[:, 1].max())), ny - 1)
    if hi < lo:
        return out
    rows = np.arange(lo, hi + 1, dtype=float)[:, None]
    y0, y1 = start[None, :, 1], stop[None, :, 1]
    crosses = (y0 <= rows) != (y1 <= rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = start[None, :, 0] + (rows - y0) * (stop[None, :, 0] - start[None, :, 0]) / (y1 - y0)
    width = nx + 3
    row_index = np.broadcast_to(np.arange(rows.shape[0])[:, None], crosses.shape)[crosses]
    keys = np.sort(row_index * width + np.clip(x[crosses], -1.0, nx) + 1.0)
    pixel_rows = np.repeat(np.arange(rows.shape[0]), nx)
    pixel_keys = pixel_rows * width + np.tile(np.arange(nx, dtype=float), rows.shape[0]) + 1.0
    row_end = np.searchsorted(keys, (np.arange(rows.shape[0]) + 1) * width, side="left")
    right_of = row_end[pixel_rows] - np.searchsorted(keys, pixel_keys, side="right")
    out[lo : hi + 1] = (right_of % 2 == 1).reshape(rows.shape[0], nx)
    return out


def plane_groups(heights_mm: np.ndarray) -> list[list[int]]:
    """Indices of contours grouped into planes, in increasing height.

    ``heights_mm`` is each contour's position along the planes' normal; a contour within
    ``SAME_PLANE_MM`` (0.05 mm) of the previous one (in sorted order) joins its plane.

    Parameters
    ----------
    heights_mm : (n,) array
        mm.

    Returns
    -------
    list of lists of int

    Examples
    --------
    >>> plane_groups(np.array([4.0, 0.0, 2.0, 2.02]))  # two contours on the 2 mm plane
    [[1], [2, 3], [0]]
    """
    heights = np.asarray(heights_mm, dtype=float).reshape(-1)
    groups: list[list[int]] = []
    for index in np.argsort(heights, kind="stable"):
        if groups and heights[index] - heights[groups[-1][-1]] <= SAME_PLANE_MM:
            groups[-1].append(int(index))
        else:
            groups.append([int(index)])
    return groups


def slab_extents(positions_mm: np.ndarray, *, single_plane_mm: float, end_caps: str = "full") -> tuple[np.ndarray, np.ndarray]:
    """How far each contour plane's slab reaches below and above it (mm, along the normal).

    Parameters
    ----------
    positions_mm : (p,) array
        Plane positions along the normal, increasing.
    single_plane_mm : float
        The plane spacing assumed when there is only one plane (a grid slice for the rasteriser).
    end_caps : {"full", "half"}
        ``"full"``: at an end or a gap (no neighbour within 1.5 times the median spacing) the
        slab reaches half the median spacing, so every plane stands for a whole slice.
        ``"half"``: it stops at the plane, so the solid runs from the first to the last plane
        (end planes count half a slice, as dicompyler-core's structure volume does); a plane
        open on both sides then reaches a quarter of the median spacing each way.

    Returns
    -------
    below_mm, above_mm : (p,) arrays

    Raises
    ------
    GeometryError
        An unknown ``end_caps``, planes without a positive spacing.

    Examples
    --------
    >>> slab_extents(np.array([0.0, 2.0, 4.0]), single_plane_mm=3.0)
    (array([1., 1., 1.]), array([1., 1., 1.]))
    >>> slab_extents(np.array([0.0, 2.0, 4.0]), single_plane_mm=3.0, end_caps="half")
    (array([0., 1., 1.]), array([1., 1., 0.]))
    """
    if end_caps not in END_CAPS:
        raise GeometryError(f"end_caps must be one of {END_CAPS}, got {end_caps!r}")
    positions = np.asarray(positions_mm, dtype=float).reshape(-1)
    gaps = np.diff(positions)
    typical = float(np.median(gaps)) if gaps.size else float(single_plane_mm)
    if not typical > 0:
        raise GeometryError(f"contour planes need a positive spacing, got {typical} mm")
    joined = gaps <= 1.5 * typical + 1e-6
    half = np.where(joined, gaps / 2, np.nan)
    below = np.concatenate([[np.nan], half])
    above = np.concatenate([half, [np.nan]])
    open_below, open_above = np.isnan(below), np.isnan(above)
    if end_caps == "full":
        cap_below = cap_above = np.full(positions.size, typical / 2)
    else:
        isolated = open_below & open_above
        cap_below = cap_above = np.where(isolated, typical / 4, 0.0)
    return np.where(open_below, cap_below, below), np.where(open_above, cap_above, above)


@dataclass(frozen=True)
class _Planes:
    """Contour planes of one ROI along the grid's z axis (mm from voxel 0) and each one's slab."""

    positions_mm: np.ndarray
    polygons: list[list[np.ndarray]]  # per plane, (n, 2) polygons of continuous (x, y) indices
    below_mm: np.ndarray  # how far the slab reaches towards -z
    above_mm: np.ndarray


def _planes(contours_idx: list[np.ndarray], sz: float, what: str) -> _Planes:
    """Group contours into planes (positions within 0.05 mm are one plane) and give each its slab."""
    centres = []
    for c in contours_idx:
        z_mm = c[:, 0] * sz
        if np.ptp(z_mm) > PLANARITY_MM:
            raise GeometryError(
                f"{what}: a contour spans {np.ptp(z_mm):.2f} mm along the grid's slice axis; contours must lie in the "
                "grid's slice planes (resample onto a grid oriented like the structure set's CT)"
            )
        centres.append(float(z_mm.mean()))
    groups = plane_groups(np.asarray(centres))
    positions = np.asarray([np.mean([centres[i] for i in g]) for g in groups])
    polygons = [[contours_idx[i][:, [2, 1]] for i in g] for g in groups]
    below, above = slab_extents(positions, single_plane_mm=sz)
    return _Planes(positions, polygons, below, above)


def _binary(planes: _Planes, grid: Grid, z0_mm: float) -> np.ndarray:
    """Binary mask on ``grid`` whose first slice sits ``z0_mm`` along z from the contours' index origin."""
    nz, ny, nx = grid.shape
    out = np.zeros(grid.shape, dtype=bool)
    slice_mm = z0_mm + np.arange(nz) * grid.spacing_mm[2]
    nearest = np.abs(slice_mm[:, None] - planes.positions_mm[None, :]).argmin(axis=1)
    offset = slice_mm - planes.positions_mm[nearest]
    reach = np.where(offset >= 0, planes.above_mm[nearest], planes.below_mm[nearest])
    cache: dict[int, np.ndarray] = {}
    for k in np.flatnonzero(np.abs(offset) <= reach + 1e-6):
        plane = int(nearest[k])
        if plane not in cache:
            cache[plane] = fill_even_odd(planes.polygons[plane], ny, nx)
        out[k] = cache[plane]
    return out


def rasterise(contours_world: list[np.ndarray], grid: Grid, *, subsamples: int = 1, what: str = "contours") -> np.ndarray:
    """Mask of closed planar contours on ``grid``.

    Parameters
    ----------
    contours_world : list of (n, 3) arrays
        Closed polygons, LPS mm (x, y, z); each lies in one plane parallel to the grid's slices.
    grid : Grid
    subsamples : int
        1 for a boolean mask of voxel centres; ``s > 1`` for the float32 fraction of ``s**3``
        sub-voxel centres inside (partial volume).
    what : str
        Name used in error messages.

    Returns
    -------
    ndarray (nz, ny, nx)
        bool (``subsamples == 1``) or float32 in [0, 1].
    """
    s = int(subsamples)
    if s < 1:
        raise GeometryError(f"{what}: subsamples must be >= 1, got {subsamples}")
    out = np.zeros(grid.shape, dtype=bool if s == 1 else np.float32)
    contours_idx = [grid.index_from_world(np.asarray(c, dtype=float).reshape(-1, 3)) for c in contours_world if len(c) >= 3]
    if not contours_idx:
        return out
    sx, sy, sz = grid.spacing_mm
    planes = _planes(contours_idx, sz, what)
    reach = float(max(planes.below_mm.max(), planes.above_mm.max())) / sz
    every = np.concatenate(contours_idx)
    lo = np.floor(every.min(axis=0) - np.array([reach, 0, 0])).astype(int) - 1
    hi = np.ceil(every.max(axis=0) + np.array([reach, 0, 0])).astype(int) + 2
    lo, hi = np.maximum(lo, 0), np.minimum(hi, grid.shape)
    if np.any(hi <= lo):
        return out
    box = grid.crop(lo, hi)
    offset = lo[::-1].astype(float)  # (i, j) shift of the crop
    if s == 1:
        shifted = replace(planes, polygons=[[p - offset[:2] for p in plane] for plane in planes.polygons])
        out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = _binary(shifted, box, lo[0] * sz)
        return out
    fine = Grid(
        tuple(np.asarray(box.shape) * s),
        tuple(box.world_from_index(np.full(3, -0.5 + 0.5 / s))),
        (sx / s, sy / s, sz / s),
        grid.direction,
    )
    shifted = replace(planes, polygons=[[(p - offset[:2] + 0.5) * s - 0.5 for p in plane] for plane in planes.polygons])
    fine_mask = _binary(shifted, fine, (lo[0] - 0.5 + 0.5 / s) * sz)
    nz, ny, nx = box.shape
    fraction = fine_mask.reshape(nz, s, ny, s, nx, s).mean(axis=(1, 3, 5), dtype=np.float32)
    out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = fraction
    return out
