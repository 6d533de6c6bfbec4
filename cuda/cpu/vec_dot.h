// vec_dot.h — the innermost kernels of the CPU backend: quantizing an activation row into 8-bit
// blocks and dot products of one weight row with one activation row, per weight type.
//
// Activations are brought to the "dot type" of each weight type before the product, as llama.cpp
// does (Q4_0/Q8_0 -> Q8_0, Q4_1 -> Q8_1, F16 -> F16, BF16 -> BF16, F32 -> F32): integer dot
// products are exact, so this is both the fast path and the way to match llama.cpp's numbers.
// Several instruction-set variants exist; `vec_dot_kernels()` picks the widest the CPU has, once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor_types.h"

namespace wc {

struct VecDotKernels {
    const char *isa;  // "avx512", "avx2" or "scalar"
    void (*quantize_q8_0)(const float *x, block_q8_0 *y, int64_t n);
    void (*quantize_q8_1)(const float *x, block_q8_1 *y, int64_t n);
    // Each returns sum over n weights of w[k] * x[k]; n is a multiple of the block size.
    float (*dot_q4_0)(const block_q4_0 *w, const block_q8_0 *x, int64_t n);
    float (*dot_q4_1)(const block_q4_1 *w, const block_q8_1 *x, int64_t n);
    float (*dot_q8_0)(const block_q8_0 *w, const block_q8_0 *x, int64_t n);
    float (*dot_f16)(const uint16_t *w, const uint16_t *x, int64_t n);
    float (*dot_bf16)(const uint16_t *w, const uint16_t *x, int64_t n);
    float (*dot_f32)(const float *w, const float *x, int64_t n);
};

// Plain-loop reference twins: the definition of every kernel, used by tests and on non-x86 hosts.
const VecDotKernels &vec_dot_kernels_ref();
// nullptr when not compiled for this target.
const VecDotKernels *vec_dot_kernels_avx2();
const VecDotKernels *vec_dot_kernels_avx512();
// The best variant this CPU supports (checked at run time); WC_ISA=avx2|scalar forces a lower one.
const VecDotKernels &vec_dot_kernels();

}  // namespace wc
