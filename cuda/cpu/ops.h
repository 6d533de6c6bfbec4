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
void matmul(ThreadPool &pool, const Weight &w, const F32View &x, const F32View &y, const float *bias);
// Several weights of one type (and width) over the same x: the input converted once, every
// output row computed as matmul computes it, all in one pass over the pool.
void matmul_many(ThreadPool &pool, const MatmulOut *outs, int n_outs, const F32View &x);

// norm.cpp
void rms_norm(ThreadPool &pool, const float *x, const float *w, float *out, int n_rows, int dim, float eps);

// rope.cpp: positions pos[0..x.rows)
void rope(ThreadPool &pool, const F32View &x, int n_heads, int head_dim, const int32_t *pos, const RopeParams &p);

// attention.cpp
void attention(ThreadPool &pool, const F32View &q, const F32View &k, const F32View &v, const StepRows &rows, KvLayer &cache,
               const AttentionShape &s, const F32View &out);

// elementwise.cpp
void swiglu(ThreadPool &pool, const float *gate, const float *up, float *out, int64_t n);
void geglu(ThreadPool &pool, const float *gate, const float *up, float *out, int64_t n);
// ggml's f16-table GELU of one value (the GeGLU gate), shared with the CUDA op check.
float gelu_f16_lookup(float x);
void scale(ThreadPool &pool, float *x, float s, int64_t n);
void add(ThreadPool &pool, float *x, const float *y, int64_t n);
void gather_rows(ThreadPool &pool, const F32View &src, const int32_t *idx, int n, const F32View &dst);

}  // namespace wc::cpu
