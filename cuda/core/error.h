// error.h — how the core reports failure internally.
//
// Inside the core, failures are C++ exceptions carrying a wc_status and a message; api.cpp
// catches every exception at the extern "C" boundary and turns it into a status plus a
// last-error string. Nothing below api.cpp ever aborts or exits.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "worker_core.h"

namespace wc {

class CoreError : public std::runtime_error {
public:
    CoreError(wc_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    wc_status status() const { return status_; }

private:
    wc_status status_;
};

// printf-style formatting into a std::string.
inline std::string strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
inline std::string strfmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = std::vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    std::string out;
    if (n < 0) {
        out = fmt;
    } else if ((size_t)n < sizeof small) {
        out.assign(small, (size_t)n);
    } else {
        out.resize((size_t)n);
        std::vsnprintf(&out[0], (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    return out;
}

[[noreturn]] inline void fail(wc_status status, const std::string &message) {
    throw CoreError(status, message);
}

}  // namespace wc
