"""Numba backend of dose warping: parallel loops over target rows (direct) or slabs of slices (mass).

Same contract and arithmetic as :mod:`._reference` (flat arrays, geometry blocks from
:mod:`._layout`; values read and written in the working dtype, all arithmetic in float64). The
mass warp maps the voxel corners of a slab once (shared by the eight voxels around each) and then
gathers voxel by voxel. Small 3-vectors are written out on scalars and tuples so that nothing is
allocated per voxel.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._kernels import numba_compile_notice
from . import _layout as L
from .operations import WarpInputs

DOSE_MARGIN, FIELD_MARGIN = 0.0, 0.5  # as in _reference
CORNER_BYTES_PER_SLAB = 32 << 20  # bound on the corner buffer one thread holds


@numba.njit(inline="always")
def _axis_cell(f, n, margin):
    """Linear-interpolation cell along one axis: (i0, i1, weight of i1), continued ``margin`` voxels beyond the ends."""
    if n < 2:
        return 0, 0, 0.0
    g = min(max(f, -margin), n - 1 + margin)
    i0 = min(max(int(math.floor(g)), 0), n - 2)
    return i0, i0 + 1, g - i0


@numba.njit(inline="always")
def _lerp3(v00, v01, v10, v11, v00b, v01b, v10b, v11b, tx, ty, tz):
    """Trilinear combination, x first, then y, then z (v<zy> with the x neighbours as pairs a, b)."""
    a00, a01 = v00 + tx * (v00b - v00), v01 + tx * (v01b - v01)
    a10, a11 = v10 + tx * (v10b - v10), v11 + tx * (v11b - v11)
    low, high = a00 + ty * (a01 - a00), a10 + ty * (a11 - a10)
    return low + tz * (high - low)


@numba.njit(inline="always")
def _trilinear(volume, nx, ny, nz, x, y, z):
    """Clamped trilinear value of a flat scalar volume at index (x, y, z)."""
    x0, x1, tx = _axis_cell(x, nx, DOSE_MARGIN)
    y0, y1, ty = _axis_cell(y, ny, DOSE_MARGIN)
    z0, z1, tz = _axis_cell(z, nz, DOSE_MARGIN)
    r00, r01, r10, r11 = (z0 * ny + y0) * nx, (z0 * ny + y1) * nx, (z1 * ny + y0) * nx, (z1 * ny + y1) * nx
    return _lerp3(float(volume[r00 + x0]), float(volume[r01 + x0]), float(volume[r10 + x0]), float(volume[r11 + x0]),
                  float(volume[r00 + x1]), float(volume[r01 + x1]), float(volume[r10 + x1]), float(volume[r11 + x1]),
                  tx, ty, tz)  # fmt: skip


@numba.njit(inline="always")
def _field_component(field, r00, r01, r10, r11, x0, x1, c, tx, ty, tz):
    return _lerp3(float(field[r00 + x0 + c]), float(field[r01 + x0 + c]), float(field[r10 + x0 + c]), float(field[r11 + x0 + c]),
                  float(field[r00 + x1 + c]), float(field[r01 + x1 + c]), float(field[r10 + x1 + c]), float(field[r11 + x1 + c]),
                  tx, ty, tz)  # fmt: skip


@numba.njit(inline="always")
def _field_value(field, nx, ny, nz, x, y, z):
    """u (mm) at field index (x, y, z): trilinear, extrapolated linearly up to the outer voxel faces."""
    x0, x1, tx = _axis_cell(x, nx, FIELD_MARGIN)
    y0, y1, ty = _axis_cell(y, ny, FIELD_MARGIN)
    z0, z1, tz = _axis_cell(z, nz, FIELD_MARGIN)
    r00, r01 = 3 * (z0 * ny + y0) * nx, 3 * (z0 * ny + y1) * nx
    r10, r11 = 3 * (z1 * ny + y0) * nx, 3 * (z1 * ny + y1) * nx
    return (
        _field_component(field, r00, r01, r10, r11, 3 * x0, 3 * x1, 0, tx, ty, tz),
        _field_component(field, r00, r01, r10, r11, 3 * x0, 3 * x1, 1, tx, ty, tz),
        _field_component(field, r00, r01, r10, r11, 3 * x0, 3 * x1, 2, tx, ty, tz),
    )


@numba.njit(inline="always")
def _to_dose_index(g, x, y, z, u0, u1, u2):
    """T2D (x, y, z) + U2D u."""
    b, m = L.T2D, L.U2D
    return (
        g[b] * x + g[b + 1] * y + g[b + 2] * z + g[b + 3] + (g[m] * u0 + g[m + 1] * u1 + g[m + 2] * u2),
        g[b + 4] * x + g[b + 5] * y + g[b + 6] * z + g[b + 7] + (g[m + 3] * u0 + g[m + 4] * u1 + g[m + 5] * u2),
        g[b + 8] * x + g[b + 9] * y + g[b + 10] * z + g[b + 11] + (g[m + 6] * u0 + g[m + 7] * u1 + g[m + 8] * u2),
    )


@numba.njit(inline="always")
def _moving_index(field, g, x, y, z):
    """Dose index of the moving point of target index (x, y, z)."""
    a = L.T2F
    fx = g[a] * x + g[a + 1] * y + g[a + 2] * z + g[a + 3]
    fy = g[a + 4] * x + g[a + 5] * y + g[a + 6] * z + g[a + 7]
    fz = g[a + 8] * x + g[a + 9] * y + g[a + 10] * z + g[a + 11]
    u0, u1, u2 = _field_value(field, int(g[L.NF]), int(g[L.NF + 1]), int(g[L.NF + 2]), fx, fy, fz)
    return _to_dose_index(g, x, y, z, u0, u1, u2)


@numba.njit(inline="always")
def _inside(d, n):
    return d >= -0.5 and d <= n - 0.5


@numba.njit(parallel=True, cache=True)
def _warp_direct(dose, field, g, tx, ty, out):
    """The ``direct`` warp, one target row (fixed y, z) per task."""
    nx, ny, nz = int(g[L.ND]), int(g[L.ND + 1]), int(g[L.ND + 2])
    aligned = g[L.ALIGNED] != 0
    for row in numba.prange(out.size // tx):
        y, z = float(row % ty), float(row // ty)
        for ix in range(tx):
            i = row * tx + ix
            x = float(ix)
            if aligned:  # the field sits on the target voxel centres
                dx, dy, dz = _to_dose_index(g, x, y, z, float(field[3 * i]), float(field[3 * i + 1]), float(field[3 * i + 2]))
            else:
                dx, dy, dz = _moving_index(field, g, x, y, z)
            if _inside(dx, nx) and _inside(dy, ny) and _inside(dz, nz):
                out[i] = _trilinear(dose, nx, ny, nz, dx, dy, dz)
            else:
                out[i] = np.nan


@numba.njit(inline="always")
def _span(centre, half, n):
    """The interval centre +- half clipped to [-0.5, n - 0.5]: (first voxel, last voxel, lo, hi, 1 / width or 0)."""
    lo, hi = max(centre - half, -0.5), min(centre + half, n - 0.5)
    first = min(int(math.floor(lo + 0.5)), n - 1)
    last = max(min(int(math.floor(hi + 0.5)), n - 1), first)
    return first, last, lo, hi, (1.0 / (hi - lo) if hi > lo else 0.0)


@numba.njit(inline="always")
def _share(j, first, lo, hi, inverse_width):
    """Fraction of [lo, hi] inside voxel j (a zero-width interval lies wholly in ``first``)."""
    if inverse_width == 0.0:
        return 1.0 if j == first else 0.0
    return max(min(hi, j + 0.5) - max(lo, j - 0.5), 0.0) * inverse_width


@numba.njit(inline="always")
def _upper_share(first, lo, hi, inverse_width):
    """Fraction of [lo, hi] (at most one voxel wide, starting in voxel ``first``) that lies in voxel first + 1."""
    return max(hi - (first + 0.5), 0.0) * inverse_width


@numba.njit(inline="always")
def _box_average(dose, density, has_density, nx, ny, nz, d0, d1, d2, h0, h1, h2):
    """Averages of D rho and rho over the axis-aligned box d +- h (dose indices)."""
    x0, x1, xlo, xhi, xw = _span(d0, h0, nx)
    y0, y1, ylo, yhi, yw = _span(d1, h1, ny)
    z0, z1, zlo, zhi, zw = _span(d2, h2, nz)
    if x1 <= x0 + 1 and y1 <= y0 + 1 and z1 <= z0 + 1:  # two voxels per axis at most: 8 weighted corners
        tx, ty, tz = _upper_share(x0, xlo, xhi, xw), _upper_share(y0, ylo, yhi, yw), _upper_share(z0, zlo, zhi, zw)
        r00, r01 = (z0 * ny + y0) * nx, (z0 * ny + y1) * nx
        r10, r11 = (z1 * ny + y0) * nx, (z1 * ny + y1) * nx
        if not has_density:
            energy = _lerp3(float(dose[r00 + x0]), float(dose[r01 + x0]), float(dose[r10 + x0]), float(dose[r11 + x0]),
                            float(dose[r00 + x1]), float(dose[r01 + x1]), float(dose[r10 + x1]), float(dose[r11 + x1]),
                            tx, ty, tz)  # fmt: skip
            return energy, 1.0
        p00, p01, p10, p11 = (
            float(density[r00 + x0]),
            float(density[r01 + x0]),
            float(density[r10 + x0]),
            float(density[r11 + x0]),
        )
        q00, q01, q10, q11 = (
            float(density[r00 + x1]),
            float(density[r01 + x1]),
            float(density[r10 + x1]),
            float(density[r11 + x1]),
        )
        energy = _lerp3(float(dose[r00 + x0]) * p00, float(dose[r01 + x0]) * p01, float(dose[r10 + x0]) * p10,
                        float(dose[r11 + x0]) * p11, float(dose[r00 + x1]) * q00, float(dose[r01 + x1]) * q01,
                        float(dose[r10 + x1]) * q10, float(dose[r11 + x1]) * q11, tx, ty, tz)  # fmt: skip
        return energy, _lerp3(p00, p01, p10, p11, q00, q01, q10, q11, tx, ty, tz)
    energy = mass = 0.0
    for jz in range(z0, z1 + 1):
        wz = _share(jz, z0, zlo, zhi, zw)
        for jy in range(y0, y1 + 1):
            wyz = wz * _share(jy, y0, ylo, yhi, yw)
            row = (jz * ny + jy) * nx
            for jx in range(x0, x1 + 1):
                w = wyz * _share(jx, x0, xlo, xhi, xw)
                rho = float(density[row + jx]) if has_density else 1.0
                energy += w * float(dose[row + jx]) * rho
                mass += w * rho
    return energy, mass


@numba.njit(inline="always")
def _lerp(a, b, t):
    return a + t * (b - a)


@numba.njit(inline="always")
def _edges(c, ax, ay, az):
    """d(dose index) / d(voxel fraction) along x, y, z for one dose axis at (ax, ay, az) (corners c[cx + 2 cy + 4 cz])."""
    return (
        _lerp(_lerp(c[1] - c[0], c[3] - c[2], ay), _lerp(c[5] - c[4], c[7] - c[6], ay), az),
        _lerp(_lerp(c[2] - c[0], c[3] - c[1], ax), _lerp(c[6] - c[4], c[7] - c[5], ax), az),
        _lerp(_lerp(c[4] - c[0], c[5] - c[1], ax), _lerp(c[6] - c[2], c[7] - c[3], ax), ay),
    )


@numba.njit(inline="always")
def _point(c, ax, ay, az):
    """Trilinear point of the image for one dose axis, x first, then y, then z."""
    x00, x10 = c[0] + ax * (c[1] - c[0]), c[2] + ax * (c[3] - c[2])
    x01, x11 = c[4] + ax * (c[5] - c[4]), c[6] + ax * (c[7] - c[6])
    y0, y1 = x00 + ay * (x10 - x00), x01 + ay * (x11 - x01)
    return y0 + az * (y1 - y0)


@numba.njit(inline="always")
def _corner_values(corners, z, y, x, r):
    """Component r of the 8 corners of voxel (z, y, x), ordered cx + 2 cy + 4 cz."""
    low, high = corners[z], corners[z + 1]
    return (low[y, x, r], low[y, x + 1, r], low[y + 1, x, r], low[y + 1, x + 1, r],
            high[y, x, r], high[y, x + 1, r], high[y + 1, x, r], high[y + 1, x + 1, r])  # fmt: skip


@numba.njit(inline="always")
def _sample(dose, density, has_density, qx, qy, qz, ax, ay, az, k, nx, ny, nz):
    """One sub-sample at voxel fractions (ax, ay, az): (inside, mapped sub-volume, box averages of D rho and rho)."""
    d0, d1, d2 = _point(qx, ax, ay, az), _point(qy, ax, ay, az), _point(qz, ax, ay, az)
    if not (_inside(d0, nx) and _inside(d1, ny) and _inside(d2, nz)):
        return False, 0.0, 0.0, 0.0
    k00, k01, k02 = _edges(qx, ax, ay, az)
    k10, k11, k12 = _edges(qy, ax, ay, az)
    k20, k21, k22 = _edges(qz, ax, ay, az)
    det = k00 * (k11 * k22 - k12 * k21) - k01 * (k10 * k22 - k12 * k20) + k02 * (k10 * k21 - k11 * k20)
    half = 1.0 / (2.0 * k)
    h0 = math.sqrt(k00 * k00 + k01 * k01 + k02 * k02) * half
    h1 = math.sqrt(k10 * k10 + k11 * k11 + k12 * k12) * half
    h2 = math.sqrt(k20 * k20 + k21 * k21 + k22 * k22) * half
    e, m = _box_average(dose, density, has_density, nx, ny, nz, d0, d1, d2, h0, h1, h2)
    return True, abs(det) * (1.0 / (k * k * k)), e, m


@numba.njit(inline="always")
def _mass_voxel(dose, density, has_density, corners, z, y, x, g, k):
    """(dose, mass in g) of the voxel whose corners start at corners[z, y, x]; NaN where it maps outside."""
    nx, ny, nz = int(g[L.ND]), int(g[L.ND + 1]), int(g[L.ND + 2])
    qx, qy, qz = _corner_values(corners, z, y, x, 0), _corner_values(corners, z, y, x, 1), _corner_values(corners, z, y, x, 2)
    if k == 1:  # the default: one sample at the centre, without the loops (same arithmetic)
        inside, volume, e, m = _sample(dose, density, has_density, qx, qy, qz, 0.5, 0.5, 0.5, 1, nx, ny, nz)
        if not inside:
            return np.nan, np.nan
        return e / m, volume * m * g[L.DV]
    energy = mass = plain_energy = plain_mass = 0.0
    for sz in range(k):
        az = (2.0 * sz + 1.0) / (2.0 * k)
        for sy in range(k):
            ay = (2.0 * sy + 1.0) / (2.0 * k)
            for sx in range(k):
                inside, volume, e, m = _sample(dose, density, has_density, qx, qy, qz, (2.0 * sx + 1.0) / (2.0 * k), ay, az,
                                               k, nx, ny, nz)  # fmt: skip
                if not inside:
                    return np.nan, np.nan
                energy += volume * e
                mass += volume * m
                plain_energy += e
                plain_mass += m
    value = energy / mass if mass > 0 else plain_energy / plain_mass
    return value, mass * g[L.DV]


@numba.njit(parallel=True, cache=True)
def _warp_mass(dose, density, has_density, field, g, k, tx, ty, tz, slab, out, mass_out):
    """The ``mass`` warp, one slab of ``slab`` target slices per task: its corners, then its voxels."""
    for s in numba.prange((tz + slab - 1) // slab):
        z0 = s * slab
        depth = min(slab, tz - z0)
        corners = np.empty((depth + 1, ty + 1, tx + 1, 3))
        for cz in range(depth + 1):
            for cy in range(ty + 1):
                for cx in range(tx + 1):
                    d0, d1, d2 = _moving_index(field, g, cx - 0.5, cy - 0.5, z0 + cz - 0.5)
                    corners[cz, cy, cx, 0] = d0
                    corners[cz, cy, cx, 1] = d1
                    corners[cz, cy, cx, 2] = d2
        for z in range(depth):
            for y in range(ty):
                for x in range(tx):
                    i = ((z0 + z) * ty + y) * tx + x
                    out[i], mass_out[i] = _mass_voxel(dose, density, has_density, corners, z, y, x, g, k)


def slab_depth(target_shape, threads: int) -> int:
    """Target slices per task of the mass warp: enough tasks for the threads, a corner buffer within bounds."""
    tz, ty, tx = target_shape
    plane = (tx + 1) * (ty + 1) * 3 * 8
    return max(1, min(-(-tz // (4 * threads)), CORNER_BYTES_PER_SLAB // plane - 1))


def warp(inputs: WarpInputs) -> tuple[np.ndarray, np.ndarray | None]:
    dose, density, field, geom = inputs.dose, inputs.density, inputs.field, inputs.geometry
    method, subsamples, target_shape = inputs.method, inputs.subsamples, inputs.target_shape
    numba_compile_notice(_warp_direct if method == "direct" else _warp_mass, f"the {method} warp")
    tz, ty, tx = target_shape
    out = np.empty(tz * ty * tx, dtype=dose.dtype)
    if method == "direct":
        _warp_direct(dose, field, geom, tx, ty, out)
        return out, None
    mass = np.empty_like(out)
    has_density = density is not None
    _warp_mass(dose, density if has_density else out[:1], has_density, field, geom, int(subsamples), tx, ty, tz,
               slab_depth(target_shape, numba.get_num_threads()), out, mass)  # fmt: skip
    return out, mass
