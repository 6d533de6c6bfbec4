// vec_dot_ref.cpp — plain-loop definitions of the vec_dot kernels (see vec_dot.h).
// Formulas follow ggml's reference quantizers (ggml-quants.c).
#include <cmath>

#include "core/half.h"
#include "cpu/vec_dot.h"

namespace wc {

namespace {

void quantize_q8_0_ref(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        y[b].d = f32_to_f16(d);
        for (int j = 0; j < QK8_0; ++j) y[b].qs[j] = (int8_t)std::nearbyint(x[j] * id);
    }
}

void quantize_q8_1_ref(const float *x, block_q8_1 *y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_1; ++b, x += QK8_1) {
        float amax = 0;
        for (int j = 0; j < QK8_1; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        y[b].d = f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; ++j) {
            y[b].qs[j] = (int8_t)std::nearbyint(x[j] * id);
            sum += y[b].qs[j];
        }
        y[b].s = f32_to_f16((float)sum * d);
    }
}

// The SIMD variants accumulate 8 float lanes, lane L holding the exact integer sum of block bytes
// 4L..4L+3 scaled by the block's d; then they add the lanes pairwise. The reference does the same
// arithmetic in the same order, so every variant returns identical bits.
float hsum8(const float *a) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }

// Same for 16 lanes (the f16/bf16/f32 dots): i + i+8, then as hsum8.
float hsum16(const float *a) {
    float s8[8];
    for (int i = 0; i < 8; ++i) s8[i] = a[i + 8] + a[i];
    return hsum8(s8);
}

// Weight k (0..31) of a 4-bit block: low nibbles hold 0..15, high nibbles 16..31.
inline int nibble(const uint8_t *qs, int k) { return k < 16 ? (qs[k] & 0x0f) : (qs[k - 16] >> 4); }

float dot_q4_0_ref(const block_q4_0 *w, const block_q8_0 *x, int64_t n) {
    float acc[8] = {};
    for (int64_t b = 0; b < n / QK4_0; ++b) {
        const float d = f16_to_f32(w[b].d) * f16_to_f32(x[b].d);
        for (int lane = 0; lane < 8; ++lane) {
            int s = 0;
            for (int k = 4 * lane; k < 4 * lane + 4; ++k) s += (nibble(w[b].qs, k) - 8) * x[b].qs[k];
            acc[lane] = std::fma(d, (float)s, acc[lane]);
        }
    }
    return hsum8(acc);
}

float dot_q4_1_ref(const block_q4_1 *w, const block_q8_1 *x, int64_t n) {
    // sum_k (q_k d_w + m)(p_k d_x) = d_w d_x sum q_k p_k + m * (d_x sum p_k); the second term is s.
    float acc[8] = {};
    float mins = 0;
    for (int64_t b = 0; b < n / QK4_1; ++b) {
        mins = std::fma(f16_to_f32(w[b].m), f16_to_f32(x[b].s), mins);
        const float d = f16_to_f32(w[b].d) * f16_to_f32(x[b].d);
        for (int lane = 0; lane < 8; ++lane) {
            int s = 0;
            for (int k = 4 * lane; k < 4 * lane + 4; ++k) s += nibble(w[b].qs, k) * x[b].qs[k];
            acc[lane] = std::fma(d, (float)s, acc[lane]);
        }
    }
    return hsum8(acc) + mins;
}

float dot_q8_0_ref(const block_q8_0 *w, const block_q8_0 *x, int64_t n) {
    float acc[8] = {};
    for (int64_t b = 0; b < n / QK8_0; ++b) {
        const float d = f16_to_f32(w[b].d) * f16_to_f32(x[b].d);
        for (int lane = 0; lane < 8; ++lane) {
            int s = 0;
            for (int k = 4 * lane; k < 4 * lane + 4; ++k) s += w[b].qs[k] * x[b].qs[k];
            acc[lane] = std::fma(d, (float)s, acc[lane]);
        }
    }
    return hsum8(acc);
}

// Float dots: 16 lanes over full chunks of 16, pairwise lane sum, then the tail in order.
template <typename WF, typename XF>
float dot_float16_lanes(int64_t n, WF w, XF x) {
    float acc[16] = {};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        for (int lane = 0; lane < 16; ++lane) acc[lane] = std::fma(w(k + lane), x(k + lane), acc[lane]);
    }
    float s = hsum16(acc);
    for (; k < n; ++k) s = std::fma(w(k), x(k), s);
    return s;
}

float dot_f16_ref(const uint16_t *w, const uint16_t *x, int64_t n) {
    return dot_float16_lanes(n, [w](int64_t k) { return f16_to_f32(w[k]); }, [x](int64_t k) { return f16_to_f32(x[k]); });
}

float dot_bf16_ref(const uint16_t *w, const uint16_t *x, int64_t n) {
    return dot_float16_lanes(n, [w](int64_t k) { return bf16_to_f32(w[k]); }, [x](int64_t k) { return bf16_to_f32(x[k]); });
}

float dot_f32_ref(const float *w, const float *x, int64_t n) {
    return dot_float16_lanes(n, [w](int64_t k) { return w[k]; }, [x](int64_t k) { return x[k]; });
}

// The reference tile: each row through the one-row reference (the definition of "bit for bit").
template <typename W, typename X, float (*Dot)(const W *, const X *, int64_t)>
void rows_ref(const void *w, const DotTile &x, int64_t n, float *out) {
    for (int j = 0; j < x.n; ++j) out[j] = Dot(static_cast<const W *>(w), static_cast<const X *>(x.q[j]), n);
}

const VecDotKernels kRef = {
    "scalar", quantize_q8_0_ref, quantize_q8_1_ref, dot_q4_0_ref, dot_q4_1_ref,
    dot_q8_0_ref, dot_f16_ref, dot_bf16_ref, dot_f32_ref,
    rows_ref<block_q4_0, block_q8_0, dot_q4_0_ref>, rows_ref<block_q4_1, block_q8_1, dot_q4_1_ref>,
    rows_ref<block_q8_0, block_q8_0, dot_q8_0_ref>, rows_ref<uint16_t, uint16_t, dot_f16_ref>,
    rows_ref<uint16_t, uint16_t, dot_bf16_ref>, rows_ref<float, float, dot_f32_ref>,
};

}  // namespace

const VecDotKernels &vec_dot_kernels_ref() { return kRef; }

}  // namespace wc
