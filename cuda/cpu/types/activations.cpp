// activations.cpp — activation rows into the dot types (type_kernels.h). Formulas follow ggml's
// reference quantizers (ggml-quants.c: quantize_row_q8_0_ref, _q8_1_ref, _q8_K_ref).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "core/tensor_types.h"
#include "cpu/type_kernels.h"
#include "cpu/types/types.h"

namespace wc::cpu {

void quantize_q8_0_ref(const float *x, void *out, int64_t n) {
    block_q8_0 *y = static_cast<block_q8_0 *>(out);
    for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        y[b].d = f32_to_f16(d);
        for (int j = 0; j < QK8_0; ++j) y[b].qs[j] = (int8_t)std::nearbyint(x[j] * id);
    }
}

void quantize_q8_1_ref(const float *x, void *out, int64_t n) {
    block_q8_1 *y = static_cast<block_q8_1 *>(out);
    for (int64_t b = 0; b < n / QK8_1; ++b, x += QK8_1) {
        float amax = 0;
        for (int j = 0; j < QK8_1; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        y[b].d = f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; ++j) {
            y[b].qs[j] = (int8_t)std::nearbyint(x[j] * id);
            sum += y[b].qs[j];
        }
        y[b].s = f32_to_f16((float)sum * d);
    }
}

// ggml's Q8_K: the value of largest magnitude maps to -127 (the scale is -max/127, signed), the
// rest round half to even, clamped to 127; bsums are the sums of each 16 quants.
void quantize_q8_K(const float *x, void *out, int64_t n) {
    block_q8_K *y = static_cast<block_q8_K *>(out);
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) amax = ax, max = x[j];
        }
        if (amax == 0) {
            std::memset(&y[b], 0, sizeof(y[b]));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; ++j) y[b].qs[j] = (int8_t)std::min(127, (int)std::nearbyint(iscale * x[j]));
        for (int g = 0; g < QK_K / 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += y[b].qs[16 * g + j];
            y[b].bsums[g] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

void convert_to_f16(const float *x, void *out, int64_t n) {
    uint16_t *o = static_cast<uint16_t *>(out);
    for (int64_t c = 0; c < n; ++c) o[c] = f32_to_f16(x[c]);
}

void convert_to_bf16(const float *x, void *out, int64_t n) {
    uint16_t *o = static_cast<uint16_t *>(out);
    for (int64_t c = 0; c < n; ++c) o[c] = f32_to_bf16(x[c]);
}

void convert_to_f32(const float *x, void *out, int64_t n) { std::memcpy(out, x, (size_t)n * sizeof(float)); }

void dequantize_q8_1(const void *row, float *out, int64_t n) {
    const block_q8_1 *b = static_cast<const block_q8_1 *>(row);
    for (int64_t i = 0; i < n / QK8_1; ++i) {
        for (int k = 0; k < QK8_1; ++k) out[i * QK8_1 + k] = b[i].qs[k] * f16_to_f32(b[i].d);
    }
}

void dequantize_q8_K(const void *row, float *out, int64_t n) {
    const block_q8_K *b = static_cast<const block_q8_K *>(row);
    for (int64_t i = 0; i < n / QK_K; ++i) {
        for (int k = 0; k < QK_K; ++k) out[i * QK_K + k] = b[i].qs[k] * b[i].d;
    }
}

void widen_q8_0_scales(const void *row, int64_t n, int j, float *d, float *) {
    const block_q8_0 *q = static_cast<const block_q8_0 *>(row);
    for (int64_t b = 0; b < n / QK8_0; ++b) d[b * kDotTileRows + j] = f16_to_f32(q[b].d);
}

void widen_q8_0_scales_bases(const void *row, int64_t n, int j, float *d, float *s) {
    const block_q8_0 *q = static_cast<const block_q8_0 *>(row);
    for (int64_t b = 0; b < n / QK8_0; ++b) {
        int32_t sum = 0;
        for (int k = 0; k < QK8_0; ++k) sum += q[b].qs[k];
        d[b * kDotTileRows + j] = f16_to_f32(q[b].d);
        const int32_t base = -8 * sum;  // an int32's bits, read back as one (DotTile::s)
        std::memcpy(&s[b * kDotTileRows + j], &base, sizeof base);
    }
}

void widen_q8_1_scales(const void *row, int64_t n, int j, float *d, float *s) {
    const block_q8_1 *q = static_cast<const block_q8_1 *>(row);
    for (int64_t b = 0; b < n / QK8_1; ++b) d[b * kDotTileRows + j] = f16_to_f32(q[b].d), s[b * kDotTileRows + j] = f16_to_f32(q[b].s);
}

}  // namespace wc::cpu
