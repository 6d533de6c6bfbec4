// attention.cuh — appends k, v to the f16 KV cache, then causal grouped-query attention for every
// query row. CPU twin: cpu/attention.cpp.
#pragma once

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

// Largest head dimension the kernel handles (8 values per lane).
constexpr int kMaxHeadDim = 256;

// Floats of scratch the decode path needs (partial results per head and split).
size_t attention_scratch_floats(const AttentionShape &s);

// Stores k, v at positions pos0.. (pos0 read from device memory when pos_dev is not null; single
// tokens only) and writes the attention output for every query row. `scratch` holds
// attention_scratch_floats(s) floats.
void attention(const float *q, const float *k, const float *v, int n, int pos0, const int *pos_dev, KvLayer &cache,
               const AttentionShape &s, float *out, float *scratch, cudaStream_t stream);

}  // namespace wc::gpu
