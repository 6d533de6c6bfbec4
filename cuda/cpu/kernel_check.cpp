// kernel_check.cpp — see kernel_check.h. Activation rows cover the shapes that break kernels: a
// plain normal row, one with a single large outlier (one block dominates its scale), one with
// alternating signs and a wide spread of magnitudes, and an all-zero row.
#include "cpu/kernel_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "cpu/type_kernels.h"
#include "cpu/types/block_rng.h"

namespace wc::cpu {

namespace {

constexpr int64_t kCols = 768;  // three 256-weight super-blocks, 24 blocks of 32
constexpr int kWeightRows = 20;  // room for a 16-row grid at two offsets
constexpr int kActivationRows = 8;  // two full tiles for the grid kernels

std::vector<std::vector<float>> activation_rows(uint64_t seed) {
    BlockRng rng(seed ^ 0xac71a7105ULL);
    std::vector<std::vector<float>> rows(kActivationRows, std::vector<float>(kCols));
    for (float &v : rows[0]) v = rng.normal(1.0f);
    for (float &v : rows[1]) v = rng.normal(0.1f);
    rows[1][300] = 40.0f;
    for (int64_t k = 0; k < kCols; ++k) rows[2][k] = (k % 2 ? -1.0f : 1.0f) * std::exp(rng.uniform(-6.0f, 3.0f));
    for (float &v : rows[4]) v = rng.normal(3.0f);
    for (float &v : rows[5]) v = rng.normal(0.01f);
    for (int64_t k = 0; k < kCols; ++k) rows[6][k] = -rows[0][kCols - 1 - k];
    for (float &v : rows[7]) v = rng.uniform(-2.0f, 0.5f);
    return rows;  // rows[3] stays zero
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

std::string check_type_kernels(uint32_t type_id, uint64_t seed) {
    const TypeTraits &tt = type_traits(type_id);
    const KernelTable &ref = kernel_table_ref();
    const TypeKernels *rk = ref.find(type_id);
    if (!rk) fail(WC_ERR_UNSUPPORTED, strfmt("kernel check: %s is not computable (supported: %s)", tt.name, computable_type_names()));
    std::vector<const KernelTable *> tables = {&ref};
    if (kernel_table_avx2()) tables.push_back(kernel_table_avx2());
    // The AVX-512 table only where the CPU has it: kernel_table() is it then, unless WC_ISA narrows.
    if (kernel_table_avx512() && &kernel_table() == kernel_table_avx512()) tables.push_back(kernel_table_avx512());

    const size_t row_bytes = (size_t)(kCols / tt.block_size) * tt.block_bytes;
    std::vector<uint8_t> w(row_bytes * kWeightRows);
    rk->random_blocks(w.data(), kCols / tt.block_size * kWeightRows, seed);
    const std::vector<std::vector<float>> xs = activation_rows(seed);
    const size_t xrow = dot_row_bytes(*rk, kCols);

    // Reference: quantized activations and their dequantized values, dequantized weights, dots.
    std::vector<std::vector<uint8_t>> xq_ref(kActivationRows, std::vector<uint8_t>(xrow));
    std::vector<std::vector<float>> xd(kActivationRows, std::vector<float>(kCols)), wd(kWeightRows, std::vector<float>(kCols));
    for (int j = 0; j < kActivationRows; ++j) {
        rk->quantize_row(xs[j].data(), xq_ref[j].data(), kCols);
        rk->dequantize_activation(xq_ref[j].data(), xd[j].data(), kCols);
    }
    for (int r = 0; r < kWeightRows; ++r) rk->dequantize_row(w.data() + r * row_bytes, wd[r].data(), kCols);
    std::vector<float> dot_ref(kWeightRows * kActivationRows);
    double max_rel = 0;
    for (int r = 0; r < kWeightRows; ++r) {
        for (int j = 0; j < kActivationRows; ++j) {
            const float got = rk->dot(w.data() + r * row_bytes, xq_ref[j].data(), kCols);
            dot_ref[r * kActivationRows + j] = got;
            double exact = 0, scale = 0;
            for (int64_t k = 0; k < kCols; ++k) {
                exact += (double)wd[r][k] * xd[j][k];
                scale += std::fabs((double)wd[r][k] * xd[j][k]);
            }
            const double err = std::fabs(got - exact);
            if (scale > 0) max_rel = std::max(max_rel, err / scale);
            else if (err > 0) max_rel = INFINITY;
        }
    }

    int dot_mismatches = 0, tile_mismatches = 0, quantize_mismatches = 0, grid_mismatches = 0, grid_checks = 0;
    std::string isas;
    std::vector<float> d_scales, s_scales;
    for (const KernelTable *t : tables) {
        isas += strfmt("%s\"%s\"", isas.empty() ? "" : ",", t->isa);
        const TypeKernels &k = *t->find(type_id);
        std::vector<std::vector<uint8_t>> xq(kActivationRows, std::vector<uint8_t>(xrow));
        for (int j = 0; j < kActivationRows; ++j) {
            k.quantize_row(xs[j].data(), xq[j].data(), kCols);
            quantize_mismatches += xq[j] != xq_ref[j];
        }
        for (int r = 0; r < kWeightRows; ++r) {
            const uint8_t *wr = w.data() + r * row_bytes;
            float one[kActivationRows];
            for (int j = 0; j < kActivationRows; ++j) {
                one[j] = k.dot(wr, xq[j].data(), kCols);
                dot_mismatches += !same_bits(one[j], dot_ref[r * kActivationRows + j]);
            }
            // Tiles of 1..kDotTileRows rows starting at every activation row that has them.
            for (int n = 1; n <= kDotTileRows; ++n) {
                for (int j0 = 0; j0 + n <= kActivationRows; ++j0) {
                    DotTile tile{};
                    tile.n = n;
                    for (int j = 0; j < n; ++j) tile.q[j] = xq[j0 + j].data();
                    const int64_t nb = k.widen_scales ? kCols / k.scale_block : 0;
                    d_scales.assign((size_t)nb * kDotTileRows, 0.0f);
                    s_scales.assign((size_t)nb * kDotTileRows, 0.0f);
                    if (nb) {
                        for (int j = 0; j < n; ++j) k.widen_scales(tile.q[j], kCols, j, d_scales.data(), s_scales.data());
                        tile.d = d_scales.data();
                        tile.s = k.scale_sums ? s_scales.data() : nullptr;
                    }
                    float out[kDotTileRows];
                    k.rows(wr, tile, kCols, out);
                    for (int j = 0; j < n; ++j) tile_mismatches += !same_bits(out[j], one[j0 + j]);
                }
            }
        }
    }

    // Grid kernels: its weight rows from r0 = 0 and 4 against one tile and against two (rows in
    // three orders; where it takes partial tiles, last tiles of every size), every output against
    // the one-row dot's bits.
    for (const KernelTable *t : tables) {
        const TypeKernels &k = *t->find(type_id);
        if (!k.grid.fn) continue;
        std::vector<std::vector<uint8_t>> xq(kActivationRows, std::vector<uint8_t>(xrow));
        for (int j = 0; j < kActivationRows; ++j) k.quantize_row(xs[j].data(), xq[j].data(), kCols);
        const int64_t nb = k.widen_scales ? kCols / k.scale_block : 0;
        const int orders[3][8] = {{0, 1, 2, 3, 4, 5, 6, 7}, {4, 5, 6, 7, 0, 1, 2, 3}, {7, 3, 5, 1, 6, 0, 4, 2}};
        for (const auto &order : orders) {
            for (int last = k.grid.partial_tiles ? 1 : kDotTileRows; last <= kDotTileRows; ++last) {
                for (int nt = 1; nt <= 2; ++nt) {
                    std::vector<float> d(2 * (size_t)nb * kDotTileRows, 0.0f), sc(2 * (size_t)nb * kDotTileRows, 0.0f);
                    DotTile tiles[2] = {};
                    for (int ti = 0; ti < nt; ++ti) {
                        DotTile &tile = tiles[ti];
                        tile.n = ti == nt - 1 ? last : kDotTileRows;
                        float *td = d.data() + ti * nb * kDotTileRows, *ts = sc.data() + ti * nb * kDotTileRows;
                        for (int j = 0; j < tile.n; ++j) {
                            tile.q[j] = xq[order[ti * kDotTileRows + j]].data();
                            if (nb) k.widen_scales(tile.q[j], kCols, j, td, ts);
                        }
                        tile.d = nb ? td : nullptr;
                        tile.s = nb && k.scale_sums ? ts : nullptr;
                    }
                    const int rows_x = (nt - 1) * kDotTileRows + last;
                    // The in-place form, then the repacked one where the type has it.
                    for (int form = 0; form < (k.grid.repacked.fn ? 2 : 1); ++form) {
                        for (int r0 = 0; r0 + k.grid.weight_rows <= kWeightRows && r0 <= 4; r0 += 4) {
                            float out[kGridOutFloats];
                            if (form == 1) {
                                const size_t rb = k.grid.repacked.row_bytes(kCols);
                                std::vector<CacheLine> packed(((size_t)k.grid.weight_rows * rb + 63) / 64);
                                k.grid.repacked.repack(w.data() + r0 * row_bytes, row_bytes, kCols, packed.data()->bytes);
                                k.grid.repacked.fn(packed.data()->bytes, rb, tiles, nt, kCols, out);
                            } else if (k.grid.widen) {
                                std::vector<float> wide((size_t)k.grid.weight_rows * kCols);
                                for (int i = 0; i < k.grid.weight_rows; ++i) k.grid.widen(w.data() + (r0 + i) * row_bytes, wide.data() + i * kCols, kCols);
                                k.grid.fn(wide.data(), kCols * sizeof(float), tiles, nt, kCols, out);
                            } else {
                                k.grid.fn(w.data() + r0 * row_bytes, row_bytes, tiles, nt, kCols, out);
                            }
                            for (int i = 0; i < k.grid.weight_rows; ++i) {
                                for (int j = 0; j < rows_x; ++j) {
                                    const float want = dot_ref[(r0 + i) * kActivationRows + order[j]];
                                    grid_mismatches += !same_bits(out[grid_out(i, j)], want);
                                    ++grid_checks;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    std::string hex, values;
    for (size_t i = 0; i < row_bytes; ++i) hex += strfmt("%02x", w[i]);
    for (int64_t k = 0; k < kCols; ++k) values += strfmt("%s%.9g", k ? "," : "", wd[0][k]);
    return strfmt("{\"type\":\"%s\",\"isas\":[%s],\"cols\":%lld,\"pairs\":%d,\"dot_mismatches\":%d,\"tile_mismatches\":%d,\"grid_mismatches\":%d,\"grid_checks\":%d,"
                  "\"quantize_mismatches\":%d,\"max_rel_err\":%.9g,\"row_hex\":\"%s\",\"row_values\":[%s]}",
                  tt.name, isas.c_str(), (long long)kCols, kWeightRows * kActivationRows, dot_mismatches, tile_mismatches, grid_mismatches, grid_checks,
                  quantize_mismatches, max_rel, hex.c_str(), values.c_str());
}

}  // namespace wc::cpu
