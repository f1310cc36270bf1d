"""NumPy reference of dose warping and the fused accumulation: the specification the fast backends match.

Vectorised over chunks of target voxels, float64 throughout. Arrays are flat and C-ordered:
``dose`` on the moving dose grid, ``density`` on the same grid (or None for unit density),
``field`` the (z, y, x, 3) displacement field in mm on its own grid; sizes and affines come from
the geometry block (see :mod:`._layout`). All positions are continuous (x, y, z) indices.

``direct``: the dose index d of the moving point of each target voxel centre, clamped trilinear
dose at d. ``mass``: k^3 sub-samples per target voxel; for each, the moving point d, the index
Jacobian K = dd/dt of the mapping (of the clamped-trilinear field, exactly), the axis-aligned box
(in dose indices) bounding the image K/k of the sub-sample, and the box integrals of the
voxel-constant D rho and rho; weighted by the mapped volume |det K| they sum to the energy and
the mass, and the voxel gets energy / mass. A target voxel whose centre (``direct``) or any
sub-sample (``mass``) maps outside the dose grid's voxel boxes gets NaN.

References: Zhong H, Siebers JV, "Monte Carlo dose mapping on deforming anatomy", Phys Med Biol
2009;54:5815-5830, doi:10.1088/0031-9155/54/19/005; Siebers JV, Zhong H, "An energy transfer
method for 4D Monte Carlo dose calculation", Med Phys 2008;35:4096-4105, doi:10.1118/1.2968215.
"""

from __future__ import annotations

import numpy as np

from ..radiobiology import _reference as lq
from . import _layout as L

CHUNK = 1 << 18


def _sizes(geom: np.ndarray, offset: int) -> np.ndarray:
    return geom[offset : offset + 3].astype(np.int64)


def _affine(geom: np.ndarray, offset: int, points: np.ndarray) -> np.ndarray:
    matrix = geom[offset : offset + 12].reshape(3, 4)
    return points @ matrix[:, :3].T + matrix[:, 3]


def _axis_cell(f: np.ndarray, n: int):
    """Clamped linear-interpolation cell along one axis: (i0, i1, t, slope)."""
    clamped = np.clip(f, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(clamped), max(n - 2, 0)).astype(np.int64)
    i1 = i0 + 1 if n > 1 else i0
    slope = ((f >= 0) & (f <= n - 1) & (n > 1)).astype(float)
    return i0, i1, clamped - i0, slope


def trilinear(volume: np.ndarray, points: np.ndarray, with_gradient: bool = False):
    """Clamped trilinear value of ``volume`` (z, y, x[, c]) at (N, 3) x, y, z indices, and its index gradient."""
    shape_xyz = volume.shape[:3][::-1]
    cells = [_axis_cell(points[:, a], shape_xyz[a]) for a in range(3)]
    value = 0.0
    gradient = [0.0, 0.0, 0.0]
    for corner in np.ndindex(2, 2, 2):  # (dx, dy, dz)
        index = [cells[a][1] if corner[a] else cells[a][0] for a in range(3)]
        weight = [cells[a][2] if corner[a] else 1.0 - cells[a][2] for a in range(3)]
        sign = [1.0 if corner[a] else -1.0 for a in range(3)]
        sample = volume[index[2], index[1], index[0]]
        value = value + _column(weight[0] * weight[1] * weight[2], sample) * sample
        if with_gradient:
            for a in range(3):
                other = [weight[b] for b in range(3) if b != a]
                gradient[a] = gradient[a] + _column(sign[a] * other[0] * other[1] * cells[a][3], sample) * sample
    if not with_gradient:
        return value
    return value, np.stack(gradient, axis=-1)


def _column(weight: np.ndarray, sample: np.ndarray) -> np.ndarray:
    return weight[:, None] if sample.ndim == 2 else weight


def _dose_index(geom, field, target_points):
    """Dose-grid index (N, 3) of the moving point of each target point, and the field's index gradient."""
    u, du = trilinear(field, _affine(geom, L.T2F, target_points), with_gradient=True)
    return _affine(geom, L.T2D, target_points) + u @ geom[L.U2D : L.U2D + 9].reshape(3, 3).T, du


def _inside(index: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    return np.all((index >= -0.5) & (index <= sizes - 0.5), axis=1)


def _direct(dose, field, geom, points):
    index, _ = _dose_index(geom, field, points)
    value = trilinear(dose, index)
    return np.where(_inside(index, _sizes(geom, L.ND)), value, np.nan), None


def box_weights(centre: np.ndarray, half: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Overlap of the index interval ``centre +- half`` (clipped to the grid's voxel boxes) with each voxel.

    A list of (voxel index, fraction of the interval) pairs, one per possible neighbour; fractions
    sum to 1. A zero-width interval takes its nearest voxel.
    """
    lo, hi = np.maximum(centre - half, -0.5), np.minimum(centre + half, n - 0.5)
    first = np.minimum(np.floor(lo + 0.5), n - 1)
    width = hi - lo
    count = int(np.max(np.minimum(np.floor(hi + 0.5), n - 1) - first, initial=0)) + 1
    pairs = []
    for step in range(count):
        j = first + step
        overlap = np.maximum(np.minimum(hi, j + 0.5) - np.maximum(lo, j - 0.5), 0.0)
        fraction = np.where(width > 0, overlap / np.where(width > 0, width, 1.0), float(step == 0))
        pairs.append((np.minimum(j, n - 1).astype(np.int64), fraction))
    return pairs


def _mass(dose, density, field, geom, subsamples, points):
    sizes = _sizes(geom, L.ND)
    t2f, t2d = geom[L.T2F : L.T2F + 12].reshape(3, 4)[:, :3], geom[L.T2D : L.T2D + 12].reshape(3, 4)[:, :3]
    u2d = geom[L.U2D : L.U2D + 9].reshape(3, 3)
    energy_density = dose if density is None else dose * density
    energy = np.zeros(len(points))
    mass = np.zeros(len(points))
    inside = np.ones(len(points), dtype=bool)
    offsets = L.subsample_offsets(subsamples)
    for oz in offsets:
        for oy in offsets:
            for ox in offsets:
                index, du = _dose_index(geom, field, points + np.array([ox, oy, oz]))
                inside &= _inside(index, sizes)
                jacobian = t2d + u2d @ du @ t2f  # d(dose index) / d(target index), (N, 3, 3)
                half = np.sum(np.abs(jacobian), axis=2) / (2 * subsamples)
                box_e, box_m = 0.0, 0.0
                for iz, wz in box_weights(index[:, 2], half[:, 2], sizes[2]):
                    for iy, wy in box_weights(index[:, 1], half[:, 1], sizes[1]):
                        for ix, wx in box_weights(index[:, 0], half[:, 0], sizes[0]):
                            box_e = box_e + wx * wy * wz * energy_density[iz, iy, ix]
                            box_m = box_m + wx * wy * wz * (1.0 if density is None else density[iz, iy, ix])
                volume = np.abs(np.linalg.det(jacobian))
                energy += box_e * volume
                mass += box_m * volume
    return np.where(inside, energy / mass, np.nan), np.where(inside, mass * geom[L.DV], np.nan)


def _voxel_points(start: int, stop: int, target_shape) -> np.ndarray:
    z, y, x = np.unravel_index(np.arange(start, stop), target_shape)
    return np.stack([x, y, z], axis=1).astype(float)


def _grids(dose, density, field, geom):
    dose3 = np.asarray(dose, dtype=float).reshape(_sizes(geom, L.ND)[::-1])
    field4 = np.asarray(field, dtype=float).reshape(tuple(_sizes(geom, L.NF)[::-1]) + (3,))
    rho3 = None if density is None else np.asarray(density, dtype=float).reshape(dose3.shape)
    return dose3, rho3, field4


def _warp_float64(dose, density, field, geom, method, subsamples, target_shape):
    dose3, rho3, field4 = _grids(dose, density, field, geom)
    n = int(np.prod(target_shape))
    values, masses = np.empty(n), np.empty(n)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        points = _voxel_points(start, stop, target_shape)
        if method == "direct":
            values[start:stop], _ = _direct(dose3, field4, geom, points)
        else:
            values[start:stop], masses[start:stop] = _mass(dose3, rho3, field4, geom, subsamples, points)
    return values, (None if method == "direct" else masses)


def warp(dose, density, field, geom, method, subsamples, target_shape):
    """Warped dose (flat, dose dtype; NaN outside) on the target grid, and the mapped mass in g (``mass``) or None."""
    values, masses = _warp_float64(dose, density, field, geom, method, subsamples, target_shape)
    return values.astype(dose.dtype), (None if masses is None else masses.astype(dose.dtype))


def accumulate(courses, alpha_beta, ref_dose, limit, new_fractions, method, subsamples, target_shape):
    """Cumulative EQDx over courses given as (dose, density, field, residual, geom), and the headroom.

    A course with ``geom[ON_GRID]`` is already on the target grid; the others are warped first.
    cumulative = sum_k residual_k * EQDx(rbe_k * D_k, fractions_k, alpha/beta). Composed from
    :func:`warp` and the radiobiology reference, so the LQ formulas live in one place.
    """
    dtype = alpha_beta.dtype
    ab = np.asarray(alpha_beta, float)
    cumulative = np.zeros(int(np.prod(target_shape)), dtype=np.float64)
    for dose, density, field, residual, geom in courses:
        warped = dose if geom[L.ON_GRID] else _warp_float64(dose, density, field, geom, method, subsamples, target_shape)[0]
        eqd = lq.equivalent_dose(np.asarray(warped, float), ab, geom[L.FRACTIONS], geom[L.RBE], ref_dose)
        cumulative += np.asarray(residual, float) * eqd
    remaining = None
    if limit is not None:
        remaining = lq.max_additional_dose(np.asarray(limit, float) - cumulative, ab, new_fractions, ref_dose)
        remaining = remaining.astype(dtype)
    return cumulative.astype(dtype), remaining
