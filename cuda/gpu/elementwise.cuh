// elementwise.cuh — SwiGLU, GeGLU, scaling, residual add and row gathers. CPU twin: cpu/elementwise.cpp.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

void swiglu(const float *gate, const float *up, float *out, int64_t n, cudaStream_t stream);
void geglu(const float *gate, const float *up, float *out, int64_t n, cudaStream_t stream);
void scale(float *x, float s, int64_t n, cudaStream_t stream);
void add(float *x, const float *y, int64_t n, cudaStream_t stream);
// dst[i, :] = src[idx[i], :] for i < n (idx in device memory, or null for idx[i] = i).
void gather_rows(const F32View &src, const int32_t *idx, int n, const F32View &dst, cudaStream_t stream);

}  // namespace wc::gpu
