// ops.h — the CPU backend's ops as free functions over host memory, one family per .cpp file.
// They are the reference twins the CUDA kernels are checked against.
#pragma once

#include <cstdint>

#include "core/backend.h"
#include "cpu/thread_pool.h"

namespace wc::cpu {

// dequantize.cpp: one row of `n` weights of any computable type to f32.
void dequantize_row(uint32_t type_id, const void *row, float *out, int64_t n);

// matmul.cpp
void matmul(ThreadPool &pool, const Weight &w, const float *x, int n, float *y);

// norm.cpp
void rms_norm(ThreadPool &pool, const float *x, const float *w, float *out, int n_rows, int dim, float eps);

// rope.cpp
void rope(ThreadPool &pool, float *x, int n, int n_heads, int head_dim, int pos0, const RopeParams &p);

// attention.cpp
void attention(ThreadPool &pool, const float *q, const float *k, const float *v, int n, int pos0, KvLayer &cache,
               const AttentionShape &s, float *out);

// elementwise.cpp
void swiglu(ThreadPool &pool, const float *gate, const float *up, float *out, int64_t n);
void add(ThreadPool &pool, float *x, const float *y, int64_t n);

}  // namespace wc::cpu
