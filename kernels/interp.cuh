// Interpolation on C-contiguous (z, y, x) grids, in continuous index coordinates (x, y, z order,
// integer values at voxel centres). Coordinates and weights in double; stored values real_t.
//
// Contract: along an axis of n samples the interpolant is linear between neighbouring centres.
// Beyond the outer centres it is continued over a margin (in voxels) and constant further out:
//  * margin 0 (doses): clamped, constant beyond the outer centres;
//  * margin 0.5 (displacement fields): the edge cell is extrapolated linearly up to the outer voxel
//    faces, so a field describes its whole voxel boxes (no flat half-voxel rim that would distort
//    the mapping of the outermost voxels).
#pragma once
#include "common.cuh"

struct AxisCell {
    index_t i0, i1;  // the two neighbours (equal when n == 1)
    double t;        // weight of i1 (outside [0, 1] where extrapolated)
};

__device__ __forceinline__ AxisCell axis_cell(double f, index_t n, double margin) {
    AxisCell c;
    if (n < 2) {
        c.i0 = c.i1 = 0;
        c.t = 0.0;
        return c;
    }
    double g = fmin(fmax(f, -margin), (double)(n - 1) + margin);
    index_t i0 = (index_t)floor(g);
    i0 = i0 < 0 ? 0 : (i0 > n - 2 ? n - 2 : i0);
    c.i0 = i0;
    c.i1 = i0 + 1;
    c.t = g - (double)i0;
    return c;
}

// Clamped trilinear value of a scalar volume at (x, y, z).
__device__ __forceinline__ double trilinear(const real_t* __restrict__ v, index_t nx, index_t ny, index_t nz,
                                            double x, double y, double z) {
    AxisCell cx = axis_cell(x, nx, 0.0), cy = axis_cell(y, ny, 0.0), cz = axis_cell(z, nz, 0.0);
    const real_t* p00 = v + (cz.i0 * ny + cy.i0) * nx;
    const real_t* p01 = v + (cz.i0 * ny + cy.i1) * nx;
    const real_t* p10 = v + (cz.i1 * ny + cy.i0) * nx;
    const real_t* p11 = v + (cz.i1 * ny + cy.i1) * nx;
    double a00 = (double)p00[cx.i0] + cx.t * ((double)p00[cx.i1] - (double)p00[cx.i0]);
    double a01 = (double)p01[cx.i0] + cx.t * ((double)p01[cx.i1] - (double)p01[cx.i0]);
    double a10 = (double)p10[cx.i0] + cx.t * ((double)p10[cx.i1] - (double)p10[cx.i0]);
    double a11 = (double)p11[cx.i0] + cx.t * ((double)p11[cx.i1] - (double)p11[cx.i0]);
    double lo = a00 + cy.t * (a01 - a00), hi = a10 + cy.t * (a11 - a10);
    return lo + cz.t * (hi - lo);
}

// Displacement u (3 components) of a (z, y, x, 3) field at field index (x, y, z), linearly
// extrapolated up to half a voxel beyond the outer centres, constant beyond.
__device__ __forceinline__ void field_value(const real_t* __restrict__ field, index_t nx, index_t ny, index_t nz,
                                            double x, double y, double z, double u[3]) {
    AxisCell cx = axis_cell(x, nx, 0.5), cy = axis_cell(y, ny, 0.5), cz = axis_cell(z, nz, 0.5);
    const real_t* p00 = field + 3 * ((cz.i0 * ny + cy.i0) * nx);
    const real_t* p01 = field + 3 * ((cz.i0 * ny + cy.i1) * nx);
    const real_t* p10 = field + 3 * ((cz.i1 * ny + cy.i0) * nx);
    const real_t* p11 = field + 3 * ((cz.i1 * ny + cy.i1) * nx);
    index_t x0 = 3 * cx.i0, x1 = 3 * cx.i1;
    for (int c = 0; c < 3; ++c) {
        double a00 = (double)p00[x0 + c] + cx.t * ((double)p00[x1 + c] - (double)p00[x0 + c]);
        double a01 = (double)p01[x0 + c] + cx.t * ((double)p01[x1 + c] - (double)p01[x0 + c]);
        double a10 = (double)p10[x0 + c] + cx.t * ((double)p10[x1 + c] - (double)p10[x0 + c]);
        double a11 = (double)p11[x0 + c] + cx.t * ((double)p11[x1 + c] - (double)p11[x0 + c]);
        double lo = a00 + cy.t * (a01 - a00), hi = a10 + cy.t * (a11 - a10);
        u[c] = lo + cz.t * (hi - lo);
    }
}
