// rope.cuh — rotary position embedding in place. CPU twin: cpu/rope.cpp.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

// Token t is at position pos0 + t, where pos0 is read from device memory when pos_dev is not null
// (a replayed decode graph).
void rope(float *x, int n, int n_heads, int head_dim, int pos0, const int *pos_dev, const RopeParams &p, cudaStream_t stream);

}  // namespace wc::gpu
