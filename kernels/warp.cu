// Dose warping (direct trilinear pull, or energy/mass-consistent gather) and the fused
// warp -> EQDx -> recovery -> sum step over courses.
//
// Contract (see common.cuh and accumulate/warp/_layout.py):
//  * One thread per target voxel (gather form, no atomics); the target grid is (nz, ny, nx), voxel i
//    at x = i % nx, y = (i / nx) % ny, z = i / (nx ny).
//  * Each moving course is described by a float64 geometry block `g` of G_SIZE values (composed
//    affines between target, field and dose indices; grid sizes; course parameters), laid out as in
//    accumulate/warp/_layout.py. Coordinates and Jacobians are computed in double, stored values
//    and per-voxel sums in real_t.
//  * The field is (nz, ny, nx, 3) real_t with (ux, uy, uz) in LPS mm on its own (fixed) grid; the
//    moving point is q = p + u(p), u clamped-trilinear. The density (nullable: 1 g/cm3) is on the
//    dose grid. `direct`: trilinear dose at q of the voxel centre. `mass`: k^3 sub-samples per voxel,
//    each weighted by its mapped volume |det K| and the box integral of the voxel-constant rho, dose
//    = energy / mass (see warp_voxel).
//  * A voxel whose centre (direct) or any sub-sample (mass) maps outside the dose grid's voxel
//    boxes (index < -0.5 or > n - 0.5 on an axis) gets NaN, dose and mass alike.
// References: Zhong & Siebers, Phys Med Biol 2009;54:5815, doi:10.1088/0031-9155/54/19/005;
// Siebers & Zhong, Med Phys 2008;35:4096, doi:10.1118/1.2968215.
#include "interp.cuh"
#include "lq.cuh"

#define G_T2F 0
#define G_T2D 12
#define G_U2D 24
#define G_NF 33
#define G_ND 36
#define G_DV 39
#define G_FRACTIONS 40
#define G_RBE 41
#define G_RES_STRIDE 42
#define G_ON_GRID 43
#define G_HAS_RHO 44
#define G_ALIGNED 45
#define G_SIZE 48

__device__ __forceinline__ void affine3(const double* m, double x, double y, double z, double out[3]) {
    for (int r = 0; r < 3; ++r) out[r] = m[4 * r] * x + m[4 * r + 1] * y + m[4 * r + 2] * z + m[4 * r + 3];
}

__device__ __forceinline__ bool in_box(const double d[3], const double* n) {
    return d[0] >= -0.5 && d[0] <= n[0] - 0.5 && d[1] >= -0.5 && d[1] <= n[1] - 0.5 && d[2] >= -0.5 && d[2] <= n[2] - 0.5;
}

// Dose-grid index d of the moving point of target index (x, y, z); du (nullable) gets d u / d field index.
__device__ __forceinline__ void dose_index(const real_t* __restrict__ field, const double* g, double x, double y,
                                           double z, double d[3], double* du) {
    double f[3], u[3];
    affine3(g + G_T2F, x, y, z, f);
    field_sample(field, (index_t)g[G_NF], (index_t)g[G_NF + 1], (index_t)g[G_NF + 2], f[0], f[1], f[2], u, du);
    affine3(g + G_T2D, x, y, z, d);
    const double* m = g + G_U2D;
    for (int r = 0; r < 3; ++r) d[r] += m[3 * r] * u[0] + m[3 * r + 1] * u[1] + m[3 * r + 2] * u[2];
}

// Index offset of sub-sample s of k along one axis, (s + 0.5) / k - 0.5, in the exact form every backend uses.
__device__ __forceinline__ double subsample_offset(int s, int k) { return (2.0 * s + 1.0 - k) / (2.0 * k); }

// K = d(dose index) / d(target index) = T2D + U2D du T2F (linear parts), row-major.
__device__ __forceinline__ void index_jacobian(const double* g, const double* du, double kmat[9]) {
    double dut[9];  // du T2F
    for (int c = 0; c < 3; ++c)
        for (int b = 0; b < 3; ++b)
            dut[3 * c + b] = du[3 * c] * g[G_T2F + b] + du[3 * c + 1] * g[G_T2F + 4 + b] + du[3 * c + 2] * g[G_T2F + 8 + b];
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b)
            kmat[3 * a + b] = g[G_T2D + 4 * a + b] + g[G_U2D + 3 * a] * dut[b] + g[G_U2D + 3 * a + 1] * dut[3 + b] +
                              g[G_U2D + 3 * a + 2] * dut[6 + b];
}

// The index interval centre +- half on an axis of n voxels, clipped to the voxel boxes [-0.5, n - 0.5].
struct Box {
    index_t first, last;  // voxels it touches
    double lo, hi;
};

__device__ __forceinline__ Box make_box(double centre, double half, index_t n) {
    Box b;
    b.lo = fmax(centre - half, -0.5);
    b.hi = fmin(centre + half, (double)n - 0.5);
    b.first = nearest_index(b.lo, n);
    b.last = nearest_index(b.hi, n);
    if (b.last < b.first) b.last = b.first;
    return b;
}

// Fraction of the box inside voxel j (a zero-width box counts wholly in its first voxel).
__device__ __forceinline__ double box_overlap(const Box& b, index_t j) {
    if (b.hi <= b.lo) return j == b.first ? 1.0 : 0.0;
    return fmax(fmin(b.hi, j + 0.5) - fmax(b.lo, j - 0.5), 0.0) / (b.hi - b.lo);
}

// Fraction of a box of width <= 1 (starting inside voxel b.first) that lies in voxel b.first + 1.
__device__ __forceinline__ double upper_share(const Box& b) {
    return b.hi > b.lo ? fmax(b.hi - (b.first + 0.5), 0.0) / (b.hi - b.lo) : 0.0;
}

// Box integrals (fractions summing to 1) of D rho and rho over the boxes bx, by, bz.
__device__ __forceinline__ void box_sums(const real_t* __restrict__ dose, const real_t* __restrict__ density, index_t nx,
                                         index_t ny, index_t nz, const Box& bx, const Box& by, const Box& bz,
                                         real_t* box_e, real_t* box_m) {
    *box_e = (real_t)0;
    *box_m = (real_t)0;
    if (bx.hi - bx.lo <= 1.0 && by.hi - by.lo <= 1.0 && bz.hi - bz.lo <= 1.0) {  // two voxels per axis at most
        double t[3] = {upper_share(bx), upper_share(by), upper_share(bz)};
        index_t x1 = bx.first + 1 < nx ? bx.first + 1 : nx - 1, y1 = by.first + 1 < ny ? by.first + 1 : ny - 1;
        index_t z1 = bz.first + 1 < nz ? bz.first + 1 : nz - 1;
        for (int c = 0; c < 8; ++c) {
            index_t jx = (c & 1) ? x1 : bx.first, jy = (c & 2) ? y1 : by.first, jz = (c & 4) ? z1 : bz.first;
            real_t w = (real_t)(((c & 1) ? t[0] : 1.0 - t[0]) * ((c & 2) ? t[1] : 1.0 - t[1]) * ((c & 4) ? t[2] : 1.0 - t[2]));
            index_t v = (jz * ny + jy) * nx + jx;
            real_t rho = density ? density[v] : (real_t)1;
            *box_e += w * dose[v] * rho;
            *box_m += w * rho;
        }
        return;
    }
    for (index_t jz = bz.first; jz <= bz.last; ++jz) {
        double wz = box_overlap(bz, jz);
        for (index_t jy = by.first; jy <= by.last; ++jy) {
            double wyz = wz * box_overlap(by, jy);
            for (index_t jx = bx.first; jx <= bx.last; ++jx) {
                real_t w = (real_t)(wyz * box_overlap(bx, jx));
                index_t v = (jz * ny + jy) * nx + jx;
                real_t rho = density ? density[v] : (real_t)1;
                *box_e += w * dose[v] * rho;
                *box_m += w * rho;
            }
        }
    }
}

// Warped dose of target voxel (ix, iy, iz) (NaN outside); *mass_g gets the mapped mass in g (mass method).
// mass: each sub-sample's image is approximated by the axis-aligned box (in dose indices) bounding the
// parallelepiped K / k; energy and mass are the box integrals of the voxel-constant D rho and rho,
// times |det K| (exact for the identity and voxel shifts, continuous in the field).
__device__ real_t warp_voxel(const real_t* __restrict__ dose, const real_t* __restrict__ density,
                             const real_t* __restrict__ field, const double* g, int mass_method, int k,
                             index_t i, index_t tx, index_t ty, real_t* mass_g) {
    const real_t not_a_number = (real_t)nan("");
    index_t ix = i % tx, iy = (i / tx) % ty, iz = i / (tx * ty);
    index_t nx = (index_t)g[G_ND], ny = (index_t)g[G_ND + 1], nz = (index_t)g[G_ND + 2];
    double d[3];
    *mass_g = not_a_number;
    if (!mass_method) {
        if (g[G_ALIGNED] != 0.0) {  // the field sits on the target voxel centres: read u, no interpolation
            affine3(g + G_T2D, (double)ix, (double)iy, (double)iz, d);
            const double* m = g + G_U2D;
            const real_t* u = field + 3 * i;
            for (int r = 0; r < 3; ++r) d[r] += m[3 * r] * (double)u[0] + m[3 * r + 1] * (double)u[1] + m[3 * r + 2] * (double)u[2];
        } else {
            dose_index(field, g, (double)ix, (double)iy, (double)iz, d, 0);
        }
        if (!in_box(d, g + G_ND)) return not_a_number;
        return (real_t)trilinear(dose, nx, ny, nz, d[0], d[1], d[2]);
    }
    real_t energy = (real_t)0, mass = (real_t)0;
    double du[9], km[9];
    for (int sz = 0; sz < k; ++sz)
        for (int sy = 0; sy < k; ++sy)
            for (int sx = 0; sx < k; ++sx) {
                dose_index(field, g, ix + subsample_offset(sx, k), iy + subsample_offset(sy, k), iz + subsample_offset(sz, k), d, du);
                if (!in_box(d, g + G_ND)) return not_a_number;
                index_jacobian(g, du, km);
                double volume = fabs(km[0] * (km[4] * km[8] - km[5] * km[7]) - km[1] * (km[3] * km[8] - km[5] * km[6]) +
                                     km[2] * (km[3] * km[7] - km[4] * km[6]));
                Box bx = make_box(d[0], (fabs(km[0]) + fabs(km[1]) + fabs(km[2])) / (2 * k), nx);
                Box by = make_box(d[1], (fabs(km[3]) + fabs(km[4]) + fabs(km[5])) / (2 * k), ny);
                Box bz = make_box(d[2], (fabs(km[6]) + fabs(km[7]) + fabs(km[8])) / (2 * k), nz);
                real_t box_e, box_m;
                box_sums(dose, density, nx, ny, nz, bx, by, bz, &box_e, &box_m);
                energy += box_e * (real_t)volume;
                mass += box_m * (real_t)volume;
            }
    *mass_g = mass * (real_t)g[G_DV];
    return energy / mass;
}

// out[i] = warped dose of target voxel i; mass_out (nullable) = mapped mass in g (mass method).
extern "C" __global__ void warp_dose(const real_t* __restrict__ dose, const real_t* __restrict__ density,
                                     const real_t* __restrict__ field, const double* __restrict__ geom,
                                     int mass_method, int subsamples, index_t nx, index_t ny,
                                     real_t* __restrict__ out, real_t* __restrict__ mass_out, index_t n) {
    GRID_STRIDE_LOOP(i, n) {
        real_t mass;
        out[i] = warp_voxel(dose, density, field, geom, mass_method, subsamples, i, nx, ny, &mass);
        if (mass_out) mass_out[i] = mass;
    }
}

// cumulative[i] = sum_c residual_c[i] * EQDx(rbe_c * D_c(i), fractions_c, ab[i]), D_c warped on the fly
// (or read directly for a course with G_ON_GRID); remaining (when limit is not null) = the largest dose
// in new_fractions fractions keeping EQDx within limit - cumulative. Pointer tables hold one address
// per course (density 0 = unit density); NaN (outside a prior dose grid) propagates to both outputs.
extern "C" __global__ void accumulate_warped(const long long* __restrict__ dose_ptrs,
                                             const long long* __restrict__ density_ptrs,
                                             const long long* __restrict__ field_ptrs,
                                             const long long* __restrict__ residual_ptrs,
                                             const double* __restrict__ geoms, int n_courses, int mass_method,
                                             int subsamples, const real_t* __restrict__ alpha_beta, index_t ab_stride,
                                             real_t ref_dose, const real_t* __restrict__ limit, real_t new_fractions,
                                             index_t nx, index_t ny, real_t* __restrict__ cumulative,
                                             real_t* __restrict__ remaining, index_t n) {
    GRID_STRIDE_LOOP(i, n) {
        real_t ab = alpha_beta[i * ab_stride];
        real_t total = (real_t)0;
        for (int c = 0; c < n_courses; ++c) {
            const double* g = geoms + (index_t)c * G_SIZE;
            const real_t* dose = (const real_t*)(unsigned long long)dose_ptrs[c];
            real_t value, mass;
            if (g[G_ON_GRID] != 0.0) {
                value = dose[i];
            } else {
                value = warp_voxel(dose, (const real_t*)(unsigned long long)density_ptrs[c], (const real_t*)(unsigned long long)field_ptrs[c], g,
                                   mass_method, subsamples, i, nx, ny, &mass);
            }
            real_t residual = ((const real_t*)(unsigned long long)residual_ptrs[c])[i * (index_t)g[G_RES_STRIDE]];
            total += residual * lq_equivalent((real_t)g[G_RBE] * value, (real_t)g[G_FRACTIONS], ab, ref_dose);
        }
        cumulative[i] = total;
        if (limit) remaining[i] = lq_max_dose(limit[i] - total, new_fractions, ab, ref_dose);
    }
}
