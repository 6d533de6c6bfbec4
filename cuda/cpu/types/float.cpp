// float.cpp — F32, F16 and BF16 weights against activations of the same type: the reference dots,
// the row dequantizers and the generators. SIMD bodies: float_x86.inc.
#include <cmath>

#include "core/half.h"
#include "cpu/types/block_rng.h"
#include "cpu/types/ref_lanes.h"
#include "cpu/types/types.h"

namespace wc::cpu {

namespace {

// 16 lanes over full chunks of 16, folded by hsum16, then the tail fused in order.
template <typename T, float (*Widen)(T)>
float dot_float16_lanes(const void *wv, const void *xv, int64_t n) {
    const T *w = static_cast<const T *>(wv);
    const T *x = static_cast<const T *>(xv);
    float acc[16] = {};
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        for (int lane = 0; lane < 16; ++lane) acc[lane] = std::fma(Widen(w[k + lane]), Widen(x[k + lane]), acc[lane]);
    }
    float s = hsum16(acc);
    for (; k < n; ++k) s = std::fma(Widen(w[k]), Widen(x[k]), s);
    return s;
}

float widen_f32(float f) { return f; }
float widen_f16(uint16_t h) { return f16_to_f32(h); }
float widen_bf16(uint16_t h) { return bf16_to_f32(h); }

template <typename T, float (*Widen)(T)>
void dequantize_float(const void *row, float *out, int64_t n) {
    const T *x = static_cast<const T *>(row);
    for (int64_t k = 0; k < n; ++k) out[k] = Widen(x[k]);
}

}  // namespace

float dot_f32_ref(const void *w, const void *x, int64_t n) { return dot_float16_lanes<float, widen_f32>(w, x, n); }
float dot_f16_ref(const void *w, const void *x, int64_t n) { return dot_float16_lanes<uint16_t, widen_f16>(w, x, n); }
float dot_bf16_ref(const void *w, const void *x, int64_t n) { return dot_float16_lanes<uint16_t, widen_bf16>(w, x, n); }

void dequantize_f32(const void *row, float *out, int64_t n) { dequantize_float<float, widen_f32>(row, out, n); }
void dequantize_f16(const void *row, float *out, int64_t n) { dequantize_float<uint16_t, widen_f16>(row, out, n); }
void dequantize_bf16(const void *row, float *out, int64_t n) { dequantize_float<uint16_t, widen_bf16>(row, out, n); }

void random_f32(void *out, int64_t n, uint64_t seed) {
    BlockRng rng(seed);
    float *o = static_cast<float *>(out);
    for (int64_t i = 0; i < n; ++i) o[i] = rng.normal(0.05f);
}

void random_f16(void *out, int64_t n, uint64_t seed) {
    BlockRng rng(seed);
    uint16_t *o = static_cast<uint16_t *>(out);
    for (int64_t i = 0; i < n; ++i) o[i] = f32_to_f16(rng.normal(0.05f));
}

void random_bf16(void *out, int64_t n, uint64_t seed) {
    BlockRng rng(seed);
    uint16_t *o = static_cast<uint16_t *>(out);
    for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(rng.normal(0.05f));
}

}  // namespace wc::cpu
