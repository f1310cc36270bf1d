// Host shim: compiles a kernels/*.cu file as ordinary C++ for the CPU (force-included with
// `g++ -include host_shim.h`). CUDA qualifiers vanish and the launch is one thread of one block,
// so each kernel's grid-stride loop visits every voxel in turn. Used by the "cuda-host" backend to
// execute the real kernel source against the NumPy reference on machines without a GPU.
#pragma once
#include <cmath>
#include <cstdint>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct accumulate_host_dim3 {
    unsigned int x, y, z;
};
static const accumulate_host_dim3 threadIdx = {0u, 0u, 0u};
static const accumulate_host_dim3 blockIdx = {0u, 0u, 0u};
static const accumulate_host_dim3 blockDim = {1u, 1u, 1u};
static const accumulate_host_dim3 gridDim = {1u, 1u, 1u};

using std::fabs;
using std::floor;
using std::fmax;
using std::fmin;
using std::isfinite;
using std::isnan;
using std::sqrt;
