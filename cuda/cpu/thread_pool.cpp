// thread_pool.cpp — spin-then-sleep workers; see thread_pool.h.
#include "cpu/thread_pool.h"

#include <system_error>

#include "core/error.h"

#include <sched.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define WC_CPU_RELAX() _mm_pause()
#else
#define WC_CPU_RELAX() std::this_thread::yield()
#endif

namespace wc {

namespace {
// A waiting thread spins with a pause hint, then yields its core (so a preempted peer on a busy
// machine can run), and a worker finally sleeps on the condition variable after about a
// millisecond without work.
constexpr int kPauseIterations = 2000;
constexpr int kSpinIterations = 5000;

inline void wait_step(int spins) {
    if (spins < kPauseIterations) {
        WC_CPU_RELAX();
    } else {
        std::this_thread::yield();
    }
}
}  // namespace

int default_thread_count() {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? (int)n : 1;
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
    try {
        for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
    } catch (const std::system_error &e) {
        const size_t started = threads_.size();
        stop_workers();
        fail(WC_ERR_OUT_OF_MEMORY, strfmt("cannot start CPU worker thread %zu of %d: %s", started + 1, n_threads_ - 1, e.what()));
    }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
    {
        std::lock_guard<std::mutex> lk(wake_mutex_);
        stop_.store(true);
        generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto &t : threads_) t.join();
}

void ThreadPool::run(const std::function<void(int, int)> &fn) {
    std::lock_guard<std::mutex> serial(run_mutex_);
    if (n_threads_ == 1) {
        fn(0, 1);
        return;
    }
    job_ = &fn;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lk(wake_mutex_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    fn(0, n_threads_);
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) wait_step(spins);
    job_ = nullptr;
}

void ThreadPool::worker(int ith) {
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        while (generation_.load(std::memory_order_acquire) == seen) {
            if (++spins < kSpinIterations) {
                wait_step(spins);
                continue;
            }
            std::unique_lock<std::mutex> lk(wake_mutex_);
            wake_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        }
        seen = generation_.load(std::memory_order_acquire);
        if (stop_.load()) return;
        (*job_)(ith, n_threads_);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

}  // namespace wc
