// types/float.cuh — the device side of the plain float weight types (F32, F16, BF16): element j of
// a row, widened to f32. Their matmul keeps f32 activations (matmul.cu); see type_table.cuh.
#pragma once

#include "gpu/quant.cuh"

namespace wc::gpu {

template <TensorType T>
struct GpuType;

template <>
struct GpuType<TensorType::F32> {
    static constexpr TensorType kType = TensorType::F32;
    static constexpr bool kQuantized = false;
    static __device__ __forceinline__ float element(const void *row, int64_t j) { return static_cast<const float *>(row)[j]; }
};

template <>
struct GpuType<TensorType::F16> {
    static constexpr TensorType kType = TensorType::F16;
    static constexpr bool kQuantized = false;
    static __device__ __forceinline__ float element(const void *row, int64_t j) { return f16f(static_cast<const uint16_t *>(row)[j]); }
};

template <>
struct GpuType<TensorType::BF16> {
    static constexpr TensorType kType = TensorType::BF16;
    static constexpr bool kQuantized = false;
    static __device__ __forceinline__ float element(const void *row, int64_t j) { return bf16f(static_cast<const uint16_t *>(row)[j]); }
};

}  // namespace wc::gpu
