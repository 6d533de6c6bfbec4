// rms_norm.cuh — out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w. CPU twin: cpu/norm.cpp.
#pragma once

#include <cuda_runtime.h>

namespace wc::gpu {

void rms_norm(const float *x, const float *w, float *out, int n_rows, int dim, float eps, cudaStream_t stream);

}  // namespace wc::gpu
