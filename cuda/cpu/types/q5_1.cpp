// q5_1.cpp — Q5_1 weights (32 per block: quants as Q5_0's, value q * d + m) against Q8_1
// activations: the reference dot, the row dequantizer and the block generator. SIMD bodies:
// q5_1_x86.inc.
#include <cmath>

#include "core/half.h"
#include "core/tensor_types.h"
#include "cpu/types/block_rng.h"
#include "cpu/types/ref_lanes.h"
#include "cpu/types/types.h"

namespace wc::cpu {

// Lanes and minimum term as Q4_1's.
float dot_q5_1_ref(const void *wv, const void *xv, int64_t n) {
    const block_q5_1 *w = static_cast<const block_q5_1 *>(wv);
    const block_q8_1 *x = static_cast<const block_q8_1 *>(xv);
    float acc[8] = {};
    float mins = 0;
    for (int64_t b = 0; b < n / QK5_1; ++b) {
        mins = std::fma(f16_to_f32(w[b].m), f16_to_f32(x[b].s), mins);
        const float d = f16_to_f32(w[b].d) * f16_to_f32(x[b].d);
        for (int lane = 0; lane < 8; ++lane) {
            int s = 0;
            for (int k = 4 * lane; k < 4 * lane + 4; ++k) s += five_bit32(w[b].qs, w[b].qh, k) * x[b].qs[k];
            acc[lane] = std::fma(d, (float)s, acc[lane]);
        }
    }
    return hsum8(acc) + mins;
}

void dequantize_q5_1(const void *row, float *out, int64_t n) {
    const block_q5_1 *b = static_cast<const block_q5_1 *>(row);
    for (int64_t i = 0; i < n / QK5_1; ++i) {
        const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
        for (int k = 0; k < QK5_1; ++k) out[i * QK5_1 + k] = five_bit32(b[i].qs, b[i].qh, k) * d + m;
    }
}

void random_q5_1(void *out, int64_t n_blocks, uint64_t seed) {
    BlockRng rng(seed);
    block_q5_1 *b = static_cast<block_q5_1 *>(out);
    for (int64_t i = 0; i < n_blocks; ++i) {
        b[i].d = f32_to_f16(rng.uniform(0.005f, 0.01f));
        b[i].m = f32_to_f16(rng.uniform(-0.1f, -0.08f));
        rng.bytes(b[i].qh, sizeof(b[i].qh));
        rng.bytes(b[i].qs, sizeof(b[i].qs));
    }
}

}  // namespace wc::cpu
