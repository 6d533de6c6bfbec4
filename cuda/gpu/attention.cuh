// attention.cuh — appends k, v to the f16 KV cache, then causal grouped-query attention for every
// query row. CPU twin: cpu/attention.cpp.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

// Largest head dimension the kernel handles (8 values per lane).
constexpr int kMaxHeadDim = 256;

void attention(const float *q, const float *k, const float *v, int n, int pos0, KvLayer &cache, const AttentionShape &s,
               float *out, cudaStream_t stream);

}  // namespace wc::gpu
