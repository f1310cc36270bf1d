// Host shim: compiles a kernels/*.cu file as ordinary C++ for the CPU (force-included with
// `g++ -include host_shim.h`). CUDA qualifiers vanish and GRID_STRIDE_LOOP (common.cuh) becomes an
// OpenMP parallel loop over the items, so one call of a kernel covers all n of them on every core.
// Used by the "cuda-host" backend, which executes the real kernel sources on machines without a GPU.
#pragma once
#include <cmath>
#include <cstdint>

#define ACCUMULATE_HOST 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __restrict__ __restrict
#define __launch_bounds__(threads)

using std::fabs;
using std::isfinite;
using std::isnan;
using std::nan;
using std::sqrt;

// fmax/fmin (with the IEEE semantics of CUDA's: a NaN argument loses) and floor, inlined:
// libm's are calls, which cost the host build half its speed.
namespace accumulate_host {
inline __attribute__((always_inline)) double fmax(double a, double b) { return (a > b || b != b) ? a : b; }
inline __attribute__((always_inline)) double fmin(double a, double b) { return (a < b || b != b) ? a : b; }
// exact for |x| < 2^63 (every argument the kernels pass is clamped to a grid's extent); without SSE4.1 libm's is a call
inline __attribute__((always_inline)) double floor(double x) {
    double t = (double)(long long)x;
    return t > x ? t - 1.0 : t;
}
}  // namespace accumulate_host
#define fmax accumulate_host::fmax
#define fmin accumulate_host::fmin
#define floor accumulate_host::floor
