// attention.cpp — causal grouped-query attention over the paged f16 KV pool.
//
// Numerics follow llama.cpp's default (non-flash) CPU path for a batch of tokens, so prompt
// logits match it bit for bit:
//   - K and V are stored as f16; q and the softmax probabilities are rounded to f16 before the
//     two products (ggml converts them to the cache's type);
//   - the softmax exponentiates with exp_approx in blocks of 16, adds each block's lane sum into
//     a double, and scales by the float reciprocal;
//   - the two f16 products accumulate by FMA in 16 lanes, 16 elements a step, as ggml's batched
//     f16 GEMM does, and end with the 16-lane pairwise reduction (i + i+8, i + i+4, i + i+2, 0 + 1).
// Every row uses that one order, decoded tokens included (llama.cpp switches to its vec_dot order
// for a single token; we do not, so a row's result never depends on the rows beside it).
// Position j of a sequence is read through its block table; the order of the sums is by
// position, so paging changes nothing in the arithmetic. With a sliding window (positions before
// pos - window + 1 masked) the walk starts at the multiple of 16 at or below the first visible
// position and the keys before it get probability exactly 0: every block of 16 and every
// accumulator then holds the positions it holds without a window, and the masked ones add exact
// zeros, as in llama.cpp's masked softmax over its full-size cache.
// The query heads that share a KV head (up to 4 at a time) are computed together: each key and
// value chunk is widened from f16 once for all of them, while every head keeps its own sums in the
// order above.
#include <algorithm>
#include <atomic>
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

// Sum of 16 lanes in the pairwise order described above.
inline float reduce16(const float *v) {
    float s8[8], s4[4];
    for (int i = 0; i < 8; ++i) s8[i] = v[i + 8] + v[i];
    for (int i = 0; i < 4; ++i) s4[i] = s8[i + 4] + s8[i];
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// q.k over `n` dims (a multiple of 16): q f32 (already f16-representable), k f16.
inline float dot_q_k(const float *q, const uint16_t *k, int n) {
#if defined(__F16C__) && defined(__FMA__)
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int d = 0; d < n; d += kLanes) {
        lo = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + d))), _mm256_loadu_ps(q + d), lo);
        hi = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + d + 8))), _mm256_loadu_ps(q + d + 8), hi);
    }
    // reduce16 in registers: i + (i+8), then i + (i+4), then (0+2) + (1+3).
    const __m256 s8 = _mm256_add_ps(hi, lo);
    const __m128 s4 = _mm_add_ps(_mm256_extractf128_ps(s8, 1), _mm256_castps256_ps128(s8));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));  // (0+2), (1+3)
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
#else
    float acc[kLanes] = {};
    for (int d = 0; d < n; d += kLanes) {
        for (int i = 0; i < kLanes; ++i) acc[i] = std::fma(f16_to_f32(k[d + i]), q[d + i], acc[i]);
    }
    return reduce16(acc);
#endif
}

#if defined(__F16C__) && defined(__FMA__)
// Four reduce16s side by side with the same pairs: (i + i+8), then (i + i+4), then (0+2) + (1+3)
// of every input; s8[t] = hi + lo of input t.
inline void reduce16x4(const __m256 s8[4], float *out) {
    // [input 0's s4 | input 1's s4], [input 2's | input 3's]: s4[i] = s8[i] + s8[i + 4].
    const __m256 s4a = _mm256_add_ps(_mm256_permute2f128_ps(s8[0], s8[1], 0x20), _mm256_permute2f128_ps(s8[0], s8[1], 0x31));
    const __m256 s4b = _mm256_add_ps(_mm256_permute2f128_ps(s8[2], s8[3], 0x20), _mm256_permute2f128_ps(s8[2], s8[3], 0x31));
    // Per 128-bit lane: [s4[0] + s4[2], s4[1] + s4[3]] of inputs 0 and 2 (low lane), 1 and 3 (high).
    const __m256 s2 = _mm256_add_ps(_mm256_shuffle_ps(s4a, s4b, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(s4a, s4b, _MM_SHUFFLE(3, 2, 3, 2)));
    // (0+2) + (1+3): lanes [input 0, input 2, .., ..] and [input 1, input 3, .., ..].
    const __m256 r = _mm256_add_ps(_mm256_shuffle_ps(s2, s2, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(s2, s2, _MM_SHUFFLE(3, 1, 3, 1)));
    alignas(32) float v[8];
    _mm256_store_ps(v, r);
    out[0] = v[0];
    out[1] = v[4];
    out[2] = v[1];
    out[3] = v[5];
}

// dot_q_k of G query heads (head h's q at q + h * n) against K keys: out[h * K + t]. Each
// (head, key) pair keeps dot_q_k's lanes, FMAs and reduction; what is shared is the widening of
// each key chunk, done once for all the heads of a GQA group, and the interleaving of the
// 2 * G * K chains (one alone is latency-bound).
template <int G, int K>
__attribute__((always_inline)) inline void dot_qk(const float *q, const uint16_t *const k[K], int n, float *out) {
    static_assert(G * K <= 6, "at most six pairs: their 12 accumulators and a key's two halves fill the registers");
    __m256 lo[G][K], hi[G][K];
    for (int h = 0; h < G; ++h) {
        for (int t = 0; t < K; ++t) lo[h][t] = hi[h][t] = _mm256_setzero_ps();
    }
    for (int d = 0; d < n; d += kLanes) {
        for (int t = 0; t < K; ++t) {
            const __m256 klo = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k[t] + d)));
            const __m256 khi = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k[t] + d + 8)));
            for (int h = 0; h < G; ++h) {
                lo[h][t] = _mm256_fmadd_ps(klo, _mm256_loadu_ps(q + h * n + d), lo[h][t]);
                hi[h][t] = _mm256_fmadd_ps(khi, _mm256_loadu_ps(q + h * n + d + 8), hi[h][t]);
            }
        }
    }
    constexpr int R = G * K > 4 ? 8 : 4;  // reductions, four at a time
    __m256 s8[R];
    for (int i = 0; i < R; ++i) s8[i] = i < G * K ? _mm256_add_ps(hi[i / K][i % K], lo[i / K][i % K]) : _mm256_setzero_ps();
    float r[R];
    for (int i = 0; i < R; i += 4) reduce16x4(s8 + i, r + i);
    for (int i = 0; i < G * K; ++i) out[i] = r[i];
}
#endif

// q.k for head sizes the lane orders do not divide: plain sequential FMA.
inline float dot_q_k_any(const float *q, const uint16_t *k, int n) {
    float s = 0;
    for (int d = 0; d < n; ++d) s = std::fma(f16_to_f32(k[d]), q[d], s);
    return s;
}

// The keys of one row, key j being position first + j of its sequence: cache slot
// blocks[p / 16] * 16 + p % 16.
struct RowKeys {
    const int32_t *blocks;
    int64_t width;  // f16 values per slot (n_head_kv * head_dim)
    int64_t offset; // this head's first value in a slot
    int first;      // first position walked (a multiple of 16; 0 without a window)
    int64_t at(int j) const {
        const unsigned p = (unsigned)(first + j);
        return ((int64_t)blocks[p / kKvBlockTokens] * kKvBlockTokens + p % kKvBlockTokens) * width + offset;
    }
};
static_assert(kLanes == kKvBlockTokens, "accumulator i of p.v holds slot i of every block of the walk");

// For each head h < G: acc_h[0..n) = sum of p_h[j] * v_j[0..n) for the keys j = lane, lane + 16,
// ... < n_keys, FMA in that order from 0 (acc_h = acc + h * acc_stride, p_h = p + h * p_stride):
// the keys of one of the 16 accumulators — slot `lane` of each block of the walk (it starts on a
// block boundary). Dims go 64, 32 or 16 at a time (1, 2, 3-4 heads) so every head's accumulators
// stay in registers while the keys stream by, each value chunk widened once for the group's heads.
template <int G>
__attribute__((always_inline)) inline void sum_v(float *acc, int64_t acc_stride, const float *p, int64_t p_stride, int lane, int n_keys, const uint16_t *v_cache,
                  const RowKeys &keys, int n) {
    const int32_t *blk = keys.blocks + keys.first / kKvBlockTokens;
    const int64_t block_stride = (int64_t)kKvBlockTokens * keys.width;
    const uint16_t *v_lane = v_cache + lane * keys.width + keys.offset;
    const int n_walk = (n_keys - lane + kLanes - 1) / kLanes;  // keys of this accumulator
    int d0 = 0;
#if defined(__F16C__) && defined(__FMA__)
    constexpr int C = G == 1 ? 8 : G == 2 ? 4 : 2;  // 8-dim chunks per pass
    for (; d0 + 8 * C <= n; d0 += 8 * C) {
        __m256 a[G][C];
        for (int h = 0; h < G; ++h) {
            for (int c = 0; c < C; ++c) a[h][c] = _mm256_setzero_ps();
        }
        for (int m = 0; m < n_walk; ++m) {
            const uint16_t *vj = v_lane + blk[m] * block_stride + d0;
            __m256 pv[G];
            for (int h = 0; h < G; ++h) pv[h] = _mm256_set1_ps(p[h * p_stride + lane + kLanes * m]);
            for (int c = 0; c < C; ++c) {
                const __m256 vc = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vj + 8 * c)));
                for (int h = 0; h < G; ++h) a[h][c] = _mm256_fmadd_ps(vc, pv[h], a[h][c]);
            }
        }
        for (int h = 0; h < G; ++h) {
            for (int c = 0; c < C; ++c) _mm256_storeu_ps(acc + h * acc_stride + d0 + 8 * c, a[h][c]);
        }
    }
#endif
    for (int h = 0; h < G && d0 < n; ++h) {  // dims the passes left (none when they divide the head size)
        float *ah = acc + h * acc_stride;
        const float *ph = p + h * p_stride;
        for (int d = d0; d < n; ++d) ah[d] = 0.0f;
        for (int m = 0; m < n_walk; ++m) {
            const uint16_t *vj = v_lane + blk[m] * block_stride;
            const float pj = ph[lane + kLanes * m];
            for (int d = d0; d < n; ++d) ah[d] = std::fma(f16_to_f32(vj[d]), pj, ah[d]);
        }
    }
}

struct Scratch {
    std::vector<float> scores, qh, lanes;
    int64_t score_stride = 0;  // floats per head in `scores`
};

// Scores of keys n_masked .. n_keys - 1 for G heads (q of head h at qh + h * hd): scale * q.k.
template <int G>
void scores_of(const float *qh, int n_keys, int n_masked, const KvLayer &cache, const RowKeys &keys, const AttentionShape &s,
               float *scores, int64_t stride) {
    const int hd = s.head_dim;
    int j0 = n_masked;
#if defined(__F16C__) && defined(__FMA__)
    if (hd % kLanes == 0) {
        constexpr int K = G <= 4 ? 4 / G : 1;  // keys per step: G * K chains side by side
        float dots[G * K > 4 ? 8 : 4];
        for (; j0 + K <= n_keys; j0 += K) {
            const uint16_t *kt[K];
            for (int t = 0; t < K; ++t) kt[t] = cache.k + keys.at(j0 + t);
            dot_qk<G, K>(qh, kt, hd, dots);
            for (int h = 0; h < G; ++h) {
                for (int t = 0; t < K; ++t) scores[h * stride + j0 + t] = dots[h * K + t] * s.scale;
            }
        }
        for (; j0 < n_keys; ++j0) {
            const uint16_t *kt[1] = {cache.k + keys.at(j0)};
            dot_qk<G, 1>(qh, kt, hd, dots);
            for (int h = 0; h < G; ++h) scores[h * stride + j0] = dots[h] * s.scale;
        }
    }
#endif
    for (int j = j0; j < n_keys; ++j) {
        const uint16_t *kj = cache.k + keys.at(j);  // K[j, kvh, :]
        for (int h = 0; h < G; ++h) {
            const float *q = qh + h * hd;
            scores[h * stride + j] = (hd % kLanes == 0 ? dot_q_k(q, kj, hd) : dot_q_k_any(q, kj, hd)) * s.scale;
        }
    }
}

// One head's scores -> its f16-rounded probabilities, in place (masked keys' scores are -inf).
void softmax_f16(float *scores, int n_keys) {
    // The max (scores are finite or -inf: a plain comparison is fmax here, and a max is exact in
    // any order, so 16 lanes give the sequential scan's value without its chain of dependent
    // compares).
    float mx = -INFINITY;
    int j_max = 0;
#if defined(__F16C__) && defined(__FMA__)
    if (n_keys >= 16) {
        __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
        for (; j_max + 16 <= n_keys; j_max += 16) {
            m0 = _mm256_max_ps(m0, _mm256_loadu_ps(&scores[j_max]));
            m1 = _mm256_max_ps(m1, _mm256_loadu_ps(&scores[j_max + 8]));
        }
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, _mm256_max_ps(m0, m1));
        for (float v : lanes) mx = v > mx ? v : mx;
    }
#endif
    for (int j = j_max; j < n_keys; ++j) mx = scores[j] > mx ? scores[j] : mx;
    // exp in blocks of 16 (padded with exact zeros), block sums into a double
    const int padded = (n_keys + kLanes - 1) / kLanes * kLanes;
    for (int j = n_keys; j < padded; ++j) scores[j] = 0.0f;
    double sum = 0;
    int b = 0;
#if defined(__F16C__) && defined(__FMA__)
    // Whole blocks eight lanes at a time (exp_approx8 gives exp_approx's bits), reduced in
    // reduce16's order.
    const __m256 vmx = _mm256_set1_ps(mx);
    for (; b + kLanes <= n_keys; b += kLanes) {
        const __m256 lo = exp_approx8(_mm256_sub_ps(_mm256_loadu_ps(&scores[b]), vmx));
        const __m256 hi = exp_approx8(_mm256_sub_ps(_mm256_loadu_ps(&scores[b + 8]), vmx));
        _mm256_storeu_ps(&scores[b], lo);
        _mm256_storeu_ps(&scores[b + 8], hi);
        const __m256 s8 = _mm256_add_ps(hi, lo);
        const __m128 s4 = _mm_add_ps(_mm256_extractf128_ps(s8, 1), _mm256_castps256_ps128(s8));
        const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        sum += (double)_mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
    }
#endif
    for (; b < padded; b += kLanes) {
        float block[kLanes];
        for (int i = 0; i < kLanes; ++i) {
            const int j = b + i;
            block[i] = j < n_keys ? exp_approx(scores[j] - mx) : 0.0f;
            if (j < n_keys) scores[j] = block[i];
        }
        sum += (double)reduce16(block);
    }
    const float inv = (float)(1.0 / sum);
    int j = 0;
#if defined(__F16C__) && defined(__FMA__)
    const __m256 vinv = _mm256_set1_ps(inv);
    for (; j + 8 <= n_keys; j += 8) {
        const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(&scores[j]), vinv);
        _mm256_storeu_ps(&scores[j], _mm256_cvtph_ps(_mm256_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT)));
    }
#endif
    for (; j < n_keys; ++j) scores[j] = round_f16(scores[j] * inv);
}

// out = sum_j p_j v_j for one head from its 16 accumulators ([16][hd]): per output dim the
// reduce16 of the 16, 8 dims at a time (the same pairs).
void reduce_lanes(const float *lanes, int hd, float *out) {
    int d = 0;
#if defined(__F16C__) && defined(__FMA__)
    for (; d + 8 <= hd; d += 8) {
        __m256 v8[8], v4[4];
        for (int i = 0; i < 8; ++i) v8[i] = _mm256_add_ps(_mm256_loadu_ps(lanes + (i + 8) * hd + d), _mm256_loadu_ps(lanes + i * hd + d));
        for (int i = 0; i < 4; ++i) v4[i] = _mm256_add_ps(v8[i + 4], v8[i]);
        _mm256_storeu_ps(out + d, _mm256_add_ps(_mm256_add_ps(v4[0], v4[2]), _mm256_add_ps(v4[1], v4[3])));
    }
#endif
    float col[kLanes];
    for (; d < hd; ++d) {
        for (int i = 0; i < kLanes; ++i) col[i] = lanes[i * hd + d];
        out[d] = reduce16(col);
    }
}

// out = softmax(scores) V for G heads of one row (head h's scores at scores + h * stride, keys
// 0 .. n_keys - 1; masked ones -inf): the probabilities rounded to f16, then key j into
// accumulator j % 16, keys in increasing order within it, and per output dim the 16 reduced.
template <int G>
void weigh_values(float *scores, int64_t stride, int n_keys, const KvLayer &cache, const RowKeys &keys, const AttentionShape &s,
                  float *out, Scratch &w) {
    const int hd = s.head_dim;
    for (int h = 0; h < G; ++h) softmax_f16(scores + h * stride, n_keys);
    float *lanes = w.lanes.data();  // [G][16][hd]
    const int64_t head_lanes = (int64_t)kLanes * hd;
    for (int i = 0; i < kLanes; ++i) {
        if (i < n_keys) {
            sum_v<G>(lanes + i * hd, head_lanes, scores, stride, i, n_keys, cache.v, keys, hd);
        } else {
            for (int h = 0; h < G; ++h) std::fill(lanes + h * head_lanes + i * hd, lanes + h * head_lanes + (i + 1) * hd, 0.0f);
        }
    }
    for (int h = 0; h < G; ++h) reduce_lanes(lanes + h * head_lanes, hd, out + h * hd);
}

// G query heads of one row that share a KV head (q of head h at qrow + h * hd, output at
// out + h * hd). Keys 0 .. n_masked-1 are masked (sliding window): probability 0. Every head's
// result is what it would be alone: the heads share loads and widenings, never a sum.
template <int G>
void attend_group(const float *qrow, int n_keys, int n_masked, const KvLayer &cache, const RowKeys &keys, const AttentionShape &s,
                  bool prefetch_values, float *out, Scratch &w) {
    const int hd = s.head_dim;
    const int64_t stride = w.score_stride;
    for (int d = 0; d < G * hd; ++d) w.qh[d] = round_f16(qrow[d]);
    for (int h = 0; h < G; ++h) {
        for (int j = 0; j < n_masked; ++j) w.scores[h * stride + j] = -INFINITY;  // exp_approx(-inf) is 0
    }
#if defined(__F16C__) && defined(__FMA__)
    // The values are walked a lane at a time, keys 16 slots (several KiB) apart, which no hardware
    // prefetcher follows, and a decode row's cache rows come from memory (over all layers they
    // outgrow the caches): ask for them now, so they arrive while the scores are computed. (A
    // prompt's rows share their sequence's values, which the first of them brings into the cache.)
    for (int j = n_masked; prefetch_values && j < n_keys; ++j) {
        const char *vj = (const char *)(cache.v + keys.at(j));
        for (int o = 0; o < hd * 2; o += 64) _mm_prefetch(vj + o, _MM_HINT_T0);
    }
#endif
    scores_of<G>(w.qh.data(), n_keys, n_masked, cache, keys, s, w.scores.data(), stride);
    weigh_values<G>(w.scores.data(), stride, n_keys, cache, keys, s, out, w);
}

// The same G heads of two consecutive prompt rows of one sequence (positions p and p + 1, no
// keys masked): each key's widening shared by the 2G (row, head) pairs of q.k, the second row's
// last key (its own) alone; then each row as attend_group. Every (row, head, key) keeps its own
// lanes, FMAs and reduction, so each row's result is the one it gets alone.
template <int G>
void attend_pair(const float *qrow0, const float *qrow1, int n_keys0, const KvLayer &cache, const RowKeys &keys,
                 const AttentionShape &s, float *out0, float *out1, Scratch &w) {
    const int hd = s.head_dim;
    const int64_t stride = w.score_stride;
    for (int d = 0; d < G * hd; ++d) w.qh[d] = round_f16(qrow0[d]);
    for (int d = 0; d < G * hd; ++d) w.qh[G * hd + d] = round_f16(qrow1[d]);
    float *scores1 = w.scores.data() + G * stride;
    scores_of<2 * G>(w.qh.data(), n_keys0, 0, cache, keys, s, w.scores.data(), stride);
    scores_of<G>(w.qh.data() + G * hd, n_keys0 + 1, n_keys0, cache, keys, s, scores1, stride);
    weigh_values<G>(w.scores.data(), stride, n_keys0, cache, keys, s, out0, w);
    weigh_values<G>(scores1, stride, n_keys0 + 1, cache, keys, s, out1, w);
}

// Up to 4 heads of a GQA group at a time (3 in a step with row pairs); a bigger group in
// near-equal chunks.
constexpr int kMaxHeadsTogether = 4;
constexpr int kMaxPairHeads = 3;

}  // namespace

void attention(ThreadPool &pool, const F32View &q, const F32View &k, const F32View &v, const StepRows &rows, KvLayer &cache,
               const AttentionShape &s, const F32View &out) {
    const int64_t kv_dim = (int64_t)s.n_head_kv * s.head_dim;
    const int group = s.n_head / s.n_head_kv;
    const int n = rows.n_rows;

    // Store this step's K and V rows in their cache slots.
    pool.run_if(n >= 4 * pool.size(), [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n, ith, nth, b, e);
        for (int64_t r = b; r < e; ++r) {
            uint16_t *kc = cache.k + (int64_t)rows.kv_slot[r] * kv_dim;
            uint16_t *vc = cache.v + (int64_t)rows.kv_slot[r] * kv_dim;
            const float *kr = k.row(r), *vr = v.row(r);
            for (int64_t i = 0; i < kv_dim; ++i) {
                kc[i] = f32_to_f16(kr[i]);
                vc[i] = f32_to_f16(vr[i]);
            }
        }
    });

    // Tasks (unit, chunk of a GQA group) are claimed one at a time from a shared counter, the last
    // rows (the most keys) first: a causal prompt's rows cost in proportion to their positions, so
    // an even split of the rows left one thread with three quarters of the work at two threads.
    // A unit is one row, or two consecutive prompt rows of one sequence that share q.k's key
    // widenings (no window masking either; 2 rows x 3 heads fill the registers).
    // Which thread computes a task, and which heads and rows share it, never changes a result.
    thread_local std::vector<int32_t> unit_rows;  // first row of each unit; units of 2 have bit 31 set
    unit_rows.clear();
    for (int r = 0; r < n;) {
        const bool two = r + 1 < n && rows.seq[r + 1] == rows.seq[r] && rows.pos[r + 1] == rows.pos[r] + 1 &&
                         (s.window <= 0 || rows.pos[r + 1] < s.window);
        unit_rows.push_back(two ? (int32_t)(r | 0x80000000u) : r);
        r += two ? 2 : 1;
    }
    // A step with row pairs takes its groups at most 3 heads at a time; one of single rows (decode)
    // up to 4, whose value widenings the heads then share.
    const bool has_pairs = unit_rows.size() < (size_t)n;
    const int heads_together = has_pairs ? kMaxPairHeads : kMaxHeadsTogether;
    const int chunks_per_group = (group + heads_together - 1) / heads_together;
    const int chunks = s.n_head_kv * chunks_per_group;
    const int32_t *units = unit_rows.data();
    const int64_t n_tasks = (int64_t)unit_rows.size() * chunks;
    std::atomic<int64_t> next{0};
    pool.run([&](int, int) {
        Scratch w;
        const int g_max = std::min(group, kMaxHeadsTogether);
        w.score_stride = (int64_t)rows.max_pos + 1 + kLanes;  // room for a padded block
        w.scores.resize((size_t)(w.score_stride * 2 * g_max));
        w.qh.resize((size_t)2 * g_max * s.head_dim);
        w.lanes.resize((size_t)g_max * kLanes * s.head_dim);
        for (int64_t claimed; (claimed = next.fetch_add(1, std::memory_order_relaxed)) < n_tasks;) {
            const int64_t task = n_tasks - 1 - claimed;
            const int32_t unit = units[task / chunks];
            const int c = (int)(task % chunks);
            const int r = unit & 0x7fffffff;
            const bool two = unit < 0;
            const int kvh = c / chunks_per_group, part = c % chunks_per_group;
            // Heads [h0, h1) of kv head kvh's group, split as evenly as the chunk count allows.
            const int h0 = kvh * group + part * group / chunks_per_group;
            const int h1 = kvh * group + (part + 1) * group / chunks_per_group;
            const int visible = s.window > 0 && rows.pos[r] >= s.window ? rows.pos[r] - s.window + 1 : 0;
            const int first = visible / kLanes * kLanes;
            const RowKeys keys{rows.blocks + (int64_t)rows.seq[r] * rows.max_blocks, kv_dim, (int64_t)kvh * s.head_dim, first};
            const float *qr = q.row(r) + (int64_t)h0 * s.head_dim;
            float *o = out.row(r) + (int64_t)h0 * s.head_dim;
            const int n_keys = rows.pos[r] + 1 - first, n_masked = visible - first;
            if (two) {
                const float *qr1 = q.row(r + 1) + (int64_t)h0 * s.head_dim;
                float *o1 = out.row(r + 1) + (int64_t)h0 * s.head_dim;
                switch (h1 - h0) {
                    case 1: attend_pair<1>(qr, qr1, n_keys, cache, keys, s, o, o1, w); break;
                    case 2: attend_pair<2>(qr, qr1, n_keys, cache, keys, s, o, o1, w); break;
                    default: attend_pair<3>(qr, qr1, n_keys, cache, keys, s, o, o1, w); break;
                }
                continue;
            }
            const bool alone = (r == 0 || rows.seq[r - 1] != rows.seq[r]) && (r + 1 == n || rows.seq[r + 1] != rows.seq[r]);
            switch (h1 - h0) {
                case 1: attend_group<1>(qr, n_keys, n_masked, cache, keys, s, alone, o, w); break;
                case 2: attend_group<2>(qr, n_keys, n_masked, cache, keys, s, alone, o, w); break;
                case 3: attend_group<3>(qr, n_keys, n_masked, cache, keys, s, alone, o, w); break;
                default: attend_group<4>(qr, n_keys, n_masked, cache, keys, s, alone, o, w); break;
            }
        }
    });
}

}  // namespace wc::cpu
