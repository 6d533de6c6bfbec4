// llama.h — the Llama adapter (general.architecture = "llama"): token embedding, per layer
// RMSNorm -> GQA attention with RoPE -> residual -> RMSNorm -> SwiGLU FFN -> residual, then the
// final norm and the output head (tied to token_embd.weight when output.weight is absent).
#pragma once

#include <vector>

#include "core/architecture.h"

namespace wc {

class Llama final : public Architecture {
public:
    Llama(const GgufFile &file, Backend &backend);

    const ModelDims &dims() const override { return dims_; }
    size_t weight_footprint() const override;
    void load_weights() override;
    std::unique_ptr<ForwardState> new_state(Backend *backend, int max_rows) const override;
    void forward(ForwardState &state, StepRows &rows, KvLayer *kv, StepControl &ctl) const override;
    void logits(ForwardState &state, int count) const override;

private:
    // The file's tensors, validated by the constructor and copied by load_weights().
    struct LayerTensors {
        const GgufTensor *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w_gate, *w_up, *w_down;
    };
    struct Layer {
        const float *attn_norm;
        Weight wq, wk, wv, wo;
        const float *ffn_norm;
        Weight w_gate, w_up, w_down;
    };

    Backend &backend_;
    ModelDims dims_;
    RopeParams rope_;
    AttentionShape attn_;
    float rms_eps_ = 1e-5f;
    const GgufTensor *tok_embd_t_ = nullptr, *output_norm_t_ = nullptr, *output_t_ = nullptr;
    std::vector<LayerTensors> layer_tensors_;
    Weight tok_embd_;
    const float *output_norm_ = nullptr;
    Weight output_;
    std::vector<Layer> layers_;
};

}  // namespace wc
