// attention.cu — see attention.cuh. One block of 4 warps per (head, query row). Each warp walks
// every 4th cached position with an online softmax (running max, running sum, rescaled
// accumulator), so any context length runs in registers; the warps' partial results are merged
// at the end. q is rounded to f16 first, as the CPU twin and llama.cpp do.
#include "gpu/attention.cuh"

#include <cuda_fp16.h>

#include "core/error.h"
#include "gpu/cuda_check.cuh"
#include "gpu/quant.cuh"

namespace wc::gpu {

namespace {

constexpr int kWarps = 4;
constexpr int kPerLane = kMaxHeadDim / 32;

__global__ void store_kv(const float *k, const float *v, int n, int pos0, int width, uint16_t *kc, uint16_t *vc) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n * width) return;
    const int64_t at = (int64_t)pos0 * width + i;
    kc[at] = __half_as_ushort(__float2half_rn(k[i]));
    vc[at] = __half_as_ushort(__float2half_rn(v[i]));
}

__global__ void attend(const float *q, const uint16_t *kc, const uint16_t *vc, int pos0, int n_head, int n_head_kv,
                       int head_dim, float scale, float *out) {
    const int h = blockIdx.x;
    const int t = blockIdx.y;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int kv_head = h / (n_head / n_head_kv);
    const int kv_width = n_head_kv * head_dim;
    const int n_kv = pos0 + t + 1;  // causal: positions 0 .. pos0 + t

    float qv[kPerLane], acc[kPerLane];
    const float *qr = q + ((int64_t)t * n_head + h) * head_dim;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
        const int d = lane + 32 * i;
        qv[i] = d < head_dim ? __half2float(__float2half_rn(qr[d])) : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int p = warp; p < n_kv; p += kWarps) {
        const uint16_t *kr = kc + (int64_t)p * kv_width + kv_head * head_dim;
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) {
            const int d = lane + 32 * i;
            if (d < head_dim) s = fmaf(qv[i], f16f(kr[d]), s);
        }
        s = warp_sum(s) * scale;
        const float m_new = fmaxf(m, s);
        const float keep = expf(m - m_new);
        const float w = expf(s - m_new);
        l = l * keep + w;
        const uint16_t *vr = vc + (int64_t)p * kv_width + kv_head * head_dim;
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) {
            const int d = lane + 32 * i;
            if (d < head_dim) acc[i] = fmaf(w, f16f(vr[d]), acc[i] * keep);
        }
        m = m_new;
    }

    __shared__ float warp_m[kWarps], warp_l[kWarps];
    __shared__ float warp_acc[kWarps][kMaxHeadDim];
    if (lane == 0) {
        warp_m[warp] = m;
        warp_l[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
        const int d = lane + 32 * i;
        if (d < head_dim) warp_acc[warp][d] = acc[i];
    }
    __syncthreads();
    float m_all = -INFINITY;
    for (int w = 0; w < kWarps; ++w) m_all = fmaxf(m_all, warp_m[w]);
    float denom = 0.0f;
    for (int w = 0; w < kWarps; ++w) {
        if (warp_l[w] > 0.0f) denom += warp_l[w] * expf(warp_m[w] - m_all);
    }
    float *o = out + ((int64_t)t * n_head + h) * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float num = 0.0f;
        for (int w = 0; w < kWarps; ++w) {
            if (warp_l[w] > 0.0f) num += warp_acc[w][d] * expf(warp_m[w] - m_all);
        }
        o[d] = num / denom;
    }
}

}  // namespace

void attention(const float *q, const float *k, const float *v, int n, int pos0, KvLayer &cache, const AttentionShape &s,
               float *out, cudaStream_t stream) {
    if (n <= 0) return;
    if (s.head_dim > kMaxHeadDim) fail(WC_ERR_UNSUPPORTED, strfmt("cuda attention: head_dim %d > %d", s.head_dim, kMaxHeadDim));
    if (s.n_head_kv <= 0 || s.n_head % s.n_head_kv != 0) fail(WC_ERR_INVALID_ARGUMENT, "cuda attention: n_head must be a multiple of n_head_kv");
    const int width = s.n_head_kv * s.head_dim;
    const int64_t total = (int64_t)n * width;
    store_kv<<<(unsigned)((total + 255) / 256), 256, 0, stream>>>(k, v, n, pos0, width, cache.k, cache.v);
    CUDA_CHECK_LAUNCH();
    attend<<<dim3(s.n_head, n), 32 * kWarps, 0, stream>>>(q, cache.k, cache.v, pos0, s.n_head, s.n_head_kv, s.head_dim, s.scale, out);
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
