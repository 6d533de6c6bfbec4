// op_check.cpp — every backend op on the same random inputs through the CPU backend (the
// reference) and a backend under test, reporting the largest differences as JSON. The GPU tests
// hold the tolerances; this file only measures.
#include "core/op_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "core/error.h"
#include "core/half.h"
#include "core/tensor_types.h"

namespace wc {

namespace {

// Backend memory holding a copy of a host vector, released with the backend.
class DeviceBuffers {
public:
    explicit DeviceBuffers(Backend &be) : be_(be) {}
    ~DeviceBuffers() {
        for (void *p : blocks_) be_.release(p);
    }
    template <typename T>
    T *copy(const std::vector<T> &host) {
        void *p = be_.alloc(host.size() * sizeof(T));
        blocks_.push_back(p);
        be_.from_host(p, host.data(), host.size() * sizeof(T));
        return static_cast<T *>(p);
    }
    float *zeros(size_t n) {
        void *p = be_.alloc(n * sizeof(float));
        blocks_.push_back(p);
        return static_cast<float *>(p);
    }

private:
    Backend &be_;
    std::vector<void *> blocks_;
};

struct Rng {
    std::mt19937_64 gen{0x5eed};
    float normal(float sd = 1.0f) { return std::normal_distribution<float>(0.0f, sd)(gen); }
    std::vector<float> normals(size_t n, float sd = 1.0f) {
        std::vector<float> v(n);
        for (float &x : v) x = normal(sd);
        return v;
    }
    uint8_t byte() { return (uint8_t)(gen() & 0xff); }
};

// A rows x cols matrix of `type` with random contents of realistic scale (|w| ~ 0.05).
std::vector<uint8_t> random_matrix(Rng &rng, uint32_t type, int64_t rows, int64_t cols) {
    const TypeTraits &tt = type_traits(type);
    const size_t row_bytes = (size_t)(cols / tt.block_size) * tt.block_bytes;
    std::vector<uint8_t> data(row_bytes * (size_t)rows);
    for (uint8_t &b : data) b = rng.byte();
    auto put16 = [&](size_t at, uint16_t v) { std::memcpy(&data[at], &v, 2); };
    const size_t n_blocks = data.size() / tt.block_bytes;
    switch ((TensorType)type) {
        case TensorType::F32:
            for (size_t i = 0; i < data.size() / 4; ++i) {
                const float f = rng.normal(0.05f);
                std::memcpy(&data[4 * i], &f, 4);
            }
            break;
        case TensorType::F16:
            for (size_t i = 0; i < data.size() / 2; ++i) put16(2 * i, f32_to_f16(rng.normal(0.05f)));
            break;
        case TensorType::BF16:
            for (size_t i = 0; i < data.size() / 2; ++i) put16(2 * i, f32_to_bf16(rng.normal(0.05f)));
            break;
        case TensorType::Q8_0:  // d, then 32 random int8
            for (size_t b = 0; b < n_blocks; ++b) put16(b * tt.block_bytes, f32_to_f16(0.0005f + 0.0005f * (rng.byte() / 255.0f)));
            break;
        case TensorType::Q4_0:  // d, then 16 random nibble pairs
            for (size_t b = 0; b < n_blocks; ++b) put16(b * tt.block_bytes, f32_to_f16(0.01f + 0.01f * (rng.byte() / 255.0f)));
            break;
        case TensorType::Q4_1:  // d, m, then nibbles
            for (size_t b = 0; b < n_blocks; ++b) {
                put16(b * tt.block_bytes, f32_to_f16(0.01f + 0.01f * (rng.byte() / 255.0f)));
                put16(b * tt.block_bytes + 2, f32_to_f16(-0.08f - 0.02f * (rng.byte() / 255.0f)));
            }
            break;
        default: fail(WC_ERR_UNSUPPORTED, strfmt("op check: no generator for type %u", type));
    }
    return data;
}

GgufTensor tensor_view(const std::string &name, uint32_t type, int64_t rows, int64_t cols, const std::vector<uint8_t> &data) {
    GgufTensor t;
    t.name = name;
    t.n_dims = 2;
    t.ne[0] = cols;
    t.ne[1] = rows;
    t.type_id = type;
    t.nbytes = data.size();
    t.data = data.data();
    return t;
}

// Where each tensor went in each backend, for matrices.
struct Uploaded {
    Weight ref, dut;
};

std::string json_escape(const std::string &s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\';
        o += c;
    }
    return o;
}

class Checker {
public:
    Checker(Backend &ref, Backend &dut) : ref_(ref), dut_(dut), rb_(ref), db_(dut) {}

    // Runs `op` on both backends with outputs of n floats and records the differences.
    template <typename Op>
    void compare(const std::string &op, const std::string &shape, size_t n, Op &&run) {
        float *out_ref = rb_.zeros(n);
        float *out_dut = db_.zeros(n);
        run(ref_, out_ref);
        run(dut_, out_dut);
        std::vector<float> a(n), b(n);
        ref_.to_host(out_ref, a.data(), n);
        dut_.to_host(out_dut, b.data(), n);
        double max_abs = 0, ref_max = 0;
        bool finite = true;
        for (size_t i = 0; i < n; ++i) {
            finite = finite && std::isfinite(b[i]);
            max_abs = std::max(max_abs, (double)std::fabs(a[i] - b[i]));
            ref_max = std::max(ref_max, (double)std::fabs(a[i]));
        }
        if (!report_.empty()) report_ += ",";
        report_ += strfmt("{\"op\":\"%s\",\"shape\":\"%s\",\"n\":%zu,\"max_abs\":%.9g,\"ref_max_abs\":%.9g,\"rel\":%.9g,\"finite\":%s}",
                          json_escape(op).c_str(), json_escape(shape).c_str(), n, max_abs, ref_max,
                          ref_max > 0 ? max_abs / ref_max : max_abs, finite ? "true" : "false");
    }

    // The same host vector copied into each backend.
    template <typename T>
    std::pair<T *, T *> both(const std::vector<T> &host) { return {rb_.copy(host), db_.copy(host)}; }
    DeviceBuffers &ref_buffers() { return rb_; }
    DeviceBuffers &dut_buffers() { return db_; }
    std::string report() const { return "{\"ops\":[" + report_ + "]}"; }

private:
    Backend &ref_, &dut_;
    DeviceBuffers rb_, db_;
    std::string report_;
};

}  // namespace

std::string check_ops(Backend &ref, Backend &dut) {
    Rng rng;
    // Matrices first: both backends see every weight before any op runs (the CUDA arena is one allocation).
    struct MatrixCase {
        uint32_t type;
        int64_t rows, cols;
        std::vector<uint8_t> data;
        GgufTensor tensor;
    };
    const TensorType types[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0, TensorType::F16, TensorType::BF16, TensorType::F32};
    std::vector<MatrixCase> matrices;
    matrices.reserve(std::size(types) + 2);
    for (TensorType t : types) matrices.push_back({(uint32_t)t, 200, 576, {}, {}});
    matrices.push_back({(uint32_t)TensorType::Q4_1, 1000, 64, {}, {}});  // the embedding table
    std::vector<float> norm_w = rng.normals(576, 0.3f);
    for (float &w : norm_w) w += 1.0f;
    std::vector<uint8_t> norm_bytes(norm_w.size() * sizeof(float));
    std::memcpy(norm_bytes.data(), norm_w.data(), norm_bytes.size());
    GgufTensor norm_t;
    norm_t.name = "norm";
    norm_t.n_dims = 1;
    norm_t.ne[0] = (int64_t)norm_w.size();
    norm_t.type_id = (uint32_t)TensorType::F32;
    norm_t.nbytes = norm_bytes.size();
    norm_t.data = norm_bytes.data();

    size_t ref_bytes = ref.weight_footprint(norm_t, true), dut_bytes = dut.weight_footprint(norm_t, true);
    for (size_t i = 0; i < matrices.size(); ++i) {
        MatrixCase &m = matrices[i];
        m.data = random_matrix(rng, m.type, m.rows, m.cols);
        m.tensor = tensor_view(strfmt("m%zu", i), m.type, m.rows, m.cols, m.data);
        ref_bytes += ref.weight_footprint(m.tensor, false);
        dut_bytes += dut.weight_footprint(m.tensor, false);
    }
    ref.reserve(ref_bytes, 0, 0, "op-check");
    dut.reserve(dut_bytes, 0, 0, "op-check");
    std::vector<Uploaded> weights;
    for (MatrixCase &m : matrices) weights.push_back({ref.upload_matrix(m.tensor), dut.upload_matrix(m.tensor)});
    const float *norm_ref = ref.upload_vector(norm_t);
    const float *norm_dut = dut.upload_vector(norm_t);

    Checker c(ref, dut);
    // matmul: one token (decode), a partial tile, several tiles.
    for (size_t i = 0; i < std::size(types); ++i) {
        const MatrixCase &m = matrices[i];
        for (int n : {1, 5, 37}) {
            auto x = c.both(rng.normals((size_t)n * m.cols));
            c.compare(strfmt("matmul_%s", type_traits(m.type).name), strfmt("%lldx%lld n=%d", (long long)m.rows, (long long)m.cols, n),
                      (size_t)n * m.rows, [&](Backend &be, float *out) {
                          const bool is_ref = &be == &ref;
                          be.matmul(is_ref ? weights[i].ref : weights[i].dut, is_ref ? x.first : x.second, n, out);
                      });
        }
    }
    {
        const std::vector<int32_t> ids = {0, 999, 17, 500, 17};
        const Uploaded &table = weights.back();
        c.compare("embed_Q4_1", "1000x64 n=5", ids.size() * 64, [&](Backend &be, float *out) {
            be.embed(&be == &ref ? table.ref : table.dut, ids.data(), (int)ids.size(), out);
        });
    }
    {
        const int rows = 9;
        auto x = c.both(rng.normals((size_t)rows * 576, 2.0f));
        c.compare("rms_norm", "9x576", (size_t)rows * 576, [&](Backend &be, float *out) {
            const bool is_ref = &be == &ref;
            be.rms_norm(is_ref ? x.first : x.second, is_ref ? norm_ref : norm_dut, out, rows, 576, 1e-5f);
        });
    }
    for (bool neox : {false, true}) {
        for (int pos0 : {0, 8000}) {
            const int n = 6, heads = 9, hd = 64;
            RopeParams p;
            p.n_rot = hd;
            p.freq_base = 100000.0f;
            p.neox = neox;
            const std::vector<float> host = rng.normals((size_t)n * heads * hd);
            c.compare(neox ? "rope_neox" : "rope_norm", strfmt("n=%d heads=%d hd=%d pos0=%d", n, heads, hd, pos0), host.size(),
                      [&](Backend &be, float *out) {
                          be.from_host(out, host.data(), host.size() * sizeof(float));
                          be.rope(out, n, heads, hd, pos0, p);
                      });
        }
    }
    {
        const int64_t n = 3000;
        auto g = c.both(rng.normals(n, 3.0f));
        auto u = c.both(rng.normals(n));
        c.compare("swiglu", "3000", n, [&](Backend &be, float *out) {
            const bool is_ref = &be == &ref;
            be.swiglu(is_ref ? g.first : g.second, is_ref ? u.first : u.second, out, n);
        });
        c.compare("add", "3000", n, [&](Backend &be, float *out) {
            const bool is_ref = &be == &ref;
            be.add(out, is_ref ? g.first : g.second, n);
            be.add(out, is_ref ? u.first : u.second, n);
        });
    }
    // Attention: fill the cache with a prefill at pos0 = 0, extend it with another prefill, then
    // single-token steps far into the context (the decode path's splits).
    {
        AttentionShape s;
        s.n_head = 9;
        s.n_head_kv = 3;
        s.head_dim = 64;
        s.scale = 0.125f;
        const int n_ctx = 1200, q_dim = s.n_head * s.head_dim, kv_dim = s.n_head_kv * s.head_dim;
        KvLayer kv_ref, kv_dut;
        auto cache = [&](DeviceBuffers &bufs, KvLayer &kv) {
            kv.k = reinterpret_cast<uint16_t *>(bufs.zeros((size_t)n_ctx * kv_dim / 2));
            kv.v = reinterpret_cast<uint16_t *>(bufs.zeros((size_t)n_ctx * kv_dim / 2));
        };
        cache(c.ref_buffers(), kv_ref);
        cache(c.dut_buffers(), kv_dut);
        struct Step {
            int n, pos0;
        };
        for (Step st : {Step{100, 0}, Step{37, 100}, Step{1, 137}, Step{1, 138}, Step{950, 139}, Step{1, 1089}, Step{1, 1090}}) {
            auto q = c.both(rng.normals((size_t)st.n * q_dim));
            auto k = c.both(rng.normals((size_t)st.n * kv_dim));
            auto v = c.both(rng.normals((size_t)st.n * kv_dim));
            c.compare(st.n == 1 ? "attention_decode" : "attention_prefill", strfmt("n=%d pos0=%d heads=9/3 hd=64", st.n, st.pos0),
                      (size_t)st.n * q_dim, [&](Backend &be, float *out) {
                          const bool is_ref = &be == &ref;
                          be.attention(is_ref ? q.first : q.second, is_ref ? k.first : k.second, is_ref ? v.first : v.second, st.n,
                                       st.pos0, is_ref ? kv_ref : kv_dut, s, out);
                      });
        }
    }
    return c.report();
}

}  // namespace wc
