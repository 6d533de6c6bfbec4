// thread_pool.h — a fixed set of worker threads for the CPU backend's parallel ops.
//
// `run(fn)` calls fn(ith, nth) once on each of the nth threads (the caller is thread 0) and
// returns when all are done. A decode step runs a few hundred of these, so workers spin briefly
// between them and only sleep when the pool has been idle for a while.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace wc {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int size() const { return n_threads_; }
    // Not re-entrant; concurrent callers are serialised.
    void run(const std::function<void(int ith, int nth)> &fn);

    // run(fn) when `parallel`, else fn(0, 1) on the caller: small ops cost less than a wake-up.
    void run_if(bool parallel, const std::function<void(int ith, int nth)> &fn) {
        if (parallel) run(fn); else fn(0, 1);
    }

    // Splits [0, n) into nth nearly equal contiguous ranges; range of thread ith.
    static void split(int64_t n, int ith, int nth, int64_t &begin, int64_t &end) {
        int64_t per = n / nth, rem = n % nth;
        begin = ith * per + (ith < rem ? ith : rem);
        end = begin + per + (ith < rem ? 1 : 0);
    }

private:
    void worker(int ith);
    void stop_workers();  // wakes and joins every started worker

    int n_threads_;
    std::vector<std::thread> threads_;
    std::mutex run_mutex_;  // serialises run()
    std::mutex wake_mutex_;
    std::condition_variable wake_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
    const std::function<void(int, int)> *job_ = nullptr;
};

// One per online core (the affinity mask, not the machine's total).
int default_thread_count();

}  // namespace wc
