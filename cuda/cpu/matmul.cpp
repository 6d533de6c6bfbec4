// matmul.cpp — y = W x (+ bias) over quantized weights read in place, one matrix or several
// over the same x (matmul_many: one conversion of x, one pass over the pool).
//
// Two phases, each spread over the pool: (1) convert every activation row to the weight type's
// dot type (type_kernels.h); (2) dot products.
// Each thread takes its share of the weight rows in chunks of kRowChunk rows (and, done early,
// chunks of the others' shares) and multiplies each weight row with tiles of up to kDotTileRows activation rows, decoding
// it once per tile — or, where the type has a grid kernel, a group of weight rows (4 to 16 by type
// and ISA, GridKernel) with two tiles at once, each block loaded once for the whole grid. Each
// output is bit for bit the
// one-row dot kernel's result followed by the bias add (type_kernels.h), so a row's result does not
// depend on how many rows the step has or which tile it fell in.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "cpu/ops.h"
#include "cpu/type_kernels.h"

namespace wc::cpu {

namespace {

constexpr int64_t kRowChunk = 16;

// Tiles (of kDotTileRows activation rows) from which a grid's repacked form is used.
constexpr int64_t kRepackMinTiles = 4;

// The one-row path (a decode step's rows, leftovers of a grid) reads each weight row once, in
// order; the hardware prefetchers alone leave it waiting on memory (rows of a few hundred bytes,
// a block's scale loaded first). Fetching the bytes kRowPrefetchBytes ahead while a row runs:
// 1-thread decode +15-25 % (Q4_1, F16, Gemma 3 Q4_K_M on a Zen 3 host; 4 KiB beat 1, 2 and 8 KiB).
constexpr size_t kRowPrefetchBytes = 4096;

// The cache lines of [at, at + bytes) shifted kRowPrefetchBytes ahead, within the matrix.
inline void prefetch_ahead(const uint8_t *w, size_t at, size_t bytes, size_t end) {
    const size_t from = at + kRowPrefetchBytes, to = std::min(from + bytes, end);
    for (size_t b = from; b < to; b += 64) __builtin_prefetch(w + b);
}
// One thread's range of weight rows and how far it has been claimed (a cache line of its own).
struct alignas(64) RowClaim {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
};

const TypeKernels &kernels_of(uint32_t type_id) {
    const TypeKernels *k = kernel_table().find(type_id);
    if (!k) {
        fail(WC_ERR_UNSUPPORTED, strfmt("matmul over %s weights is not supported (supported: %s)", type_traits(type_id).name,
                                        computable_type_names()));
    }
    return *k;
}

// n floats from src to dst: the grid sizes as fixed-size copies (a call to memmove per output
// row cost more than the copy).
inline void copy_run(const float *src, int n, float *dst) {
    switch (n) {
        case 2: std::memcpy(dst, src, 2 * sizeof(float)); break;
        case 3: std::memcpy(dst, src, 3 * sizeof(float)); break;
        case 4: std::memcpy(dst, src, 4 * sizeof(float)); break;
        case 6: std::memcpy(dst, src, 6 * sizeof(float)); break;
        case 8: std::memcpy(dst, src, 8 * sizeof(float)); break;
        case 16: std::memcpy(dst, src, 16 * sizeof(float)); break;
        default: std::memcpy(dst, src, (size_t)n * sizeof(float)); break;
    }
}

}  // namespace

void matmul(ThreadPool &pool, const Weight &w, const F32View &x, const F32View &y, const float *bias) {
    const MatmulOut out{w, y, bias};
    matmul_many(pool, &out, 1, x);
}

void matmul_many(ThreadPool &pool, const MatmulOut *outs, int n_outs, const F32View &x) {
    if (n_outs <= 0) return;
    const TypeKernels &k = kernels_of(outs[0].w.type_id);
    const int64_t cols = x.cols;
    const int64_t n = x.rows;
    for (int o = 0; o < n_outs; ++o) {
        const Weight &w = outs[o].w;
        const F32View &y = outs[o].y;
        if (w.type_id != outs[0].w.type_id || w.cols != cols || y.cols != w.rows || y.rows != n) {
            fail(WC_ERR_INTERNAL, strfmt("matmul shapes: W [%lld x %lld] (%s), x [%lld x %lld], y [%lld x %lld]", (long long)w.rows,
                                         (long long)w.cols, type_traits(w.type_id).name, (long long)x.rows, (long long)x.cols,
                                         (long long)y.rows, (long long)y.cols));
        }
    }
    const size_t xrow = dot_row_bytes(k, cols);

    // Per calling thread, so two contexts evaluating on different threads never share them.
    thread_local std::vector<uint8_t> xq;
    thread_local std::vector<float> xscales;
    thread_local std::vector<DotTile> xtiles;
    if (xq.size() < xrow * (size_t)n) xq.resize(xrow * (size_t)n);
    const int64_t nb = k.widen_scales ? cols / k.scale_block : 0;  // widened scales per row
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
        for (int64_t t = b; t < e; ++t) k.quantize_row(x.row(t), xqp + t * xrow, cols);
    });
    for (int64_t i = 0; i < n_tiles; ++i) {
        DotTile &t = tiles[i];
        t.n = (int)std::min<int64_t>(kDotTileRows, n - i * kDotTileRows);
        for (int j = 0; j < t.n; ++j) t.q[j] = xqp + (i * kDotTileRows + j) * xrow;
        t.d = t.s = nullptr;
        if (nb) {
            // d[b * kDotTileRows + j] (and s) of row j; rows past t.n stay 0.
            float *d = scales + 2 * tile_scales * i;
            float *sc = k.scale_sums ? d + tile_scales : nullptr;
            std::fill(d, d + tile_scales, 0.0f);
            if (sc) std::fill(sc, sc + tile_scales, 0.0f);
            for (int j = 0; j < t.n; ++j) k.widen_scales(t.q[j], cols, j, d, sc);
            t.d = d;
            t.s = sc;
        }
    }

    const DotRowsFn rows_dot = k.rows;
    const GridKernel grid = k.grid;
    // Output (r, tile i's rows) for weight row r of product o.
    auto tile = [&](const MatmulOut &o, int64_t r, int64_t i) {
        float out[kDotTileRows];
        rows_dot(static_cast<const uint8_t *>(o.w.data) + r * o.w.row_bytes, tiles[i], cols, out);
        for (int j = 0; j < tiles[i].n; ++j) o.y.row(i * kDotTileRows + j)[r] = o.bias ? out[j] + o.bias[r] : out[j];
    };
    // Outputs of product o's weight rows [r0, r1) for tiles i, i + 1, ...: with a grid kernel, its
    // weight rows times two tiles (or one) at a time, the leftovers row by row.
    auto gridded = [&](int64_t i) { return grid.fn && (tiles[i].n == kDotTileRows || grid.partial_tiles); };
    // A grid that reads widened weights gets the chunk's rows widened once, for all its tiles.
    const bool widened = grid.widen && n_tiles > 0 && gridded(0);
    // One with a repacked form gets the chunk's whole groups repacked once, when enough tiles
    // share them to pay for it (a decode step's one tile reads the weights in place).
    const bool repacked = grid.repacked.fn && n_tiles >= kRepackMinTiles && gridded(0);
    const DotGridFn grid_fn = repacked ? grid.repacked.fn : grid.fn;
    auto chunk = [&](const MatmulOut &o, int64_t r0, int64_t r1) {
        const uint8_t *wp = static_cast<const uint8_t *>(o.w.data);
        const size_t row_bytes = o.w.row_bytes;
        const float *bias = o.bias;
        const size_t wend = (size_t)o.w.rows * row_bytes;
        // Where the grid reads weight row r: at gw + (r - r0) * grid_row_bytes.
        const uint8_t *gw = wp + r0 * row_bytes;
        size_t grid_row_bytes = row_bytes;
        if (widened) {
            thread_local std::vector<float> panel;
            if (panel.size() < (size_t)((r1 - r0) * cols)) panel.resize((size_t)((r1 - r0) * cols));
            for (int64_t r = r0; r < r1; ++r) grid.widen(wp + r * row_bytes, panel.data() + (r - r0) * cols, cols);
            gw = reinterpret_cast<const uint8_t *>(panel.data());
            grid_row_bytes = (size_t)cols * sizeof(float);
        } else if (repacked) {
            grid_row_bytes = grid.repacked.row_bytes(cols);
            thread_local std::vector<CacheLine> packed;  // aligned: the repacked forms hold vectors
            const size_t lines = ((size_t)(r1 - r0) * grid_row_bytes + 63) / 64;
            if (packed.size() < lines) packed.resize(lines);
            uint8_t *pp = packed.data()->bytes;
            for (int64_t g = r0; g + grid.weight_rows <= r1; g += grid.weight_rows) {
                grid.repacked.repack(wp + g * row_bytes, row_bytes, cols, pp + (g - r0) * grid_row_bytes);
            }
            gw = pp;
        }
        for (int64_t i = 0; i < n_tiles;) {
            if (!gridded(i)) {
                for (int64_t r = r0; r < r1; ++r) {
                    if (i == 0) prefetch_ahead(wp, r * row_bytes, row_bytes, wend);
                    tile(o, r, i);
                }
                ++i;
                continue;
            }
            const int nt = tiles[i].n == kDotTileRows && i + 1 < n_tiles && gridded(i + 1) ? 2 : 1;
            const int rows_x = (nt - 1) * kDotTileRows + tiles[i + nt - 1].n;
            // The output lines the next tiles will write, fetched for writing while these run: the
            // chunk's outputs are one cache line per activation row, each row's last written a
            // chunk ago, so without this every grid call waited on its stores' misses (Gemma 3
            // pp512, 1 thread: 9.6 % of the samples in this loop, 3 % with it).
            const int64_t next = (i + nt) * kDotTileRows, next_end = std::min<int64_t>(n, next + 2 * kDotTileRows);
            for (int64_t j = next; j < next_end; ++j) {
                __builtin_prefetch(o.y.row(j) + r0, 1);
                __builtin_prefetch(o.y.row(j) + r1 - 1, 1);
            }
            int64_t r = r0;
            for (; r + grid.weight_rows <= r1; r += grid.weight_rows) {
                float g[kGridOutFloats];
                grid_fn(gw + (r - r0) * grid_row_bytes, grid_row_bytes, tiles + i, nt, cols, g);
                for (int j = 0; j < rows_x; ++j) {
                    float *yr = o.y.row(i * kDotTileRows + j) + r;
                    const float *gj = g + grid_out(0, j);
                    if (bias) {
                        for (int a = 0; a < grid.weight_rows; ++a) yr[a] = gj[a] + bias[r + a];
                    } else {
                        copy_run(gj, grid.weight_rows, yr);
                    }
                }
            }
            for (; r < r1; ++r) {
                for (int t = 0; t < nt; ++t) tile(o, r, i + t);
            }
            i += nt;
        }
    };

    // Each thread owns a contiguous range of every product's weight rows (streaming them in order
    // keeps the hardware prefetchers fed) and claims it chunk by chunk, in chunks small enough to
    // stay in L1 across the tiles; a thread done with its ranges goes on claiming chunks of the
    // others'. On a quiet machine every thread claims only its own (a counter on a cache line of
    // its own: no sharing); on a busy host a preempted thread's rows are taken over instead of
    // waited for. Which thread computes a row never changes the row's result, and neither does
    // which products share the pass.
    // A whole number of grids per chunk (15 rows for 3-row grids): leftover rows only at the end of a
    // thread's range (they take the slower one-row form).
    const int64_t chunk_rows = grid.fn ? std::max<int64_t>(1, kRowChunk / grid.weight_rows) * grid.weight_rows : kRowChunk;
    const int nth = pool.size();
    const size_t n_claims = (size_t)nth * n_outs;  // claim [o * nth + t]: thread t's share of product o
    thread_local std::vector<RowClaim> claims;
    if (claims.size() < n_claims) claims = std::vector<RowClaim>(n_claims);
    RowClaim *cl = claims.data();
    for (int o = 0; o < n_outs; ++o) {
        for (int t = 0; t < nth; ++t) {
            int64_t b, e;
            ThreadPool::split(outs[o].w.rows, t, nth, b, e);
            cl[o * nth + t].next.store(b, std::memory_order_relaxed);
            cl[o * nth + t].end = e;
        }
    }
    pool.run([&](int ith, int nt) {
        for (int k = 0; k < nt; ++k) {
            const int t = (ith + k) % nt;
            for (int o = 0; o < n_outs; ++o) {
                RowClaim &c = cl[o * nt + t];
                for (;;) {
                    const int64_t r0 = c.next.fetch_add(chunk_rows, std::memory_order_relaxed);
                    if (r0 >= c.end) break;
                    chunk(outs[o], r0, std::min(c.end, r0 + chunk_rows));
                }
            }
        }
    });
}

}  // namespace wc::cpu
