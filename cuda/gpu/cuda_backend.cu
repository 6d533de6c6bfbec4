// cuda_backend.cu — see cuda_backend.cuh.
#include "gpu/cuda_backend.cuh"

#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
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
// Room left beyond weights and one session: the backend's own small buffers (embed ids, attention
// partials) and the allocator's rounding.
constexpr size_t kWorkingMargin = 64u << 20;

size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

void require_computable(const GgufTensor &t) {
    const TypeTraits &tt = type_traits(t.type_id);
    if (!tt.computable) {
        fail(WC_ERR_UNSUPPORTED, strfmt("tensor '%s' has type %s, which the CUDA backend cannot compute with (supported: %s)",
                                        t.name.c_str(), tt.name, computable_type_names()));
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

}  // namespace

CudaBackend::CudaBackend(int device) : info_(open_device(device)) {
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    for (int i = 0; i < 2; ++i) {
        CUDA_CHECK(cudaMallocHost(&staging_[i], kStagingBytes));
        CUDA_CHECK(cudaEventCreateWithFlags(&staged_[i], cudaEventDisableTiming));
    }
    CUDA_CHECK(cudaMallocHost(&step_host_, 2 * sizeof(int32_t)));
    step_dev_ = static_cast<int32_t *>(device_alloc(2 * sizeof(int32_t), "decode step"));
}

CudaBackend::~CudaBackend() {
    // Destructors must not throw: errors here are ignored.
    cudaStreamSynchronize(stream_);
    for (auto &g : graphs_) cudaGraphExecDestroy(g.second);
    cudaFree(arena_);
    cudaFree(ids_);
    cudaFree(attn_scratch_);
    cudaFree(step_dev_);
    if (step_host_) cudaFreeHost(step_host_);
    for (int i = 0; i < 2; ++i) {
        if (staging_[i]) cudaFreeHost(staging_[i]);
        if (staged_[i]) cudaEventDestroy(staged_[i]);
    }
    if (stream_) cudaStreamDestroy(stream_);
}

std::string CudaBackend::describe() const {
    return strfmt("cuda (device %d: %s, sm_%d%d, %zu MiB)", info_.index, info_.name.c_str(), info_.cc_major, info_.cc_minor,
                  info_.total_bytes >> 20);
}

size_t CudaBackend::weight_footprint(const GgufTensor &t, bool as_vector) const {
    return aligned(as_vector ? (size_t)t.n_elements() * sizeof(float) : (size_t)t.nbytes);
}

void CudaBackend::reserve(size_t weight_bytes, size_t session_bytes, int n_ctx, const std::string &model_path) {
    if (arena_) fail(WC_ERR_INTERNAL, "cuda: weights were already reserved");
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    const size_t need = weight_bytes + session_bytes + kWorkingMargin;
    if (need > free_b) {
        fail(WC_ERR_OUT_OF_MEMORY,
             strfmt("not enough device memory: model '%s' needs %zu bytes on device %d (%s) — weights %zu + a session of "
                    "context %d %zu + working margin %zu — but %zu of %zu bytes are free",
                    model_path.c_str(), need, info_.index, info_.name.c_str(), weight_bytes, n_ctx, session_bytes,
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
    return w;
}

const float *CudaBackend::upload_vector(const GgufTensor &t) {
    require_computable(t);
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
    void *p = device_alloc(bytes, "session memory");
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return p;
}

void CudaBackend::release(void *p) { cudaFree(p); }

void CudaBackend::embed(const Weight &table, const int32_t *ids, int n, float *out) {
    if (device_step_) {
        gpu::embed(table, step_dev_, 1, out, stream_);
        return;
    }
    if (n > ids_capacity_) {
        cudaFree(ids_);
        ids_ = nullptr;
        ids_capacity_ = 0;
        ids_ = static_cast<int32_t *>(device_alloc((size_t)n * sizeof(int32_t), "token ids"));
        ids_capacity_ = n;
    }
    CUDA_CHECK(cudaMemcpyAsync(ids_, ids, (size_t)n * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    gpu::embed(table, ids_, n, out, stream_);
}

void CudaBackend::rms_norm(const float *x, const float *w, float *out, int n_rows, int dim, float eps) {
    gpu::rms_norm(x, w, out, n_rows, dim, eps, stream_);
}

void CudaBackend::matmul(const Weight &w, const float *x, int n, float *y) { gpu::matmul(w, x, n, y, stream_); }

void CudaBackend::rope(float *x, int n, int n_heads, int head_dim, int pos0, const RopeParams &p) {
    gpu::rope(x, n, n_heads, head_dim, pos0, device_step_ ? step_dev_ + 1 : nullptr, p, stream_);
}

float *CudaBackend::attention_scratch(const AttentionShape &s) {
    const size_t need = attention_scratch_floats(s);
    if (need > attn_scratch_floats_) {
        if (device_step_ && attn_scratch_) fail(WC_ERR_INTERNAL, "cuda: attention scratch grew during a decode step");
        cudaFree(attn_scratch_);
        attn_scratch_ = nullptr;
        attn_scratch_floats_ = 0;
        attn_scratch_ = static_cast<float *>(device_alloc(need * sizeof(float), "attention scratch"));
        attn_scratch_floats_ = need;
    }
    return attn_scratch_;
}

void CudaBackend::attention(const float *q, const float *k, const float *v, int n, int pos0, KvLayer &cache,
                            const AttentionShape &s, float *out) {
    gpu::attention(q, k, v, n, pos0, device_step_ ? step_dev_ + 1 : nullptr, cache, s, out, attention_scratch(s), stream_);
}

void CudaBackend::swiglu(const float *gate, const float *up, float *out, int64_t n) { gpu::swiglu(gate, up, out, n, stream_); }

void CudaBackend::add(float *x, const float *y, int64_t n) { gpu::add(x, y, n, stream_); }

void CudaBackend::to_host(const float *src, float *dst_host, size_t n) {
    CUDA_CHECK(cudaMemcpyAsync(dst_host, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::from_host(void *dst, const void *src_host, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::decode_step(const ForwardState &state, int32_t token, int pos, const std::function<void()> &step) {
    if (!graphs_enabled_) {
        step();
        return;
    }
    // The previous step's copy of step_host_ finished: every step ends with a synchronous to_host.
    step_host_[0] = token;
    step_host_[1] = pos;
    CUDA_CHECK(cudaMemcpyAsync(step_dev_, step_host_, 2 * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    if (auto g = graphs_.find(&state); g != graphs_.end()) {
        CUDA_CHECK(cudaGraphLaunch(g->second, stream_));
        return;
    }
    device_step_ = true;
    struct Reset {
        bool &flag;
        ~Reset() { flag = false; }
    } reset{device_step_};
    if (!warmed_.count(&state)) {
        // First step of this state: run eagerly, so buffers that are sized lazily exist before a
        // capture (no allocation may happen inside one).
        step();
        warmed_.insert(&state);
        return;
    }
    CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    cudaGraph_t graph = nullptr;
    try {
        step();
    } catch (...) {
        cudaStreamEndCapture(stream_, &graph);  // abandon the capture, then report the first error
        if (graph) cudaGraphDestroy(graph);
        cudaGetLastError();
        throw;
    }
    CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    CUDA_CHECK(e);
    graphs_[&state] = exec;
    CUDA_CHECK(cudaGraphLaunch(exec, stream_));
}

void CudaBackend::forget_state(const ForwardState &state) {
    warmed_.erase(&state);
    if (auto g = graphs_.find(&state); g != graphs_.end()) {
        cudaStreamSynchronize(stream_);  // a replay may still be running; errors are not actionable here
        cudaGraphExecDestroy(g->second);
        graphs_.erase(g);
    }
}

}  // namespace gpu
}  // namespace wc
