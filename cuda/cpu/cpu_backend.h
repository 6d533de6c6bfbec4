// cpu_backend.h — the CPU backend: the reference implementation, what CI runs, and a real option
// on GPU-less hosts. Weights stay in the memory-mapped file; ops run on a thread pool.
#pragma once

#include <memory>
#include <vector>

#include "core/backend.h"
#include "cpu/thread_pool.h"

namespace wc {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int n_threads);

    wc_backend_kind kind() const override { return WC_BACKEND_CPU; }
    std::string describe() const override;
    int n_threads() const override { return pool_.size(); }

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

private:
    ThreadPool pool_;
    // f32 copies of non-f32 norm vectors (a few KB; matrices are never converted).
    std::vector<std::unique_ptr<float[]>> converted_vectors_;
};

}  // namespace wc
