// attention.cuh — stores each row's k, v in its cache slot of the paged f16 KV pool, then causal
// grouped-query attention of every row over its own sequence. CPU twin: cpu/attention.cpp.
#pragma once

#include <cstddef>

#include <cuda_runtime.h>

#include "core/backend.h"

namespace wc::gpu {

// Largest head dimension the kernel handles (4 pairs of values per lane).
constexpr int kMaxHeadDim = 256;
// Positions per chunk: a row's keys 0 .. pos are cut at multiples of kAttnChunk (absolute
// positions), each chunk reduced on its own, the chunks merged in order.
constexpr int kAttnChunk = 256;
// Steps of at most this many rows may spread a row's chunks over blocks (and need the partials
// scratch); larger steps have parallelism enough in their rows. Either way the same bits.
constexpr int kAttnSplitMaxRows = 64;

// Chunk slots a launch provides for a step whose block tables have `max_blocks` entries: enough
// for the longest row the context can have, so a graph captured at any position stays valid.
int attention_chunk_slots(int max_blocks);
// Floats of partials scratch a split launch of `n_rows` rows needs.
size_t attention_partials_floats(int n_rows, const AttentionShape &s, int max_blocks);

// `rows` as upload_step returned it (slots, positions, sequences and block tables in device
// memory). `partials`: null, or attention_partials_floats(rows.n_rows, s, rows.max_blocks) floats
// (then n_rows <= kAttnSplitMaxRows): the chunks of a row run in parallel blocks and a merge
// kernel combines them, instead of one warp walking them in turn. Throws CoreError on shapes the
// kernel does not handle.
void attention(const F32View &q, const F32View &k, const F32View &v, const StepRows &rows, KvLayer &cache,
               const AttentionShape &s, const F32View &out, float *partials, cudaStream_t stream);

}  // namespace wc::gpu
