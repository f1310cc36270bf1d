// Voxelwise radiobiology: equivalent dose, dose headroom, and the sum over courses.
//
// Contract (see common.cuh): C-contiguous real_t arrays of n voxels, double arithmetic; alpha/beta
// given as pointer + stride (stride 0 = scalar); doses are total course doses in Gy (physical,
// turned into RBE-weighted dose by the per-course factor `rbe`).
#include "lq.cuh"

// out[i] = EQDx of rbe * dose[i] in `fractions` fractions (ref_dose = 0: BED).
extern "C" __global__ void __launch_bounds__(THREADS_PER_BLOCK)
lq_equivalent_dose(const real_t* __restrict__ dose, const real_t* __restrict__ alpha_beta, index_t ab_stride,
                   double fractions, double rbe, double ref_dose, real_t* __restrict__ out, index_t n) {
    GRID_STRIDE_LOOP(i, n) {
        out[i] = (real_t)lq_equivalent(rbe * (double)dose[i], fractions, (double)alpha_beta[i * ab_stride], ref_dose);
    }
}

// out[i] = largest total dose in `fractions` fractions whose EQDx stays within remaining[i] (>= 0; NaN stays NaN).
extern "C" __global__ void __launch_bounds__(THREADS_PER_BLOCK)
lq_max_additional_dose(const real_t* __restrict__ remaining, const real_t* __restrict__ alpha_beta, index_t ab_stride,
                       double fractions, double ref_dose, real_t* __restrict__ out, index_t n) {
    GRID_STRIDE_LOOP(i, n) {
        out[i] = (real_t)lq_max_dose((double)remaining[i], fractions, (double)alpha_beta[i * ab_stride], ref_dose);
    }
}

// Cumulative EQDx over K courses already on one grid, each discounted by its residual fraction
// (1 - recovered), in one pass that reads every input once:
//   cumulative[i] = sum_k residual[k n + i] * EQDx(rbe_k * dose[k n + i], fractions_k, ab[i])
// doses and residuals are stacked (K, n); fractions and rbe hold K values. When `limit` is not
// null, also the headroom for a new course of `new_fractions` fractions:
//   remaining[i] = max additional dose with EQDx <= limit[i] - cumulative[i] (limit NaN -> NaN).
extern "C" __global__ void __launch_bounds__(THREADS_PER_BLOCK)
accumulate_courses(const real_t* __restrict__ doses, const real_t* __restrict__ residuals,
                   const double* __restrict__ fractions, const double* __restrict__ rbe, int n_courses,
                   const real_t* __restrict__ alpha_beta, index_t ab_stride, double ref_dose,
                   const real_t* __restrict__ limit, double new_fractions, real_t* __restrict__ cumulative,
                   real_t* __restrict__ remaining, index_t n) {
    GRID_STRIDE_LOOP(i, n) {
        double ab = (double)alpha_beta[i * ab_stride];
        double total = 0.0;
        for (int k = 0; k < n_courses; ++k) {
            index_t v = (index_t)k * n + i;
            total += (double)residuals[v] * lq_equivalent(rbe[k] * (double)doses[v], fractions[k], ab, ref_dose);
        }
        cumulative[i] = (real_t)total;
        if (limit) remaining[i] = (real_t)lq_max_dose((double)limit[i] - total, new_fractions, ab, ref_dose);
    }
}
