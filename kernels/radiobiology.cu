// Voxelwise radiobiology: equivalent dose, dose headroom, and the sum over courses.
//
// Contract (see common.cuh): C-contiguous real_t arrays of n voxels; alpha/beta given as
// pointer + stride (stride 0 = scalar); doses are total course doses in Gy (physical, turned
// into RBE-weighted dose by the per-course factor `rbe`).
#include "lq.cuh"

// out[i] = EQDx of rbe * dose[i] in `fractions` fractions (ref_dose = 0: BED).
extern "C" __global__ void lq_equivalent_dose(const real_t* __restrict__ dose, const real_t* __restrict__ alpha_beta,
                                              index_t ab_stride, real_t fractions, real_t rbe, real_t ref_dose,
                                              real_t* __restrict__ out, index_t n) {
    GRID_STRIDE_LOOP(i, n) {
        out[i] = lq_equivalent(rbe * dose[i], fractions, alpha_beta[i * ab_stride], ref_dose);
    }
}

// out[i] = largest total dose in `fractions` fractions whose EQDx stays within remaining[i] (>= 0; NaN stays NaN).
extern "C" __global__ void lq_max_additional_dose(const real_t* __restrict__ remaining,
                                                  const real_t* __restrict__ alpha_beta, index_t ab_stride,
                                                  real_t fractions, real_t ref_dose, real_t* __restrict__ out,
                                                  index_t n) {
    GRID_STRIDE_LOOP(i, n) {
        out[i] = lq_max_dose(remaining[i], fractions, alpha_beta[i * ab_stride], ref_dose);
    }
}

// Cumulative EQDx over K courses already on one grid, each discounted by its residual fraction
// (1 - recovered), in one pass that reads every input once:
//   cumulative[i] = sum_k residual_k[i] * EQDx(rbe_k * dose_k[i], fractions_k, ab[i])
// doses, residuals: K pointers each (device addresses); residual_k is read with stride
// residual_strides[k] (0 = one value for the course). When `limit` is not null, also the headroom
// for a new course of `new_fractions` fractions:
//   remaining[i] = max additional dose with EQDx <= limit[i] - cumulative[i] (limit NaN -> NaN).
extern "C" __global__ void accumulate_courses(const real_t* const* __restrict__ doses,
                                              const real_t* const* __restrict__ residuals,
                                              const index_t* __restrict__ residual_strides,
                                              const real_t* __restrict__ fractions, const real_t* __restrict__ rbe,
                                              const real_t* __restrict__ alpha_beta, index_t ab_stride, int n_courses,
                                              real_t ref_dose, const real_t* __restrict__ limit, real_t new_fractions,
                                              real_t* __restrict__ cumulative, real_t* __restrict__ remaining,
                                              index_t n) {
    GRID_STRIDE_LOOP(i, n) {
        real_t ab = alpha_beta[i * ab_stride];
        real_t total = (real_t)0;
        for (int k = 0; k < n_courses; ++k) {
            real_t eqd = lq_equivalent(rbe[k] * doses[k][i], fractions[k], ab, ref_dose);
            total += residuals[k][i * residual_strides[k]] * eqd;
        }
        cumulative[i] = total;
        if (limit) remaining[i] = lq_max_dose(limit[i] - total, new_fractions, ab, ref_dose);
    }
}
