// sampler.h — picks the next token from a row of logits: repetition penalty, then greedy or
// top-k → top-p → min-p → temperature → a seeded draw. The algorithm, the RNG and the candidate
// order are specified in .specs/sampling.md so any implementation can reproduce it exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wc {

struct SamplerParams {
    float temperature = 1.0f;
    int32_t top_k = 0;
    float top_p = 1.0f;
    float min_p = 0.0f;
    float repetition_penalty = 1.0f;
    uint64_t seed = 0;
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

    // Adds a token (prompt or generated) to the repetition-penalty history.
    void accept(int32_t token);
    int32_t sample(const float *logits, int32_t n_vocab);
    void reset(uint64_t seed);

private:
    void apply_penalty();
    void sort_prefix(size_t n);

    SamplerParams p_;
    int32_t n_vocab_;
    SplitMix64 rng_;
    std::vector<uint8_t> seen_;
    std::vector<int32_t> history_;   // distinct accepted ids
    std::vector<float> work_;        // penalised logits
    std::vector<int32_t> cand_;      // candidate ids
    size_t sorted_ = 0;              // cand_[0, sorted_) is in candidate order
    std::vector<double> weight_;     // per candidate, exp(l - max) in the current step
};

}  // namespace wc
