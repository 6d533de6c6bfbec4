// embed.cu — see embed.cuh. One block per looked-up row; only those rows are dequantized.
#include "gpu/embed.cuh"

#include "gpu/cuda_check.cuh"
#include "gpu/quant.cuh"

namespace wc::gpu {

namespace {

__global__ void embed_rows(uint32_t type, const uint8_t *table, size_t row_bytes, int64_t cols, const int32_t *token, float *out) {
    const int i = blockIdx.x;
    const void *row = table + (int64_t)token[i] * row_bytes;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) out[(int64_t)i * cols + j] = load_element(type, row, j);
}

}  // namespace

void embed(const Weight &table, const StepRows &rows, float *out, cudaStream_t stream) {
    if (rows.n_rows <= 0) return;
    embed_rows<<<rows.n_rows, 256, 0, stream>>>(table.type_id, static_cast<const uint8_t *>(table.data), table.row_bytes, table.cols,
                                                rows.token, out);
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
