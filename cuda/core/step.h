// step.h — what one forward pass reads besides the weights: its rows (token, position, sequence,
// where its K/V go) and the block tables of the sequences they belong to. These are inputs of the
// pass, never hidden state of a backend: on CUDA they live in device buffers that a captured graph
// reads, so replaying it with new positions and block tables needs only new buffer contents.
#pragma once

#include <cstdint>

namespace wc {

// Tokens per KV-cache block. 16 as in vLLM: small enough that a sequence wastes at most 15
// positions of its last block, large enough that a block table stays short (512 entries for 8K).
constexpr int kKvBlockTokens = 16;

// The rows of one forward pass. Pointers are backend memory (host memory on the CPU, device
// memory on CUDA); counts are host values. Rows of one sequence appear in position order; the
// attention of row r covers positions 0 .. pos[r] of its sequence, reading position j from cache
// slot blocks[seq[r] * max_blocks + j / kKvBlockTokens] * kKvBlockTokens + j % kKvBlockTokens.
struct StepRows {
    int n_rows = 0;
    int n_seqs = 0;                       // sequences with rows in this step
    int max_blocks = 0;                   // row stride of `blocks`
    const int32_t *token = nullptr;       // [n_rows] input token id
    const int32_t *pos = nullptr;         // [n_rows] position in its sequence
    const int32_t *seq = nullptr;         // [n_rows] its sequence's index in this step (0 .. n_seqs)
    const int32_t *kv_slot = nullptr;     // [n_rows] cache slot this row's K and V are stored in
    const int32_t *blocks = nullptr;      // [n_seqs][max_blocks] block table of each sequence
    int n_logits = 0;
    const int32_t *logit_rows = nullptr;  // [n_logits] rows the output head is applied to, in order
    int max_pos = 0;                      // largest pos[] (host value; replayed steps must not size launches by it)
    // After rows were dropped mid-step (StepControl::poll): each row's index before the drop.
    const int32_t *prev_row = nullptr;    // [n_rows]
};

}  // namespace wc
