// attention.cpp — see attention.h. Tensor names as llama.cpp's create_tensor_qkv loads them.
#include "models/blocks/attention.h"

#include "core/error.h"

namespace wc {

void register_attention(ModelWeights &mw, int layer, const ModelDims &d, bool qk_norm, AttentionWeights &w) {
    auto name = [layer](const char *what, const char *kind) { return strfmt("blk.%d.%s.%s", layer, what, kind); };
    const int64_t E = d.n_embd;
    w.q_dim = (int64_t)d.n_head * d.head_dim;
    w.kv_dim = (int64_t)d.n_head_kv * d.head_dim;
    const int64_t qkv = w.q_dim + 2 * w.kv_dim;
    w.fused = mw.optional_matrix(name("attn_qkv", "weight"), E, qkv, &w.wqkv);
    if (w.fused) {
        mw.optional_vector(name("attn_qkv", "bias"), qkv, &w.bqkv);
    } else {
        mw.matrix(name("attn_q", "weight"), E, w.q_dim, &w.wq);
        mw.matrix(name("attn_k", "weight"), E, w.kv_dim, &w.wk);
        mw.matrix(name("attn_v", "weight"), E, w.kv_dim, &w.wv);
        mw.optional_vector(name("attn_q", "bias"), w.q_dim, &w.bq);
        mw.optional_vector(name("attn_k", "bias"), w.kv_dim, &w.bk);
        mw.optional_vector(name("attn_v", "bias"), w.kv_dim, &w.bv);
    }
    if (qk_norm) {
        mw.vector(name("attn_q_norm", "weight"), d.head_dim, &w.q_norm);
        mw.vector(name("attn_k_norm", "weight"), d.head_dim, &w.k_norm);
    }
    mw.matrix(name("attn_output", "weight"), w.q_dim, E, &w.wo);
    mw.optional_vector(name("attn_output", "bias"), E, &w.bo);
}

void attention_block(Backend &be, const AttentionWeights &w, const AttentionConfig &c, const float *in, const StepRows &rows,
                     KvLayer &kv, const AttentionScratch &s, float *out) {
    const int n = rows.n_rows;
    const int64_t E = w.wo.rows, q_dim = w.q_dim, kv_dim = w.kv_dim;
    const int hd = c.shape.head_dim;
    auto view = [n](float *p, int64_t cols) { return F32View::dense(p, n, cols); };
    const F32View x = view(const_cast<float *>(in), E);
    // Q, K and V over one conversion of x (the fused tensor's three row ranges give the values one
    // product would, each in its own dense buffer).
    if (w.fused) {
        const MatmulOut fused[3] = {
            {w.wqkv.rows_slice(0, q_dim), view(s.q, q_dim), w.bqkv},
            {w.wqkv.rows_slice(q_dim, kv_dim), view(s.k, kv_dim), w.bqkv ? w.bqkv + q_dim : nullptr},
            {w.wqkv.rows_slice(q_dim + kv_dim, kv_dim), view(s.v, kv_dim), w.bqkv ? w.bqkv + q_dim + kv_dim : nullptr},
        };
        be.matmul_many(fused, 3, x);
    } else {
        const MatmulOut separate[3] = {
            {w.wq, view(s.q, q_dim), w.bq},
            {w.wk, view(s.k, kv_dim), w.bk},
            {w.wv, view(s.v, kv_dim), w.bv},
        };
        be.matmul_many(separate, 3, x);
    }
    if (w.q_norm) {
        // q[r, h, :] normed per head: the dense [n, H * hd] buffer is n * H rows of hd values.
        be.rms_norm(s.q, w.q_norm, s.q, n * c.shape.n_head, hd, c.norm_eps);
        be.rms_norm(s.k, w.k_norm, s.k, n * c.shape.n_head_kv, hd, c.norm_eps);
    }
    be.rope(view(s.q, q_dim), c.shape.n_head, hd, rows, c.rope);
    be.rope(view(s.k, kv_dim), c.shape.n_head_kv, hd, rows, c.rope);
    if (c.q_scale != 0) be.scale(s.q, c.q_scale, (int64_t)n * q_dim);
    be.attention(view(s.q, q_dim), view(s.k, kv_dim), view(s.v, kv_dim), rows, kv, c.shape, view(s.att, q_dim));
    be.matmul(w.wo, view(s.att, q_dim), view(out, E), w.bo);
}

}  // namespace wc
