// matmul.cpp — y = W x over quantized weights read in place.
//
// Two phases, each spread over the pool: (1) convert every activation row to the weight type's
// dot type (8-bit blocks for Q4_0/Q4_1/Q8_0, f16/bf16 for half weights); (2) dot products.
// Decode (one row) splits the weight rows evenly across threads. Prefill walks the weights in
// chunks of kRowChunk rows, handed out through an atomic counter, and reuses each chunk for
// every activation row while it is hot in L1.
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

void matmul(ThreadPool &pool, const Weight &w, const float *x, int n, float *y) {
    const VecDotKernels &k = vec_dot_kernels();
    const TensorType type = (TensorType)w.type_id;
    const int64_t rows = w.rows, cols = w.cols;
    const size_t xrow = dot_row_bytes(type, cols);

    // Per calling thread, so two sessions evaluating on different threads never share it.
    thread_local std::vector<uint8_t> xq;
    if (xq.size() < xrow * (size_t)n) xq.resize(xrow * (size_t)n);
    uint8_t *xqp = xq.data();

    pool.run_if(n >= 4 * pool.size(), [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n, ith, nth, b, e);
        for (int64_t t = b; t < e; ++t) convert_row(k, type, x + t * cols, xqp + t * xrow, cols);
    });

    const uint8_t *wp = static_cast<const uint8_t *>(w.data);
    if (n == 1) {
        pool.run([&](int ith, int nth) {
            int64_t b, e;
            ThreadPool::split(rows, ith, nth, b, e);
            for (int64_t r = b; r < e; ++r) y[r] = dot(k, type, wp + r * w.row_bytes, xqp, cols);
        });
        return;
    }
    std::atomic<int64_t> next{0};
    const int64_t n_chunks = (rows + kRowChunk - 1) / kRowChunk;
    pool.run([&](int, int) {
        for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < n_chunks;) {
            const int64_t r0 = c * kRowChunk, r1 = std::min(rows, r0 + kRowChunk);
            for (int64_t t = 0; t < n; ++t) {
                const uint8_t *xt = xqp + t * xrow;
                float *yt = y + t * rows;
                for (int64_t r = r0; r < r1; ++r) yt[r] = dot(k, type, wp + r * w.row_bytes, xt, cols);
            }
        }
    });
}

}  // namespace wc::cpu
