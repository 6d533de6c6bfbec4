// hparams.cpp — see hparams.h.
#include "models/blocks/hparams.h"

#include <cmath>

#include "core/error.h"

namespace wc {

namespace {

constexpr int64_t kMaxCount = 1 << 24;

}  // namespace

void HParams::bad(const std::string &what) const { fail(WC_ERR_GGUF_FORMAT, file_.path() + ": " + what); }

void HParams::unsupported(const std::string &what) const { fail(WC_ERR_UNSUPPORTED, file_.path() + ": " + what); }

int HParams::count(const std::string &key) const {
    const std::string k = prefix_ + key;
    const int64_t v = file_.require_int(k);
    if (v <= 0 || v > kMaxCount) bad(strfmt("key '%s' = %lld is out of range", k.c_str(), (long long)v));
    return (int)v;
}

int HParams::count(const std::string &key, int fallback) const { return has(key) ? count(key) : fallback; }

int HParams::count_or_zero(const std::string &key) const {
    const std::string k = prefix_ + key;
    const int64_t v = file_.get_int(k, 0);
    if (v < 0 || v > kMaxCount) bad(strfmt("key '%s' = %lld is out of range", k.c_str(), (long long)v));
    return (int)v;
}

float HParams::positive(const std::string &key, float fallback) const {
    const std::string k = prefix_ + key;
    const double v = file_.get_float(k, fallback);
    if (!(v > 0) || !std::isfinite(v)) bad(strfmt("key '%s' = %g must be positive", k.c_str(), v));
    return (float)v;
}

std::string HParams::text(const std::string &key, const std::string &fallback) const { return file_.get_string(prefix_ + key, fallback); }

std::vector<bool> HParams::layer_flags(const std::string &key, int n_layer) const {
    const std::string k = prefix_ + key;
    const GgufValue *v = file_.find(k);
    if (!v || v->type != GgufType::ARRAY) return {};
    if (v->count != (uint64_t)n_layer) {
        bad(strfmt("key '%s' has %llu entries, expected one per layer (%d)", k.c_str(), (unsigned long long)v->count, n_layer));
    }
    if (v->elem_type == GgufType::STRING || v->elem_type == GgufType::ARRAY) bad(strfmt("key '%s' must be an array of bools", k.c_str()));
    std::vector<bool> flags(n_layer);
    for (int l = 0; l < n_layer; ++l) flags[l] = v->array_int(l) != 0;
    return flags;
}

ModelDims read_dims(const HParams &hp) {
    ModelDims d;
    d.n_ctx_train = hp.count("context_length");
    d.n_embd = hp.count("embedding_length");
    d.n_layer = hp.count("block_count");
    // Every layer has tensors of its own, so a file cannot hold more layers than tensors. Checked
    // here because the adapters size their per-layer tables from block_count before looking up a
    // single tensor (found by fuzzing: 2^24 layers asked for 7 GB up front).
    const size_t n_tensors = hp.file().tensors().size();
    if ((size_t)d.n_layer > n_tensors) {
        hp.bad(strfmt("block_count %d is larger than the file's tensor count %zu (every layer has its own tensors)", d.n_layer, n_tensors));
    }
    d.n_ff = hp.count("feed_forward_length");
    d.n_head = hp.count("attention.head_count");
    d.n_head_kv = hp.count("attention.head_count_kv", d.n_head);
    if (d.n_head % d.n_head_kv != 0) {
        hp.bad(strfmt("attention.head_count %d is not a multiple of head_count_kv %d", d.n_head, d.n_head_kv));
    }
    if (!hp.has("attention.key_length") && d.n_embd % d.n_head != 0) {
        hp.bad(strfmt("embedding_length %d is not a multiple of head_count %d", d.n_embd, d.n_head));
    }
    d.head_dim = hp.count("attention.key_length", d.n_embd / d.n_head);
    const int head_v = hp.count("attention.value_length", d.head_dim);
    if (head_v != d.head_dim) hp.unsupported(strfmt("attention.value_length %d differs from key_length %d", head_v, d.head_dim));
    return d;
}

RopeParams read_rope(const HParams &hp, const ModelDims &d, bool neox) {
    RopeParams r;
    r.neox = neox;
    r.n_rot = hp.count("rope.dimension_count", d.head_dim);
    if (r.n_rot > d.head_dim || r.n_rot % 2 != 0) {
        hp.bad(strfmt("rope.dimension_count %d must be even and <= head size %d", r.n_rot, d.head_dim));
    }
    r.freq_base = hp.positive("rope.freq_base", 10000.0f);
    const std::string scaling = hp.text("rope.scaling.type", "none");
    if (scaling == "linear" || scaling == "none") {
        r.freq_scale = 1.0f / hp.positive("rope.scaling.factor", 1.0f);
    }
    r.mscale = hp.positive("rope.scaling.attn_factor", 1.0f);  // llama.cpp's attn_factor without YaRN
    return r;
}

float read_rms_eps(const HParams &hp, float fallback) {
    const float eps = hp.positive("attention.layer_norm_rms_epsilon", fallback);
    if (eps > 1) hp.bad(strfmt("layer_norm_rms_epsilon %g is out of range", eps));
    return eps;
}

}  // namespace wc
