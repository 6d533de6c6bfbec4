// vec_dot_avx2.cpp — the AVX2/FMA/F16C variant of the vec_dot kernels (the x86 baseline).
#include <cmath>

#include "core/half.h"
#include "cpu/vec_dot.h"

namespace wc {

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
namespace avx2 {
#include "cpu/vec_dot_x86.inc"

const VecDotKernels kKernels = {
    "avx2", quantize_q8_0_x86, quantize_q8_1_x86, dot_q4_0_x86, dot_q4_1_x86,
    dot_q8_0_x86, dot_f16_x86, dot_bf16_x86, dot_f32_x86,
    rows_q4_0_x86, rows_q4_1_x86, rows_q8_0_x86, rows_f16_x86, rows_bf16_x86, rows_f32_x86,
};
}  // namespace avx2

const VecDotKernels *vec_dot_kernels_avx2() { return &avx2::kKernels; }
#else
const VecDotKernels *vec_dot_kernels_avx2() { return nullptr; }
#endif

}  // namespace wc
