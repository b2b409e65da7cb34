// unmap_grace: an unmap on the EAL interrupt thread waits for the polling lcores' grace period;
// the interposed munmap is the system call everywhere else.
#include "unmap_grace.hh"

#include <gtest/gtest.h>
#include <rte_rcu_qsbr.h>
#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace {

using namespace sf::dp;

struct pollers {
    rte_rcu_qsbr* v = nullptr;
    pollers() {
        const size_t sz = rte_rcu_qsbr_get_memsize(1);
        v = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(RTE_CACHE_LINE_SIZE, (sz + 63) / 64 * 64));
        if (v == nullptr || rte_rcu_qsbr_init(v, 1) != 0) {
            std::abort();
        }
        set_unmap_grace(v);
    }
    ~pollers() {
        set_unmap_grace(nullptr);
        std::free(v);
    }
};

TEST(unmap_grace, nothing_set_nothing_waited_for) {
    set_unmap_grace(nullptr);
    wait_for_pollers();  // returns: there is no one to wait for
    SUCCEED();
}

// A reader online in the middle of a burst holds the waiter until it reports quiescent. If the
// wait did not wait, the waiter would return while the burst is still open (the reader does not
// close it until the waiter has returned or 2 s have passed) and see it open.
TEST(unmap_grace, waits_for_the_burst_in_flight) {
    pollers p;
    std::atomic<bool> in_burst{false}, go{false}, burst_done{false}, waiter_done{false};
    std::atomic<bool> burst_done_seen_by_waiter{false};
    std::thread reader([&] {
        rte_rcu_qsbr_thread_register(p.v, 0);
        rte_rcu_qsbr_thread_online(p.v, 0);
        in_burst.store(true);
        for (int i = 0; i < 2000 && !go.load(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        burst_done.store(true);
        rte_rcu_qsbr_quiescent(p.v, 0);
        for (int i = 0; i < 5000 && !waiter_done.load(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        rte_rcu_qsbr_thread_offline(p.v, 0);
        rte_rcu_qsbr_thread_unregister(p.v, 0);
    });
    for (int i = 0; i < 5000 && !in_burst.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(in_burst.load());
    std::thread waiter([&] {
        wait_for_pollers();
        burst_done_seen_by_waiter.store(burst_done.load());
        waiter_done.store(true);
    });
    // Let a broken wait show itself by returning early; a working one blocks until `go`.
    for (int i = 0; i < 50 && !waiter_done.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    go.store(true);
    waiter.join();
    reader.join();
    EXPECT_TRUE(burst_done_seen_by_waiter.load());
}

TEST(unmap_grace, an_offline_reader_is_not_waited_for) {
    pollers p;
    rte_rcu_qsbr_thread_register(p.v, 0);
    rte_rcu_qsbr_thread_online(p.v, 0);
    rte_rcu_qsbr_thread_offline(p.v, 0);  // asleep, or stopped
    wait_for_pollers();                   // returns at once: this thread is the reader, offline
    rte_rcu_qsbr_thread_unregister(p.v, 0);
    SUCCEED();
}

// Off the interrupt thread munmap is the system call, its errors included.
TEST(unmap_grace, munmap_elsewhere_is_the_system_call) {
    pollers p;
    void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(page, MAP_FAILED);
    EXPECT_EQ(munmap(page, 4096), 0);
    errno = 0;
    EXPECT_EQ(munmap(static_cast<char*>(page) + 1, 4096), -1);  // not page-aligned
    EXPECT_EQ(errno, EINVAL);
}

}  // namespace
