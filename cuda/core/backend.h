// backend.h — the one interface both compute backends implement (CPU now, CUDA behind the `cuda`
// feature). Model adapters describe the forward pass as a sequence of these ops; every pointer
// an op takes is memory of the backend that runs it (host memory for the CPU backend, device
// memory for CUDA), except where a parameter says "host". The per-row inputs of a pass
// (positions, sequences, block tables) come in a StepRows (step.h), never as hidden state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/gguf.h"
#include "core/step.h"
#include "worker_core.h"

namespace wc {

// A weight matrix as stored: `rows` outputs (GGUF ne[1]) of `cols` inputs (ne[0]) each, in the
// file's own type (never expanded to f32), row r at data + r * row_bytes. A view: rows_slice()
// reads part of a fused tensor (Phi-3's QKV) in place.
struct Weight {
    uint32_t type_id = 0;
    int64_t rows = 0;
    int64_t cols = 0;
    size_t row_bytes = 0;
    const void *data = nullptr;

    Weight rows_slice(int64_t r0, int64_t n) const {
        Weight w = *this;
        w.rows = n;
        w.data = static_cast<const uint8_t *>(data) + (size_t)r0 * row_bytes;
        return w;
    }
};

// f32 activations: `rows` rows of `cols` values, row r at data + r * stride (stride >= cols; a
// column range of a wider tensor when stride > cols).
struct F32View {
    float *data = nullptr;
    int64_t rows = 0, cols = 0, stride = 0;

    static F32View dense(float *data, int64_t rows, int64_t cols) { return {data, rows, cols, cols}; }
    F32View cols_slice(int64_t c0, int64_t n) const { return {data + c0, rows, n, stride}; }
    F32View first_rows(int64_t n) const { return {data, n, cols, stride}; }
    float *row(int64_t r) const { return data + r * stride; }
};

// One product of a matmul_many: y = W x (+ bias), x shared with the others.
struct MatmulOut {
    Weight w;
    F32View y;
    const float *bias = nullptr;
};

struct RopeParams {
    int n_rot = 0;           // rotated dimensions per head (rope.dimension_count)
    float freq_base = 10000;
    float freq_scale = 1;
    bool neox = false;       // false: rotate adjacent pairs (llama); true: pairs (i, i + n_rot/2)
    // Per-pair frequency factors (Llama 3's rope_freqs, Phi-3's LongRoPE factors): pair i's angle
    // is divided by freq_factors[i]. Backend memory, n_rot/2 floats; nullptr: all 1.
    const float *freq_factors = nullptr;
    float mscale = 1;        // cos and sin are multiplied by it (ggml's attn_factor)
};

struct AttentionShape {
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;
    float scale = 1;         // applied to q.k before the softmax
    // Sliding window: row r attends only positions > pos[r] - window (0: every position 0..pos[r]).
    int window = 0;
};

// One layer's share of the paged KV pool: f16, [n_slots][n_head_kv * head_dim] for K and for V,
// slot = block * kKvBlockTokens + offset (step.h).
struct KvLayer {
    uint16_t *k = nullptr;
    uint16_t *v = nullptr;
};

// Where a backend runs and how much memory it has (wc_device_info).
class ForwardState;

struct DeviceStatus {
    std::string name = "cpu";
    int index = -1;
    int cc_major = 0, cc_minor = 0;
    int runtime_version = 0, driver_version = 0;
    size_t total_bytes = 0, free_bytes = 0;  // device memory; 0 on the CPU
    size_t weight_bytes = 0;                 // weights copied to the device; 0 on the CPU (mapped)
};

// Batch invariance (.specs/batching.md): every op computes each output row with one summation
// order that does not depend on how many rows the step has, which rows they are, or whether a
// row is a prompt token or a decoded one. No op may choose a kernel, a split or a tile by row count
// in a way that changes a row's arithmetic.
class Backend {
public:
    virtual ~Backend() = default;
    virtual wc_backend_kind kind() const = 0;
    virtual std::string describe() const = 0;   // e.g. "cpu (avx512, 2 threads)"
    virtual int n_threads() const = 0;

    // Bytes this backend's copy of `t` takes (as a matrix, or as an f32 vector); 0 where ops read
    // the memory-mapped file directly.
    virtual size_t weight_footprint(const GgufTensor &t, bool as_vector) const { (void)t, (void)as_vector; return 0; }
    // Called once, before any upload, with the summed footprints and the bytes one sequence of the
    // reserved context needs (0: no context reserved). Throws CoreError(WC_ERR_OUT_OF_MEMORY),
    // naming `model_path`, when they cannot fit; the CUDA backend allocates its one weight arena here.
    virtual void reserve(size_t weight_bytes, size_t context_bytes, int n_ctx, const std::string &model_path) {
        (void)weight_bytes, (void)context_bytes, (void)n_ctx, (void)model_path;
    }
    // Told the bytes of each uploaded chunk of weights (drives the load progress).
    std::function<void(size_t)> on_upload;

    // Makes a model tensor usable by this backend's ops. Throws CoreError on unsupported types.
    virtual Weight upload_matrix(const GgufTensor &t) = 0;
    // A small f32 vector (norm weight, bias); F16/BF16 vectors are converted.
    virtual const float *upload_vector(const GgufTensor &t) = 0;

    // Context memory (KV pool, scratch), zero-filled. Throws CoreError(WC_ERR_OUT_OF_MEMORY).
    virtual void *alloc(size_t bytes) = 0;
    // The forward pass's scratch (sized for the largest step), zero-filled too; a backend may
    // leave its pages to be mapped as steps first write them. Freed with release.
    virtual void *alloc_scratch(size_t bytes) { return alloc(bytes); }
    virtual void release(void *p) = 0;

    // --- steps -------------------------------------------------------------------------------
    // Sizes the buffers upload_step fills: called when a context is created (before any step).
    virtual void reserve_steps(int max_rows, int max_seqs, int max_blocks) { (void)max_rows, (void)max_seqs, (void)max_blocks; }
    // The step's rows in backend memory. CPU: `host` itself; CUDA: a copy in device buffers that
    // stay valid until the next upload_step. Host arrays must stay valid for the step's duration.
    virtual StepRows upload_step(const StepRows &host) { return host; }
    // Rows a replayable step of `n_rows` rows is padded to (CUDA: the graph bucket); 0 when such a
    // step is not replayed (too many rows, or graphs off).
    virtual int replay_rows(int n_rows) const { (void)n_rows; return 0; }
    // Runs one forward pass: `body` issues its ops. With `replayable` (rows padded to
    // replay_rows(), every op reading its per-row inputs from the uploaded step) the CUDA backend
    // captures `body` once per (state, row count) as a CUDA graph and replays it afterwards; the
    // CPU backend just calls it. A replayed graph bakes in everything but the buffer contents:
    // the row count, n_logits (== n_rows: every row of a replayable step wants logits),
    // max_blocks, the state's buffers and the KV pool. Rows cannot be dropped inside one.
    virtual void run_step(const ForwardState &state, int n_rows, bool replayable, const std::function<void()> &body) {
        (void)state, (void)n_rows, (void)replayable;
        body();
    }
    // `state` is going away: drop whatever was kept for it (its graphs).
    virtual void forget_state(const ForwardState &state) { (void)state; }

    // --- ops (per-row inputs from the uploaded StepRows) -----------------------------------------
    // out[r, :] = row token[r] of `table`, dequantized.
    virtual void embed(const Weight &table, const StepRows &rows, float *out) = 0;
    // out[r, :] = x[r, :] / rms(x[r, :]) * w (out may be x; rows of `dim` values, densely packed,
    // so the heads of a [rows, n_head * head_dim] tensor are normed as n_rows * n_head rows)
    virtual void rms_norm(const float *x, const float *w, float *out, int n_rows, int dim, float eps) = 0;
    // y[t, :] = W x[t, :] (+ bias) for t < x.rows; x.cols == w.cols, y.cols == w.rows.
    virtual void matmul(const Weight &w, const F32View &x, const F32View &y, const float *bias) = 0;
    // outs[i].y = outs[i].w x (+ bias) for every i: several matrices over one input (Q, K and V;
    // gate and up), each output exactly what matmul gives it. A backend may share the input's
    // conversion and one pass over the threads; by default, one matmul each.
    virtual void matmul_many(const MatmulOut *outs, int n_outs, const F32View &x) {
        for (int i = 0; i < n_outs; ++i) matmul(outs[i].w, x, outs[i].y, outs[i].bias);
    }
    // Rotates x[r, h, 0:n_rot] in place for the row's position pos[r] (x.rows == rows.n_rows).
    virtual void rope(const F32View &x, int n_heads, int head_dim, const StepRows &rows, const RopeParams &p) = 0;
    // Stores k[r], v[r] ([n_head_kv*head_dim] each) in cache slot kv_slot[r], then
    // out[r, h, :] = softmax(scale * q[r,h] . K[0..pos[r]]) V over the row's sequence (causal).
    virtual void attention(const F32View &q, const F32View &k, const F32View &v, const StepRows &rows, KvLayer &cache,
                           const AttentionShape &s, const F32View &out) = 0;
    // out = silu(gate) * up, elementwise.
    virtual void swiglu(const float *gate, const float *up, float *out, int64_t n) = 0;
    // out = gelu(gate) * up, elementwise, with the tanh form of GELU evaluated as ggml does (on
    // the f16 rounding of gate, the result rounded to f16; gate <= -10 gives 0, >= 10 gives gate).
    virtual void geglu(const float *gate, const float *up, float *out, int64_t n) = 0;
    // x *= s, elementwise.
    virtual void scale(float *x, float s, int64_t n) = 0;
    // x += y, elementwise.
    virtual void add(float *x, const float *y, int64_t n) = 0;
    // dst[i, :] = src[idx[i], :] for i < n (idx in backend memory, or nullptr for idx[i] = i; dst
    // and src must not overlap).
    virtual void gather_rows(const F32View &src, const int32_t *idx, int n, const F32View &dst) = 0;
    // Copies n floats to host memory.
    virtual void to_host(const float *src, float *dst_host, size_t n) = 0;
    // Copies `bytes` from host memory into backend memory (tests feed ops with it).
    virtual void from_host(void *dst, const void *src_host, size_t bytes) = 0;

    virtual DeviceStatus device_status() const { return DeviceStatus{}; }
    // Throws CoreError when a weight is no longer where the backend put it (CUDA: device memory
    // with no host mapping). Callable from any thread.
    virtual void check_residency() const {}
};

// Creates the backend the params ask for. CUDA without the `cuda` feature throws
// CoreError(WC_ERR_BACKEND_UNAVAILABLE, "built without CUDA support").
std::unique_ptr<Backend> make_backend(const wc_model_params &params);

// Throws CoreError(WC_ERR_BACKEND_UNAVAILABLE) when `kind` cannot start here (see wc_backend_probe).
void probe_backend(wc_backend_kind kind, int gpu_device);

}  // namespace wc
