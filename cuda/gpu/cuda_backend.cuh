// cuda_backend.cuh — the CUDA implementation of core/backend.h. VRAM only: weights, KV cache,
// activations and scratch live in cudaMalloc memory; no managed or mapped host memory, and no
// fallback to the CPU backend. Weights are copied from the memory-mapped file through a
// double-buffered pinned staging area with asynchronous copies.
#pragma once

#include <cuda_runtime.h>

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

    DeviceStatus device_status() const override;
    // Every weight allocation is device memory with no host mapping; throws CoreError if not.
    void check_residency() const override;

private:
    void *upload_bytes(const void *host, size_t bytes);

    DeviceInfo info_;
    cudaStream_t stream_ = nullptr;
    void *staging_[2] = {nullptr, nullptr};
    cudaEvent_t staged_[2] = {nullptr, nullptr};
    std::vector<void *> weights_;
    size_t weight_bytes_ = 0;
    int32_t *ids_ = nullptr;   // device copy of embed ids
    int ids_capacity_ = 0;
};

}  // namespace wc::gpu
