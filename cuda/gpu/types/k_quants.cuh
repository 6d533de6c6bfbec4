// types/k_quants.cuh — the device side of ggml's K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, super-blocks
// of 256 weights with quantized sub-block scales (layouts in core/tensor_types.h; formulas as
// ggml's dequantize_row_q*_K). Each is multiplied with activations quantized to block_q8_K
// (act_quant.cuh: the CPU's Q8_K bit for bit, as llama.cpp's CPU backend pairs them). A super-block
// is 16 units of 16 consecutive weights (type_table.cuh): unit u holds weights 16u .. 16u+15, so its
// activations are q8_K bytes 16u .. 16u+15 and their sum is bsums[u]; every unit lies inside one
// scale's sub-block (16 weights for Q2_K/Q3_K/Q6_K, 32 for Q4_K/Q5_K), so it has one scale.
//
// Loads: Q2_K, Q4_K and Q5_K blocks (84, 144, 176 bytes) keep 4-byte alignment and take 32-bit
// loads; Q3_K and Q6_K (110, 210 bytes) keep 2-byte alignment and are read in 16-bit halves.
#pragma once

#include "gpu/quant.cuh"

namespace wc::gpu {

template <TensorType T>
struct GpuType;

// Sum over activations 16u .. 16u+15 of a q8_K block against 4 packed ints.
__device__ __forceinline__ int dot16_q8k(const int w[4], const block_q8_K &x, int u) {
    const int *xq = reinterpret_cast<const int *>(x.qs) + 4 * u;
    int s = 0;
#pragma unroll
    for (int i = 0; i < 4; ++i) s = __dp4a(w[i], xq[i], s);
    return s;
}

// Scale and minimum of sub-block j (0..7) of Q4_K/Q5_K: 6 bits each, packed in 12 bytes
// (ggml's get_scale_min_k4).
__device__ __forceinline__ void scale_min_k4(int j, const uint8_t *s, int &sc, int &m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

// Scale k (0..15) of Q3_K, signed: low 4 bits in the nibbles of bytes 0..7, high 2 bits in bytes 8..11.
__device__ __forceinline__ int scale_q3_k(int k, const uint8_t *s) {
    const int lo = k < 8 ? (s[k] & 0xf) : (s[k - 8] >> 4);
    const int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

template <>
struct GpuType<TensorType::Q2_K> {
    static constexpr TensorType kType = TensorType::Q2_K;
    static constexpr bool kQuantized = true;
    static constexpr int kBlock = QK_K;
    using Block = block_q2_K;
    using Act = block_q8_K;
    struct Unit {
        int q[4];  // 2-bit quants 0..3
        int sc, mn;
        float d, dmin;
    };
    // Unit u = sub-block u: quant bytes 32n + 16h .. +15 (n = u/8, h = u%2) at shift 2j (j = u%8/2).
    static __device__ __forceinline__ Unit unit(const Block &b, int u) {
        Unit w;
        const uint8_t *q = b.qs + 32 * (u / 8) + 16 * (u % 2);
        const int shift = 2 * ((u % 8) / 2);
#pragma unroll
        for (int i = 0; i < 4; ++i) w.q[i] = (load_i32_a4(q + 4 * i) >> shift) & 0x03030303;
        w.sc = b.scales[u] & 0xf;
        w.mn = b.scales[u] >> 4;
        w.d = f16f(b.d);
        w.dmin = f16f(b.dmin);
        return w;
    }
    static __device__ __forceinline__ float dot(const Unit &w, const Act &x, int u) {
        const int s = dot16_q8k(w.q, x, u) * w.sc, m = x.bsums[u] * w.mn;
        return __fsub_rn(__fmul_rn(__fmul_rn(x.d, w.d), (float)s), __fmul_rn(__fmul_rn(x.d, w.dmin), (float)m));
    }
    static __device__ __forceinline__ float element(const Block &b, int k) {
        const int q = (b.qs[32 * (k / 128) + 16 * ((k / 16) % 2) + k % 16] >> (2 * ((k % 128) / 32))) & 3;
        const int sc = b.scales[k / 16];
        const float dl = f16f(b.d) * (float)(sc & 0xf), ml = f16f(b.dmin) * (float)(sc >> 4);
        return dl * (float)q - ml;
    }
};

template <>
struct GpuType<TensorType::Q3_K> {
    static constexpr TensorType kType = TensorType::Q3_K;
    static constexpr bool kQuantized = true;
    static constexpr int kBlock = QK_K;
    using Block = block_q3_K;
    using Act = block_q8_K;
    struct Unit {
        int q[4];  // signed quants -4..3
        int sc;
        float d;
    };
    // Unit u = sub-block u: low bits as Q2_K's, the high bit of weight l at bit 4n + j of hmask[16h + l]
    // (a clear bit subtracts 4).
    static __device__ __forceinline__ Unit unit(const Block &b, int u) {
        Unit w;
        const int n = u / 8, j = (u % 8) / 2, h = u % 2;
        const uint8_t *q = b.qs + 32 * n + 16 * h, *hm = b.hmask + 16 * h;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int lo = (load_i32_a2(q + 4 * i) >> (2 * j)) & 0x03030303;
            const int hi = ((load_i32_a2(hm + 4 * i) >> (4 * n + j)) & 0x01010101) << 2;
            w.q[i] = __vsub4(lo | hi, 0x04040404);
        }
        w.sc = scale_q3_k(u, b.scales);
        w.d = f16f(b.d);
        return w;
    }
    static __device__ __forceinline__ float dot(const Unit &w, const Act &x, int u) {
        return __fmul_rn(__fmul_rn(x.d, w.d), (float)(dot16_q8k(w.q, x, u) * w.sc));
    }
    static __device__ __forceinline__ float element(const Block &b, int k) {
        const int n = k / 128, j = (k % 128) / 32, h = (k / 16) % 2, l = k % 16;
        const int lo = (b.qs[32 * n + 16 * h + l] >> (2 * j)) & 3;
        const int q = lo - (((b.hmask[16 * h + l] >> (4 * n + j)) & 1) ? 0 : 4);
        return f16f(b.d) * (float)scale_q3_k(k / 16, b.scales) * (float)q;
    }
};

template <>
struct GpuType<TensorType::Q4_K> {
    static constexpr TensorType kType = TensorType::Q4_K;
    static constexpr bool kQuantized = true;
    static constexpr int kBlock = QK_K;
    using Block = block_q4_K;
    using Act = block_q8_K;
    struct Unit {
        int q[4];  // nibbles 0..15
        int sc, m;
        float d, dmin;
    };
    // Weights 64c .. 64c+63 are quant bytes 32c .. 32c+31, low nibbles first then high; unit u is
    // nibble h = u/2%2 of bytes 32c + 16(u%2) .. +15 (c = u/4), in sub-block 2c + h.
    static __device__ __forceinline__ Unit unit(const Block &b, int u) {
        Unit w;
        const int c = u / 4, h = (u / 2) % 2;
        const uint8_t *q = b.qs + 32 * c + 16 * (u % 2);
#pragma unroll
        for (int i = 0; i < 4; ++i) w.q[i] = (load_i32_a4(q + 4 * i) >> (4 * h)) & 0x0f0f0f0f;
        scale_min_k4(2 * c + h, b.scales, w.sc, w.m);
        w.d = f16f(b.d);
        w.dmin = f16f(b.dmin);
        return w;
    }
    static __device__ __forceinline__ float dot(const Unit &w, const Act &x, int u) {
        const int s = dot16_q8k(w.q, x, u) * w.sc, m = x.bsums[u] * w.m;
        return __fsub_rn(__fmul_rn(__fmul_rn(x.d, w.d), (float)s), __fmul_rn(__fmul_rn(x.d, w.dmin), (float)m));
    }
    static __device__ __forceinline__ float element(const Block &b, int k) {
        const int c = k / 64, h = (k / 32) % 2;
        int sc, m;
        scale_min_k4(2 * c + h, b.scales, sc, m);
        const int q = (b.qs[32 * c + k % 32] >> (4 * h)) & 0xf;
        const float d1 = f16f(b.d) * (float)sc, m1 = f16f(b.dmin) * (float)m;
        return d1 * (float)q - m1;
    }
};

template <>
struct GpuType<TensorType::Q5_K> {
    static constexpr TensorType kType = TensorType::Q5_K;
    static constexpr bool kQuantized = true;
    static constexpr int kBlock = QK_K;
    using Block = block_q5_K;
    using Act = block_q8_K;
    struct Unit {
        int q[4];  // quants 0..31
        int sc, m;
        float d, dmin;
    };
    // As Q4_K, plus the 5th bit of weight 64c + 32h + l at bit 2c + h of qh[l].
    static __device__ __forceinline__ Unit unit(const Block &b, int u) {
        Unit w;
        const int c = u / 4, h = (u / 2) % 2, l0 = 16 * (u % 2);
        const uint8_t *q = b.qs + 32 * c + l0, *qh = b.qh + l0;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int lo = (load_i32_a4(q + 4 * i) >> (4 * h)) & 0x0f0f0f0f;
            const int hi = ((load_i32_a4(qh + 4 * i) >> (2 * c + h)) & 0x01010101) << 4;
            w.q[i] = lo | hi;
        }
        scale_min_k4(2 * c + h, b.scales, w.sc, w.m);
        w.d = f16f(b.d);
        w.dmin = f16f(b.dmin);
        return w;
    }
    static __device__ __forceinline__ float dot(const Unit &w, const Act &x, int u) {
        const int s = dot16_q8k(w.q, x, u) * w.sc, m = x.bsums[u] * w.m;
        return __fsub_rn(__fmul_rn(__fmul_rn(x.d, w.d), (float)s), __fmul_rn(__fmul_rn(x.d, w.dmin), (float)m));
    }
    static __device__ __forceinline__ float element(const Block &b, int k) {
        const int c = k / 64, h = (k / 32) % 2, l = k % 32;
        int sc, m;
        scale_min_k4(2 * c + h, b.scales, sc, m);
        const int q = ((b.qs[32 * c + l] >> (4 * h)) & 0xf) + (((b.qh[l] >> (2 * c + h)) & 1) << 4);
        const float d1 = f16f(b.d) * (float)sc, m1 = f16f(b.dmin) * (float)m;
        return d1 * (float)q - m1;
    }
};

template <>
struct GpuType<TensorType::Q6_K> {
    static constexpr TensorType kType = TensorType::Q6_K;
    static constexpr bool kQuantized = true;
    static constexpr int kBlock = QK_K;
    using Block = block_q6_K;
    using Act = block_q8_K;
    struct Unit {
        int q[4];  // signed quants -32..31
        int sc;
        float d;
    };
    // Weight 128n + 32g + l (g = 0..3, l = 0..31): low 4 bits are nibble g/2 of ql[64n + 32(g%2) + l],
    // high 2 bits are bits 2g, 2g+1 of qh[32n + l], scale scales[8n + 2g + l/16]. Unit u has
    // n = u/8, g = u%8/2 and l = 16(u%2) .. +15.
    static __device__ __forceinline__ Unit unit(const Block &b, int u) {
        Unit w;
        const int n = u / 8, g = (u % 8) / 2, l0 = 16 * (u % 2);
        const uint8_t *ql = b.ql + 64 * n + 32 * (g % 2) + l0, *qh = b.qh + 32 * n + l0;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int lo = (load_i32_a2(ql + 4 * i) >> (4 * (g / 2))) & 0x0f0f0f0f;
            const int hi = ((load_i32_a2(qh + 4 * i) >> (2 * g)) & 0x03030303) << 4;
            w.q[i] = __vsub4(lo | hi, 0x20202020);
        }
        w.sc = b.scales[8 * n + 2 * g + u % 2];
        w.d = f16f(b.d);
        return w;
    }
    static __device__ __forceinline__ float dot(const Unit &w, const Act &x, int u) {
        return __fmul_rn(__fmul_rn(x.d, w.d), (float)(dot16_q8k(w.q, x, u) * w.sc));
    }
    static __device__ __forceinline__ float element(const Block &b, int k) {
        const int n = k / 128, g = (k % 128) / 32, l = k % 32;
        const int lo = (b.ql[64 * n + 32 * (g % 2) + l] >> (4 * (g / 2))) & 0xf;
        const int hi = (b.qh[32 * n + l] >> (2 * g)) & 3;
        return f16f(b.d) * (float)b.scales[8 * n + 2 * g + l / 16] * (float)((lo | (hi << 4)) - 32);
    }
};

}  // namespace wc::gpu
