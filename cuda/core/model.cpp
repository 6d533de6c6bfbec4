// model.cpp — loading: parse and validate the file, build the backend and the architecture
// adapter (which checks every tensor it needs), read tokenizer metadata, check that weights and a
// context fit, then copy the weights to the backend (or, on the CPU, touch every mapped page once
// so the first request does not pay for page faults); either pass drives the progress.
#include "core/model.h"

#include <algorithm>
#include <map>

#include "core/context.h"
#include "core/error.h"

namespace wc {

namespace {

const GgufValue *array_key(const GgufFile &f, const std::string &key, GgufType elem, bool required) {
    const GgufValue *v = f.find(key);
    if (!v) {
        if (required) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: required key '%s' is missing", f.path().c_str(), key.c_str()));
        return nullptr;
    }
    const bool numeric_ok = (elem == GgufType::I32 || elem == GgufType::F32) && v->type == GgufType::ARRAY &&
                            v->elem_type != GgufType::STRING && v->elem_type != GgufType::ARRAY;
    if (v->type != GgufType::ARRAY || (v->elem_type != elem && !numeric_ok)) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key '%s' must be an array of %s", f.path().c_str(), key.c_str(), gguf_type_name(elem)));
    }
    return v;
}

int32_t token_id_key(const GgufFile &f, const std::string &key, size_t n_tokens) {
    int64_t id = f.get_int(key, -1);
    if (id < -1 || id >= (int64_t)n_tokens) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key '%s' = %lld is not a token id (vocabulary has %zu tokens)", f.path().c_str(),
                                        key.c_str(), (long long)id, n_tokens));
    }
    return (int32_t)id;
}

}  // namespace

Model::Model(const std::string &path, const wc_model_params &params) {
    auto report = [&](float p) {
        if (params.progress && !params.progress(p, params.progress_user_data)) fail(WC_ERR_ABORTED, "model load cancelled");
    };
    report(0.0f);
    file_ = std::make_unique<GgufFile>(path);
    arch_name_ = file_->require_string("general.architecture");
    name_ = file_->get_string("general.name", "");
    read_tokenizer();
    report(0.05f);
    if (!params.vocab_only) {
        backend_ = make_backend(params);
        arch_ = make_architecture(*file_, *backend_);
        if (arch_->dims().n_vocab != (int)tok_.tokens.size() && !tok_.tokens.empty()) {
            fail(WC_ERR_GGUF_FORMAT, strfmt("%s: the vocabulary has %zu tokens but the model has %d rows of embeddings",
                                            path.c_str(), tok_.tokens.size(), arch_->dims().n_vocab));
        }
        // Everything must fit before the first byte is copied: weights plus a context holding one
        // sequence of the reserved context (a negative reserve_ctx means the training context).
        const int reserve_ctx = params.reserve_ctx < 0 ? arch_->dims().n_ctx_train : params.reserve_ctx;
        const size_t weight_bytes = arch_->weight_footprint();
        size_t context_bytes = 0;
        if (reserve_ctx > 0) {
            wc_context_params one = wc_context_default_params();
            one.n_seq_max = 1;
            one.n_ctx = reserve_ctx;
            context_bytes = context_memory_bytes(one);
        }
        with_file_context(*file_, [&] { backend_->reserve(weight_bytes, context_bytes, reserve_ctx, path); });

        uint64_t total = 0, done = 0, next_report = 0;
        for (const GgufTensor &t : file_->tensors()) total += t.nbytes;
        auto advance = [&](uint64_t bytes) {
            done += bytes;
            if (done >= next_report) {
                report(0.05f + 0.95f * (float)std::min(done, total) / (float)(total ? total : 1));
                next_report = done + (total / 50 + 1);
            }
        };
        if (weight_bytes > 0) {
            // The backend copies the weights: its upload drives the progress.
            backend_->on_upload = [&](size_t bytes) { advance(bytes); };
            with_file_context(*file_, [&] { arch_->load_weights(); });
            backend_->on_upload = nullptr;
        } else {
            // Ops read the mapping: touch each page once so the first request does not pay for faults.
            with_file_context(*file_, [&] { arch_->load_weights(); });
            volatile uint8_t sink = 0;
            for (const GgufTensor &t : file_->tensors()) {
                for (uint64_t off = 0; off < t.nbytes; off += 4096) sink ^= t.data[off];
                advance(t.nbytes);
            }
            (void)sink;
        }
    }
    fill_info();
    report(1.0f);
}

size_t Model::context_memory_bytes(const wc_context_params &params) const {
    if (!arch_) fail(WC_ERR_INVALID_ARGUMENT, "model was loaded vocab-only; it cannot evaluate tokens");
    return context_backend_bytes(*arch_, context_sizes(*arch_, params));
}

void Model::read_tokenizer() {
    const GgufFile &f = *file_;
    tok_.model = f.get_string("tokenizer.ggml.model", "");
    tok_.pre = f.get_string("tokenizer.ggml.pre", "");
    tok_.model_name = f.get_string("general.name", "");
    if (const GgufValue *t = f.find("tokenizer.chat_template")) {
        if (t->type != GgufType::STRING) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key 'tokenizer.chat_template' must be a string", f.path().c_str()));
        tok_.has_chat_template = true;
        tok_.chat_template = std::string(t->str);
    }
    const GgufValue *tokens = array_key(f, "tokenizer.ggml.tokens", GgufType::STRING, false);
    if (!tokens) return;
    if (tokens->count > (uint64_t)INT32_MAX) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: too many tokens", f.path().c_str()));
    const size_t n = (size_t)tokens->count;
    tok_.tokens = tokens->strings;

    auto same_length = [&](const GgufValue *v, const char *key) {
        if (v && v->count != n) {
            fail(WC_ERR_GGUF_FORMAT, strfmt("%s: key '%s' has %llu entries but there are %zu tokens", f.path().c_str(), key,
                                            (unsigned long long)v->count, n));
        }
    };
    if (const GgufValue *types = array_key(f, "tokenizer.ggml.token_type", GgufType::I32, false)) {
        same_length(types, "tokenizer.ggml.token_type");
        tok_.token_types.resize(n);
        for (size_t k = 0; k < n; ++k) tok_.token_types[k] = (int32_t)types->array_int(k);
    }
    if (const GgufValue *scores = array_key(f, "tokenizer.ggml.scores", GgufType::F32, false)) {
        same_length(scores, "tokenizer.ggml.scores");
        tok_.scores.resize(n);
        for (size_t k = 0; k < n; ++k) tok_.scores[k] = (float)scores->array_float(k);
    }
    if (const GgufValue *merges = array_key(f, "tokenizer.ggml.merges", GgufType::STRING, false)) {
        if (merges->count > (uint64_t)INT32_MAX) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: too many merges", f.path().c_str()));
        tok_.merges = merges->strings;
    }
    tok_.bos_id = token_id_key(f, "tokenizer.ggml.bos_token_id", n);
    tok_.eos_id = token_id_key(f, "tokenizer.ggml.eos_token_id", n);
    tok_.eot_id = token_id_key(f, "tokenizer.ggml.eot_token_id", n);
    tok_.eom_id = token_id_key(f, "tokenizer.ggml.eom_token_id", n);
    tok_.unk_id = token_id_key(f, "tokenizer.ggml.unknown_token_id", n);
    tok_.pad_id = token_id_key(f, "tokenizer.ggml.padding_token_id", n);
    tok_.sep_id = token_id_key(f, "tokenizer.ggml.seperator_token_id", n);
    tok_.add_bos = (int8_t)f.get_tristate_bool("tokenizer.ggml.add_bos_token");
    tok_.add_eos = (int8_t)f.get_tristate_bool("tokenizer.ggml.add_eos_token");
    tok_.add_space_prefix = (int8_t)f.get_tristate_bool("tokenizer.ggml.add_space_prefix");
}

void Model::fill_info() {
    // Dominant matrix type: the type holding most weights among 2-D tensors.
    std::map<uint32_t, uint64_t> by_type;
    uint64_t n_params = 0, bytes = 0;
    for (const GgufTensor &t : file_->tensors()) {
        n_params += (uint64_t)t.n_elements();
        bytes += t.nbytes;
        if (t.n_dims >= 2) by_type[t.type_id] += (uint64_t)t.n_elements();
    }
    uint32_t best = 0;
    uint64_t best_n = 0;
    for (auto &kv : by_type) {
        if (kv.second > best_n) best = kv.first, best_n = kv.second;
    }
    quant_kind_ = best_n ? type_traits(best).name : "none";

    info_.architecture = arch_name_.c_str();
    info_.name = name_.c_str();
    info_.quant_kind = quant_kind_.c_str();
    info_.backend = backend_ ? backend_->kind() : WC_BACKEND_CPU;
    info_.n_threads = backend_ ? backend_->n_threads() : 0;
    info_.n_params = n_params;
    info_.weight_bytes = bytes;
    info_.gguf_version = file_->version();
    info_.n_vocab = (int32_t)tok_.tokens.size();
    if (arch_) {
        const ModelDims &d = arch_->dims();
        info_.n_vocab = d.n_vocab;
        info_.n_ctx_train = d.n_ctx_train;
        info_.n_embd = d.n_embd;
        info_.n_layer = d.n_layer;
        info_.n_head = d.n_head;
        info_.n_head_kv = d.n_head_kv;
        info_.n_ff = d.n_ff;
        info_.kv_bytes_per_token = (uint64_t)arch_->kv_layers() * 2 * (uint64_t)arch_->kv_width() * sizeof(uint16_t);
    }
}

}  // namespace wc
