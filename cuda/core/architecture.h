// architecture.h — what a model adapter (one per GGUF `general.architecture`) provides: its
// dimensions, its scratch, and the forward pass written as Backend ops over a step's rows.
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

// Scratch one context needs for a forward pass of up to max_rows rows, in backend memory;
// released through the backend that made it. Built without a backend, it only counts the bytes it
// would allocate (Architecture::state_bytes). The KV pool is not part of it (core/context.h).
class ForwardState {
public:
    explicit ForwardState(Backend *backend) : backend_(backend) {}
    virtual ~ForwardState();
    ForwardState(const ForwardState &) = delete;
    ForwardState &operator=(const ForwardState &) = delete;

    // Zero-filled backend memory owned by this state (nullptr when only counting).
    void *allocate(size_t bytes);
    size_t bytes() const { return bytes_; }

    int max_rows = 0;        // most rows one forward() takes
    int max_logit_rows = 0;  // most rows one logits() takes
    float *hidden = nullptr; // [max_rows, n_embd]: each row's final normalised hidden state
    float *head_in = nullptr;// [max_logit_rows, n_embd]: rows gathered for the output head
    float *logits = nullptr; // [max_logit_rows, n_vocab], written by logits()

protected:
    Backend *backend_;

private:
    std::vector<void *> blocks_;
    size_t bytes_ = 0;
};

// Consulted by forward() between layers: drops the rows of sequences aborted meanwhile, so the
// rest of the step goes on without them (each row's arithmetic is independent of the others').
class StepControl {
public:
    virtual ~StepControl() = default;
    // Returns true when rows were dropped: `rows` then describes the rows left and `kept`
    // (backend memory, rows.n_rows entries) the old index of each, for the adapter to gather its
    // per-row buffers. Throws CoreError(WC_ERR_ABORTED) when no row is left.
    virtual bool poll(StepRows &rows, const int32_t *&kept) = 0;
};

class Architecture {
public:
    virtual ~Architecture() = default;
    virtual const ModelDims &dims() const = 0;
    // Backend bytes the weights will take once loaded (Backend::weight_footprint summed).
    virtual size_t weight_footprint() const = 0;
    // Copies the weights the constructor validated into the backend, one tensor at a time.
    virtual void load_weights() = 0;
    // The scratch of one context; with backend == nullptr nothing is allocated, only counted.
    virtual std::unique_ptr<ForwardState> new_state(Backend *backend, int max_rows) const = 0;
    // Backend bytes of new_state(max_rows): exactly what it allocates.
    size_t state_bytes(int max_rows) const { return new_state(nullptr, max_rows)->bytes(); }
    // Layers of the KV pool (one KvLayer each) and the f16 values per position in one of them.
    int kv_layers() const { return dims().n_layer; }
    int64_t kv_width() const { return (int64_t)dims().n_head_kv * dims().head_dim; }
    // Runs the layers for `rows` (rows.n_rows <= state.max_rows), storing each row's K and V in
    // `kv` (one KvLayer per layer) and leaving each row's final normalised hidden state in
    // state.hidden. `rows` may shrink when `ctl` drops aborted rows.
    virtual void forward(ForwardState &state, StepRows &rows, KvLayer *kv, StepControl &ctl) const = 0;
    // state.logits[0..count) = output head applied to state.head_in[0..count) (count <= max_logit_rows).
    virtual void logits(ForwardState &state, int count) const = 0;
};

// The adapter for the file's general.architecture; an unsupported one is an error listing the
// supported names. Validates every tensor the adapter needs (presence, shape) but copies none:
// that is load_weights(), after the caller has checked that everything fits.
std::unique_ptr<Architecture> make_architecture(const GgufFile &file, Backend &backend);
// Runs `body`, prefixing the file's path to a CoreError that does not name it already.
void with_file_context(const GgufFile &file, const std::function<void()> &body);
const char *supported_architectures();

}  // namespace wc
