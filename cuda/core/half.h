// half.h — IEEE half and bfloat16 conversions on the host.
//
// With F16C (our x86 baseline) the hardware instructions are used; elsewhere a bit-exact software
// path. Rounding is round-to-nearest-even in both directions, as ggml does.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace wc {

static inline float f32_from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline uint32_t bits_from_f32(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

static inline float f16_to_f32(uint16_t h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return f32_from_bits(sign);
        float v = (float)man * (1.0f / 16777216.0f);  // subnormal: man * 2^-24
        return sign ? -v : v;
    }
    if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (man << 13));
    return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
#endif
}

static inline uint16_t f32_to_f16(float f) {
#if defined(__F16C__)
    return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#else
    uint32_t x = bits_from_f32(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);  // rounds to inf
    if (ax < 0x38800000u) {                                   // subnormal or zero in half
        float v = f32_from_bits(ax) * 16777216.0f;            // scale by 2^24, round to int (RNE)
        uint32_t m = (uint32_t)__builtin_nearbyintf(v);
        return (uint16_t)(sign | m);
    }
    uint32_t mant_odd = (ax >> 13) & 1;
    ax += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest even
    return (uint16_t)(sign | (ax >> 13));
#endif
}

static inline float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u = bits_from_f32(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);  // quiet NaN
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

// Rounds through half precision and back: where llama.cpp stores or multiplies in f16, we do too.
static inline float round_f16(float f) { return f16_to_f32(f32_to_f16(f)); }

}  // namespace wc
