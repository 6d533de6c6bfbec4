// context.cpp — see context.h. A step, in order: validate every row (nothing is evaluated if one
// is wrong), give each sequence the blocks its new positions need, leave out sequences aborted
// already, build the host StepRows (padded to the replay size when the backend replays steps),
// run the forward pass (which drops rows of sequences aborted meanwhile), apply the output head to
// the rows that asked in chunks, and only then commit: lengths, tokens, prefix keys, published
// blocks and logit-log lines.
#include "core/context.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace wc {

namespace {

constexpr int kMaxSequences = 4096;
constexpr int kMaxBatchRows = 1 << 16;
constexpr int64_t kMaxPoolBlocks = 1 << 24;

int blocks_for(int64_t positions) { return (int)((positions + kKvBlockTokens - 1) / kKvBlockTokens); }

const Architecture &require_arch(Model &m) {
    if (!m.arch()) fail(WC_ERR_INVALID_ARGUMENT, "model was loaded vocab-only; it cannot evaluate tokens");
    return *m.arch();
}

size_t kv_slab_bytes(const Architecture &arch, const ContextSizes &z) {
    return (size_t)(z.n_blocks + 1) * kKvBlockTokens * (size_t)arch.kv_width() * sizeof(uint16_t);
}

}  // namespace

ContextSizes context_sizes(const Architecture &arch, const wc_context_params &p) {
    ContextSizes z;
    if (p.n_seq_max < 1 || p.n_seq_max > kMaxSequences) {
        fail(WC_ERR_INVALID_ARGUMENT, strfmt("n_seq_max %d is out of range (1-%d)", p.n_seq_max, kMaxSequences));
    }
    z.n_seq_max = p.n_seq_max;
    z.n_ctx = p.n_ctx > 0 ? p.n_ctx : arch.dims().n_ctx_train;
    if (z.n_ctx <= 0 || z.n_ctx > kMaxContext) fail(WC_ERR_INVALID_ARGUMENT, strfmt("context size %d is out of range", z.n_ctx));
    // By default room for n_seq_max sequences of n_ctx positions, each in whole blocks.
    const int64_t blocks = p.kv_cache_tokens > 0 ? ((int64_t)p.kv_cache_tokens + kKvBlockTokens - 1) / kKvBlockTokens
                                                 : (int64_t)z.n_seq_max * blocks_for(z.n_ctx);
    const int64_t tokens = blocks * kKvBlockTokens;
    if (blocks > kMaxPoolBlocks) {
        fail(WC_ERR_INVALID_ARGUMENT, strfmt("a KV pool of %lld positions is too large (at most %lld)", (long long)tokens,
                                             (long long)kMaxPoolBlocks * kKvBlockTokens));
    }
    z.n_blocks = (int)blocks;
    if (p.n_batch < 1 || p.n_batch > kMaxBatchRows) {
        fail(WC_ERR_INVALID_ARGUMENT, strfmt("n_batch %d is out of range (1-%d)", p.n_batch, kMaxBatchRows));
    }
    z.n_batch = p.n_batch;
    return z;
}

size_t context_backend_bytes(const Architecture &arch, const ContextSizes &z) {
    return (size_t)arch.kv_layers() * 2 * kv_slab_bytes(arch, z) + arch.state_bytes(z.n_batch);
}

Context::Context(Model &model, const wc_context_params &params)
    : model_(model),
      arch_(require_arch(model)),
      be_(model.backend()),
      sizes_(context_sizes(arch_, params)),
      prefix_cache_(params.prefix_cache),
      pool_(sizes_.n_blocks) {
    std::lock_guard<std::mutex> lock(model_.eval_mutex());
    const size_t slab = kv_slab_bytes(arch_, sizes_);
    void *kv = be_.alloc((size_t)arch_.kv_layers() * 2 * slab);
    kv_memory_.push_back(kv);
    try {
        kv_.resize(arch_.kv_layers());
        for (int l = 0; l < arch_.kv_layers(); ++l) {
            kv_[l].k = reinterpret_cast<uint16_t *>(static_cast<uint8_t *>(kv) + (size_t)(2 * l) * slab);
            kv_[l].v = reinterpret_cast<uint16_t *>(static_cast<uint8_t *>(kv) + (size_t)(2 * l + 1) * slab);
        }
        state_ = arch_.new_state(&be_, sizes_.n_batch);
        // Sequences of one step, plus the padding rows' own (replayed steps).
        be_.reserve_steps(sizes_.n_batch, std::min(sizes_.n_batch, sizes_.n_seq_max) + 1, sizes_.max_blocks());
        if (params.logit_log_path && params.logit_log_path[0]) {
            log_ = std::make_unique<LogitLog>(params.logit_log_path, params.logit_log_top_k);
        }
    } catch (...) {
        state_.reset();
        for (void *p : kv_memory_) be_.release(p);
        throw;
    }
    seqs_.reserve(sizes_.n_seq_max);
}

Context::~Context() {
    std::lock_guard<std::mutex> lock(model_.eval_mutex());
    state_.reset();
    for (void *p : kv_memory_) be_.release(p);
}

Context::Sequence &Context::live_seq(int seq, const char *what) {
    if (seq < 0 || seq >= (int)seqs_.size() || !seqs_[seq].live) {
        fail(WC_ERR_INVALID_ARGUMENT, strfmt("%s: no sequence %d in this context", what, seq));
    }
    return seqs_[seq];
}

const Context::Sequence &Context::live_seq(int seq, const char *what) const {
    return const_cast<Context *>(this)->live_seq(seq, what);
}

int Context::new_seq_slot() {
    if (n_live_ >= sizes_.n_seq_max) {
        fail(WC_ERR_INVALID_ARGUMENT, strfmt("the context holds at most %d sequences", sizes_.n_seq_max));
    }
    for (int i = 0; i < (int)seqs_.size(); ++i) {
        if (!seqs_[i].live) return i;
    }
    seqs_.emplace_back();
    return (int)seqs_.size() - 1;
}

void Context::reserve_for(Sequence &s, int n_reserve, int extra_idle) {
    s.reserved = 0;
    if (n_reserve < 0) fail(WC_ERR_INVALID_ARGUMENT, strfmt("n_reserve %d is negative", n_reserve));
    if (n_reserve == 0) return;
    if (n_reserve > sizes_.n_ctx) {
        fail(WC_ERR_CONTEXT_FULL, strfmt("%d positions exceed the context size %d", n_reserve, sizes_.n_ctx));
    }
    const int blocks = blocks_for(n_reserve);
    if (blocks > pool_.blocks_total()) {
        fail(WC_ERR_CONTEXT_FULL, strfmt("%d positions need %d KV blocks; the whole pool has %d (%d positions)", n_reserve,
                                         blocks, pool_.blocks_total(), pool_.blocks_total() * kKvBlockTokens));
    }
    const int need = std::max(0, blocks - (int)s.blocks.size());
    if (need + extra_idle > pool_.blocks_available()) {
        fail(WC_ERR_NO_KV_SPACE, strfmt("%d positions need %d more KV blocks; %d are available now", n_reserve,
                                        need + extra_idle, pool_.blocks_available()));
    }
    pool_.reserve(need);
    s.reserved = need;
}

int Context::seq_add(const int32_t *prefix, int n_prefix, int n_reserve, int *n_cached) {
    if (n_prefix < 0 || (n_prefix > 0 && !prefix)) fail(WC_ERR_INVALID_ARGUMENT, "prefix is NULL or its length negative");
    for (int i = 0; i < n_prefix; ++i) {
        if (prefix[i] < 0 || prefix[i] >= n_vocab()) {
            fail(WC_ERR_INVALID_ARGUMENT, strfmt("prefix token %d at index %d is outside the vocabulary [0, %d)", prefix[i], i, n_vocab()));
        }
    }
    const int slot = new_seq_slot();
    Sequence s;
    // The longest cached run of full blocks that starts the prefix.
    int idle = 0;
    if (prefix_cache_) {
        uint64_t parent = 0;
        const int usable = std::min(n_prefix, sizes_.n_ctx);
        for (int b = 0; (b + 1) * kKvBlockTokens <= usable; ++b) {
            const int32_t *ids = prefix + (size_t)b * kKvBlockTokens;
            const uint64_t key = KvPool::chain_key(parent, ids);
            const int blk = pool_.lookup(key, ids, parent);
            if (blk < 0) break;
            s.blocks.push_back(blk);
            s.keys.push_back(key);
            idle += pool_.is_idle_cached(blk);
            parent = key;
        }
    }
    reserve_for(s, n_reserve, idle);
    for (int blk : s.blocks) pool_.retain(blk);
    s.len = (int)s.blocks.size() * kKvBlockTokens;
    s.tokens.assign(prefix, prefix + s.len);
    s.live = true;
    seqs_[slot] = std::move(s);
    ++n_live_;
    if (n_cached) *n_cached = seqs_[slot].len;
    return slot;
}

int Context::seq_fork(int src, int n_positions, int n_reserve, int *n_shared) {
    if (n_positions < 0) fail(WC_ERR_INVALID_ARGUMENT, strfmt("n_positions %d is negative", n_positions));
    const Sequence &from = live_seq(src, "fork");
    const int shared = std::min(n_positions, from.len) / kKvBlockTokens;
    const int slot = new_seq_slot();
    Sequence s;
    s.blocks.assign(from.blocks.begin(), from.blocks.begin() + shared);
    reserve_for(s, n_reserve, 0);
    for (int blk : s.blocks) pool_.retain(blk);
    s.len = shared * kKvBlockTokens;
    s.tokens.assign(from.tokens.begin(), from.tokens.begin() + s.len);
    s.keys.assign(from.keys.begin(), from.keys.begin() + shared);
    s.live = true;
    seqs_[slot] = std::move(s);
    ++n_live_;
    if (n_shared) *n_shared = seqs_[slot].len;
    return slot;
}

void Context::seq_remove(int seq) {
    Sequence &s = live_seq(seq, "remove");
    for (int blk : s.blocks) pool_.release(blk);
    pool_.unreserve(s.reserved);
    s = Sequence{};
    --n_live_;
}

int Context::seq_len(int seq) const {
    if (seq < 0 || seq >= (int)seqs_.size() || !seqs_[seq].live) return -1;
    return seqs_[seq].len;
}

void Context::seq_set_abort(int seq, const volatile int32_t *flag) { live_seq(seq, "set abort").abort = flag; }

void Context::seq_set_log_tag(int seq, const std::string &job_id) {
    Sequence &s = live_seq(seq, "set log tag");
    s.tag = job_id;
    s.log_step = 0;
}

int Context::take_block(Sequence &s) {
    if (s.reserved > 0) {
        --s.reserved;
        return pool_.allocate_reserved();
    }
    const int b = pool_.allocate_unreserved();
    if (b < 0) fail(WC_ERR_INTERNAL, "KV pool exhausted after the step was checked");
    return b;
}

void Context::commit_rows(Sequence &s, const int32_t *tokens, int n) {
    s.tokens.insert(s.tokens.end(), tokens, tokens + n);
    s.len += n;
    // Every newly completed block gets its chained key; with the prefix cache it is published.
    while ((int)s.keys.size() < s.len / kKvBlockTokens) {
        const size_t b = s.keys.size();
        const uint64_t parent = b ? s.keys.back() : 0;
        const int32_t *ids = s.tokens.data() + b * kKvBlockTokens;
        const uint64_t key = KvPool::chain_key(parent, ids);
        s.keys.push_back(key);
        if (prefix_cache_) pool_.publish(s.blocks[b], key, ids, parent);
    }
}

// The StepControl of one step: between layers it drops the rows of sequences whose abort flag
// was set meanwhile (never inside a replayed step: a captured graph cannot change shape).
class Context::Control final : public StepControl {
public:
    Control(Context &c, const std::vector<int> &step_seqs, std::vector<char> &aborted, std::vector<int> &orig, StepRows &host,
            bool replayable)
        : c_(c), step_seqs_(step_seqs), aborted_(aborted), orig_(orig), host_(host), replayable_(replayable) {}

    bool poll(StepRows &rows, const int32_t *&kept) override {
        if (replayable_) return false;
        bool any = false;
        for (size_t i = 0; i < step_seqs_.size(); ++i) {
            const volatile int32_t *flag = c_.seqs_[step_seqs_[i]].abort;
            if (!aborted_[i] && flag && *flag != 0) aborted_[i] = any = true;
        }
        if (!any) return false;
        // Compact the host rows in place (indices only move down), remembering where each came from.
        std::vector<int> new_index(host_.n_rows, -1);
        int n = 0;
        for (int r = 0; r < host_.n_rows; ++r) {
            if (aborted_[c_.h_seq_[r]]) continue;
            c_.h_token_[n] = c_.h_token_[r];
            c_.h_pos_[n] = c_.h_pos_[r];
            c_.h_seq_[n] = c_.h_seq_[r];
            c_.h_slot_[n] = c_.h_slot_[r];
            c_.h_prev_row_[n] = r;
            orig_[n] = orig_[r];
            new_index[r] = n++;
        }
        if (n == 0) fail(WC_ERR_ABORTED, "every sequence of the step was aborted");
        int n_logits = 0;
        for (int k = 0; k < host_.n_logits; ++k) {
            const int r = new_index[c_.h_logit_rows_[k]];
            if (r >= 0) c_.h_logit_rows_[n_logits++] = r;
        }
        host_.n_rows = n;
        host_.n_logits = n_logits;
        host_.prev_row = c_.h_prev_row_.data();
        int max_pos = 0;
        for (int r = 0; r < n; ++r) max_pos = std::max(max_pos, c_.h_pos_[r]);
        host_.max_pos = max_pos;
        rows = c_.be_.upload_step(host_);
        kept = rows.prev_row;
        return true;
    }

private:
    Context &c_;
    const std::vector<int> &step_seqs_;
    std::vector<char> &aborted_;
    std::vector<int> &orig_;
    StepRows &host_;
    bool replayable_;
};

bool Context::decode(const wc_batch_row *rows, int n, wc_status *row_status) {
    if (!rows) fail(WC_ERR_INVALID_ARGUMENT, "rows is NULL");
    if (n < 1 || n > sizes_.n_batch) fail(WC_ERR_INVALID_ARGUMENT, strfmt("%d rows; a step takes 1-%d", n, sizes_.n_batch));
    logit_index_.assign(n, -1);

    // Validate every row first: a bad one fails the whole step before anything changes.
    std::vector<int> seq_step(seqs_.size(), -1);  // sequence id -> index in step_seqs
    std::vector<int> step_seqs, counts, row_step(n);
    for (int i = 0; i < n; ++i) {
        const wc_batch_row &r = rows[i];
        if (seq_len(r.seq) < 0) fail(WC_ERR_INVALID_ARGUMENT, strfmt("row %d: no sequence %d in this context", i, r.seq));
        Sequence &s = seqs_[r.seq];
        if (r.token < 0 || r.token >= n_vocab()) {
            fail(WC_ERR_INVALID_ARGUMENT, strfmt("row %d: token %d is outside the vocabulary [0, %d)", i, r.token, n_vocab()));
        }
        int &idx = seq_step[r.seq];
        if (idx < 0) {
            idx = (int)step_seqs.size();
            step_seqs.push_back(r.seq);
            counts.push_back(0);
        }
        const int expected = s.len + counts[idx];
        if (r.pos >= sizes_.n_ctx) {
            fail(WC_ERR_CONTEXT_FULL, strfmt("row %d: position %d is past the context size %d", i, r.pos, sizes_.n_ctx));
        }
        if (r.pos != expected) {
            fail(WC_ERR_INVALID_ARGUMENT, strfmt("row %d: position %d, but sequence %d continues at %d", i, r.pos, r.seq, expected));
        }
        counts[idx]++;
        row_step[i] = idx;
    }
    // KV blocks for the new positions: out of each sequence's reservation, else the free pool.
    int unreserved = 0;
    for (size_t k = 0; k < step_seqs.size(); ++k) {
        const Sequence &s = seqs_[step_seqs[k]];
        const int need = blocks_for(s.len + counts[k]) - (int)s.blocks.size();
        if (need > 0) unreserved += need - std::min(need, s.reserved);
    }
    if (unreserved > pool_.blocks_available()) {
        fail(WC_ERR_NO_KV_SPACE, strfmt("the step needs %d more KV blocks; %d are available", unreserved, pool_.blocks_available()));
    }
    for (size_t k = 0; k < step_seqs.size(); ++k) {
        Sequence &s = seqs_[step_seqs[k]];
        while ((int)s.blocks.size() < blocks_for(s.len + counts[k])) s.blocks.push_back(take_block(s));
    }

    // Sequences aborted already take no part.
    std::vector<char> aborted(step_seqs.size(), 0);
    for (size_t k = 0; k < step_seqs.size(); ++k) {
        const volatile int32_t *flag = seqs_[step_seqs[k]].abort;
        aborted[k] = flag && *flag != 0;
    }
    std::vector<int> orig;  // step row -> batch row
    for (int i = 0; i < n; ++i) {
        if (!aborted[row_step[i]]) orig.push_back(i);
    }
    auto finish_aborted = [&] {
        if (row_status) {
            for (int i = 0; i < n; ++i) row_status[i] = aborted[row_step[i]] ? WC_ERR_ABORTED : WC_OK;
        }
    };
    if (orig.empty()) {
        finish_aborted();
        return false;
    }

    // The host rows. A step whose every row wants logits and fits one output-head chunk may be
    // replayed: it is padded to the backend's replay size with rows of a padding sequence that
    // writes and reads only the pool's padding block.
    const int n_real = (int)orig.size();
    int n_logit_real = 0;
    for (int i : orig) n_logit_real += rows[i].logits || log_;
    const int replay = be_.replay_rows(n_real);
    const bool replayable = replay > 0 && replay <= sizes_.n_batch && n_logit_real == n_real && replay <= state_->max_logit_rows;
    const int n_rows = replayable ? replay : n_real;
    const int pad_seq = (int)step_seqs.size();
    const int n_seqs = pad_seq + (replayable ? 1 : 0);
    const int max_blocks = sizes_.max_blocks();
    h_token_.assign(n_rows, 0);
    h_pos_.assign(n_rows, 0);
    h_seq_.assign(n_rows, pad_seq);
    h_slot_.resize(n_rows);
    h_prev_row_.resize(n_rows);
    h_logit_rows_.clear();
    h_blocks_.assign((size_t)n_seqs * max_blocks, KvPool::kPadBlock);
    for (size_t k = 0; k < step_seqs.size(); ++k) {
        const Sequence &s = seqs_[step_seqs[k]];
        std::copy(s.blocks.begin(), s.blocks.end(), h_blocks_.begin() + (ptrdiff_t)(k * max_blocks));
    }
    int max_pos = 0;
    for (int r = 0; r < n_rows; ++r) {
        if (r < n_real) {
            const wc_batch_row &b = rows[orig[r]];
            const Sequence &s = seqs_[b.seq];
            h_token_[r] = b.token;
            h_pos_[r] = b.pos;
            h_seq_[r] = row_step[orig[r]];
            h_slot_[r] = s.blocks[b.pos / kKvBlockTokens] * kKvBlockTokens + b.pos % kKvBlockTokens;
            max_pos = std::max(max_pos, b.pos);
            if (b.logits || log_) h_logit_rows_.push_back(r);
        } else {
            h_slot_[r] = KvPool::kPadBlock * kKvBlockTokens + r % kKvBlockTokens;
            h_logit_rows_.push_back(r);
        }
        h_prev_row_[r] = r;
    }
    StepRows host;
    host.n_rows = n_rows;
    host.n_seqs = n_seqs;
    host.max_blocks = max_blocks;
    host.token = h_token_.data();
    host.pos = h_pos_.data();
    host.seq = h_seq_.data();
    host.kv_slot = h_slot_.data();
    host.blocks = h_blocks_.data();
    host.n_logits = (int)h_logit_rows_.size();
    host.logit_rows = h_logit_rows_.data();
    host.max_pos = max_pos;

    // The forward pass and the output head, chunk by chunk (the first chunk inside the step, so a
    // replayed step includes it). Contexts of one model share the backend's stream and buffers.
    std::lock_guard<std::mutex> lock(model_.eval_mutex());
    const int E = arch_.dims().n_embd;
    const size_t V = (size_t)n_vocab();
    StepRows dev = be_.upload_step(host);
    Control ctl(*this, step_seqs, aborted, orig, host, replayable);
    auto head = [&](int r0, int count) {
        be_.gather_rows(F32View::dense(state_->hidden, dev.n_rows, E), dev.logit_rows + r0, count,
                        F32View::dense(state_->head_in, count, E));
        arch_.logits(*state_, count);
    };
    try {
        be_.run_step(*state_, n_rows, replayable, [&] {
            arch_.forward(*state_, dev, kv_.data(), ctl);
            if (dev.n_logits > 0) head(0, std::min(dev.n_logits, state_->max_logit_rows));
        });
    } catch (const CoreError &e) {
        if (e.status() != WC_ERR_ABORTED) throw;
        finish_aborted();
        return false;
    }
    // Padding rows' logits are never copied out.
    const int n_logits = replayable ? n_logit_real : dev.n_logits;
    if (host_logits_.size() < (size_t)n_logits * V) host_logits_.resize((size_t)n_logits * V);
    for (int r0 = 0; r0 < n_logits; r0 += state_->max_logit_rows) {
        const int count = std::min(n_logits - r0, state_->max_logit_rows);
        if (r0 > 0) head(r0, count);
        be_.to_host(state_->logits, host_logits_.data() + (size_t)r0 * V, (size_t)count * V);
    }

    // Commit: only sequences that were not aborted advance.
    finish_aborted();
    for (int k = 0; k < n_logits; ++k) logit_index_[orig[h_logit_rows_[k]]] = k;
    std::vector<std::vector<int32_t>> new_tokens(step_seqs.size());
    for (int i = 0; i < n; ++i) new_tokens[row_step[i]].push_back(rows[i].token);
    for (size_t k = 0; k < step_seqs.size(); ++k) {
        if (!aborted[k]) commit_rows(seqs_[step_seqs[k]], new_tokens[k].data(), (int)new_tokens[k].size());
    }
    if (log_) {
        for (int k = 0; k < n_logits; ++k) {
            const wc_batch_row &b = rows[orig[h_logit_rows_[k]]];
            Sequence &s = seqs_[b.seq];
            log_->write(s.tag, s.log_step++, b.pos, b.token, host_logits_.data() + (size_t)k * V, (int)V);
        }
        log_->commit();
    }
    return true;
}

const float *Context::logits(int row) const {
    if (row < 0 || row >= (int)logit_index_.size() || logit_index_[row] < 0) {
        fail(WC_ERR_INVALID_ARGUMENT, strfmt("row %d of the last step has no logits (it did not ask, was aborted, or is out of range)", row));
    }
    return host_logits_.data() + (size_t)logit_index_[row] * n_vocab();
}

KvStats Context::kv_stats() const {
    return KvStats{pool_.blocks_total(),    pool_.blocks_referenced(), pool_.blocks_cached(), pool_.blocks_reserved(),
                   pool_.blocks_available(), n_live_,                   sizes_.n_ctx};
}

uint64_t Context::memory_bytes() const {
    return context_backend_bytes(arch_, sizes_) + host_logits_.capacity() * sizeof(float);
}

}  // namespace wc
