// table_ref.cpp — the reference kernel table: plain loops, the definition every SIMD variant
// matches bit for bit. The tile form runs each row through the one-row dot.
#include <iterator>

#include "cpu/type_kernels.h"
#include "cpu/types/types.h"

namespace wc {

namespace {

using namespace cpu;

template <DotFn Dot>
void rows_ref(const void *w, const DotTile &x, int64_t n, float *out) {
    for (int j = 0; j < x.n; ++j) out[j] = Dot(w, x.q[j], n);
}

// No widened scales: the reference tile reads its rows through the one-row dots.
const TypeKernels kTypes[] = {
    {TensorType::F32, TensorType::F32, convert_to_f32, dot_f32_ref, rows_ref<dot_f32_ref>, nullptr, 0, false, dequantize_f32, random_f32, dequantize_f32},
    {TensorType::F16, TensorType::F16, convert_to_f16, dot_f16_ref, rows_ref<dot_f16_ref>, nullptr, 0, false, dequantize_f16, random_f16, dequantize_f16},
    {TensorType::BF16, TensorType::BF16, convert_to_bf16, dot_bf16_ref, rows_ref<dot_bf16_ref>, nullptr, 0, false, dequantize_bf16, random_bf16, dequantize_bf16},
    {TensorType::Q8_0, TensorType::Q8_0, quantize_q8_0_ref, dot_q8_0_ref, rows_ref<dot_q8_0_ref>, nullptr, 0, false, dequantize_q8_0, random_q8_0, dequantize_q8_0},
    {TensorType::Q4_0, TensorType::Q8_0, quantize_q8_0_ref, dot_q4_0_ref, rows_ref<dot_q4_0_ref>, nullptr, 0, false, dequantize_q4_0, random_q4_0, dequantize_q8_0},
    {TensorType::Q4_1, TensorType::Q8_1, quantize_q8_1_ref, dot_q4_1_ref, rows_ref<dot_q4_1_ref>, nullptr, 0, false, dequantize_q4_1, random_q4_1, dequantize_q8_1},
    {TensorType::Q5_0, TensorType::Q8_0, quantize_q8_0_ref, dot_q5_0_ref, rows_ref<dot_q5_0_ref>, nullptr, 0, false, dequantize_q5_0, random_q5_0, dequantize_q8_0},
    {TensorType::Q5_1, TensorType::Q8_1, quantize_q8_1_ref, dot_q5_1_ref, rows_ref<dot_q5_1_ref>, nullptr, 0, false, dequantize_q5_1, random_q5_1, dequantize_q8_1},
    {TensorType::Q2_K, TensorType::Q8_K, quantize_q8_K, dot_q2_k_ref, rows_ref<dot_q2_k_ref>, nullptr, 0, false, dequantize_q2_k, random_q2_k, dequantize_q8_K},
    {TensorType::Q3_K, TensorType::Q8_K, quantize_q8_K, dot_q3_k_ref, rows_ref<dot_q3_k_ref>, nullptr, 0, false, dequantize_q3_k, random_q3_k, dequantize_q8_K},
    {TensorType::Q4_K, TensorType::Q8_K, quantize_q8_K, dot_q4_k_ref, rows_ref<dot_q4_k_ref>, nullptr, 0, false, dequantize_q4_k, random_q4_k, dequantize_q8_K},
    {TensorType::Q5_K, TensorType::Q8_K, quantize_q8_K, dot_q5_k_ref, rows_ref<dot_q5_k_ref>, nullptr, 0, false, dequantize_q5_k, random_q5_k, dequantize_q8_K},
    {TensorType::Q6_K, TensorType::Q8_K, quantize_q8_K, dot_q6_k_ref, rows_ref<dot_q6_k_ref>, nullptr, 0, false, dequantize_q6_k, random_q6_k, dequantize_q8_K},
};

const KernelTable kTable = {"scalar", kTypes, std::size(kTypes)};

}  // namespace

const KernelTable &kernel_table_ref() { return kTable; }

}  // namespace wc
