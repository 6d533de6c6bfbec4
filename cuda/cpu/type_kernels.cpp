// type_kernels.cpp — looking types up in a kernel table, and picking the widest table the CPU
// supports, once per process.
#include "cpu/type_kernels.h"

#include <cstdlib>
#include <cstring>

namespace wc {

const TypeKernels *KernelTable::find(uint32_t type_id) const {
    for (size_t i = 0; i < n_types; ++i) {
        if ((uint32_t)types[i].type == type_id) return &types[i];
    }
    return nullptr;
}

size_t dot_row_bytes(const TypeKernels &k, int64_t cols) {
    const TypeTraits &t = type_traits(k.dot_type);
    return (size_t)(cols / t.block_size) * t.block_bytes;
}

namespace {

bool cpu_has_avx512_vnni() {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

const KernelTable &choose() {
    const char *force = std::getenv("WC_ISA");
    if (force && std::strcmp(force, "scalar") == 0) return kernel_table_ref();
    bool allow_wide = !(force && std::strcmp(force, "avx2") == 0);
    if (allow_wide && kernel_table_avx512() && cpu_has_avx512_vnni()) return *kernel_table_avx512();
    if (kernel_table_avx2()) return *kernel_table_avx2();
    return kernel_table_ref();
}

}  // namespace

const KernelTable &kernel_table() {
    static const KernelTable &chosen = choose();
    return chosen;
}

}  // namespace wc
