// matmul.cuh — y[t, :] = W x[t, :] (+ bias) over weights in their stored type (quantized blocks
// read in place), x and y as strided row views. Quantized weights: x is first quantized per row
// into the type's activation blocks (act_quant.cuh) in `act_scratch`, then integer dot products.
// CPU twin: cpu/matmul.cpp.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

// Scratch bytes the quantized activations of `rows` rows of `cols` inputs take, for any weight
// type (q8_1: 36 bytes per 32 values, q8_K: 292 per 256; 37 per 32 bounds both).
inline size_t matmul_scratch_bytes(int64_t rows, int64_t cols) { return (size_t)rows * (size_t)((cols + 31) / 32) * 37; }

// `bias` (w.rows floats, device memory) may be null. `act_scratch` holds at least
// matmul_scratch_bytes(x.rows, x.cols) device bytes (unused for float weights). Throws CoreError
// on mismatched shapes, a type the table lacks, or too little scratch.
void matmul(const Weight &w, const F32View &x, const F32View &y, const float *bias, void *act_scratch, size_t scratch_bytes,
            cudaStream_t stream);

}  // namespace wc::gpu
