// dequantize.cpp — expands one row of a stored tensor to f32 (embedding lookups, norm vectors,
// tests). Never used to expand whole matrices: matmul reads the blocks in place.
#include "core/error.h"
#include "core/half.h"
#include "cpu/ops.h"

namespace wc::cpu {

void dequantize_row(uint32_t type_id, const void *row, float *out, int64_t n) {
    switch ((TensorType)type_id) {
        case TensorType::F32: {
            const float *x = static_cast<const float *>(row);
            for (int64_t k = 0; k < n; ++k) out[k] = x[k];
            return;
        }
        case TensorType::F16: {
            const uint16_t *x = static_cast<const uint16_t *>(row);
            for (int64_t k = 0; k < n; ++k) out[k] = f16_to_f32(x[k]);
            return;
        }
        case TensorType::BF16: {
            const uint16_t *x = static_cast<const uint16_t *>(row);
            for (int64_t k = 0; k < n; ++k) out[k] = bf16_to_f32(x[k]);
            return;
        }
        case TensorType::Q8_0: {
            const block_q8_0 *b = static_cast<const block_q8_0 *>(row);
            for (int64_t i = 0; i < n / QK8_0; ++i) {
                const float d = f16_to_f32(b[i].d);
                for (int j = 0; j < QK8_0; ++j) out[i * QK8_0 + j] = b[i].qs[j] * d;
            }
            return;
        }
        case TensorType::Q4_0: {
            const block_q4_0 *b = static_cast<const block_q4_0 *>(row);
            for (int64_t i = 0; i < n / QK4_0; ++i) {
                const float d = f16_to_f32(b[i].d);
                for (int j = 0; j < QK4_0 / 2; ++j) {
                    out[i * QK4_0 + j] = ((b[i].qs[j] & 0x0f) - 8) * d;
                    out[i * QK4_0 + j + QK4_0 / 2] = ((b[i].qs[j] >> 4) - 8) * d;
                }
            }
            return;
        }
        case TensorType::Q4_1: {
            const block_q4_1 *b = static_cast<const block_q4_1 *>(row);
            for (int64_t i = 0; i < n / QK4_1; ++i) {
                const float d = f16_to_f32(b[i].d), m = f16_to_f32(b[i].m);
                for (int j = 0; j < QK4_1 / 2; ++j) {
                    out[i * QK4_1 + j] = (b[i].qs[j] & 0x0f) * d + m;
                    out[i * QK4_1 + j + QK4_1 / 2] = (b[i].qs[j] >> 4) * d + m;
                }
            }
            return;
        }
        default:
            fail(WC_ERR_UNSUPPORTED, strfmt("tensor type %s cannot be read (supported: %s)", type_traits(type_id).name,
                                            computable_type_names()));
    }
}

}  // namespace wc::cpu
