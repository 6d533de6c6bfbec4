// elementwise.cpp — SwiGLU and GeGLU gating, scaling, residual adds and row gathers.
//
// SiLU uses exp_approx in blocks of 16 values and the C library's expf on the tail, which is how
// llama.cpp's AVX-512 build evaluates it; results therefore match it bit for bit.
// GELU is ggml's tanh form read from a table of every f16 input (ggml's GGML_GELU_FP16 path): the
// gate is rounded to f16, looked up, and the f16 result widened, so a row's value depends only on
// that element.
#include <cmath>
#include <cstring>
#include <vector>

#include "core/half.h"

#if defined(__F16C__) && defined(__AVX2__)
#include <immintrin.h>
#endif

#include "cpu/exp_approx.h"
#include "cpu/ops.h"

namespace wc::cpu {

namespace {

// Below this many elements an op is faster on one thread than the cost of waking the pool.
constexpr int64_t kParallelElements = 1 << 16;
constexpr int64_t kBlock = 16;

void swiglu_range(const float *gate, const float *up, float *out, int64_t b, int64_t e) {
    int64_t i = b;
#if defined(__AVX2__) && defined(__FMA__)
    for (; i + 8 <= e; i += 8) {
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu_approx8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
    }
#endif
    for (; i < e; ++i) out[i] = silu_approx(gate[i]) * up[i];
}

}  // namespace

void swiglu(ThreadPool &pool, const float *gate, const float *up, float *out, int64_t n) {
    const int64_t n_blocked = n / kBlock * kBlock;
    pool.run_if(n >= kParallelElements, [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n_blocked / kBlock, ith, nth, b, e);
        swiglu_range(gate, up, out, b * kBlock, e * kBlock);
    });
    for (int64_t i = n_blocked; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

namespace {

// gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))), ggml's constants and grouping.
float gelu_tanh(float x) {
    const float kSqrt2OverPi = 0.79788456080286535587989211986876f, kCoefA = 0.044715f;
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
}

// f16 bits of gelu(x) for every f16 x, built once (128 KB).
const std::vector<uint16_t> &gelu_f16_table() {
    static const std::vector<uint16_t> table = [] {
        std::vector<uint16_t> t(1 << 16);
        for (uint32_t i = 0; i < t.size(); ++i) t[i] = f32_to_f16(gelu_tanh(f16_to_f32((uint16_t)i)));
        return t;
    }();
    return table;
}

}  // namespace

float gelu_f16_lookup(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return f16_to_f32(gelu_f16_table()[f32_to_f16(x)]);
}

void geglu(ThreadPool &pool, const float *gate, const float *up, float *out, int64_t n) {
    const uint16_t *table = gelu_f16_table().data();  // built before the workers read it
    pool.run_if(n >= kParallelElements, [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n, ith, nth, b, e);
        int64_t i = b;
#if defined(__F16C__) && defined(__AVX2__)
        // gelu_f16_lookup 8 at a time: the same f16 rounding of x, the same table entries, the
        // same clamps and product (the scalar form was 5 % of Gemma 3's prefill).
        const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
        for (; i + 8 <= e; i += 8) {
            const __m256 g = _mm256_loadu_ps(gate + i);
            alignas(16) uint16_t h[8];
            _mm_store_si128((__m128i *)h, _mm256_cvtps_ph(g, _MM_FROUND_TO_NEAREST_INT));
            const __m128i t = _mm_setr_epi16((short)table[h[0]], (short)table[h[1]], (short)table[h[2]], (short)table[h[3]],
                                             (short)table[h[4]], (short)table[h[5]], (short)table[h[6]], (short)table[h[7]]);
            __m256 v = _mm256_cvtph_ps(t);
            v = _mm256_blendv_ps(v, _mm256_setzero_ps(), _mm256_cmp_ps(g, lo, _CMP_LE_OQ));
            v = _mm256_blendv_ps(v, g, _mm256_cmp_ps(g, hi, _CMP_GE_OQ));
            _mm256_storeu_ps(out + i, _mm256_mul_ps(v, _mm256_loadu_ps(up + i)));
        }
#endif
        for (; i < e; ++i) out[i] = gelu_f16_lookup(gate[i]) * up[i];
    });
}

void scale(ThreadPool &pool, float *x, float s, int64_t n) {
    pool.run_if(n >= kParallelElements, [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n, ith, nth, b, e);
        for (int64_t i = b; i < e; ++i) x[i] *= s;
    });
}

void add(ThreadPool &pool, float *x, const float *y, int64_t n) {
    pool.run_if(n >= kParallelElements, [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n, ith, nth, b, e);
        for (int64_t i = b; i < e; ++i) x[i] += y[i];
    });
}

void gather_rows(ThreadPool &pool, const F32View &src, const int32_t *idx, int n, const F32View &dst) {
    (void)pool;  // row copies: memory-bound and short
    for (int i = 0; i < n; ++i) std::memcpy(dst.row(i), src.row(idx ? idx[i] : i), (size_t)dst.cols * sizeof(float));
}

}  // namespace wc::cpu
