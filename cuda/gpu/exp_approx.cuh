// exp_approx.cuh — the device twin of cpu/exp_approx.h: the same range reduction and polynomial,
// written with explicit round-to-nearest intrinsics (__fmaf_rn, __fmul_rn, __fsub_rn) so the
// compiler can neither contract nor reorder it. Equal arguments give the CPU's bits, and every
// call site on the GPU gives the same bits (batch invariance leans on that for the softmax).
#pragma once

#include <cuda_runtime.h>

namespace wc::gpu {

namespace exp_approx_consts {
constexpr float kShift = 0x1.8p23f;
constexpr float kLog2e = 0x1.715476p+0f;
constexpr float kLn2Hi = 0x1.62e4p-1f;
constexpr float kLn2Lo = 0x1.7f7d1cp-20f;
constexpr float kC0 = 0x1.ffffecp-1f, kC1 = 0x1.fffdb6p-2f, kC2 = 0x1.555e66p-3f;
constexpr float kC3 = 0x1.573e2ep-5f, kC4 = 0x1.0e4020p-7f;
}  // namespace exp_approx_consts

__device__ __forceinline__ float exp_approx(float x) {
    using namespace exp_approx_consts;
    const float z = __fmaf_rn(x, kLog2e, kShift);
    const float n = __fsub_rn(z, kShift);
    if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;  // also x = -inf (n = -inf): 0
    const float b = __fmaf_rn(-n, kLn2Lo, __fmaf_rn(-n, kLn2Hi, x));
    const float u = __fmul_rn(b, b);
    const float j = __fmaf_rn(__fmaf_rn(__fmaf_rn(kC4, b, kC3), u, __fmaf_rn(kC2, b, kC1)), u, __fmaf_rn(kC0, b, 1.0f));
    const int e = (int)n;
    // j * 2^e: an exact power of two from exponent bits in the normal range (one rounding, as the
    // CPU's scale_by_pow2), ldexpf (exact scaling, correctly rounded) outside it.
    if (e >= -126 && e <= 127) return __fmul_rn(j, __int_as_float((e + 127) << 23));
    return ldexpf(j, e);
}

}  // namespace wc::gpu
