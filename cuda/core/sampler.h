// sampler.h — picks the next token from a row of logits: logit bias, repetition penalty,
// presence/frequency penalties, then greedy or top-k → top-p → min-p → temperature → a seeded draw. The algorithm, the RNG and the candidate
// order are specified in .specs/sampling.md so any implementation can reproduce it exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace wc {

struct SamplerParams {
    float temperature = 1.0f;
    int32_t top_k = 0;
    float top_p = 1.0f;
    float min_p = 0.0f;
    float repetition_penalty = 1.0f;
    uint64_t seed = 0;
    float presence_penalty = 0.0f;   // OpenAI's: once per id generated at least once
    float frequency_penalty = 0.0f;  // OpenAI's: times the number of times an id was generated
};

// SplitMix64: one 64-bit state, one addition and two multiply-xorshifts per output.
class SplitMix64 {
public:
    explicit SplitMix64(uint64_t seed) : state_(seed) {}
    uint64_t next();
    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return (double)(next() >> 11) * 0x1.0p-53; }

private:
    uint64_t state_;
};

class Sampler {
public:
    // Throws CoreError(INVALID_ARGUMENT) naming the first out-of-range parameter.
    Sampler(const SamplerParams &params, int32_t n_vocab);

    // Adds a context (prompt) token to the repetition-penalty history.
    void accept(int32_t token);
    // Adds a generated token to the repetition-penalty history and counts it for the
    // presence/frequency penalties (prompt tokens never count there, as in OpenAI's API).
    void accept_output(int32_t token);
    // Replaces the logit bias with these n (id, bias) pairs; n = 0 clears it. Validates all of
    // them before changing anything.
    void set_logit_bias(const int32_t *ids, const float *bias, int32_t n);
    int32_t sample(const float *logits, int32_t n_vocab);
    // Clears the history and the output counts and reseeds; the logit bias stays (a parameter).
    void reset(uint64_t seed);

private:
    void apply_logit_bias();
    void apply_penalty();
    void apply_presence_frequency();
    void sort_prefix(size_t n);

    SamplerParams p_;
    int32_t n_vocab_;
    SplitMix64 rng_;
    std::vector<uint8_t> seen_;
    std::vector<int32_t> history_;   // distinct accepted ids
    std::vector<int32_t> out_count_; // per id, how often accept_output saw it
    std::vector<int32_t> output_;    // distinct ids with out_count_ > 0, so a sample costs O(their number)
    std::vector<std::pair<int32_t, float>> bias_;  // distinct ids, ascending
    std::vector<float> work_;        // penalised logits
    std::vector<int32_t> cand_;      // candidate ids
    size_t sorted_ = 0;              // cand_[0, sorted_) is in candidate order
    std::vector<double> weight_;     // per candidate, exp(l - max) in the current step
};

}  // namespace wc
