// decoder.h — what every decoder-only adapter shares: the token embedding (optionally scaled),
// the layers' tensors, the per-context scratch, dropping aborted rows between layers, the final
// RMSNorm and the output head (output.weight, or token_embd tied; optional output.bias). An
// architecture file derives from Decoder, reads its keys and tensor names in its constructor and
// writes its layer's graph from the blocks (pre_norm_layer / sandwich_norm_layer or its own).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/architecture.h"
#include "models/blocks/attention.h"
#include "models/blocks/feed_forward.h"
#include "models/blocks/hparams.h"
#include "models/blocks/weights.h"

namespace wc {

struct DecoderLayer {
    const float *attn_norm = nullptr;
    const float *attn_post_norm = nullptr;  // Gemma: normalises the attention output
    AttentionWeights attn;
    AttentionConfig attn_cfg;
    const float *ffn_norm = nullptr;
    const float *ffn_post_norm = nullptr;   // Gemma: normalises the feed-forward output
    FeedForwardWeights ffn;
};

struct DecoderState final : ForwardState {
    using ForwardState::ForwardState;
    float *x = nullptr;     // residual stream [B, E]
    float *xb = nullptr;    // normed input [B, E]
    float *xb2 = nullptr;   // branch output [B, E]
    AttentionScratch attn{};
    float *gate = nullptr;  // [B, F]
    float *up = nullptr;    // [B, F]
};

// One layer's inputs: the step's rows, this layer's share of the KV pool, the scratch.
struct LayerStep {
    Backend &be;
    DecoderState &s;
    const StepRows &rows;
    KvLayer &kv;
    float eps;  // RMSNorm epsilon
    Gating gating;
};

// x += attn(norm(x)); x += ffn(norm(x))   (Llama, Qwen2, Qwen3, Phi-3)
void pre_norm_layer(const LayerStep &st, const DecoderLayer &L);
// x += post_norm(attn(norm(x))); x += post_norm(ffn(norm(x)))   (Gemma 2/3)
void sandwich_norm_layer(const LayerStep &st, const DecoderLayer &L);

class Decoder : public Architecture {
public:
    const ModelDims &dims() const override { return dims_; }
    size_t weight_footprint() const override { return weights_.footprint(backend_); }
    void load_weights() override;
    std::unique_ptr<ForwardState> new_state(Backend *backend, int max_rows) const override;
    void forward(ForwardState &state, StepRows &rows, KvLayer *kv, StepControl &ctl) const override;
    void logits(ForwardState &state, int count) const override;

protected:
    Decoder(const GgufFile &file, Backend &backend, const std::string &arch);
    // The layer's graph over st.s.x (the residual stream of st.rows.n_rows rows).
    virtual void layer(const LayerStep &st, const DecoderLayer &L) const = 0;

    // token_embd (n_vocab from `<arch>.vocab_size`, else its rows), output_norm, output (tied
    // when absent) and output.bias (optional). Call after dims_ is read, before the layers.
    void register_embeddings();
    // Sizes layers_ to n_layer (registering into it must not reallocate later).
    void size_layers() { layers_.resize(dims_.n_layer); }

    Backend &backend_;
    HParams hp_;
    ModelWeights weights_;
    ModelDims dims_;
    float rms_eps_ = 1e-5f;
    Gating gating_ = Gating::silu;
    float embd_scale_ = 0;  // token embeddings multiplied by it (Gemma: sqrt(n_embd)); 0: not
    // RoPE frequency factors every layer uses (rope_freqs / LongRoPE), registered by the adapter;
    // load_weights() points the layers' RopeParams at the uploaded copy.
    const float *rope_factors_ = nullptr;
    std::vector<DecoderLayer> layers_;

private:
    Weight tok_embd_, output_;
    bool tied_ = false;
    const float *output_norm_ = nullptr;
    const float *output_bias_ = nullptr;
};

}  // namespace wc
