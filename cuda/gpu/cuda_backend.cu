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
    return std::make_unique<gpu::CudaBackend>(params.gpu_device);
}

void probe_cuda_device(int device) { gpu::open_device(device); }

namespace gpu {

namespace {

constexpr size_t kStagingBytes = 16u << 20;

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
}

CudaBackend::~CudaBackend() {
    // Destructors must not throw: errors here are ignored.
    cudaStreamSynchronize(stream_);
    for (void *p : weights_) cudaFree(p);
    cudaFree(ids_);
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

void *CudaBackend::upload_bytes(const void *host, size_t bytes) {
    void *dst = device_alloc(bytes, "weights");
    weights_.push_back(dst);
    weight_bytes_ += bytes;
    // Double buffering: while chunk i copies to the device, chunk i+1 is memcpy'd into the other
    // pinned buffer (waiting only for that buffer's previous copy).
    const auto *src = static_cast<const uint8_t *>(host);
    for (size_t off = 0, i = 0; off < bytes; off += kStagingBytes, ++i) {
        const int slot = (int)(i % 2);
        const size_t n = std::min(kStagingBytes, bytes - off);
        CUDA_CHECK(cudaEventSynchronize(staged_[slot]));
        std::memcpy(staging_[slot], src + off, n);
        CUDA_CHECK(cudaMemcpyAsync(static_cast<uint8_t *>(dst) + off, staging_[slot], n, cudaMemcpyHostToDevice, stream_));
        CUDA_CHECK(cudaEventRecord(staged_[slot], stream_));
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
    for (void *p : weights_) {
        cudaPointerAttributes a{};
        CUDA_CHECK(cudaPointerGetAttributes(&a, p));
        if (a.type != cudaMemoryTypeDevice || a.hostPointer != nullptr) {
            fail(WC_ERR_INTERNAL, strfmt("cuda: weight allocation %p is not device-only memory (type %d)", p, (int)a.type));
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
    gpu::rope(x, n, n_heads, head_dim, pos0, p, stream_);
}

void CudaBackend::attention(const float *q, const float *k, const float *v, int n, int pos0, KvLayer &cache,
                            const AttentionShape &s, float *out) {
    gpu::attention(q, k, v, n, pos0, cache, s, out, stream_);
}

void CudaBackend::swiglu(const float *gate, const float *up, float *out, int64_t n) { gpu::swiglu(gate, up, out, n, stream_); }

void CudaBackend::add(float *x, const float *y, int64_t n) { gpu::add(x, y, n, stream_); }

void CudaBackend::to_host(const float *src, float *dst_host, size_t n) {
    CUDA_CHECK(cudaMemcpyAsync(dst_host, src, n * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace gpu
}  // namespace wc
