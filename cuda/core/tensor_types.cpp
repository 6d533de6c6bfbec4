// tensor_types.cpp — the traits table keyed by GGUF type id. Which types are computable is not
// written here: it is read from the CPU backend's kernel table (cpu/type_kernels.h), so a type
// becomes computable by getting kernels, and the "supported: ..." lists follow.
#include "core/tensor_types.h"

#include <iterator>
#include <string>
#include <vector>

#include "cpu/type_kernels.h"

namespace wc {

namespace {

struct Entry {
    uint32_t id;
    TypeTraits traits;
};

// Sizes of the types we only validate (IQ*, TQ*, MXFP4) are from ggml-common.h. The last field
// (computable) is filled in from the kernel table.
const Entry kLayouts[] = {
    {0, {"F32", 1, 4, true, true}},
    {1, {"F16", 1, 2, true, true}},
    {2, {"Q4_0", QK4_0, sizeof(block_q4_0), true, true}},
    {3, {"Q4_1", QK4_1, sizeof(block_q4_1), true, true}},
    {6, {"Q5_0", QK5_0, sizeof(block_q5_0), true, false}},
    {7, {"Q5_1", QK5_1, sizeof(block_q5_1), true, false}},
    {8, {"Q8_0", QK8_0, sizeof(block_q8_0), true, true}},
    {9, {"Q8_1", QK8_1, sizeof(block_q8_1), true, false}},
    {10, {"Q2_K", QK_K, sizeof(block_q2_K), true, false}},
    {11, {"Q3_K", QK_K, sizeof(block_q3_K), true, false}},
    {12, {"Q4_K", QK_K, sizeof(block_q4_K), true, false}},
    {13, {"Q5_K", QK_K, sizeof(block_q5_K), true, false}},
    {14, {"Q6_K", QK_K, sizeof(block_q6_K), true, false}},
    {15, {"Q8_K", QK_K, sizeof(block_q8_K), true, false}},
    {16, {"IQ2_XXS", QK_K, 66, true, false}},
    {17, {"IQ2_XS", QK_K, 74, true, false}},
    {18, {"IQ3_XXS", QK_K, 98, true, false}},
    {19, {"IQ1_S", QK_K, 50, true, false}},
    {20, {"IQ4_NL", 32, 18, true, false}},
    {21, {"IQ3_S", QK_K, 110, true, false}},
    {22, {"IQ2_S", QK_K, 82, true, false}},
    {23, {"IQ4_XS", QK_K, 136, true, false}},
    {24, {"I8", 1, 1, true, false}},
    {25, {"I16", 1, 2, true, false}},
    {26, {"I32", 1, 4, true, false}},
    {27, {"I64", 1, 8, true, false}},
    {28, {"F64", 1, 8, true, false}},
    {29, {"IQ1_M", QK_K, 56, true, false}},
    {30, {"BF16", 1, 2, true, true}},
    {34, {"TQ1_0", QK_K, 54, true, false}},
    {35, {"TQ2_0", QK_K, 66, true, false}},
    {39, {"MXFP4", 32, 17, true, false}},
};

const TypeTraits kUnknown = {"UNKNOWN", 1, 0, false, false};

const std::vector<Entry> &entries() {
    static const std::vector<Entry> table = [] {
        std::vector<Entry> t(std::begin(kLayouts), std::end(kLayouts));
        for (Entry &e : t) e.traits.computable = kernel_table_ref().find(e.id) != nullptr;
        return t;
    }();
    return table;
}

}  // namespace

const TypeTraits &type_traits(uint32_t type_id) {
    for (const Entry &e : entries()) {
        if (e.id == type_id) return e.traits;
    }
    return kUnknown;
}

const char *computable_type_names() {
    static const std::string names = [] {
        const KernelTable &t = kernel_table_ref();
        std::string s;
        for (size_t i = 0; i < t.n_types; ++i) s += (i ? ", " : "") + std::string(type_traits(t.types[i].type).name);
        return s;
    }();
    return names.c_str();
}

}  // namespace wc
