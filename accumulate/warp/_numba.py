"""Numba backend of dose warping and the fused accumulation: one parallel loop over target voxels.

Same contract as :mod:`._reference` (flat arrays, geometry blocks from :mod:`._layout`). Each
target voxel is computed start to finish by one thread (gather form), coordinates and sums in
float64, the result stored in the dose dtype. Small 3x3 algebra is written out on tuples so that
nothing is allocated per voxel. The LQ step reuses the radiobiology backend's functions.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..radiobiology._numba import _lq_equivalent, _lq_max_dose
from . import _layout as L


@numba.njit(inline="always")
def _axis_cell(f, n):
    """Clamped linear-interpolation cell: (i0, i1, weight of i1, slope 1 inside / 0 where clamped)."""
    clamped = min(max(f, 0.0), n - 1.0)
    i0 = min(int(math.floor(clamped)), max(n - 2, 0))
    i1 = i0 + 1 if n > 1 else i0
    slope = 1.0 if (n > 1 and f >= 0.0 and f <= n - 1.0) else 0.0
    return i0, i1, clamped - i0, slope


@numba.njit
def _affine(g, o, x, y, z):
    return (
        g[o] * x + g[o + 1] * y + g[o + 2] * z + g[o + 3],
        g[o + 4] * x + g[o + 5] * y + g[o + 6] * z + g[o + 7],
        g[o + 8] * x + g[o + 9] * y + g[o + 10] * z + g[o + 11],
    )


@numba.njit
def _linear(g, o, row):
    """The 3x3 block of a matrix stored row-major from ``o`` with ``row`` values per row, as a tuple."""
    return (g[o], g[o + 1], g[o + 2], g[o + row], g[o + row + 1], g[o + row + 2],
            g[o + 2 * row], g[o + 2 * row + 1], g[o + 2 * row + 2])  # fmt: skip


@numba.njit
def _mul(a, b):
    """3x3 product of row-major 9-tuples."""
    return (
        a[0] * b[0] + a[1] * b[3] + a[2] * b[6], a[0] * b[1] + a[1] * b[4] + a[2] * b[7], a[0] * b[2] + a[1] * b[5] + a[2] * b[8],
        a[3] * b[0] + a[4] * b[3] + a[5] * b[6], a[3] * b[1] + a[4] * b[4] + a[5] * b[7], a[3] * b[2] + a[4] * b[5] + a[5] * b[8],
        a[6] * b[0] + a[7] * b[3] + a[8] * b[6], a[6] * b[1] + a[7] * b[4] + a[8] * b[7], a[6] * b[2] + a[7] * b[5] + a[8] * b[8],
    )  # fmt: skip


@numba.njit(inline="always")
def _cell_values(volume, base, stride_y, stride_z, c, x0, x1):
    """The 8 corner values (x fastest, then y, then z) of component ``c`` around ``base``."""
    b00, b01, b10, b11 = base, base + stride_y, base + stride_z, base + stride_z + stride_y
    return (volume[b00 + x0 + c], volume[b00 + x1 + c], volume[b01 + x0 + c], volume[b01 + x1 + c],
            volume[b10 + x0 + c], volume[b10 + x1 + c], volume[b11 + x0 + c], volume[b11 + x1 + c])  # fmt: skip


@numba.njit(inline="always")
def _lerp(v, tx, ty, tz):
    """Trilinear value of 8 corner values and its derivatives along x, y, z (index units)."""
    a00, a01 = v[0] + tx * (v[1] - v[0]), v[2] + tx * (v[3] - v[2])
    a10, a11 = v[4] + tx * (v[5] - v[4]), v[6] + tx * (v[7] - v[6])
    b0, b1 = a00 + ty * (a01 - a00), a10 + ty * (a11 - a10)
    gx = (1 - tz) * ((1 - ty) * (v[1] - v[0]) + ty * (v[3] - v[2])) + tz * ((1 - ty) * (v[5] - v[4]) + ty * (v[7] - v[6]))
    return b0 + tz * (b1 - b0), gx, (1 - tz) * (a01 - a00) + tz * (a11 - a10), b1 - b0


@numba.njit(inline="always")
def _trilinear(volume, nx, ny, nz, x, y, z):
    """Clamped trilinear value of a scalar volume at index (x, y, z)."""
    x0, x1, tx, _ = _axis_cell(x, nx)
    y0, y1, ty, _ = _axis_cell(y, ny)
    z0, z1, tz, _ = _axis_cell(z, nz)
    v = _cell_values(volume, (z0 * ny + y0) * nx, (y1 - y0) * nx, (z1 - z0) * nx * ny, 0, x0, x1)
    return _lerp(v, tx, ty, tz)[0]


@numba.njit(inline="always")
def _interior_trilinear(volume, nx, ny, x, y, z):
    """Trilinear value at an index with 0 <= x < nx - 1 (and so on): no clamping needed."""
    x0, y0, z0 = int(x), int(y), int(z)
    tx, ty, tz = x - x0, y - y0, z - z0
    v = _cell_values(volume, (z0 * ny + y0) * nx, nx, nx * ny, 0, x0, x0 + 1)
    return _lerp(v, tx, ty, tz)[0]


@numba.njit
def _field_sample(field, nx, ny, nz, x, y, z):
    """Clamped trilinear u (mm) at field index (x, y, z), and du (row c = d u_c / d index) as a 9-tuple."""
    x0, x1, tx, sx = _axis_cell(x, nx)
    y0, y1, ty, sy = _axis_cell(y, ny)
    z0, z1, tz, sz = _axis_cell(z, nz)
    base, stride_y, stride_z = 3 * (z0 * ny + y0) * nx, 3 * (y1 - y0) * nx, 3 * (z1 - z0) * nx * ny
    u0, g00, g01, g02 = _lerp(_cell_values(field, base, stride_y, stride_z, 0, 3 * x0, 3 * x1), tx, ty, tz)
    u1, g10, g11, g12 = _lerp(_cell_values(field, base, stride_y, stride_z, 1, 3 * x0, 3 * x1), tx, ty, tz)
    u2, g20, g21, g22 = _lerp(_cell_values(field, base, stride_y, stride_z, 2, 3 * x0, 3 * x1), tx, ty, tz)
    return (u0, u1, u2), (g00 * sx, g01 * sy, g02 * sz, g10 * sx, g11 * sy, g12 * sz, g20 * sx, g21 * sy, g22 * sz)


@numba.njit(inline="always")
def _inside(d, n):
    return d >= -0.5 and d <= n - 0.5


@numba.njit
def _box(centre, half, n):
    """The index interval centre +- half clipped to [-0.5, n - 0.5]: (first voxel, last voxel, lo, hi)."""
    lo, hi = max(centre - half, -0.5), min(centre + half, n - 0.5)
    first = min(int(math.floor(lo + 0.5)), n - 1)
    last = max(min(int(math.floor(hi + 0.5)), n - 1), first)
    return first, last, lo, hi


@numba.njit
def _overlap(j, first, lo, hi):
    """Fraction of [lo, hi] inside voxel j (a zero-width interval counts wholly in ``first``)."""
    if hi <= lo:
        return 1.0 if j == first else 0.0
    return max(min(hi, j + 0.5) - max(lo, j - 0.5), 0.0) / (hi - lo)


@numba.njit
def _offset(s, k):
    return (2.0 * s + 1.0 - k) / (2.0 * k)


@numba.njit(inline="always")
def _upper_share(first, lo, hi):
    """Fraction of [lo, hi] (width <= 1, lo inside voxel ``first``) that lies in voxel first + 1."""
    return max(hi - (first + 0.5), 0.0) / (hi - lo) if hi > lo else 0.0


@numba.njit
def _two_voxel_sums(dose, density, has_density, nx, ny, nz, x0, xlo, xhi, y0, ylo, yhi, z0, zlo, zhi):
    """Box integrals when the box spans at most two voxels per axis: 8 weighted corners, like trilinear."""
    tx, ty, tz = _upper_share(x0, xlo, xhi), _upper_share(y0, ylo, yhi), _upper_share(z0, zlo, zhi)
    x1, y1, z1 = min(x0 + 1, nx - 1), min(y0 + 1, ny - 1), min(z0 + 1, nz - 1)
    base, stride_y, stride_z = (z0 * ny + y0) * nx, (y1 - y0) * nx, (z1 - z0) * nx * ny
    d = _cell_values(dose, base, stride_y, stride_z, 0, x0, x1)
    if not has_density:
        return _lerp(d, tx, ty, tz)[0], 1.0
    r = _cell_values(density, base, stride_y, stride_z, 0, x0, x1)
    e = (d[0] * r[0], d[1] * r[1], d[2] * r[2], d[3] * r[3], d[4] * r[4], d[5] * r[5], d[6] * r[6], d[7] * r[7])
    return _lerp(e, tx, ty, tz)[0], _lerp(r, tx, ty, tz)[0]


@numba.njit
def _box_sums(dose, density, has_density, nx, ny, nz, d, km, k):
    """Box integrals (fractions summing to 1) of D rho and rho over the bounding box of K / k around d."""
    x0, x1, xlo, xhi = _box(d[0], (abs(km[0]) + abs(km[1]) + abs(km[2])) / (2 * k), nx)
    y0, y1, ylo, yhi = _box(d[1], (abs(km[3]) + abs(km[4]) + abs(km[5])) / (2 * k), ny)
    z0, z1, zlo, zhi = _box(d[2], (abs(km[6]) + abs(km[7]) + abs(km[8])) / (2 * k), nz)
    if xhi - xlo <= 1.0 and yhi - ylo <= 1.0 and zhi - zlo <= 1.0:  # at most two voxels per axis: no loops
        return _two_voxel_sums(dose, density, has_density, nx, ny, nz, x0, xlo, xhi, y0, ylo, yhi, z0, zlo, zhi)
    box_e = box_m = 0.0
    for jz in range(z0, z1 + 1):
        wz = _overlap(jz, z0, zlo, zhi)
        for jy in range(y0, y1 + 1):
            wyz = wz * _overlap(jy, y0, ylo, yhi)
            for jx in range(x0, x1 + 1):
                w = wyz * _overlap(jx, x0, xlo, xhi)
                v = (jz * ny + jy) * nx + jx
                rho = density[v] if has_density else 1.0
                box_e += w * dose[v] * rho
                box_m += w * rho
    return box_e, box_m


@numba.njit
def _warp_voxel(dose, density, field, g, mass_method, k, i, tx, ty):
    """(warped dose, mapped mass in g) of target voxel i; NaN where it maps outside the dose grid."""
    ix, iy, iz = i % tx, (i // tx) % ty, i // (tx * ty)
    nx, ny, nz = int(g[L.ND]), int(g[L.ND + 1]), int(g[L.ND + 2])
    fx, fy, fz = int(g[L.NF]), int(g[L.NF + 1]), int(g[L.NF + 2])
    u2d = _linear(g, L.U2D, 3)
    if not mass_method:
        if g[L.ALIGNED] != 0:  # the field sits on the target voxel centres
            u = (field[3 * i], field[3 * i + 1], field[3 * i + 2])
        else:
            u, _ = _field_sample(field, fx, fy, fz, *_affine(g, L.T2F, float(ix), float(iy), float(iz)))
        p = _affine(g, L.T2D, float(ix), float(iy), float(iz))
        d = (p[0] + u2d[0] * u[0] + u2d[1] * u[1] + u2d[2] * u[2],
             p[1] + u2d[3] * u[0] + u2d[4] * u[1] + u2d[5] * u[2],
             p[2] + u2d[6] * u[0] + u2d[7] * u[1] + u2d[8] * u[2])  # fmt: skip
        if not (_inside(d[0], nx) and _inside(d[1], ny) and _inside(d[2], nz)):
            return np.nan, np.nan
        return _trilinear(dose, nx, ny, nz, d[0], d[1], d[2]), np.nan
    t2f, t2d = _linear(g, L.T2F, 4), _linear(g, L.T2D, 4)
    has_density = g[L.HAS_RHO] != 0
    energy = mass = 0.0
    for sz in range(k):
        for sy in range(k):
            for sx in range(k):
                x, y, z = ix + _offset(sx, k), iy + _offset(sy, k), iz + _offset(sz, k)
                u, du = _field_sample(field, fx, fy, fz, *_affine(g, L.T2F, x, y, z))
                p = _affine(g, L.T2D, x, y, z)
                d = (p[0] + u2d[0] * u[0] + u2d[1] * u[1] + u2d[2] * u[2],
                     p[1] + u2d[3] * u[0] + u2d[4] * u[1] + u2d[5] * u[2],
                     p[2] + u2d[6] * u[0] + u2d[7] * u[1] + u2d[8] * u[2])  # fmt: skip
                if not (_inside(d[0], nx) and _inside(d[1], ny) and _inside(d[2], nz)):
                    return np.nan, np.nan
                c = _mul(u2d, _mul(du, t2f))  # K = T2D + U2D du T2F: d(dose index) / d(target index)
                km = (t2d[0] + c[0], t2d[1] + c[1], t2d[2] + c[2], t2d[3] + c[3], t2d[4] + c[4],
                      t2d[5] + c[5], t2d[6] + c[6], t2d[7] + c[7], t2d[8] + c[8])  # fmt: skip
                volume = abs(km[0] * (km[4] * km[8] - km[5] * km[7]) - km[1] * (km[3] * km[8] - km[5] * km[6])
                             + km[2] * (km[3] * km[7] - km[4] * km[6]))  # fmt: skip
                box_e, box_m = _box_sums(dose, density, has_density, nx, ny, nz, d, km, k)
                energy += box_e * volume
                mass += box_m * volume
    return energy / mass, mass * g[L.DV]


@numba.njit(parallel=True, cache=True)
def _warp(dose, density, field, g, mass_method, k, tx, ty, out, mass_out):
    for i in numba.prange(out.size):
        value, mass = _warp_voxel(dose, density, field, g, mass_method, k, i, tx, ty)
        out[i] = value
        mass_out[i] = mass


@numba.njit(parallel=True, cache=True)
def _warp_direct(dose, field, g, tx, ty, out):
    """The ``direct`` warp, one target row (fixed y, z) per task, geometry hoisted out of the loops."""
    nx, ny, nz = int(g[L.ND]), int(g[L.ND + 1]), int(g[L.ND + 2])
    fx, fy, fz = int(g[L.NF]), int(g[L.NF + 1]), int(g[L.NF + 2])
    aligned = g[L.ALIGNED] != 0
    a = _linear(g, L.T2D, 4)
    a3, a7, a11 = g[L.T2D + 3], g[L.T2D + 7], g[L.T2D + 11]
    m = _linear(g, L.U2D, 3)
    for row in numba.prange(out.size // tx):
        y, z = float(row % ty), float(row // ty)
        for ix in range(tx):
            i = row * tx + ix
            x = float(ix)
            if aligned:  # the field sits on the target voxel centres
                u0, u1, u2 = field[3 * i], field[3 * i + 1], field[3 * i + 2]
            else:
                (u0, u1, u2), _ = _field_sample(field, fx, fy, fz, *_affine(g, L.T2F, x, y, z))
            dx = a[0] * x + a[1] * y + a[2] * z + a3 + (m[0] * u0 + m[1] * u1 + m[2] * u2)
            dy = a[3] * x + a[4] * y + a[5] * z + a7 + (m[3] * u0 + m[4] * u1 + m[5] * u2)
            dz = a[6] * x + a[7] * y + a[8] * z + a11 + (m[6] * u0 + m[7] * u1 + m[8] * u2)
            if dx >= 0.0 and dy >= 0.0 and dz >= 0.0 and dx < nx - 1 and dy < ny - 1 and dz < nz - 1:
                out[i] = _interior_trilinear(dose, nx, ny, dx, dy, dz)
            elif _inside(dx, nx) and _inside(dy, ny) and _inside(dz, nz):
                out[i] = _trilinear(dose, nx, ny, nz, dx, dy, dz)
            else:
                out[i] = np.nan


@numba.njit(parallel=True, cache=True)
def _accumulate(doses, densities, fields, residuals, geoms, mass_method, k, alpha_beta, ref_dose,
                limit, has_limit, new_fractions, tx, ty, cumulative, remaining):  # fmt: skip
    ab_step = 1 if alpha_beta.size > 1 else 0
    for i in numba.prange(cumulative.size):
        ab = alpha_beta[i * ab_step]
        total = 0.0
        for c in range(geoms.shape[0]):
            g = geoms[c]
            if g[L.ON_GRID] != 0:
                dose = doses[c][i]
            else:
                dose, _ = _warp_voxel(doses[c], densities[c], fields[c], g, mass_method, k, i, tx, ty)
            residual = residuals[c][i * int(g[L.RES_STRIDE])]
            total += residual * _lq_equivalent(g[L.RBE] * dose, g[L.FRACTIONS], ab, ref_dose)
        cumulative[i] = total
        if has_limit:
            remaining[i] = _lq_max_dose(limit[i] - total, new_fractions, ab, ref_dose)


def _placeholder(array, dtype):
    return np.zeros(1, dtype=dtype) if array is None else array


def warp(dose, density, field, geom, method, subsamples, target_shape):
    out = np.empty(int(np.prod(target_shape)), dtype=dose.dtype)
    if method == "direct":
        _warp_direct(dose, field, geom, target_shape[2], target_shape[1], out)
        return out, None
    mass = np.empty_like(out)
    _warp(dose, _placeholder(density, dose.dtype), field, geom, method == "mass", int(subsamples),
          target_shape[2], target_shape[1], out, mass)  # fmt: skip
    return out, (mass if method == "mass" else None)


def accumulate(courses, alpha_beta, ref_dose, limit, new_fractions, method, subsamples, target_shape):
    dtype = alpha_beta.dtype
    # tuples (one entry per course): Numba specialises the fused loop on the number of courses
    per_course = [tuple(_placeholder(course[j], dtype) for course in courses) for j in range(4)]
    geoms = np.ascontiguousarray(np.stack([course[4] for course in courses]))
    cumulative = np.empty(int(np.prod(target_shape)), dtype=dtype)
    remaining = np.empty_like(cumulative) if limit is not None else np.empty(1, dtype=dtype)
    _accumulate(*per_course, geoms, method == "mass", int(subsamples), alpha_beta, float(ref_dose),
                remaining if limit is None else limit, limit is not None, float(new_fractions),
                target_shape[2], target_shape[1], cumulative, remaining)  # fmt: skip
    return cumulative, (remaining if limit is not None else None)
