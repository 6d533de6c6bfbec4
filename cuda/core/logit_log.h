// logit_log.h — the JSON Lines parity log, written by the core so every backend and every caller
// (CLI, daemon) produces it the same way. One line per evaluated position:
//   {"pos": P, "token": T, "n_vocab": V, "logsumexp": L, "top": [[id, logit], ...]}
// plus "job_id" and "step" when the sequence has a tag. Format: .specs/parity.md.
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

    // Queues the line for the prediction `logits` (n_vocab floats) made after `token` at `pos`;
    // `tag` (the job id, "" for none) and `step` lead the line when the tag is set.
    void write(const std::string &tag, int64_t step, int pos, int32_t token, const float *logits, int n_vocab);
    // Writes and flushes the queued lines (the step they belong to was committed).
    void commit();

private:
    FILE *fp_ = nullptr;
    int top_k_;
    std::string pending_;
};

}  // namespace wc
