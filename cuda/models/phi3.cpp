// phi3.cpp — general.architecture = "phi3" (Phi-3, Phi-3.5, Phi-4 mini): the Llama graph with NeoX
// RoPE, a fused attn_qkv (separate Q/K/V accepted too) and gate/up fused in one ffn_up of
// 2 * n_ff rows; Q is scaled by 1/sqrt(head_dim) before attention, as llama.cpp's graph does.
// LongRoPE: rope_factors_short divides the angles when present (llama.cpp picks the long factors
// only for contexts beyond rope.scaling.original_context_length, which we do not do: see
// .specs/architectures.md). phi3.attention.sliding_window is read but not applied, as llama.cpp
// disables Phi-3's sliding window (its converters do not describe the layers reliably).
#include <cmath>

#include "core/error.h"
#include "models/blocks/decoder.h"
#include "models/models.h"

namespace wc {

namespace {

class Phi3 final : public Decoder {
public:
    Phi3(const GgufFile &f, Backend &be) : Decoder(f, be, "phi3") {
        dims_ = read_dims(hp_);
        rms_eps_ = read_rms_eps(hp_, 1e-5f);
        const RopeParams rope = read_rope(hp_, dims_, /*neox=*/true);
        const std::string scaling = hp_.text("rope.scaling.type", "none");
        if (scaling != "none" && scaling != "linear" && scaling != "longrope") {
            hp_.unsupported(strfmt("rope scaling '%s' is not supported (supported: none, linear, longrope)", scaling.c_str()));
        }
        (void)hp_.count_or_zero("attention.sliding_window");  // range-checked only, see above
        register_embeddings();
        weights_.optional_vector("rope_factors_short.weight", rope.n_rot / 2, &rope_factors_);
        size_layers();
        for (int l = 0; l < dims_.n_layer; ++l) {
            DecoderLayer &L = layers_[l];
            weights_.vector(strfmt("blk.%d.attn_norm.weight", l), dims_.n_embd, &L.attn_norm);
            register_attention(weights_, l, dims_, /*qk_norm=*/false, L.attn);
            weights_.vector(strfmt("blk.%d.ffn_norm.weight", l), dims_.n_embd, &L.ffn_norm);
            register_feed_forward(weights_, l, dims_, /*allow_fused=*/true, L.ffn);
            L.attn_cfg.shape = {dims_.n_head, dims_.n_head_kv, dims_.head_dim, 1.0f, 0};
            L.attn_cfg.q_scale = 1.0f / std::sqrt((float)dims_.head_dim);
            L.attn_cfg.rope = rope;
        }
    }

protected:
    void layer(const LayerStep &st, const DecoderLayer &L) const override { pre_norm_layer(st, L); }
};

}  // namespace

std::unique_ptr<Architecture> make_phi3(const GgufFile &file, Backend &backend) { return std::make_unique<Phi3>(file, backend); }

}  // namespace wc
