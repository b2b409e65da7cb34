#pragma once
/// @file
/// The OS scheduling class of the worker lcores' threads.
///
/// A worker that sleeps when idle (`idle_sleep_us`) or shares its core with anything at all
/// (kernel threads, the control thread on a small box) is, under the normal class, a task
/// among others: when it wakes, the kernel may let whatever runs finish its slice first, and
/// every packet waiting meanwhile waits milliseconds. A real-time class (SCHED_FIFO, SCHED_RR)
/// runs it the moment it is runnable, as VPP's `scheduler-policy` and rtpengine's
/// `--scheduling` do for their forwarding threads. The price: a real-time thread that never
/// sleeps keeps everything of a lower class off its core (the kernel's RT throttling leaves
/// them 5%), so a pure-polling worker should only be real time on an isolated core.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sf::dp {

enum class scheduling_policy : uint8_t {
    normal,  ///< leave the thread as it started (SCHED_OTHER, the process's nice value)
    fifo,    ///< SCHED_FIFO: runs until it sleeps or a higher priority wakes
    rr,      ///< SCHED_RR: as fifo, with time slices among threads of the same priority
};

struct worker_scheduling {
    scheduling_policy policy = scheduling_policy::normal;
    /// 1..98 for fifo and rr (99 is the kernel's watchdog and migration threads); 0 for normal.
    unsigned priority = 0;

    bool operator==(const worker_scheduling&) const = default;
};

/// Default real-time priority: above every normal task, below the kernel's threaded interrupt
/// handlers (50), so that a busy worker cannot hold off the interrupts of its own NIC.
constexpr unsigned default_worker_priority = 10;
constexpr unsigned max_worker_priority = 98;

/// "normal", "fifo" or "rr"; nullopt for anything else.
std::optional<scheduling_policy> parse_scheduling_policy(std::string_view name);
const char* name_of(scheduling_policy p);

/// Puts the calling thread in `s`'s class and priority (normal: leaves it alone).
/// Returns 0, or the errno of the failure (EPERM without root or CAP_SYS_NICE).
int apply_to_this_thread(const worker_scheduling& s);

/// "fifo priority 10" (for logs and errors).
std::string to_string(const worker_scheduling& s);

}  // namespace sf::dp
