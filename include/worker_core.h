/*
 * worker_core.h — the whole C ABI of the worker-orcd inference core.
 *
 * The Rust layer talks to the C++/CUDA core only through this header. Rules:
 *   - Handles are opaque. Every *_create / *_load has a matching *_free; free(NULL) is a no-op.
 *   - Every fallible function returns wc_status. WC_OK is 0. No C++ exception, abort() or exit()
 *     ever crosses this boundary; a caught exception becomes WC_ERR_INTERNAL.
 *   - A failing call on a handle stores a message readable with *_last_error(handle) until the
 *     next failing call on that handle. Calls that have no handle yet (wc_model_load) store their
 *     message in a thread-local slot readable with wc_last_error().
 *   - A handle may be used by one thread at a time, except wc_session_params.abort_flag, which any
 *     thread may set while the session is evaluating.
 *   - Strings returned by the core are owned by the handle they came from and live as long as it.
 *
 * See .specs/core-abi.md for the contract in prose.
 */
#ifndef WORKER_CORE_H
#define WORKER_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wc_status {
    WC_OK = 0,
    WC_ERR_INVALID_ARGUMENT = 1,   /* null handle/pointer, out-of-range id or size */
    WC_ERR_IO = 2,                 /* file cannot be opened, read, mapped, or is not stable */
    WC_ERR_GGUF_FORMAT = 3,        /* malformed, truncated or inconsistent GGUF file */
    WC_ERR_UNSUPPORTED = 4,        /* valid GGUF, but architecture or tensor type not supported */
    WC_ERR_OUT_OF_MEMORY = 5,      /* host or device allocation failed */
    WC_ERR_CONTEXT_FULL = 6,       /* evaluation would pass the session's context size */
    WC_ERR_ABORTED = 7,            /* the abort flag was set during evaluation */
    WC_ERR_BACKEND_UNAVAILABLE = 8,/* e.g. CUDA asked for but not built in, or no device */
    WC_ERR_INTERNAL = 9,           /* a bug: an invariant failed or an exception escaped */
} wc_status;

/* Stable upper-case name of a status ("OK", "GGUF_FORMAT", ...). Never NULL. */
const char *wc_status_str(wc_status status);

/* Message of the last failed handle-less call (wc_model_load) on this thread; "" if none. */
const char *wc_last_error(void);

/* ---------------------------------------------------------------------------------------------
 * Model
 * ------------------------------------------------------------------------------------------- */

typedef struct wc_model wc_model;

typedef enum wc_backend_kind {
    WC_BACKEND_CPU = 0,
    WC_BACKEND_CUDA = 1,
} wc_backend_kind;

/* Checks that `kind` can start on this host without loading anything: for CUDA, that the build
 * has CUDA, a driver and a device with index `gpu_device` exist, and its compute capability is
 * supported. On failure: WC_ERR_BACKEND_UNAVAILABLE with wc_last_error() "cuda: <cause>: <why>",
 * cause one of built_without_cuda, no_driver, no_device, device_out_of_range,
 * compute_capability_too_old, cuda_error. */
wc_status wc_backend_probe(wc_backend_kind kind, int32_t gpu_device);

/* Called during loading with progress in [0, 1]. Return false to cancel the load (WC_ERR_ABORTED). */
typedef bool (*wc_progress_fn)(float progress, void *user_data);

typedef struct wc_model_params {
    wc_backend_kind backend;   /* default WC_BACKEND_CPU */
    int32_t gpu_device;        /* CUDA device index; ignored on CPU. default 0 */
    int32_t n_threads;         /* CPU worker threads; <= 0 means one per online core. default 0 */
    bool vocab_only;           /* load metadata and tokenizer only (no tensors required) */
    wc_progress_fn progress;   /* may be NULL */
    void *progress_user_data;
    /* Context to reserve room for: the load fails with WC_ERR_OUT_OF_MEMORY before any weight is
     * copied when weights plus one session of this context do not fit in the device's free memory
     * (CUDA; the message names required and free bytes, device and model). 0: no check; negative:
     * the model's training context. default 0 */
    int32_t reserve_ctx;
    /* CUDA: replay each session's decode step as a CUDA graph. default true */
    bool cuda_graphs;
} wc_model_params;

wc_model_params wc_model_default_params(void);

/* Preflights, parses, validates and maps the GGUF at `path`. On failure *out is NULL and the
 * message (naming the file, and the key/tensor/offset at fault) is in wc_last_error(). */
wc_status wc_model_load(const char *path, const wc_model_params *params, wc_model **out);
void wc_model_free(wc_model *model);
const char *wc_model_last_error(const wc_model *model);

typedef struct wc_model_info {
    const char *architecture;   /* general.architecture, e.g. "llama" */
    const char *name;           /* general.name or "" */
    const char *quant_kind;     /* dominant matrix type, e.g. "Q4_1" */
    wc_backend_kind backend;
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t n_ff;
    int32_t n_threads;          /* threads the CPU backend uses */
    uint64_t n_params;          /* number of weights in all tensors */
    uint64_t weight_bytes;      /* bytes of tensor data as stored (quantized) */
    uint32_t gguf_version;
} wc_model_info;

wc_status wc_model_get_info(const wc_model *model, wc_model_info *out);

/* ---------------------------------------------------------------------------------------------
 * Tokenizer metadata (tokenizer.ggml.*), for the Rust tokenizer to build itself from.
 * ------------------------------------------------------------------------------------------- */

typedef struct wc_tokenizer_info {
    const char *model;          /* tokenizer.ggml.model ("gpt2", "llama", ...) or "" */
    const char *pre;            /* tokenizer.ggml.pre or "" */
    const char *chat_template;  /* tokenizer.chat_template or NULL */
    int32_t n_tokens;
    int32_t n_merges;           /* 0 when the vocabulary has no merges */
    bool has_scores;
    bool has_token_types;
    int32_t bos_id;             /* -1 when absent */
    int32_t eos_id;
    int32_t eot_id;
    int32_t eom_id;
    int32_t unk_id;
    int32_t pad_id;
    int32_t sep_id;
    int8_t add_bos;             /* tokenizer.ggml.add_bos_token: 1, 0, or -1 when absent */
    int8_t add_eos;
    int8_t add_space_prefix;
    const char *model_name;     /* general.name or "" (llama.cpp keys some token attributes on it) */
} wc_tokenizer_info;

wc_status wc_model_tokenizer_info(const wc_model *model, wc_tokenizer_info *out);

/* Token `id`: its bytes (not NUL-terminated), type (tokenizer.ggml.token_type, 1 if absent) and
 * score (0 if absent). */
wc_status wc_model_token(const wc_model *model, int32_t id, const char **text, size_t *len,
                         int32_t *token_type, float *score);

/* Merge rule `index` ("left right") as stored in tokenizer.ggml.merges. */
wc_status wc_model_merge(const wc_model *model, int32_t index, const char **text, size_t *len);

/* Where the model runs. Strings live as long as the model. */
typedef struct wc_device_info {
    const char *name;           /* "cpu", or the GPU's name */
    int32_t index;              /* CUDA device index; -1 on the CPU */
    int32_t cc_major, cc_minor; /* compute capability (CUDA) */
    int32_t runtime_version;    /* CUDA runtime, e.g. 13000 */
    int32_t driver_version;
    uint64_t total_bytes;       /* device memory (CUDA); 0 on the CPU */
    uint64_t free_bytes;        /* cudaMemGetInfo's free bytes, read now */
    uint64_t weight_bytes;      /* weights copied to the device; 0 on the CPU (memory-mapped) */
} wc_device_info;

wc_status wc_model_device_info(const wc_model *model, wc_device_info *out);

/* Runs every backend op on random inputs through the CPU backend (the reference) and through the
 * backend `params` selects, and reports the largest differences as JSON:
 * {"ops": [{"op", "shape", "n", "max_abs", "ref_max_abs", "rel", "finite"}, ...]}. *json_out lives
 * until the next call on this thread. The GPU tests hold the tolerances. */
wc_status wc_backend_op_check(const wc_model_params *params, const char **json_out);

/* Checks that every weight is still where the backend put it (CUDA: device memory with no host
 * mapping, by cudaPointerGetAttributes). Any thread may call it, also while a session evaluates. */
wc_status wc_model_check_residency(const wc_model *model);

/* ---------------------------------------------------------------------------------------------
 * Session: a KV cache plus scratch for one sequence.
 * ------------------------------------------------------------------------------------------- */

typedef struct wc_session wc_session;

typedef struct wc_session_params {
    int32_t n_ctx;                    /* context size in tokens; <= 0 means the model's n_ctx_train */
    const volatile int32_t *abort_flag; /* may be NULL; non-zero aborts evaluation between layers.
                                         * Must outlive the session. */
    const char *logit_log_path;       /* append JSON Lines here (NULL: none), see .specs/parity.md */
    int32_t logit_log_top_k;          /* top entries per line; <= 0 means 20 */
} wc_session_params;

wc_session_params wc_session_default_params(void);

/* The session borrows the model: free every session before its model. */
wc_status wc_session_create(wc_model *model, const wc_session_params *params, wc_session **out);
void wc_session_free(wc_session *session);
const char *wc_session_last_error(const wc_session *session);

/* Tag written into every logit-log line from now on ("job_id" field; NULL or "" removes it). */
wc_status wc_session_set_log_tag(wc_session *session, const char *job_id);

/* Evaluates `n_tokens` tokens at positions n_past .. n_past+n_tokens-1 and appends them to the
 * KV cache. If `logits` is not NULL it receives n_vocab floats: the prediction after the last
 * token. With a logit log open, every position's prediction is also logged.
 * On WC_ERR_CONTEXT_FULL nothing is evaluated. On WC_ERR_ABORTED (or any other error) the
 * session's cache is rolled back to where it was before the call. */
wc_status wc_session_prefill(wc_session *session, const int32_t *tokens, int32_t n_tokens,
                             float *logits);

/* Like prefill, but `all_logits` receives n_tokens * n_vocab floats, one row per position. */
wc_status wc_session_prefill_all(wc_session *session, const int32_t *tokens, int32_t n_tokens,
                                 float *all_logits);

/* Evaluates one token; `logits` (n_vocab floats) must not be NULL. */
wc_status wc_session_decode(wc_session *session, int32_t token, float *logits);

/* Forgets every cached position (n_past becomes 0). */
wc_status wc_session_reset(wc_session *session);

int32_t wc_session_n_past(const wc_session *session);
int32_t wc_session_n_ctx(const wc_session *session);

/* Bytes of host (CPU) or device (CUDA) memory held by this session: KV cache and scratch. */
uint64_t wc_session_memory_bytes(const wc_session *session);

/* Backend memory (host on the CPU, VRAM on CUDA) a session of context n_ctx would allocate: its KV
 * cache and scratch, exactly. wc_session_memory_bytes of such a session adds a fixed host-side
 * logits buffer. */
wc_status wc_model_session_bytes(const wc_model *model, int32_t n_ctx, uint64_t *out);

/* ---------------------------------------------------------------------------------------------
 * Sampler: the next token from a row of logits (.specs/sampling.md). Fixed order: repetition
 * penalty, then greedy (temperature 0) or top-k, top-p, min-p, temperature and a SplitMix64 draw.
 * ------------------------------------------------------------------------------------------- */

typedef struct wc_sampler wc_sampler;

typedef struct wc_sampler_params {
    float temperature;        /* >= 0; 0 = greedy argmax, ties to the lowest id */
    int32_t top_k;            /* 0 = off, else keep the k most likely */
    float top_p;              /* (0, 1]; 1 = off */
    float min_p;              /* [0, 1); 0 = off */
    float repetition_penalty; /* > 0; 1 = off */
    uint64_t seed;
} wc_sampler_params;

/* temperature 1, top_k 0, top_p 1, min_p 0, repetition_penalty 1, seed 0 */
wc_sampler_params wc_sampler_default_params(void);

/* INVALID_ARGUMENT for out-of-range parameters; the message is in wc_last_error(). */
wc_status wc_sampler_create(const wc_sampler_params *params, int32_t n_vocab, wc_sampler **out);
void wc_sampler_free(wc_sampler *sampler);
const char *wc_sampler_last_error(const wc_sampler *sampler);

/* Adds a token (prompt or generated) to the repetition-penalty history. */
wc_status wc_sampler_accept(wc_sampler *sampler, int32_t token);

/* Picks a token from n_vocab logits. Does not accept it: the caller does, once it is kept. */
wc_status wc_sampler_sample(wc_sampler *sampler, const float *logits, int32_t n_vocab, int32_t *out_token);

/* Clears the history and restarts the RNG from `seed`. */
void wc_sampler_reset(wc_sampler *sampler, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif /* WORKER_CORE_H */
