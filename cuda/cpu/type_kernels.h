// type_kernels.h — the CPU backend's traits table: per computable weight type, everything the
// backend needs to compute with it, for one instruction-set variant.
//
// Activations are brought to the "dot type" of each weight type before the product, as llama.cpp
// pairs them (its `vec_dot_type`): Q4_0/Q5_0/Q8_0 -> Q8_0, Q4_1/Q5_1 -> Q8_1, the K-quants -> Q8_K,
// F16 -> F16, BF16 -> BF16, F32 -> F32. Integer dot products are exact, so this is both the fast
// path and the way to stay on llama.cpp's numbers. One table per variant (ref / avx2 / avx512);
// `kernel_table()` picks the widest the CPU has, once. Nothing outside the table switches on a
// type id: adding a type is one entry in each table plus its kernels (cuda/cpu/types/).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor_types.h"

namespace wc {

// Most activation rows one rows kernel takes.
constexpr int kDotTileRows = 4;

// A tile of 1 .. kDotTileRows activation rows in the weight type's dot type. For Q8_0/Q8_1 rows
// the f16 block scales come widened to float (exactly the values the one-row kernels widen per
// block) and interleaved by block, d[b * kDotTileRows + j] for row j (and s likewise for Q8_1),
// so a kernel reads the scales of all the tile's rows at once; entries of rows past n are 0.
// For Q4_0 s holds int32s (bit patterns in the float array): -8 times each block's quant sum,
// where its grids start each block's integer sum. Float rows and Q8_K rows (whose scale is
// already f32) leave d and s null.
struct DotTile {
    int n;
    const void *q[kDotTileRows];
    const float *d;
    const float *s;
};

// sum over n weights of w[k] * x[k]; n is a multiple of the weight type's block size.
using DotFn = float (*)(const void *w, const void *x, int64_t n);

// out[j] = dot(w, x.q[j]) for j < x.n. The weight row is read and decoded once for the tile, and
// each out[j] is bit for bit what the one-row kernel returns for x.q[j]: a row's result never
// depends on the rows beside it.
using DotRowsFn = void (*)(const void *w, const DotTile &x, int64_t n, float *out);

// out[grid_out(i, t * kDotTileRows + j)] = dot(weight row i, x[t].q[j]) for the
// GridKernel::weight_rows rows starting at w (row i at w + i * row_bytes) and n_tiles (1 or 2)
// tiles, all full but, where the kernel takes partial tiles, the last. The register-blocked form
// of `rows`: each activation block is loaded once for all the weight rows and each weight block
// decoded once for all the activation rows, and every output is still bit for bit the one-row
// kernel's.
using DotGridFn = void (*)(const void *w, size_t row_bytes, const DotTile *x, int n_tiles, int64_t n, float *out);

// Most weight rows a grid kernel takes.
constexpr int kGridMaxWeightRows = 16;

// Where a grid kernel puts weight row i's output for activation row j (0 .. 2 * kDotTileRows):
// an activation row's outputs side by side, as they go into the output row.
constexpr int grid_out(int i, int j) { return j * kGridMaxWeightRows + i; }
constexpr int kGridOutFloats = 2 * kDotTileRows * kGridMaxWeightRows;

// One weight row of n values to f32, exactly (a float type's values widened).
using WidenRowFn = void (*)(const void *w, float *out, int64_t n);

// The weight_rows rows from w (row i at w + i * row_bytes, n values each) into a grid's own layout at out.
using RepackGroupFn = void (*)(const uint8_t *w, size_t row_bytes, int64_t n, uint8_t *out);

// A buffer unit for repacked weights: 64-byte aligned, so the repacked forms may hold vectors.
struct CacheLine {
    alignas(64) uint8_t bytes[64];
};

// A grid over weights repacked into its own layout: a caller repacks each group of weight_rows
// rows of a chunk once (into weight_rows * row_bytes(n) bytes, a multiple of 32, in a buffer of
// CacheLines) and runs every tile over them with fn (row_bytes = row_bytes(n)), where the in-place
// grid redoes that work for every tile. The outputs are the same bits.
struct RepackedGrid {
    RepackGroupFn repack = nullptr;
    size_t (*row_bytes)(int64_t n) = nullptr;
    DotGridFn fn = nullptr;
};

struct GridKernel {
    DotGridFn fn = nullptr;      // null: `rows` is all the type has
    int weight_rows = 0;         // weight rows per call, at most kGridMaxWeightRows
    bool partial_tiles = false;  // the last tile may have fewer than kDotTileRows rows
    // Non-null: fn reads its weight rows widened to f32 by this (row_bytes = 4 n), so a caller
    // widens a group of rows once and runs every tile over it. The outputs are the same bits.
    WidenRowFn widen = nullptr;
    // Where set, the grid's form for many tiles (see RepackedGrid).
    RepackedGrid repacked = {};
};

// Activation row of n floats -> n values in the dot type.
using QuantizeRowFn = void (*)(const float *x, void *y, int64_t n);

// Row j of a tile: its widened scales into d[b * kDotTileRows + j] (and s) for each block b of n values.
using WidenScalesFn = void (*)(const void *row, int64_t n, int j, float *d, float *s);

// One weight row of n values (a multiple of the block size) to f32.
using DequantizeRowFn = void (*)(const void *w, float *out, int64_t n);

// n_blocks valid blocks of the type (values for float types) with realistic magnitudes
// (|w| ~ 0.05), the same bytes for the same seed on every host.
using RandomBlocksFn = void (*)(void *out, int64_t n_blocks, uint64_t seed);

struct TypeKernels {
    TensorType type;                // the weight type
    TensorType dot_type;            // the activation type its dot products take
    QuantizeRowFn quantize_row;     // f32 activations -> dot_type
    DotFn dot;                      // one weight row x one activation row
    DotRowsFn rows;                 // one weight row x a tile of activation rows
    WidenScalesFn widen_scales;     // null when `rows` reads no widened scales
    int64_t scale_block;            // values per widened scale (0 when none)
    bool scale_sums;                // `rows` reads DotTile::s too
    DequantizeRowFn dequantize_row; // ISA-independent
    RandomBlocksFn random_blocks;   // ISA-independent
    DequantizeRowFn dequantize_activation;  // a dot_type row back to f32 (tests: the f64 twin of the dot)
    GridKernel grid = {};           // weight rows x tiles, where the type has it
};

struct KernelTable {
    const char *isa;  // "avx512", "avx2" or "scalar"
    const TypeKernels *types;
    size_t n_types;
    // The entry of a GGUF type id; nullptr for a type the CPU backend cannot compute with.
    const TypeKernels *find(uint32_t type_id) const;
};

// Bytes of one activation row of `cols` values in the dot type of `k`.
size_t dot_row_bytes(const TypeKernels &k, int64_t cols);

// Plain-loop reference twins: the definition of every kernel, used by tests and on non-x86 hosts.
const KernelTable &kernel_table_ref();
// nullptr when not compiled for this target.
const KernelTable *kernel_table_avx2();
const KernelTable *kernel_table_avx512();
// The best variant this CPU supports (checked at run time); WC_ISA=avx2|scalar forces a lower one.
const KernelTable &kernel_table();

}  // namespace wc
