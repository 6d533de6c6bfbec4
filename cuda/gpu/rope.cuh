// rope.cuh — rotary position embedding in place. CPU twin: cpu/rope.cpp.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

void rope(float *x, int n, int n_heads, int head_dim, int pos0, const RopeParams &p, cudaStream_t stream);

}  // namespace wc::gpu
