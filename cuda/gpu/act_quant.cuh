// act_quant.cuh — activations quantized once per row into 8-bit blocks before a quantized matmul
// (the integer dot products of types/*.cuh read them), with the CPU backend's formulas so both
// backends feed the same integers to their dot products (.specs/numerics.md):
//   block_q8_1 (32 values; the 32-weight types): d = amax/127 stored as f16, q = rint(x · (127/amax)),
//     s = f16(d · Σq) with d unrounded (cpu/vec_dot_ref.cpp quantize_q8_1_ref; Q8_0 is its d and q);
//   block_q8_K (256 values; the K-quants): max = the first value of largest |x|, iscale = -127/max,
//     q = min(127, rint(iscale · x)), d = 1/iscale in f32, bsums = sums of each 16 q (ggml's
//     quantize_row_q8_K_ref).
// Each block depends only on its own 32 or 256 values, so a row's blocks never depend on the step.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"
#include "core/tensor_types.h"

namespace wc::gpu {

// Row t of x (x.cols a multiple of the block size) into out[t * x.cols/block .. ), dense.
void quantize_activations(const F32View &x, block_q8_1 *out, cudaStream_t stream);
void quantize_activations(const F32View &x, block_q8_K *out, cudaStream_t stream);

}  // namespace wc::gpu
