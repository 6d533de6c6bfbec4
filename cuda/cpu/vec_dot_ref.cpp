// vec_dot_ref.cpp — plain-loop definitions of the vec_dot kernels (see vec_dot.h).
// Formulas follow ggml's reference quantizers (ggml-quants.c).
#include <cmath>

#include "core/half.h"
#include "cpu/vec_dot.h"

namespace wc {

namespace {

void quantize_q8_0_ref(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_0; ++b, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        y[b].d = f32_to_f16(d);
        for (int j = 0; j < QK8_0; ++j) y[b].qs[j] = (int8_t)std::nearbyint(x[j] * id);
    }
}

void quantize_q8_1_ref(const float *x, block_q8_1 *y, int64_t n) {
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

float dot_q4_0_ref(const block_q4_0 *w, const block_q8_0 *x, int64_t n) {
    float sum = 0;
    for (int64_t b = 0; b < n / QK4_0; ++b) {
        int isum = 0;
        for (int j = 0; j < QK4_0 / 2; ++j) {
            isum += ((w[b].qs[j] & 0x0f) - 8) * x[b].qs[j];
            isum += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + QK4_0 / 2];
        }
        sum += (float)isum * f16_to_f32(w[b].d) * f16_to_f32(x[b].d);
    }
    return sum;
}

float dot_q4_1_ref(const block_q4_1 *w, const block_q8_1 *x, int64_t n) {
    float sum = 0;
    for (int64_t b = 0; b < n / QK4_1; ++b) {
        int isum = 0;
        for (int j = 0; j < QK4_1 / 2; ++j) {
            isum += (w[b].qs[j] & 0x0f) * x[b].qs[j];
            isum += (w[b].qs[j] >> 4) * x[b].qs[j + QK4_1 / 2];
        }
        // sum_j (q_j d_w + m)(p_j d_x) = d_w d_x sum q_j p_j + m * (d_x sum p_j)
        sum += (float)isum * f16_to_f32(w[b].d) * f16_to_f32(x[b].d);
        sum = std::fma(f16_to_f32(w[b].m), f16_to_f32(x[b].s), sum);
    }
    return sum;
}

float dot_q8_0_ref(const block_q8_0 *w, const block_q8_0 *x, int64_t n) {
    float sum = 0;
    for (int64_t b = 0; b < n / QK8_0; ++b) {
        int isum = 0;
        for (int j = 0; j < QK8_0; ++j) isum += w[b].qs[j] * x[b].qs[j];
        sum += (float)isum * f16_to_f32(w[b].d) * f16_to_f32(x[b].d);
    }
    return sum;
}

float dot_f16_ref(const uint16_t *w, const uint16_t *x, int64_t n) {
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) sum += (double)f16_to_f32(w[k]) * f16_to_f32(x[k]);
    return (float)sum;
}

float dot_bf16_ref(const uint16_t *w, const uint16_t *x, int64_t n) {
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) sum += (double)bf16_to_f32(w[k]) * bf16_to_f32(x[k]);
    return (float)sum;
}

float dot_f32_ref(const float *w, const float *x, int64_t n) {
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) sum += (double)w[k] * x[k];
    return (float)sum;
}

const VecDotKernels kRef = {
    "scalar", quantize_q8_0_ref, quantize_q8_1_ref, dot_q4_0_ref, dot_q4_1_ref,
    dot_q8_0_ref, dot_f16_ref, dot_bf16_ref, dot_f32_ref,
};

}  // namespace

const VecDotKernels &vec_dot_kernels_ref() { return kRef; }

}  // namespace wc
