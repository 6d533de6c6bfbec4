// cuda_backend.cu — see cuda_backend.cuh.
#include "gpu/cuda_backend.cuh"

#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>

#include "core/error.h"
#include "core/tensor_types.h"
#include "gpu/attention.cuh"
#include "gpu/cuda_check.cuh"
#include "gpu/elementwise.cuh"
#include "gpu/embed.cuh"
#include "gpu/matmul.cuh"
#include "gpu/rms_norm.cuh"
#include "gpu/rope.cuh"
#include "gpu/type_table.cuh"

namespace wc {

std::unique_ptr<Backend> make_cuda_backend(const wc_model_params &params) {
    auto backend = std::make_unique<gpu::CudaBackend>(params.gpu_device);
    backend->set_graphs(params.cuda_graphs);
    return backend;
}

void probe_cuda_device(int device) { gpu::open_device(device); }

namespace gpu {

namespace {

constexpr size_t kStagingBytes = 16u << 20;
constexpr size_t kAlign = 256;
// Room left beyond weights and the context: the backend's own buffers (step buffers, attention
// partials up to kAttnPartialsCap) and the allocator's rounding.
constexpr size_t kWorkingMargin = 64u << 20;
// Most bytes the attention partials scratch may take; steps that would need more walk their
// chunks in one warp instead (the same bits, less parallelism).
constexpr size_t kAttnPartialsCap = 32u << 20;
// Row buckets of replayed steps: powers of two up to the output head's chunk.
constexpr int kMaxReplayRows = 64;

size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// The types of the CUDA type table (type_table.cuh), by name.
std::string gpu_type_names() {
    std::string names;
    for (uint32_t id = 0; id < 64; ++id) {
        if (gpu_reads_type(id)) names += std::string(names.empty() ? "" : ", ") + type_traits(id).name;
    }
    return names;
}

void require_computable(const GgufTensor &t) {
    if (!gpu_reads_type(t.type_id)) {
        fail(WC_ERR_UNSUPPORTED, strfmt("tensor '%s' has type %s, which the CUDA backend cannot compute with (supported: %s)",
                                        t.name.c_str(), type_traits(t.type_id).name, gpu_type_names().c_str()));
    }
}

// cudaMalloc with an out-of-memory message that says how much was asked and how much is free.
void *device_alloc(size_t bytes, const char *what) {
    void *p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();  // clear the sticky-free error state
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        fail(WC_ERR_OUT_OF_MEMORY, strfmt("cuda: out of device memory allocating %zu bytes for %s (%zu of %zu bytes free)",
                                          bytes, what, free_b, total_b));
    }
    CUDA_CHECK(e);
    return p;
}

// A replay must find the buffers and the counts its graph baked in.
bool same_launch(const StepRows &a, const StepRows &b) {
    return a.n_rows == b.n_rows && a.n_logits == b.n_logits && a.max_blocks == b.max_blocks && a.token == b.token && a.pos == b.pos &&
           a.seq == b.seq && a.kv_slot == b.kv_slot && a.blocks == b.blocks && a.logit_rows == b.logit_rows;
}

}  // namespace

CudaBackend::CudaBackend(int device) : info_(open_device(device)) {
    try {
        CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        for (int i = 0; i < 2; ++i) {
            CUDA_CHECK(cudaMallocHost(&staging_[i], kStagingBytes));
            CUDA_CHECK(cudaEventCreateWithFlags(&staged_[i], cudaEventDisableTiming));
        }
    } catch (...) {
        free_all();
        throw;
    }
}

CudaBackend::~CudaBackend() {
    // Destructors must not throw: errors here are ignored.
    cudaSetDevice(info_.index);
    if (stream_) cudaStreamSynchronize(stream_);
    free_all();
}

void CudaBackend::free_all() {
    drop_graphs();
    cudaFree(arena_);
    arena_ = nullptr;
    cudaFree(attn_partials_);
    attn_partials_ = nullptr;
    attn_partials_floats_ = 0;
    cudaFree(act_scratch_);
    act_scratch_ = nullptr;
    act_scratch_bytes_ = 0;
    for (int i = 0; i < 2; ++i) {
        if (staging_[i]) cudaFreeHost(staging_[i]);
        if (staged_[i]) cudaEventDestroy(staged_[i]);
        staging_[i] = nullptr;
        staged_[i] = nullptr;
    }
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = nullptr;
}

std::string CudaBackend::describe() const {
    return strfmt("cuda (device %d: %s, sm_%d%d, %zu MiB)", info_.index, info_.name.c_str(), info_.cc_major, info_.cc_minor,
                  info_.total_bytes >> 20);
}

size_t CudaBackend::weight_footprint(const GgufTensor &t, bool as_vector) const {
    return aligned(as_vector ? (size_t)t.n_elements() * sizeof(float) : (size_t)t.nbytes);
}

void CudaBackend::reserve(size_t weight_bytes, size_t context_bytes, int n_ctx, const std::string &model_path) {
    if (arena_) fail(WC_ERR_INTERNAL, "cuda: weights were already reserved");
    CUDA_CHECK(cudaSetDevice(info_.index));
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    const size_t need = weight_bytes + context_bytes + kWorkingMargin;
    if (need > free_b) {
        fail(WC_ERR_OUT_OF_MEMORY,
             strfmt("not enough device memory: model '%s' needs %zu bytes on device %d (%s) — weights %zu + a context of "
                    "%d positions %zu + working margin %zu — but %zu of %zu bytes are free",
                    model_path.c_str(), need, info_.index, info_.name.c_str(), weight_bytes, n_ctx, context_bytes,
                    kWorkingMargin, free_b, total_b));
    }
    arena_ = static_cast<uint8_t *>(device_alloc(weight_bytes, "the weight arena"));
    arena_bytes_ = weight_bytes;
}

void *CudaBackend::upload_bytes(const void *host, size_t bytes) {
    if (!arena_ || weight_bytes_ + aligned(bytes) > arena_bytes_) {
        fail(WC_ERR_INTERNAL, strfmt("cuda: weight arena overflow (%zu of %zu bytes used, %zu more asked)", weight_bytes_,
                                     arena_bytes_, bytes));
    }
    CUDA_CHECK(cudaSetDevice(info_.index));
    uint8_t *dst = arena_ + weight_bytes_;
    weight_bytes_ += aligned(bytes);
    // Double buffering: while chunk i copies to the device, chunk i+1 is memcpy'd into the other
    // pinned buffer (waiting only for that buffer's previous copy).
    const auto *src = static_cast<const uint8_t *>(host);
    for (size_t off = 0, i = 0; off < bytes; off += kStagingBytes, ++i) {
        const int slot = (int)(i % 2);
        const size_t n = std::min(kStagingBytes, bytes - off);
        CUDA_CHECK(cudaEventSynchronize(staged_[slot]));
        std::memcpy(staging_[slot], src + off, n);
        CUDA_CHECK(cudaMemcpyAsync(dst + off, staging_[slot], n, cudaMemcpyHostToDevice, stream_));
        CUDA_CHECK(cudaEventRecord(staged_[slot], stream_));
        if (on_upload) on_upload(n);
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return dst;
}

DeviceStatus CudaBackend::device_status() const {
    DeviceStatus d;
    d.name = info_.name;
    d.index = info_.index;
    d.cc_major = info_.cc_major;
    d.cc_minor = info_.cc_minor;
    d.runtime_version = info_.runtime_version;
    d.driver_version = info_.driver_version;
    CUDA_CHECK(cudaSetDevice(info_.index));  // the caller may be any thread
    CUDA_CHECK(cudaMemGetInfo(&d.free_bytes, &d.total_bytes));
    d.weight_bytes = weight_bytes_;
    return d;
}

void CudaBackend::check_residency() const {
    CUDA_CHECK(cudaSetDevice(info_.index));  // the caller may be any thread
    if (!arena_) return;
    // The arena is one allocation: its first and last weight byte stand for all of it.
    const uint8_t *ends[2] = {arena_, arena_ + (weight_bytes_ ? weight_bytes_ - 1 : 0)};
    for (const uint8_t *p : ends) {
        cudaPointerAttributes a{};
        CUDA_CHECK(cudaPointerGetAttributes(&a, p));
        if (a.type != cudaMemoryTypeDevice || a.hostPointer != nullptr || a.device != info_.index) {
            fail(WC_ERR_INTERNAL, strfmt("cuda: weight memory %p is not device-only memory of device %d (type %d, device %d)",
                                         (const void *)p, info_.index, (int)a.type, a.device));
        }
    }
}

Weight CudaBackend::upload_matrix(const GgufTensor &t) {
    require_computable(t);
    const TypeTraits &tt = type_traits(t.type_id);
    Weight w;
    w.type_id = t.type_id;
    w.cols = t.ne[0];
    w.rows = t.n_elements() / t.ne[0];
    w.row_bytes = (size_t)(t.ne[0] / tt.block_size) * tt.block_bytes;
    w.data = upload_bytes(t.data, w.row_bytes * (size_t)w.rows);
    widest_matrix_ = std::max(widest_matrix_, w.cols);
    return w;
}

const float *CudaBackend::upload_vector(const GgufTensor &t) {
    require_computable(t);
    if (t.type_id != (uint32_t)TensorType::F32 && t.type_id != (uint32_t)TensorType::F16 && t.type_id != (uint32_t)TensorType::BF16) {
        fail(WC_ERR_UNSUPPORTED, strfmt("vector tensor '%s' has type %s; the CUDA backend reads vectors as F32, F16 or BF16",
                                        t.name.c_str(), type_traits(t.type_id).name));
    }
    const int64_t n = t.n_elements();
    if (t.type_id == (uint32_t)TensorType::F32) return static_cast<const float *>(upload_bytes(t.data, (size_t)n * sizeof(float)));
    // A small f16/bf16 vector: widen on the host (a few KB), then upload.
    std::unique_ptr<float[]> v(new float[n]);
    for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, static_cast<const uint8_t *>(t.data) + 2 * i, 2);
        if (t.type_id == (uint32_t)TensorType::BF16) {
            const uint32_t bits = (uint32_t)h << 16;
            std::memcpy(&v[i], &bits, 4);
        } else {
            v[i] = __half2float(__ushort_as_half(h));
        }
    }
    return static_cast<const float *>(upload_bytes(v.get(), (size_t)n * sizeof(float)));
}

void *CudaBackend::alloc(size_t bytes) {
    CUDA_CHECK(cudaSetDevice(info_.index));
    void *p = device_alloc(bytes, "context memory");
    try {
        CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
        CUDA_CHECK(cudaStreamSynchronize(stream_));
    } catch (...) {
        cudaFree(p);
        throw;
    }
    return p;
}

void CudaBackend::release(void *p) {
    // Errors are not actionable here. Pending kernels may still use it: wait for them first.
    cudaSetDevice(info_.index);
    cudaStreamSynchronize(stream_);
    cudaFree(p);
}

// --- steps -----------------------------------------------------------------------------------

void CudaBackend::reserve_steps(int max_rows, int max_seqs, int max_blocks) {
    if (capturing_) fail(WC_ERR_INTERNAL, "cuda: reserve_steps inside a captured step");
    CUDA_CHECK(cudaSetDevice(info_.index));
    bool moved = false;
    try {
        moved = step_.reserve(max_rows, max_seqs, max_blocks, stream_);
    } catch (...) {
        drop_graphs();  // the old buffers may be gone
        throw;
    }
    if (moved) drop_graphs();
    reserved_rows_ = std::max(reserved_rows_, max_rows);
    activation_scratch(matmul_scratch_bytes(reserved_rows_, widest_matrix_));
}

void *CudaBackend::activation_scratch(size_t need) {
    if (need <= act_scratch_bytes_) return act_scratch_;
    // Sized by reserve_steps for the largest step and the widest matrix, so this grows only for a
    // caller that matmuls outside a context; never inside a capture (graphs bake the pointer in).
    if (capturing_) fail(WC_ERR_INTERNAL, strfmt("cuda: %zu bytes of matmul activation scratch needed inside a captured step", need));
    drop_graphs();
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    cudaFree(act_scratch_);
    act_scratch_ = nullptr;
    act_scratch_bytes_ = 0;
    act_scratch_ = device_alloc(need, "matmul activation scratch");
    act_scratch_bytes_ = need;
    return act_scratch_;
}

StepRows CudaBackend::upload_step(const StepRows &host) {
    // A copy inside a capture would become part of the graph and replay stale host memory.
    if (capturing_) fail(WC_ERR_INTERNAL, "cuda: upload_step inside a captured step (rows cannot change in a replayed step)");
    CUDA_CHECK(cudaSetDevice(info_.index));
    last_step_ = step_.upload(host, stream_);
    return last_step_;
}

int CudaBackend::replay_rows(int n_rows) const {
    if (!graphs_enabled_ || n_rows < 1 || n_rows > kMaxReplayRows) return 0;
    int bucket = 1;
    while (bucket < n_rows) bucket *= 2;
    return bucket;
}

void CudaBackend::run_step(const ForwardState &state, int n_rows, bool replayable, const std::function<void()> &body) {
    if (!replayable || !graphs_enabled_) {
        body();
        return;
    }
    if (n_rows != last_step_.n_rows || replay_rows(n_rows) != n_rows) {
        fail(WC_ERR_INTERNAL, strfmt("cuda: a replayable step of %d rows (bucket %d) after an upload of %d rows", n_rows,
                                     replay_rows(n_rows), last_step_.n_rows));
    }
    const GraphKey key{&state, n_rows};
    if (auto g = graphs_.find(key); g != graphs_.end()) {
        // Everything a replay reads per step is in the step buffers the upload just filled.
        if (!same_launch(g->second.step, last_step_)) {
            fail(WC_ERR_INTERNAL, strfmt("cuda: a replayed step of %d rows differs from its capture in its counts (%d logit rows, %d "
                                         "blocks per table; captured with %d, %d)",
                                         n_rows, last_step_.n_logits, last_step_.max_blocks, g->second.step.n_logits,
                                         g->second.step.max_blocks));
        }
        CUDA_CHECK(cudaGraphLaunch(g->second.exec, stream_));
        return;
    }
    if (!warmed_.count(key)) {
        // First step of this key: eager, so that whatever is sized at first use exists before a
        // capture (nothing may be allocated inside one).
        body();
        warmed_.insert(key);
        return;
    }
    // Thread-local capture: /health and the residency check on other threads keep working.
    const StepRows captured = last_step_;
    CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    capturing_ = true;
    cudaGraph_t graph = nullptr;
    try {
        body();
    } catch (...) {
        capturing_ = false;
        cudaStreamEndCapture(stream_, &graph);  // abandon the capture, then report the first error
        if (graph) cudaGraphDestroy(graph);
        cudaGetLastError();
        throw;
    }
    capturing_ = false;
    CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    CUDA_CHECK(e);
    graphs_[key] = Graph{exec, captured};
    // The capture recorded the step without running it.
    CUDA_CHECK(cudaGraphLaunch(exec, stream_));
}

void CudaBackend::forget_state(const ForwardState &state) {
    // An exec graph still in flight is freed when it completes (cudaGraphExecDestroy), so no wait.
    for (auto g = graphs_.begin(); g != graphs_.end();) {
        if (g->first.first == &state) {
            cudaGraphExecDestroy(g->second.exec);
            g = graphs_.erase(g);
        } else {
            ++g;
        }
    }
    for (auto w = warmed_.begin(); w != warmed_.end();) w = w->first == &state ? warmed_.erase(w) : std::next(w);
}

void CudaBackend::drop_graphs() {
    for (auto &g : graphs_) cudaGraphExecDestroy(g.second.exec);
    graphs_.clear();
    warmed_.clear();
}

// --- ops -------------------------------------------------------------------------------------

void CudaBackend::embed(const Weight &table, const StepRows &rows, float *out) { gpu::embed(table, rows, out, stream_); }

void CudaBackend::rms_norm(const float *x, const float *w, float *out, int n_rows, int dim, float eps) {
    gpu::rms_norm(x, w, out, n_rows, dim, eps, stream_);
}

void CudaBackend::matmul(const Weight &w, const F32View &x, const F32View &y, const float *bias) {
    const size_t need = matmul_scratch_bytes(x.rows, x.cols);
    gpu::matmul(w, x, y, bias, activation_scratch(need), act_scratch_bytes_, stream_);
}

void CudaBackend::rope(const F32View &x, int n_heads, int head_dim, const StepRows &rows, const RopeParams &p) {
    gpu::rope(x, n_heads, head_dim, rows, p, stream_);
}

float *CudaBackend::attention_partials(size_t need, size_t want) {
    const size_t cap = kAttnPartialsCap / sizeof(float);
    if (need > cap) return nullptr;
    if (need <= attn_partials_floats_) return attn_partials_;
    if (capturing_) return nullptr;
    // Grown once per context shape, to what its largest split step needs; graphs that baked the
    // old buffer go (they are captured again), and pending kernels that read it finish first.
    const size_t floats = std::min(std::max(need, want), cap);
    drop_graphs();
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    cudaFree(attn_partials_);
    attn_partials_ = nullptr;
    attn_partials_floats_ = 0;
    try {
        attn_partials_ = static_cast<float *>(device_alloc(floats * sizeof(float), "attention partials"));
    } catch (const CoreError &e) {
        if (e.status() != WC_ERR_OUT_OF_MEMORY) throw;
        return nullptr;  // the unsplit path needs no scratch
    }
    attn_partials_floats_ = floats;
    return attn_partials_;
}

void CudaBackend::attention(const F32View &q, const F32View &k, const F32View &v, const StepRows &rows, KvLayer &cache,
                            const AttentionShape &s, const F32View &out) {
    float *partials = nullptr;
    // Small steps spread each row's chunks over blocks. The choice depends only on the row count
    // and the context's table size (fixed for a graph), and does not change a row's bits.
    if (attention_chunk_slots(rows.max_blocks) > 1 && rows.n_rows <= kAttnSplitMaxRows) {
        const int want_rows = std::min(kAttnSplitMaxRows, std::max(reserved_rows_, rows.n_rows));
        partials = attention_partials(attention_partials_floats(rows.n_rows, s, rows.max_blocks),
                                      attention_partials_floats(want_rows, s, rows.max_blocks));
    }
    gpu::attention(q, k, v, rows, cache, s, out, partials, stream_);
}

void CudaBackend::swiglu(const float *gate, const float *up, float *out, int64_t n) { gpu::swiglu(gate, up, out, n, stream_); }

void CudaBackend::geglu(const float *gate, const float *up, float *out, int64_t n) { gpu::geglu(gate, up, out, n, stream_); }

void CudaBackend::scale(float *x, float s, int64_t n) { gpu::scale(x, s, n, stream_); }

void CudaBackend::add(float *x, const float *y, int64_t n) { gpu::add(x, y, n, stream_); }

void CudaBackend::gather_rows(const F32View &src, const int32_t *idx, int n, const F32View &dst) {
    gpu::gather_rows(src, idx, n, dst, stream_);
}

void CudaBackend::to_host(const float *src, float *dst_host, size_t n) {
    CUDA_CHECK(cudaSetDevice(info_.index));
    CUDA_CHECK(cudaMemcpyAsync(dst_host, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::from_host(void *dst, const void *src_host, size_t bytes) {
    CUDA_CHECK(cudaSetDevice(info_.index));
    CUDA_CHECK(cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace gpu
}  // namespace wc
