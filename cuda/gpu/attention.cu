// attention.cu — see attention.cuh. Three kernels after the f16 store of the new k, v rows:
//
// * decode (one query row): the cached positions are split into kDecodeSplits contiguous chunks,
//   one 4-warp block per (head, chunk), so a long context spreads over the whole GPU; each warp
//   walks every 4th position of its chunk with an online softmax (running max, running sum,
//   rescaled accumulator). A merge kernel combines the chunks' partial results. The position may
//   come from device memory, so a captured graph replays it at any position.
// * prefill (many query rows): one block per (head, tile of 16 query rows); tiles of 32 cached
//   positions are staged in shared memory once and used by all 16 rows (lane j scores position
//   j), causal masking per row.
//
// q is rounded to f16 first and K, V are f16, as in the CPU twin and llama.cpp.
#include "gpu/attention.cuh"

#include <cuda_fp16.h>

#include "core/error.h"
#include "gpu/cuda_check.cuh"
#include "gpu/quant.cuh"

namespace wc::gpu {

namespace {

constexpr int kWarps = 4;
constexpr int kPerLane = kMaxHeadDim / 32;
constexpr int kDecodeSplits = 32;  // one lane per split in the merge
constexpr int kQTile = 16;
constexpr int kRowsPerWarp = kQTile / kWarps;
constexpr int kKvTile = 32;        // one lane per position when scoring
static_assert(kDecodeSplits == 32 && kKvTile == 32, "the merge and the scoring map one lane to one split/position");

__global__ void store_kv(const float *k, const float *v, int n, int pos0, const int *pos_dev, int width, uint16_t *kc,
                         uint16_t *vc) {
    if (pos_dev) pos0 = *pos_dev;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n * width) return;
    const int64_t at = (int64_t)pos0 * width + i;
    kc[at] = __half_as_ushort(__float2half_rn(k[i]));
    vc[at] = __half_as_ushort(__float2half_rn(v[i]));
}

// Partial result of one (head, split) block: [head_dim] accumulator scaled to exp(-m), then m, l.
__global__ void attend_decode(const float *q, const uint16_t *kc, const uint16_t *vc, int pos0, const int *pos_dev,
                              int n_head, int n_head_kv, int head_dim, float scale, float *part) {
    if (pos_dev) pos0 = *pos_dev;
    const int h = blockIdx.x, split = blockIdx.y;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int kv_head = h / (n_head / n_head_kv);
    const int kv_width = n_head_kv * head_dim;
    const int n_kv = pos0 + 1;  // causal: positions 0 .. pos0
    const int chunk = (n_kv + kDecodeSplits - 1) / kDecodeSplits;
    const int begin = split * chunk;
    const int end = min(n_kv, begin + chunk);

    float qv[kPerLane], acc[kPerLane];
    const float *qr = q + (int64_t)h * head_dim;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
        const int d = lane + 32 * i;
        qv[i] = d < head_dim ? __half2float(__float2half_rn(qr[d])) : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int p = begin + warp; p < end; p += kWarps) {
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
    for (int w = 0; w < kWarps; ++w) {
        if (warp_l[w] > 0.0f) m_all = fmaxf(m_all, warp_m[w]);
    }
    float *o = part + ((int64_t)h * kDecodeSplits + split) * (head_dim + 2);
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float num = 0.0f;
        for (int w = 0; w < kWarps; ++w) {
            if (warp_l[w] > 0.0f) num += warp_acc[w][d] * expf(warp_m[w] - m_all);
        }
        o[d] = num;
    }
    if (threadIdx.x == 0) {
        float l_all = 0.0f;
        for (int w = 0; w < kWarps; ++w) {
            if (warp_l[w] > 0.0f) l_all += warp_l[w] * expf(warp_m[w] - m_all);
        }
        o[head_dim] = m_all;
        o[head_dim + 1] = l_all;  // 0 for a split with no positions
    }
}

// out[h, :] from the kDecodeSplits partial results of head h (warp 0 weighs the splits).
__global__ void attend_decode_merge(const float *part, int head_dim, float *out) {
    const int h = blockIdx.x;
    const float *ph = part + (int64_t)h * kDecodeSplits * (head_dim + 2);
    __shared__ float weight[kDecodeSplits];
    __shared__ float denom;
    if (threadIdx.x < 32) {
        const float *ps = ph + threadIdx.x * (head_dim + 2);
        const float l = ps[head_dim + 1];
        const float m = l > 0.0f ? ps[head_dim] : -INFINITY;
        const float m_all = warp_max(m);  // finite: split 0 always holds position 0
        const float f = l > 0.0f ? expf(m - m_all) : 0.0f;
        weight[threadIdx.x] = f;
        const float sum = warp_sum(l * f);
        if (threadIdx.x == 0) denom = sum;
    }
    __syncthreads();
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float num = 0.0f;
        for (int s = 0; s < kDecodeSplits; ++s) num = fmaf(weight[s], ph[s * (head_dim + 2) + d], num);
        out[(int64_t)h * head_dim + d] = num / denom;
    }
}

__global__ void attend_prefill(const float *q, const uint16_t *kc, const uint16_t *vc, int n, int pos0, int n_head,
                               int n_head_kv, int head_dim, float scale, float *out) {
    const int h = blockIdx.x;
    const int t0 = blockIdx.y * kQTile;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int kv_head = h / (n_head / n_head_kv);
    const int kv_width = n_head_kv * head_dim;
    const int n_kv = pos0 + min(n, t0 + kQTile);  // positions the tile's last row sees

    __shared__ __half qs[kQTile][kMaxHeadDim];
    __shared__ __half ks[kKvTile][kMaxHeadDim + 2];  // +2 halves: lane j reads row j without bank conflicts
    __shared__ __half vs[kKvTile][kMaxHeadDim];

    for (int i = threadIdx.x; i < kQTile * head_dim; i += blockDim.x) {
        const int r = i / head_dim, d = i % head_dim, t = t0 + r;
        qs[r][d] = __float2half_rn(t < n ? q[((int64_t)t * n_head + h) * head_dim + d] : 0.0f);
    }
    float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kPerLane];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
#pragma unroll
        for (int k = 0; k < kPerLane; ++k) acc[i][k] = 0.0f;
    }

    for (int p0 = 0; p0 < n_kv; p0 += kKvTile) {
        __syncthreads();  // the previous tile is consumed (and qs is written)
        for (int i = threadIdx.x; i < kKvTile * head_dim; i += blockDim.x) {
            const int j = i / head_dim, d = i % head_dim, p = p0 + j;
            const int64_t at = (int64_t)p * kv_width + kv_head * head_dim + d;
            ks[j][d] = p < n_kv ? __ushort_as_half(kc[at]) : __float2half(0.0f);
            vs[j][d] = p < n_kv ? __ushort_as_half(vc[at]) : __float2half(0.0f);
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < kRowsPerWarp; ++i) {
            const int r = warp * kRowsPerWarp + i, t = t0 + r;
            const int last = pos0 + t;       // causal: row t sees positions 0 .. last
            if (t >= n || p0 > last) continue;  // uniform across the warp
            const int p = p0 + lane;
            float s = -INFINITY;
            if (p <= last) {
                float dot = 0.0f;
                for (int d = 0; d < head_dim; ++d) dot = fmaf(__half2float(qs[r][d]), __half2float(ks[lane][d]), dot);
                s = dot * scale;
            }
            const float m_new = fmaxf(m[i], warp_max(s));  // finite: lane 0's position p0 <= last
            const float keep = expf(m[i] - m_new);
            const float w = p <= last ? expf(s - m_new) : 0.0f;
            l[i] = l[i] * keep + warp_sum(w);
#pragma unroll
            for (int k = 0; k < kPerLane; ++k) acc[i][k] *= keep;
            const int visible = min(kKvTile, last - p0 + 1);
            for (int j = 0; j < visible; ++j) {
                const float wj = __shfl_sync(0xffffffffu, w, j);
#pragma unroll
                for (int k = 0; k < kPerLane; ++k) {
                    const int d = lane + 32 * k;
                    if (d < head_dim) acc[i][k] = fmaf(wj, __half2float(vs[j][d]), acc[i][k]);
                }
            }
            m[i] = m_new;
        }
    }
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
        const int t = t0 + warp * kRowsPerWarp + i;
        if (t >= n) continue;
        float *o = out + ((int64_t)t * n_head + h) * head_dim;
#pragma unroll
        for (int k = 0; k < kPerLane; ++k) {
            const int d = lane + 32 * k;
            if (d < head_dim) o[d] = acc[i][k] / l[i];
        }
    }
}

}  // namespace

size_t attention_scratch_floats(const AttentionShape &s) { return (size_t)s.n_head * kDecodeSplits * (s.head_dim + 2); }

void attention(const float *q, const float *k, const float *v, int n, int pos0, const int *pos_dev, KvLayer &cache,
               const AttentionShape &s, float *out, float *scratch, cudaStream_t stream) {
    if (n <= 0) return;
    if (s.head_dim > kMaxHeadDim) fail(WC_ERR_UNSUPPORTED, strfmt("cuda attention: head_dim %d > %d", s.head_dim, kMaxHeadDim));
    if (s.n_head_kv <= 0 || s.n_head % s.n_head_kv != 0) fail(WC_ERR_INVALID_ARGUMENT, "cuda attention: n_head must be a multiple of n_head_kv");
    if (n > 1 && pos_dev) fail(WC_ERR_INTERNAL, "cuda attention: a device-side position is for single-token steps only");
    const int width = s.n_head_kv * s.head_dim;
    const int64_t total = (int64_t)n * width;
    store_kv<<<(unsigned)((total + 255) / 256), 256, 0, stream>>>(k, v, n, pos0, pos_dev, width, cache.k, cache.v);
    CUDA_CHECK_LAUNCH();
    if (n == 1) {
        attend_decode<<<dim3(s.n_head, kDecodeSplits), 32 * kWarps, 0, stream>>>(q, cache.k, cache.v, pos0, pos_dev, s.n_head,
                                                                                 s.n_head_kv, s.head_dim, s.scale, scratch);
        CUDA_CHECK_LAUNCH();
        attend_decode_merge<<<s.n_head, 128, 0, stream>>>(scratch, s.head_dim, out);
    } else {
        attend_prefill<<<dim3(s.n_head, (n + kQTile - 1) / kQTile), 32 * kWarps, 0, stream>>>(q, cache.k, cache.v, n, pos0, s.n_head,
                                                                                             s.n_head_kv, s.head_dim, s.scale, out);
    }
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
