// q4_0.cpp — Q4_0 weights (32 per block, value (q - 8) * d) against Q8_0 activations: the
// reference dot, the row dequantizer and the block generator. SIMD bodies: q4_0_x86.inc.
#include <cmath>

#include "core/half.h"
#include "core/tensor_types.h"
#include "cpu/types/block_rng.h"
#include "cpu/types/ref_lanes.h"
#include "cpu/types/types.h"

namespace wc::cpu {

// One f32 accumulator, one FMA per block of the block's exact integer dot:
// acc = fma(sum (q - 8) x, d_w d_x, acc). That is the order of llama.cpp's repacked Q4_0 GEMM and
// GEMV on x86 (ggml-cpu/arch/x86/repack.cpp), which is how it computes with Q4_0 weights there;
// unlike the 8-lane order of the other 32-weight types, it lets a kernel sum a block's products
// across weight rows held side by side (grid_q4_0_x86.inc).
float dot_q4_0_ref(const void *wv, const void *xv, int64_t n) {
    const block_q4_0 *w = static_cast<const block_q4_0 *>(wv);
    const block_q8_0 *x = static_cast<const block_q8_0 *>(xv);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; ++b) {
        int s = 0;
        for (int k = 0; k < QK4_0; ++k) s += (nibble32(w[b].qs, k) - 8) * x[b].qs[k];
        acc = std::fma((float)s, f16_to_f32(w[b].d) * f16_to_f32(x[b].d), acc);
    }
    return acc;
}

void dequantize_q4_0(const void *row, float *out, int64_t n) {
    const block_q4_0 *b = static_cast<const block_q4_0 *>(row);
    for (int64_t i = 0; i < n / QK4_0; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int k = 0; k < QK4_0; ++k) out[i * QK4_0 + k] = (nibble32(b[i].qs, k) - 8) * d;
    }
}

void random_q4_0(void *out, int64_t n_blocks, uint64_t seed) {
    BlockRng rng(seed);
    block_q4_0 *b = static_cast<block_q4_0 *>(out);
    for (int64_t i = 0; i < n_blocks; ++i) {
        b[i].d = f32_to_f16(rng.uniform(0.01f, 0.02f));
        rng.bytes(b[i].qs, sizeof(b[i].qs));
    }
}

}  // namespace wc::cpu
