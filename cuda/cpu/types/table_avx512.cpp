// table_avx512.cpp — the AVX-512 (F/BW/VL/DQ + VNNI) kernel table. Built with AVX-512 flags by
// build.rs; entered only after kernel_table() has checked the CPU.
#include <cmath>
#include <cstring>
#include <iterator>

#include "core/half.h"
#include "cpu/type_kernels.h"
#include "cpu/types/k_quants.h"
#include "cpu/types/types.h"

namespace wc {

#if defined(__AVX512F__) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
namespace avx512 {
#include "cpu/types/table_x86.inc"
const KernelTable kTable = {"avx512", kTypes, std::size(kTypes)};
}  // namespace avx512

const KernelTable *kernel_table_avx512() { return &avx512::kTable; }
#else
const KernelTable *kernel_table_avx512() { return nullptr; }
#endif

}  // namespace wc
