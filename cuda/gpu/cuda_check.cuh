// cuda_check.cuh — every CUDA runtime call goes through CUDA_CHECK: a failure becomes a CoreError
// (a status at the C ABI), never an abort. Out-of-memory keeps its own status so a job can end
// with VRAM_OOM and the worker go on.
#pragma once

#include <cuda_runtime.h>

#include "core/error.h"

namespace wc::gpu {

[[noreturn]] inline void cuda_fail(cudaError_t e, const char *what, const char *file, int line) {
    const wc_status status = e == cudaErrorMemoryAllocation ? WC_ERR_OUT_OF_MEMORY : WC_ERR_INTERNAL;
    fail(status, strfmt("cuda: %s failed: %s (%s) at %s:%d", what, cudaGetErrorName(e), cudaGetErrorString(e), file, line));
}

}  // namespace wc::gpu

#define CUDA_CHECK(call)                                                         \
    do {                                                                         \
        cudaError_t err_ = (call);                                               \
        if (err_ != cudaSuccess) ::wc::gpu::cuda_fail(err_, #call, __FILE__, __LINE__); \
    } while (0)

// After a kernel launch: reports launch-configuration errors at once.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
