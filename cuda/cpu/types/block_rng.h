// block_rng.h — the random source of the block generators: a fixed engine and fixed formulas,
// so a seed gives the same bytes whatever the standard library (std:: distributions differ).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

namespace wc::cpu {

struct BlockRng {
    std::mt19937_64 gen;
    explicit BlockRng(uint64_t seed) : gen(seed) {}
    uint8_t byte() { return (uint8_t)(gen() & 0xff); }
    // Uniform in [lo, hi).
    float uniform(float lo, float hi) { return lo + (hi - lo) * (float)((gen() >> 40) * (1.0 / 16777216.0)); }
    // Normal with standard deviation sd (Box-Muller).
    float normal(float sd) {
        const double u1 = ((gen() >> 11) + 1.0) * (1.0 / 9007199254740993.0), u2 = (gen() >> 11) * (1.0 / 9007199254740992.0);
        return (float)(sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
    void bytes(uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; ++i) p[i] = byte();
    }
};

static inline void put_u16(void *at, uint16_t v) { std::memcpy(at, &v, 2); }

}  // namespace wc::cpu
