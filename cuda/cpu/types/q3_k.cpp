// q3_k.cpp — Q3_K weights (256 per super-block: 16 sub-blocks of 16 with six-bit scales offset by
// 32, 3-bit quants as 2 low bits plus a high bit in hmask whose absence subtracts 4) against Q8_K
// activations: the reference dot (k_quants.h), the row dequantizer and the block generator. SIMD
// bodies: q3_k_x86.inc.
#include "cpu/types/block_rng.h"
#include "cpu/types/k_quants.h"
#include "cpu/types/types.h"

namespace wc::cpu {

namespace {

// Weight 128h + 32c + l (c = 0..3, l < 32): low bits 2c, 2c+1 of qs[32h + l], high bit = bit
// 4h + c of hmask[l]; value (low + 4 high) - 4.
void decode_q3_k(const block_q3_K &b, KDecoded &k) {
    for (int h = 0; h < 2; ++h) {
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const int low = (b.qs[32 * h + l] >> (2 * c)) & 3, high = (b.hmask[l] >> (4 * h + c)) & 1;
                k.u[128 * h + 32 * c + l] = (uint8_t)(low | (high << 2));
            }
        }
    }
    q3_k_scales(b.scales, k.sc);
    for (int g = 0; g < 16; ++g) k.mn[g] = 0;
    k.off = 4;
    k.d = f16_to_f32(b.d);
    k.dmin = 0;
}

}  // namespace

float dot_q3_k_ref(const void *w, const void *x, int64_t n) { return k_dot_ref<block_q3_K, decode_q3_k>(w, x, n); }
void dequantize_q3_k(const void *w, float *out, int64_t n) { k_dequantize<block_q3_K, decode_q3_k>(w, out, n); }

void random_q3_k(void *out, int64_t n_blocks, uint64_t seed) {
    BlockRng rng(seed);
    block_q3_K *b = static_cast<block_q3_K *>(out);
    for (int64_t i = 0; i < n_blocks; ++i) {
        b[i].d = f32_to_f16(rng.uniform(0.0005f, 0.001f));
        rng.bytes(b[i].hmask, sizeof(b[i].hmask));
        rng.bytes(b[i].qs, sizeof(b[i].qs));
        rng.bytes(b[i].scales, sizeof(b[i].scales));
    }
}

}  // namespace wc::cpu
