// table_avx2.cpp — the AVX2/FMA/F16C kernel table (the x86 baseline).
#include <cmath>
#include <cstring>
#include <iterator>

#include "core/half.h"
#include "cpu/type_kernels.h"
#include "cpu/types/k_quants.h"
#include "cpu/types/types.h"

namespace wc {

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
namespace avx2 {
#include "cpu/types/table_x86.inc"
const KernelTable kTable = {"avx2", kTypes, std::size(kTypes)};
}  // namespace avx2

const KernelTable *kernel_table_avx2() { return &avx2::kTable; }
#else
const KernelTable *kernel_table_avx2() { return nullptr; }
#endif

}  // namespace wc
