// elementwise.cuh — SwiGLU and residual add. CPU twin: cpu/elementwise.cpp.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace wc::gpu {

void swiglu(const float *gate, const float *up, float *out, int64_t n, cudaStream_t stream);
void add(float *x, const float *y, int64_t n, cudaStream_t stream);

}  // namespace wc::gpu
