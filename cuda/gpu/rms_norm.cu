// rms_norm.cu — see rms_norm.cuh. One block per row (so a row's result never depends on the
// others); squares taken in float and summed in double, as the CPU twin does (a fixed tree here,
// in order there: the double sum makes them agree to far below a float ulp).
#include "gpu/rms_norm.cuh"

#include "gpu/cuda_check.cuh"

namespace wc::gpu {

namespace {

constexpr int kThreads = 256;

__global__ void rms_norm_rows(const float *x, const float *w, float *out, int dim, float eps) {
    const float *xr = x + (int64_t)blockIdx.x * dim;
    float *yr = out + (int64_t)blockIdx.x * dim;
    double s = 0.0;
    for (int j = threadIdx.x; j < dim; j += kThreads) s += (double)__fmul_rn(xr[j], xr[j]);
    __shared__ double partial[kThreads];
    partial[threadIdx.x] = s;
    __syncthreads();
    for (int step = kThreads / 2; step > 0; step >>= 1) {
        if (threadIdx.x < step) partial[threadIdx.x] += partial[threadIdx.x + step];
        __syncthreads();
    }
    const float scale = 1.0f / sqrtf((float)(partial[0] / dim) + eps);
    for (int j = threadIdx.x; j < dim; j += kThreads) yr[j] = (xr[j] * scale) * w[j];
}

}  // namespace

void rms_norm(const float *x, const float *w, float *out, int n_rows, int dim, float eps, cudaStream_t stream) {
    if (n_rows <= 0) return;
    rms_norm_rows<<<n_rows, kThreads, 0, stream>>>(x, w, out, dim, eps);
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
