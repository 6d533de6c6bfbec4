// matmul.cuh — y[t, :] = W x[t, :] over weights in their stored type (quantized blocks read in
// place, dequantized in registers). CPU twin: cpu/matmul.cpp.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

void matmul(const Weight &w, const float *x, int n, float *y, cudaStream_t stream);

}  // namespace wc::gpu
