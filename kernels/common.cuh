// Shared definitions for every kernels/*.cu file.
//
// Contract for all kernels in this directory:
//  * `real_t` (float or double) is the storage type of every array, defined by the launcher's
//    preamble (CuPy) or by -Dreal_t=... (host build). Precision rule, the same on every backend:
//    arrays are read and written in real_t, all arithmetic (coordinates, weights, sums) is double.
//  * `index_t` is a signed voxel index: 32-bit, or 64-bit when the launcher defines
//    ACCUMULATE_INDEX_64 (it does when an array holds 2^30 elements or more).
//  * Every kernel is `extern "C" __global__ void __launch_bounds__(THREADS_PER_BLOCK)` and walks its
//    items with GRID_STRIDE_LOOP, so any launch shape covers all n items. No shared memory and no
//    __syncthreads: that is what lets the very same source run on the CPU behind host_shim.h, where
//    GRID_STRIDE_LOOP becomes an OpenMP parallel loop (the "cuda-host" backend).
//  * Arrays are C-contiguous, (z, y, x) order. A per-voxel parameter that may also be a scalar
//    is passed as a pointer plus a stride (0 = the same value for every voxel).
#pragma once

#ifdef ACCUMULATE_INDEX_64
typedef long long index_t;
#else
typedef int index_t;
#endif

#ifndef THREADS_PER_BLOCK
#define THREADS_PER_BLOCK 256
#endif

#ifdef ACCUMULATE_HOST
#define GRID_STRIDE_LOOP(i, n) _Pragma("omp parallel for schedule(dynamic, 1024)") for (index_t i = 0; i < (n); ++i)
#else
#define GRID_STRIDE_LOOP(i, n)                                                   \
    for (index_t i = (index_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);  \
         i += (index_t)blockDim.x * gridDim.x)
#endif
