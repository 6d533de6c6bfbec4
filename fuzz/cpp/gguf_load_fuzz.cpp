// libFuzzer harness for the C++ core's GGUF parser and model load, driven through the public C
// ABI exactly as the worker drives it: the input bytes become a file, wc_model_load reads it with
// the CPU backend and one thread, and a model that passes validation is freed again. Built with
// ASan + UBSan by fuzz/build-cpp.sh, so any out-of-bounds read, overflow or leak is a finding.
//
// wc_model_load takes a path, so each input is written to one per-process scratch file (a file
// in /dev/shm where it exists: no disk traffic). Inputs are small, so a huge tensor the header
// declares must be refused by validation against the file size before anything is allocated.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "worker_core.h"

namespace {

std::string scratch_path() {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return std::string(dir) + "/wc-gguf-fuzz-" + std::to_string(getpid()) + ".gguf";
}

bool write_all(const std::string &path, const uint8_t *data, size_t size) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return false;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            close(fd);
            return false;
        }
        done += size_t(n);
    }
    return close(fd) == 0;
}

void load_once(const std::string &path, bool vocab_only) {
    wc_model_params params = wc_model_default_params();
    params.backend = WC_BACKEND_CPU;
    params.n_threads = 1;
    params.vocab_only = vocab_only;
    wc_model *model = nullptr;
    wc_status st = wc_model_load(path.c_str(), &params, &model);
    if (st == WC_OK) {
        if (model == nullptr) abort();  // the ABI promises a handle on success
        // Reading the metadata back walks the parsed strings and arrays once more.
        wc_model_info info{};
        (void)wc_model_get_info(model, &info);
        wc_model_free(model);
    } else {
        if (model != nullptr) abort();  // ... and NULL on failure
        if (st == WC_ERR_INTERNAL) abort();  // an invariant failed: a bug, not bad input
        if (wc_last_error()[0] == '\0') abort();  // every refusal carries a message
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const std::string path = [] {
        std::string p = scratch_path();
        atexit([] { unlink(scratch_path().c_str()); });
        return p;
    }();
    if (!write_all(path, data, size)) return 0;
    // The full load (tensors validated and mapped) and the tokenizer-only load take different
    // paths through the validator.
    load_once(path, false);
    load_once(path, true);
    return 0;
}
