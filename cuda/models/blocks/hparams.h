// hparams.h — reading an architecture's `<arch>.*` metadata keys with range checks, so every
// adapter reports a bad or missing key the same way (file, key, value).
#pragma once

#include <string>
#include <vector>

#include "core/architecture.h"
#include "core/gguf.h"

namespace wc {

class HParams {
public:
    HParams(const GgufFile &file, const std::string &arch) : file_(file), prefix_(arch + ".") {}

    const GgufFile &file() const { return file_; }
    const std::string &prefix() const { return prefix_; }
    bool has(const std::string &key) const { return file_.find(prefix_ + key) != nullptr; }

    // A positive count (<= 2^24): required, or `fallback` when absent.
    int count(const std::string &key) const;
    int count(const std::string &key, int fallback) const;
    // A non-negative count, 0 when absent (e.g. attention.sliding_window).
    int count_or_zero(const std::string &key) const;
    // A positive finite float, `fallback` when absent.
    float positive(const std::string &key, float fallback) const;
    std::string text(const std::string &key, const std::string &fallback) const;
    // A per-layer bool array (attention.sliding_window_pattern as an array); empty when the key is
    // absent or not an array, else exactly n_layer entries.
    std::vector<bool> layer_flags(const std::string &key, int n_layer) const;

    // Throws WC_ERR_GGUF_FORMAT / WC_ERR_UNSUPPORTED with the file's path in front.
    [[noreturn]] void bad(const std::string &what) const;
    [[noreturn]] void unsupported(const std::string &what) const;

private:
    const GgufFile &file_;
    std::string prefix_;
};

// The dimensions every decoder shares: context, embedding, layers, heads (grouped-query checked),
// head size (attention.key_length, else n_embd / n_head), feed-forward size. n_vocab is set by
// the caller from token_embd.
ModelDims read_dims(const HParams &hp);

// rope.dimension_count (even, <= head size), rope.freq_base, and rope.scaling.type none/linear
// (factor), rope.scaling.attn_factor (mscale); `neox` picks the rotation layout. Other scaling
// types are the caller's to accept.
RopeParams read_rope(const HParams &hp, const ModelDims &d, bool neox);

// attention.layer_norm_rms_epsilon in (0, 1], `fallback` when absent.
float read_rms_eps(const HParams &hp, float fallback);

}  // namespace wc
