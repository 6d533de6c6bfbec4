// weights.h — the tensors an adapter needs: found and shape-checked when the adapter is built
// (nothing copied), then counted (weight_footprint) and uploaded (load_weights) in one place, into
// the Weight / float* fields the adapter registered them with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/gguf.h"

namespace wc {

class ModelWeights {
public:
    explicit ModelWeights(const GgufFile &file) : file_(file) {}
    ModelWeights(const ModelWeights &) = delete;
    ModelWeights &operator=(const ModelWeights &) = delete;

    const GgufFile &file() const { return file_; }
    bool has(const std::string &name) const { return file_.find_tensor(name) != nullptr; }

    // A matrix of `rows` outputs (ne[1]) by `cols` inputs (ne[0]), uploaded into *dst. Missing or
    // misshapen: WC_ERR_GGUF_FORMAT naming the tensor.
    void matrix(const std::string &name, int64_t cols, int64_t rows, Weight *dst);
    // As matrix(), but absent is fine: returns false and leaves *dst alone.
    bool optional_matrix(const std::string &name, int64_t cols, int64_t rows, Weight *dst);
    // An f32 vector of n values (norm weight, bias, rope factors), uploaded into *dst.
    void vector(const std::string &name, int64_t n, const float **dst);
    bool optional_vector(const std::string &name, int64_t n, const float **dst);

    // Backend bytes of everything registered (Backend::weight_footprint summed).
    size_t footprint(const Backend &backend) const;
    // Uploads every tensor, in registration order, into its destination. Destinations must still
    // be valid: register into storage that does not move afterwards.
    void upload(Backend &backend) const;

private:
    struct Entry {
        const GgufTensor *tensor;
        Weight *matrix;      // one of the two is set
        const float **vector;
    };
    const GgufTensor &checked(const std::string &name, int64_t ne0, int64_t ne1) const;

    const GgufFile &file_;
    std::vector<Entry> entries_;
};

}  // namespace wc
