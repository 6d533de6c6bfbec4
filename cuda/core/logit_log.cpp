// logit_log.cpp — see logit_log.h. Lines of one step are held in memory and written (and flushed)
// only once the step is committed, so the log never shows positions that were not kept and a
// finished run's log is complete on disk.
#include "core/logit_log.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/error.h"

namespace wc {

LogitLog::LogitLog(const std::string &path, int top_k) : top_k_(top_k > 0 ? top_k : 20) {
    // "e": close-on-exec (glibc), so the daemon's chat template helpers do not inherit the log.
    fp_ = std::fopen(path.c_str(), "ae");
    if (!fp_) fail(WC_ERR_IO, strfmt("%s: cannot open logit log for appending: %s", path.c_str(), std::strerror(errno)));
}

LogitLog::~LogitLog() {
    if (fp_) std::fclose(fp_);
}

namespace {

void append_json_string(std::string &out, const std::string &s) {
    out += '"';
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += (char)c;
        } else if (c < 0x20) {
            out += strfmt("\\u%04x", c);
        } else {
            out += (char)c;
        }
    }
    out += '"';
}

}  // namespace

void LogitLog::write(const std::string &tag, int64_t step, int pos, int32_t token, const float *logits, int n_vocab) {
    float mx = -INFINITY;
    for (int i = 0; i < n_vocab; ++i) mx = std::max(mx, logits[i]);
    double sum = 0;
    for (int i = 0; i < n_vocab; ++i) sum += std::exp((double)logits[i] - mx);
    const double lse = (double)mx + std::log(sum);

    const int k = std::min(top_k_, n_vocab);
    std::vector<int32_t> ids(n_vocab);
    std::iota(ids.begin(), ids.end(), 0);
    auto better = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);

    pending_ += '{';
    if (!tag.empty()) {
        pending_ += "\"job_id\": ";
        append_json_string(pending_, tag);
        pending_ += strfmt(", \"step\": %lld, ", (long long)step);
    }
    pending_ += strfmt("\"pos\": %d, \"token\": %d, \"n_vocab\": %d, \"logsumexp\": %.6f, \"top\": [", pos, token, n_vocab, lse);
    for (int i = 0; i < k; ++i) {
        pending_ += strfmt(i ? ", [%d, %.6f]" : "[%d, %.6f]", ids[i], (double)logits[ids[i]]);
    }
    pending_ += "]}\n";
}

void LogitLog::commit() {
    std::fwrite(pending_.data(), 1, pending_.size(), fp_);
    std::fflush(fp_);
    pending_.clear();
}

}  // namespace wc
