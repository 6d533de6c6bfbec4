// embed.cu — see embed.cuh. One block per looked-up row; only those rows are dequantized, with the
// type's element() from the type table.
#include "gpu/embed.cuh"

#include "core/error.h"
#include "gpu/cuda_check.cuh"
#include "gpu/type_table.cuh"

namespace wc::gpu {

namespace {

template <class G>
__global__ void embed_rows(const uint8_t *table, size_t row_bytes, int64_t cols, const int32_t *token, float *out) {
    const int i = blockIdx.x;
    const void *row = table + (int64_t)token[i] * row_bytes;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) out[(int64_t)i * cols + j] = row_element<G>(row, j);  // out[i, j]
}

}  // namespace

void embed(const Weight &table, const StepRows &rows, float *out, cudaStream_t stream) {
    if (rows.n_rows <= 0) return;
    const bool known = visit_gpu_type(table.type_id, [&](auto g) {
        embed_rows<decltype(g)><<<rows.n_rows, 256, 0, stream>>>(static_cast<const uint8_t *>(table.data), table.row_bytes, table.cols,
                                                                 rows.token, out);
    });
    if (!known) fail(WC_ERR_UNSUPPORTED, strfmt("cuda embed: tensor type %s", type_traits(table.type_id).name));
    CUDA_CHECK_LAUNCH();
}

}  // namespace wc::gpu
