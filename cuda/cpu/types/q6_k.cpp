// q6_k.cpp — Q6_K weights (256 per super-block: 16 sub-blocks of 16 with int8 scales, 6-bit
// quants offset by 32, no minimums) against Q8_K activations: the reference dot (k_quants.h), the
// row dequantizer and the block generator. SIMD bodies: q6_k_x86.inc.
#include "cpu/types/block_rng.h"
#include "cpu/types/k_quants.h"
#include "cpu/types/types.h"

namespace wc::cpu {

namespace {

// Per half h of 128 weights (ql + 64h, qh + 32h), weight 128h + 32c + l (c = 0..3, l < 32) has
// its low 4 bits in ql[l + 32 (c & 1)] (low nibble for c < 2, high for c >= 2) and its high 2
// bits at bits 2c, 2c+1 of qh[l] (ggml's dequantize_row_q6_K).
void decode_q6_k(const block_q6_K &b, KDecoded &k) {
    for (int h = 0; h < 2; ++h) {
        const uint8_t *ql = b.ql + 64 * h, *qh = b.qh + 32 * h;
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const int low = c < 2 ? ql[l + 32 * c] & 0xf : ql[l + 32 * (c - 2)] >> 4;
                k.u[128 * h + 32 * c + l] = (uint8_t)(low | (((qh[l] >> (2 * c)) & 3) << 4));
            }
        }
    }
    for (int g = 0; g < 16; ++g) k.sc[g] = b.scales[g], k.mn[g] = 0;
    k.off = 32;
    k.d = f16_to_f32(b.d);
    k.dmin = 0;
}

}  // namespace

float dot_q6_k_ref(const void *w, const void *x, int64_t n) { return k_dot_ref<block_q6_K, decode_q6_k>(w, x, n); }
void dequantize_q6_k(const void *w, float *out, int64_t n) { k_dequantize<block_q6_K, decode_q6_k>(w, out, n); }

void random_q6_k(void *out, int64_t n_blocks, uint64_t seed) {
    BlockRng rng(seed);
    block_q6_K *b = static_cast<block_q6_K *>(out);
    for (int64_t i = 0; i < n_blocks; ++i) {
        b[i].d = f32_to_f16(rng.uniform(0.00002f, 0.00004f));
        rng.bytes(b[i].ql, sizeof(b[i].ql));
        rng.bytes(b[i].qh, sizeof(b[i].qh));
        rng.bytes(reinterpret_cast<uint8_t *>(b[i].scales), sizeof(b[i].scales));
    }
}

}  // namespace wc::cpu
