// step_buffers.cuh — where a step's rows (core/step.h) live on the device. Each field has a
// fixed device address for the buffers' lifetime, so a captured graph that reads them replays
// correctly after a later upload writes new positions, tokens, slots and block tables there.
// Uploads go through a ring of pinned host staging buffers and an asynchronous copy on the
// backend's stream: a copy is ordered after every op issued before it, and a staging buffer is
// refilled only after the copy that last read it has finished.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/step.h"

namespace wc::gpu {

class StepBuffers {
public:
    StepBuffers() = default;
    ~StepBuffers();  // errors ignored (destructors must not throw)
    StepBuffers(const StepBuffers &) = delete;
    StepBuffers &operator=(const StepBuffers &) = delete;

    // Grows (never shrinks) to hold steps of max_rows rows and max_seqs block tables of max_blocks
    // entries. Returns true when the device buffers moved: anything that baked their addresses
    // (graphs) must be dropped. Synchronises `stream` before freeing old buffers. Throws CoreError.
    bool reserve(int max_rows, int max_seqs, int max_blocks, cudaStream_t stream);
    // Copies `host` (host arrays) into the device buffers, ordered on `stream`, and returns the
    // same step with device pointers. Throws CoreError(WC_ERR_INTERNAL) when the step is larger
    // than reserve() allowed.
    StepRows upload(const StepRows &host, cudaStream_t stream);

private:
    static constexpr int kFields = 6;    // token, pos, seq, kv_slot, logit_rows, prev_row
    static constexpr int kStaging = 2;   // pinned buffers in the ring
    void release();
    size_t table_offset() const { return (size_t)kFields * cap_rows_; }
    size_t total_ints() const { return table_offset() + cap_table_; }

    int cap_rows_ = 0;        // entries of each per-row field
    size_t cap_table_ = 0;    // entries of the block tables
    int32_t *dev_ = nullptr;  // [kFields][cap_rows] then [cap_table]
    int32_t *staging_[kStaging] = {};
    cudaEvent_t copied_[kStaging] = {};  // recorded after the copy that read staging_[i]
    int next_ = 0;
};

}  // namespace wc::gpu
