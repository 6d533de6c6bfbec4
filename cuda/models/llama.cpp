// llama.cpp — general.architecture = "llama" (Llama 2/3, SmolLM2, Mistral): per layer RMSNorm ->
// grouped-query attention with "norm" RoPE -> residual -> RMSNorm -> SwiGLU -> residual; output
// head tied to token_embd when output.weight is absent. Llama 3's rope_freqs.weight divides the
// RoPE angles. Mistral's llama.attention.sliding_window is read but not applied: llama.cpp's
// llama graph attends to every position, and our logits follow llama.cpp's (.specs/architectures.md).
#include <cmath>

#include "core/error.h"
#include "models/blocks/decoder.h"
#include "models/models.h"

namespace wc {

namespace {

class Llama final : public Decoder {
public:
    Llama(const GgufFile &f, Backend &be) : Decoder(f, be, "llama") {
        dims_ = read_dims(hp_);
        rms_eps_ = read_rms_eps(hp_, 1e-5f);
        RopeParams rope = read_rope(hp_, dims_, /*neox=*/false);
        const std::string scaling = hp_.text("rope.scaling.type", "none");
        if (scaling != "none" && scaling != "linear") {
            hp_.unsupported(strfmt("rope scaling '%s' is not supported (supported: none, linear)", scaling.c_str()));
        }
        (void)hp_.count_or_zero("attention.sliding_window");  // range-checked only, see above
        register_embeddings();
        weights_.optional_vector("rope_freqs.weight", rope.n_rot / 2, &rope_factors_);
        size_layers();
        for (int l = 0; l < dims_.n_layer; ++l) {
            DecoderLayer &L = layers_[l];
            weights_.vector(strfmt("blk.%d.attn_norm.weight", l), dims_.n_embd, &L.attn_norm);
            register_attention(weights_, l, dims_, /*qk_norm=*/false, L.attn);
            weights_.vector(strfmt("blk.%d.ffn_norm.weight", l), dims_.n_embd, &L.ffn_norm);
            register_feed_forward(weights_, l, dims_, /*allow_fused=*/false, L.ffn);
            L.attn_cfg.shape = {dims_.n_head, dims_.n_head_kv, dims_.head_dim, 1.0f / std::sqrt((float)dims_.head_dim), 0};
            L.attn_cfg.rope = rope;
        }
    }

protected:
    void layer(const LayerStep &st, const DecoderLayer &L) const override { pre_norm_layer(st, L); }
};

}  // namespace

std::unique_ptr<Architecture> make_llama(const GgufFile &file, Backend &backend) { return std::make_unique<Llama>(file, backend); }

}  // namespace wc
