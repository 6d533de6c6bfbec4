// weights.cpp — see weights.h.
#include "models/blocks/weights.h"

#include "core/error.h"

namespace wc {

namespace {

std::string shape_of(int64_t a, int64_t b) {
    return b > 0 ? strfmt("[%lld, %lld]", (long long)a, (long long)b) : strfmt("[%lld]", (long long)a);
}

}  // namespace

const GgufTensor &ModelWeights::checked(const std::string &name, int64_t ne0, int64_t ne1) const {
    const GgufTensor *t = file_.find_tensor(name);
    if (!t) fail(WC_ERR_GGUF_FORMAT, strfmt("%s: required tensor '%s' is missing", file_.path().c_str(), name.c_str()));
    const bool ok = ne1 > 0 ? (t->n_dims == 2 && t->ne[0] == ne0 && t->ne[1] == ne1) : (t->n_dims == 1 && t->ne[0] == ne0);
    if (!ok) {
        fail(WC_ERR_GGUF_FORMAT, strfmt("%s: tensor '%s' has shape %s, expected %s", file_.path().c_str(), name.c_str(),
                                        t->shape_str().c_str(), shape_of(ne0, ne1).c_str()));
    }
    return *t;
}

void ModelWeights::matrix(const std::string &name, int64_t cols, int64_t rows, Weight *dst) {
    entries_.push_back({&checked(name, cols, rows), dst, nullptr});
}

bool ModelWeights::optional_matrix(const std::string &name, int64_t cols, int64_t rows, Weight *dst) {
    if (!has(name)) return false;
    matrix(name, cols, rows, dst);
    return true;
}

void ModelWeights::vector(const std::string &name, int64_t n, const float **dst) {
    entries_.push_back({&checked(name, n, 0), nullptr, dst});
}

bool ModelWeights::optional_vector(const std::string &name, int64_t n, const float **dst) {
    if (!has(name)) return false;
    vector(name, n, dst);
    return true;
}

size_t ModelWeights::footprint(const Backend &backend) const {
    size_t bytes = 0;
    for (const Entry &e : entries_) bytes += backend.weight_footprint(*e.tensor, e.vector != nullptr);
    return bytes;
}

void ModelWeights::upload(Backend &backend) const {
    for (const Entry &e : entries_) {
        if (e.matrix) *e.matrix = backend.upload_matrix(*e.tensor);
        else *e.vector = backend.upload_vector(*e.tensor);
    }
}

}  // namespace wc
