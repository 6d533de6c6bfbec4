// cpu_backend.cpp — wires the CPU ops (ops.h) into the Backend interface.
#include "cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"
#include "cpu/ops.h"
#include "cpu/type_kernels.h"

namespace wc {

namespace {

// More threads than this only adds contention; far more would exhaust the process.
constexpr int kMaxThreadsPerCore = 4;

int checked_thread_count(int requested) {
    const int cores = default_thread_count();
    if (requested <= 0) return cores;
    if (requested > kMaxThreadsPerCore * cores) {
        fail(WC_ERR_INVALID_ARGUMENT, strfmt("%d threads requested, but this machine has %d cores (at most %d threads)",
                                             requested, cores, kMaxThreadsPerCore * cores));
    }
    return requested;
}

}  // namespace

CpuBackend::CpuBackend(int n_threads) : pool_(checked_thread_count(n_threads)) {}

std::string CpuBackend::describe() const {
    return strfmt("cpu (%s, %d threads)", kernel_table().isa, pool_.size());
}

namespace {

void require_computable(const GgufTensor &t) {
    const TypeTraits &tt = type_traits(t.type_id);
    if (!tt.computable) {
        fail(WC_ERR_UNSUPPORTED, strfmt("tensor '%s' has type %s, which the CPU backend cannot compute with (supported: %s)",
                                        t.name.c_str(), tt.name, computable_type_names()));
    }
}

}  // namespace

Weight CpuBackend::upload_matrix(const GgufTensor &t) {
    require_computable(t);
    const TypeTraits &tt = type_traits(t.type_id);
    Weight w;
    w.type_id = t.type_id;
    w.cols = t.ne[0];
    w.rows = t.n_elements() / t.ne[0];
    w.row_bytes = (size_t)(t.ne[0] / tt.block_size) * tt.block_bytes;
    w.data = t.data;
    return w;
}

const float *CpuBackend::upload_vector(const GgufTensor &t) {
    require_computable(t);
    if (t.type_id == (uint32_t)TensorType::F32) return reinterpret_cast<const float *>(t.data);
    const int64_t n = t.n_elements();
    std::unique_ptr<float[]> v(new float[n]);
    cpu::dequantize_row(t.type_id, t.data, v.get(), n);
    converted_vectors_.push_back(std::move(v));
    return converted_vectors_.back().get();
}

void *CpuBackend::alloc_scratch(size_t bytes) {
    void *p = std::calloc(1, bytes ? bytes : 1);
    if (!p) fail(WC_ERR_OUT_OF_MEMORY, strfmt("cannot allocate %zu bytes of host memory", bytes));
    return p;
}

void *CpuBackend::alloc(size_t bytes) {
    void *p = alloc_scratch(bytes);
    // A large calloc is lazily mapped: touch every page of the KV pool now, so it is resident from the
    // start (RSS tells the truth at load; llama.cpp clears its cache likewise). The scratch is left to
    // the steps: its rows for a full batch (27 MiB for SmolLM2 at 512) become resident only once a
    // step that large runs, as llama.cpp's compute buffer does.
    volatile char *touch = static_cast<volatile char *>(p);
    for (size_t i = 0; i < bytes; i += 4096) touch[i] = 0;
    return p;
}

void CpuBackend::release(void *p) { std::free(p); }

void CpuBackend::embed(const Weight &table, const StepRows &rows, float *out) {
    for (int i = 0; i < rows.n_rows; ++i) {
        const uint8_t *row = static_cast<const uint8_t *>(table.data) + (size_t)rows.token[i] * table.row_bytes;
        cpu::dequantize_row(table.type_id, row, out + (int64_t)i * table.cols, table.cols);
    }
}

void CpuBackend::rms_norm(const float *x, const float *w, float *out, int n_rows, int dim, float eps) {
    cpu::rms_norm(pool_, x, w, out, n_rows, dim, eps);
}

void CpuBackend::matmul(const Weight &w, const F32View &x, const F32View &y, const float *bias) {
    cpu::matmul(pool_, w, x, y, bias);
}

void CpuBackend::matmul_many(const MatmulOut *outs, int n_outs, const F32View &x) {
    // Runs of one weight type share a conversion of x (Q4_K_M files mix types within a layer).
    for (int i = 0; i < n_outs;) {
        int j = i + 1;
        while (j < n_outs && outs[j].w.type_id == outs[i].w.type_id) ++j;
        cpu::matmul_many(pool_, outs + i, j - i, x);
        i = j;
    }
}

void CpuBackend::rope(const F32View &x, int n_heads, int head_dim, const StepRows &rows, const RopeParams &p) {
    cpu::rope(pool_, x, n_heads, head_dim, rows.pos, p);
}

void CpuBackend::attention(const F32View &q, const F32View &k, const F32View &v, const StepRows &rows, KvLayer &cache,
                           const AttentionShape &s, const F32View &out) {
    cpu::attention(pool_, q, k, v, rows, cache, s, out);
}

void CpuBackend::swiglu(const float *gate, const float *up, float *out, int64_t n) { cpu::swiglu(pool_, gate, up, out, n); }

void CpuBackend::geglu(const float *gate, const float *up, float *out, int64_t n) { cpu::geglu(pool_, gate, up, out, n); }

void CpuBackend::scale(float *x, float s, int64_t n) { cpu::scale(pool_, x, s, n); }

void CpuBackend::add(float *x, const float *y, int64_t n) { cpu::add(pool_, x, y, n); }

void CpuBackend::gather_rows(const F32View &src, const int32_t *idx, int n, const F32View &dst) {
    cpu::gather_rows(pool_, src, idx, n, dst);
}

void CpuBackend::to_host(const float *src, float *dst_host, size_t n) { std::memcpy(dst_host, src, n * sizeof(float)); }

void CpuBackend::from_host(void *dst, const void *src_host, size_t bytes) { std::memcpy(dst, src_host, bytes); }

}  // namespace wc
