// vec_dot.h — the innermost kernels of the CPU backend: quantizing an activation row into 8-bit
// blocks and dot products of one weight row with one activation row, per weight type, and the
// same products for a tile of activation rows at once (the weight row decoded once for all).
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

// Most activation rows one rows kernel takes.
constexpr int kDotTileRows = 4;

// A tile of 1 .. kDotTileRows activation rows in the weight type's dot type. For 8-bit blocks the
// rows' f16 block scales come widened to float (exactly the values the one-row kernels widen per
// block) and interleaved by block, d[b * kDotTileRows + j] for row j (and s likewise for Q8_1),
// so a kernel reads the scales of all the tile's rows at once; entries of rows past n are 0.
// Float rows leave d and s null.
struct DotTile {
    int n;
    const void *q[kDotTileRows];
    const float *d;
    const float *s;
};

// out[j] = dot(w, x.q[j]) for j < x.n. The weight row is read and decoded once for the tile, and
// each out[j] is bit for bit what the one-row kernel returns for x.q[j]: a row's result never
// depends on the rows beside it.
using DotRowsFn = void (*)(const void *w, const DotTile &x, int64_t n, float *out);

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
    // The tile forms of the dots above, in the same order.
    DotRowsFn rows_q4_0, rows_q4_1, rows_q8_0, rows_f16, rows_bf16, rows_f32;
};

// Plain-loop reference twins: the definition of every kernel, used by tests and on non-x86 hosts.
const VecDotKernels &vec_dot_kernels_ref();
// nullptr when not compiled for this target.
const VecDotKernels *vec_dot_kernels_avx2();
const VecDotKernels *vec_dot_kernels_avx512();
// The best variant this CPU supports (checked at run time); WC_ISA=avx2|scalar forces a lower one.
const VecDotKernels &vec_dot_kernels();

}  // namespace wc
