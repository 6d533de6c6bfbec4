// attention.h — the self-attention block: Q/K/V projections (separate, or one fused attn_qkv
// read in three row ranges; optional biases), optional per-head Q/K RMSNorm, RoPE (per-layer base,
// optional frequency factors), optional scaling of Q, grouped-query attention over the KV pool
// (causal, optionally a sliding window), and the output projection (optional bias).
#pragma once

#include <string>

#include "core/architecture.h"
#include "models/blocks/weights.h"

namespace wc {

struct AttentionWeights {
    int64_t q_dim = 0, kv_dim = 0;
    bool fused = false;
    Weight wqkv;                           // fused: rows [q | k | v]
    const float *bqkv = nullptr;
    Weight wq, wk, wv;                     // separate
    const float *bq = nullptr, *bk = nullptr, *bv = nullptr;
    const float *q_norm = nullptr, *k_norm = nullptr;  // [head_dim], shared by the heads
    Weight wo;
    const float *bo = nullptr;
};

struct AttentionConfig {
    AttentionShape shape;   // heads, q.k scale, sliding window
    RopeParams rope;
    float norm_eps = 1e-6f; // of the Q/K norms
    // Q is multiplied by it after RoPE, before attention (llama.cpp's Gemma and Phi-3 graphs scale
    // Q this way, with shape.scale = 1); 0: not applied.
    float q_scale = 0;
};

// Registers layer `layer`'s attention tensors: blk.N.attn_qkv when present, else attn_q/k/v,
// each with its optional bias; attn_output (+ optional bias); with `qk_norm` the required
// attn_q_norm / attn_k_norm of head_dim values.
void register_attention(ModelWeights &mw, int layer, const ModelDims &d, bool qk_norm, AttentionWeights &w);

// Scratch of one step's attention: [rows, q_dim] for q and att, [rows, kv_dim] for k and v.
struct AttentionScratch {
    float *q, *k, *v, *att;
};

// out[r, :] = attention of row r over its sequence, its K and V stored in `kv` (in: [n, n_embd]
// normed hidden states; out: [n, n_embd]).
void attention_block(Backend &be, const AttentionWeights &w, const AttentionConfig &c, const float *in, const StepRows &rows,
                     KvLayer &kv, const AttentionScratch &s, float *out);

}  // namespace wc
