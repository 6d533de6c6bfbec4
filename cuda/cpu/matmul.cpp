// matmul.cpp — y = W x (+ bias) over quantized weights read in place.
//
// Two phases, each spread over the pool: (1) convert every activation row to the weight type's
// dot type (8-bit blocks for Q4_0/Q4_1/Q8_0, f16/bf16 for half weights); (2) dot products.
// One row splits the weight rows evenly across threads; many rows walk the weights in chunks of
// kRowChunk rows, handed out through an atomic counter, and reuse each chunk for every activation
// row while it is hot in L1. Either way each output is one call of the same dot kernel followed by
// the bias add, so a row's result does not depend on how many rows the step has.
#include <atomic>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "cpu/ops.h"
#include "cpu/vec_dot.h"

namespace wc::cpu {

namespace {

constexpr int64_t kRowChunk = 16;

// Bytes of one activation row of `cols` values in the dot type of `type`.
size_t dot_row_bytes(TensorType type, int64_t cols) {
    switch (type) {
        case TensorType::Q4_0:
        case TensorType::Q8_0: return (size_t)(cols / QK8_0) * sizeof(block_q8_0);
        case TensorType::Q4_1: return (size_t)(cols / QK8_1) * sizeof(block_q8_1);
        case TensorType::F16:
        case TensorType::BF16: return (size_t)cols * 2;
        case TensorType::F32: return (size_t)cols * 4;
        default:
            fail(WC_ERR_UNSUPPORTED, strfmt("matmul over %s weights is not supported (supported: %s)",
                                            type_traits((uint32_t)type).name, computable_type_names()));
    }
}

void convert_row(const VecDotKernels &k, TensorType type, const float *x, void *out, int64_t cols) {
    switch (type) {
        case TensorType::Q4_0:
        case TensorType::Q8_0: k.quantize_q8_0(x, static_cast<block_q8_0 *>(out), cols); break;
        case TensorType::Q4_1: k.quantize_q8_1(x, static_cast<block_q8_1 *>(out), cols); break;
        case TensorType::F16: {
            uint16_t *o = static_cast<uint16_t *>(out);
            for (int64_t c = 0; c < cols; ++c) o[c] = f32_to_f16(x[c]);
            break;
        }
        case TensorType::BF16: {
            uint16_t *o = static_cast<uint16_t *>(out);
            for (int64_t c = 0; c < cols; ++c) o[c] = f32_to_bf16(x[c]);
            break;
        }
        default: {
            float *o = static_cast<float *>(out);
            for (int64_t c = 0; c < cols; ++c) o[c] = x[c];
        }
    }
}

inline float dot(const VecDotKernels &k, TensorType type, const void *w, const void *x, int64_t cols) {
    switch (type) {
        case TensorType::Q4_0: return k.dot_q4_0(static_cast<const block_q4_0 *>(w), static_cast<const block_q8_0 *>(x), cols);
        case TensorType::Q4_1: return k.dot_q4_1(static_cast<const block_q4_1 *>(w), static_cast<const block_q8_1 *>(x), cols);
        case TensorType::Q8_0: return k.dot_q8_0(static_cast<const block_q8_0 *>(w), static_cast<const block_q8_0 *>(x), cols);
        case TensorType::F16: return k.dot_f16(static_cast<const uint16_t *>(w), static_cast<const uint16_t *>(x), cols);
        case TensorType::BF16: return k.dot_bf16(static_cast<const uint16_t *>(w), static_cast<const uint16_t *>(x), cols);
        default: return k.dot_f32(static_cast<const float *>(w), static_cast<const float *>(x), cols);
    }
}

}  // namespace

void matmul(ThreadPool &pool, const Weight &w, const F32View &x, const F32View &y, const float *bias) {
    const VecDotKernels &k = vec_dot_kernels();
    const TensorType type = (TensorType)w.type_id;
    const int64_t rows = w.rows, cols = w.cols;
    const int64_t n = x.rows;
    if (x.cols != cols || y.cols != rows || y.rows != n) {
        fail(WC_ERR_INTERNAL, strfmt("matmul shapes: W [%lld x %lld], x [%lld x %lld], y [%lld x %lld]", (long long)rows,
                                     (long long)cols, (long long)x.rows, (long long)x.cols, (long long)y.rows, (long long)y.cols));
    }
    const size_t xrow = dot_row_bytes(type, cols);

    // Per calling thread, so two contexts evaluating on different threads never share it.
    thread_local std::vector<uint8_t> xq;
    if (xq.size() < xrow * (size_t)n) xq.resize(xrow * (size_t)n);
    uint8_t *xqp = xq.data();

    pool.run_if(n >= 4 * pool.size(), [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n, ith, nth, b, e);
        for (int64_t t = b; t < e; ++t) convert_row(k, type, x.row(t), xqp + t * xrow, cols);
    });

    const uint8_t *wp = static_cast<const uint8_t *>(w.data);
    auto out = [&](int64_t t, int64_t r) {
        const float d = dot(k, type, wp + r * w.row_bytes, xqp + t * xrow, cols);
        y.row(t)[r] = bias ? d + bias[r] : d;
    };
    if (n == 1) {
        pool.run([&](int ith, int nth) {
            int64_t b, e;
            ThreadPool::split(rows, ith, nth, b, e);
            for (int64_t r = b; r < e; ++r) out(0, r);
        });
        return;
    }
    std::atomic<int64_t> next{0};
    const int64_t n_chunks = (rows + kRowChunk - 1) / kRowChunk;
    pool.run([&](int, int) {
        for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < n_chunks;) {
            const int64_t r0 = c * kRowChunk, r1 = std::min(rows, r0 + kRowChunk);
            for (int64_t t = 0; t < n; ++t) {
                for (int64_t r = r0; r < r1; ++r) out(t, r);
            }
        }
    });
}

}  // namespace wc::cpu
