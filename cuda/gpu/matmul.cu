// matmul.cu — see matmul.cuh. One kernel for every number of tokens, so a token's result never
// depends on how many tokens the step has (batch invariance):
//
// one warp per output row and tile of kTokensPerWarp tokens (a step of one token is a tile with
// one token in it). Quantized weights: lane L takes the 32-weight blocks L, L+32, ..., dequantizes
// each once into registers and uses it for every token of the tile; per token and block the 32
// products are summed by FMA in element order, and the block sums are added in block order.
// Float weights: lane L takes elements L, L+32, ... in order, one FMA each. Then a warp
// reduction (a fixed butterfly) and the bias. Each token's arithmetic is exactly that sequence
// whichever tile it falls in and whatever else is in the tile.
#include "gpu/matmul.cuh"

#include "core/error.h"
#include "gpu/cuda_check.cuh"
#include "gpu/quant.cuh"

namespace wc::gpu {

namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kTokensPerWarp = 8;

// The 32 activations x[k0 .. k0+32) of a token: float4 loads when the row is 16-byte aligned
// (Vec4), else scalar loads. Only the loads differ; the values are the same.
template <bool Vec4>
__device__ __forceinline__ void load32(const float *x, float v[32]) {
    if constexpr (Vec4) {
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            const float4 f = x4[k];
            v[4 * k] = f.x;
            v[4 * k + 1] = f.y;
            v[4 * k + 2] = f.z;
            v[4 * k + 3] = f.w;
        }
    } else {
#pragma unroll
        for (int k = 0; k < 32; ++k) v[k] = x[k];
    }
}

// Tokens t0 .. t0 + kTokensPerWarp - 1 (fewer at the end) against weight row r.
template <TensorType T, bool Quantized, bool Vec4>
__global__ void matmul_rows(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, int n, const float *x,
                            int64_t x_stride, float *y, int64_t y_stride, const float *bias) {
    const int64_t r = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    const int t0 = blockIdx.y * kTokensPerWarp;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const int nt = min(kTokensPerWarp, n - t0);
    const void *row = w + r * row_bytes;  // row_bytes is the stride: rows_slice views read in place
    const float *xt0 = x + (int64_t)t0 * x_stride;
    float s[kTokensPerWarp];
#pragma unroll
    for (int t = 0; t < kTokensPerWarp; ++t) s[t] = 0.0f;
    if constexpr (Quantized) {
        for (int64_t b = lane; b < cols / 32; b += 32) {
            float wv[32];
            dequantize_block<T>(row, b, wv);
#pragma unroll
            for (int t = 0; t < kTokensPerWarp; ++t) {
                if (t >= nt) break;
                float xv[32];
                load32<Vec4>(xt0 + t * x_stride + b * 32, xv);  // x[t0 + t, 32b .. 32b + 32)
                float acc = 0.0f;
#pragma unroll
                for (int k = 0; k < 32; ++k) acc = __fmaf_rn(wv[k], xv[k], acc);
                s[t] = __fadd_rn(s[t], acc);
            }
        }
    } else {
        for (int64_t k = lane; k < cols; k += 32) {
            const float wk = load_element((uint32_t)T, row, k);
#pragma unroll
            for (int t = 0; t < kTokensPerWarp; ++t) {
                if (t < nt) s[t] = __fmaf_rn(wk, xt0[t * x_stride + k], s[t]);
            }
        }
    }
    const float b = bias ? bias[r] : 0.0f;
#pragma unroll
    for (int t = 0; t < kTokensPerWarp; ++t) {
        const float total = warp_sum(s[t]);
        if (lane == 0 && t < nt) y[(int64_t)(t0 + t) * y_stride + r] = bias ? __fadd_rn(total, b) : total;
    }
}

template <TensorType T, bool Quantized>
void launch(const Weight &w, const F32View &x, const F32View &y, const float *bias, cudaStream_t stream) {
    const auto *data = static_cast<const uint8_t *>(w.data);
    const int n = (int)x.rows;
    const dim3 grid((unsigned)((w.rows + kWarpsPerBlock - 1) / kWarpsPerBlock), (unsigned)((n + kTokensPerWarp - 1) / kTokensPerWarp));
    const dim3 block(32 * kWarpsPerBlock);
    // float4 loads need every token's slice 16-byte aligned: the view's start and its stride.
    const bool vec4 = Quantized && reinterpret_cast<uintptr_t>(x.data) % 16 == 0 && x.stride % 4 == 0;
    if (vec4) {
        matmul_rows<T, Quantized, true><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, n, x.data, x.stride, y.data,
                                                                     y.stride, bias);
    } else {
        matmul_rows<T, Quantized, false><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, n, x.data, x.stride, y.data,
                                                                      y.stride, bias);
    }
}

}  // namespace

void matmul(const Weight &w, const F32View &x, const F32View &y, const float *bias, cudaStream_t stream) {
    if (x.cols != w.cols || y.cols != w.rows || y.rows != x.rows || x.stride < x.cols || y.stride < y.cols) {
        fail(WC_ERR_INTERNAL, strfmt("cuda matmul shapes: W [%lld x %lld], x [%lld x %lld / %lld], y [%lld x %lld / %lld]",
                                     (long long)w.rows, (long long)w.cols, (long long)x.rows, (long long)x.cols, (long long)x.stride,
                                     (long long)y.rows, (long long)y.cols, (long long)y.stride));
    }
    if (x.rows <= 0 || w.rows <= 0) return;
    if (x.rows > (int64_t)65535 * kTokensPerWarp) fail(WC_ERR_INTERNAL, strfmt("cuda matmul: %lld rows in one call", (long long)x.rows));
    switch ((TensorType)w.type_id) {
        case TensorType::Q4_0: launch<TensorType::Q4_0, true>(w, x, y, bias, stream); break;
        case TensorType::Q4_1: launch<TensorType::Q4_1, true>(w, x, y, bias, stream); break;
        case TensorType::Q8_0: launch<TensorType::Q8_0, true>(w, x, y, bias, stream); break;
        case TensorType::F16: launch<TensorType::F16, false>(w, x, y, bias, stream); break;
        case TensorType::BF16: launch<TensorType::BF16, false>(w, x, y, bias, stream); break;
        case TensorType::F32: launch<TensorType::F32, false>(w, x, y, bias, stream); break;
        default: fail(WC_ERR_UNSUPPORTED, strfmt("cuda matmul: tensor type %u", w.type_id));
    }
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
