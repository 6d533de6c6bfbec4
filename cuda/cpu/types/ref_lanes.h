// ref_lanes.h — the lane folds the reference dots end with, written out so the SIMD variants'
// horizontal sums (hsum_f32x8 in x86_common.inc) are their exact twins.
#pragma once

#include <cstdint>
#include <cstring>

namespace wc::cpu {

// 8 lanes: ((0+4)+(2+6)) + ((1+5)+(3+7)), the order of ggml's hsum_float_8.
static inline float hsum8(const float *a) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }

// 16 lanes (the float dots): i + i+8, then as hsum8.
static inline float hsum16(const float *a) {
    float s8[8];
    for (int i = 0; i < 8; ++i) s8[i] = a[i + 8] + a[i];
    return hsum8(s8);
}

// Weight k (0..31) of a 32-weight block of nibbles: low nibbles hold 0..15, high nibbles 16..31.
static inline int nibble32(const uint8_t *qs, int k) { return k < 16 ? (qs[k] & 0x0f) : (qs[k - 16] >> 4); }

// Weight k (0..31) of a Q5_0/Q5_1 block, unsigned 0..31: the nibble plus bit k of qh as bit 4.
static inline int five_bit32(const uint8_t *qs, const uint8_t *qh, int k) {
    uint32_t h;
    std::memcpy(&h, qh, 4);
    return nibble32(qs, k) | (int)(((h >> k) & 1) << 4);
}

}  // namespace wc::cpu
