// q5_0.cpp — Q5_0 weights (32 per block: 4 low bits as Q4_0's nibbles, the fifth bit of weight j
// at bit j of qh, value (q - 16) * d) against Q8_0 activations: the reference dot, the row
// dequantizer and the block generator. SIMD bodies: q5_0_x86.inc.
#include <cmath>

#include "core/half.h"
#include "core/tensor_types.h"
#include "cpu/types/block_rng.h"
#include "cpu/types/ref_lanes.h"
#include "cpu/types/types.h"

namespace wc::cpu {

// Lanes as Q4_0's: lane L = d_w d_x * (exact integer sum of weights 4L..4L+3), one FMA per block.
float dot_q5_0_ref(const void *wv, const void *xv, int64_t n) {
    const block_q5_0 *w = static_cast<const block_q5_0 *>(wv);
    const block_q8_0 *x = static_cast<const block_q8_0 *>(xv);
    float acc[8] = {};
    for (int64_t b = 0; b < n / QK5_0; ++b) {
        const float d = f16_to_f32(w[b].d) * f16_to_f32(x[b].d);
        for (int lane = 0; lane < 8; ++lane) {
            int s = 0;
            for (int k = 4 * lane; k < 4 * lane + 4; ++k) s += (five_bit32(w[b].qs, w[b].qh, k) - 16) * x[b].qs[k];
            acc[lane] = std::fma(d, (float)s, acc[lane]);
        }
    }
    return hsum8(acc);
}

void dequantize_q5_0(const void *row, float *out, int64_t n) {
    const block_q5_0 *b = static_cast<const block_q5_0 *>(row);
    for (int64_t i = 0; i < n / QK5_0; ++i) {
        const float d = f16_to_f32(b[i].d);
        for (int k = 0; k < QK5_0; ++k) out[i * QK5_0 + k] = (five_bit32(b[i].qs, b[i].qh, k) - 16) * d;
    }
}

void random_q5_0(void *out, int64_t n_blocks, uint64_t seed) {
    BlockRng rng(seed);
    block_q5_0 *b = static_cast<block_q5_0 *>(out);
    for (int64_t i = 0; i < n_blocks; ++i) {
        b[i].d = f32_to_f16(rng.uniform(0.005f, 0.01f));
        rng.bytes(b[i].qh, sizeof(b[i].qh));
        rng.bytes(b[i].qs, sizeof(b[i].qs));
    }
}

}  // namespace wc::cpu
