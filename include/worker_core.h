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
 *   - A handle may be used by one thread at a time, except the abort flags of a context's
 *     sequences (wc_context_seq_set_abort), which any thread may set while the context evaluates.
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
    WC_ERR_CONTEXT_FULL = 6,       /* a sequence would pass the context size, or could never fit the KV pool */
    WC_ERR_ABORTED = 7,            /* an abort flag was set during evaluation */
    WC_ERR_BACKEND_UNAVAILABLE = 8,/* e.g. CUDA asked for but not built in, or no device */
    WC_ERR_INTERNAL = 9,           /* a bug: an invariant failed or an exception escaped */
    WC_ERR_NO_KV_SPACE = 10,       /* the KV pool cannot hold this now; it can once sequences end */
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
     * copied when weights plus a context holding one sequence of this size do not fit in the
     * device's free memory (CUDA; the message names required and free bytes, device and model).
     * 0: no check; negative: the model's training context. default 0 */
    int32_t reserve_ctx;
    /* CUDA: replay decode steps as CUDA graphs (one per row-count bucket). default true */
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
    uint64_t kv_bytes_per_token;/* KV-pool bytes one cached position takes (all layers, K and V) */
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

/* Measures the CPU kernels of weight type `type_id` (a GGUF type id) on random blocks from `seed`:
 * every kernel variant this CPU runs against the reference variant (bit for bit), the tile form
 * against the one-row dot, and the dot against an f64 dot of the dequantized operands. *json_out
 * ({"type", "isas", "cols", "pairs", "dot_mismatches", "tile_mismatches", "quantize_mismatches",
 * "max_rel_err", "row_hex", "row_values"}) lives until the next call on this thread.
 * WC_ERR_UNSUPPORTED for a type the CPU backend cannot compute with. The tests hold the bounds. */
wc_status wc_cpu_kernel_check(uint32_t type_id, uint64_t seed, const char **json_out);

/* Runs the CPU attention op's per-ISA builds on random queries, keys and values from `seed` (prompt
 * rows, a continued prompt chunk and decode rows over a shuffled block table; several head sizes,
 * GQA groups and sliding windows) and reports JSON ({"isas", "cases", "outputs", "isa_mismatches":
 * outputs whose bits differ from the AVX2 build's, "max_abs_err": the AVX2 build against f64
 * attention}), valid until the next call on this thread. The tests hold the bounds. */
wc_status wc_cpu_attention_check(uint64_t seed, const char **json_out);

/* Checks that every weight is still where the backend put it (CUDA: device memory with no host
 * mapping, by cudaPointerGetAttributes). Any thread may call it, also while a session evaluates. */
wc_status wc_model_check_residency(const wc_model *model);

/* ---------------------------------------------------------------------------------------------
 * Context: many sequences evaluated together over one paged KV pool (.specs/batching.md).
 *
 * The pool is allocated once, at creation, in blocks of WC_KV_BLOCK_TOKENS positions; each
 * sequence holds a block table. A step (wc_context_decode) is a batch of rows, each a token of
 * one sequence at the next position of that sequence; rows of several sequences, prompt tokens
 * and decoded tokens mix freely. Every row's result is the same whatever else is in the step
 * (batch invariance). Full blocks are kept after their sequence ends (the prefix cache) and are
 * handed to new sequences whose tokens start the same way.
 * ------------------------------------------------------------------------------------------- */

#define WC_KV_BLOCK_TOKENS 16

typedef struct wc_context wc_context;
typedef struct wc_sampler wc_sampler;

typedef struct wc_context_params {
    int32_t n_seq_max;        /* sequences the context holds at once. default 4 */
    int32_t n_ctx;            /* positions one sequence may reach; <= 0: the model's training context */
    int32_t kv_cache_tokens;  /* pool size in positions, rounded up to whole blocks; <= 0: n_seq_max * n_ctx */
    int32_t n_batch;          /* most rows one wc_context_decode takes. default 512 */
    bool prefix_cache;        /* keep full blocks for reuse (wc_context_seq_add). default true */
    const char *logit_log_path; /* append JSON Lines here (NULL: none), see .specs/parity.md */
    int32_t logit_log_top_k;  /* top entries per line; <= 0 means 20 */
} wc_context_params;

wc_context_params wc_context_default_params(void);

/* The context borrows the model: free every context before its model. Allocates the KV pool and
 * the scratch for n_batch rows; nothing is allocated per sequence or per step afterwards. */
wc_status wc_context_create(wc_model *model, const wc_context_params *params, wc_context **out);
void wc_context_free(wc_context *ctx);
const char *wc_context_last_error(const wc_context *ctx);

/* Backend memory (host on the CPU, VRAM on CUDA) a context with these params allocates: its KV
 * pool and scratch, exactly. wc_context_memory_bytes of such a context adds host-side buffers. */
wc_status wc_model_context_bytes(const wc_model *model, const wc_context_params *params, uint64_t *out);
uint64_t wc_context_memory_bytes(const wc_context *ctx);

typedef struct wc_kv_stats {
    int32_t block_tokens;      /* WC_KV_BLOCK_TOKENS */
    int32_t blocks_total;      /* the pool */
    int32_t blocks_referenced; /* held by at least one sequence */
    int32_t blocks_cached;     /* held by none, kept for reuse (evicted LRU when needed) */
    int32_t blocks_reserved;   /* promised to sequences, not allocated yet */
    int32_t blocks_available;  /* what a new reservation may still claim */
    int32_t n_seq;             /* sequences held */
    int32_t n_ctx;             /* positions one sequence may reach */
} wc_kv_stats;

wc_status wc_context_kv_stats(const wc_context *ctx, wc_kv_stats *out);

/* Adds an empty sequence; *seq_out receives its id. With the prefix cache on, the longest run of
 * cached full blocks matching prefix[0..n_prefix) is attached and *n_cached (may be NULL) receives
 * how many positions that covers (a multiple of WC_KV_BLOCK_TOKENS, at most n_prefix): the
 * sequence then starts at that length. Pass as prefix the tokens whose logits are not needed
 * (a prompt without its last token). `n_reserve` > 0 reserves pool blocks for the sequence to
 * reach that many positions, so its later steps never lack KV space; 0 reserves nothing (blocks
 * are then taken as needed and a step may fail with WC_ERR_NO_KV_SPACE).
 *   WC_ERR_CONTEXT_FULL   n_reserve > n_ctx, or more blocks than the whole pool (never fits)
 *   WC_ERR_NO_KV_SPACE    the pool cannot reserve that now (nothing changed; retry later)
 *   WC_ERR_INVALID_ARGUMENT  n_seq_max sequences are held already, or a bad argument */
wc_status wc_context_seq_add(wc_context *ctx, const int32_t *prefix, int32_t n_prefix, int32_t n_reserve,
                             int32_t *seq_out, int32_t *n_cached);

/* Adds a sequence sharing the first n_positions positions of `src` (rounded down to whole blocks;
 * *n_shared, which may be NULL, receives the count), reserving as in wc_context_seq_add. */
wc_status wc_context_seq_fork(wc_context *ctx, int32_t src, int32_t n_positions, int32_t n_reserve, int32_t *seq_out,
                              int32_t *n_shared);

/* Removes a sequence: its blocks go back to the pool (full ones stay cached for reuse). */
wc_status wc_context_seq_remove(wc_context *ctx, int32_t seq);

/* Positions the sequence holds (its next row goes at this position); -1 for an unknown id. */
int32_t wc_context_seq_len(const wc_context *ctx, int32_t seq);

/* Sets the sequence's abort flag (NULL: none). The flag is an int32 the caller owns, may set from
 * any thread, and must keep alive until the sequence is removed or the flag replaced. A non-zero
 * flag drops the sequence's rows from a step at the next layer boundary (the other rows go on). */
wc_status wc_context_seq_set_abort(wc_context *ctx, int32_t seq, const volatile int32_t *flag);

/* Tag written into the sequence's logit-log lines ("job_id" field; NULL or "" removes it). */
wc_status wc_context_seq_set_log_tag(wc_context *ctx, int32_t seq, const char *job_id);

typedef struct wc_batch_row {
    int32_t token;
    int32_t pos;   /* must be the sequence's length plus the rows of it earlier in this batch */
    int32_t seq;
    bool logits;   /* keep this row's prediction (wc_context_logits / wc_context_sample) */
} wc_batch_row;

/* Evaluates one step of 1 .. n_batch rows. With a logit log open, every row's prediction is
 * logged (and kept). `row_status` (n_rows entries, may be NULL) receives WC_OK, or WC_ERR_ABORTED
 * for a row whose sequence's abort flag stopped it: such a sequence keeps its previous length.
 * Returns WC_OK when at least one row was evaluated, WC_ERR_ABORTED when every row was aborted.
 * Nothing is evaluated on any other error:
 *   WC_ERR_INVALID_ARGUMENT  unknown sequence, token outside the vocabulary, pos not the next one
 *   WC_ERR_CONTEXT_FULL      a position >= n_ctx
 *   WC_ERR_NO_KV_SPACE       a sequence without a reservation needs a block the pool lacks */
wc_status wc_context_decode(wc_context *ctx, const wc_batch_row *rows, int32_t n_rows, wc_status *row_status);

/* The n_vocab logits of row `row` of the last step (which asked for them and was not aborted);
 * valid until the next wc_context_decode. */
wc_status wc_context_logits(const wc_context *ctx, int32_t row, const float **out);

/* Samples the next token from row `row` of the last step with `sampler` (which does not accept
 * it: the caller does, once it is kept). */
wc_status wc_context_sample(wc_context *ctx, int32_t row, wc_sampler *sampler, int32_t *token_out);

/* ---------------------------------------------------------------------------------------------
 * Sampler: the next token from a row of logits (.specs/sampling.md). Fixed order: logit bias,
 * repetition penalty, presence/frequency penalties, then greedy (temperature 0) or top-k, top-p,
 * min-p, temperature and a SplitMix64 draw.
 * ------------------------------------------------------------------------------------------- */

typedef struct wc_sampler_params {
    float temperature;        /* >= 0; 0 = greedy argmax, ties to the lowest id */
    int32_t top_k;            /* 0 = off, else keep the k most likely */
    float top_p;              /* (0, 1]; 1 = off */
    float min_p;              /* [0, 1); 0 = off */
    float repetition_penalty; /* > 0; 1 = off */
    uint64_t seed;
    float presence_penalty;   /* [-2, 2]; 0 = off; subtracted once from each id generated so far */
    float frequency_penalty;  /* [-2, 2]; 0 = off; times how often each id was generated so far */
} wc_sampler_params;

/* temperature 1, top_k 0, top_p 1, min_p 0, repetition_penalty 1, seed 0, presence_penalty 0,
 * frequency_penalty 0 */
wc_sampler_params wc_sampler_default_params(void);

/* INVALID_ARGUMENT for out-of-range parameters; the message is in wc_last_error(). */
wc_status wc_sampler_create(const wc_sampler_params *params, int32_t n_vocab, wc_sampler **out);
void wc_sampler_free(wc_sampler *sampler);
const char *wc_sampler_last_error(const wc_sampler *sampler);

/* Adds a context (prompt) token to the repetition-penalty history. INVALID_ARGUMENT for an id
 * outside [0, n_vocab). */
wc_status wc_sampler_accept(wc_sampler *sampler, int32_t token);

/* Adds a generated token: to the repetition-penalty history, as wc_sampler_accept does, and to
 * the output counts the presence/frequency penalties use. INVALID_ARGUMENT as wc_sampler_accept. */
wc_status wc_sampler_accept_output(wc_sampler *sampler, int32_t token);

/* Replaces the logit bias with n pairs (ids[i], bias[i]), added to those logits before anything
 * else; n = 0 clears it (ids and bias may then be NULL). INVALID_ARGUMENT, changing nothing, for
 * n < 0, NULL arrays with n > 0, an id outside [0, n_vocab), a bias not finite or outside
 * [-100, 100], or an id listed twice. */
wc_status wc_sampler_set_logit_bias(wc_sampler *sampler, const int32_t *ids, const float *bias, int32_t n);

/* Picks a token from n_vocab logits. Does not accept it: the caller does, once it is kept. */
wc_status wc_sampler_sample(wc_sampler *sampler, const float *logits, int32_t n_vocab, int32_t *out_token);

/* Clears the history and the output counts and restarts the RNG from `seed`; keeps the logit
 * bias. */
void wc_sampler_reset(wc_sampler *sampler, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif /* WORKER_CORE_H */
