// matmul.cpp — y = W x (+ bias) over quantized weights read in place.
//
// Two phases, each spread over the pool: (1) convert every activation row to the weight type's
// dot type (8-bit blocks for Q4_0/Q4_1/Q8_0, f16/bf16 for half weights); (2) dot products.
// The weight rows are split evenly across threads; each walks its range in chunks of kRowChunk
// rows and multiplies each weight row with tiles of up to kDotTileRows activation rows, decoding
// it once per tile. Each output is bit for bit the
// one-row dot kernel's result followed by the bias add (vec_dot.h), so a row's result does not
// depend on how many rows the step has or which tile it fell in.
#include <algorithm>
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

// 8-bit activation blocks of a row of `cols` values (whose scales the tiles take widened).
int64_t scaled_blocks(TensorType type, int64_t cols) {
    switch (type) {
        case TensorType::Q4_0:
        case TensorType::Q8_0:
        case TensorType::Q4_1: return cols / QK8_0;
        default: return 0;
    }
}

// The tile's interleaved scales: d[b * kDotTileRows + j] (and s for Q8_1) = block b's f16 scales of
// row j as floats; rows past the tile's n stay 0.
void widen_scales(TensorType type, const uint8_t *const *rows, int n_rows, int64_t nb, float *d, float *s) {
    std::fill(d, d + nb * kDotTileRows, 0.0f);
    if (s) std::fill(s, s + nb * kDotTileRows, 0.0f);
    for (int j = 0; j < n_rows; ++j) {
        if (type == TensorType::Q4_1) {
            const block_q8_1 *q = reinterpret_cast<const block_q8_1 *>(rows[j]);
            for (int64_t b = 0; b < nb; ++b) d[b * kDotTileRows + j] = f16_to_f32(q[b].d), s[b * kDotTileRows + j] = f16_to_f32(q[b].s);
        } else {
            const block_q8_0 *q = reinterpret_cast<const block_q8_0 *>(rows[j]);
            for (int64_t b = 0; b < nb; ++b) d[b * kDotTileRows + j] = f16_to_f32(q[b].d);
        }
    }
}

DotRowsFn rows_kernel(const VecDotKernels &k, TensorType type) {
    switch (type) {
        case TensorType::Q4_0: return k.rows_q4_0;
        case TensorType::Q4_1: return k.rows_q4_1;
        case TensorType::Q8_0: return k.rows_q8_0;
        case TensorType::F16: return k.rows_f16;
        case TensorType::BF16: return k.rows_bf16;
        default: return k.rows_f32;
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

    // Per calling thread, so two contexts evaluating on different threads never share them.
    thread_local std::vector<uint8_t> xq;
    thread_local std::vector<float> xscales;
    thread_local std::vector<DotTile> xtiles;
    if (xq.size() < xrow * (size_t)n) xq.resize(xrow * (size_t)n);
    const int64_t nb = scaled_blocks(type, cols);  // 8-bit blocks per row (0 for float types)
    const int64_t n_tiles = (n + kDotTileRows - 1) / kDotTileRows;
    const size_t tile_scales = (size_t)nb * kDotTileRows;  // floats of d (and of s) per tile
    if (xscales.size() < 2 * tile_scales * n_tiles) xscales.resize(2 * tile_scales * n_tiles);
    if (xtiles.size() < (size_t)n_tiles) xtiles.resize((size_t)n_tiles);
    // Raw pointers: the pool's other threads have thread_local buffers of their own.
    uint8_t *xqp = xq.data();
    float *scales = xscales.data();
    DotTile *tiles = xtiles.data();

    pool.run_if(n >= 4 * pool.size(), [&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(n, ith, nth, b, e);
        for (int64_t t = b; t < e; ++t) convert_row(k, type, x.row(t), xqp + t * xrow, cols);
    });
    for (int64_t i = 0; i < n_tiles; ++i) {
        DotTile &t = tiles[i];
        t.n = (int)std::min<int64_t>(kDotTileRows, n - i * kDotTileRows);
        const uint8_t *rows_q[kDotTileRows] = {};
        for (int j = 0; j < t.n; ++j) t.q[j] = rows_q[j] = xqp + (i * kDotTileRows + j) * xrow;
        t.d = t.s = nullptr;
        if (nb) {
            float *d = scales + 2 * tile_scales * i;
            float *sc = type == TensorType::Q4_1 ? d + tile_scales : nullptr;
            widen_scales(type, rows_q, t.n, nb, d, sc);
            t.d = d;
            t.s = sc;
        }
    }

    const uint8_t *wp = static_cast<const uint8_t *>(w.data);
    const DotRowsFn rows_dot = rows_kernel(k, type);
    // Output (r, tile i's rows) for weight row r.
    auto tile = [&](int64_t r, int64_t i) {
        float o[kDotTileRows];
        rows_dot(wp + r * w.row_bytes, tiles[i], cols, o);
        for (int j = 0; j < tiles[i].n; ++j) y.row(i * kDotTileRows + j)[r] = bias ? o[j] + bias[r] : o[j];
    };
    // Each thread takes a contiguous range of weight rows (streaming them in order keeps the
    // hardware prefetchers fed), in chunks small enough to stay in L1 across the tiles.
    pool.run([&](int ith, int nth) {
        int64_t b, e;
        ThreadPool::split(rows, ith, nth, b, e);
        for (int64_t r0 = b; r0 < e; r0 += kRowChunk) {
            const int64_t r1 = std::min(e, r0 + kRowChunk);
            for (int64_t i = 0; i < n_tiles; ++i) {
                for (int64_t r = r0; r < r1; ++r) tile(r, i);
            }
        }
    });
}

}  // namespace wc::cpu
