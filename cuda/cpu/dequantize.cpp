// dequantize.cpp — expands one row of a stored tensor to f32 (embedding lookups, norm vectors,
// tests) through the type's entry in the kernel table. Never used to expand whole matrices:
// matmul reads the blocks in place.
#include "core/error.h"
#include "cpu/ops.h"
#include "cpu/type_kernels.h"

namespace wc::cpu {

void dequantize_row(uint32_t type_id, const void *row, float *out, int64_t n) {
    const TypeKernels *k = kernel_table_ref().find(type_id);  // dequantizers are the same in every table
    if (!k) {
        fail(WC_ERR_UNSUPPORTED, strfmt("tensor type %s cannot be read (supported: %s)", type_traits(type_id).name,
                                        computable_type_names()));
    }
    k->dequantize_row(row, out, n);
}

}  // namespace wc::cpu
