// matmul.cu — see matmul.cuh. Two shapes of the same product:
//
// * one token (decode): one warp per output row; lanes take whole 32-weight blocks (quantized
//   types) or strided elements (float types) and dot them with the activations in registers,
//   then a warp reduction. Bound by reading the weights once.
// * many tokens (prefill): one warp per output row and tile of kTokensPerWarp tokens; each lane
//   dequantizes a block once into registers and uses it for every token of the tile, so the
//   weights are read and decoded once per tile instead of once per token.
#include "gpu/matmul.cuh"

#include "core/error.h"
#include "gpu/cuda_check.cuh"
#include "gpu/quant.cuh"

namespace wc::gpu {

namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kTokensPerWarp = 8;

template <TensorType T>
__global__ void matvec_quant(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, const float *x, float *y) {
    const int64_t r = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const void *row = w + r * row_bytes;
    float s = 0.0f;
    for (int64_t b = lane; b < cols / 32; b += 32) s += block_dot<T>(row, b, x + b * 32);
    s = warp_sum(s);
    if (lane == 0) y[r] = s;
}

template <TensorType T>
__global__ void matvec_float(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, const float *x, float *y) {
    const int64_t r = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const void *row = w + r * row_bytes;
    float s = 0.0f;
    for (int64_t k = lane; k < cols; k += 32) s = fmaf(load_element((uint32_t)T, row, k), x[k], s);
    s = warp_sum(s);
    if (lane == 0) y[r] = s;
}

// Tokens t0 .. t0 + kTokensPerWarp - 1 (fewer at the end) against row r.
template <TensorType T, bool Quantized>
__global__ void matmul_tiled(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, int n, const float *x, float *y) {
    const int64_t r = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    const int t0 = blockIdx.y * kTokensPerWarp;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const int nt = min(kTokensPerWarp, n - t0);
    const void *row = w + r * row_bytes;
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
                // cols is a multiple of 32, so each 32-float slice is 128-byte aligned.
                const float4 *xt = reinterpret_cast<const float4 *>(x + (int64_t)(t0 + t) * cols + b * 32);
                float acc = 0.0f;
#pragma unroll
                for (int k = 0; k < 8; ++k) {
                    const float4 v = xt[k];
                    acc = fmaf(wv[4 * k], v.x, acc);
                    acc = fmaf(wv[4 * k + 1], v.y, acc);
                    acc = fmaf(wv[4 * k + 2], v.z, acc);
                    acc = fmaf(wv[4 * k + 3], v.w, acc);
                }
                s[t] += acc;
            }
        }
    } else {
        for (int64_t k = lane; k < cols; k += 32) {
            const float wk = load_element((uint32_t)T, row, k);
#pragma unroll
            for (int t = 0; t < kTokensPerWarp; ++t) {
                if (t < nt) s[t] = fmaf(wk, x[(int64_t)(t0 + t) * cols + k], s[t]);
            }
        }
    }
#pragma unroll
    for (int t = 0; t < kTokensPerWarp; ++t) {
        const float total = warp_sum(s[t]);
        if (lane == 0 && t < nt) y[(int64_t)(t0 + t) * rows + r] = total;
    }
}

template <TensorType T, bool Quantized>
void launch(const Weight &w, const float *x, int n, float *y, cudaStream_t stream) {
    const auto *data = static_cast<const uint8_t *>(w.data);
    const unsigned row_blocks = (unsigned)((w.rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
    const dim3 block(32 * kWarpsPerBlock);
    if (n == 1) {
        if constexpr (Quantized) matvec_quant<T><<<row_blocks, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, x, y);
        else matvec_float<T><<<row_blocks, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, x, y);
    } else {
        const dim3 grid(row_blocks, (unsigned)((n + kTokensPerWarp - 1) / kTokensPerWarp));
        matmul_tiled<T, Quantized><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, n, x, y);
    }
}

}  // namespace

void matmul(const Weight &w, const float *x, int n, float *y, cudaStream_t stream) {
    if (n <= 0) return;
    switch ((TensorType)w.type_id) {
        case TensorType::Q4_0: launch<TensorType::Q4_0, true>(w, x, n, y, stream); break;
        case TensorType::Q4_1: launch<TensorType::Q4_1, true>(w, x, n, y, stream); break;
        case TensorType::Q8_0: launch<TensorType::Q8_0, true>(w, x, n, y, stream); break;
        case TensorType::F16: launch<TensorType::F16, false>(w, x, n, y, stream); break;
        case TensorType::BF16: launch<TensorType::BF16, false>(w, x, n, y, stream); break;
        case TensorType::F32: launch<TensorType::F32, false>(w, x, n, y, stream); break;
        default: fail(WC_ERR_UNSUPPORTED, strfmt("cuda matmul: tensor type %u", w.type_id));
    }
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
