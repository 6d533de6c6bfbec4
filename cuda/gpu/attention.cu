// attention.cu — see attention.cuh. After the f16 store of the step's k, v rows, one scheme for
// every row, prompt or decoded, whatever else is in the step (batch invariance):
//
// * A row's keys 0 .. pos are cut into chunks at multiples of kAttnChunk (absolute positions).
//   One warp reduces one chunk for one (row, head): sub-tiles of 32 keys (aligned to multiples
//   of 32, so a sub-tile spans two KV blocks of 16), an online softmax over the sub-tiles
//   (running max m, running weight sum l, accumulator rescaled by exp(m_old - m_new)).
//     - score: lane L owns the dim pairs (2(L + 32i), 2(L + 32i) + 1); per key it sums its pairs
//       by FMA in i order, then a transposing butterfly (31 shuffles) leaves the full sum of key
//       j0 + L in lane L, always in the same tree;
//     - weights exp(s - m) with exp_approx (the CPU's formula); l += the butterfly sum of them;
//     - p·v: key by key in position order, each lane FMAs into its own dims.
// * The chunks of a row are folded in chunk order: (m, l, acc) of chunk c merges into the
//   running state with alpha = exp(M - M'), beta = exp(m_c - M'). Then out = acc / l.
//   Small steps (partials given) spread the chunks over blocks (grid y = chunk slots, enough for
//   the context's longest row; slots past a row's length exit at once) and a merge kernel folds
//   them; large steps let the warp walk its chunks in turn and fold as it goes. The fold is one
//   function with explicit round-to-nearest intrinsics, so both give the same bits.
// A row's arithmetic thus depends only on its own position, its q and its keys. In a row's last,
// partial sub-tile the lanes past its position score a copy of its last key (no branch, no load
// outside its keys), get weight 0 and are left out of p·v.
//
// Numerics against the CPU twin: q rounded to f16, K and V f16, scale applied to q·k, the same
// exp formula. Differences: the order of the sums (the CPU sums q·k and p·v in 16 lanes over all
// keys in one pass, with the softmax sum in double) and the probabilities, which the CPU rounds to
// f16 after normalising. A one-pass online softmax knows the normaliser only at the end; rounding
// the unnormalised weights instead would add a second, independent f16 error rather than
// reproduce the CPU's, so they stay f32.
#include "gpu/attention.cuh"

#include <cuda_fp16.h>

#include "core/error.h"
#include "core/step.h"
#include "gpu/cuda_check.cuh"
#include "gpu/exp_approx.cuh"
#include "gpu/quant.cuh"

namespace wc::gpu {

namespace {

constexpr int kWarps = 4;   // warps per block, one (row, head) task each
constexpr int kKeys = 32;   // keys per sub-tile: one per lane when scoring
constexpr unsigned kFull = 0xffffffffu;
static_assert(kAttnChunk % kKeys == 0, "sub-tiles never straddle chunks");
static_assert(kKeys == 2 * kKvBlockTokens, "a sub-tile spans exactly two KV blocks");

// k[r], v[r] -> cache slot kv_slot[r], rounded to f16. Grid: (row, 256-value piece).
__global__ void store_kv(const float *k, int64_t k_stride, const float *v, int64_t v_stride, const int32_t *kv_slot, int width,
                         uint16_t *kc, uint16_t *vc) {
    const int r = blockIdx.x;
    const int i = blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= width) return;
    const int64_t at = (int64_t)kv_slot[r] * width + i;
    kc[at] = __half_as_ushort(__float2half_rn(k[r * k_stride + i]));
    vc[at] = __half_as_ushort(__float2half_rn(v[r * v_stride + i]));
}

// One (row, head)'s reduction over some keys, per lane: a[2i], a[2i+1] are dims 2(lane + 32i)
// and 2(lane + 32i) + 1 of the accumulator (scaled by exp(-m)); m and l are the same in every lane.
template <int P>
struct Part {
    float a[2 * P];
    float m, l;
};

// Lane L's partial sums over 32 keys -> the full sum of key L in lane L. At step `Off` a lane
// keeps the half of its values whose key has bit `Off` equal to its own lane bit and sends the
// other half to lane ^ Off; after 5 steps one value is left. The tree is fixed for each key.
// (A template per step, so every index is a constant and v stays in registers.)
template <int Off>
__device__ __forceinline__ void transpose_step(float (&v)[kKeys], int lane) {
    const bool upper = lane & Off;
#pragma unroll
    for (int k = 0; k < Off; ++k) {
        const float lo = v[k], hi = v[k + Off];
        const float send = upper ? lo : hi;
        const float keep = upper ? hi : lo;
        v[k] = __fadd_rn(keep, __shfl_xor_sync(kFull, send, Off));
    }
}

__device__ __forceinline__ float transpose_sum(float (&v)[kKeys], int lane) {
    static_assert(kKeys == 32, "five steps");
    transpose_step<16>(v, lane);
    transpose_step<8>(v, lane);
    transpose_step<4>(v, lane);
    transpose_step<2>(v, lane);
    transpose_step<1>(v, lane);
    return v[0];
}

// q . K[key j0 + lane] for the sub-tile whose keys jj < 16 sit at slot sb0 + jj and the others
// at sb1 + jj - 16. Keys past n_valid read the last valid key instead (their result is
// discarded) and dims past hd read the head's last pair against q = 0, so there are no branches
// and every load is inside the row's own keys. Valid keys get the same FMAs whatever n_valid is.
template <int P, bool Full>
__device__ __forceinline__ float score_tile(const float (&q)[2 * P], const uint16_t *kbase, int64_t kv_width, int64_t sb0, int64_t sb1,
                                            int n_valid, int hd, int lane) {
    float part[kKeys];
#pragma unroll
    for (int jj = 0; jj < kKeys; ++jj) {
        const int jc = Full ? jj : min(jj, n_valid - 1);
        const int64_t slot = (jc < kKvBlockTokens ? sb0 : sb1) + jc % kKvBlockTokens;
        const __half2 *kr = reinterpret_cast<const __half2 *>(kbase + slot * kv_width);  // K[slot, kv_head, :] as pairs
        float acc = 0.0f;
#pragma unroll
        for (int i = 0; i < P; ++i) {
            const int pi = min(lane + 32 * i, hd / 2 - 1);
            const float2 kf = __half22float2(kr[pi]);
            acc = __fmaf_rn(q[2 * i], kf.x, acc);
            acc = __fmaf_rn(q[2 * i + 1], kf.y, acc);
        }
        part[jj] = acc;
    }
    return transpose_sum(part, lane);
}

// a += sum over the sub-tile's valid keys jj (in order) of p_jj * V[key jj] (p_jj held by lane jj).
template <int P, bool Full>
__device__ __forceinline__ void accumulate_v(float (&a)[2 * P], float p, const uint16_t *vbase, int64_t kv_width, int64_t sb0,
                                             int64_t sb1, int n_valid, int hd, int lane) {
#pragma unroll
    for (int jj = 0; jj < kKeys; ++jj) {
        if (!Full && jj >= n_valid) break;  // uniform across the warp
        const float pj = __shfl_sync(kFull, p, jj);
        const int64_t slot = (jj < kKvBlockTokens ? sb0 : sb1) + jj % kKvBlockTokens;
        const __half2 *vr = reinterpret_cast<const __half2 *>(vbase + slot * kv_width);
#pragma unroll
        for (int i = 0; i < P; ++i) {
            const int pi = lane + 32 * i;
            if (2 * pi < hd) {
                const float2 vf = __half22float2(vr[pi]);
                a[2 * i] = __fmaf_rn(pj, vf.x, a[2 * i]);
                a[2 * i + 1] = __fmaf_rn(pj, vf.y, a[2 * i + 1]);
            }
        }
    }
}

// Chunk c of a row with `len` keys (c < chunks of len): online softmax over its sub-tiles.
template <int P>
__device__ void attend_chunk(Part<P> &out, const float (&q)[2 * P], const uint16_t *kbase, const uint16_t *vbase, int64_t kv_width,
                             const int32_t *table, int c, int first, int len, int hd, float scale, int lane) {
    out.m = -INFINITY;
    out.l = 0.0f;
#pragma unroll
    for (int d = 0; d < 2 * P; ++d) out.a[d] = 0.0f;
    const int end = min(len, (c + 1) * kAttnChunk);
    // Sliding window: tiles stay aligned to kKeys (block-table lookups), keys before `first` masked.
    for (int j0 = max(c * kAttnChunk, first / kKeys * kKeys); j0 < end; j0 += kKeys) {
        const int n_valid = min(kKeys, end - j0);
        // Keys j0 .. j0+31 live in blocks table[j0/16] and table[j0/16 + 1] (the second only read
        // when one of its keys is valid: it may be past the sequence's table).
        const int64_t sb0 = (int64_t)table[j0 / kKvBlockTokens] * kKvBlockTokens;
        const int64_t sb1 = n_valid > kKvBlockTokens ? (int64_t)table[j0 / kKvBlockTokens + 1] * kKvBlockTokens : sb0;
        const float dot = n_valid == kKeys ? score_tile<P, true>(q, kbase, kv_width, sb0, sb1, n_valid, hd, lane)
                                           : score_tile<P, false>(q, kbase, kv_width, sb0, sb1, n_valid, hd, lane);
        const bool valid = lane < n_valid && j0 + lane >= first;
        const float s = valid ? __fmul_rn(dot, scale) : -INFINITY;
        const float m_new = fmaxf(out.m, warp_max(s));  // finite: the tile holds position max(first, j0)
        const float keep = exp_approx(out.m - m_new);  // 0 on the first sub-tile (m = -inf)
        const float p = valid ? exp_approx(s - m_new) : 0.0f;
        out.l = __fadd_rn(__fmul_rn(out.l, keep), warp_sum(p));
#pragma unroll
        for (int d = 0; d < 2 * P; ++d) out.a[d] = __fmul_rn(out.a[d], keep);
        if (n_valid == kKeys) accumulate_v<P, true>(out.a, p, vbase, kv_width, sb0, sb1, n_valid, hd, lane);
        else accumulate_v<P, false>(out.a, p, vbase, kv_width, sb0, sb1, n_valid, hd, lane);
        out.m = m_new;
    }
}

// run = run ∘ next (next is the following chunk). The only merge there is: the split path's merge
// kernel and the walking warp both call it, so they round alike.
template <int P>
__device__ __forceinline__ void fold(Part<P> &run, const Part<P> &next) {
    const float m = fmaxf(run.m, next.m);
    const float alpha = exp_approx(run.m - m), beta = exp_approx(next.m - m);
    run.l = __fmaf_rn(next.l, beta, __fmul_rn(run.l, alpha));
#pragma unroll
    for (int d = 0; d < 2 * P; ++d) run.a[d] = __fmaf_rn(next.a[d], beta, __fmul_rn(run.a[d], alpha));
    run.m = m;
}

template <int P>
__device__ __forceinline__ void write_out(const Part<P> &r, float *o, int hd, int lane) {
#pragma unroll
    for (int i = 0; i < P; ++i) {
        const int pi = lane + 32 * i;
        if (2 * pi < hd) {
            o[2 * pi] = __fdiv_rn(r.a[2 * i], r.l);
            o[2 * pi + 1] = __fdiv_rn(r.a[2 * i + 1], r.l);
        }
    }
}

// A partial in scratch: [hd] accumulator, then m, l.
template <int P>
__device__ __forceinline__ void store_part(const Part<P> &r, float *at, int hd, int lane) {
#pragma unroll
    for (int i = 0; i < P; ++i) {
        const int pi = lane + 32 * i;
        if (2 * pi < hd) {
            at[2 * pi] = r.a[2 * i];
            at[2 * pi + 1] = r.a[2 * i + 1];
        }
    }
    if (lane == 0) {
        at[hd] = r.m;
        at[hd + 1] = r.l;
    }
}

template <int P>
__device__ __forceinline__ void load_part(Part<P> &r, const float *at, int hd, int lane) {
#pragma unroll
    for (int i = 0; i < P; ++i) {
        const int pi = lane + 32 * i;
        r.a[2 * i] = 2 * pi < hd ? at[2 * pi] : 0.0f;
        r.a[2 * i + 1] = 2 * pi < hd ? at[2 * pi + 1] : 0.0f;
    }
    r.m = at[hd];
    r.l = at[hd + 1];
}

struct Args {
    const float *q;
    int64_t q_stride;
    const uint16_t *kc, *vc;
    const int32_t *pos, *seq, *blocks;
    int max_blocks, n_rows, n_head, group, n_head_kv, hd;
    float scale;
    int window;   // 0: every position; else the last `window` positions of the row
    float *out;
    int64_t out_stride;
    float *part;  // null: each warp walks its row's chunks; else one chunk per block row (grid y)
    int slots;    // chunk slots per task in `part` (gridDim.y when split)
};

// Task (row r, head h) = global warp index; with partials, blockIdx.y is the chunk.
template <int P>
__global__ void __launch_bounds__(32 * kWarps) attend(const Args a) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t task = (int64_t)blockIdx.x * kWarps + warp;
    if (task >= (int64_t)a.n_rows * a.n_head) return;  // whole warps: the shuffles below see every lane
    const int r = (int)(task / a.n_head), h = (int)(task % a.n_head);
    const int len = a.pos[r] + 1;  // causal: positions 0 .. pos[r] of its sequence
    const int first = a.window > 0 && len > a.window ? len - a.window : 0;  // sliding window: first visible position
    const int n_chunks = (len + kAttnChunk - 1) / kAttnChunk;
    const int c0 = first / kAttnChunk;  // chunks before it hold no visible key
    const bool split = a.part != nullptr;
    int c = split ? (int)blockIdx.y : c0;
    if (c >= n_chunks || c < c0) return;  // a chunk slot past this row's length, or before its window

    float q[2 * P];
    const float *qr = a.q + r * a.q_stride + (int64_t)h * a.hd;  // q[r, h, :]
#pragma unroll
    for (int i = 0; i < P; ++i) {
        const int pi = lane + 32 * i;
        q[2 * i] = 2 * pi < a.hd ? __half2float(__float2half_rn(qr[2 * pi])) : 0.0f;
        q[2 * i + 1] = 2 * pi < a.hd ? __half2float(__float2half_rn(qr[2 * pi + 1])) : 0.0f;
    }
    const int32_t *table = a.blocks + (int64_t)a.seq[r] * a.max_blocks;  // the row's sequence's block table
    const int64_t kv_width = (int64_t)a.n_head_kv * a.hd;
    const int64_t head_off = (int64_t)(h / a.group) * a.hd;               // its kv head within a slot
    float *o = a.out + r * a.out_stride + (int64_t)h * a.hd;

    Part<P> run;
    for (; c < n_chunks; c += split ? (int)gridDim.y : 1) {
        Part<P> cur;
        attend_chunk<P>(cur, q, a.kc + head_off, a.vc + head_off, kv_width, table, c, first, len, a.hd, a.scale, lane);
        if (split) {
            if (n_chunks - c0 == 1) write_out(cur, o, a.hd, lane);  // nothing to merge: out = acc / l, as below
            else store_part(cur, a.part + (task * a.slots + c) * (a.hd + 2), a.hd, lane);
        } else if (c == c0) {
            run = cur;
        } else {
            fold(run, cur);
        }
    }
    if (!split) write_out(run, o, a.hd, lane);
}

// Folds the partials of every task with more than one chunk, in chunk order.
template <int P>
__global__ void __launch_bounds__(32 * kWarps) attend_merge(const Args a) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t task = (int64_t)blockIdx.x * kWarps + warp;
    if (task >= (int64_t)a.n_rows * a.n_head) return;
    const int r = (int)(task / a.n_head), h = (int)(task % a.n_head);
    const int len = a.pos[r] + 1;
    const int first = a.window > 0 && len > a.window ? len - a.window : 0;
    const int n_chunks = (len + kAttnChunk - 1) / kAttnChunk, c0 = first / kAttnChunk;
    if (n_chunks - c0 <= 1) return;  // written by the chunk itself
    const float *base = a.part + task * a.slots * (a.hd + 2);
    Part<P> run, cur;
    load_part(run, base + (int64_t)c0 * (a.hd + 2), a.hd, lane);
    for (int c = c0 + 1; c < n_chunks; ++c) {
        load_part(cur, base + (int64_t)c * (a.hd + 2), a.hd, lane);
        fold(run, cur);
    }
    write_out(run, a.out + r * a.out_stride + (int64_t)h * a.hd, a.hd, lane);
}

template <int P>
void launch(const Args &a, cudaStream_t stream) {
    const unsigned blocks = (unsigned)(((int64_t)a.n_rows * a.n_head + kWarps - 1) / kWarps);
    attend<P><<<dim3(blocks, a.part ? a.slots : 1), 32 * kWarps, 0, stream>>>(a);
    CUDA_CHECK_LAUNCH();
    // With one slot every row has one chunk and wrote its output already.
    if (a.part && a.slots > 1) {
        attend_merge<P><<<blocks, 32 * kWarps, 0, stream>>>(a);
        CUDA_CHECK_LAUNCH();
    }
}

}  // namespace

int attention_chunk_slots(int max_blocks) {
    return (int)(((int64_t)max_blocks * kKvBlockTokens + kAttnChunk - 1) / kAttnChunk);
}

size_t attention_partials_floats(int n_rows, const AttentionShape &s, int max_blocks) {
    return (size_t)n_rows * s.n_head * attention_chunk_slots(max_blocks) * (s.head_dim + 2);
}

void attention(const F32View &q, const F32View &k, const F32View &v, const StepRows &rows, KvLayer &cache,
               const AttentionShape &s, const F32View &out, float *partials, cudaStream_t stream) {
    const int n = rows.n_rows;
    if (n <= 0) return;
    if (s.head_dim <= 0 || s.head_dim > kMaxHeadDim || s.head_dim % 2 != 0) {
        fail(WC_ERR_UNSUPPORTED, strfmt("cuda attention: head_dim %d (supported: even, at most %d)", s.head_dim, kMaxHeadDim));
    }
    if (s.n_head_kv <= 0 || s.n_head % s.n_head_kv != 0) fail(WC_ERR_INVALID_ARGUMENT, "cuda attention: n_head must be a multiple of n_head_kv");
    const int width = s.n_head_kv * s.head_dim;
    if (q.rows != n || k.rows != n || v.rows != n || out.rows != n || q.cols != (int64_t)s.n_head * s.head_dim || k.cols != width ||
        v.cols != width || out.cols != q.cols || rows.max_blocks <= 0) {
        fail(WC_ERR_INTERNAL, strfmt("cuda attention shapes: %d rows, q %lldx%lld, k %lldx%lld, v %lldx%lld, out %lldx%lld, max_blocks %d", n,
                                     (long long)q.rows, (long long)q.cols, (long long)k.rows, (long long)k.cols, (long long)v.rows,
                                     (long long)v.cols, (long long)out.rows, (long long)out.cols, rows.max_blocks));
    }
    if (partials && n > kAttnSplitMaxRows) fail(WC_ERR_INTERNAL, strfmt("cuda attention: a split step of %d rows", n));

    store_kv<<<dim3((unsigned)n, (unsigned)((width + 255) / 256)), 256, 0, stream>>>(k.data, k.stride, v.data, v.stride, rows.kv_slot,
                                                                                    width, cache.k, cache.v);
    CUDA_CHECK_LAUNCH();

    Args a;
    a.q = q.data;
    a.q_stride = q.stride;
    a.kc = cache.k;
    a.vc = cache.v;
    a.pos = rows.pos;
    a.seq = rows.seq;
    a.blocks = rows.blocks;
    a.max_blocks = rows.max_blocks;
    a.n_rows = n;
    a.n_head = s.n_head;
    a.group = s.n_head / s.n_head_kv;
    a.n_head_kv = s.n_head_kv;
    a.hd = s.head_dim;
    a.scale = s.scale;
    a.window = s.window;
    a.out = out.data;
    a.out_stride = out.stride;
    a.part = partials;
    a.slots = attention_chunk_slots(rows.max_blocks);
    if (s.head_dim <= 64) launch<1>(a, stream);
    else if (s.head_dim <= 128) launch<2>(a, stream);
    else launch<4>(a, stream);
}

}  // namespace wc::gpu
