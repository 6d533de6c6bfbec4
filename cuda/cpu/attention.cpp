// attention.cpp — the attention op: stores the step's K and V rows, splits the (row, head group)
// tasks over the threads and runs each with the per-row kernels of the ISA the kernel table chose
// (attention_kernels.inc, in its AVX2 or AVX-512 build: the same bits either way).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "core/half.h"
#include "cpu/attention_isa.h"
#include "cpu/exp_approx.h"
#include "cpu/ops.h"
#include "cpu/type_kernels.h"

#if defined(__F16C__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace wc::cpu {

namespace avx2 {
#include "cpu/attention_kernels.inc"
}  // namespace avx2

const AttentionKernels &attention_kernels_avx2() { return avx2::kAttentionKernels; }

namespace {

// The ISA follows the kernel table's choice, so WC_ISA=avx2 narrows both (and scalar keeps the
// AVX2 attention, the x86 baseline).
const AttentionKernels &chosen_kernels() {
    static const AttentionKernels &k = attention_kernels_avx512() && &kernel_table() == kernel_table_avx512()
                                           ? *attention_kernels_avx512()
                                           : attention_kernels_avx2();
    return k;
}

}  // namespace

void attention(ThreadPool &pool, const F32View &q, const F32View &k, const F32View &v, const StepRows &rows, KvLayer &cache,
               const AttentionShape &s, const F32View &out) {
    attention_with(chosen_kernels(), pool, q, k, v, rows, cache, s, out);
}

void attention_with(const AttentionKernels &kern, ThreadPool &pool, const F32View &q, const F32View &k, const F32View &v,
                    const StepRows &rows, KvLayer &cache, const AttentionShape &s, const F32View &out) {
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
        const int g_max = std::min(group, kMaxHeadsTogether);
        const int64_t score_stride = (int64_t)rows.max_pos + 1 + kKvBlockTokens;  // room for a padded block
        thread_local std::vector<float> scores, qh, lanes;
        scores.resize((size_t)(score_stride * 2 * g_max));
        qh.resize((size_t)2 * g_max * s.head_dim);
        lanes.resize((size_t)g_max * kKvBlockTokens * s.head_dim);
        AttentionScratch w{scores.data(), qh.data(), lanes.data(), score_stride};
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
            const int first = visible / kKvBlockTokens * kKvBlockTokens;
            const RowKeys keys{rows.blocks + (int64_t)rows.seq[r] * rows.max_blocks, kv_dim, (int64_t)kvh * s.head_dim, first};
            const float *qr = q.row(r) + (int64_t)h0 * s.head_dim;
            float *o = out.row(r) + (int64_t)h0 * s.head_dim;
            const int n_keys = rows.pos[r] + 1 - first, n_masked = visible - first;
            if (two) {
                const float *qr1 = q.row(r + 1) + (int64_t)h0 * s.head_dim;
                float *o1 = out.row(r + 1) + (int64_t)h0 * s.head_dim;
                kern.pair[h1 - h0 - 1](qr, qr1, n_keys, cache, keys, s, o, o1, w);
                continue;
            }
            const bool alone = (r == 0 || rows.seq[r - 1] != rows.seq[r]) && (r + 1 == n || rows.seq[r + 1] != rows.seq[r]);
            kern.group[h1 - h0 - 1](qr, n_keys, n_masked, cache, keys, s, alone, o, w);
        }
    });
}

#undef WC_ATTENTION_512

}  // namespace wc::cpu
