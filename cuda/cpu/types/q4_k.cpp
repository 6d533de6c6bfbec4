// q4_k.cpp — Q4_K weights (256 per super-block: 8 sub-blocks of 32 with six-bit scales and
// minimums, 4-bit quants) against Q8_K activations: the reference dot (k_quants.h), the row
// dequantizer and the block generator. SIMD bodies: q4_k_x86.inc.
#include "cpu/types/block_rng.h"
#include "cpu/types/k_quants.h"
#include "cpu/types/types.h"

namespace wc::cpu {

namespace {

// Weights 64c .. 64c+31 are the low nibbles of qs[32c .. 32c+31], 64c+32 .. 64c+63 the high ones.
void decode_q4_k(const block_q4_K &b, KDecoded &k) {
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            k.u[64 * c + l] = b.qs[32 * c + l] & 0xf;
            k.u[64 * c + 32 + l] = b.qs[32 * c + l] >> 4;
        }
    }
    for (int j = 0; j < 8; ++j) {
        int sc, mn;
        k4_scale_min(j, b.scales, &sc, &mn);
        k.sc[2 * j] = k.sc[2 * j + 1] = sc;
        k.mn[2 * j] = k.mn[2 * j + 1] = mn;
    }
    k.off = 0;
    k.d = f16_to_f32(b.d);
    k.dmin = f16_to_f32(b.dmin);
}

}  // namespace

float dot_q4_k_ref(const void *w, const void *x, int64_t n) { return k_dot_ref_parts<block_q4_K, decode_q4_k, 4>(w, x, n); }
void dequantize_q4_k(const void *w, float *out, int64_t n) { k_dequantize<block_q4_K, decode_q4_k>(w, out, n); }

void random_q4_k(void *out, int64_t n_blocks, uint64_t seed) {
    BlockRng rng(seed);
    block_q4_K *b = static_cast<block_q4_K *>(out);
    for (int64_t i = 0; i < n_blocks; ++i) {
        b[i].d = f32_to_f16(rng.uniform(0.0002f, 0.0004f));
        b[i].dmin = f32_to_f16(rng.uniform(0.0002f, 0.0004f));
        rng.bytes(b[i].scales, sizeof(b[i].scales));
        rng.bytes(b[i].qs, sizeof(b[i].qs));
    }
}

}  // namespace wc::cpu
