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
    void *alloc_scratch(size_t bytes) override;
    void release(void *p) override;

    void embed(const Weight &table, const StepRows &rows, float *out) override;
    void rms_norm(const float *x, const float *w, float *out, int n_rows, int dim, float eps) override;
    void matmul(const Weight &w, const F32View &x, const F32View &y, const float *bias) override;
    void matmul_many(const MatmulOut *outs, int n_outs, const F32View &x) override;
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

private:
    ThreadPool pool_;
    // f32 copies of non-f32 norm vectors (a few KB; matrices are never converted).
    std::vector<std::unique_ptr<float[]>> converted_vectors_;
};

}  // namespace wc
