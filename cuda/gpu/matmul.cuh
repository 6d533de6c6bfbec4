// matmul.cuh — y[t, :] = W x[t, :] (+ bias) over weights in their stored type (quantized blocks
// read in place, dequantized in registers), x and y as strided row views. CPU twin: cpu/matmul.cpp.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

// `bias` (w.rows floats, device memory) may be null. Throws CoreError on mismatched shapes.
void matmul(const Weight &w, const F32View &x, const F32View &y, const float *bias, cudaStream_t stream);

}  // namespace wc::gpu
