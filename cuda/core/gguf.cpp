// gguf.cpp — GGUF parsing and validation. Layout facts from the GGUF spec
// (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): little-endian; header = magic
// "GGUF", u32 version, u64 tensor count, u64 kv count; then kv pairs; then tensor infos; then
// padding to `general.alignment` (default 32) and the tensor data.
#include "core/gguf.h"

#include <cmath>

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace wc {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;        // nested arrays deeper than this are refused
constexpr uint64_t kMaxStringBytes = 1ull << 30;

size_t scalar_size(GgufType t) {
    switch (t) {
        case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
        case GgufType::U16: case GgufType::I16: return 2;
        case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
        case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
        default: return 0;
    }
}

bool valid_type(uint32_t t) { return t <= (uint32_t)GgufType::F64; }

// Smallest number of bytes one value of type `t` can occupy (for count sanity checks).
uint64_t min_value_bytes(GgufType t) {
    if (t == GgufType::STRING) return 8;
    if (t == GgufType::ARRAY) return 12;
    return scalar_size(t);
}

// Bounds-checked cursor over the mapping; every failure names the file and the offset.
class Reader {
public:
    Reader(const std::string &path, const uint8_t *data, size_t size) : path_(path), data_(data), size_(size) {}

    uint64_t offset() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }

    // What is being read ("key 'general.name'", "tensor 'output.weight'"); every error names it,
    // so a truncated or corrupt file says where it broke, not only at which offset.
    void set_where(std::string where) { where_ = std::move(where); }

    [[noreturn]] void error(const std::string &what) const {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: %s%s%s (at byte offset %llu)", path_.c_str(), where_.c_str(),
                                        where_.empty() ? "" : ": ", what.c_str(), (unsigned long long)pos_));
    }

    const uint8_t *take(uint64_t n, const char *what) {
        if (n > remaining()) {
            error(strfmt("file truncated: %s needs %llu bytes but only %llu remain", what,
                         (unsigned long long)n, (unsigned long long)remaining()));
        }
        const uint8_t *p = data_ + pos_;
        pos_ += n;
        return p;
    }

    template <typename T>
    T read(const char *what) {
        T v;
        std::memcpy(&v, take(sizeof(T), what), sizeof(T));
        return v;
    }

    std::string_view read_string(const char *what) {
        uint64_t len = read<uint64_t>(what);
        if (len > kMaxStringBytes) error(strfmt("%s length %llu is absurd", what, (unsigned long long)len));
        const uint8_t *p = take(len, what);
        return std::string_view(reinterpret_cast<const char *>(p), len);
    }

private:
    const std::string &path_;
    const uint8_t *data_;
    size_t size_;
    uint64_t pos_ = 0;
    std::string where_;
};

void read_value(Reader &r, GgufType type, GgufValue &out, int depth);

void read_array(Reader &r, GgufValue &out, int depth) {
    if (depth >= kMaxArrayDepth) r.error(strfmt("arrays nested deeper than %d", kMaxArrayDepth));
    uint32_t et = r.read<uint32_t>("array element type");
    if (!valid_type(et)) r.error(strfmt("unknown array element type %u", et));
    uint64_t n = r.read<uint64_t>("array length");
    GgufType elem = (GgufType)et;
    if (n > r.remaining() / std::max<uint64_t>(1, min_value_bytes(elem))) {
        r.error(strfmt("array of %llu %s elements cannot fit in the %llu bytes that remain", (unsigned long long)n,
                       gguf_type_name(elem), (unsigned long long)r.remaining()));
    }
    out.elem_type = elem;
    out.count = n;
    if (elem == GgufType::STRING) {
        out.strings.resize(n);
        for (uint64_t k = 0; k < n; ++k) out.strings[k] = r.read_string("string value");
    } else if (elem == GgufType::ARRAY) {
        out.items.resize(n);
        for (uint64_t k = 0; k < n; ++k) read_value(r, elem, out.items[k], depth + 1);
    } else {
        out.raw = r.take(n * scalar_size(elem), "array data");
        if (elem == GgufType::BOOL) {
            for (uint64_t k = 0; k < n; ++k) {
                if (out.raw[k] > 1) r.error(strfmt("bool array element %llu has value %u", (unsigned long long)k, out.raw[k]));
            }
        }
    }
}

void read_value(Reader &r, GgufType type, GgufValue &out, int depth) {
    out.type = type;
    switch (type) {
        case GgufType::U8: out.u = r.read<uint8_t>("u8"); out.i = (int64_t)out.u; break;
        case GgufType::I8: out.i = r.read<int8_t>("i8"); out.u = (uint64_t)out.i; break;
        case GgufType::U16: out.u = r.read<uint16_t>("u16"); out.i = (int64_t)out.u; break;
        case GgufType::I16: out.i = r.read<int16_t>("i16"); out.u = (uint64_t)out.i; break;
        case GgufType::U32: out.u = r.read<uint32_t>("u32"); out.i = (int64_t)out.u; break;
        case GgufType::I32: out.i = r.read<int32_t>("i32"); out.u = (uint64_t)out.i; break;
        case GgufType::U64: out.u = r.read<uint64_t>("u64"); out.i = (int64_t)out.u; break;
        case GgufType::I64: out.i = r.read<int64_t>("i64"); out.u = (uint64_t)out.i; break;
        case GgufType::F32: out.f = r.read<float>("f32"); break;
        case GgufType::F64: out.f = r.read<double>("f64"); break;
        case GgufType::BOOL: {
            uint8_t b = r.read<uint8_t>("bool");
            if (b > 1) r.error(strfmt("bool has value %u", b));
            out.u = b;
            out.i = b;
            break;
        }
        case GgufType::STRING: out.str = r.read_string("string value"); break;
        case GgufType::ARRAY: read_array(r, out, depth); break;
    }
    if (out.is_integer()) out.f = (type == GgufType::U64) ? (double)out.u : (double)out.i;
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t &out) { return !__builtin_mul_overflow(a, b, &out); }

}  // namespace

const char *gguf_type_name(GgufType t) {
    switch (t) {
        case GgufType::U8: return "u8";
        case GgufType::I8: return "i8";
        case GgufType::U16: return "u16";
        case GgufType::I16: return "i16";
        case GgufType::U32: return "u32";
        case GgufType::I32: return "i32";
        case GgufType::F32: return "f32";
        case GgufType::BOOL: return "bool";
        case GgufType::STRING: return "string";
        case GgufType::ARRAY: return "array";
        case GgufType::U64: return "u64";
        case GgufType::I64: return "i64";
        case GgufType::F64: return "f64";
    }
    return "?";
}

bool GgufValue::is_integer() const {
    switch (type) {
        case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16: case GgufType::U32:
        case GgufType::I32: case GgufType::U64: case GgufType::I64: case GgufType::BOOL: return true;
        default: return false;
    }
}

// A float element read as an integer: truncated toward zero, saturated at int64's range, NaN as 0 (a plain
// cast of NaN or of an out-of-range value is undefined behaviour; found by fuzzing).
static int64_t float_to_int64(double v) {
    if (std::isnan(v)) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

int64_t GgufValue::array_int(uint64_t k) const {
    const uint8_t *p = raw + k * scalar_size(elem_type);
    switch (elem_type) {
        case GgufType::U8: case GgufType::BOOL: return *p;
        case GgufType::I8: return (int8_t)*p;
        case GgufType::U16: { uint16_t v; std::memcpy(&v, p, 2); return v; }
        case GgufType::I16: { int16_t v; std::memcpy(&v, p, 2); return v; }
        case GgufType::U32: { uint32_t v; std::memcpy(&v, p, 4); return v; }
        case GgufType::I32: { int32_t v; std::memcpy(&v, p, 4); return v; }
        case GgufType::U64: { uint64_t v; std::memcpy(&v, p, 8); return (int64_t)v; }
        case GgufType::I64: { int64_t v; std::memcpy(&v, p, 8); return v; }
        case GgufType::F32: { float v; std::memcpy(&v, p, 4); return float_to_int64(v); }
        case GgufType::F64: { double v; std::memcpy(&v, p, 8); return float_to_int64(v); }
        default: return 0;
    }
}

double GgufValue::array_float(uint64_t k) const {
    const uint8_t *p = raw + k * scalar_size(elem_type);
    if (elem_type == GgufType::F32) { float v; std::memcpy(&v, p, 4); return v; }
    if (elem_type == GgufType::F64) { double v; std::memcpy(&v, p, 8); return v; }
    return (double)array_int(k);
}

std::string GgufTensor::shape_str() const {
    std::string s = "[";
    for (uint32_t d = 0; d < n_dims; ++d) {
        if (d) s += ", ";
        s += std::to_string(ne[d]);
    }
    return s + "]";
}

GgufFile::GgufFile(const std::string &path) : file_(std::make_unique<MappedFile>(path)) {
    Reader r(file_->path(), file_->data(), file_->size());
    const std::string &p = file_->path();

    if (r.remaining() < 4) r.error("file too small to be GGUF (no magic)");
    uint32_t magic = r.read<uint32_t>("magic");
    if (magic != kMagic) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: bad magic 0x%08x at byte offset 0 (expected \"GGUF\")", p.c_str(), magic));
    }
    version_ = r.read<uint32_t>("version");
    if (version_ != 2 && version_ != 3) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: unsupported GGUF version %u at byte offset 4 (supported: 2, 3)", p.c_str(), version_));
    }
    uint64_t n_tensors = r.read<uint64_t>("tensor count");
    uint64_t n_kv = r.read<uint64_t>("metadata count");
    // Each kv needs >= 13 bytes (key length, type, 1-byte value); each tensor info >= 32. Checked
    // before anything is allocated; a short count check also catches most truncated files early.
    if (n_kv > r.remaining() / 13) {
        r.error(strfmt("metadata count %llu cannot fit: each entry takes at least 13 bytes and only %llu remain "
                       "(truncated or corrupt file)", (unsigned long long)n_kv, (unsigned long long)r.remaining()));
    }
    if (n_tensors > r.remaining() / 32) {
        r.error(strfmt("tensor count %llu cannot fit: each tensor info takes at least 32 bytes and only %llu remain "
                       "(truncated or corrupt file)", (unsigned long long)n_tensors, (unsigned long long)r.remaining()));
    }

    for (uint64_t k = 0; k < n_kv; ++k) {
        uint64_t at = r.offset();
        r.set_where(strfmt("metadata entry %llu", (unsigned long long)k));
        std::string key(r.read_string("metadata key"));
        if (key.empty()) r.error("the key is empty");
        r.set_where("key '" + key + "'");
        uint32_t t = r.read<uint32_t>("metadata value type");
        if (!valid_type(t)) r.error(strfmt("unknown value type %u", t));
        GgufValue v;
        read_value(r, (GgufType)t, v, 0);
        if (!kv_.emplace(key, std::move(v)).second) {
            fail(WC_ERR_GGUF_FORMAT, strfmt("%s: duplicate metadata key '%s' at byte offset %llu", p.c_str(), key.c_str(), (unsigned long long)at));
        }
    }

    if (const GgufValue *a = find("general.alignment")) {
        if (a->type != GgufType::U32 && a->type != GgufType::I32 && a->type != GgufType::U64) {
            fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key 'general.alignment' has type %s, expected u32", p.c_str(), gguf_type_name(a->type)));
        }
        // The spec asks for a multiple of 8; kernels read F32 weights in place, so less is unsafe.
        if (a->u < 8 || (a->u & (a->u - 1)) != 0 || a->u > (1u << 20)) {
            const std::string shown = a->type == GgufType::I32 ? std::to_string(a->i) : std::to_string(a->u);
            fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key 'general.alignment' = %s is not a power of two in [8, 1 MiB]", p.c_str(), shown.c_str()));
        }
        alignment_ = a->u;
    }

    tensors_.resize(n_tensors);
    for (uint64_t k = 0; k < n_tensors; ++k) {
        GgufTensor &t = tensors_[k];
        uint64_t at = r.offset();
        r.set_where(strfmt("tensor info %llu", (unsigned long long)k));
        t.name = std::string(r.read_string("tensor name"));
        if (t.name.empty()) r.error("the tensor name is empty");
        const char *nm = t.name.c_str();
        r.set_where("tensor '" + t.name + "'");
        t.n_dims = r.read<uint32_t>("tensor rank");
        if (t.n_dims == 0 || t.n_dims > (uint32_t)kMaxDims) r.error(strfmt("rank %u (expected 1..%d)", t.n_dims, kMaxDims));
        uint64_t n_el = 1;
        for (uint32_t d = 0; d < t.n_dims; ++d) {
            uint64_t ne = r.read<uint64_t>("tensor dimension");
            if (ne == 0 || ne > (uint64_t)std::numeric_limits<int64_t>::max()) {
                r.error(strfmt("dimension %u is %llu", d, (unsigned long long)ne));
            }
            if (!checked_mul(n_el, ne, n_el) || n_el > (uint64_t)std::numeric_limits<int64_t>::max()) {
                r.error("element count overflows");
            }
            t.ne[d] = (int64_t)ne;
        }
        t.type_id = r.read<uint32_t>("tensor type");
        const TypeTraits &tt = type_traits(t.type_id);
        if (!tt.known) r.error(strfmt("unknown tensor type id %u", t.type_id));
        if (t.ne[0] % tt.block_size != 0) {
            r.error(strfmt("row length %lld is not a multiple of the %s block size %lld", (long long)t.ne[0], tt.name, (long long)tt.block_size));
        }
        uint64_t blocks = n_el / (uint64_t)tt.block_size;
        if (!checked_mul(blocks, tt.block_bytes, t.nbytes)) r.error("byte size overflows");
        t.offset = r.read<uint64_t>("tensor data offset");
        if (t.offset % alignment_ != 0) {
            r.error(strfmt("data offset %llu is not a multiple of the alignment %llu", (unsigned long long)t.offset, (unsigned long long)alignment_));
        }
        if (!tensor_index_.emplace(t.name, (size_t)k).second) {
            fail(WC_ERR_GGUF_FORMAT, strfmt("%s: duplicate tensor name '%s' at byte offset %llu", p.c_str(), nm, (unsigned long long)at));
        }
    }

    r.set_where("");
    uint64_t data_start = (r.offset() + alignment_ - 1) / alignment_ * alignment_;
    if (n_tensors > 0 && data_start > file_->size()) {
        r.error("file truncated before the tensor data section");
    }
    uint64_t data_size = n_tensors > 0 ? file_->size() - data_start : 0;
    for (GgufTensor &t : tensors_) {
        if (t.offset > data_size || t.nbytes > data_size - t.offset) {
            fail(WC_ERR_GGUF_FORMAT,
                 strfmt("%s: tensor '%s' (%s, %s) data [%llu, %llu) extends past the end of the file (data section is %llu bytes from byte offset %llu)",
                        p.c_str(), t.name.c_str(), type_traits(t.type_id).name, t.shape_str().c_str(),
                        (unsigned long long)(data_start + t.offset), (unsigned long long)(data_start + t.offset + t.nbytes),
                        (unsigned long long)data_size, (unsigned long long)data_start));
        }
        t.file_offset = data_start + t.offset;
        t.data = file_->data() + t.file_offset;
    }
    // No two tensors may share bytes.
    std::vector<const GgufTensor *> by_offset;
    for (const GgufTensor &t : tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](const GgufTensor *a, const GgufTensor *b) { return a->offset < b->offset; });
    for (size_t k = 1; k < by_offset.size(); ++k) {
        const GgufTensor *a = by_offset[k - 1], *b = by_offset[k];
        if (a->offset + a->nbytes > b->offset) {
            fail(WC_ERR_GGUF_FORMAT, strfmt("%s: tensors '%s' and '%s' overlap at byte offset %llu", p.c_str(), a->name.c_str(),
                                            b->name.c_str(), (unsigned long long)(data_start + b->offset)));
        }
    }
}

const GgufValue *GgufFile::find(const std::string &key) const {
    auto it = kv_.find(key);
    return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensor *GgufFile::find_tensor(const std::string &name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::string GgufFile::get_string(const std::string &key, const std::string &fallback) const {
    const GgufValue *v = find(key);
    if (!v) return fallback;
    if (v->type != GgufType::STRING) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key '%s' has type %s, expected string", path().c_str(), key.c_str(), gguf_type_name(v->type)));
    }
    return std::string(v->str);
}

std::string GgufFile::require_string(const std::string &key) const {
    if (!find(key)) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: required key '%s' is missing", path().c_str(), key.c_str()));
    return get_string(key, "");
}

int64_t GgufFile::get_int(const std::string &key, int64_t fallback) const {
    const GgufValue *v = find(key);
    if (!v) return fallback;
    if (!v->is_integer()) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key '%s' has type %s, expected an integer", path().c_str(), key.c_str(), gguf_type_name(v->type)));
    }
    return v->i;
}

int64_t GgufFile::require_int(const std::string &key) const {
    if (!find(key)) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: required key '%s' is missing", path().c_str(), key.c_str()));
    return get_int(key, 0);
}

double GgufFile::get_float(const std::string &key, double fallback) const {
    const GgufValue *v = find(key);
    if (!v) return fallback;
    if (v->type != GgufType::F32 && v->type != GgufType::F64 && !v->is_integer()) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key '%s' has type %s, expected a number", path().c_str(), key.c_str(), gguf_type_name(v->type)));
    }
    return v->f;
}

bool GgufFile::get_bool(const std::string &key, bool fallback) const {
    int t = get_tristate_bool(key);
    return t < 0 ? fallback : t == 1;
}

int GgufFile::get_tristate_bool(const std::string &key) const {
    const GgufValue *v = find(key);
    if (!v) return -1;
    if (v->type != GgufType::BOOL && !v->is_integer()) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key '%s' has type %s, expected bool", path().c_str(), key.c_str(), gguf_type_name(v->type)));
    }
    return v->u != 0 ? 1 : 0;
}

}  // namespace wc
