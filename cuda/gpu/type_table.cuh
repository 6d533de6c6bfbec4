// type_table.cuh — the CUDA backend's table of weight types: every type it reads has one
// GpuType<T> (types/*.cuh), and kGpuTypes lists them. The matmul and embedding dispatch, and the
// check at upload that a tensor's type can be computed, are derived from this list: adding a type
// is its block layout in core/tensor_types.h, its GpuType, and one entry below.
//
// A GpuType<T> has kType, kQuantized and:
//   float types:  static float element(const void *row, int64_t j)     element j of a row
//   quantized:    kBlock (weights per block), Block (the layout), Act (the activation block it is
//                 multiplied with: block_q8_1 for 32-weight blocks, block_q8_K for super-blocks; one
//                 Act covers exactly the elements of one Block),
//                 Unit and unit(block, u): the 16 weights 16u .. 16u+15 of a block (u < kBlock/16),
//                   unpacked into 4 ints of signed or unsigned bytes for __dp4a, with their scales,
//                 dot(unit, act, u): Σ weight · activation over those 16 elements, in float,
//                 element(block, k): weight k dequantized (the embedding lookup).
#pragma once

#include "gpu/types/float.cuh"
#include "gpu/types/k_quants.cuh"
#include "gpu/types/legacy.cuh"

namespace wc::gpu {

// Weights per unit of work in the quantized matmul: every quantized type splits its blocks so.
constexpr int kUnitWeights = 16;

template <TensorType... Ts>
struct TypeList {};

using GpuTypes = TypeList<TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                          TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K, TensorType::Q3_K,
                          TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K>;

namespace detail {
template <class F, TensorType... Ts>
bool visit_type(uint32_t type_id, F &&f, TypeList<Ts...>) {
    return ((type_id == (uint32_t)Ts ? (f(GpuType<Ts>{}), true) : false) || ...);
}
}  // namespace detail

// Calls f(GpuType<T>{}) for the listed type with this GGUF id; false (f not called) when the CUDA
// backend does not read that type.
template <class F>
bool visit_gpu_type(uint32_t type_id, F &&f) {
    return detail::visit_type(type_id, f, GpuTypes{});
}

inline bool gpu_reads_type(uint32_t type_id) {
    return visit_gpu_type(type_id, [](auto) {});
}

// Element j of a row of type G (quantized: block j / kBlock, weight j % kBlock).
template <class G>
__device__ __forceinline__ float row_element(const void *row, int64_t j) {
    if constexpr (G::kQuantized) {
        return G::element(static_cast<const typename G::Block *>(row)[j / G::kBlock], (int)(j % G::kBlock));
    } else {
        return G::element(row, j);
    }
}

}  // namespace wc::gpu
