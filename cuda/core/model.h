// model.h — a loaded model: the parsed file, its backend, its architecture adapter and the
// tokenizer metadata the Rust side builds its tokenizer from.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/architecture.h"
#include "core/backend.h"
#include "core/gguf.h"
#include "worker_core.h"

namespace wc {

// Largest context a sequence may reach (positions are int32; block tables are sized from it).
constexpr int kMaxContext = 1 << 22;

struct TokenizerMeta {
    std::string model, pre, model_name;
    bool has_chat_template = false;
    std::string chat_template;
    std::vector<std::string_view> tokens;  // into the mapping
    std::vector<int32_t> token_types;      // empty when absent
    std::vector<float> scores;             // empty when absent
    std::vector<std::string_view> merges;
    int32_t bos_id = -1, eos_id = -1, eot_id = -1, eom_id = -1, unk_id = -1, pad_id = -1, sep_id = -1;
    int8_t add_bos = -1, add_eos = -1, add_space_prefix = -1;
};

class Model {
public:
    // Loads `path` (see wc_model_load). Throws CoreError.
    Model(const std::string &path, const wc_model_params &params);

    const GgufFile &file() const { return *file_; }
    Backend &backend() { return *backend_; }
    // nullptr for vocab-only loads.
    const Architecture *arch() const { return arch_.get(); }
    const TokenizerMeta &tokenizer() const { return tok_; }
    const wc_model_info &info() const { return info_; }
    // Backend bytes a context with these params allocates (KV pool and scratch).
    size_t context_memory_bytes(const wc_context_params &params) const;

    std::string last_error;  // per-handle message for the C ABI

    // Held while a context of this model evaluates, is created or freed: the backend's stream,
    // step buffers and scratch are shared by all contexts of a model.
    std::mutex &eval_mutex() { return eval_mutex_; }

private:
    void read_tokenizer();
    void fill_info();

    std::unique_ptr<GgufFile> file_;
    std::unique_ptr<Backend> backend_;
    std::unique_ptr<Architecture> arch_;
    TokenizerMeta tok_;
    wc_model_info info_{};
    std::string arch_name_, name_, quant_kind_;
    std::mutex eval_mutex_;
};

}  // namespace wc
