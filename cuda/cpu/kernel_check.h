// kernel_check.h — measuring one weight type's CPU kernels on random blocks: every kernel table
// this CPU can run against the reference table, the tile form against the one-row dot, and the
// dot against an f64 dot of the dequantized operands (wc_cpu_kernel_check). Tests hold the bounds.
#pragma once

#include <cstdint>
#include <string>

namespace wc::cpu {

// JSON: {"type", "isas": [...], "cols", "pairs", "dot_mismatches", "tile_mismatches",
// "quantize_mismatches", "max_rel_err" (|dot - f64 dot| / sum |w x|, over the pairs, reference
// table), "row_hex" (weight row 0's bytes), "row_values" (its dequantized values)}.
std::string check_type_kernels(uint32_t type_id, uint64_t seed);

}  // namespace wc::cpu
