// llama.cpp — the Llama adapter. Hyperparameters come from `llama.*` metadata keys; tensor names
// follow llama.cpp's GGUF conventions (token_embd, blk.N.attn_q, ..., output_norm, output).
#include "models/llama.h"

#include <cmath>

#include "core/error.h"

namespace wc {

namespace {

constexpr int kMaxLogitRows = 64;  // rows per output-head call: bounds the logits buffer

struct LlamaState final : ForwardState {
    using ForwardState::ForwardState;
    float *x = nullptr;     // residual stream [B, E]
    float *xb = nullptr;    // normed input [B, E]
    float *xb2 = nullptr;   // branch output [B, E]
    float *q = nullptr;     // [B, H*hd]
    float *k = nullptr;     // [B, Hkv*hd]
    float *v = nullptr;     // [B, Hkv*hd]
    float *att = nullptr;   // [B, H*hd]
    float *gate = nullptr;  // [B, F]
    float *up = nullptr;    // [B, F]
};

std::string shape_of(int64_t a, int64_t b) { return b > 0 ? strfmt("[%lld, %lld]", (long long)a, (long long)b) : strfmt("[%lld]", (long long)a); }

const GgufTensor &require_tensor(const GgufFile &f, const std::string &name, int64_t ne0, int64_t ne1) {
    const GgufTensor *t = f.find_tensor(name);
    if (!t) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: required tensor '%s' is missing", f.path().c_str(), name.c_str()));
    const bool ok = ne1 > 0 ? (t->n_dims == 2 && t->ne[0] == ne0 && t->ne[1] == ne1) : (t->n_dims == 1 && t->ne[0] == ne0);
    if (!ok) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: tensor '%s' has shape %s, expected %s", f.path().c_str(), name.c_str(),
                                        t->shape_str().c_str(), shape_of(ne0, ne1).c_str()));
    }
    return *t;
}

int positive_key(const GgufFile &f, const std::string &key, int64_t value) {
    if (value <= 0 || value > (1 << 24)) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key '%s' = %lld is out of range", f.path().c_str(), key.c_str(), (long long)value));
    }
    return (int)value;
}

}  // namespace

Llama::Llama(const GgufFile &f, Backend &backend) : backend_(backend) {
    const std::string a = "llama.";
    auto req = [&](const char *k) { return positive_key(f, a + k, f.require_int(a + k)); };
    dims_.n_ctx_train = req("context_length");
    dims_.n_embd = req("embedding_length");
    dims_.n_layer = req("block_count");
    dims_.n_ff = req("feed_forward_length");
    dims_.n_head = req("attention.head_count");
    dims_.n_head_kv = positive_key(f, a + "attention.head_count_kv", f.get_int(a + "attention.head_count_kv", dims_.n_head));
    if (dims_.n_head % dims_.n_head_kv != 0) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: attention.head_count %d is not a multiple of head_count_kv %d", f.path().c_str(),
                                        dims_.n_head, dims_.n_head_kv));
    }
    if (dims_.n_embd % dims_.n_head != 0) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: embedding_length %d is not a multiple of head_count %d", f.path().c_str(),
                                        dims_.n_embd, dims_.n_head));
    }
    dims_.head_dim = positive_key(f, a + "attention.key_length", f.get_int(a + "attention.key_length", dims_.n_embd / dims_.n_head));
    rms_eps_ = (float)f.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5);
    if (!(rms_eps_ > 0) || rms_eps_ > 1) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: layer_norm_rms_epsilon %g is out of range", f.path().c_str(), rms_eps_));

    rope_.n_rot = positive_key(f, a + "rope.dimension_count", f.get_int(a + "rope.dimension_count", dims_.head_dim));
    if (rope_.n_rot > dims_.head_dim || rope_.n_rot % 2 != 0) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: rope.dimension_count %d must be even and <= head size %d", f.path().c_str(), rope_.n_rot, dims_.head_dim));
    }
    rope_.freq_base = (float)f.get_float(a + "rope.freq_base", 10000.0);
    if (!(rope_.freq_base > 0)) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: rope.freq_base must be positive", f.path().c_str()));
    const std::string scaling = f.get_string(a + "rope.scaling.type", "none");
    if (scaling == "linear") {
        const double factor = f.get_float(a + "rope.scaling.factor", 1.0);
        if (!(factor > 0)) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: rope.scaling.factor must be positive", f.path().c_str()));
        rope_.freq_scale = (float)(1.0 / factor);
    } else if (scaling != "none") {
        fail(WC_ERR_UNSUPPORTED, strfmt("%s: rope scaling '%s' is not supported (supported: none, linear)", f.path().c_str(), scaling.c_str()));
    }
    if (f.find_tensor("rope_freqs.weight")) {
        fail(WC_ERR_UNSUPPORTED, strfmt("%s: per-dimension rope frequency factors (rope_freqs.weight) are not supported yet", f.path().c_str()));
    }
    rope_.neox = false;  // llama uses the "norm" rope layout

    attn_.n_head = dims_.n_head;
    attn_.n_head_kv = dims_.n_head_kv;
    attn_.head_dim = dims_.head_dim;
    attn_.scale = 1.0f / std::sqrt((float)dims_.head_dim);

    const int E = dims_.n_embd, F = dims_.n_ff;
    const int q_dim = dims_.n_head * dims_.head_dim, kv_dim = dims_.n_head_kv * dims_.head_dim;

    const GgufTensor *embd = f.find_tensor("token_embd.weight");
    if (!embd) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: required tensor 'token_embd.weight' is missing", f.path().c_str()));
    dims_.n_vocab = (int)f.get_int(a + "vocab_size", embd->n_dims == 2 ? embd->ne[1] : 0);
    positive_key(f, a + "vocab_size", dims_.n_vocab);
    tok_embd_t_ = &require_tensor(f, "token_embd.weight", E, dims_.n_vocab);
    output_norm_t_ = &require_tensor(f, "output_norm.weight", E, 0);
    output_t_ = f.find_tensor("output.weight") ? &require_tensor(f, "output.weight", E, dims_.n_vocab) : nullptr;

    layer_tensors_.resize(dims_.n_layer);
    for (int l = 0; l < dims_.n_layer; ++l) {
        auto name = [l](const char *what) { return strfmt("blk.%d.%s.weight", l, what); };
        LayerTensors &T = layer_tensors_[l];
        T.attn_norm = &require_tensor(f, name("attn_norm"), E, 0);
        T.wq = &require_tensor(f, name("attn_q"), E, q_dim);
        T.wk = &require_tensor(f, name("attn_k"), E, kv_dim);
        T.wv = &require_tensor(f, name("attn_v"), E, kv_dim);
        T.wo = &require_tensor(f, name("attn_output"), q_dim, E);
        T.ffn_norm = &require_tensor(f, name("ffn_norm"), E, 0);
        T.w_gate = &require_tensor(f, name("ffn_gate"), E, F);
        T.w_up = &require_tensor(f, name("ffn_up"), E, F);
        T.w_down = &require_tensor(f, name("ffn_down"), F, E);
    }
}

size_t Llama::weight_footprint() const {
    const Backend &be = backend_;
    size_t bytes = be.weight_footprint(*tok_embd_t_, false) + be.weight_footprint(*output_norm_t_, true);
    if (output_t_) bytes += be.weight_footprint(*output_t_, false);
    for (const LayerTensors &T : layer_tensors_) {
        bytes += be.weight_footprint(*T.attn_norm, true) + be.weight_footprint(*T.ffn_norm, true);
        for (const GgufTensor *m : {T.wq, T.wk, T.wv, T.wo, T.w_gate, T.w_up, T.w_down}) bytes += be.weight_footprint(*m, false);
    }
    return bytes;
}

void Llama::load_weights() {
    Backend &be = backend_;
    tok_embd_ = be.upload_matrix(*tok_embd_t_);
    output_norm_ = be.upload_vector(*output_norm_t_);
    output_ = output_t_ ? be.upload_matrix(*output_t_) : tok_embd_;
    layers_.resize(dims_.n_layer);
    for (int l = 0; l < dims_.n_layer; ++l) {
        const LayerTensors &T = layer_tensors_[l];
        Layer &L = layers_[l];
        L.attn_norm = be.upload_vector(*T.attn_norm);
        L.wq = be.upload_matrix(*T.wq);
        L.wk = be.upload_matrix(*T.wk);
        L.wv = be.upload_matrix(*T.wv);
        L.wo = be.upload_matrix(*T.wo);
        L.ffn_norm = be.upload_vector(*T.ffn_norm);
        L.w_gate = be.upload_matrix(*T.w_gate);
        L.w_up = be.upload_matrix(*T.w_up);
        L.w_down = be.upload_matrix(*T.w_down);
    }
}

std::unique_ptr<ForwardState> Llama::new_state(Backend *backend, int max_rows) const {
    auto s = std::make_unique<LlamaState>(backend);
    const size_t B = max_rows, E = dims_.n_embd, F = dims_.n_ff;
    const size_t q_dim = (size_t)dims_.n_head * dims_.head_dim, kv_dim = (size_t)dims_.n_head_kv * dims_.head_dim;
    s->max_rows = max_rows;
    s->max_logit_rows = kMaxLogitRows;
    auto f32 = [&](size_t n) { return static_cast<float *>(s->allocate(n * sizeof(float))); };
    s->x = f32(B * E);
    s->xb = f32(B * E);
    s->xb2 = f32(B * E);
    s->q = f32(B * q_dim);
    s->k = f32(B * kv_dim);
    s->v = f32(B * kv_dim);
    s->att = f32(B * q_dim);
    s->gate = f32(B * F);
    s->up = f32(B * F);
    s->hidden = f32(B * E);
    s->head_in = f32((size_t)kMaxLogitRows * E);
    s->logits = f32((size_t)kMaxLogitRows * dims_.n_vocab);
    return s;
}

void Llama::forward(ForwardState &state, StepRows &rows, KvLayer *kv, StepControl &ctl) const {
    LlamaState &s = static_cast<LlamaState &>(state);
    Backend &be = backend_;
    const int E = dims_.n_embd, F = dims_.n_ff;
    const int q_dim = dims_.n_head * dims_.head_dim, kv_dim = dims_.n_head_kv * dims_.head_dim;
    // Between layers, rows of sequences aborted meanwhile leave the step; the residual stream of
    // the others is kept, in order (it is the only per-row state carried from layer to layer).
    auto drop_aborted = [&] {
        const int32_t *kept = nullptr;
        const int before = rows.n_rows;
        if (!ctl.poll(rows, kept)) return;
        be.gather_rows(F32View::dense(s.x, before, E), kept, rows.n_rows, F32View::dense(s.xb, rows.n_rows, E));
        be.gather_rows(F32View::dense(s.xb, rows.n_rows, E), nullptr, rows.n_rows, F32View::dense(s.x, rows.n_rows, E));
    };
    be.embed(tok_embd_, rows, s.x);
    for (int l = 0; l < dims_.n_layer; ++l) {
        drop_aborted();
        const int n = rows.n_rows;
        auto view = [n](float *p, int cols) { return F32View::dense(p, n, cols); };
        const Layer &L = layers_[l];
        // attention block
        be.rms_norm(s.x, L.attn_norm, s.xb, n, E, rms_eps_);
        be.matmul(L.wq, view(s.xb, E), view(s.q, q_dim), nullptr);
        be.matmul(L.wk, view(s.xb, E), view(s.k, kv_dim), nullptr);
        be.matmul(L.wv, view(s.xb, E), view(s.v, kv_dim), nullptr);
        be.rope(view(s.q, q_dim), dims_.n_head, dims_.head_dim, rows, rope_);
        be.rope(view(s.k, kv_dim), dims_.n_head_kv, dims_.head_dim, rows, rope_);
        be.attention(view(s.q, q_dim), view(s.k, kv_dim), view(s.v, kv_dim), rows, kv[l], attn_, view(s.att, q_dim));
        be.matmul(L.wo, view(s.att, q_dim), view(s.xb2, E), nullptr);
        be.add(s.x, s.xb2, (int64_t)n * E);
        // feed-forward block
        be.rms_norm(s.x, L.ffn_norm, s.xb, n, E, rms_eps_);
        be.matmul(L.w_gate, view(s.xb, E), view(s.gate, F), nullptr);
        be.matmul(L.w_up, view(s.xb, E), view(s.up, F), nullptr);
        be.swiglu(s.gate, s.up, s.gate, (int64_t)n * F);
        be.matmul(L.w_down, view(s.gate, F), view(s.xb2, E), nullptr);
        be.add(s.x, s.xb2, (int64_t)n * E);
    }
    drop_aborted();
    be.rms_norm(s.x, output_norm_, s.hidden, rows.n_rows, E, rms_eps_);
}

void Llama::logits(ForwardState &state, int count) const {
    const int E = dims_.n_embd;
    backend_.matmul(output_, F32View::dense(state.head_in, count, E), F32View::dense(state.logits, count, dims_.n_vocab), nullptr);
}

}  // namespace wc
