// types/legacy.cuh — the device side of ggml's 32-weight block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
// (layouts in core/tensor_types.h; formulas as ggml's dequantize_row_*). Each is multiplied with
// activations quantized to block_q8_1 (act_quant.cuh): the CPU's Q8_0/Q8_1 blocks bit for bit, so
// the integer sums are the CPU's and only the float order differs. A block is two units of 16
// consecutive weights (type_table.cuh): unit h holds weights 16h .. 16h+15, i.e. nibble h of
// quant bytes 0..15 for the 4/5-bit types, bytes 16h .. 16h+15 for Q8_0.
//
// Loads: Q4_1 and Q5_1 blocks are 20 and 24 bytes with their quants 4-byte aligned (rows start
// 256-aligned and are whole blocks), so they take 32-bit loads; Q4_0, Q5_0 and Q8_0 (18, 22, 34
// bytes) only keep 2-byte alignment and are read in 16-bit halves.
#pragma once

#include "gpu/quant.cuh"

namespace wc::gpu {

template <TensorType T>
struct GpuType;

// Sum over 16 consecutive activations of one q8_1 block (ints 4h .. 4h+3) against 4 packed ints.
__device__ __forceinline__ int dot16_q8(const int w[4], const block_q8_1 &x, int h) {
    const int *xq = reinterpret_cast<const int *>(x.qs) + 4 * h;
    int s = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) s = __dp4a(w[i], xq[i], s);
    return s;
}

// Nibble k (0..31) of a 16-byte nibble array: low nibbles are weights 0..15.
__device__ __forceinline__ int nibble32(const uint8_t *qs, int k) { return k < 16 ? (qs[k] & 0x0f) : (qs[k - 16] >> 4); }

// The 5th bits of a Q5 block as one word (2-byte aligned in Q5_0, so bytewise).
__device__ __forceinline__ uint32_t q5_high_bits(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) | ((uint32_t)qh[3] << 24);
}

template <>
struct GpuType<TensorType::Q4_0> {
    static constexpr TensorType kType = TensorType::Q4_0;
    static constexpr bool kQuantized = true;
    static constexpr int kBlock = QK4_0;
    using Block = block_q4_0;
    using Act = block_q8_1;
    struct Unit {
        int q[4];  // signed bytes q - 8
        float d;
    };
    static __device__ __forceinline__ Unit unit(const Block &b, int h) {
        Unit u;
#pragma unroll
        for (int i = 0; i < 4; ++i) u.q[i] = __vsub4((load_i32_a2(b.qs + 4 * i) >> (4 * h)) & 0x0f0f0f0f, 0x08080808);
        u.d = f16f(b.d);
        return u;
    }
    static __device__ __forceinline__ float dot(const Unit &w, const Act &x, int h) {
        return __fmul_rn(__fmul_rn(w.d, f16f(x.d)), (float)dot16_q8(w.q, x, h));
    }
    static __device__ __forceinline__ float element(const Block &b, int k) { return f16f(b.d) * (float)(nibble32(b.qs, k) - 8); }
};

template <>
struct GpuType<TensorType::Q4_1> {
    static constexpr TensorType kType = TensorType::Q4_1;
    static constexpr bool kQuantized = true;
    static constexpr int kBlock = QK4_1;
    using Block = block_q4_1;
    using Act = block_q8_1;
    struct Unit {
        int q[4];  // nibbles 0..15
        float d, m;
    };
    static __device__ __forceinline__ Unit unit(const Block &b, int h) {
        Unit u;
#pragma unroll
        for (int i = 0; i < 4; ++i) u.q[i] = (load_i32_a4(b.qs + 4 * i) >> (4 * h)) & 0x0f0f0f0f;
        u.d = f16f(b.d);
        u.m = f16f(b.m);
        return u;
    }
    // The minimum's term m·s covers the whole block (s = d_x Σ q_x over 32): unit 0 adds it.
    static __device__ __forceinline__ float dot(const Unit &w, const Act &x, int h) {
        const float v = __fmul_rn(__fmul_rn(w.d, f16f(x.d)), (float)dot16_q8(w.q, x, h));
        return h == 0 ? __fmaf_rn(w.m, f16f(x.s), v) : v;
    }
    static __device__ __forceinline__ float element(const Block &b, int k) {
        return fmaf(f16f(b.d), (float)nibble32(b.qs, k), f16f(b.m));
    }
};

template <>
struct GpuType<TensorType::Q5_0> {
    static constexpr TensorType kType = TensorType::Q5_0;
    static constexpr bool kQuantized = true;
    static constexpr int kBlock = QK5_0;
    using Block = block_q5_0;
    using Act = block_q8_1;
    struct Unit {
        int q[4];  // signed bytes q - 16
        float d;
    };
    static __device__ __forceinline__ Unit unit(const Block &b, int h) {
        Unit u;
        const uint32_t qh = q5_high_bits(b.qh) >> (16 * h);  // bits of weights 16h .. 16h+15
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int lo = (load_i32_a2(b.qs + 4 * i) >> (4 * h)) & 0x0f0f0f0f;
            u.q[i] = __vsub4(lo | spread4_to_bit4((qh >> (4 * i)) & 0xf), 0x10101010);
        }
        u.d = f16f(b.d);
        return u;
    }
    static __device__ __forceinline__ float dot(const Unit &w, const Act &x, int h) {
        return __fmul_rn(__fmul_rn(w.d, f16f(x.d)), (float)dot16_q8(w.q, x, h));
    }
    static __device__ __forceinline__ float element(const Block &b, int k) {
        const int q = nibble32(b.qs, k) | (int)(((q5_high_bits(b.qh) >> k) & 1u) << 4);
        return f16f(b.d) * (float)(q - 16);
    }
};

template <>
struct GpuType<TensorType::Q5_1> {
    static constexpr TensorType kType = TensorType::Q5_1;
    static constexpr bool kQuantized = true;
    static constexpr int kBlock = QK5_1;
    using Block = block_q5_1;
    using Act = block_q8_1;
    struct Unit {
        int q[4];  // quants 0..31
        float d, m;
    };
    static __device__ __forceinline__ Unit unit(const Block &b, int h) {
        Unit u;
        const uint32_t qh = (uint32_t)load_i32_a4(b.qh) >> (16 * h);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int lo = (load_i32_a4(b.qs + 4 * i) >> (4 * h)) & 0x0f0f0f0f;
            u.q[i] = lo | spread4_to_bit4((qh >> (4 * i)) & 0xf);
        }
        u.d = f16f(b.d);
        u.m = f16f(b.m);
        return u;
    }
    static __device__ __forceinline__ float dot(const Unit &w, const Act &x, int h) {
        const float v = __fmul_rn(__fmul_rn(w.d, f16f(x.d)), (float)dot16_q8(w.q, x, h));
        return h == 0 ? __fmaf_rn(w.m, f16f(x.s), v) : v;
    }
    static __device__ __forceinline__ float element(const Block &b, int k) {
        const int q = nibble32(b.qs, k) | (int)(((q5_high_bits(b.qh) >> k) & 1u) << 4);
        return fmaf(f16f(b.d), (float)q, f16f(b.m));
    }
};

template <>
struct GpuType<TensorType::Q8_0> {
    static constexpr TensorType kType = TensorType::Q8_0;
    static constexpr bool kQuantized = true;
    static constexpr int kBlock = QK8_0;
    using Block = block_q8_0;
    using Act = block_q8_1;
    struct Unit {
        int q[4];
        float d;
    };
    static __device__ __forceinline__ Unit unit(const Block &b, int h) {
        Unit u;
        const uint8_t *qs = reinterpret_cast<const uint8_t *>(b.qs) + 16 * h;
#pragma unroll
        for (int i = 0; i < 4; ++i) u.q[i] = load_i32_a2(qs + 4 * i);
        u.d = f16f(b.d);
        return u;
    }
    static __device__ __forceinline__ float dot(const Unit &w, const Act &x, int h) {
        return __fmul_rn(__fmul_rn(w.d, f16f(x.d)), (float)dot16_q8(w.q, x, h));
    }
    static __device__ __forceinline__ float element(const Block &b, int k) { return f16f(b.d) * (float)b.qs[k]; }
};

}  // namespace wc::gpu
