// types.h — the ISA-independent kernels of every computable type (cuda/cpu/types/*.cpp): the
// plain-loop reference dots, row dequantizers, random-block generators and activation
// quantizers that the tables of type_kernels.h are made of.
#pragma once

#include <cstdint>

namespace wc::cpu {

// activations.cpp: f32 activation rows into each dot type. The Q8_K quantizer is one scalar
// function for every variant (it is O(n) per row, the dots are O(n) per weight row).
void quantize_q8_0_ref(const float *x, void *y, int64_t n);
void quantize_q8_1_ref(const float *x, void *y, int64_t n);
void quantize_q8_K(const float *x, void *y, int64_t n);
void convert_to_f16(const float *x, void *y, int64_t n);
void convert_to_bf16(const float *x, void *y, int64_t n);
void convert_to_f32(const float *x, void *y, int64_t n);
void dequantize_q8_1(const void *row, float *out, int64_t n);
void dequantize_q8_K(const void *row, float *out, int64_t n);
void widen_q8_0_scales(const void *row, int64_t n, int j, float *d, float *s);
// As widen_q8_0_scales, and s = the block's sum of quantized values (a float, exactly), for
// kernels that offset their weights (grid_q4_0_x86.inc).
// Q4_0's tiles: d as widen_q8_0_scales, and in s the int32 -8 * (sum of the block's quants), the
// grids' starting sum (their nibbles are the weights + 8), stored as an int32's bits.
void widen_q8_0_scales_bases(const void *row, int64_t n, int j, float *d, float *s);
void widen_q8_1_scales(const void *row, int64_t n, int j, float *d, float *s);

// Per weight type: the reference one-row dot (the definition the SIMD variants match bit for
// bit), the row dequantizer and the random-block generator (type_kernels.h).
#define WC_TYPE_KERNELS_DECL(t)                                          \
    float dot_##t##_ref(const void *w, const void *x, int64_t n);        \
    void dequantize_##t(const void *w, float *out, int64_t n);           \
    void random_##t(void *out, int64_t n_blocks, uint64_t seed);
WC_TYPE_KERNELS_DECL(f32)
WC_TYPE_KERNELS_DECL(f16)
WC_TYPE_KERNELS_DECL(bf16)
WC_TYPE_KERNELS_DECL(q4_0)
WC_TYPE_KERNELS_DECL(q4_1)
WC_TYPE_KERNELS_DECL(q8_0)
WC_TYPE_KERNELS_DECL(q5_0)
WC_TYPE_KERNELS_DECL(q5_1)
WC_TYPE_KERNELS_DECL(q2_k)
WC_TYPE_KERNELS_DECL(q3_k)
WC_TYPE_KERNELS_DECL(q4_k)
WC_TYPE_KERNELS_DECL(q5_k)
WC_TYPE_KERNELS_DECL(q6_k)
#undef WC_TYPE_KERNELS_DECL

}  // namespace wc::cpu
