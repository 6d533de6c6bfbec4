// rope.cu — see rope.cuh. One thread per (row, rotated pair), rotating that pair in every head.
//
// The angles round like the CPU twin's: pair i's angle is pos · theta_scale^i by i successive
// float multiplications (theta_scale = powf(base, -2/n_rot), computed on the host with the
// CPU's expression), times freq_scale. cos and sin are taken in double and rounded to float,
// i.e. correctly rounded: the CPU's libm is within an ulp of that, CUDA's float sincosf within two.
#include "gpu/rope.cuh"

#include <cmath>

#include "core/error.h"
#include "gpu/cuda_check.cuh"

namespace wc::gpu {

namespace {

constexpr int kThreads = 64;

__global__ void rope_rows(float *x, int64_t stride, int n_heads, int head_dim, const int32_t *pos, int half, float theta_scale,
                          float freq_scale, const float *freq_factors, float mscale, bool neox) {
    const int r = blockIdx.x;
    const int i = blockIdx.y * kThreads + threadIdx.x;  // pair index
    if (i >= half) return;
    float theta = (float)pos[r];
    for (int k = 0; k < i; ++k) theta = __fmul_rn(theta, theta_scale);
    // Frequency factors divide the angle, mscale multiplies cos and sin (the CPU twin's order).
    const float th = __fmul_rn(freq_scale, freq_factors ? __fdiv_rn(theta, freq_factors[i]) : theta);
    double sd, cd;
    sincos((double)th, &sd, &cd);
    const float s = __fmul_rn((float)sd, mscale), c = __fmul_rn((float)cd, mscale);
    const int a = neox ? i : 2 * i;
    const int b = neox ? i + half : 2 * i + 1;
    for (int h = 0; h < n_heads; ++h) {
        float *v = x + r * stride + (int64_t)h * head_dim;  // x[r, h, :]
        const float x0 = v[a], x1 = v[b];
        // The CPU twin's fused forms: x0' = fma(x0, cos, -(x1 sin)), x1' = fma(x0, sin, x1 cos).
        v[a] = __fmaf_rn(x0, c, -__fmul_rn(x1, s));
        v[b] = __fmaf_rn(x0, s, __fmul_rn(x1, c));
    }
}

}  // namespace

void rope(const F32View &x, int n_heads, int head_dim, const StepRows &rows, const RopeParams &p, cudaStream_t stream) {
    const int half = p.n_rot / 2;
    if (x.rows <= 0 || half <= 0) return;
    if (x.rows != rows.n_rows) fail(WC_ERR_INTERNAL, strfmt("cuda rope: %lld rows but the step has %d", (long long)x.rows, rows.n_rows));
    // The CPU twin's expression, evaluated by the host libm as there.
    const float theta_scale = std::pow(p.freq_base, -2.0f / (float)p.n_rot);
    const dim3 grid((unsigned)x.rows, (unsigned)((half + kThreads - 1) / kThreads));
    rope_rows<<<grid, kThreads, 0, stream>>>(x.data, x.stride, n_heads, head_dim, rows.pos, half, theta_scale, p.freq_scale, p.freq_factors,
                                               p.mscale, p.neox);
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
