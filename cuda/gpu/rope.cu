// rope.cu — see rope.cuh. One thread per rotated pair: angle = pos · freq_scale · base^(−2i/n_rot).
#include "gpu/rope.cuh"

#include "gpu/cuda_check.cuh"

namespace wc::gpu {

namespace {

__global__ void rope_pairs(float *x, int n, int n_heads, int head_dim, int pos0, const int *pos_dev, int n_rot, float base,
                           float scale, bool neox) {
    if (pos_dev) pos0 = *pos_dev;
    const int half = n_rot / 2;
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (int64_t)n * n_heads * half) return;
    const int i = idx % half;
    const int h = (idx / half) % n_heads;
    const int t = idx / ((int64_t)half * n_heads);
    const float theta = (float)(pos0 + t) * scale * powf(base, -2.0f * i / n_rot);
    float s, c;
    sincosf(theta, &s, &c);
    float *v = x + ((int64_t)t * n_heads + h) * head_dim;
    const int a = neox ? i : 2 * i;
    const int b = neox ? i + half : 2 * i + 1;
    const float x0 = v[a], x1 = v[b];
    v[a] = fmaf(x0, c, -(x1 * s));
    v[b] = fmaf(x0, s, x1 * c);
}

}  // namespace

void rope(float *x, int n, int n_heads, int head_dim, int pos0, const int *pos_dev, const RopeParams &p, cudaStream_t stream) {
    const int64_t total = (int64_t)n * n_heads * (p.n_rot / 2);
    if (total <= 0) return;
    const int threads = 256;
    rope_pairs<<<(unsigned)((total + threads - 1) / threads), threads, 0, stream>>>(x, n, n_heads, head_dim, pos0, pos_dev, p.n_rot,
                                                                                   p.freq_base, p.freq_scale, p.neox);
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
