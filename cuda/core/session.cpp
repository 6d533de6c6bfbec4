// session.cpp — batching a request into forward() micro-batches and output-head chunks, context
// bounds, rollback on failure, and feeding the logit log.
#include "core/session.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace wc {

namespace {

const Architecture &require_arch(Model &m) {
    if (!m.arch()) fail(WC_ERR_INVALID_ARGUMENT, "model was loaded vocab-only; it cannot evaluate tokens");
    return *m.arch();
}

}  // namespace

Session::Session(Model &model, const wc_session_params &params) : model_(model), arch_(require_arch(model)) {
    const ModelDims &d = arch_.dims();
    n_ctx_ = params.n_ctx > 0 ? params.n_ctx : d.n_ctx_train;
    if (n_ctx_ <= 0 || n_ctx_ > kMaxContext) fail(WC_ERR_INVALID_ARGUMENT, strfmt("context size %d is out of range", n_ctx_));
    abort_.flag = params.abort_flag;
    state_ = arch_.new_state(&model.backend(), n_ctx_);
    host_logits_.resize((size_t)state_->max_logit_rows * d.n_vocab);
    if (params.logit_log_path && params.logit_log_path[0]) {
        log_ = std::make_unique<LogitLog>(params.logit_log_path, params.logit_log_top_k);
    }
}

void Session::set_log_tag(const std::string &job_id) {
    if (log_) log_->set_tag(job_id);
}

void Session::eval(const int32_t *tokens, int n, float *last_logits, float *all_logits) {
    const ModelDims &d = arch_.dims();
    if (n <= 0) fail(WC_ERR_INVALID_ARGUMENT, strfmt("token count %d must be positive", n));
    if (!tokens) fail(WC_ERR_INVALID_ARGUMENT, "tokens is NULL");
    if ((int64_t)n_past_ + n > n_ctx_) {
        fail(WC_ERR_CONTEXT_FULL, strfmt("%d cached + %d new tokens exceed the context size %d", n_past_, n, n_ctx_));
    }
    for (int i = 0; i < n; ++i) {
        if (tokens[i] < 0 || tokens[i] >= d.n_vocab) {
            fail(WC_ERR_INVALID_ARGUMENT, strfmt("token %d at index %d is outside the vocabulary [0, %d)", tokens[i], i, d.n_vocab));
        }
    }
    // The log keeps this call's lines only if the call succeeds.
    struct LogGuard {
        LogitLog *log;
        bool ok = false;
        ~LogGuard() {
            if (log && !ok) log->discard();
        }
    } log_guard{log_.get()};

    const size_t V = (size_t)d.n_vocab;
    int pos = n_past_;
    for (int done = 0; done < n;) {
        const int chunk = std::min(n - done, state_->max_batch);
        const bool last_chunk = done + chunk == n;
        // Rows whose logits someone wants: all of them when logging or returning all, else the last.
        const bool every_row = log_ || all_logits;
        const int first_row = every_row ? 0 : (last_chunk && last_logits ? chunk - 1 : chunk);
        // A single token with its logits wanted is a decode step: one unit the backend may replay.
        const bool decode_step = chunk == 1 && first_row == 0;
        if (decode_step) {
            abort_();
            model_.backend().decode_step(*state_, tokens[done], pos, [&] {
                arch_.forward(*state_, tokens + done, 1, pos, abort_);
                arch_.logits(*state_, 0, 1);
            });
        } else {
            arch_.forward(*state_, tokens + done, chunk, pos, abort_);
        }
        for (int r0 = first_row; r0 < chunk; r0 += state_->max_logit_rows) {
            const int count = std::min(chunk - r0, state_->max_logit_rows);
            if (!decode_step) arch_.logits(*state_, r0, count);
            model_.backend().to_host(state_->logits, host_logits_.data(), (size_t)count * V);
            for (int r = 0; r < count; ++r) {
                const int row = r0 + r, idx = done + row;
                const float *row_logits = host_logits_.data() + (size_t)r * V;
                if (log_) log_->write(pos + row, tokens[idx], row_logits, (int)V);
                if (all_logits) std::memcpy(all_logits + (size_t)idx * V, row_logits, V * sizeof(float));
                if (last_logits && idx == n - 1) std::memcpy(last_logits, row_logits, V * sizeof(float));
            }
        }
        done += chunk;
        pos += chunk;
    }
    if (log_) log_->commit();
    log_guard.ok = true;
    n_past_ = pos;
}

}  // namespace wc
