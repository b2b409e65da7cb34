#include "signature_pool.hh"

#include <algorithm>
#include <utility>

namespace sf::control {

signature_pool::signature_pool(unsigned threads, size_t max_jobs) : max_jobs_(std::max<size_t>(max_jobs, 1)) {
    for (unsigned i = 0; i < std::max(threads, 1u); ++i) {
        threads_.emplace_back([this] { run(); });
    }
}

signature_pool::~signature_pool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) {
        t.join();
    }
}

bool signature_pool::submit(uint64_t id, std::vector<signature_check> checks) {
    if (in_pool_ >= max_jobs_) {
        return false;
    }
    ++in_pool_;
    {
        std::lock_guard lock(mutex_);
        todo_.push_back(job{id, std::move(checks), {}});
    }
    wake_.notify_one();
    return true;
}

size_t signature_pool::drain(const std::function<void(uint64_t, const std::vector<bool>&)>& done) {
    if (done_count_.load(std::memory_order_acquire) == 0) {
        return 0;
    }
    std::vector<job> finished;
    {
        std::lock_guard lock(mutex_);
        finished.swap(done_);
        done_count_.store(0, std::memory_order_relaxed);
    }
    in_pool_ -= finished.size();
    for (const job& j : finished) {
        done(j.id, j.valid);
    }
    return finished.size();
}

void signature_pool::run() {
    for (;;) {
        job j;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !todo_.empty(); });
            if (stopping_) {
                return;
            }
            j = std::move(todo_.front());
            todo_.pop_front();
        }
        j.valid = check_signatures(j.checks);  // the expensive part, outside the lock
        {
            std::lock_guard lock(mutex_);
            done_.push_back(std::move(j));
            done_count_.store(done_.size(), std::memory_order_release);
        }
    }
}

}  // namespace sf::control
