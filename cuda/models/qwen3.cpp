// qwen3.cpp — general.architecture = "qwen3": the Qwen2 graph without biases and with an RMSNorm
// over each head of Q and of K (attn_q_norm / attn_k_norm, head_dim values) before RoPE; the head
// size comes from attention.key_length (Q's width may differ from n_embd).
#include <cmath>

#include "core/error.h"
#include "models/blocks/decoder.h"
#include "models/models.h"

namespace wc {

namespace {

class Qwen3 final : public Decoder {
public:
    Qwen3(const GgufFile &f, Backend &be) : Decoder(f, be, "qwen3") {
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
            register_attention(weights_, l, dims_, /*qk_norm=*/true, L.attn);
            weights_.vector(strfmt("blk.%d.ffn_norm.weight", l), dims_.n_embd, &L.ffn_norm);
            register_feed_forward(weights_, l, dims_, /*allow_fused=*/false, L.ffn);
            L.attn_cfg.shape = {dims_.n_head, dims_.n_head_kv, dims_.head_dim, 1.0f / std::sqrt((float)dims_.head_dim), 0};
            L.attn_cfg.rope = rope;
            L.attn_cfg.norm_eps = rms_eps_;
        }
    }

protected:
    void layer(const LayerStep &st, const DecoderLayer &L) const override { pre_norm_layer(st, L); }
};

}  // namespace

std::unique_ptr<Architecture> make_qwen3(const GgufFile &file, Backend &backend) { return std::make_unique<Qwen3>(file, backend); }

}  // namespace wc
