// Dose warping: the direct trilinear pull and the energy/mass-consistent gather.
//
// Contract (see common.cuh and accumulate/warp/_layout.py, whose constants the G_* defines mirror;
// tests/warp/test_layout.py keeps them equal):
//  * Gather form, one thread per target item, no atomics. Target grid (tz, ty, tx), voxel i at
//    x = i % tx, y = (i / tx) % ty, z = i / (tx ty).
//  * A moving course is described by a double geometry block `g` (composed affines between target,
//    field and dose indices; grid sizes), laid out as in accumulate/warp/_layout.py.
//  * The field is (nz, ny, nx, 3) real_t with (ux, uy, uz) in LPS mm on its own (fixed) grid; the
//    moving point is q = p + u(p), u trilinear, extrapolated linearly up to its outer voxel faces
//    (interp.cuh). The density (nullable: 1 g/cm3) is on the dose grid.
//  * warp_direct: trilinear dose at q of the voxel centre.
//  * warp_mass (after mass_corners has mapped the voxel corners of the slab): see warp_mass below.
//  * A voxel whose centre (direct) or any sub-sample (mass) maps outside the dose grid's voxel
//    boxes (index < -0.5 or > n - 0.5 on an axis) gets NaN, dose and mass alike.
// References: Zhong & Siebers, Phys Med Biol 2009;54:5815, doi:10.1088/0031-9155/54/19/005;
// Siebers & Zhong, Med Phys 2008;35:4096, doi:10.1118/1.2968215.
#include "interp.cuh"

#define G_T2F 0
#define G_T2D 12
#define G_U2D 24
#define G_NF 33
#define G_ND 36
#define G_DV 39
#define G_HAS_RHO 40
#define G_ALIGNED 41
#define G_SIZE 42

__device__ __forceinline__ bool in_box(const double d[3], const double* n) {
    return d[0] >= -0.5 && d[0] <= n[0] - 0.5 && d[1] >= -0.5 && d[1] <= n[1] - 0.5 && d[2] >= -0.5 && d[2] <= n[2] - 0.5;
}

// Dose index d of the moving point of target index (x, y, z): T2D t + U2D u(T2F t).
__device__ __forceinline__ void moving_index(const real_t* __restrict__ field, const double* g, double x, double y,
                                             double z, double d[3]) {
    const double* a = g + G_T2F;
    double fx = a[0] * x + a[1] * y + a[2] * z + a[3];
    double fy = a[4] * x + a[5] * y + a[6] * z + a[7];
    double fz = a[8] * x + a[9] * y + a[10] * z + a[11];
    double u[3];
    field_value(field, (index_t)g[G_NF], (index_t)g[G_NF + 1], (index_t)g[G_NF + 2], fx, fy, fz, u);
    const double* b = g + G_T2D;
    const double* m = g + G_U2D;
    for (int r = 0; r < 3; ++r)
        d[r] = b[4 * r] * x + b[4 * r + 1] * y + b[4 * r + 2] * z + b[4 * r + 3] + (m[3 * r] * u[0] + m[3 * r + 1] * u[1] + m[3 * r + 2] * u[2]);
}

// out[i] = dose at the moving point of target voxel i (NaN outside). With G_ALIGNED the field sits on
// the target voxel centres and u is read, not interpolated.
extern "C" __global__ void __launch_bounds__(THREADS_PER_BLOCK)
warp_direct(const real_t* __restrict__ dose, const real_t* __restrict__ field, const double* __restrict__ g,
            index_t tx, index_t ty, real_t* __restrict__ out, index_t n) {
    GRID_STRIDE_LOOP(i, n) {
        index_t row = i / tx, iz = row / ty;
        double x = (double)(i - row * tx), y = (double)(row - iz * ty), z = (double)iz;
        double d[3];
        if (g[G_ALIGNED] != 0.0) {
            const double* b = g + G_T2D;
            const double* m = g + G_U2D;
            double u0 = (double)field[3 * i], u1 = (double)field[3 * i + 1], u2 = (double)field[3 * i + 2];
            for (int r = 0; r < 3; ++r)
                d[r] = b[4 * r] * x + b[4 * r + 1] * y + b[4 * r + 2] * z + b[4 * r + 3] + (m[3 * r] * u0 + m[3 * r + 1] * u1 + m[3 * r + 2] * u2);
        } else {
            moving_index(field, g, x, y, z, d);
        }
        out[i] = in_box(d, g + G_ND) ? (real_t)trilinear(dose, (index_t)g[G_ND], (index_t)g[G_ND + 1], (index_t)g[G_ND + 2], d[0], d[1], d[2])
                                     : (real_t)nan("");
    }
}

// corners[3 c + r] = dose index (r = x, y, z) of the moving point of voxel corner c of the planes
// z0 - 1/2 .. of the target grid: corner c = (cx, cy, cz) with cx in [0, tx], cy in [0, ty], c =
// (cz (ty + 1) + cy) (tx + 1) + cx, at target index (cx - 1/2, cy - 1/2, z0 + cz - 1/2). n = number of
// corners. Adjacent voxels share their corners, so the images of the voxels tile the mapped region.
extern "C" __global__ void __launch_bounds__(THREADS_PER_BLOCK)
mass_corners(const real_t* __restrict__ field, const double* __restrict__ g, index_t tx, index_t ty, index_t z0,
             double* __restrict__ corners, index_t n) {
    GRID_STRIDE_LOOP(c, n) {
        index_t cx = c % (tx + 1), cy = (c / (tx + 1)) % (ty + 1), cz = c / ((tx + 1) * (ty + 1));
        double d[3];
        moving_index(field, g, (double)cx - 0.5, (double)cy - 0.5, (double)(z0 + cz) - 0.5, d);
        corners[3 * c] = d[0];
        corners[3 * c + 1] = d[1];
        corners[3 * c + 2] = d[2];
    }
}

__device__ __forceinline__ double lerp(double a, double b, double t) { return a + t * (b - a); }

// Fractions of the index interval [lo, hi] (clipped to the voxel boxes [-0.5, n - 0.5]) in the voxels
// first, first + 1, ...; a zero-width interval lies wholly in `first`.
struct Span {
    index_t first, last;
    double lo, hi, inverse_width;
};

__device__ __forceinline__ Span make_span(double centre, double half, index_t n) {
    Span s;
    s.lo = fmax(centre - half, -0.5);
    s.hi = fmin(centre + half, (double)n - 0.5);
    s.first = (index_t)floor(s.lo + 0.5);
    s.first = s.first > n - 1 ? n - 1 : s.first;
    s.last = (index_t)floor(s.hi + 0.5);
    s.last = s.last > n - 1 ? n - 1 : (s.last < s.first ? s.first : s.last);
    s.inverse_width = s.hi > s.lo ? 1.0 / (s.hi - s.lo) : 0.0;
    return s;
}

__device__ __forceinline__ double span_share(const Span& s, index_t j) {
    if (s.inverse_width == 0.0) return j == s.first ? 1.0 : 0.0;
    return fmax(fmin(s.hi, (double)j + 0.5) - fmax(s.lo, (double)j - 0.5), 0.0) * s.inverse_width;
}

// Averages over the axis-aligned box sx x sy x sz of D rho (*e) and rho (*m), rho = 1 without density.
__device__ __forceinline__ void box_average(const real_t* __restrict__ dose, const real_t* __restrict__ rho,
                                            index_t nx, index_t ny, const Span& sx, const Span& sy, const Span& sz,
                                            double* e, double* m) {
    if (sx.last <= sx.first + 1 && sy.last <= sy.first + 1 && sz.last <= sz.first + 1) {  // 8 weighted corners
        double tx = fmax(sx.hi - ((double)sx.first + 0.5), 0.0) * sx.inverse_width;
        double ty = fmax(sy.hi - ((double)sy.first + 0.5), 0.0) * sy.inverse_width;
        double tz = fmax(sz.hi - ((double)sz.first + 0.5), 0.0) * sz.inverse_width;
        index_t r[4] = {(sz.first * ny + sy.first) * nx, (sz.first * ny + sy.last) * nx, (sz.last * ny + sy.first) * nx,
                        (sz.last * ny + sy.last) * nx};  // rows (y0 z0), (y1 z0), (y0 z1), (y1 z1)
        double ve[4], vm[4];
        for (int c = 0; c < 4; ++c) {
            double r0 = rho ? (double)rho[r[c] + sx.first] : 1.0, r1 = rho ? (double)rho[r[c] + sx.last] : 1.0;
            ve[c] = lerp((double)dose[r[c] + sx.first] * r0, (double)dose[r[c] + sx.last] * r1, tx);
            vm[c] = lerp(r0, r1, tx);
        }
        *e = lerp(lerp(ve[0], ve[1], ty), lerp(ve[2], ve[3], ty), tz);
        *m = lerp(lerp(vm[0], vm[1], ty), lerp(vm[2], vm[3], ty), tz);
        return;
    }
    *e = 0.0;
    *m = 0.0;
    for (index_t jz = sz.first; jz <= sz.last; ++jz) {
        double wz = span_share(sz, jz);
        for (index_t jy = sy.first; jy <= sy.last; ++jy) {
            double wyz = wz * span_share(sy, jy);
            const index_t row = (jz * ny + jy) * nx;
            for (index_t jx = sx.first; jx <= sx.last; ++jx) {
                double w = wyz * span_share(sx, jx);
                double density = rho ? (double)rho[row + jx] : 1.0;
                *e += w * (double)dose[row + jx] * density;
                *m += w * density;
            }
        }
    }
}

// d(dose index) / d(voxel fraction) of the image at fractions (ax, ay, az): the edges of the trilinear
// image, interpolated; km[r][b] for dose axis r and target axis b.
__device__ __forceinline__ void image_jacobian(const double q[8][3], double ax, double ay, double az, double km[3][3]) {
    for (int r = 0; r < 3; ++r) {
        km[r][0] = lerp(lerp(q[1][r] - q[0][r], q[3][r] - q[2][r], ay), lerp(q[5][r] - q[4][r], q[7][r] - q[6][r], ay), az);
        km[r][1] = lerp(lerp(q[2][r] - q[0][r], q[3][r] - q[1][r], ax), lerp(q[6][r] - q[4][r], q[7][r] - q[5][r], ax), az);
        km[r][2] = lerp(lerp(q[4][r] - q[0][r], q[5][r] - q[1][r], ax), lerp(q[6][r] - q[2][r], q[7][r] - q[3][r], ax), ay);
    }
}

// One sub-sample of a voxel whose mapped corners are q, at voxel fractions (ax, ay, az): false when its image
// point lies outside the dose grid, else its mapped sub-volume (*volume, dose voxels) and the box averages
// of D rho (*e) and rho (*m) (see warp_mass).
__device__ __forceinline__ bool mass_sample(const real_t* __restrict__ dose, const real_t* __restrict__ rho,
                                            const double q[8][3], double ax, double ay, double az, int k,
                                            const double* g, double* volume, double* e, double* m) {
    index_t nx = (index_t)g[G_ND], ny = (index_t)g[G_ND + 1], nz = (index_t)g[G_ND + 2];
    double d[3];
    for (int r = 0; r < 3; ++r) {  // trilinear point of the image: x first, then y, then z
        double x00 = q[0][r] + ax * (q[1][r] - q[0][r]), x10 = q[2][r] + ax * (q[3][r] - q[2][r]);
        double x01 = q[4][r] + ax * (q[5][r] - q[4][r]), x11 = q[6][r] + ax * (q[7][r] - q[6][r]);
        double y0 = x00 + ay * (x10 - x00), y1 = x01 + ay * (x11 - x01);
        d[r] = y0 + az * (y1 - y0);
    }
    if (!in_box(d, g + G_ND)) return false;
    double km[3][3];
    image_jacobian(q, ax, ay, az, km);
    *volume = fabs(km[0][0] * (km[1][1] * km[2][2] - km[1][2] * km[2][1]) - km[0][1] * (km[1][0] * km[2][2] - km[1][2] * km[2][0]) +
                   km[0][2] * (km[1][0] * km[2][1] - km[1][1] * km[2][0])) * (1.0 / ((double)k * k * k));
    double half[3];
    for (int r = 0; r < 3; ++r) half[r] = sqrt(km[r][0] * km[r][0] + km[r][1] * km[r][1] + km[r][2] * km[r][2]) * (1.0 / (2.0 * k));
    box_average(dose, rho, nx, ny, make_span(d[0], half[0], nx), make_span(d[1], half[1], ny), make_span(d[2], half[2], nz), e, m);
    return true;
}

// Energy/mass-consistent dose of target voxel i of the slab (n voxels from slice z0 on; corners from
// mass_corners for the planes z0 - 1/2 .. z0 + n / (tx ty) - 1/2), and the prior mass it receives.
// The 8 mapped corners q of the voxel span its image, the trilinear map of the unit cube a in [0, 1]^3.
//  * k^3 sub-samples at a = (s + 1/2) / k per axis; at each, K = d(dose index) / da gives the mapped
//    sub-volume |det K| / k^3 (dose voxels), and the sub-sample takes the averages of D rho and rho
//    (constant over each dose voxel) over the axis-aligned box centred at its image point whose
//    per-axis second moments are those of K / k (half-widths |row r of K| / (2 k)).
//  * Weighted by the sub-volumes they sum to E and m: dose = E / m (the unweighted averages if the
//    image has no volume), mass_g = m x the mass of a unit-density dose voxel (G_DV).
// Identity and whole-voxel shifts map each sub-box inside its own dose voxel, hence exactly.
extern "C" __global__ void __launch_bounds__(THREADS_PER_BLOCK)
warp_mass(const real_t* __restrict__ dose, const real_t* __restrict__ density, const double* __restrict__ corners,
          const double* __restrict__ g, int k, index_t tx, index_t ty, real_t* __restrict__ out,
          real_t* __restrict__ mass_out, index_t n) {
    GRID_STRIDE_LOOP(i, n) {
        index_t row = i / tx, ix = i - row * tx, iz = row / ty, iy = row - iz * ty;
        const real_t* rho = g[G_HAS_RHO] != 0.0 ? density : 0;
        double q[8][3];  // corner (cx, cy, cz) at q[cx + 2 cy + 4 cz]
        for (int c = 0; c < 8; ++c) {
            index_t corner = ((iz + (c >> 2)) * (ty + 1) + iy + ((c >> 1) & 1)) * (tx + 1) + ix + (c & 1);
            for (int r = 0; r < 3; ++r) q[c][r] = corners[3 * corner + r];
        }
        double energy = 0.0, mass = 0.0, plain_energy = 0.0, plain_mass = 0.0, volume = 0.0, e = 0.0, m = 0.0;
        bool inside = true;
        if (k == 1) {  // the default: one sample at the centre, without the loops (same arithmetic)
            inside = mass_sample(dose, rho, q, 0.5, 0.5, 0.5, 1, g, &volume, &e, &m);
            energy = volume * e, mass = volume * m, plain_energy = e, plain_mass = m;
        }
        for (int sz = 0; sz < k && inside && k > 1; ++sz) {
            for (int sy = 0; sy < k && inside; ++sy) {
                for (int sx = 0; sx < k && inside; ++sx) {
                    inside = mass_sample(dose, rho, q, (2.0 * sx + 1.0) / (2.0 * k), (2.0 * sy + 1.0) / (2.0 * k),
                                         (2.0 * sz + 1.0) / (2.0 * k), k, g, &volume, &e, &m);
                    energy += volume * e;
                    mass += volume * m;
                    plain_energy += e;
                    plain_mass += m;
                }
            }
        }
        double value = mass > 0.0 ? energy / mass : plain_energy / plain_mass;
        out[i] = inside ? (real_t)value : (real_t)nan("");
        if (mass_out) mass_out[i] = inside ? (real_t)(mass * g[G_DV]) : (real_t)nan("");
    }
}
