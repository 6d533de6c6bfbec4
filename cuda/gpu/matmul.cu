// matmul.cu — see matmul.cuh. One warp per output row and token: lanes take whole 32-weight
// blocks (quantized types) or strided elements (float types), then a warp reduction. Decode
// (n = 1) is bound by reading the weights once; prefill re-reads them per token through L2.
#include "gpu/matmul.cuh"

#include "core/error.h"
#include "gpu/cuda_check.cuh"
#include "gpu/quant.cuh"

namespace wc::gpu {

namespace {

constexpr int kWarpsPerBlock = 4;

template <TensorType T>
__global__ void matvec_quant(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, const float *x, float *y) {
    const int64_t r = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    const int t = blockIdx.y;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const void *row = w + r * row_bytes;
    const float *xt = x + (int64_t)t * cols;
    float s = 0.0f;
    for (int64_t b = lane; b < cols / 32; b += 32) s += block_dot<T>(row, b, xt + b * 32);
    s = warp_sum(s);
    if (lane == 0) y[(int64_t)t * rows + r] = s;
}

template <TensorType T>
__global__ void matvec_float(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, const float *x, float *y) {
    const int64_t r = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    const int t = blockIdx.y;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    const void *row = w + r * row_bytes;
    const float *xt = x + (int64_t)t * cols;
    float s = 0.0f;
    for (int64_t k = lane; k < cols; k += 32) s = fmaf(load_element((uint32_t)T, row, k), xt[k], s);
    s = warp_sum(s);
    if (lane == 0) y[(int64_t)t * rows + r] = s;
}

}  // namespace

void matmul(const Weight &w, const float *x, int n, float *y, cudaStream_t stream) {
    if (n <= 0) return;
    const dim3 grid((unsigned)((w.rows + kWarpsPerBlock - 1) / kWarpsPerBlock), (unsigned)n);
    const dim3 block(32 * kWarpsPerBlock);
    const auto *data = static_cast<const uint8_t *>(w.data);
    switch ((TensorType)w.type_id) {
        case TensorType::Q4_0: matvec_quant<TensorType::Q4_0><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, x, y); break;
        case TensorType::Q4_1: matvec_quant<TensorType::Q4_1><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, x, y); break;
        case TensorType::Q8_0: matvec_quant<TensorType::Q8_0><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, x, y); break;
        case TensorType::F16: matvec_float<TensorType::F16><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, x, y); break;
        case TensorType::BF16: matvec_float<TensorType::BF16><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, x, y); break;
        case TensorType::F32: matvec_float<TensorType::F32><<<grid, block, 0, stream>>>(data, w.row_bytes, w.rows, w.cols, x, y); break;
        default: fail(WC_ERR_UNSUPPORTED, strfmt("cuda matmul: tensor type %u", w.type_id));
    }
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
