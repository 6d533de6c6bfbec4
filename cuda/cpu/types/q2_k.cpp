// q2_k.cpp — Q2_K weights (256 per super-block: 16 sub-blocks of 16, each a 4-bit scale and a
// 4-bit minimum, 2-bit quants) against Q8_K activations: the reference dot (k_quants.h), the row
// dequantizer and the block generator. SIMD bodies: q2_k_x86.inc.
#include "cpu/types/block_rng.h"
#include "cpu/types/k_quants.h"
#include "cpu/types/types.h"

namespace wc::cpu {

namespace {

// Weight 128h + 32c + l (c = 0..3, l < 32) is bits 2c, 2c+1 of qs[32h + l].
void decode_q2_k(const block_q2_K &b, KDecoded &k) {
    for (int h = 0; h < 2; ++h) {
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) k.u[128 * h + 32 * c + l] = (b.qs[32 * h + l] >> (2 * c)) & 3;
        }
    }
    for (int g = 0; g < 16; ++g) k.sc[g] = b.scales[g] & 0xf, k.mn[g] = b.scales[g] >> 4;
    k.off = 0;
    k.d = f16_to_f32(b.d);
    k.dmin = f16_to_f32(b.dmin);
}

}  // namespace

float dot_q2_k_ref(const void *w, const void *x, int64_t n) { return k_dot_ref_parts<block_q2_K, decode_q2_k, 2>(w, x, n); }
void dequantize_q2_k(const void *w, float *out, int64_t n) { k_dequantize<block_q2_K, decode_q2_k>(w, out, n); }

void random_q2_k(void *out, int64_t n_blocks, uint64_t seed) {
    BlockRng rng(seed);
    block_q2_K *b = static_cast<block_q2_K *>(out);
    for (int64_t i = 0; i < n_blocks; ++i) {
        b[i].d = f32_to_f16(rng.uniform(0.002f, 0.004f));
        b[i].dmin = f32_to_f16(rng.uniform(0.002f, 0.004f));
        rng.bytes(b[i].scales, sizeof(b[i].scales));
        rng.bytes(b[i].qs, sizeof(b[i].qs));
    }
}

}  // namespace wc::cpu
