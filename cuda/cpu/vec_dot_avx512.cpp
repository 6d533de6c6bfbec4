// vec_dot_avx512.cpp — the AVX-512 (F/BW/VL/DQ + VNNI) variant of the vec_dot kernels. Built with
// AVX-512 flags by build.rs; entered only after vec_dot_kernels() has checked the CPU.
#include <cmath>

#include "core/half.h"
#include "cpu/vec_dot.h"

namespace wc {

#if defined(__AVX512F__) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
namespace avx512 {
#include "cpu/vec_dot_x86.inc"

const VecDotKernels kKernels = {
    "avx512", quantize_q8_0_x86, quantize_q8_1_x86, dot_q4_0_x86, dot_q4_1_x86,
    dot_q8_0_x86, dot_f16_x86, dot_bf16_x86, dot_f32_x86,
    rows_q4_0_x86, rows_q4_1_x86, rows_q8_0_x86, rows_f16_x86, rows_bf16_x86, rows_f32_x86,
};
}  // namespace avx512

const VecDotKernels *vec_dot_kernels_avx512() { return &avx512::kKernels; }
#else
const VecDotKernels *vec_dot_kernels_avx512() { return nullptr; }
#endif

}  // namespace wc
