// feed_forward.cpp — see feed_forward.h.
#include "models/blocks/feed_forward.h"

#include "core/error.h"

namespace wc {

void register_feed_forward(ModelWeights &mw, int layer, const ModelDims &d, bool allow_fused, FeedForwardWeights &w) {
    auto name = [layer](const char *what, const char *kind) { return strfmt("blk.%d.%s.%s", layer, what, kind); };
    const int64_t E = d.n_embd, F = d.n_ff;
    w.n_ff = F;
    w.fused = allow_fused && !mw.has(name("ffn_gate", "weight"));
    if (w.fused) {
        mw.matrix(name("ffn_up", "weight"), E, 2 * F, &w.up);
    } else {
        mw.matrix(name("ffn_gate", "weight"), E, F, &w.gate);
        mw.matrix(name("ffn_up", "weight"), E, F, &w.up);
        mw.optional_vector(name("ffn_gate", "bias"), F, &w.b_gate);
        mw.optional_vector(name("ffn_up", "bias"), F, &w.b_up);
    }
    mw.matrix(name("ffn_down", "weight"), F, E, &w.down);
    mw.optional_vector(name("ffn_down", "bias"), E, &w.b_down);
}

void feed_forward_block(Backend &be, const FeedForwardWeights &w, Gating g, const float *in, int n, float *gate, float *up, float *out) {
    const int64_t F = w.n_ff, E = w.down.rows;
    const F32View x = F32View::dense(const_cast<float *>(in), n, E);
    // gate and up over one conversion of x
    const MatmulOut gate_up[2] = {
        {w.fused ? w.up.rows_slice(0, F) : w.gate, F32View::dense(gate, n, F), w.fused ? nullptr : w.b_gate},
        {w.fused ? w.up.rows_slice(F, F) : w.up, F32View::dense(up, n, F), w.fused ? nullptr : w.b_up},
    };
    be.matmul_many(gate_up, 2, x);
    if (g == Gating::silu) be.swiglu(gate, up, gate, (int64_t)n * F);
    else be.geglu(gate, up, gate, (int64_t)n * F);
    be.matmul(w.down, F32View::dense(gate, n, F), F32View::dense(out, n, E), w.b_down);
}

}  // namespace wc
