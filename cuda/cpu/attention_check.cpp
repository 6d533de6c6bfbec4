// attention_check.cpp — see check_attention in attention_isa.h. The step has every kind of row the
// scheduler makes: a prompt from position 0 (row pairs, and a last row alone), a prompt chunk that
// continues a sequence, and decode rows whose earlier keys are already in the cache.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "cpu/attention_isa.h"
#include "cpu/thread_pool.h"
#include "cpu/type_kernels.h"
#include "cpu/types/block_rng.h"

namespace wc::cpu {

namespace {

struct Shape {
    int n_head, n_head_kv, head_dim, window;
};
// SmolLM2 (9/3 x 64), Gemma 3 270M (4/1 x 256) with and without its window, a group of 6 in two
// chunks with a head size of 5 x 16, one that is not a multiple of 16, and a window that cuts
// inside a block.
constexpr Shape kShapes[] = {{9, 3, 64, 0}, {4, 1, 256, 0}, {4, 1, 256, 24}, {6, 1, 80, 0}, {2, 1, 40, 0}, {16, 2, 64, 33}};

// (sequence, first position, rows) of the step's row runs.
struct Run {
    int seq, pos0, n;
};
constexpr Run kRuns[] = {{0, 0, 37}, {1, 70, 1}, {2, 20, 5}, {3, 5, 1}};
constexpr int kSeqs = 4, kMaxBlocks = 5;  // positions up to 79

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

std::string check_attention(uint64_t seed) {
    std::vector<std::pair<const char *, const AttentionKernels *>> isas = {{"avx2", &attention_kernels_avx2()}};
    if (attention_kernels_avx512() && kernel_table_avx512() && &kernel_table() == kernel_table_avx512())
        isas.push_back({"avx512", attention_kernels_avx512()});
    BlockRng rng(seed ^ 0xa77e471011ULL);
    ThreadPool pool(2);

    // Rows and their sequences' block tables (blocks shuffled over the pool).
    std::vector<int32_t> pos, seq, slot;
    for (const Run &r : kRuns) {
        for (int i = 0; i < r.n; ++i) {
            pos.push_back(r.pos0 + i);
            seq.push_back(r.seq);
        }
    }
    const int n = (int)pos.size();
    std::vector<int32_t> blocks(kSeqs * kMaxBlocks);
    std::iota(blocks.begin(), blocks.end(), 0);
    for (size_t i = blocks.size() - 1; i > 0; --i) std::swap(blocks[i], blocks[rng.gen() % (i + 1)]);
    for (int r = 0; r < n; ++r) slot.push_back(blocks[seq[r] * kMaxBlocks + pos[r] / kKvBlockTokens] * kKvBlockTokens + pos[r] % kKvBlockTokens);
    const int64_t n_slots = (int64_t)blocks.size() * kKvBlockTokens;
    StepRows rows;
    rows.n_rows = n;
    rows.n_seqs = kSeqs;
    rows.max_blocks = kMaxBlocks;
    rows.pos = pos.data();
    rows.seq = seq.data();
    rows.kv_slot = slot.data();
    rows.blocks = blocks.data();
    rows.max_pos = *std::max_element(pos.begin(), pos.end());

    int64_t outputs = 0, mismatches = 0;
    double max_err = 0;
    for (const Shape &sh : kShapes) {
        const AttentionShape s{sh.n_head, sh.n_head_kv, sh.head_dim, 1.0f / std::sqrt((float)sh.head_dim), sh.window};
        const int64_t q_dim = (int64_t)sh.n_head * sh.head_dim, kv_dim = (int64_t)sh.n_head_kv * sh.head_dim;
        std::vector<float> q(n * q_dim), k(n * kv_dim), v(n * kv_dim);
        for (float &x : q) x = rng.normal(1.0f);
        for (float &x : k) x = rng.normal(1.0f);
        for (float &x : v) x = rng.normal(1.0f);
        std::vector<uint16_t> k0(n_slots * kv_dim), v0(n_slots * kv_dim);  // the earlier positions' keys
        for (uint16_t &x : k0) x = f32_to_f16(rng.normal(1.0f));
        for (uint16_t &x : v0) x = f32_to_f16(rng.normal(1.0f));

        std::vector<std::vector<float>> outs;
        std::vector<uint16_t> kc, vc;
        for (const auto &isa : isas) {
            kc = k0;
            vc = v0;
            KvLayer cache{kc.data(), vc.data()};
            std::vector<float> o(n * q_dim, NAN);
            attention_with(*isa.second, pool, F32View::dense(q.data(), n, q_dim), F32View::dense(k.data(), n, kv_dim),
                           F32View::dense(v.data(), n, kv_dim), rows, cache, s, F32View::dense(o.data(), n, q_dim));
            outs.push_back(std::move(o));
        }
        for (size_t i = 1; i < outs.size(); ++i) {
            for (size_t e = 0; e < outs[0].size(); ++e) mismatches += !same_bits(outs[0][e], outs[i][e]);
        }
        // The AVX2 build against f64 attention over the cache as the step left it.
        const int group = sh.n_head / sh.n_head_kv;
        std::vector<double> p;
        for (int r = 0; r < n; ++r) {
            const int first = sh.window > 0 ? std::max(0, pos[r] - sh.window + 1) : 0;
            for (int h = 0; h < sh.n_head; ++h) {
                const int64_t off = (int64_t)(h / group) * sh.head_dim;
                auto at = [&](int j) { return ((int64_t)blocks[seq[r] * kMaxBlocks + j / kKvBlockTokens] * kKvBlockTokens + j % kKvBlockTokens) * kv_dim + off; };
                p.assign(pos[r] + 1 - first, 0.0);
                double mx = -INFINITY, sum = 0;
                for (int j = first; j <= pos[r]; ++j) {
                    double d = 0;
                    for (int c = 0; c < sh.head_dim; ++c) d += (double)q[r * q_dim + h * sh.head_dim + c] * f16_to_f32(kc[at(j) + c]);
                    p[j - first] = d * s.scale;
                    mx = std::max(mx, p[j - first]);
                }
                for (double &x : p) sum += (x = std::exp(x - mx));
                for (int c = 0; c < sh.head_dim; ++c) {
                    double o = 0;
                    for (int j = first; j <= pos[r]; ++j) o += p[j - first] / sum * f16_to_f32(vc[at(j) + c]);
                    const float got = outs[0][r * q_dim + h * sh.head_dim + c];
                    max_err = std::max(max_err, std::isfinite(got) ? std::fabs(got - o) : INFINITY);
                }
            }
        }
        outputs += (int64_t)outs[0].size();
    }
    std::string names;
    for (const auto &isa : isas) names += std::string(names.empty() ? "" : ",") + "\"" + isa.first + "\"";
    return strfmt("{\"isas\":[%s],\"cases\":%d,\"outputs\":%lld,\"isa_mismatches\":%lld,\"max_abs_err\":%.9g}", names.c_str(),
                  (int)std::size(kShapes), (long long)outputs, (long long)mismatches, max_err);
}

}  // namespace wc::cpu
