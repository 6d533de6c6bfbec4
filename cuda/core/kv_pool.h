// kv_pool.h — bookkeeping of the paged KV cache: which blocks are free, which are held by how
// many sequences, which full blocks are kept for reuse (the prefix cache) and in what LRU order,
// and how many blocks admitted sequences have reserved. Holds no KV memory itself (the context
// allocates one slab per layer); a block is an index into those slabs.
//
// Prefix cache: a full block is published under a key chained from its parent's key and its own
// token ids (key_i = H(key_{i-1}, ids_i)), so equal keys mean equal prefixes up to hash
// collisions; a lookup also compares the block's ids and its parent's key. Published blocks stay
// after their sequences end and are evicted least-recently-used only when no sequence holds them.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/step.h"

namespace wc {

class KvPool {
public:
    // `n_blocks` usable blocks plus one more (block 0) kept for the padding rows of replayed steps.
    explicit KvPool(int n_blocks);

    static constexpr int kPadBlock = 0;

    int blocks_total() const { return n_usable_; }
    int blocks_referenced() const { return referenced_; }
    int blocks_cached() const { return cached_idle_; }    // published, held by no sequence
    int blocks_reserved() const { return reserved_; }
    // Blocks a new reservation may still claim: free + idle cached - already reserved.
    int blocks_available() const { return free_count() + cached_idle_ - reserved_; }

    // Reservations: promises of future allocate() calls. reserve() fails (false) without change
    // when fewer than n blocks are available.
    bool reserve(int n);
    void unreserve(int n);
    // A block for a sequence, out of a reservation it made: free first, else the LRU idle cached
    // block (evicted). Refcount 1.
    int allocate_reserved();
    // A block without a reservation; -1 when none is available.
    int allocate_unreserved();

    void retain(int block);
    void release(int block);
    int refcount(int block) const { return meta_[block].refs; }

    // Chained key of a block whose parent has key `parent_key` (0 for the first block).
    static uint64_t chain_key(uint64_t parent_key, const int32_t *ids);
    // The published block with this key, ids and parent key, or -1.
    int lookup(uint64_t key, const int32_t *ids, uint64_t parent_key) const;
    // Publishes a full block (idempotent; a key already published by another block is left alone).
    void publish(int block, uint64_t key, const int32_t *ids, uint64_t parent_key);
    bool is_idle_cached(int block) const { return meta_[block].published && meta_[block].refs == 0; }

private:
    struct Meta {
        int refs = 0;
        bool published = false;
        uint64_t key = 0;
        uint64_t parent_key = 0;
        int32_t ids[kKvBlockTokens] = {};
        int lru_prev = -1, lru_next = -1;  // idle cached blocks, least recently used first
    };
    int free_count() const { return (int)free_.size(); }
    int take_block();  // free, else evict the LRU idle cached block; -1 when neither
    void lru_push_back(int block);
    void lru_remove(int block);
    void unpublish(int block);

    int n_usable_;
    std::vector<Meta> meta_;
    std::vector<int> free_;
    std::unordered_map<uint64_t, int> by_key_;
    int lru_head_ = -1, lru_tail_ = -1;
    int referenced_ = 0, cached_idle_ = 0, reserved_ = 0;
};

}  // namespace wc
