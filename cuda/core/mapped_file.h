// mapped_file.h — preflight checks and a read-only memory mapping of a model file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wc {

class MappedFile {
public:
    // Preflight (regular, readable, non-empty, size stable across two looks), then mmap the whole
    // file read-only. Throws CoreError(WC_ERR_IO) naming the path and the reason.
    explicit MappedFile(const std::string &path);
    ~MappedFile();
    MappedFile(const MappedFile &) = delete;
    MappedFile &operator=(const MappedFile &) = delete;

    const uint8_t *data() const { return data_; }
    size_t size() const { return size_; }
    const std::string &path() const { return path_; }

private:
    std::string path_;
    const uint8_t *data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace wc
