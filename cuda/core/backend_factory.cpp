// backend_factory.cpp — chooses the backend a model is loaded onto. Never falls back silently:
// asking for CUDA on a build or host without it is an error, not a CPU run.
#include "core/backend.h"
#include "core/error.h"
#include "cpu/cpu_backend.h"

namespace wc {

#if defined(WC_WITH_CUDA)
std::unique_ptr<Backend> make_cuda_backend(const wc_model_params &params);  // cuda/gpu
#endif

std::unique_ptr<Backend> make_backend(const wc_model_params &params) {
    switch (params.backend) {
        case WC_BACKEND_CPU: return std::make_unique<CpuBackend>(params.n_threads);
        case WC_BACKEND_CUDA:
#if defined(WC_WITH_CUDA)
            return make_cuda_backend(params);
#else
            fail(WC_ERR_BACKEND_UNAVAILABLE, "built without CUDA support (rebuild with `cargo build --features cuda`)");
#endif
    }
    fail(WC_ERR_INVALID_ARGUMENT, strfmt("unknown backend kind %d", (int)params.backend));
}

}  // namespace wc
