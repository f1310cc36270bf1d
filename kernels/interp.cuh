// Interpolation on C-contiguous (z, y, x) grids, in continuous index coordinates (x, y, z order,
// integer values at voxel centres). Coordinates and weights in double; stored values real_t.
//
// Contract: outside [0, n-1] along an axis the sample is clamped to the edge (constant
// extrapolation) and the derivative along that axis is 0, so values and gradients are those of
// the clamped trilinear interpolant exactly. Callers decide what "outside" means for their data.
#pragma once
#include "common.cuh"

struct AxisCell {
    index_t i0, i1;  // the two neighbours (equal when n == 1)
    double t;        // weight of i1
    double slope;    // d(clamped coordinate)/d(coordinate): 1 inside, 0 where clamped
};

__device__ __forceinline__ AxisCell axis_cell(double f, index_t n) {
    AxisCell c;
    double last = (double)(n - 1);
    double clamped = fmin(fmax(f, 0.0), last);
    index_t i0 = (index_t)floor(clamped);
    index_t top = n > 1 ? n - 2 : 0;
    if (i0 > top) i0 = top;
    c.i0 = i0;
    c.i1 = n > 1 ? i0 + 1 : i0;
    c.t = clamped - (double)i0;
    c.slope = (n > 1 && f >= 0.0 && f <= last) ? 1.0 : 0.0;
    return c;
}

// Nearest voxel index along one axis, clamped to [0, n-1] (ties round up: floor(d + 0.5)).
__device__ __forceinline__ index_t nearest_index(double d, index_t n) {
    index_t i = (index_t)floor(d + 0.5);
    return i < 0 ? 0 : (i > n - 1 ? n - 1 : i);
}

// Clamped trilinear value of a scalar volume at (x, y, z).
__device__ __forceinline__ double trilinear(const real_t* __restrict__ v, index_t nx, index_t ny, index_t nz,
                                            double x, double y, double z) {
    AxisCell cx = axis_cell(x, nx), cy = axis_cell(y, ny), cz = axis_cell(z, nz);
    const real_t* p00 = v + (cz.i0 * ny + cy.i0) * nx;
    const real_t* p01 = v + (cz.i0 * ny + cy.i1) * nx;
    const real_t* p10 = v + (cz.i1 * ny + cy.i0) * nx;
    const real_t* p11 = v + (cz.i1 * ny + cy.i1) * nx;
    double lo = (1 - cy.t) * ((1 - cx.t) * p00[cx.i0] + cx.t * p00[cx.i1]) + cy.t * ((1 - cx.t) * p01[cx.i0] + cx.t * p01[cx.i1]);
    double hi = (1 - cy.t) * ((1 - cx.t) * p10[cx.i0] + cx.t * p10[cx.i1]) + cy.t * ((1 - cx.t) * p11[cx.i0] + cx.t * p11[cx.i1]);
    return (1 - cz.t) * lo + cz.t * hi;
}

// Clamped trilinear value u[c] of a 3-component field (z, y, x, 3) at (x, y, z) and, when du is not
// null, its index gradient du[3 * c + a] = d u_c / d index_a.
__device__ __forceinline__ void field_sample(const real_t* __restrict__ field, index_t nx, index_t ny, index_t nz,
                                             double x, double y, double z, double u[3], double* du) {
    AxisCell cx = axis_cell(x, nx), cy = axis_cell(y, ny), cz = axis_cell(z, nz);
    for (int c = 0; c < 3; ++c) u[c] = 0.0;
    if (du)
        for (int a = 0; a < 9; ++a) du[a] = 0.0;
    for (int dz = 0; dz < 2; ++dz) {
        index_t iz = dz ? cz.i1 : cz.i0;
        double wz = dz ? cz.t : 1.0 - cz.t, sz = dz ? 1.0 : -1.0;
        for (int dy = 0; dy < 2; ++dy) {
            index_t iy = dy ? cy.i1 : cy.i0;
            double wy = dy ? cy.t : 1.0 - cy.t, sy = dy ? 1.0 : -1.0;
            for (int dx = 0; dx < 2; ++dx) {
                index_t ix = dx ? cx.i1 : cx.i0;
                double wx = dx ? cx.t : 1.0 - cx.t, sx = dx ? 1.0 : -1.0;
                const real_t* v = field + ((iz * ny + iy) * nx + ix) * 3;
                double w = wx * wy * wz;
                double gx = sx * wy * wz * cx.slope, gy = wx * sy * wz * cy.slope, gz = wx * wy * sz * cz.slope;
                for (int c = 0; c < 3; ++c) {
                    double value = (double)v[c];
                    u[c] += w * value;
                    if (du) {
                        du[3 * c] += gx * value;
                        du[3 * c + 1] += gy * value;
                        du[3 * c + 2] += gz * value;
                    }
                }
            }
        }
    }
}
