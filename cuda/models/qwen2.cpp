// qwen2.cpp — general.architecture = "qwen2" (Qwen2, Qwen2.5): the Llama graph with NeoX RoPE and
// biases on the Q/K/V projections (optional here, as in llama.cpp's loader); output head tied
// to token_embd when output.weight is absent.
#include <cmath>

#include "core/error.h"
#include "models/blocks/decoder.h"
#include "models/models.h"

namespace wc {

namespace {

class Qwen2 final : public Decoder {
public:
    Qwen2(const GgufFile &f, Backend &be) : Decoder(f, be, "qwen2") {
        dims_ = read_dims(hp_);
        rms_eps_ = read_rms_eps(hp_, 1e-6f);
        const RopeParams rope = read_rope(hp_, dims_, /*neox=*/true);
        const std::string scaling = hp_.text("rope.scaling.type", "none");
        if (scaling != "none" && scaling != "linear") {
            hp_.unsupported(strfmt("rope scaling '%s' is not supported (supported: none, linear)", scaling.c_str()));
        }
        register_embeddings();
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

std::unique_ptr<Architecture> make_qwen2(const GgufFile &file, Backend &backend) { return std::make_unique<Qwen2>(file, backend); }

}  // namespace wc
