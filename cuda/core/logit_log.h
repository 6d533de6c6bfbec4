// logit_log.h — the JSON Lines parity log, written by the core so every backend and every caller
// (CLI, daemon) produces it the same way. One line per evaluated position:
//   {"pos": P, "token": T, "n_vocab": V, "logsumexp": L, "top": [[id, logit], ...]}
// plus "job_id" and "step" when the session has a tag. Format: .specs/parity.md.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace wc {

class LogitLog {
public:
    // Opens `path` for appending. Throws CoreError(WC_ERR_IO).
    LogitLog(const std::string &path, int top_k);
    ~LogitLog();
    LogitLog(const LogitLog &) = delete;
    LogitLog &operator=(const LogitLog &) = delete;

    void set_tag(const std::string &job_id) { job_id_ = job_id; step_ = committed_step_ = 0; }
    // Queues the line for the prediction `logits` (n_vocab floats) made after `token` at `pos`.
    void write(int pos, int32_t token, const float *logits, int n_vocab);
    // Writes and flushes the queued lines (the evaluation they belong to succeeded).
    void commit();
    // Drops the queued lines (the evaluation failed and its positions were rolled back).
    void discard();

private:
    FILE *fp_ = nullptr;
    int top_k_;
    std::string job_id_;
    int64_t step_ = 0;
    int64_t committed_step_ = 0;
    std::string pending_;
};

}  // namespace wc
