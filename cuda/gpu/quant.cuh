// quant.cuh — small device helpers the weight types and the kernels share: half and bfloat16
// widening, 32-bit loads of packed quants at the alignment a block guarantees, and the warp
// reductions (a fixed butterfly, so a sum's order never depends on anything but the lane).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "core/tensor_types.h"

namespace wc::gpu {

__device__ __forceinline__ float f16f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16f(uint16_t b) { return __uint_as_float((uint32_t)b << 16); }

// Four bytes at p as a little-endian int. Blocks of 18, 22, 34, 110 or 210 bytes only keep
// 2-byte alignment, so their quants are read as two 16-bit halves; the others take one load.
__device__ __forceinline__ int load_i32_a2(const uint8_t *p) {
    const uint16_t *h = reinterpret_cast<const uint16_t *>(p);
    return (int)((uint32_t)h[0] | ((uint32_t)h[1] << 16));
}
__device__ __forceinline__ int load_i32_a4(const uint8_t *p) { return *reinterpret_cast<const int *>(p); }

// Bits 0..3 of `b` moved to bit 4 of bytes 0..3 (the 5th bit of four packed 5-bit quants).
__device__ __forceinline__ int spread4_to_bit4(uint32_t b) {
    return (int)(((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25));
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ int warp_sum_int(int v) {
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
