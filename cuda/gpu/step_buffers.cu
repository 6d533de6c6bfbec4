// step_buffers.cu — see step_buffers.cuh.
#include "gpu/step_buffers.cuh"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "gpu/cuda_check.cuh"

namespace wc::gpu {

namespace {

// Used ranges closer than this are copied as one (the gap's stale ints cost less than a call).
constexpr size_t kMergeGapInts = 1024;

}  // namespace

StepBuffers::~StepBuffers() { release(); }

void StepBuffers::release() {
    cudaFree(dev_);
    dev_ = nullptr;
    for (int i = 0; i < kStaging; ++i) {
        if (staging_[i]) cudaFreeHost(staging_[i]);
        if (copied_[i]) cudaEventDestroy(copied_[i]);
        staging_[i] = nullptr;
        copied_[i] = nullptr;
    }
    cap_rows_ = 0;
    cap_table_ = 0;
}

bool StepBuffers::reserve(int max_rows, int max_seqs, int max_blocks, cudaStream_t stream) {
    if (max_rows < 1 || max_seqs < 1 || max_blocks < 1) {
        fail(WC_ERR_INTERNAL, strfmt("cuda: reserve_steps(%d, %d, %d)", max_rows, max_seqs, max_blocks));
    }
    const int rows = std::max(max_rows, cap_rows_);
    const size_t table = std::max((size_t)max_seqs * (size_t)max_blocks, cap_table_);
    if (dev_ && rows == cap_rows_ && table == cap_table_) return false;
    // Pending copies read the staging buffers, pending kernels the device buffers.
    CUDA_CHECK(cudaStreamSynchronize(stream));
    release();
    try {
        cap_rows_ = rows;
        cap_table_ = table;
        const size_t bytes = total_ints() * sizeof(int32_t);
        CUDA_CHECK(cudaMalloc(&dev_, bytes));
        CUDA_CHECK(cudaMemset(dev_, 0, bytes));
        for (int i = 0; i < kStaging; ++i) {
            CUDA_CHECK(cudaMallocHost(&staging_[i], bytes));
            CUDA_CHECK(cudaEventCreateWithFlags(&copied_[i], cudaEventDisableTiming));
        }
    } catch (...) {
        release();
        throw;
    }
    return true;
}

StepRows StepBuffers::upload(const StepRows &host, cudaStream_t stream) {
    const size_t table = (size_t)host.n_seqs * (size_t)host.max_blocks;
    if (!dev_ || host.n_rows < 0 || host.n_rows > cap_rows_ || host.n_logits < 0 || host.n_logits > cap_rows_ || host.n_seqs < 0 ||
        table > cap_table_) {
        fail(WC_ERR_INTERNAL, strfmt("cuda: a step of %d rows, %d logit rows and %d block tables of %d exceeds reserve_steps (%d rows, %zu "
                                     "table entries)",
                                     host.n_rows, host.n_logits, host.n_seqs, host.max_blocks, cap_rows_, cap_table_));
    }
    // The previous copy out of this staging buffer must be done before it is overwritten (the
    // other buffer may still be in flight: two uploads can be pending within one step).
    const int slot = next_;
    next_ = (next_ + 1) % kStaging;
    CUDA_CHECK(cudaEventSynchronize(copied_[slot]));
    int32_t *stage = staging_[slot];

    struct Range {
        size_t at, n;
        const int32_t *src;
    };
    const size_t R = (size_t)cap_rows_;
    const Range ranges[] = {
        {0 * R, (size_t)host.n_rows, host.token},
        {1 * R, (size_t)host.n_rows, host.pos},
        {2 * R, (size_t)host.n_rows, host.seq},
        {3 * R, (size_t)host.n_rows, host.kv_slot},
        {4 * R, (size_t)host.n_logits, host.logit_rows},
        {5 * R, host.prev_row ? (size_t)host.n_rows : 0, host.prev_row},
        {table_offset(), table, host.blocks},
    };
    // Stage every used range at its device offset, and copy runs of ranges with small gaps at once.
    size_t run_begin = 0, run_end = 0;
    bool open = false;
    auto flush = [&] {
        if (open) {
            CUDA_CHECK(cudaMemcpyAsync(dev_ + run_begin, stage + run_begin, (run_end - run_begin) * sizeof(int32_t),
                                       cudaMemcpyHostToDevice, stream));
        }
        open = false;
    };
    for (const Range &r : ranges) {
        if (r.n == 0) continue;
        if (!r.src) fail(WC_ERR_INTERNAL, "cuda: upload_step with a null host array");
        std::memcpy(stage + r.at, r.src, r.n * sizeof(int32_t));
        if (open && r.at - run_end <= kMergeGapInts) {
            run_end = r.at + r.n;
        } else {
            flush();
            run_begin = r.at;
            run_end = r.at + r.n;
            open = true;
        }
    }
    flush();
    CUDA_CHECK(cudaEventRecord(copied_[slot], stream));

    StepRows d = host;
    d.token = dev_ + 0 * R;
    d.pos = dev_ + 1 * R;
    d.seq = dev_ + 2 * R;
    d.kv_slot = dev_ + 3 * R;
    d.logit_rows = dev_ + 4 * R;
    d.prev_row = host.prev_row ? dev_ + 5 * R : nullptr;
    d.blocks = dev_ + table_offset();
    return d;
}

}  // namespace wc::gpu
