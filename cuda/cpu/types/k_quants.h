// k_quants.h — what the K-quant types (Q2_K .. Q6_K, 256-weight super-blocks, llama.cpp's
// k-quants) share: a super-block decoded to unsigned quants and per-16 integer scales, and the
// one dot product and dequantizer every K type is defined by.
//
// Every K type reads as   w_k = d * sc[g] * (u_k - off) - dmin * mn[g],   g = k / 16,
// with u_k unsigned (at most 6 bits), off 0, 4 (Q3_K) or 32 (Q6_K), and mn 0 for the types
// without minimums (Q3_K, Q6_K). Against a Q8_K activation block (d_x, q_k, bsums) a super-block
// contributes, exactly in integers,
//   isum = sum_g sc[g] * (sum_{k in g} u_k q_k - off * bsum[g]),   imin = sum_g mn[g] * bsum[g],
// and the float order per super-block is that of llama.cpp's batched K-quant matmul
// (ggml-cpu/tiled/tiled-kernel.cpp, its AVX-512 epilogue): r = fma(-dmin, imin, d * isum), then
// acc = acc + r * d_x (a rounded product, then the add), super-block by super-block; the dot is
// acc. The SIMD variants compute the same two integers (in any order: they are exact) and then
// the same float operations, so every variant returns the same bits; a tile row sees the one-row
// operations.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/half.h"
#include "core/tensor_types.h"

namespace wc::cpu {

struct KDecoded {
    uint8_t u[QK_K];
    int sc[QK_K / 16];
    int mn[QK_K / 16];
    int off;
    float d, dmin;
};

// The six-bit scale and minimum of sub-block j (0..7) of Q4_K/Q5_K (ggml's get_scale_min_k4).
static inline void k4_scale_min(int j, const uint8_t *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// The dot of n weights (super-blocks decoded by Decode) with a Q8_K row.
template <typename B, void (*Decode)(const B &, KDecoded &)>
float k_dot_ref(const void *wv, const void *xv, int64_t n) {
    const B *w = static_cast<const B *>(wv);
    const block_q8_K *x = static_cast<const block_q8_K *>(xv);
    float acc = 0;
    KDecoded k;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        Decode(w[b], k);
        int isum = 0, imin = 0;
        for (int g = 0; g < QK_K / 16; ++g) {
            int s = 0;
            for (int i = 16 * g; i < 16 * g + 16; ++i) s += k.u[i] * x[b].qs[i];
            isum += k.sc[g] * (s - k.off * x[b].bsums[g]);
            imin += k.mn[g] * x[b].bsums[g];
        }
        const float r = std::fma(-k.dmin, (float)imin, k.d * (float)isum);
        acc = acc + r * x[b].d;
    }
    return acc;
}

// The order of the types llama.cpp repacks on x86 (ggml-cpu/arch/x86/repack.cpp, its GEMM): Q4_K
// in Parts = 4 parts of 64 weights, Q2_K (AVX-512) in 2 of 128. Per part h the exact integers
// isum_h and imin_h of its groups, then acc = fma(isum_h, d * d_x, acc),
// mins = fma(imin_h, dmin * d_x, mins); the dot is acc - mins.
template <typename B, void (*Decode)(const B &, KDecoded &), int Parts>
float k_dot_ref_parts(const void *wv, const void *xv, int64_t n) {
    constexpr int G = (QK_K / 16) / Parts;  // groups of 16 per part
    const B *w = static_cast<const B *>(wv);
    const block_q8_K *x = static_cast<const block_q8_K *>(xv);
    float acc = 0, mins = 0;
    KDecoded k;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        Decode(w[b], k);
        for (int h = 0; h < Parts; ++h) {
            int isum = 0, imin = 0;
            for (int g = G * h; g < G * h + G; ++g) {
                int s = 0;
                for (int i = 16 * g; i < 16 * g + 16; ++i) s += k.u[i] * x[b].qs[i];
                isum += k.sc[g] * (s - k.off * x[b].bsums[g]);
                imin += k.mn[g] * x[b].bsums[g];
            }
            acc = std::fma((float)isum, k.d * x[b].d, acc);
            mins = std::fma((float)imin, k.dmin * x[b].d, mins);
        }
    }
    return acc - mins;
}

// ggml's dequantizers, per weight: (d * sc) * q - dmin * mn.
template <typename B, void (*Decode)(const B &, KDecoded &)>
void k_dequantize(const void *wv, float *out, int64_t n) {
    const B *w = static_cast<const B *>(wv);
    KDecoded k;
    for (int64_t b = 0; b < n / QK_K; ++b, out += QK_K) {
        Decode(w[b], k);
        for (int i = 0; i < QK_K; ++i) out[i] = (k.d * (float)k.sc[i / 16]) * (float)(k.u[i] - k.off) - k.dmin * (float)k.mn[i / 16];
    }
}

}  // namespace wc::cpu

namespace wc::cpu {

// Q3_K's 16 six-bit scales from its 12 packed bytes (low 4 bits in bytes 0..7, high 2 bits in
// bytes 8..11), minus 32 (ggml's dequantize_row_q3_K unpacking).
static inline void q3_k_scales(const uint8_t *packed, int *sc) {
    for (int g = 0; g < 16; ++g) {
        const int low = g < 8 ? packed[g] & 0xf : packed[g - 8] >> 4;
        const int high = (packed[8 + g % 4] >> (2 * (g / 4))) & 3;
        sc[g] = (low | (high << 4)) - 32;
    }
}

}  // namespace wc::cpu
