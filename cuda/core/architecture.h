// architecture.h — what a model adapter (one per GGUF `general.architecture`) provides: its
// dimensions, per-session buffers, and the forward pass written as Backend ops.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/gguf.h"

namespace wc {

struct ModelDims {
    int n_vocab = 0;
    int n_ctx_train = 0;
    int n_embd = 0;
    int n_layer = 0;
    int n_head = 0;
    int n_head_kv = 0;
    int head_dim = 0;
    int n_ff = 0;
};

// Buffers one session needs, in backend memory; released through the backend that made them.
// Built without a backend, it only counts the bytes it would allocate (Architecture::state_bytes).
class ForwardState {
public:
    explicit ForwardState(Backend *backend) : backend_(backend) {}
    virtual ~ForwardState();
    ForwardState(const ForwardState &) = delete;
    ForwardState &operator=(const ForwardState &) = delete;

    // Zero-filled backend memory owned by this state (nullptr when only counting).
    void *allocate(size_t bytes);
    size_t bytes() const { return bytes_; }

    int n_ctx = 0;
    int max_batch = 0;      // most tokens one forward() call takes
    int max_logit_rows = 0; // most rows one logits() call takes
    float *logits = nullptr;  // [max_logit_rows, n_vocab], written by logits()

protected:
    Backend *backend_;

private:
    std::vector<void *> blocks_;
    size_t bytes_ = 0;
};

// Throws CoreError(WC_ERR_ABORTED) when the caller's flag is set; adapters call it between layers.
struct AbortCheck {
    const volatile int32_t *flag = nullptr;
    void operator()() const;
};

class Architecture {
public:
    virtual ~Architecture() = default;
    virtual const ModelDims &dims() const = 0;
    // Backend bytes the weights will take once loaded (Backend::weight_footprint summed).
    virtual size_t weight_footprint() const = 0;
    // Copies the weights the constructor validated into the backend, one tensor at a time.
    virtual void load_weights() = 0;
    // The buffers of one session; with backend == nullptr nothing is allocated, only counted.
    virtual std::unique_ptr<ForwardState> new_state(Backend *backend, int n_ctx) const = 0;
    // Backend bytes of one session of context n_ctx: exactly what new_state allocates.
    size_t state_bytes(int n_ctx) const { return new_state(nullptr, n_ctx)->bytes(); }
    // Runs the layers for tokens[0..n) at positions pos0.. (n <= state.max_batch), appending to
    // the KV cache and leaving each position's final normalised hidden state in the state.
    virtual void forward(ForwardState &state, const int32_t *tokens, int n, int pos0, const AbortCheck &abort) const = 0;
    // state.logits[0..count) = output head applied to hidden rows [row0, row0+count) of the last
    // forward() (count <= state.max_logit_rows).
    virtual void logits(ForwardState &state, int row0, int count) const = 0;
};

// The adapter for the file's general.architecture; an unsupported one is an error listing the
// supported names. Validates every tensor the adapter needs (presence, shape) but copies none:
// that is load_weights(), after the caller has checked that everything fits.
std::unique_ptr<Architecture> make_architecture(const GgufFile &file, Backend &backend);
// Runs `body`, prefixing the file's path to a CoreError that does not name it already.
void with_file_context(const GgufFile &file, const std::function<void()> &body);
const char *supported_architectures();

}  // namespace wc
