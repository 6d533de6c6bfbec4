// session.h — one sequence being evaluated: the KV cache and scratch (ForwardState), the number
// of cached positions, the abort flag and the optional logit log.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/architecture.h"
#include "core/logit_log.h"
#include "core/model.h"

namespace wc {

class Session {
public:
    Session(Model &model, const wc_session_params &params);

    // Evaluates tokens at n_past..; `last_logits` (n_vocab, host) gets the final prediction and
    // `all_logits` (n * n_vocab, host) every prediction; either may be null. On any error the
    // session keeps its previous n_past.
    void eval(const int32_t *tokens, int n, float *last_logits, float *all_logits);
    void reset() { n_past_ = 0; }
    void set_log_tag(const std::string &job_id);

    int n_past() const { return n_past_; }
    int n_ctx() const { return n_ctx_; }
    uint64_t memory_bytes() const { return state_->bytes() + host_logits_.size() * sizeof(float); }

    std::string last_error;  // per-handle message for the C ABI

private:
    Model &model_;
    const Architecture &arch_;
    std::unique_ptr<ForwardState> state_;
    std::unique_ptr<LogitLog> log_;
    AbortCheck abort_;
    int n_ctx_ = 0;
    int n_past_ = 0;
    std::vector<float> host_logits_;  // one output-head chunk, copied back from the backend
};

}  // namespace wc
