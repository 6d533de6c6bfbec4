// rope.cpp — rotary position embedding. The angle for pair i is pos * base^(-2i/n_rot), computed
// by repeated multiplication in float as ggml does (so our angles round like llama.cpp's).
// Llama-style ("norm") rotates adjacent pairs (x[2i], x[2i+1]); NeoX-style rotates (x[i], x[i+n_rot/2]).
// Frequency factors divide the angle before freq_scale multiplies it, and mscale multiplies cos
// and sin, as ggml's rope_yarn does with ext_factor 0 (an exact no-op for factors and mscale of 1).
#include <cmath>
#include <vector>

#include "cpu/ops.h"

namespace wc::cpu {

void rope(ThreadPool &pool, const F32View &x, int n_heads, int head_dim, const int32_t *pos, const RopeParams &p) {
    const int64_t n = x.rows;
    const int half = p.n_rot / 2;
    const float theta_scale = std::pow(p.freq_base, -2.0f / (float)p.n_rot);
    pool.run_if(n >= 4 * pool.size(), [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n, ith, nth, b, e);
        std::vector<float> cs(half), sn(half);
        for (int64_t t = b; t < e; ++t) {
            float theta = (float)pos[t];
            for (int i = 0; i < half; ++i) {
                const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
                const float th = p.freq_scale * (theta / ff);
                cs[i] = std::cos(th) * p.mscale;
                sn[i] = std::sin(th) * p.mscale;
                theta *= theta_scale;
            }
            for (int h = 0; h < n_heads; ++h) {
                float *v = x.row(t) + (int64_t)h * head_dim;  // x[t, h, :]
                for (int i = 0; i < half; ++i) {
                    const int a = p.neox ? i : 2 * i;
                    const int c = p.neox ? i + half : 2 * i + 1;
                    const float x0 = v[a], x1 = v[c];
                    // The fused forms GCC emits for ggml's rotation, so angles apply identically.
                    v[a] = std::fma(x0, cs[i], -(x1 * sn[i]));
                    v[c] = std::fma(x0, sn[i], x1 * cs[i]);
                }
            }
        }
    });
}

}  // namespace wc::cpu
