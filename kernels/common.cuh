// Shared definitions for every kernels/*.cu file.
//
// Contract for all kernels in this directory:
//  * `real_t` (float or double) is defined by the launcher's preamble (CuPy) or by -Dreal_t=...
//    (host build); `index_t` is a signed 64-bit voxel index.
//  * Every kernel is `extern "C"` and walks its voxels with GRID_STRIDE_LOOP, so any launch
//    shape covers all n voxels. No shared memory and no __syncthreads: that is what lets the
//    very same source run on the CPU behind host_shim.h (one "thread" striding over everything),
//    which is how CI executes these kernels without a GPU.
//  * Arrays are C-contiguous, (z, y, x) order. A per-voxel parameter that may also be a scalar
//    is passed as a pointer plus a stride (0 = the same value for every voxel).
#pragma once

typedef long long index_t;

#define GRID_STRIDE_LOOP(i, n)                                                   \
    for (index_t i = (index_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);  \
         i += (index_t)blockDim.x * gridDim.x)
