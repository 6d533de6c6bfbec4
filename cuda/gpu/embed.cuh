// embed.cuh — out[i, :] = row ids[i] of a (possibly quantized) table. CPU twin: CpuBackend::embed.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

// `ids` in device memory.
void embed(const Weight &table, const int32_t *ids, int n, float *out, cudaStream_t stream);

}  // namespace wc::gpu
