// cuda_backend.cuh — the CUDA implementation of core/backend.h. VRAM only: weights, KV pool,
// activations and scratch live in cudaMalloc memory; no managed or mapped host memory, and no
// fallback to the CPU backend. All weights share one arena, sized and checked against free VRAM
// (with the reserved context) before the first byte is copied; they are copied from the
// memory-mapped file through a double-buffered pinned staging area with asynchronous copies.
// A step's rows live in fixed device buffers (StepBuffers); replayable steps are captured once per
// (state, row bucket) as CUDA graphs that read those buffers, and replayed.
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <set>
#include <utility>

#include "core/backend.h"
#include "gpu/device.cuh"
#include "gpu/step_buffers.cuh"

namespace wc::gpu {

class CudaBackend : public Backend {
public:
    explicit CudaBackend(int device);
    ~CudaBackend() override;

    wc_backend_kind kind() const override { return WC_BACKEND_CUDA; }
    std::string describe() const override;
    int n_threads() const override { return 1; }

    size_t weight_footprint(const GgufTensor &t, bool as_vector) const override;
    void reserve(size_t weight_bytes, size_t context_bytes, int n_ctx, const std::string &model_path) override;
    Weight upload_matrix(const GgufTensor &t) override;
    const float *upload_vector(const GgufTensor &t) override;
    void *alloc(size_t bytes) override;
    void release(void *p) override;

    void reserve_steps(int max_rows, int max_seqs, int max_blocks) override;
    StepRows upload_step(const StepRows &host) override;
    int replay_rows(int n_rows) const override;
    void run_step(const ForwardState &state, int n_rows, bool replayable, const std::function<void()> &body) override;
    void forget_state(const ForwardState &state) override;

    void embed(const Weight &table, const StepRows &rows, float *out) override;
    void rms_norm(const float *x, const float *w, float *out, int n_rows, int dim, float eps) override;
    void matmul(const Weight &w, const F32View &x, const F32View &y, const float *bias) override;
    void rope(const F32View &x, int n_heads, int head_dim, const StepRows &rows, const RopeParams &p) override;
    void attention(const F32View &q, const F32View &k, const F32View &v, const StepRows &rows, KvLayer &cache,
                   const AttentionShape &s, const F32View &out) override;
    void swiglu(const float *gate, const float *up, float *out, int64_t n) override;
    void geglu(const float *gate, const float *up, float *out, int64_t n) override;
    void scale(float *x, float s, int64_t n) override;
    void add(float *x, const float *y, int64_t n) override;
    void gather_rows(const F32View &src, const int32_t *idx, int n, const F32View &dst) override;
    void to_host(const float *src, float *dst_host, size_t n) override;
    void from_host(void *dst, const void *src_host, size_t bytes) override;
    void set_graphs(bool enabled) { graphs_enabled_ = enabled; }

    DeviceStatus device_status() const override;
    // Every weight allocation is device memory with no host mapping; throws CoreError if not.
    void check_residency() const override;

private:
    using GraphKey = std::pair<const ForwardState *, int>;  // (state, padded row count)
    struct Graph {
        cudaGraphExec_t exec = nullptr;
        StepRows step;  // the upload it was captured with: a replay must see the same buffers and counts
    };

    void *upload_bytes(const void *host, size_t bytes);
    void free_all();
    // Destroys every graph (after the stream drains): buffers they baked in are about to move.
    void drop_graphs();
    // Partials scratch for a split attention launch of `need` floats, or null (walk the chunks in
    // one warp instead: same bits) when it would pass the cap or would have to grow inside a capture.
    float *attention_partials(size_t need, size_t want);
    // The matmul's quantized activations: at least `need` bytes, grown outside captures only.
    void *activation_scratch(size_t need);

    DeviceInfo info_;
    cudaStream_t stream_ = nullptr;
    void *staging_[2] = {nullptr, nullptr};
    cudaEvent_t staged_[2] = {nullptr, nullptr};
    uint8_t *arena_ = nullptr;     // every weight, 256-byte aligned
    size_t arena_bytes_ = 0;
    size_t weight_bytes_ = 0;      // used part of the arena

    // Steps.
    StepBuffers step_;
    StepRows last_step_;           // what the latest upload_step returned
    int reserved_rows_ = 0;        // largest reserve_steps seen (sizes the partials scratch)
    float *attn_partials_ = nullptr;
    size_t attn_partials_floats_ = 0;
    void *act_scratch_ = nullptr;  // quantized activations of one matmul (matmul_scratch_bytes)
    size_t act_scratch_bytes_ = 0;
    int64_t widest_matrix_ = 0;    // most inputs of an uploaded matrix (sizes the scratch)

    // Graphs: the first replayable step of a key runs eagerly (anything sized lazily exists
    // afterwards), the second is captured, later ones replay.
    bool graphs_enabled_ = true;
    bool capturing_ = false;
    std::set<GraphKey> warmed_;
    std::map<GraphKey, Graph> graphs_;
};

}  // namespace wc::gpu
