// decoder.cpp — see decoder.h.
#include "models/blocks/decoder.h"

#include "core/error.h"

namespace wc {

namespace {

constexpr int kMaxLogitRows = 64;  // rows per output-head call: bounds the logits buffer

}  // namespace

void pre_norm_layer(const LayerStep &st, const DecoderLayer &L) {
    DecoderState &s = st.s;
    const int n = st.rows.n_rows;
    const int64_t E = L.attn.wo.rows;
    st.be.rms_norm(s.x, L.attn_norm, s.xb, n, (int)E, st.eps);
    attention_block(st.be, L.attn, L.attn_cfg, s.xb, st.rows, st.kv, s.attn, s.xb2);
    st.be.add(s.x, s.xb2, n * E);
    st.be.rms_norm(s.x, L.ffn_norm, s.xb, n, (int)E, st.eps);
    feed_forward_block(st.be, L.ffn, st.gating, s.xb, n, s.gate, s.up, s.xb2);
    st.be.add(s.x, s.xb2, n * E);
}

void sandwich_norm_layer(const LayerStep &st, const DecoderLayer &L) {
    DecoderState &s = st.s;
    const int n = st.rows.n_rows;
    const int64_t E = L.attn.wo.rows;
    st.be.rms_norm(s.x, L.attn_norm, s.xb, n, (int)E, st.eps);
    attention_block(st.be, L.attn, L.attn_cfg, s.xb, st.rows, st.kv, s.attn, s.xb2);
    st.be.rms_norm(s.xb2, L.attn_post_norm, s.xb2, n, (int)E, st.eps);
    st.be.add(s.x, s.xb2, n * E);
    st.be.rms_norm(s.x, L.ffn_norm, s.xb, n, (int)E, st.eps);
    feed_forward_block(st.be, L.ffn, st.gating, s.xb, n, s.gate, s.up, s.xb2);
    st.be.rms_norm(s.xb2, L.ffn_post_norm, s.xb2, n, (int)E, st.eps);
    st.be.add(s.x, s.xb2, n * E);
}

Decoder::Decoder(const GgufFile &file, Backend &backend, const std::string &arch)
    : backend_(backend), hp_(file, arch), weights_(file) {}

void Decoder::register_embeddings() {
    const GgufFile &f = hp_.file();
    const GgufTensor *embd = f.find_tensor("token_embd.weight");
    if (!embd) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: required tensor 'token_embd.weight' is missing", f.path().c_str()));
    dims_.n_vocab = hp_.count("vocab_size", embd->n_dims == 2 ? (int)std::min<int64_t>(embd->ne[1], 1 << 30) : 0);
    const int E = dims_.n_embd, V = dims_.n_vocab;
    weights_.matrix("token_embd.weight", E, V, &tok_embd_);
    weights_.vector("output_norm.weight", E, &output_norm_);
    tied_ = !weights_.optional_matrix("output.weight", E, V, &output_);
    weights_.optional_vector("output.bias", V, &output_bias_);
}

void Decoder::load_weights() {
    weights_.upload(backend_);
    if (tied_) output_ = tok_embd_;
    if (rope_factors_) {
        for (DecoderLayer &L : layers_) L.attn_cfg.rope.freq_factors = rope_factors_;
    }
}

std::unique_ptr<ForwardState> Decoder::new_state(Backend *backend, int max_rows) const {
    auto s = std::make_unique<DecoderState>(backend);
    const size_t B = max_rows, E = dims_.n_embd, F = dims_.n_ff;
    const size_t q_dim = (size_t)dims_.n_head * dims_.head_dim, kv_dim = (size_t)dims_.n_head_kv * dims_.head_dim;
    s->max_rows = max_rows;
    s->max_logit_rows = kMaxLogitRows;
    auto f32 = [&](size_t n) { return static_cast<float *>(s->allocate(n * sizeof(float))); };
    s->x = f32(B * E);
    s->xb = f32(B * E);
    s->xb2 = f32(B * E);
    s->attn.q = f32(B * q_dim);
    s->attn.k = f32(B * kv_dim);
    s->attn.v = f32(B * kv_dim);
    s->attn.att = f32(B * q_dim);
    s->gate = f32(B * F);
    s->up = f32(B * F);
    s->hidden = f32(B * E);
    s->head_in = f32((size_t)kMaxLogitRows * E);
    s->logits = f32((size_t)kMaxLogitRows * dims_.n_vocab);
    return s;
}

void Decoder::forward(ForwardState &state, StepRows &rows, KvLayer *kv, StepControl &ctl) const {
    DecoderState &s = static_cast<DecoderState &>(state);
    Backend &be = backend_;
    const int E = dims_.n_embd;
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
    if (embd_scale_ != 0) be.scale(s.x, embd_scale_, (int64_t)rows.n_rows * E);
    for (int l = 0; l < dims_.n_layer; ++l) {
        drop_aborted();
        layer(LayerStep{be, s, rows, kv[l], rms_eps_, gating_}, layers_[l]);
    }
    drop_aborted();
    be.rms_norm(s.x, output_norm_, s.hidden, rows.n_rows, E, rms_eps_);
}

void Decoder::logits(ForwardState &state, int count) const {
    const int E = dims_.n_embd;
    backend_.matmul(output_, F32View::dense(state.head_in, count, E), F32View::dense(state.logits, count, dims_.n_vocab), output_bias_);
}

}  // namespace wc
