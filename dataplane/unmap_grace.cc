#include "unmap_grace.hh"

#include <rte_interrupts.h>
#include <rte_rcu_qsbr.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>

namespace sf::dp {

namespace {
std::atomic<rte_rcu_qsbr*> pollers{nullptr};
}

void set_unmap_grace(rte_rcu_qsbr* v) {
    pollers.store(v, std::memory_order_release);
}

void wait_for_pollers() {
    if (rte_rcu_qsbr* v = pollers.load(std::memory_order_acquire)) {
        rte_rcu_qsbr_synchronize(v, RTE_QSBR_THRID_INVALID);
    }
}

}  // namespace sf::dp

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SF_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SF_ASAN 1
#endif

#ifndef SF_ASAN
extern "C" int munmap(void* addr, size_t len) noexcept {
    if (rte_thread_is_intr()) {
        sf::dp::wait_for_pollers();
    }
    // The system call itself: glibc's munmap is the same call with errno set the same way.
    return static_cast<int>(syscall(SYS_munmap, addr, len));
}
#endif
