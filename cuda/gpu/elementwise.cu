// elementwise.cu — see elementwise.cuh.
#include "gpu/elementwise.cuh"

#include "gpu/cuda_check.cuh"

namespace wc::gpu {

namespace {

constexpr int kThreads = 256;

__global__ void swiglu_kernel(const float *g, const float *u, float *out, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i < n) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

__global__ void add_kernel(float *x, const float *y, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i < n) x[i] += y[i];
}

unsigned blocks(int64_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

}  // namespace

void swiglu(const float *gate, const float *up, float *out, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    swiglu_kernel<<<blocks(n), kThreads, 0, stream>>>(gate, up, out, n);
    CUDA_CHECK_LAUNCH();
}

void add(float *x, const float *y, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    add_kernel<<<blocks(n), kThreads, 0, stream>>>(x, y, n);
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
