// rope.cuh — rotary position embedding in place. CPU twin: cpu/rope.cpp.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

// Rotates x[r, h, 0:n_rot] for the position rows.pos[r], read from device memory (so a replayed
// graph rotates for whatever positions the step's upload put there).
void rope(const F32View &x, int n_heads, int head_dim, const StepRows &rows, const RopeParams &p, cudaStream_t stream);

}  // namespace wc::gpu
