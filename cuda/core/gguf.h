// gguf.h — a validating parser for GGUF v2/v3 files over a memory mapping.
//
// The parser checks everything before anything is used (see .specs/gguf-validation.md): header,
// counts against the bytes that remain, string and array lengths, nesting depth, key and tensor
// name uniqueness, tensor ranks, dims, types, size arithmetic overflow, alignment, and that every
// tensor's data lies inside the file without overlapping another. Errors name the file, the key
// or tensor, and the byte offset.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor_types.h"

namespace wc {

enum class GgufType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

const char *gguf_type_name(GgufType t);

// One metadata value. Scalars are widened into `i`/`u`/`f`; strings point into the mapping.
struct GgufValue {
    GgufType type = GgufType::U8;
    int64_t i = 0;        // signed integer types and bool
    uint64_t u = 0;       // unsigned integer types and bool
    double f = 0;         // F32/F64 (and integers, for convenience)
    std::string_view str; // STRING

    // ARRAY: element type and count; scalar elements stay in the file (`raw`), strings are views
    // into the mapping (`strings`: a vocabulary's 16 bytes per token, not a GgufValue each) and
    // nested arrays are materialised in `items`.
    GgufType elem_type = GgufType::U8;
    uint64_t count = 0;
    const uint8_t *raw = nullptr;
    std::vector<std::string_view> strings;
    std::vector<GgufValue> items;

    bool is_integer() const;
    // Element `k` of a scalar numeric array, widened.
    int64_t array_int(uint64_t k) const;
    double array_float(uint64_t k) const;
};

struct GgufTensor {
    std::string name;
    uint32_t n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the row length (innermost)
    uint32_t type_id = 0;
    uint64_t offset = 0;           // relative to the data section
    uint64_t nbytes = 0;
    const uint8_t *data = nullptr; // into the mapping
    uint64_t file_offset = 0;      // absolute

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    std::string shape_str() const;
};

class GgufFile {
public:
    // Maps and parses `path`. Throws CoreError (WC_ERR_IO / WC_ERR_GGUF_FORMAT).
    explicit GgufFile(const std::string &path);

    const std::string &path() const { return file_->path(); }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }
    size_t file_size() const { return file_->size(); }

    const GgufValue *find(const std::string &key) const;
    const std::vector<GgufTensor> &tensors() const { return tensors_; }
    const GgufTensor *find_tensor(const std::string &name) const;

    // Typed getters: throw WC_ERR_GGUF_FORMAT naming the key when missing (for require_*) or when
    // the stored type does not fit.
    std::string get_string(const std::string &key, const std::string &fallback) const;
    std::string require_string(const std::string &key) const;
    int64_t get_int(const std::string &key, int64_t fallback) const;
    int64_t require_int(const std::string &key) const;
    double get_float(const std::string &key, double fallback) const;
    bool get_bool(const std::string &key, bool fallback) const;
    // -1 when absent, else 0/1.
    int get_tristate_bool(const std::string &key) const;

private:
    std::unique_ptr<MappedFile> file_;
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    std::map<std::string, GgufValue, std::less<>> kv_;
    std::vector<GgufTensor> tensors_;
    std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace wc
