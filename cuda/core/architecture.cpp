// architecture.cpp — the registry of model adapters and the shared ForwardState plumbing.
#include "core/architecture.h"

#include <functional>

#include "core/error.h"
#include "models/models.h"

namespace wc {

ForwardState::~ForwardState() {
    if (!backend_) return;
    backend_->forget_state(*this);
    for (void *p : blocks_) backend_->release(p);
}

void *ForwardState::allocate(size_t bytes) {
    bytes_ += bytes;
    if (!backend_) return nullptr;
    void *p = backend_->alloc_scratch(bytes);
    blocks_.push_back(p);
    return p;
}

namespace {

// The registry: general.architecture -> its adapter (cuda/models/<name>.cpp).
struct ArchitectureEntry {
    const char *name;
    std::unique_ptr<Architecture> (*make)(const GgufFile &, Backend &);
};

constexpr ArchitectureEntry kArchitectures[] = {
    {"llama", make_llama}, {"qwen2", make_qwen2}, {"qwen3", make_qwen3}, {"phi3", make_phi3}, {"gemma3", make_gemma3},
};

std::unique_ptr<Architecture> build(const std::string &arch, const GgufFile &file, Backend &backend) {
    for (const ArchitectureEntry &e : kArchitectures) {
        if (arch == e.name) return e.make(file, backend);
    }
    return nullptr;
}

}  // namespace

const char *supported_architectures() {
    static const std::string names = [] {
        std::string s;
        for (const ArchitectureEntry &e : kArchitectures) s += (s.empty() ? "" : ", ") + std::string(e.name);
        return s;
    }();
    return names.c_str();
}

void with_file_context(const GgufFile &file, const std::function<void()> &body) {
    try {
        body();
    } catch (const CoreError &e) {
        // Backend errors (an unsupported tensor type, out of memory) do not know the file.
        const std::string msg = e.what();
        if (msg.rfind(file.path(), 0) == 0) throw;
        fail(e.status(), file.path() + ": " + msg);
    }
}

std::unique_ptr<Architecture> make_architecture(const GgufFile &file, Backend &backend) {
    const std::string arch = file.require_string("general.architecture");
    std::unique_ptr<Architecture> adapter;
    with_file_context(file, [&] { adapter = build(arch, file, backend); });
    if (adapter) return adapter;
    fail(WC_ERR_UNSUPPORTED, strfmt("%s: architecture '%s' is not supported (supported: %s)", file.path().c_str(),
                                    arch.c_str(), supported_architectures()));
}

}  // namespace wc
