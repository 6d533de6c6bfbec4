// quant.cuh — reading weights on the device: element j of a row in any computable type, and
// the 32 weights of a quantized block dequantized into registers. Block layouts come from
// core/tensor_types.h, the same structs the CPU backend reads.
#pragma once

#include <cuda_fp16.h>

#include "core/tensor_types.h"

namespace wc::gpu {

__device__ __forceinline__ float f16f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16f(uint16_t b) { return __uint_as_float((uint32_t)b << 16); }

// Element j of a row of `type` starting at `row`.
__device__ __forceinline__ float load_element(uint32_t type, const void *row, int64_t j) {
    switch ((TensorType)type) {
        case TensorType::F32: return static_cast<const float *>(row)[j];
        case TensorType::F16: return f16f(static_cast<const uint16_t *>(row)[j]);
        case TensorType::BF16: return bf16f(static_cast<const uint16_t *>(row)[j]);
        case TensorType::Q8_0: {
            const block_q8_0 &b = static_cast<const block_q8_0 *>(row)[j / QK8_0];
            return f16f(b.d) * b.qs[j % QK8_0];
        }
        case TensorType::Q4_0: {
            const block_q4_0 &b = static_cast<const block_q4_0 *>(row)[j / QK4_0];
            const int k = j % QK4_0;
            const int q = k < 16 ? (b.qs[k] & 0x0f) : (b.qs[k - 16] >> 4);
            return f16f(b.d) * (q - 8);
        }
        case TensorType::Q4_1: {
            const block_q4_1 &b = static_cast<const block_q4_1 *>(row)[j / QK4_1];
            const int k = j % QK4_1;
            const int q = k < 16 ? (b.qs[k] & 0x0f) : (b.qs[k - 16] >> 4);
            return f16f(b.d) * q + f16f(b.m);
        }
        default: return 0.0f;
    }
}

// The 32 weights of block `bi` of a quantized row, dequantized into registers.
template <TensorType T>
__device__ __forceinline__ void dequantize_block(const void *row, int64_t bi, float w[32]) {
    if constexpr (T == TensorType::Q8_0) {
        const block_q8_0 &b = static_cast<const block_q8_0 *>(row)[bi];
        const float d = f16f(b.d);
#pragma unroll
        for (int k = 0; k < 32; ++k) w[k] = d * b.qs[k];
    } else if constexpr (T == TensorType::Q4_0) {
        const block_q4_0 &b = static_cast<const block_q4_0 *>(row)[bi];
        const float d = f16f(b.d);
#pragma unroll
        for (int k = 0; k < 16; ++k) {
            w[k] = d * ((b.qs[k] & 0x0f) - 8);
            w[k + 16] = d * ((b.qs[k] >> 4) - 8);
        }
    } else {  // Q4_1
        const block_q4_1 &b = static_cast<const block_q4_1 *>(row)[bi];
        const float d = f16f(b.d), m = f16f(b.m);
#pragma unroll
        for (int k = 0; k < 16; ++k) {
            w[k] = fmaf(d, (float)(b.qs[k] & 0x0f), m);
            w[k + 16] = fmaf(d, (float)(b.qs[k] >> 4), m);
        }
    }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

}  // namespace wc::gpu
