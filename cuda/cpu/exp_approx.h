// exp_approx.h — the single-precision exp approximation llama.cpp's CPU backend uses for SiLU and
// softmax (a range reduction to 2^n * e^b plus a degree-5 polynomial; the method of Arm's
// optimized-routines expf, max error about 1.5 ulp). We evaluate the same formula so that our
// silu and softmax round exactly like the reference. Scalar and AVX2 forms give identical bits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace wc::cpu {

namespace exp_approx_consts {
constexpr float kShift = 0x1.8p23f;       // rounds x/ln2 to an integer in the low mantissa bits
constexpr float kLog2e = 0x1.715476p+0f;
constexpr float kLn2Hi = 0x1.62e4p-1f;    // ln 2 split in two for an exact-ish reduction
constexpr float kLn2Lo = 0x1.7f7d1cp-20f;
constexpr float kC0 = 0x1.ffffecp-1f, kC1 = 0x1.fffdb6p-2f, kC2 = 0x1.555e66p-3f;
constexpr float kC3 = 0x1.573e2ep-5f, kC4 = 0x1.0e4020p-7f;
}  // namespace exp_approx_consts

// j * 2^n for integral n in [-192, 192], with one rounding in the normal range.
static inline float scale_by_pow2(float j, float n) {
    int e = (int)n;
    if (e >= -126 && e <= 127) {
        uint32_t bits = (uint32_t)(e + 127) << 23;
        float p;
        std::memcpy(&p, &bits, 4);
        return j * p;
    }
    return std::ldexp(j, e);
}

static inline float exp_approx(float x) {
    using namespace exp_approx_consts;
    const float z = std::fma(x, kLog2e, kShift);
    const float n = z - kShift;
    const float b = std::fma(-n, kLn2Lo, std::fma(-n, kLn2Hi, x));
    if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    const float u = b * b;
    const float j = std::fma(std::fma(std::fma(kC4, b, kC3), u, std::fma(kC2, b, kC1)), u, std::fma(kC0, b, 1.0f));
    return scale_by_pow2(j, n);
}

static inline float silu_approx(float x) { return x / (1.0f + exp_approx(-x)); }

#if defined(__AVX2__) && defined(__FMA__)
static inline __m256 exp_approx8(__m256 x) {
    using namespace exp_approx_consts;
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(kLog2e), _mm256_set1_ps(kShift));
    const __m256 n = _mm256_sub_ps(z, _mm256_set1_ps(kShift));
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(kC4), b, _mm256_set1_ps(kC3)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(kC2), b, _mm256_set1_ps(kC1))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(kC0), b, _mm256_set1_ps(1.0f)));
    const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    if (_mm256_movemask_ps(_mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ)) == 0) {
        // 2^n built from exponent bits: exact, so j * 2^n rounds once, like a scale instruction.
        const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
        return _mm256_mul_ps(j, _mm256_castsi256_ps(e));
    }
    // Rare: results near or past the float range; the scalar form handles them lane by lane.
    alignas(32) float xs[8];
    _mm256_store_ps(xs, x);
    for (int i = 0; i < 8; ++i) xs[i] = exp_approx(xs[i]);
    return _mm256_load_ps(xs);
}

#if defined(__AVX512F__) && defined(__AVX512DQ__)
// exp_approx8's operations on 16 lanes: the same bits lane by lane.
static inline __m512 exp_approx16(__m512 x) {
    using namespace exp_approx_consts;
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(kLog2e), _mm512_set1_ps(kShift));
    const __m512 n = _mm512_sub_ps(z, _mm512_set1_ps(kShift));
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(kC4), b, _mm512_set1_ps(kC3)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(kC2), b, _mm512_set1_ps(kC1))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(kC0), b, _mm512_set1_ps(1.0f)));
    if (_mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(126.0f), _CMP_GT_OQ) == 0) {
        const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
        return _mm512_mul_ps(j, _mm512_castsi512_ps(e));
    }
    alignas(64) float xs[16];
    _mm512_store_ps(xs, x);
    for (int i = 0; i < 16; ++i) xs[i] = exp_approx(xs[i]);
    return _mm512_load_ps(xs);
}
#endif

static inline __m256 silu_approx8(__m256 x) {
    const __m256 e = exp_approx8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}
#endif

}  // namespace wc::cpu
