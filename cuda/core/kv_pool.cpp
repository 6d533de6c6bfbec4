// kv_pool.cpp — see kv_pool.h.
#include "core/kv_pool.h"

#include <cstring>

#include "core/error.h"

namespace wc {

namespace {

uint64_t mix64(uint64_t x) {  // SplitMix64's finaliser
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

}  // namespace

KvPool::KvPool(int n_blocks) : n_usable_(n_blocks), meta_((size_t)n_blocks + 1) {
    if (n_blocks <= 0) fail(WC_ERR_INVALID_ARGUMENT, strfmt("the KV pool needs at least one block (got %d)", n_blocks));
    free_.reserve(n_blocks);
    // Lowest ids are handed out first (a stack: push the highest first).
    for (int b = n_blocks; b >= 1; --b) free_.push_back(b);
}

bool KvPool::reserve(int n) {
    if (n < 0) fail(WC_ERR_INTERNAL, "negative KV reservation");
    if (n > blocks_available()) return false;
    reserved_ += n;
    return true;
}

void KvPool::unreserve(int n) {
    if (n < 0 || n > reserved_) fail(WC_ERR_INTERNAL, strfmt("KV reservation underflow (%d of %d)", n, reserved_));
    reserved_ -= n;
}

int KvPool::take_block() {
    int b = -1;
    if (!free_.empty()) {
        b = free_.back();
        free_.pop_back();
    } else if (lru_head_ >= 0) {
        b = lru_head_;
        lru_remove(b);
        --cached_idle_;
        unpublish(b);
    } else {
        return -1;
    }
    meta_[b].refs = 1;
    ++referenced_;
    return b;
}

int KvPool::allocate_reserved() {
    if (reserved_ <= 0) fail(WC_ERR_INTERNAL, "KV block allocated without a reservation");
    const int b = take_block();
    if (b < 0) fail(WC_ERR_INTERNAL, "KV pool empty although a reservation was outstanding");
    --reserved_;
    return b;
}

int KvPool::allocate_unreserved() {
    if (blocks_available() <= 0) return -1;
    return take_block();
}

void KvPool::retain(int block) {
    Meta &m = meta_[block];
    if (m.refs == 0) {
        if (!m.published) fail(WC_ERR_INTERNAL, strfmt("KV block %d retained while free", block));
        lru_remove(block);
        --cached_idle_;
        ++referenced_;
    }
    ++m.refs;
}

void KvPool::release(int block) {
    Meta &m = meta_[block];
    if (m.refs <= 0) fail(WC_ERR_INTERNAL, strfmt("KV block %d released more often than held", block));
    if (--m.refs > 0) return;
    --referenced_;
    if (m.published) {
        lru_push_back(block);
        ++cached_idle_;
    } else {
        free_.push_back(block);
    }
}

uint64_t KvPool::chain_key(uint64_t parent_key, const int32_t *ids) {
    uint64_t h = mix64(parent_key ^ 0x6b76706f6f6c6b65ull);
    for (int i = 0; i < kKvBlockTokens; ++i) h = mix64(h ^ (uint32_t)ids[i]);
    return h;
}

int KvPool::lookup(uint64_t key, const int32_t *ids, uint64_t parent_key) const {
    const auto it = by_key_.find(key);
    if (it == by_key_.end()) return -1;
    const Meta &m = meta_[it->second];
    if (m.parent_key != parent_key || std::memcmp(m.ids, ids, sizeof(m.ids)) != 0) return -1;
    return it->second;
}

void KvPool::publish(int block, uint64_t key, const int32_t *ids, uint64_t parent_key) {
    Meta &m = meta_[block];
    // Published already, or the same prefix is cached in another block (that one stays).
    if (m.published || by_key_.count(key)) return;
    m.published = true;
    m.key = key;
    m.parent_key = parent_key;
    std::memcpy(m.ids, ids, sizeof(m.ids));
    by_key_[key] = block;
}

void KvPool::unpublish(int block) {
    Meta &m = meta_[block];
    if (!m.published) return;
    const auto it = by_key_.find(m.key);
    if (it != by_key_.end() && it->second == block) by_key_.erase(it);
    m.published = false;
}

void KvPool::lru_push_back(int block) {
    Meta &m = meta_[block];
    m.lru_prev = lru_tail_;
    m.lru_next = -1;
    if (lru_tail_ >= 0) meta_[lru_tail_].lru_next = block;
    else lru_head_ = block;
    lru_tail_ = block;
}

void KvPool::lru_remove(int block) {
    Meta &m = meta_[block];
    if (m.lru_prev >= 0) meta_[m.lru_prev].lru_next = m.lru_next;
    else lru_head_ = m.lru_next;
    if (m.lru_next >= 0) meta_[m.lru_next].lru_prev = m.lru_prev;
    else lru_tail_ = m.lru_prev;
    m.lru_prev = m.lru_next = -1;
}

}  // namespace wc
