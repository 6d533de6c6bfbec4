// q4_1.cpp — Q4_1 weights (32 per block, value q * d + m) against Q8_1 activations: the reference
// dot, the row dequantizer and the block generator. SIMD bodies: q4_1_x86.inc.
#include <cmath>

#include "core/half.h"
#include "core/tensor_types.h"
#include "cpu/types/block_rng.h"
#include "cpu/types/ref_lanes.h"
#include "cpu/types/types.h"

namespace wc::cpu {

// sum_k (q_k d_w + m)(p_k d_x) = d_w d_x sum q_k p_k + m * (d_x sum p_k); the second term is
// Q8_1's s. The products go into 8 lanes as Q4_0's do, the minimum terms into one scalar by FMA
// (ggml's build contracts it), added after the lanes are folded.
float dot_q4_1_ref(const void *wv, const void *xv, int64_t n) {
    const block_q4_1 *w = static_cast<const block_q4_1 *>(wv);
    const block_q8_1 *x = static_cast<const block_q8_1 *>(xv);
    float acc[8] = {};
    float mins = 0;
    for (int64_t b = 0; b < n / QK4_1; ++b) {
        mins = std::fma(f16_to_f32(w[b].m), f16_to_f32(x[b].s), mins);
        const float d = f16_to_f32(w[b].d) * f16_to_f32(x[b].d);
        for (int lane = 0; lane < 8; ++lane) {
            int s = 0;
            for (int k = 4 * lane; k < 4 * lane + 4; ++k) s += nibble32(w[b].qs, k) * x[b].qs[k];
            acc[lane] = std::fma(d, (float)s, acc[lane]);
        }
    }
    return hsum8(acc) + mins;
}

void dequantize_q4_1(const void *row, float *out, int64_t n) {
    const block_q4_1 *b = static_cast<const block_q4_1 *>(row);
    for (int64_t i = 0; i < n / QK4_1; ++i) {
        const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
        for (int k = 0; k < QK4_1; ++k) out[i * QK4_1 + k] = nibble32(b[i].qs, k) * d + m;
    }
}

void random_q4_1(void *out, int64_t n_blocks, uint64_t seed) {
    BlockRng rng(seed);
    block_q4_1 *b = static_cast<block_q4_1 *>(out);
    for (int64_t i = 0; i < n_blocks; ++i) {
        b[i].d = f32_to_f16(rng.uniform(0.01f, 0.02f));
        b[i].m = f32_to_f16(rng.uniform(-0.1f, -0.08f));
        rng.bytes(b[i].qs, sizeof(b[i].qs));
    }
}

}  // namespace wc::cpu
