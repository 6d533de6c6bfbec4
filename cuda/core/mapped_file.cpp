// mapped_file.cpp — preflight and mmap. A model that is still being copied into place must be
// refused rather than half-read, so the size and mtime are looked at twice, a moment apart.
#include "core/mapped_file.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

namespace wc {

namespace {

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
// The fuzz harness (fuzz/cpp/) writes each input before loading it, so the file is stable; a
// 100 ms wait per input would cut the fuzzer to a few executions a second.
constexpr auto kStabilityInterval = std::chrono::milliseconds(0);
#else
constexpr auto kStabilityInterval = std::chrono::milliseconds(100);
#endif

struct stat stat_or_fail(const std::string &path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        fail(WC_ERR_IO, strfmt("%s: cannot stat model file: %s", path.c_str(), std::strerror(errno)));
    }
    return st;
}

}  // namespace

MappedFile::MappedFile(const std::string &path) : path_(path) {
    struct stat first = stat_or_fail(path);
    if (!S_ISREG(first.st_mode)) {
        fail(WC_ERR_IO, strfmt("%s: not a regular file", path.c_str()));
    }
    if (first.st_size == 0) {
        fail(WC_ERR_IO, strfmt("%s: file is empty", path.c_str()));
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(WC_ERR_IO, strfmt("%s: cannot open model file: %s", path.c_str(), std::strerror(errno)));
    }
    std::this_thread::sleep_for(kStabilityInterval);
    struct stat second;
    if (::fstat(fd, &second) != 0) {
        int e = errno;
        ::close(fd);
        fail(WC_ERR_IO, strfmt("%s: cannot stat model file: %s", path.c_str(), std::strerror(e)));
    }
    // A different inode means the path was renamed over between the stat and the open.
    if (second.st_dev != first.st_dev || second.st_ino != first.st_ino) {
        ::close(fd);
        fail(WC_ERR_IO, strfmt("%s: file was replaced while being opened; try again", path.c_str()));
    }
    if (second.st_size != first.st_size || second.st_mtim.tv_sec != first.st_mtim.tv_sec ||
        second.st_mtim.tv_nsec != first.st_mtim.tv_nsec) {
        ::close(fd);
        fail(WC_ERR_IO, strfmt("%s: file is changing (size %lld -> %lld bytes); is it still being copied?",
                               path.c_str(), (long long)first.st_size, (long long)second.st_size));
    }
    size_ = (size_t)second.st_size;
    void *p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    ::close(fd);
    if (p == MAP_FAILED) {
        fail(WC_ERR_IO, strfmt("%s: mmap of %zu bytes failed: %s", path.c_str(), size_, std::strerror(e)));
    }
    data_ = static_cast<const uint8_t *>(p);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t *>(data_), size_);
}

}  // namespace wc
