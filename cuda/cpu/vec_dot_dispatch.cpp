// vec_dot_dispatch.cpp — picks the widest vec_dot variant the CPU supports, once per process.
#include <cstdlib>
#include <cstring>

#include "cpu/vec_dot.h"

namespace wc {

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

const VecDotKernels &choose() {
    const char *force = std::getenv("WC_ISA");
    if (force && std::strcmp(force, "scalar") == 0) return vec_dot_kernels_ref();
    bool allow_wide = !(force && std::strcmp(force, "avx2") == 0);
    if (allow_wide && vec_dot_kernels_avx512() && cpu_has_avx512_vnni()) return *vec_dot_kernels_avx512();
    if (vec_dot_kernels_avx2()) return *vec_dot_kernels_avx2();
    return vec_dot_kernels_ref();
}

}  // namespace

const VecDotKernels &vec_dot_kernels() {
    static const VecDotKernels &chosen = choose();
    return chosen;
}

}  // namespace wc
