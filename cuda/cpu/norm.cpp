// norm.cpp — RMSNorm. Squares are taken in float and summed in double and the scale applied before the
// weight, in the same order as ggml's rms_norm followed by mul, so results round alike.
#include <cmath>

#include "cpu/ops.h"

namespace wc::cpu {

void rms_norm(ThreadPool &pool, const float *x, const float *w, float *out, int n_rows, int dim, float eps) {
    pool.run_if(n_rows >= 4 * pool.size(), [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n_rows, ith, nth, b, e);
        for (int64_t r = b; r < e; ++r) {
            const float *xr = x + r * dim;
            float *o = out + r * dim;
            double sum = 0;
            for (int c = 0; c < dim; ++c) sum += (double)(xr[c] * xr[c]);  // float square, double sum
            const float mean = (float)(sum / dim);
            const float scale = 1.0f / std::sqrt(mean + eps);
            for (int c = 0; c < dim; ++c) o[c] = (xr[c] * scale) * w[c];
        }
    });
}

}  // namespace wc::cpu
