// attention_avx512.cpp — the AVX-512 build of attention_kernels.inc. Built with AVX-512 flags by
// build.rs; entered only where kernel_table() chose the AVX-512 table (after its CPU check).
#include <cmath>
#include <type_traits>

#include "core/half.h"
#include "cpu/attention_isa.h"
#include "cpu/exp_approx.h"
#include "cpu/ops.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace wc::cpu {

#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
namespace avx512 {
#include "cpu/attention_kernels.inc"
}  // namespace avx512

const AttentionKernels *attention_kernels_avx512() { return &avx512::kAttentionKernels; }
#else
const AttentionKernels *attention_kernels_avx512() { return nullptr; }
#endif

}  // namespace wc::cpu
