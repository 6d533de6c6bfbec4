// elementwise.cu — see elementwise.cuh.
//
// GELU as the CPU twin's table holds it: ggml's tanh form of the f16-rounded gate, rounded to f16
// (CUDA's tanhf may differ from glibc's by an ulp before that rounding, rarely after it).
//
// SiLU as the CPU twin evaluates it: exp_approx on the elements that fill whole blocks of 16 of
// the array, expf on the tail. Equal inputs give the CPU's bits except on that tail (CUDA's expf
// against glibc's).
#include "gpu/elementwise.cuh"

#include <cuda_fp16.h>

#include "gpu/cuda_check.cuh"
#include "gpu/exp_approx.cuh"

namespace wc::gpu {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kSiluBlock = 16;

__global__ void swiglu_kernel(const float *g, const float *u, float *out, int64_t n, int64_t n_blocked) {
    const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i >= n) return;
    const float x = g[i];
    const float e = i < n_blocked ? exp_approx(-x) : expf(-x);
    out[i] = __fmul_rn(__fdiv_rn(x, __fadd_rn(1.0f, e)), u[i]);
}

__device__ __forceinline__ float gelu_f16(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float h = __half2float(__float2half_rn(x));
    const float kSqrt2OverPi = 0.79788456080286535587989211986876f, kCoefA = 0.044715f;
    // 0.5 x (1 + tanh(sqrt(2/pi) x (1 + a x^2))), unfused as ggml writes it
    const float inner = __fmul_rn(__fmul_rn(kSqrt2OverPi, h), __fadd_rn(1.0f, __fmul_rn(__fmul_rn(kCoefA, h), h)));
    const float g = __fmul_rn(__fmul_rn(0.5f, h), __fadd_rn(1.0f, tanhf(inner)));
    return __half2float(__float2half_rn(g));
}

__global__ void geglu_kernel(const float *g, const float *u, float *out, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i < n) out[i] = __fmul_rn(gelu_f16(g[i]), u[i]);
}

__global__ void scale_kernel(float *x, float s, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i < n) x[i] = __fmul_rn(x[i], s);
}

__global__ void add_kernel(float *x, const float *y, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i < n) x[i] += y[i];
}

// One block per gathered row.
__global__ void gather_kernel(const float *src, int64_t src_stride, const int32_t *idx, int64_t cols, float *dst, int64_t dst_stride) {
    const int i = blockIdx.x;
    const float *s = src + (int64_t)(idx ? idx[i] : i) * src_stride;
    float *d = dst + (int64_t)i * dst_stride;
    for (int64_t c = threadIdx.x; c < cols; c += kThreads) d[c] = s[c];
}

unsigned blocks(int64_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

}  // namespace

void swiglu(const float *gate, const float *up, float *out, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    swiglu_kernel<<<blocks(n), kThreads, 0, stream>>>(gate, up, out, n, n / kSiluBlock * kSiluBlock);
    CUDA_CHECK_LAUNCH();
}

void geglu(const float *gate, const float *up, float *out, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    geglu_kernel<<<blocks(n), kThreads, 0, stream>>>(gate, up, out, n);
    CUDA_CHECK_LAUNCH();
}

void scale(float *x, float s, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    scale_kernel<<<blocks(n), kThreads, 0, stream>>>(x, s, n);
    CUDA_CHECK_LAUNCH();
}

void add(float *x, const float *y, int64_t n, cudaStream_t stream) {
    if (n <= 0) return;
    add_kernel<<<blocks(n), kThreads, 0, stream>>>(x, y, n);
    CUDA_CHECK_LAUNCH();
}

void gather_rows(const F32View &src, const int32_t *idx, int n, const F32View &dst, cudaStream_t stream) {
    if (n <= 0 || dst.cols <= 0) return;
    gather_kernel<<<(unsigned)n, kThreads, 0, stream>>>(src.data, src.stride, idx, dst.cols, dst.data, dst.stride);
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
