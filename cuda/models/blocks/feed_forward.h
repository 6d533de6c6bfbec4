// feed_forward.h — the gated feed-forward block: out = down(act(gate(x)) * up(x)), SwiGLU (SiLU)
// or GeGLU (tanh GELU), with gate and up as two tensors or fused in one ffn_up of 2 * n_ff rows
// (gate first, as ggml_swiglu splits it), and optional biases.
#pragma once

#include "core/architecture.h"
#include "models/blocks/weights.h"

namespace wc {

enum class Gating { silu, gelu_tanh };

struct FeedForwardWeights {
    int64_t n_ff = 0;
    bool fused = false;
    Weight gate, up, down;  // fused: `up` holds [gate | up]
    const float *b_gate = nullptr, *b_up = nullptr, *b_down = nullptr;
};

// Registers layer `layer`'s ffn_gate / ffn_up / ffn_down (with `allow_fused`, an ffn_up of 2 * n_ff
// rows and no ffn_gate is read as the fused pair) and their optional biases.
void register_feed_forward(ModelWeights &mw, int layer, const ModelDims &d, bool allow_fused, FeedForwardWeights &w);

// out = the block applied to in ([n, n_embd] each); gate and up are [n, n_ff] scratch.
void feed_forward_block(Backend &be, const FeedForwardWeights &w, Gating g, const float *in, int n, float *gate, float *up, float *out);

}  // namespace wc
