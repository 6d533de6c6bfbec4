// act_quant.cu — see act_quant.cuh. One warp per block: lane k holds value k (q8_1) or values
// 8k .. 8k+7 (q8_K); the maxima and integer sums are warp reductions, exact whatever their order.
#include "gpu/act_quant.cuh"

#include "gpu/cuda_check.cuh"
#include "gpu/quant.cuh"

namespace wc::gpu {

namespace {

constexpr int kWarpsPerBlock = 8;

__global__ void quantize_q8_1_rows(const float *x, int64_t x_stride, int64_t rows, int64_t blocks_per_row, block_q8_1 *out) {
    const int64_t b = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;  // block index over all rows
    const int lane = threadIdx.x % 32;
    if (b >= rows * blocks_per_row) return;
    const int64_t t = b / blocks_per_row, j = b % blocks_per_row;
    const float v = x[t * x_stride + 32 * j + lane];  // x[t, 32j + lane]
    const float amax = warp_max(fabsf(v));
    const float d = __fdiv_rn(amax, 127.0f);
    const float id = amax != 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
    const int q = __float2int_rn(__fmul_rn(v, id));
    const int sum = warp_sum_int(q);
    block_q8_1 &o = out[b];
    o.qs[lane] = (int8_t)q;
    if (lane == 0) {
        o.d = __half_as_ushort(__float2half_rn(d));
        o.s = __half_as_ushort(__float2half_rn(__fmul_rn((float)sum, d)));
    }
}

__global__ void quantize_q8_K_rows(const float *x, int64_t x_stride, int64_t rows, int64_t blocks_per_row, block_q8_K *out) {
    const int64_t b = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (b >= rows * blocks_per_row) return;
    const int64_t t = b / blocks_per_row, j = b % blocks_per_row;
    const float *xb = x + t * x_stride + (int64_t)QK_K * j + 8 * lane;  // x[t, 256j + 8 lane ..)
    float v[8];
    // The first value of largest magnitude: per lane in index order (strictly greater wins), then
    // across lanes the larger |x|, on a tie the lower index — the CPU's sequential scan.
    float amax = 0.0f, vmax = 0.0f;
    int at = QK_K;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        v[k] = xb[k];
        if (fabsf(v[k]) > amax) {
            amax = fabsf(v[k]);
            vmax = v[k];
            at = 8 * lane + k;
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float a2 = __shfl_xor_sync(0xffffffffu, amax, o), m2 = __shfl_xor_sync(0xffffffffu, vmax, o);
        const int at2 = __shfl_xor_sync(0xffffffffu, at, o);
        if (a2 > amax || (a2 == amax && at2 < at)) {
            amax = a2;
            vmax = m2;
            at = at2;
        }
    }
    block_q8_K &ob = out[b];
    int q[8], sum = 0;
    const float iscale = amax != 0.0f ? __fdiv_rn(-127.0f, vmax) : 0.0f;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        q[k] = amax != 0.0f ? min(127, __float2int_rn(__fmul_rn(iscale, v[k]))) : 0;
        sum += q[k];
    }
    int *qs = reinterpret_cast<int *>(ob.qs) + 2 * lane;
    qs[0] = (q[0] & 0xff) | ((q[1] & 0xff) << 8) | ((q[2] & 0xff) << 16) | ((q[3] & 0xff) << 24);
    qs[1] = (q[4] & 0xff) | ((q[5] & 0xff) << 8) | ((q[6] & 0xff) << 16) | ((q[7] & 0xff) << 24);
    // bsums[i] covers values 16i .. 16i+15: lanes 2i and 2i+1.
    const int pair = sum + __shfl_down_sync(0xffffffffu, sum, 1);
    if (lane % 2 == 0) ob.bsums[lane / 2] = (int16_t)pair;
    if (lane == 0) ob.d = amax != 0.0f ? __fdiv_rn(1.0f, iscale) : 0.0f;
}

template <class Act, class Kernel>
void launch(const F32View &x, Act *out, int block, Kernel kernel, cudaStream_t stream) {
    if (x.rows <= 0) return;
    const int64_t per_row = x.cols / block, n = x.rows * per_row;
    const unsigned grid = (unsigned)((n + kWarpsPerBlock - 1) / kWarpsPerBlock);
    kernel<<<grid, 32 * kWarpsPerBlock, 0, stream>>>(x.data, x.stride, x.rows, per_row, out);
    CUDA_CHECK_LAUNCH();
}

}  // namespace

void quantize_activations(const F32View &x, block_q8_1 *out, cudaStream_t stream) { launch(x, out, QK8_1, quantize_q8_1_rows, stream); }

void quantize_activations(const F32View &x, block_q8_K *out, cudaStream_t stream) { launch(x, out, QK_K, quantize_q8_K_rows, stream); }

}  // namespace wc::gpu
