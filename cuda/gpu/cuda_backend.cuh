// cuda_backend.cuh — the CUDA implementation of core/backend.h. VRAM only: weights, KV cache,
// activations and scratch live in cudaMalloc memory; no managed or mapped host memory, and no
// fallback to the CPU backend. All weights share one arena, sized and checked against free VRAM
// (with a session of the reserved context) before the first byte is copied; they are copied from
// the memory-mapped file through a double-buffered pinned staging area with asynchronous copies.
// Each session's decode step is captured once as a CUDA graph and replayed.
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <set>
#include <vector>

#include "core/backend.h"
#include "gpu/device.cuh"

namespace wc::gpu {

class CudaBackend : public Backend {
public:
    explicit CudaBackend(int device);
    ~CudaBackend() override;

    wc_backend_kind kind() const override { return WC_BACKEND_CUDA; }
    std::string describe() const override;
    int n_threads() const override { return 1; }

    size_t weight_footprint(const GgufTensor &t, bool as_vector) const override;
    void reserve(size_t weight_bytes, size_t session_bytes, int n_ctx, const std::string &model_path) override;
    Weight upload_matrix(const GgufTensor &t) override;
    const float *upload_vector(const GgufTensor &t) override;
    void *alloc(size_t bytes) override;
    void release(void *p) override;

    void embed(const Weight &table, const int32_t *ids, int n, float *out) override;
    void rms_norm(const float *x, const float *w, float *out, int n_rows, int dim, float eps) override;
    void matmul(const Weight &w, const float *x, int n, float *y) override;
    void rope(float *x, int n, int n_heads, int head_dim, int pos0, const RopeParams &p) override;
    void attention(const float *q, const float *k, const float *v, int n, int pos0, KvLayer &cache,
                   const AttentionShape &s, float *out) override;
    void swiglu(const float *gate, const float *up, float *out, int64_t n) override;
    void add(float *x, const float *y, int64_t n) override;
    void to_host(const float *src, float *dst_host, size_t n) override;
    void from_host(void *dst, const void *src_host, size_t bytes) override;
    void decode_step(const ForwardState &state, int32_t token, int pos, const std::function<void()> &step) override;
    void forget_state(const ForwardState &state) override;
    void set_graphs(bool enabled) { graphs_enabled_ = enabled; }

    DeviceStatus device_status() const override;
    // Every weight allocation is device memory with no host mapping; throws CoreError if not.
    void check_residency() const override;

private:
    void *upload_bytes(const void *host, size_t bytes);
    float *attention_scratch(const AttentionShape &s);

    DeviceInfo info_;
    cudaStream_t stream_ = nullptr;
    void *staging_[2] = {nullptr, nullptr};
    cudaEvent_t staged_[2] = {nullptr, nullptr};
    uint8_t *arena_ = nullptr;     // every weight, 256-byte aligned
    size_t arena_bytes_ = 0;
    size_t weight_bytes_ = 0;      // used part of the arena
    int32_t *ids_ = nullptr;       // device copy of embed ids
    int ids_capacity_ = 0;
    float *attn_scratch_ = nullptr;
    size_t attn_scratch_floats_ = 0;

    // Decode steps: token id and position in pinned host memory, copied to step_dev_ before a
    // replay; while device_step_ is set, ops read them from step_dev_ instead of their arguments.
    bool graphs_enabled_ = true;
    bool device_step_ = false;
    int32_t *step_host_ = nullptr;  // [token, pos], pinned
    int32_t *step_dev_ = nullptr;
    std::set<const ForwardState *> warmed_;                    // ran one eager step (lazy buffers exist)
    std::map<const ForwardState *, cudaGraphExec_t> graphs_;
};

}  // namespace wc::gpu
