// attention.cpp — causal grouped-query attention over an f16 KV cache.
//
// Numerics follow llama.cpp's default (non-flash) CPU path so results match it bit for bit:
//   - K and V are stored as f16; q and the softmax probabilities are rounded to f16 before the
//     two products (ggml converts them to the cache's type);
//   - the softmax exponentiates with exp_approx in blocks of 16, adds each block's lane sum into
//     a double, and scales by the float reciprocal;
//   - the two f16 products accumulate by FMA in lanes, in the order of the ggml kernel llama.cpp
//     picks for the batch size: with 2+ tokens its AVX-512 GEMM (16 lanes, 16 elements a step);
//     with one token its vec_dot (4 x 16 lanes, 64 elements a step, the four folded as
//     (0+2) + (1+3)). Each ends with the 16-lane pairwise reduction (i + i+8, i + i+4, i + i+2,
//     0 + 1).
// Keys past the causal limit take part as exact zeros, as masked entries do in llama.cpp.
#include <cmath>
#include <vector>

#include "core/half.h"
#include "cpu/exp_approx.h"
#include "cpu/ops.h"

#if defined(__F16C__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace wc::cpu {

namespace {

constexpr int kLanes = 16;

// How many 16-lane accumulators a product keeps: 1 for the batch GEMM order, 4 for vec_dot's.
enum class ProductOrder { Gemm = 1, VecDot = 4 };

// Sum of 16 lanes in the pairwise order described above.
inline float reduce16(const float *v) {
    float s8[8], s4[4];
    for (int i = 0; i < 8; ++i) s8[i] = v[i + 8] + v[i];
    for (int i = 0; i < 4; ++i) s4[i] = s8[i + 4] + s8[i];
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// Folds `groups` accumulators of 16 lanes (stride `stride` between groups) into one sum.
inline float reduce_groups(const float *acc, int groups, int stride) {
    if (groups == 1) return reduce16(acc);
    float folded[kLanes];
    for (int i = 0; i < kLanes; ++i) {
        folded[i] = (acc[i] + acc[2 * stride + i]) + (acc[stride + i] + acc[3 * stride + i]);
    }
    return reduce16(folded);
}

// q.k over `n` dims: q f32 (already f16-representable), k f16. `n` must be a multiple of
// 16 * groups; other sizes use dot_q_k_any.
inline float dot_q_k(const float *q, const uint16_t *k, int n, int groups) {
    float lanes[4 * kLanes] = {};
    const int step = kLanes * groups;
    for (int d = 0; d < n; d += step) {
        for (int g = 0; g < groups; ++g) {
            float *acc = lanes + g * kLanes;
            const int base = d + g * kLanes;
#if defined(__F16C__) && defined(__FMA__)
            __m256 lo = _mm256_loadu_ps(acc), hi = _mm256_loadu_ps(acc + 8);
            lo = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + base))), _mm256_loadu_ps(q + base), lo);
            hi = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + base + 8))), _mm256_loadu_ps(q + base + 8), hi);
            _mm256_storeu_ps(acc, lo);
            _mm256_storeu_ps(acc + 8, hi);
#else
            for (int i = 0; i < kLanes; ++i) acc[i] = std::fma(f16_to_f32(k[base + i]), q[base + i], acc[i]);
#endif
        }
    }
    return reduce_groups(lanes, groups, kLanes);
}

// q.k for head sizes the lane orders do not divide: plain sequential FMA.
inline float dot_q_k_any(const float *q, const uint16_t *k, int n) {
    float s = 0;
    for (int d = 0; d < n; ++d) s = std::fma(f16_to_f32(k[d]), q[d], s);
    return s;
}

// lane[0..n) += p * v[0..n): one key's contribution to the accumulator it falls in.
inline void accumulate_v(float *lane, float p, const uint16_t *v, int n) {
    int d = 0;
#if defined(__F16C__) && defined(__FMA__)
    const __m256 pv = _mm256_set1_ps(p);
    for (; d + 8 <= n; d += 8) {
        __m256 a = _mm256_loadu_ps(lane + d);
        a = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + d))), pv, a);
        _mm256_storeu_ps(lane + d, a);
    }
#endif
    for (; d < n; ++d) lane[d] = std::fma(f16_to_f32(v[d]), p, lane[d]);
}

struct Scratch {
    std::vector<float> scores, qh, lanes;
};

void attend_one(const float *qrow, int n_keys, const uint16_t *k_cache, const uint16_t *v_cache, int kv_dim, int kv_off,
                const AttentionShape &s, ProductOrder order, float *out, Scratch &w) {
    const int hd = s.head_dim;
    const int groups = (int)order;
    const bool lanes_fit = hd % (kLanes * groups) == 0;
    for (int d = 0; d < hd; ++d) w.qh[d] = round_f16(qrow[d]);

    // scores = scale * q.k, then the max
    float mx = -INFINITY;
    for (int j = 0; j < n_keys; ++j) {
        const uint16_t *kj = k_cache + (int64_t)j * kv_dim + kv_off;  // K[j, kvh, :]
        const float dot = lanes_fit ? dot_q_k(w.qh.data(), kj, hd, groups) : dot_q_k_any(w.qh.data(), kj, hd);
        w.scores[j] = dot * s.scale;
        mx = std::fmax(mx, w.scores[j]);
    }
    // exp in blocks of 16 (padded with exact zeros), block sums into a double
    const int padded = (n_keys + kLanes - 1) / kLanes * kLanes;
    double sum = 0;
    for (int b = 0; b < padded; b += kLanes) {
        float block[kLanes];
        for (int i = 0; i < kLanes; ++i) {
            const int j = b + i;
            block[i] = j < n_keys ? exp_approx(w.scores[j] - mx) : 0.0f;
            if (j < n_keys) w.scores[j] = block[i];
        }
        sum += (double)reduce16(block);
    }
    const float inv = (float)(1.0 / sum);

    // out = sum_j f16(p_j) v_j: key j goes to accumulator j % (16 * groups); then per output
    // dim the accumulators are folded and reduced.
    const int n_acc = kLanes * groups;
    float *lanes = w.lanes.data();  // [n_acc][hd]
    for (int i = 0; i < n_acc * hd; ++i) lanes[i] = 0;
    for (int j = 0; j < n_keys; ++j) {
        const float p = round_f16(w.scores[j] * inv);
        accumulate_v(lanes + (j % n_acc) * hd, p, v_cache + (int64_t)j * kv_dim + kv_off, hd);
    }
    float col[4 * kLanes];
    for (int d = 0; d < hd; ++d) {
        for (int i = 0; i < n_acc; ++i) col[i] = lanes[i * hd + d];
        out[d] = reduce_groups(col, groups, kLanes);
    }
}

}  // namespace

void attention(ThreadPool &pool, const float *q, const float *k, const float *v, int n, int pos0, KvLayer &cache,
               const AttentionShape &s, float *out) {
    const int kv_dim = s.n_head_kv * s.head_dim;
    const int group = s.n_head / s.n_head_kv;

    // Append this batch's K and V to the cache (rows pos0 .. pos0+n-1).
    pool.run_if(n >= 4 * pool.size(), [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split((int64_t)n * kv_dim, ith, nth, b, e);
        const int64_t base = (int64_t)pos0 * kv_dim;
        for (int64_t i = b; i < e; ++i) {
            cache.k[base + i] = f32_to_f16(k[i]);
            cache.v[base + i] = f32_to_f16(v[i]);
        }
    });

    pool.run([&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split((int64_t)n * s.n_head, ith, nth, b, e);
        Scratch w;
        w.scores.resize(pos0 + n);
        w.qh.resize(s.head_dim);
        w.lanes.resize((size_t)4 * kLanes * s.head_dim);
        // llama.cpp multiplies with vec_dot for a single token and with its GEMM otherwise.
        const ProductOrder order = n == 1 ? ProductOrder::VecDot : ProductOrder::Gemm;
        for (int64_t task = b; task < e; ++task) {
            const int t = (int)(task / s.n_head), h = (int)(task % s.n_head);
            const float *qrow = q + ((int64_t)t * s.n_head + h) * s.head_dim;  // q[t, h, :]
            float *o = out + ((int64_t)t * s.n_head + h) * s.head_dim;         // out[t, h, :]
            attend_one(qrow, pos0 + t + 1, cache.k, cache.v, kv_dim, (h / group) * s.head_dim, s, order, o, w);
        }
    });
}

}  // namespace wc::cpu
