// Linear-quadratic model, device functions shared by the radiobiology and warp kernels.
// Doses in Gy (RBE-weighted where the course is particle therapy); alpha/beta in Gy.
// References: Fowler JF, Br J Radiol 1989;62:679-694 (BED); Joiner & van der Kogel,
// Basic Clinical Radiobiology (EQD2 / EQDx).
#pragma once
#include "common.cuh"

// Equivalent dose in `ref` Gy fractions of a total dose `dose` given in `n` equal fractions:
// EQDx = D (alpha/beta + D/n) / (alpha/beta + x). ref = 0 gives the BED.
__device__ __forceinline__ real_t lq_equivalent(real_t dose, real_t n, real_t ab, real_t ref) {
    return dose * (ab + dose / n) / (ab + ref);
}

// Largest total dose D in n fractions with EQDx(D) <= remaining (0 when nothing remains).
// Solves D^2/(n ab) + D - B = 0 with B = remaining (ab + ref)/ab, in the cancellation-free form
// D = 2B / (1 + sqrt(1 + 4B/(n ab))).
__device__ __forceinline__ real_t lq_max_dose(real_t remaining, real_t n, real_t ab, real_t ref) {
    if (isnan(remaining)) return remaining;
    if (remaining <= (real_t)0) return (real_t)0;
    real_t bed = remaining * (ab + ref) / ab;
    return (real_t)2 * bed / ((real_t)1 + sqrt((real_t)1 + (real_t)4 * bed / (n * ab)));
}
