#pragma once
/// @file
/// Threads that check STIR/SHAKEN signatures (stir_verify.hh's signature_check) for the control
/// thread. An ES256 verification costs about twice what a whole call costs the control thread
/// (docs/benchmarks.md); with `[stir] verify_threads` the control thread only prepares a
/// verification and takes its answer, and the INVITE waits meanwhile as it does for a
/// certificate (b2bua_stir_verify.cc).
///
/// submit() and drain() are for the control thread only; the threads touch nothing but the jobs
/// they are given. The queue is bounded: when it is full, submit() says so and the caller checks
/// the signatures itself.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "stir_verify.hh"

namespace sf::control {

class signature_pool {
public:
    /// `threads` threads (at least one); at most `max_jobs` jobs waiting or running at once.
    explicit signature_pool(unsigned threads, size_t max_jobs = 1024);
    ~signature_pool();  ///< stops the threads (jobs not yet taken are dropped)
    signature_pool(const signature_pool&) = delete;
    signature_pool& operator=(const signature_pool&) = delete;

    /// Queues the checks of job `id`; false (nothing queued) when max_jobs are in the pool.
    bool submit(uint64_t id, std::vector<signature_check> checks);

    /// Hands every finished job to `done` (its id, and for each check whether it verified, in
    /// order; the checks after the first that verified are skipped and count as not verified).
    /// Cheap when nothing finished (one atomic load). Returns the jobs handed over.
    size_t drain(const std::function<void(uint64_t id, const std::vector<bool>& valid)>& done);

    size_t in_pool() const { return in_pool_; }  ///< jobs submitted and not drained
    unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

private:
    struct job {
        uint64_t id = 0;
        std::vector<signature_check> checks;
        std::vector<bool> valid;
    };
    void run();

    const size_t max_jobs_;
    size_t in_pool_ = 0;  // the control thread's count: submitted, not yet drained
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<job> todo_;
    std::vector<job> done_;
    std::atomic<size_t> done_count_{0};
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace sf::control
