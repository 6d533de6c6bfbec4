// context.h — many sequences over one paged KV pool (wc_context): sequences and their block
// tables, admission-time reservations, the prefix cache, and the evaluation of one step of rows
// (validate, build the StepRows, run the forward pass, drop aborted rows, output head for the rows
// that asked, logit log, commit lengths and publish full blocks).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/architecture.h"
#include "core/kv_pool.h"
#include "core/logit_log.h"
#include "core/model.h"

namespace wc {

// wc_context_params after defaults and range checks.
struct ContextSizes {
    int n_seq_max = 0;
    int n_ctx = 0;       // positions per sequence
    int n_blocks = 0;    // usable pool blocks (the pool allocates one more for padding rows)
    int n_batch = 0;     // rows per step
    int max_blocks() const { return (n_ctx + kKvBlockTokens - 1) / kKvBlockTokens; }
};

ContextSizes context_sizes(const Architecture &arch, const wc_context_params &p);
// Backend bytes of a context of these sizes: KV pool plus scratch, exactly what it allocates.
size_t context_backend_bytes(const Architecture &arch, const ContextSizes &z);

struct KvStats {
    int blocks_total, blocks_referenced, blocks_cached, blocks_reserved, blocks_available, n_seq, n_ctx;
};

class Context {
public:
    Context(Model &model, const wc_context_params &params);
    ~Context();
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;

    int seq_add(const int32_t *prefix, int n_prefix, int n_reserve, int *n_cached);
    int seq_fork(int src, int n_positions, int n_reserve, int *n_shared);
    void seq_remove(int seq);
    int seq_len(int seq) const;  // -1 when unknown
    void seq_set_abort(int seq, const volatile int32_t *flag);
    void seq_set_log_tag(int seq, const std::string &job_id);

    // One step; returns false when every row was aborted. row_status may be null.
    bool decode(const wc_batch_row *rows, int n, wc_status *row_status);
    // The logits of row `row` of the last step; throws when it has none.
    const float *logits(int row) const;
    int n_vocab() const { return arch_.dims().n_vocab; }

    KvStats kv_stats() const;
    uint64_t memory_bytes() const;

    std::string last_error;  // per-handle message for the C ABI

private:
    struct Sequence {
        bool live = false;
        int len = 0;                        // positions committed
        std::vector<int32_t> blocks;        // block table
        std::vector<int32_t> tokens;        // token at each committed position
        std::vector<uint64_t> keys;         // chained prefix key of each full block
        int reserved = 0;                   // pool blocks still reserved for it
        const volatile int32_t *abort = nullptr;
        std::string tag;
        int64_t log_step = 0;
    };
    class Control;

    Sequence &live_seq(int seq, const char *what);
    const Sequence &live_seq(int seq, const char *what) const;
    int new_seq_slot();
    // Reserves blocks for `s` (holding s.blocks already) to reach n_reserve positions, counting
    // `extra_idle` idle cached blocks the caller is about to attach. Throws CONTEXT_FULL / NO_KV_SPACE.
    void reserve_for(Sequence &s, int n_reserve, int extra_idle);
    int take_block(Sequence &s);
    void commit_rows(Sequence &s, const int32_t *tokens, int n);

    Model &model_;
    const Architecture &arch_;
    Backend &be_;
    ContextSizes sizes_;
    bool prefix_cache_;
    KvPool pool_;
    std::vector<KvLayer> kv_;            // one slab pair per layer
    std::vector<void *> kv_memory_;
    std::unique_ptr<ForwardState> state_;
    std::unique_ptr<LogitLog> log_;
    std::vector<Sequence> seqs_;
    int n_live_ = 0;

    // The last step's logits: host rows and, per batch row, its index there (-1: none).
    std::vector<float> host_logits_;
    std::vector<int> logit_index_;
    // Host arrays of the step being built (reused; nothing is allocated per step once warm).
    std::vector<int32_t> h_token_, h_pos_, h_seq_, h_slot_, h_blocks_, h_logit_rows_, h_prev_row_;
};

}  // namespace wc
