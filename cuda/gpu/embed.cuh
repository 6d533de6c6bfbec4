// embed.cuh — out[r, :] = row token[r] of a (possibly quantized) table. CPU twin: CpuBackend::embed.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

// `rows` as upload_step returned it: the token ids are read from device memory, so a replayed
// graph embeds whatever tokens the step's upload put there.
void embed(const Weight &table, const StepRows &rows, float *out, cudaStream_t stream);

}  // namespace wc::gpu
