// gemma3.cpp — general.architecture = "gemma3" (text): token embeddings × sqrt(n_embd); per layer
// RMSNorm -> attention (per-head Q/K RMSNorm, NeoX RoPE, Q × query scale) -> post-attention
// RMSNorm -> residual -> RMSNorm -> GeGLU (tanh GELU) -> post-FFN RMSNorm -> residual; output head
// tied to token_embd. The norm weights already hold Gemma's (1 + w): the converter adds the 1.
//
// Sliding window (llama.cpp's load_swa_pattern): with attention.sliding_window = W > 0, layer l
// is a sliding-window layer unless l % P == P - 1 (P = attention.sliding_window_pattern, default 6;
// an array gives the flag per layer). Sliding layers attend to the last W positions and use
// rope.freq_base_swa (default 10000) unscaled; global layers attend to every position with
// rope.freq_base and rope.scaling.factor. Query scale 1/sqrt(head_dim) (27B: sqrt(n_embd/n_head)).
#include <cmath>

#include "core/error.h"
#include "models/blocks/decoder.h"
#include "models/models.h"

namespace wc {

namespace {

class Gemma3 final : public Decoder {
public:
    Gemma3(const GgufFile &f, Backend &be) : Decoder(f, be, "gemma3") {
        dims_ = read_dims(hp_);
        rms_eps_ = read_rms_eps(hp_, 1e-6f);
        gating_ = Gating::gelu_tanh;
        embd_scale_ = std::sqrt((float)dims_.n_embd);
        const RopeParams global_rope = read_rope(hp_, dims_, /*neox=*/true);
        const std::string scaling = hp_.text("rope.scaling.type", "none");
        if (scaling != "none" && scaling != "linear") {
            hp_.unsupported(strfmt("rope scaling '%s' is not supported (supported: none, linear)", scaling.c_str()));
        }
        if (hp_.file().get_float(hp_.prefix() + "final_logit_softcapping", 0.0) != 0.0) {
            hp_.unsupported("final_logit_softcapping is not supported");
        }
        RopeParams swa_rope = global_rope;
        swa_rope.freq_base = hp_.positive("rope.freq_base_swa", 10000.0f);
        swa_rope.freq_scale = 1.0f;

        const int window = hp_.count_or_zero("attention.sliding_window");
        std::vector<bool> sliding(dims_.n_layer, false);
        if (window > 0) {
            sliding = hp_.layer_flags("attention.sliding_window_pattern", dims_.n_layer);
            if (sliding.empty()) {
                const int period = hp_.count("attention.sliding_window_pattern", 6);
                sliding.assign(dims_.n_layer, false);
                for (int l = 0; l < dims_.n_layer; ++l) sliding[l] = l % period < period - 1;
            }
        }
        // llama.cpp's reference (gemma_pytorch config): 27B scales by n_embd / n_head, the others by head_dim.
        const float q_scale = dims_.n_layer == 62 ? 1.0f / std::sqrt((float)(dims_.n_embd / dims_.n_head))
                                                  : 1.0f / std::sqrt((float)dims_.head_dim);

        register_embeddings();
        size_layers();
        for (int l = 0; l < dims_.n_layer; ++l) {
            DecoderLayer &L = layers_[l];
            auto name = [l](const char *what) { return strfmt("blk.%d.%s.weight", l, what); };
            weights_.vector(name("attn_norm"), dims_.n_embd, &L.attn_norm);
            register_attention(weights_, l, dims_, /*qk_norm=*/true, L.attn);
            weights_.vector(name("post_attention_norm"), dims_.n_embd, &L.attn_post_norm);
            weights_.vector(name("ffn_norm"), dims_.n_embd, &L.ffn_norm);
            register_feed_forward(weights_, l, dims_, /*allow_fused=*/false, L.ffn);
            weights_.vector(name("post_ffw_norm"), dims_.n_embd, &L.ffn_post_norm);
            L.attn_cfg.shape = {dims_.n_head, dims_.n_head_kv, dims_.head_dim, 1.0f, sliding[l] ? window : 0};
            L.attn_cfg.q_scale = q_scale;
            L.attn_cfg.rope = sliding[l] ? swa_rope : global_rope;
            L.attn_cfg.norm_eps = rms_eps_;
        }
    }

protected:
    void layer(const LayerStep &st, const DecoderLayer &L) const override { sandwich_norm_layer(st, L); }
};

}  // namespace

std::unique_ptr<Architecture> make_gemma3(const GgufFile &file, Backend &backend) { return std::make_unique<Gemma3>(file, backend); }

}  // namespace wc
