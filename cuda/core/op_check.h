// op_check.h — measuring a backend's ops against the CPU backend's (their twins) on random inputs.
#pragma once

#include <string>

#include "core/backend.h"

namespace wc {

// Runs every op (matmul and embed for every weight type of the CPU kernel table, matmul for one
// token and for tiles of tokens, rms_norm, rope in both layouts, swiglu, add, prefill and decode
// attention) on `ref` and on `dut` with the same inputs. Returns {"ops": [{"op", "shape", "n", "max_abs", "ref_max_abs", "rel", "finite"}]}.
// Both backends must be fresh: the weights of the check take their one reserve().
std::string check_ops(Backend &ref, Backend &dut);

}  // namespace wc
