// op_check.cpp — every backend op on the same random inputs through the CPU backend (the
// reference) and a backend under test, reporting the largest differences as JSON. The GPU tests
// hold the tolerances; this file only measures.
#include "core/op_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/tensor_types.h"
#include "cpu/type_kernels.h"

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

// A rows x cols matrix of `type` with random contents of realistic scale (|w| ~ 0.05), from the
// type's generator in the CPU kernel table.
std::vector<uint8_t> random_matrix(Rng &rng, uint32_t type, int64_t rows, int64_t cols) {
    const TypeTraits &tt = type_traits(type);
    const TypeKernels *k = kernel_table_ref().find(type);
    if (!k) fail(WC_ERR_UNSUPPORTED, strfmt("op check: no generator for type %s", tt.name));
    const int64_t n_blocks = rows * (cols / tt.block_size);
    std::vector<uint8_t> data((size_t)n_blocks * tt.block_bytes);
    k->random_blocks(data.data(), n_blocks, rng.gen());
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
        record(op, shape, n, a, b);
    }

    void record(const std::string &op, const std::string &shape, size_t n, const std::vector<float> &a, const std::vector<float> &b) {
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

    // Batch invariance on the backend under test: `alone` and `batched` must write the same n
    // floats (reported like a comparison, with the batched run as the reference; max_abs must be 0).
    template <typename Alone, typename Batched>
    void invariance(const std::string &op, const std::string &shape, size_t n, Alone &&alone, Batched &&batched) {
        float *a_dev = db_.zeros(n);
        float *b_dev = db_.zeros(n);
        alone(a_dev);
        batched(b_dev);
        std::vector<float> a(n), b(n);
        dut_.to_host(a_dev, a.data(), n);
        dut_.to_host(b_dev, b.data(), n);
        record(op, shape, n, b, a);
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

// Step sizes the checks use (reserve_steps).
constexpr int kStepRows = 1024;
constexpr int kStepBlocks = 96;

// A step's rows on the host, built case by case.
struct HostStep {
    std::vector<int32_t> token, pos, seq, slot, blocks, logit_rows;
    std::vector<std::vector<int32_t>> tables;
    int n_rows() const { return (int)token.size(); }
    void add_row(int32_t tok, int32_t p, int32_t s, int32_t kv_slot) {
        token.push_back(tok);
        pos.push_back(p);
        seq.push_back(s);
        slot.push_back(kv_slot);
    }
    // Sequence `s` (index into tables) gets rows at positions p0 .. p0+n-1, stored per its table.
    void add_rows(int s, int p0, int n, Rng &rng) {
        const std::vector<int32_t> &t = tables[s];
        for (int p = p0; p < p0 + n; ++p) add_row((int32_t)(rng.gen() % 1000), p, s, t[p / kKvBlockTokens] * kKvBlockTokens + p % kKvBlockTokens);
    }
    void add_seq(const std::vector<int32_t> &table) {
        tables.push_back(table);
        blocks.assign(tables.size() * kStepBlocks, 0);
        for (size_t k = 0; k < tables.size(); ++k) std::copy(tables[k].begin(), tables[k].end(), blocks.begin() + (ptrdiff_t)(k * kStepBlocks));
    }
    StepRows view() const {
        StepRows r;
        r.n_rows = n_rows();
        r.n_seqs = (int)tables.size();
        r.max_blocks = kStepBlocks;
        r.token = token.data();
        r.pos = pos.data();
        r.seq = seq.data();
        r.kv_slot = slot.data();
        r.blocks = blocks.data();
        r.n_logits = (int)logit_rows.size();
        r.logit_rows = logit_rows.data();
        for (int32_t p : pos) r.max_pos = std::max(r.max_pos, (int)p);
        return r;
    }
};

// Attention through block tables: two sequences whose blocks interleave in a shuffled pool,
// prompt chunks, mixed steps (a chunk of one beside a decoded token of the other) and decode
// steps far into the context; then, on the backend under test, rows alone against the same rows
// in a batch.
template <typename RowsOn>
void check_attention(Checker &c, Backend &ref, Backend &dut, RowsOn &&rows_on, Rng &rng, const AttentionShape &s) {
    const int n_blocks = 2 * kStepBlocks + 1, q_dim = s.n_head * s.head_dim, kv_dim = s.n_head_kv * s.head_dim;
    KvLayer kv_ref, kv_dut;
    auto cache = [&](DeviceBuffers &bufs, KvLayer &kv) {
        const size_t halves = (size_t)n_blocks * kKvBlockTokens * kv_dim;
        kv.k = reinterpret_cast<uint16_t *>(bufs.zeros(halves / 2));
        kv.v = reinterpret_cast<uint16_t *>(bufs.zeros(halves / 2));
    };
    cache(c.ref_buffers(), kv_ref);
    cache(c.dut_buffers(), kv_dut);
    std::vector<int32_t> order(n_blocks - 1);
    for (int b = 0; b < n_blocks - 1; ++b) order[b] = b + 1;
    std::shuffle(order.begin(), order.end(), rng.gen);
    const std::vector<int32_t> table_a(order.begin(), order.begin() + kStepBlocks), table_b(order.begin() + kStepBlocks, order.end());
    const std::string shape = strfmt("heads=%d/%d hd=%d", s.n_head, s.n_head_kv, s.head_dim) + (s.window ? strfmt(" window=%d", s.window) : "");

    struct Part {
        int seq, pos0, n;
    };
    auto run = [&](const std::string &op, const std::vector<Part> &parts) {
        HostStep h;
        h.add_seq(table_a);
        h.add_seq(table_b);
        std::string what;
        for (const Part &p : parts) {
            h.add_rows(p.seq, p.pos0, p.n, rng);
            what += strfmt("%s%c:%d+%d", what.empty() ? "" : " ", "AB"[p.seq], p.pos0, p.n);
        }
        const int n = h.n_rows();
        auto q = c.both(rng.normals((size_t)n * q_dim));
        auto k = c.both(rng.normals((size_t)n * kv_dim));
        auto v = c.both(rng.normals((size_t)n * kv_dim));
        c.compare(op, what + " " + shape, (size_t)n * q_dim, [&](Backend &be, float *out) {
            const bool is_ref = &be == &ref;
            be.attention(F32View::dense(is_ref ? q.first : q.second, n, q_dim), F32View::dense(is_ref ? k.first : k.second, n, kv_dim),
                         F32View::dense(is_ref ? v.first : v.second, n, kv_dim), rows_on(be, h), is_ref ? kv_ref : kv_dut, s,
                         F32View::dense(out, n, q_dim));
        });
    };
    run("attention_prefill", {{0, 0, 100}});
    run("attention_mixed", {{0, 100, 37}, {1, 0, 50}});
    run("attention_decode", {{0, 137, 1}, {1, 50, 1}});
    run("attention_prefill", {{0, 138, 950}});
    run("attention_decode", {{0, 1088, 1}});
    run("attention_decode", {{1, 51, 1}, {0, 1089, 1}});

    // Invariance: the rows of A (one decoded token) and B (a chunk of 5) alone, then together.
    HostStep both_h;
    both_h.add_seq(table_a);
    both_h.add_seq(table_b);
    both_h.add_rows(0, 1090, 1, rng);
    both_h.add_rows(1, 52, 5, rng);
    const int n = both_h.n_rows();
    float *q = c.dut_buffers().copy(rng.normals((size_t)n * q_dim));
    float *k = c.dut_buffers().copy(rng.normals((size_t)n * kv_dim));
    float *v = c.dut_buffers().copy(rng.normals((size_t)n * kv_dim));
    c.invariance("invariance_attention", "A:1090+1 B:52+5 alone vs together " + shape, (size_t)n * q_dim,
                 [&](float *out) {
                     for (int part = 0; part < 2; ++part) {
                         HostStep h;
                         h.add_seq(table_a);
                         h.add_seq(table_b);
                         const int r0 = part == 0 ? 0 : 1, m = part == 0 ? 1 : 5;
                         for (int r = r0; r < r0 + m; ++r) h.add_row(both_h.token[r], both_h.pos[r], both_h.seq[r], both_h.slot[r]);
                         dut.attention(F32View::dense(q + (size_t)r0 * q_dim, m, q_dim), F32View::dense(k + (size_t)r0 * kv_dim, m, kv_dim),
                                       F32View::dense(v + (size_t)r0 * kv_dim, m, kv_dim), dut.upload_step(h.view()), kv_dut, s,
                                       F32View::dense(out + (size_t)r0 * q_dim, m, q_dim));
                     }
                 },
                 [&](float *out) {
                     dut.attention(F32View::dense(q, n, q_dim), F32View::dense(k, n, kv_dim), F32View::dense(v, n, kv_dim),
                                   dut.upload_step(both_h.view()), kv_dut, s, F32View::dense(out, n, q_dim));
                 });
}

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
    // Every type the CPU kernel table computes (a backend under test must read them all). K = 576
    // (SmolLM2's width: 36 units of 16 for the CUDA warps, uneven over 32 lanes) for 32-weight
    // blocks, 768 (3 super-blocks, 48 units) for the K-quants; then one 300 x 256 embedding table
    // per type.
    std::vector<uint32_t> types;
    for (size_t i = 0; i < kernel_table_ref().n_types; ++i) types.push_back((uint32_t)kernel_table_ref().types[i].type);
    const size_t n_types = types.size();
    auto q4_0 = std::find(types.begin(), types.end(), (uint32_t)TensorType::Q4_0);
    if (q4_0 == types.end()) fail(WC_ERR_INTERNAL, "op check: the CPU kernel table has no Q4_0");
    const size_t strided = (size_t)(q4_0 - types.begin());  // the matrix of the strided case
    std::vector<MatrixCase> matrices;
    matrices.reserve(2 * n_types);
    for (uint32_t t : types) matrices.push_back({t, 200, type_traits(t).block_size == QK_K ? 768 : 576, {}, {}});
    for (uint32_t t : types) matrices.push_back({t, 300, 256, {}, {}});  // embedding tables
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
    // Per-row inputs: the reference reads host arrays, the backend under test its uploaded copy.
    ref.reserve_steps(kStepRows, kStepRows, kStepBlocks);
    dut.reserve_steps(kStepRows, kStepRows, kStepBlocks);
    auto rows_on = [&](Backend &be, const HostStep &h) { return &be == &ref ? h.view() : be.upload_step(h.view()); };

    // matmul: one token (decode), a partial tile, several tiles; then a bias and strided views
    // (part of a fused output, as Phi-3's QKV is read).
    for (size_t i = 0; i < n_types; ++i) {
        const MatrixCase &m = matrices[i];
        for (int n : {1, 5, 37}) {
            auto x = c.both(rng.normals((size_t)n * m.cols));
            c.compare(strfmt("matmul_%s", type_traits(m.type).name), strfmt("%lldx%lld n=%d", (long long)m.rows, (long long)m.cols, n),
                      (size_t)n * m.rows, [&](Backend &be, float *out) {
                          const bool is_ref = &be == &ref;
                          be.matmul(is_ref ? weights[i].ref : weights[i].dut, F32View::dense(is_ref ? x.first : x.second, n, m.cols),
                                    F32View::dense(out, n, m.rows), nullptr);
                      });
        }
    }
    {
        const MatrixCase &m = matrices[strided];
        const int n = 7, wide = (int)m.cols + 40, out_wide = (int)m.rows + 24;
        auto x = c.both(rng.normals((size_t)n * wide));
        auto bias = c.both(rng.normals((size_t)m.rows));
        c.compare("matmul_bias_strided_Q4_0", strfmt("rows 50..150 of %lldx%lld n=%d", (long long)m.rows, (long long)m.cols, n),
                  (size_t)n * out_wide, [&](Backend &be, float *out) {
                      const bool is_ref = &be == &ref;
                      const Weight w = (is_ref ? weights[strided].ref : weights[strided].dut).rows_slice(50, 100);
                      const F32View xv = F32View{is_ref ? x.first : x.second, n, wide, wide}.cols_slice(40, m.cols);
                      const F32View yv = F32View{out, n, out_wide, out_wide}.cols_slice(24, 100);
                      be.matmul(w, xv, yv, (is_ref ? bias.first : bias.second) + 50);
                  });
    }
    // Invariance: rows computed alone equal the same rows inside a batch of 37.
    for (size_t i = 0; i < n_types; ++i) {
        const MatrixCase &m = matrices[i];
        const int n = 37;
        float *x = c.dut_buffers().copy(rng.normals((size_t)n * m.cols));
        c.invariance(strfmt("invariance_matmul_%s", type_traits(m.type).name), strfmt("%lldx%lld n=1 vs n=%d", (long long)m.rows, (long long)m.cols, n),
                     (size_t)n * m.rows,
                     [&](float *out) {
                         for (int t = 0; t < n; ++t) {
                             dut.matmul(weights[i].dut, F32View::dense(x + (size_t)t * m.cols, 1, m.cols), F32View::dense(out + (size_t)t * m.rows, 1, m.rows), nullptr);
                         }
                     },
                     [&](float *out) { dut.matmul(weights[i].dut, F32View::dense(x, n, m.cols), F32View::dense(out, n, m.rows), nullptr); });
    }
    for (size_t i = n_types; i < matrices.size(); ++i) {
        HostStep h;
        for (int id : {0, 299, 17, 150, 17}) h.add_row(id, 0, 0, 0);
        h.add_seq({1});
        const Uploaded &table = weights[i];
        const MatrixCase &m = matrices[i];
        c.compare(strfmt("embed_%s", type_traits(m.type).name), strfmt("%lldx%lld n=5", (long long)m.rows, (long long)m.cols),
                  (size_t)h.n_rows() * m.cols, [&](Backend &be, float *out) { be.embed(&be == &ref ? table.ref : table.dut, rows_on(be, h), out); });
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
        const int heads = 9, hd = 64;
        RopeParams p;
        p.n_rot = hd;
        p.freq_base = 100000.0f;
        p.neox = neox;
        // Rows of two sequences at different positions, as a mixed step has them.
        HostStep h;
        for (int pos : {0, 1, 2, 8000, 8001, 3}) h.add_row(1, pos, 0, 0);
        h.add_seq({1});
        const std::vector<float> host = rng.normals((size_t)h.n_rows() * heads * hd);
        c.compare(neox ? "rope_neox" : "rope_norm", strfmt("n=%d heads=%d hd=%d pos=0..8001", h.n_rows(), heads, hd), host.size(),
                  [&](Backend &be, float *out) {
                      be.from_host(out, host.data(), host.size() * sizeof(float));
                      be.rope(F32View::dense(out, h.n_rows(), (int64_t)heads * hd), heads, hd, rows_on(be, h), p);
                  });
    }
    {
        // Frequency factors (Llama 3, LongRoPE) and mscale.
        const int heads = 4, hd = 128;
        RopeParams p;
        p.n_rot = hd;
        p.freq_base = 500000.0f;
        p.neox = true;
        p.mscale = 1.19f;
        std::vector<float> factors(hd / 2);
        for (float &f : factors) f = 1.0f + 7.0f * (rng.byte() / 255.0f);
        auto ff = c.both(factors);
        HostStep h;
        for (int pos : {0, 7, 4000, 131000}) h.add_row(1, pos, 0, 0);
        h.add_seq({1});
        const std::vector<float> host = rng.normals((size_t)h.n_rows() * heads * hd);
        c.compare("rope_neox_factors", strfmt("n=%d heads=%d hd=%d pos=0..131000 mscale=1.19", h.n_rows(), heads, hd), host.size(),
                  [&](Backend &be, float *out) {
                      RopeParams q = p;
                      q.freq_factors = &be == &ref ? ff.first : ff.second;
                      be.from_host(out, host.data(), host.size() * sizeof(float));
                      be.rope(F32View::dense(out, h.n_rows(), (int64_t)heads * hd), heads, hd, rows_on(be, h), q);
                  });
    }
    {
        // Per-head Q/K norm (Qwen3, Gemma 3): 5 rows of 4 heads x 256, normed in place.
        const int n = 5 * 4, hd = 256;
        const std::vector<float> host = rng.normals((size_t)n * hd, 2.0f);
        c.compare("rms_norm_heads", "5x4x256 in place", (size_t)n * hd, [&](Backend &be, float *out) {
            be.from_host(out, host.data(), host.size() * sizeof(float));
            be.rms_norm(out, &be == &ref ? norm_ref : norm_dut, out, n, hd, 1e-6f);
        });
    }
    {
        const int64_t n = 3000;
        auto g = c.both(rng.normals(n, 3.0f));
        auto u = c.both(rng.normals(n));
        c.compare("swiglu", "3000", n, [&](Backend &be, float *out) {
            const bool is_ref = &be == &ref;
            be.swiglu(is_ref ? g.first : g.second, is_ref ? u.first : u.second, out, n);
        });
        c.compare("geglu", "3000", n, [&](Backend &be, float *out) {
            const bool is_ref = &be == &ref;
            be.geglu(is_ref ? g.first : g.second, is_ref ? u.first : u.second, out, n);
        });
        c.compare("scale", "3000", n, [&](Backend &be, float *out) {
            const bool is_ref = &be == &ref;
            be.add(out, is_ref ? g.first : g.second, n);
            be.scale(out, 25.298221f, n);  // sqrt(640), Gemma 3 270M's embedding scale
        });
        c.compare("add", "3000", n, [&](Backend &be, float *out) {
            const bool is_ref = &be == &ref;
            be.add(out, is_ref ? g.first : g.second, n);
            be.add(out, is_ref ? u.first : u.second, n);
        });
        const std::vector<int32_t> idx = {4, 0, 2};
        HostStep h;  // logit_rows carries the gather indices in backend memory
        for (int r = 0; r < 5; ++r) h.add_row(1, r, 0, 0);
        h.add_seq({1});
        h.logit_rows = idx;
        c.compare("gather_rows", "3 of 5x600", 3 * 600, [&](Backend &be, float *out) {
            const bool is_ref = &be == &ref;
            const StepRows r = rows_on(be, h);
            be.gather_rows(F32View::dense(is_ref ? g.first : g.second, 5, 600), r.logit_rows, 3, F32View::dense(out, 3, 600));
        });
    }
    // The third shape slides a window of 300 positions (Gemma 3's sliding layers): it crosses the
    // CUDA kernel's 256-position chunks, and the 950-row prefill and far decodes see it move.
    for (const AttentionShape &s : {AttentionShape{9, 3, 64, 0.125f, 0}, AttentionShape{4, 1, 256, 0.0625f, 0},
                                    AttentionShape{8, 2, 128, 1.0f, 300}}) {
        check_attention(c, ref, dut, rows_on, rng, s);
    }
    return c.report();
}

}  // namespace wc
