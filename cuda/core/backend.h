// backend.h — the one interface both compute backends implement (CPU now, CUDA behind the `cuda`
// feature). Model adapters describe the forward pass as a sequence of these ops; every pointer
// an op takes is memory of the backend that runs it (host memory for the CPU backend, device
// memory for CUDA), except where a parameter says "host".
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/gguf.h"
#include "worker_core.h"

namespace wc {

// A weight matrix as stored: `rows` outputs (GGUF ne[1]) of `cols` inputs (ne[0]) each, in the
// file's own type (never expanded to f32).
struct Weight {
    uint32_t type_id = 0;
    int64_t rows = 0;
    int64_t cols = 0;
    size_t row_bytes = 0;
    const void *data = nullptr;
};

struct RopeParams {
    int n_rot = 0;           // rotated dimensions per head (rope.dimension_count)
    float freq_base = 10000;
    float freq_scale = 1;
    bool neox = false;       // false: rotate adjacent pairs (llama); true: pairs (i, i + n_rot/2)
};

struct AttentionShape {
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;
    float scale = 1;         // applied to q.k before the softmax
};

// Per-layer KV cache: f16, [n_ctx][n_head_kv * head_dim] for both K and V.
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

class Backend {
public:
    virtual ~Backend() = default;
    virtual wc_backend_kind kind() const = 0;
    virtual std::string describe() const = 0;   // e.g. "cpu (avx512, 2 threads)"
    virtual int n_threads() const = 0;

    // Bytes this backend's copy of `t` takes (as a matrix, or as an f32 vector); 0 where ops read
    // the memory-mapped file directly.
    virtual size_t weight_footprint(const GgufTensor &t, bool as_vector) const { (void)t, (void)as_vector; return 0; }
    // Called once, before any upload, with the summed footprints and the bytes one session of the
    // reserved context needs (0: no context reserved). Throws CoreError(WC_ERR_OUT_OF_MEMORY),
    // naming `model_path`, when they cannot fit; the CUDA backend allocates its one weight arena here.
    virtual void reserve(size_t weight_bytes, size_t session_bytes, int n_ctx, const std::string &model_path) {
        (void)weight_bytes, (void)session_bytes, (void)n_ctx, (void)model_path;
    }
    // Told the bytes of each uploaded chunk of weights (drives the load progress).
    std::function<void(size_t)> on_upload;

    // Makes a model tensor usable by this backend's ops. Throws CoreError on unsupported types.
    virtual Weight upload_matrix(const GgufTensor &t) = 0;
    // A small f32 vector (norm weight); F16/BF16 vectors are converted.
    virtual const float *upload_vector(const GgufTensor &t) = 0;

    // Scratch and KV-cache memory, zero-filled. Throws CoreError(WC_ERR_OUT_OF_MEMORY).
    virtual void *alloc(size_t bytes) = 0;
    virtual void release(void *p) = 0;

    // out[i, :] = row ids[i] of `table`, dequantized (ids in host memory).
    virtual void embed(const Weight &table, const int32_t *ids, int n, float *out) = 0;
    // out[r, :] = x[r, :] / rms(x[r, :]) * w
    virtual void rms_norm(const float *x, const float *w, float *out, int n_rows, int dim, float eps) = 0;
    // y[t, :] = W x[t, :] for t < n (y rows are w.rows long, x rows w.cols long).
    virtual void matmul(const Weight &w, const float *x, int n, float *y) = 0;
    // Rotates x[t, h, 0:n_rot] in place for token t at position pos0 + t.
    virtual void rope(float *x, int n, int n_heads, int head_dim, int pos0, const RopeParams &p) = 0;
    // Stores k, v ([n, n_head_kv*head_dim]) at positions pos0.. of the cache, then
    // out[t, h, :] = softmax(scale * q[t,h].K[0..pos0+t]) V for every query row (causal).
    virtual void attention(const float *q, const float *k, const float *v, int n, int pos0, KvLayer &cache,
                           const AttentionShape &s, float *out) = 0;
    // out = silu(gate) * up, elementwise.
    virtual void swiglu(const float *gate, const float *up, float *out, int64_t n) = 0;
    // x += y, elementwise.
    virtual void add(float *x, const float *y, int64_t n) = 0;
    // Copies n floats to host memory.
    virtual void to_host(const float *src, float *dst_host, size_t n) = 0;
    // Copies `bytes` from host memory into backend memory (tests feed ops with it).
    virtual void from_host(void *dst, const void *src_host, size_t bytes) = 0;

    // One decode step of `state`: `step` issues the forward pass of one token at position `pos`
    // and the output head. The CUDA backend captures it once per state as a CUDA graph that reads
    // the token and the position from device memory, then replays it; others just call `step`.
    virtual void decode_step(const ForwardState &state, int32_t token, int pos, const std::function<void()> &step) {
        (void)state, (void)token, (void)pos;
        step();
    }
    // `state` is going away: drop whatever was kept for it (its decode graph).
    virtual void forget_state(const ForwardState &state) { (void)state; }

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
