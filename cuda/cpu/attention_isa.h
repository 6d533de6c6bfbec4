// attention_isa.h — the attention op's per-row kernels, built once per ISA from
// attention_kernels.inc (attention.cpp: AVX2; attention_avx512.cpp: AVX-512). The builds give the
// same bits; attention.cpp owns the scheduling and the scratch memory and calls one of them, so
// the AVX-512 build instantiates no library code that the AVX2 path could end up linked to.
#pragma once

#include <cstdint>
#include <string>

#include "cpu/ops.h"

namespace wc::cpu {

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

// One thread's working memory: scores [2 * heads][score_stride], rounded queries [2 * heads][head_dim],
// the p.v lane sums [heads][16][head_dim] (heads: the most a kernel takes, kMaxHeadsTogether).
struct AttentionScratch {
    float *scores;
    float *qh;
    float *lanes;
    int64_t score_stride;  // floats per head in `scores`: at least keys + 16
};

// Up to 4 heads of a GQA group at a time (3 in a step with row pairs); a bigger group in
// near-equal chunks.
constexpr int kMaxHeadsTogether = 4;
constexpr int kMaxPairHeads = 3;

struct AttentionKernels {
    // group[G - 1]: G query heads of one row that share a KV head (q of head h at qrow + h * head_dim,
    // output at out + h * head_dim); keys 0 .. n_masked - 1 masked. prefetch_values asks for the
    // value rows ahead (a decode row, whose cache rows come from memory).
    void (*group[kMaxHeadsTogether])(const float *qrow, int n_keys, int n_masked, const KvLayer &cache, const RowKeys &keys,
                                     const AttentionShape &s, bool prefetch_values, float *out, AttentionScratch &w);
    // pair[G - 1]: the same G heads of two consecutive prompt rows of one sequence (positions p and
    // p + 1, no key masked); n_keys0 is the first row's.
    void (*pair[kMaxPairHeads])(const float *qrow0, const float *qrow1, int n_keys0, const KvLayer &cache, const RowKeys &keys,
                                const AttentionShape &s, float *out0, float *out1, AttentionScratch &w);
};

const AttentionKernels &attention_kernels_avx2();
// nullptr where the build has no AVX-512 (the CPU check is kernel_table()'s).
const AttentionKernels *attention_kernels_avx512();

// attention() (ops.h) with the given kernels.
void attention_with(const AttentionKernels &kernels, ThreadPool &pool, const F32View &q, const F32View &k, const F32View &v,
                    const StepRows &rows, KvLayer &cache, const AttentionShape &s, const F32View &out);

// The attention check (wc_cpu_attention_check): random queries, keys and values over a shuffled
// block table, in steps that mix prompt rows (row pairs) and decode rows, with and without a
// sliding window, for several head sizes and GQA groups; each ISA build this CPU runs against the
// AVX2 one, and the AVX2 one against an f64 softmax attention. JSON: {"isas": [...], "cases",
// "outputs", "isa_mismatches", "max_abs_err"}.
std::string check_attention(uint64_t seed);

}  // namespace wc::cpu
