// matmul.cu — see matmul.cuh. One kernel per weight type for every number of tokens, so a token's
// result never depends on how many tokens the step has (batch invariance):
//
// one warp per output row and tile of kTokensPerWarp tokens (a step of one token is a tile with
// one token in it; decode and prefill run the same code).
// Quantized weights (mat-vec in the manner of llama.cpp's mmvq): a row of K weights is K/16 units of
// 16 consecutive weights (type_table.cuh); lane L takes units L, L+32, L+64, ..., so the warp reads
// consecutive units of one weight row and its activation blocks together (coalesced), and at
// K = 576 (36 units) every lane has work. Each unit is unpacked once into registers and used for
// every token of the tile: per token, four __dp4a over the unit's 16 activation bytes give an exact
// integer, the type's dot() scales it to a float, and the lane adds it to its sum (units in
// increasing order, __fadd_rn).
// Float weights: lane L takes elements L, L+32, ... in order, one FMA each, with f32 activations.
// Then the lanes' sums are folded by one fixed butterfly (xor 16, 8, 4, 2, 1) and the bias added.
// Each token's arithmetic is exactly that sequence whichever tile it falls in and whatever else is
// in the tile. .specs/cuda-backend.md states the order; scripts/sim_cuda_numerics.py simulates it.
#include "gpu/matmul.cuh"

#include "core/error.h"
#include "gpu/act_quant.cuh"
#include "gpu/cuda_check.cuh"
#include "gpu/type_table.cuh"

namespace wc::gpu {

namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kTokensPerWarp = 8;

// Tokens t0 .. t0 + kTokensPerWarp - 1 (fewer at the end) against weight row r; xq holds each
// token's activation blocks densely (cols / kBlock per token).
template <class G>
__global__ void matmul_quantized(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, int n,
                                 const typename G::Act *__restrict__ xq, float *y, int64_t y_stride, const float *bias) {
    constexpr int kUnits = G::kBlock / kUnitWeights;
    const int64_t r = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    const int t0 = blockIdx.y * kTokensPerWarp;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const int nt = min(kTokensPerWarp, n - t0);
    // row_bytes is the stride: rows_slice views read in place.
    const auto *__restrict__ blocks = reinterpret_cast<const typename G::Block *>(w + r * row_bytes);
    const int64_t nb = cols / G::kBlock, n_units = nb * kUnits;
    const typename G::Act *x0 = xq + (int64_t)t0 * nb;  // token t0's blocks
    float s[kTokensPerWarp];
#pragma unroll
    for (int t = 0; t < kTokensPerWarp; ++t) s[t] = 0.0f;
    for (int64_t u = lane; u < n_units; u += 32) {
        const int64_t b = u / kUnits;
        const int part = (int)(u % kUnits);
        const typename G::Unit wu = G::unit(blocks[b], part);
#pragma unroll
        for (int t = 0; t < kTokensPerWarp; ++t) {
            if (t >= nt) break;
            s[t] = __fadd_rn(s[t], G::dot(wu, x0[t * nb + b], part));  // block b of token t0 + t
        }
    }
    const float bv = bias ? bias[r] : 0.0f;
#pragma unroll
    for (int t = 0; t < kTokensPerWarp; ++t) {
        const float total = warp_sum(s[t]);
        if (lane == 0 && t < nt) y[(int64_t)(t0 + t) * y_stride + r] = bias ? __fadd_rn(total, bv) : total;
    }
}

template <class G>
__global__ void matmul_float(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, int n, const float *x,
                             int64_t x_stride, float *y, int64_t y_stride, const float *bias) {
    const int64_t r = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    const int t0 = blockIdx.y * kTokensPerWarp;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const int nt = min(kTokensPerWarp, n - t0);
    const void *row = w + r * row_bytes;
    const float *xt0 = x + (int64_t)t0 * x_stride;
    float s[kTokensPerWarp];
#pragma unroll
    for (int t = 0; t < kTokensPerWarp; ++t) s[t] = 0.0f;
    for (int64_t k = lane; k < cols; k += 32) {
        const float wk = G::element(row, k);
#pragma unroll
        for (int t = 0; t < kTokensPerWarp; ++t) {
            if (t < nt) s[t] = __fmaf_rn(wk, xt0[t * x_stride + k], s[t]);
        }
    }
    const float bv = bias ? bias[r] : 0.0f;
#pragma unroll
    for (int t = 0; t < kTokensPerWarp; ++t) {
        const float total = warp_sum(s[t]);
        if (lane == 0 && t < nt) y[(int64_t)(t0 + t) * y_stride + r] = bias ? __fadd_rn(total, bv) : total;
    }
}

template <class G>
void launch(const Weight &w, const F32View &x, const F32View &y, const float *bias, void *act_scratch, size_t scratch_bytes,
            cudaStream_t stream) {
    const auto *data = static_cast<const uint8_t *>(w.data);
    const int n = (int)x.rows;
    const dim3 grid((unsigned)((w.rows + kWarpsPerBlock - 1) / kWarpsPerBlock), (unsigned)((n + kTokensPerWarp - 1) / kTokensPerWarp));
    const dim3 block(32 * kWarpsPerBlock);
    if constexpr (G::kQuantized) {
        using Act = typename G::Act;
        if (w.cols % G::kBlock != 0) {
            fail(WC_ERR_INTERNAL, strfmt("cuda matmul: %lld inputs are not whole %d-weight blocks", (long long)w.cols, G::kBlock));
        }
        const size_t need = (size_t)x.rows * (size_t)(x.cols / G::kBlock) * sizeof(Act);
        if (!act_scratch || need > scratch_bytes) {
            fail(WC_ERR_INTERNAL, strfmt("cuda matmul: %zu bytes of activation scratch for %lld x %lld, %zu reserved", need,
                                         (long long)x.rows, (long long)x.cols, scratch_bytes));
        }
        Act *xq = static_cast<Act *>(act_scratch);
        quantize_activations(x, xq, stream);
        matmul_quantized<G><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, n, xq, y.data, y.stride, bias);
    } else {
        matmul_float<G><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, n, x.data, x.stride, y.data, y.stride, bias);
    }
}

}  // namespace

void matmul(const Weight &w, const F32View &x, const F32View &y, const float *bias, void *act_scratch, size_t scratch_bytes,
            cudaStream_t stream) {
    if (x.cols != w.cols || y.cols != w.rows || y.rows != x.rows || x.stride < x.cols || y.stride < y.cols) {
        fail(WC_ERR_INTERNAL, strfmt("cuda matmul shapes: W [%lld x %lld], x [%lld x %lld / %lld], y [%lld x %lld / %lld]",
                                     (long long)w.rows, (long long)w.cols, (long long)x.rows, (long long)x.cols, (long long)x.stride,
                                     (long long)y.rows, (long long)y.cols, (long long)y.stride));
    }
    if (x.rows <= 0 || w.rows <= 0) return;
    if (x.rows > (int64_t)65535 * kTokensPerWarp) fail(WC_ERR_INTERNAL, strfmt("cuda matmul: %lld rows in one call", (long long)x.rows));
    const bool known = visit_gpu_type(w.type_id, [&](auto g) { launch<decltype(g)>(w, x, y, bias, act_scratch, scratch_bytes, stream); });
    if (!known) fail(WC_ERR_UNSUPPORTED, strfmt("cuda matmul: tensor type %s", type_traits(w.type_id).name));
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
