// elementwise.cpp — SwiGLU gating, residual adds and row gathers.
//
// SiLU uses exp_approx in blocks of 16 values and the C library's expf on the tail, which is how
// llama.cpp's AVX-512 build evaluates it; results therefore match it bit for bit.
#include <cmath>
#include <cstring>

#include "cpu/exp_approx.h"
#include "cpu/ops.h"

namespace wc::cpu {

namespace {

// Below this many elements an op is faster on one thread than the cost of waking the pool.
constexpr int64_t kParallelElements = 1 << 16;
constexpr int64_t kBlock = 16;

void swiglu_range(const float *gate, const float *up, float *out, int64_t b, int64_t e) {
    int64_t i = b;
#if defined(__AVX2__) && defined(__FMA__)
    for (; i + 8 <= e; i += 8) {
        _mm256_storeu_ps(out + i, _mm256_mul_ps(silu_approx8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
    }
#endif
    for (; i < e; ++i) out[i] = silu_approx(gate[i]) * up[i];
}

}  // namespace

void swiglu(ThreadPool &pool, const float *gate, const float *up, float *out, int64_t n) {
    const int64_t n_blocked = n / kBlock * kBlock;
    pool.run_if(n >= kParallelElements, [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n_blocked / kBlock, ith, nth, b, e);
        swiglu_range(gate, up, out, b * kBlock, e * kBlock);
    });
    for (int64_t i = n_blocked; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void add(ThreadPool &pool, float *x, const float *y, int64_t n) {
    pool.run_if(n >= kParallelElements, [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n, ith, nth, b, e);
        for (int64_t i = b; i < e; ++i) x[i] += y[i];
    });
}

void gather_rows(ThreadPool &pool, const F32View &src, const int32_t *idx, int n, const F32View &dst) {
    (void)pool;  // row copies: memory-bound and short
    for (int i = 0; i < n; ++i) std::memcpy(dst.row(i), src.row(idx ? idx[i] : i), (size_t)dst.cols * sizeof(float));
}

}  // namespace wc::cpu
