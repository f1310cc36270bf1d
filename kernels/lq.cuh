// Linear-quadratic model, device functions of the radiobiology kernels (double arithmetic, see common.cuh).
// Doses in Gy (RBE-weighted where the course is particle therapy); alpha/beta in Gy.
// References: Fowler JF, Br J Radiol 1989;62:679-694 (BED); Joiner & van der Kogel,
// Basic Clinical Radiobiology (EQD2 / EQDx).
#pragma once
#include "common.cuh"

// Equivalent dose in `ref` Gy fractions of a total dose `dose` given in `n` equal fractions:
// EQDx = D (alpha/beta + D/n) / (alpha/beta + x). ref = 0 gives the BED.
__device__ __forceinline__ double lq_equivalent(double dose, double n, double ab, double ref) {
    return dose * (ab + dose / n) / (ab + ref);
}

// Largest total dose D in n fractions with EQDx(D) <= remaining (0 when nothing remains).
// Solves D^2/(n ab) + D - B = 0 with B = remaining (ab + ref)/ab, in the cancellation-free form
// D = 2B / (1 + sqrt(1 + 4B/(n ab))).
__device__ __forceinline__ double lq_max_dose(double remaining, double n, double ab, double ref) {
    if (isnan(remaining)) return remaining;
    if (remaining <= 0.0) return 0.0;
    double bed = remaining * (ab + ref) / ab;
    return 2.0 * bed / (1.0 + sqrt(1.0 + 4.0 * bed / (n * ab)));
}
