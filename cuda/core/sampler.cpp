// sampler.cpp — see sampler.h and .specs/sampling.md.
#include "core/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace wc {

uint64_t SplitMix64::next() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

Sampler::Sampler(const SamplerParams &params, int32_t n_vocab) : p_(params), n_vocab_(n_vocab), rng_(params.seed) {
    auto bad = [](const char *what) { fail(WC_ERR_INVALID_ARGUMENT, what); };
    if (n_vocab <= 0) bad("sampler: n_vocab must be positive");
    if (!std::isfinite(p_.temperature) || p_.temperature < 0) bad("sampler: temperature must be finite and >= 0");
    if (p_.top_k < 0 || p_.top_k > n_vocab) bad("sampler: top_k must be in [0, n_vocab]");
    if (!(p_.top_p > 0 && p_.top_p <= 1)) bad("sampler: top_p must be in (0, 1]");
    if (!(p_.min_p >= 0 && p_.min_p < 1)) bad("sampler: min_p must be in [0, 1)");
    if (!std::isfinite(p_.repetition_penalty) || !(p_.repetition_penalty > 0)) {
        bad("sampler: repetition_penalty must be finite and > 0");
    }
    // The range OpenAI documents; !(x >= a && x <= b) also refuses NaN.
    if (!(p_.presence_penalty >= -2 && p_.presence_penalty <= 2)) bad("sampler: presence_penalty must be finite and in [-2, 2]");
    if (!(p_.frequency_penalty >= -2 && p_.frequency_penalty <= 2)) bad("sampler: frequency_penalty must be finite and in [-2, 2]");
    seen_.assign(n_vocab, 0);
    out_count_.assign(n_vocab, 0);
    work_.resize(n_vocab);
    cand_.reserve(n_vocab);
    weight_.reserve(n_vocab);
}

void Sampler::accept(int32_t token) {
    if (token < 0 || token >= n_vocab_) {
        fail(WC_ERR_INVALID_ARGUMENT, strfmt("sampler: token %d is outside [0, %d)", token, n_vocab_));
    }
    if (!seen_[token]) {
        seen_[token] = 1;
        history_.push_back(token);
    }
}

void Sampler::accept_output(int32_t token) {
    accept(token);  // checks the range
    if (out_count_[token]++ == 0) output_.push_back(token);
}

void Sampler::set_logit_bias(const int32_t *ids, const float *bias, int32_t n) {
    if (n < 0) fail(WC_ERR_INVALID_ARGUMENT, strfmt("sampler: logit_bias count %d is negative", n));
    std::vector<std::pair<int32_t, float>> next;
    next.reserve(std::min(n, n_vocab_));  // more entries than ids must repeat one
    for (int32_t i = 0; i < n; ++i) {
        if (ids[i] < 0 || ids[i] >= n_vocab_) {
            fail(WC_ERR_INVALID_ARGUMENT, strfmt("sampler: logit_bias id %d is outside [0, %d)", ids[i], n_vocab_));
        }
        if (!(bias[i] >= -100 && bias[i] <= 100)) {
            fail(WC_ERR_INVALID_ARGUMENT,
                 strfmt("sampler: logit_bias for id %d is %g, must be finite and in [-100, 100]", ids[i], (double)bias[i]));
        }
        next.emplace_back(ids[i], bias[i]);
    }
    std::sort(next.begin(), next.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
    for (size_t i = 1; i < next.size(); ++i) {
        if (next[i].first == next[i - 1].first) {
            fail(WC_ERR_INVALID_ARGUMENT, strfmt("sampler: logit_bias lists id %d more than once", next[i].first));
        }
    }
    bias_ = std::move(next);
}

void Sampler::reset(uint64_t seed) {
    for (int32_t t : history_) seen_[t] = 0;
    history_.clear();
    for (int32_t t : output_) out_count_[t] = 0;
    output_.clear();
    rng_ = SplitMix64(seed);
}

void Sampler::apply_logit_bias() {
    for (const auto &[id, b] : bias_) work_[id] += b;
}

void Sampler::apply_penalty() {
    const float r = p_.repetition_penalty;
    if (r == 1.0f) return;
    for (int32_t t : history_) work_[t] = work_[t] > 0 ? work_[t] / r : work_[t] * r;
}

// OpenAI's definition: l -= c * frequency_penalty + (c > 0) * presence_penalty. In double: c * f
// is exact there (c < 2^29), so the result does not depend on whether the compiler fuses it.
void Sampler::apply_presence_frequency() {
    if (p_.presence_penalty == 0.0f && p_.frequency_penalty == 0.0f) return;
    for (int32_t t : output_) {
        const double penalty = (double)out_count_[t] * (double)p_.frequency_penalty + (double)p_.presence_penalty;
        work_[t] = (float)((double)work_[t] - penalty);
    }
}

// Candidate order: logit descending, ties to the lower id.
void Sampler::sort_prefix(size_t n) {
    n = std::min(n, cand_.size());
    if (n <= sorted_) return;
    const float *l = work_.data();
    auto before = [l](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); };
    std::partial_sort(cand_.begin() + sorted_, cand_.begin() + n, cand_.end(), before);
    sorted_ = n;
}

int32_t Sampler::sample(const float *logits, int32_t n_vocab) {
    if (n_vocab != n_vocab_) fail(WC_ERR_INVALID_ARGUMENT, strfmt("sampler: %d logits given, vocabulary is %d", n_vocab, n_vocab_));
    const float neg_inf = -std::numeric_limits<float>::infinity();
    for (int32_t i = 0; i < n_vocab; ++i) work_[i] = std::isnan(logits[i]) ? neg_inf : logits[i];
    apply_logit_bias();
    apply_penalty();
    apply_presence_frequency();

    if (p_.temperature == 0.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < n_vocab; ++i) {
            if (work_[i] > work_[best]) best = i;
        }
        return best;
    }

    cand_.resize(n_vocab);
    std::iota(cand_.begin(), cand_.end(), 0);
    sorted_ = 0;
    const float *l = work_.data();

    if (p_.top_k > 0) {
        sort_prefix((size_t)p_.top_k);
        cand_.resize(p_.top_k);
    }

    if (p_.top_p < 1.0f) {
        // Probabilities at temperature 1 over the current candidates.
        double mx = -INFINITY;
        for (int32_t id : cand_) mx = std::max(mx, (double)l[id]);
        double total = 0;
        for (int32_t id : cand_) total += std::exp((double)l[id] - mx);
        // Grow the sorted prefix until it holds top_p of the mass: usually a few dozen ids.
        const double target = (double)p_.top_p * total;
        double cum = 0;
        size_t keep = cand_.size();
        for (size_t i = 0; i < cand_.size(); ++i) {
            if (i == sorted_) sort_prefix(std::max<size_t>(64, 4 * sorted_));
            cum += std::exp((double)l[cand_[i]] - mx);
            if (cum >= target) {
                keep = i + 1;
                break;
            }
        }
        if (keep == cand_.size()) sort_prefix(cand_.size());  // rounding kept all: order them all
        cand_.resize(keep);
    }

    if (p_.min_p > 0.0f) {
        double mx = -INFINITY;
        for (int32_t id : cand_) mx = std::max(mx, (double)l[id]);
        // p_i / p_max = exp(l_i - l_max); order is kept.
        auto drop = [&](int32_t id) { return std::exp((double)l[id] - mx) < (double)p_.min_p; };
        const size_t before = cand_.size();
        cand_.erase(std::remove_if(cand_.begin(), cand_.end(), drop), cand_.end());
        sorted_ = sorted_ == before ? cand_.size() : std::min(sorted_, cand_.size());
    }

    // Temperature, softmax weights, and the draw in candidate order.
    const double inv_t = 1.0 / (double)p_.temperature;
    double mx = -INFINITY;
    for (int32_t id : cand_) mx = std::max(mx, (double)l[id] * inv_t);
    weight_.resize(cand_.size());
    double total = 0;
    for (size_t i = 0; i < cand_.size(); ++i) {
        weight_[i] = std::exp((double)l[cand_[i]] * inv_t - mx);
        total += weight_[i];
    }
    const double target = rng_.uniform() * total;
    double cum = 0;
    for (size_t i = 0; i < cand_.size(); ++i) {
        cum += weight_[i];
        if (cum > target) return cand_[i];
    }
    return cand_.back();
}

}  // namespace wc
