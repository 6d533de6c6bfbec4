// api.cpp — the extern "C" implementation of include/worker_core.h. Every entry point runs its
// body inside `guarded`, which turns any exception into a status and a last-error message, so
// nothing thrown in the core ever crosses the ABI.
#include <new>
#include <string>

#include "core/backend.h"
#include "core/context.h"
#include "core/error.h"
#include "core/model.h"
#include "core/op_check.h"
#include "core/sampler.h"
#include "cpu/attention_isa.h"
#include "cpu/kernel_check.h"
#include "worker_core.h"

struct wc_model {
    std::unique_ptr<wc::Model> impl;
    mutable std::string device_name;  // backs wc_device_info.name
};

struct wc_context {
    std::unique_ptr<wc::Context> impl;
};

struct wc_sampler {
    std::unique_ptr<wc::Sampler> impl;
    std::string last_error;
};

namespace {

thread_local std::string g_last_error;

template <typename F>
wc_status guarded(std::string *error_slot, F &&body) {
    try {
        body();
        return WC_OK;
    } catch (const wc::CoreError &e) {
        if (error_slot) *error_slot = e.what();
        return e.status();
    } catch (const std::bad_alloc &) {
        if (error_slot) *error_slot = "out of host memory";
        return WC_ERR_OUT_OF_MEMORY;
    } catch (const std::exception &e) {
        if (error_slot) *error_slot = std::string("internal error: ") + e.what();
        return WC_ERR_INTERNAL;
    } catch (...) {
        if (error_slot) *error_slot = "internal error: unknown exception";
        return WC_ERR_INTERNAL;
    }
}

wc_status null_arg(std::string *slot, const char *what) {
    if (slot) *slot = std::string(what) + " is NULL";
    return WC_ERR_INVALID_ARGUMENT;
}

}  // namespace

extern "C" {

const char *wc_status_str(wc_status status) {
    switch (status) {
        case WC_OK: return "OK";
        case WC_ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
        case WC_ERR_IO: return "IO";
        case WC_ERR_GGUF_FORMAT: return "GGUF_FORMAT";
        case WC_ERR_UNSUPPORTED: return "UNSUPPORTED";
        case WC_ERR_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
        case WC_ERR_CONTEXT_FULL: return "CONTEXT_FULL";
        case WC_ERR_ABORTED: return "ABORTED";
        case WC_ERR_BACKEND_UNAVAILABLE: return "BACKEND_UNAVAILABLE";
        case WC_ERR_INTERNAL: return "INTERNAL";
        case WC_ERR_NO_KV_SPACE: return "NO_KV_SPACE";
    }
    return "UNKNOWN_STATUS";
}

const char *wc_last_error(void) { return g_last_error.c_str(); }

wc_model_params wc_model_default_params(void) {
    wc_model_params p{};
    p.backend = WC_BACKEND_CPU;
    p.gpu_device = 0;
    p.n_threads = 0;
    p.vocab_only = false;
    p.progress = nullptr;
    p.progress_user_data = nullptr;
    p.reserve_ctx = 0;
    p.cuda_graphs = true;
    return p;
}

wc_status wc_model_load(const char *path, const wc_model_params *params, wc_model **out) {
    if (!out) return null_arg(&g_last_error, "out");
    *out = nullptr;
    if (!path) return null_arg(&g_last_error, "path");
    const wc_model_params p = params ? *params : wc_model_default_params();
    return guarded(&g_last_error, [&] {
        auto m = std::make_unique<wc_model>();
        m->impl = std::make_unique<wc::Model>(path, p);
        *out = m.release();
    });
}

void wc_model_free(wc_model *model) { delete model; }

const char *wc_model_last_error(const wc_model *model) { return model ? model->impl->last_error.c_str() : ""; }

wc_status wc_model_get_info(const wc_model *model, wc_model_info *out) {
    if (!model) return null_arg(&g_last_error, "model");
    if (!out) return null_arg(&model->impl->last_error, "out");
    *out = model->impl->info();
    return WC_OK;
}

wc_status wc_model_device_info(const wc_model *model, wc_device_info *out) {
    if (!model) return null_arg(&g_last_error, "model");
    if (!out) return null_arg(&model->impl->last_error, "out");
    return guarded(&model->impl->last_error, [&] {
        // A vocab-only load has no backend.
        const wc::DeviceStatus d = model->impl->arch() ? model->impl->backend().device_status() : wc::DeviceStatus{};
        model->device_name = d.name;
        *out = wc_device_info{};
        out->name = model->device_name.c_str();
        out->index = d.index;
        out->cc_major = d.cc_major;
        out->cc_minor = d.cc_minor;
        out->runtime_version = d.runtime_version;
        out->driver_version = d.driver_version;
        out->total_bytes = d.total_bytes;
        out->free_bytes = d.free_bytes;
        out->weight_bytes = d.weight_bytes;
    });
}

wc_status wc_model_check_residency(const wc_model *model) {
    if (!model) return null_arg(&g_last_error, "model");
    return guarded(&model->impl->last_error, [&] {
        if (model->impl->arch()) model->impl->backend().check_residency();
    });
}

wc_status wc_model_tokenizer_info(const wc_model *model, wc_tokenizer_info *out) {
    if (!model) return null_arg(&g_last_error, "model");
    if (!out) return null_arg(&model->impl->last_error, "out");
    const wc::TokenizerMeta &t = model->impl->tokenizer();
    *out = wc_tokenizer_info{};
    out->model = t.model.c_str();
    out->pre = t.pre.c_str();
    out->chat_template = t.has_chat_template ? t.chat_template.c_str() : nullptr;
    out->n_tokens = (int32_t)t.tokens.size();
    out->n_merges = (int32_t)t.merges.size();
    out->has_scores = !t.scores.empty();
    out->has_token_types = !t.token_types.empty();
    out->bos_id = t.bos_id;
    out->eos_id = t.eos_id;
    out->eot_id = t.eot_id;
    out->eom_id = t.eom_id;
    out->unk_id = t.unk_id;
    out->pad_id = t.pad_id;
    out->sep_id = t.sep_id;
    out->add_bos = t.add_bos;
    out->add_eos = t.add_eos;
    out->add_space_prefix = t.add_space_prefix;
    out->model_name = t.model_name.c_str();
    return WC_OK;
}

wc_status wc_model_token(const wc_model *model, int32_t id, const char **text, size_t *len, int32_t *token_type,
                         float *score) {
    if (!model) return null_arg(&g_last_error, "model");
    std::string &err = model->impl->last_error;
    if (!text || !len) return null_arg(&err, "text/len");
    const wc::TokenizerMeta &t = model->impl->tokenizer();
    if (id < 0 || (size_t)id >= t.tokens.size()) {
        err = wc::strfmt("token id %d is outside the vocabulary [0, %zu)", id, t.tokens.size());
        return WC_ERR_INVALID_ARGUMENT;
    }
    *text = t.tokens[id].data();
    *len = t.tokens[id].size();
    if (token_type) *token_type = t.token_types.empty() ? 1 : t.token_types[id];
    if (score) *score = t.scores.empty() ? 0.0f : t.scores[id];
    return WC_OK;
}

wc_status wc_model_merge(const wc_model *model, int32_t index, const char **text, size_t *len) {
    if (!model) return null_arg(&g_last_error, "model");
    std::string &err = model->impl->last_error;
    if (!text || !len) return null_arg(&err, "text/len");
    const wc::TokenizerMeta &t = model->impl->tokenizer();
    if (index < 0 || (size_t)index >= t.merges.size()) {
        err = wc::strfmt("merge index %d is outside [0, %zu)", index, t.merges.size());
        return WC_ERR_INVALID_ARGUMENT;
    }
    *text = t.merges[index].data();
    *len = t.merges[index].size();
    return WC_OK;
}

wc_context_params wc_context_default_params(void) {
    wc_context_params p{};
    p.n_seq_max = 4;
    p.n_ctx = 0;
    p.kv_cache_tokens = 0;
    p.n_batch = 512;
    p.prefix_cache = true;
    p.logit_log_path = nullptr;
    p.logit_log_top_k = 20;
    return p;
}

wc_status wc_context_create(wc_model *model, const wc_context_params *params, wc_context **out) {
    if (!out) return null_arg(model ? &model->impl->last_error : &g_last_error, "out");
    *out = nullptr;
    if (!model) return null_arg(&g_last_error, "model");
    const wc_context_params p = params ? *params : wc_context_default_params();
    return guarded(&model->impl->last_error, [&] {
        auto c = std::make_unique<wc_context>();
        c->impl = std::make_unique<wc::Context>(*model->impl, p);
        *out = c.release();
    });
}

void wc_context_free(wc_context *ctx) { delete ctx; }

const char *wc_context_last_error(const wc_context *ctx) { return ctx ? ctx->impl->last_error.c_str() : ""; }

wc_status wc_model_context_bytes(const wc_model *model, const wc_context_params *params, uint64_t *out) {
    if (!model) return null_arg(&g_last_error, "model");
    if (!out) return null_arg(&model->impl->last_error, "out");
    const wc_context_params p = params ? *params : wc_context_default_params();
    return guarded(&model->impl->last_error, [&] { *out = model->impl->context_memory_bytes(p); });
}

uint64_t wc_context_memory_bytes(const wc_context *ctx) { return ctx ? ctx->impl->memory_bytes() : 0; }

wc_status wc_context_kv_stats(const wc_context *ctx, wc_kv_stats *out) {
    if (!ctx) return null_arg(&g_last_error, "ctx");
    if (!out) return null_arg(&ctx->impl->last_error, "out");
    const wc::KvStats k = ctx->impl->kv_stats();
    out->block_tokens = wc::kKvBlockTokens;
    out->blocks_total = k.blocks_total;
    out->blocks_referenced = k.blocks_referenced;
    out->blocks_cached = k.blocks_cached;
    out->blocks_reserved = k.blocks_reserved;
    out->blocks_available = k.blocks_available;
    out->n_seq = k.n_seq;
    out->n_ctx = k.n_ctx;
    return WC_OK;
}

wc_status wc_context_seq_add(wc_context *ctx, const int32_t *prefix, int32_t n_prefix, int32_t n_reserve, int32_t *seq_out,
                             int32_t *n_cached) {
    if (!ctx) return null_arg(&g_last_error, "ctx");
    if (!seq_out) return null_arg(&ctx->impl->last_error, "seq_out");
    return guarded(&ctx->impl->last_error, [&] {
        int cached = 0;
        *seq_out = ctx->impl->seq_add(prefix, n_prefix, n_reserve, &cached);
        if (n_cached) *n_cached = cached;
    });
}

wc_status wc_context_seq_fork(wc_context *ctx, int32_t src, int32_t n_positions, int32_t n_reserve, int32_t *seq_out,
                              int32_t *n_shared) {
    if (!ctx) return null_arg(&g_last_error, "ctx");
    if (!seq_out) return null_arg(&ctx->impl->last_error, "seq_out");
    return guarded(&ctx->impl->last_error, [&] {
        int shared = 0;
        *seq_out = ctx->impl->seq_fork(src, n_positions, n_reserve, &shared);
        if (n_shared) *n_shared = shared;
    });
}

wc_status wc_context_seq_remove(wc_context *ctx, int32_t seq) {
    if (!ctx) return null_arg(&g_last_error, "ctx");
    return guarded(&ctx->impl->last_error, [&] { ctx->impl->seq_remove(seq); });
}

int32_t wc_context_seq_len(const wc_context *ctx, int32_t seq) { return ctx ? ctx->impl->seq_len(seq) : -1; }

wc_status wc_context_seq_set_abort(wc_context *ctx, int32_t seq, const volatile int32_t *flag) {
    if (!ctx) return null_arg(&g_last_error, "ctx");
    return guarded(&ctx->impl->last_error, [&] { ctx->impl->seq_set_abort(seq, flag); });
}

wc_status wc_context_seq_set_log_tag(wc_context *ctx, int32_t seq, const char *job_id) {
    if (!ctx) return null_arg(&g_last_error, "ctx");
    return guarded(&ctx->impl->last_error, [&] { ctx->impl->seq_set_log_tag(seq, job_id ? job_id : ""); });
}

wc_status wc_context_decode(wc_context *ctx, const wc_batch_row *rows, int32_t n_rows, wc_status *row_status) {
    if (!ctx) return null_arg(&g_last_error, "ctx");
    if (!rows) return null_arg(&ctx->impl->last_error, "rows");
    bool any = false;
    const wc_status st = guarded(&ctx->impl->last_error, [&] { any = ctx->impl->decode(rows, n_rows, row_status); });
    if (st == WC_OK && !any) {
        ctx->impl->last_error = "every row of the step was aborted";
        return WC_ERR_ABORTED;
    }
    return st;
}

wc_status wc_context_logits(const wc_context *ctx, int32_t row, const float **out) {
    if (!ctx) return null_arg(&g_last_error, "ctx");
    if (!out) return null_arg(&ctx->impl->last_error, "out");
    return guarded(&ctx->impl->last_error, [&] { *out = ctx->impl->logits(row); });
}

wc_status wc_context_sample(wc_context *ctx, int32_t row, wc_sampler *sampler, int32_t *token_out) {
    if (!ctx) return null_arg(&g_last_error, "ctx");
    if (!sampler || !token_out) return null_arg(&ctx->impl->last_error, "sampler/token_out");
    return guarded(&ctx->impl->last_error, [&] { *token_out = sampler->impl->sample(ctx->impl->logits(row), ctx->impl->n_vocab()); });
}

wc_status wc_backend_op_check(const wc_model_params *params, const char **json_out) {
    if (!json_out) return null_arg(&g_last_error, "json_out");
    *json_out = nullptr;
    static thread_local std::string report;
    const wc_model_params p = params ? *params : wc_model_default_params();
    return guarded(&g_last_error, [&] {
        wc_model_params cpu = wc_model_default_params();
        cpu.n_threads = 1;
        auto ref = wc::make_backend(cpu);
        auto dut = wc::make_backend(p);
        report = wc::check_ops(*ref, *dut);
        *json_out = report.c_str();
    });
}

wc_status wc_cpu_kernel_check(uint32_t type_id, uint64_t seed, const char **json_out) {
    if (!json_out) return null_arg(&g_last_error, "json_out");
    *json_out = nullptr;
    static thread_local std::string report;
    return guarded(&g_last_error, [&] {
        report = wc::cpu::check_type_kernels(type_id, seed);
        *json_out = report.c_str();
    });
}

wc_status wc_cpu_attention_check(uint64_t seed, const char **json_out) {
    if (!json_out) return null_arg(&g_last_error, "json_out");
    *json_out = nullptr;
    static thread_local std::string report;
    return guarded(&g_last_error, [&] {
        report = wc::cpu::check_attention(seed);
        *json_out = report.c_str();
    });
}

wc_status wc_backend_probe(wc_backend_kind kind, int32_t gpu_device) {
    return guarded(&g_last_error, [&] { wc::probe_backend(kind, gpu_device); });
}

wc_sampler_params wc_sampler_default_params(void) {
    wc_sampler_params p{};
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repetition_penalty = 1.0f;
    p.seed = 0;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    return p;
}

wc_status wc_sampler_create(const wc_sampler_params *params, int32_t n_vocab, wc_sampler **out) {
    if (!out) return null_arg(&g_last_error, "out");
    *out = nullptr;
    const wc_sampler_params p = params ? *params : wc_sampler_default_params();
    return guarded(&g_last_error, [&] {
        wc::SamplerParams sp;
        sp.temperature = p.temperature;
        sp.top_k = p.top_k;
        sp.top_p = p.top_p;
        sp.min_p = p.min_p;
        sp.repetition_penalty = p.repetition_penalty;
        sp.seed = p.seed;
        sp.presence_penalty = p.presence_penalty;
        sp.frequency_penalty = p.frequency_penalty;
        auto s = std::make_unique<wc_sampler>();
        s->impl = std::make_unique<wc::Sampler>(sp, n_vocab);
        *out = s.release();
    });
}

void wc_sampler_free(wc_sampler *sampler) { delete sampler; }

const char *wc_sampler_last_error(const wc_sampler *sampler) { return sampler ? sampler->last_error.c_str() : ""; }

wc_status wc_sampler_accept(wc_sampler *sampler, int32_t token) {
    if (!sampler) return null_arg(&g_last_error, "sampler");
    return guarded(&sampler->last_error, [&] { sampler->impl->accept(token); });
}

wc_status wc_sampler_accept_output(wc_sampler *sampler, int32_t token) {
    if (!sampler) return null_arg(&g_last_error, "sampler");
    return guarded(&sampler->last_error, [&] { sampler->impl->accept_output(token); });
}

wc_status wc_sampler_set_logit_bias(wc_sampler *sampler, const int32_t *ids, const float *bias, int32_t n) {
    if (!sampler) return null_arg(&g_last_error, "sampler");
    if (n > 0 && (!ids || !bias)) return null_arg(&sampler->last_error, "ids/bias");
    return guarded(&sampler->last_error, [&] { sampler->impl->set_logit_bias(ids, bias, n); });
}

wc_status wc_sampler_sample(wc_sampler *sampler, const float *logits, int32_t n_vocab, int32_t *out_token) {
    if (!sampler) return null_arg(&g_last_error, "sampler");
    if (!logits || !out_token) return null_arg(&sampler->last_error, "logits/out_token");
    return guarded(&sampler->last_error, [&] { *out_token = sampler->impl->sample(logits, n_vocab); });
}

void wc_sampler_reset(wc_sampler *sampler, uint64_t seed) {
    if (sampler) sampler->impl->reset(seed);
}

}  // extern "C"
