"""NumPy reference of dose warping: the specification the fast backends match.

Vectorised over slabs of target slices, float64 throughout. Arrays are flat and C-ordered:
``dose`` on the moving dose grid, ``density`` on the same grid (or None for unit density),
``field`` the (z, y, x, 3) displacement field in mm on its own grid; sizes and affines come from
the geometry block (see :mod:`._layout`). All positions are continuous (x, y, z) indices.

The moving point of a target point t is q = t + u(t); its dose index is T2D t + U2D u(T2F t). The
field is trilinear between its voxel centres and extrapolated linearly up to its outer voxel
faces (constant beyond), the dose is trilinear and clamped at its outer voxel centres.

``direct``: the clamped trilinear dose at the moving point of each target voxel centre.

``mass``: the 8 corners of each target voxel are mapped (neighbouring voxels share them, so the
images tile the mapped region); the image is the trilinear map of the unit cube a in [0, 1]^3
spanned by them. k^3 sub-samples sit at the fractions a = (s + 1/2) / k; at each, K = d(dose
index) / da (the image's edge vectors interpolated there) gives the mapped sub-volume
|det K| / k^3 (dose voxels), and the sub-sample takes the averages of D rho and rho (both constant
over a dose voxel) over the axis-aligned box centred at its image point whose per-axis second
moments are those of K / k (half-width |row r of K| / (2 k) along dose axis r). Weighted by the
sub-volumes they sum to the energy E and the mass m; the voxel gets D = E / m (unweighted box
averages if the image has no volume) and receives the mass m dose-voxel masses. A target voxel whose
centre (``direct``) or any sub-sample (``mass``) maps outside the dose grid's voxel boxes gets NaN.

References: Zhong H, Siebers JV, "Monte Carlo dose mapping on deforming anatomy", Phys Med Biol
2009;54:5815-5830, doi:10.1088/0031-9155/54/19/005; Siebers JV, Zhong H, "An energy transfer
method for 4D Monte Carlo dose calculation", Med Phys 2008;35:4096-4105, doi:10.1118/1.2968215.
"""

from __future__ import annotations

import numpy as np

from ..interpolation import trilinear
from . import _layout as L
from .operations import WarpInputs

CHUNK = 1 << 17  # target voxels per vectorised slab (at least one slice)
DOSE_MARGIN, FIELD_MARGIN = 0.0, 0.5  # voxels beyond the outer centres over which the interpolant continues


def _sizes(geom: np.ndarray, offset: int) -> np.ndarray:
    return geom[offset : offset + 3].astype(np.int64)


def _affine(geom: np.ndarray, offset: int, points: np.ndarray) -> np.ndarray:
    matrix = geom[offset : offset + 12].reshape(3, 4)
    return points @ matrix[:, :3].T + matrix[:, 3]


def moving_index(geom: np.ndarray, field: np.ndarray, target_points: np.ndarray) -> np.ndarray:
    """Dose-grid index (N, 3) of the moving point of each target point (N, 3)."""
    u = trilinear(field, _affine(geom, L.T2F, target_points), FIELD_MARGIN)
    return _affine(geom, L.T2D, target_points) + u @ geom[L.U2D : L.U2D + 9].reshape(3, 3).T


def _inside(index: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    return np.all((index >= -0.5) & (index <= sizes - 0.5), axis=1)


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


def _slab_points(tx: int, ty: int, z: np.ndarray, offset: float) -> np.ndarray:
    """(x, y, z) indices of the voxels (offset 0) or voxel corners (offset -1/2, one more per axis) of slices ``z``."""
    extra = 1 if offset else 0
    zz, yy, xx = np.meshgrid(z, np.arange(ty + extra), np.arange(tx + extra), indexing="ij")
    return np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1).astype(float) + offset


def _direct(dose, field, geom, tx, ty, z):
    index = moving_index(geom, field, _slab_points(tx, ty, z, 0.0))
    value = trilinear(dose, index, DOSE_MARGIN)
    return np.where(_inside(index, _sizes(geom, L.ND)), value, np.nan), None


def _edges(q, ax, ay, az):
    """K[:, r, b] = d(dose index r) / d(voxel fraction b) of the image at fractions (ax, ay, az): its edges, interpolated."""

    def lerp(a, b, t):
        return a + t * (b - a)

    along_x = lerp(lerp(q[1] - q[0], q[3] - q[2], ay), lerp(q[5] - q[4], q[7] - q[6], ay), az)
    along_y = lerp(lerp(q[2] - q[0], q[3] - q[1], ax), lerp(q[6] - q[4], q[7] - q[5], ax), az)
    along_z = lerp(lerp(q[4] - q[0], q[5] - q[1], ax), lerp(q[6] - q[2], q[7] - q[3], ax), ay)
    return np.stack([along_x, along_y, along_z], axis=2)


def _mass(dose, density, field, geom, subsamples, tx, ty, z):
    """Dose and mapped mass of the voxels of slices ``z`` (consecutive)."""
    corners = moving_index(geom, field, _slab_points(tx, ty, np.arange(z[0], z[-1] + 2), -0.5))
    corners = corners.reshape(len(z) + 1, ty + 1, tx + 1, 3)
    q = [corners[cz : cz + len(z), cy : cy + ty, cx : cx + tx].reshape(-1, 3) for cz in (0, 1) for cy in (0, 1) for cx in (0, 1)]
    sizes = _sizes(geom, L.ND)
    energy_density = dose if density is None else dose * density
    n = len(q[0])
    energy, mass, plain_energy, plain_mass = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    inside = np.ones(n, dtype=bool)
    fractions = L.subsample_fractions(subsamples)
    for az in fractions:
        for ay in fractions:
            for ax in fractions:
                x00, x10 = q[0] + ax * (q[1] - q[0]), q[2] + ax * (q[3] - q[2])
                x01, x11 = q[4] + ax * (q[5] - q[4]), q[6] + ax * (q[7] - q[6])
                y0, y1 = x00 + ay * (x10 - x00), x01 + ay * (x11 - x01)
                index = y0 + az * (y1 - y0)
                inside &= _inside(index, sizes)
                jacobian = _edges(q, ax, ay, az)
                volume = np.abs(np.linalg.det(jacobian)) * (1.0 / subsamples**3)
                half = np.sqrt(np.sum(jacobian**2, axis=2)) * (1.0 / (2 * subsamples))
                box_e, box_m = 0.0, 0.0
                for iz, wz in box_weights(index[:, 2], half[:, 2], sizes[2]):
                    for iy, wy in box_weights(index[:, 1], half[:, 1], sizes[1]):
                        for ix, wx in box_weights(index[:, 0], half[:, 0], sizes[0]):
                            weight = wz * wy * wx
                            box_e = box_e + weight * energy_density[iz, iy, ix]
                            box_m = box_m + weight * (1.0 if density is None else density[iz, iy, ix])
                energy += volume * box_e
                mass += volume * box_m
                plain_energy += box_e
                plain_mass += box_m
    value = np.where(mass > 0, energy / np.where(mass > 0, mass, 1.0), plain_energy / plain_mass)
    return np.where(inside, value, np.nan), np.where(inside, mass * geom[L.DV], np.nan)


def _grids(dose, density, field, geom):
    dose3 = np.asarray(dose, dtype=float).reshape(_sizes(geom, L.ND)[::-1])
    field4 = np.asarray(field, dtype=float).reshape(tuple(_sizes(geom, L.NF)[::-1]) + (3,))
    rho3 = None if density is None else np.asarray(density, dtype=float).reshape(dose3.shape)
    return dose3, rho3, field4


def warp(inputs: WarpInputs) -> tuple[np.ndarray, np.ndarray | None]:
    """Warped dose (flat, dose dtype; NaN outside) on the target grid, and the mapped mass in g (``mass``) or None."""
    dose, density, field, geom = inputs.dose, inputs.density, inputs.field, inputs.geometry
    method, subsamples, target_shape = inputs.method, inputs.subsamples, inputs.target_shape
    dose3, rho3, field4 = _grids(dose, density, field, geom)
    tz, ty, tx = target_shape
    slices = max(1, CHUNK // (tx * ty))
    values, masses = np.empty(tz * ty * tx), np.empty(tz * ty * tx)
    for z0 in range(0, tz, slices):
        z = np.arange(z0, min(tz, z0 + slices))
        part = slice(z0 * ty * tx, (z[-1] + 1) * ty * tx)
        if method == "direct":
            values[part], _ = _direct(dose3, field4, geom, tx, ty, z)
        else:
            values[part], masses[part] = _mass(dose3, rho3, field4, geom, subsamples, tx, ty, z)
    return values.astype(dose.dtype), (None if method == "direct" else masses.astype(dose.dtype))
