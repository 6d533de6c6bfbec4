// tensor_types.h — GGUF tensor type ids, block layouts and the traits table.
//
// Every block layout is declared once here with a static_assert on its size; nothing else in the
// core hard-codes "20 bytes per 32 weights". The traits table covers every type id GGUF files
// use, so the loader can validate sizes of any file; `computable` marks the types our kernels read
// (derived from the CPU kernel table, cpu/type_kernels.h).
// Layouts follow ggml's ggml-common.h (https://github.com/ggml-org/llama.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace wc {

enum class TensorType : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
    IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
    TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

using f16_bits = uint16_t;   // IEEE half, stored raw
using bf16_bits = uint16_t;  // bfloat16, stored raw

constexpr int QK4_0 = 32;
struct block_q4_0 {
    f16_bits d;              // scale
    uint8_t qs[QK4_0 / 2];   // weight j in low nibble of qs[j], weight j+16 in high nibble; value (q - 8) * d
};
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");

constexpr int QK4_1 = 32;
struct block_q4_1 {
    f16_bits d;              // scale
    f16_bits m;              // minimum; value q * d + m
    uint8_t qs[QK4_1 / 2];   // same nibble order as q4_0
};
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");

constexpr int QK8_0 = 32;
struct block_q8_0 {
    f16_bits d;              // scale; value q * d
    int8_t qs[QK8_0];
};
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");

constexpr int QK8_1 = 32;
struct block_q8_1 {
    f16_bits d;              // scale
    f16_bits s;              // d * sum(qs), precomputed for the q4_1 minimum term
    int8_t qs[QK8_1];
};
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 layout");

constexpr int QK5_0 = 32;
struct block_q5_0 {
    f16_bits d;              // scale; value (q - 16) * d, q = 4 low bits | 5th bit << 4
    uint8_t qh[4];           // 5th bit of weight j at bit j (little-endian uint32)
    uint8_t qs[QK5_0 / 2];   // low 4 bits, same nibble order as q4_0
};
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");

constexpr int QK5_1 = 32;
struct block_q5_1 {
    f16_bits d;              // scale
    f16_bits m;              // minimum; value q * d + m
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
};
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");

// K-quants: super-blocks of 256 weights in sub-blocks of 16 or 32 with quantized sub-block scales.
constexpr int QK_K = 256;
constexpr int K_SCALE_SIZE = 12;  // 8 six-bit scales and 8 six-bit minimums, packed

struct block_q2_K {
    uint8_t scales[QK_K / 16];  // per 16 weights: scale (low 4 bits) and minimum (high 4 bits)
    uint8_t qs[QK_K / 4];       // 2-bit quants
    f16_bits d;                 // super-block scale of the scales
    f16_bits dmin;              // super-block scale of the minimums
};
static_assert(sizeof(block_q2_K) == 84, "block_q2_K layout");

struct block_q3_K {
    uint8_t hmask[QK_K / 8];    // high (3rd) bit of each quant
    uint8_t qs[QK_K / 4];       // low 2 bits
    uint8_t scales[12];         // 16 six-bit scales, packed
    f16_bits d;                 // super-block scale
};
static_assert(sizeof(block_q3_K) == 110, "block_q3_K layout");

struct block_q4_K {
    f16_bits d;                      // super-block scale of the scales
    f16_bits dmin;                   // super-block scale of the minimums
    uint8_t scales[K_SCALE_SIZE];    // per 32 weights: six-bit scale and minimum, packed
    uint8_t qs[QK_K / 2];            // 4-bit quants
};
static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");

struct block_q5_K {
    f16_bits d;
    f16_bits dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];            // 5th bit of each quant
    uint8_t qs[QK_K / 2];            // low 4 bits
};
static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");

struct block_q6_K {
    uint8_t ql[QK_K / 2];            // low 4 bits
    uint8_t qh[QK_K / 4];            // high 2 bits
    int8_t scales[QK_K / 16];        // per 16 weights, 8-bit
    f16_bits d;                      // super-block scale
};
static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");

// The activation type the K-quants are multiplied with (llama.cpp's vec_dot_type for them).
struct block_q8_K {
    float d;                         // scale (f32, unlike q8_0)
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];        // sum of each 16 quants, for the minimum terms
};
static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

struct TypeTraits {
    const char *name;
    int64_t block_size;     // weights per block (1 for plain float/int types)
    size_t block_bytes;     // bytes per block
    bool known;             // a type id GGUF defines
    bool computable;        // the CPU kernel table has an entry for it
};

// Traits of a raw GGUF type id; `known` is false for ids GGUF does not define.
const TypeTraits &type_traits(uint32_t type_id);
inline const TypeTraits &type_traits(TensorType t) { return type_traits((uint32_t)t); }

// Comma-separated names of the types our kernels read (the kernel table's order), for error messages.
const char *computable_type_names();

}  // namespace wc
