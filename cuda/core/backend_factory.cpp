// backend_factory.cpp — chooses the backend a model is loaded onto. Never falls back silently:
// asking for CUDA on a build or host without it is an error, not a CPU run.
#include "core/backend.h"
#include "core/error.h"
#include "cpu/cpu_backend.h"

namespace wc {

#if defined(WC_WITH_CUDA)
std::unique_ptr<Backend> make_cuda_backend(const wc_model_params &params);  // cuda/gpu
void probe_cuda_device(int device);                                          // cuda/gpu
#else
namespace {
[[noreturn]] void no_cuda_build() {
    fail(WC_ERR_BACKEND_UNAVAILABLE, "cuda: built_without_cuda: built without CUDA support (rebuild with `cargo build --features cuda`)");
}
}  // namespace
#endif

std::unique_ptr<Backend> make_backend(const wc_model_params &params) {
    switch (params.backend) {
        case WC_BACKEND_CPU: return std::make_unique<CpuBackend>(params.n_threads);
        case WC_BACKEND_CUDA:
#if defined(WC_WITH_CUDA)
            return make_cuda_backend(params);
#else
            no_cuda_build();
#endif
    }
    fail(WC_ERR_INVALID_ARGUMENT, strfmt("unknown backend kind %d", (int)params.backend));
}

void probe_backend(wc_backend_kind kind, int gpu_device) {
    switch (kind) {
        case WC_BACKEND_CPU: return;
        case WC_BACKEND_CUDA:
#if defined(WC_WITH_CUDA)
            probe_cuda_device(gpu_device);
            return;
#else
            no_cuda_build();
#endif
    }
    fail(WC_ERR_INVALID_ARGUMENT, strfmt("unknown backend kind %d", (int)kind));
}

}  // namespace wc
