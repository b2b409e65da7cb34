/// @file
/// The worker lcores' scheduling class: names, applying it to a thread, and dataplane::start
/// putting the worker lcore's real thread in it (or refusing, with nothing launched, when the
/// thread may not have it). Root (CI) sees both; elsewhere only the refusal.

#include <gtest/gtest.h>

#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "dataplane.hh"
#include "pcap_port.hh"
#include "worker_scheduling.hh"

namespace sf::dp {
namespace {

TEST(worker_scheduling, names) {
    for (auto p : {scheduling_policy::normal, scheduling_policy::fifo, scheduling_policy::rr}) {
        EXPECT_EQ(parse_scheduling_policy(name_of(p)), p);
    }
    for (const char* bad : {"", "FIFO", "other", "deadline", "fifo ", "rr1"}) {
        EXPECT_FALSE(parse_scheduling_policy(bad)) << bad;
    }
    EXPECT_EQ(to_string(worker_scheduling{}), "normal");
    EXPECT_EQ(to_string(worker_scheduling{scheduling_policy::fifo, 10}), "fifo priority 10");
}

struct observed {
    int policy = -1;
    int priority = -1;
};

observed of_thread(pid_t tid) {
    observed o;
    o.policy = sched_getscheduler(tid);
    sched_param p{};
    if (sched_getparam(tid, &p) == 0) {
        o.priority = p.sched_priority;
    }
    return o;
}

// CAP_SYS_NICE in or out of the calling thread's effective set (capabilities are per thread;
// the permitted set keeps it, so it can be raised again).
bool set_sys_nice(bool on) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &hdr, data) != 0) {
        return false;
    }
    if (on) {
        data[0].effective |= 1u << CAP_SYS_NICE;
    } else {
        data[0].effective &= ~(1u << CAP_SYS_NICE);
    }
    return syscall(SYS_capset, &hdr, data) == 0;
}

bool privileged() { return geteuid() == 0; }

// Without CAP_SYS_NICE the kernel still grants real-time priorities up to RLIMIT_RTPRIO: the
// refusals below are only refusals with that at 0 (the usual default, made sure of here).
void no_rtprio_rlimit() {
    rlimit r{};
    ASSERT_EQ(getrlimit(RLIMIT_RTPRIO, &r), 0);
    r.rlim_cur = 0;
    ASSERT_EQ(setrlimit(RLIMIT_RTPRIO, &r), 0);
}

TEST(worker_scheduling, applies_to_the_calling_thread_only) {
    no_rtprio_rlimit();
    const int before = sched_getscheduler(0);
    int err = -1;
    observed seen;
    std::thread t([&] {
        err = apply_to_this_thread({scheduling_policy::rr, 3});
        seen = of_thread(static_cast<pid_t>(syscall(SYS_gettid)));
    });
    t.join();
    if (!privileged()) {
        EXPECT_EQ(err, EPERM);
        return;
    }
    EXPECT_EQ(err, 0);
    EXPECT_EQ(seen.policy, SCHED_RR);
    EXPECT_EQ(seen.priority, 3);
    EXPECT_EQ(sched_getscheduler(0), before) << "the caller's other threads keep theirs";

    std::thread n([&] {
        err = apply_to_this_thread({});
        seen = of_thread(static_cast<pid_t>(syscall(SYS_gettid)));
    });
    n.join();
    EXPECT_EQ(err, 0);
    EXPECT_EQ(seen.policy, SCHED_OTHER) << "normal leaves the thread as it started";
}

TEST(worker_scheduling, a_thread_without_cap_sys_nice_gets_eperm) {
    if (!privileged()) {
        GTEST_SKIP() << "not root: the test above covers EPERM";
    }
    no_rtprio_rlimit();
    int err = -1, policy = -1;
    std::thread t([&] {
        ASSERT_TRUE(set_sys_nice(false));
        err = apply_to_this_thread({scheduling_policy::fifo, 10});
        policy = sched_getscheduler(0);
    });
    t.join();
    EXPECT_EQ(err, EPERM);
    EXPECT_EQ(policy, SCHED_OTHER);
}

// --- dataplane::start on a real worker lcore (EAL once per process: one test) ---

int record_tid(void* arg) {
    *static_cast<pid_t*>(arg) = static_cast<pid_t>(syscall(SYS_gettid));
    return 0;
}
int drop_sys_nice(void*) { return set_sys_nice(false) ? 0 : -1; }
int raise_sys_nice(void*) { return set_sys_nice(true) ? 0 : -1; }

TEST(worker_scheduling, dataplane_start_puts_the_worker_lcore_in_its_class_or_launches_nothing) {
    const auto dir = std::filesystem::temp_directory_path() / ("sf_sched_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    test::write_empty_pcap(dir / "rx.pcap");
    auto cfg = test::pcap_port_config("sf_sched", dir / "rx.pcap", dir / "tx.pcap", 0xc0000201);
    cfg.scheduling = {scheduling_policy::fifo, 7};
    no_rtprio_rlimit();
    {
        dataplane dp(cfg);
        // EAL makes its runtime directory even with --no-shconf and nothing uses it after init:
        // it goes now, so that a failed or killed run leaves none behind in /var/run/dpdk.
        std::filesystem::remove_all(rte_eal_get_runtime_dir());
        const unsigned lcore = rte_get_next_lcore(-1, 1, 0);
        ASSERT_LT(lcore, RTE_MAX_LCORE);
        pid_t tid = 0;
        ASSERT_EQ(rte_eal_remote_launch(record_tid, &tid, lcore), 0);
        ASSERT_EQ(rte_eal_wait_lcore(lcore), 0);
        ASSERT_NE(tid, 0);
        const int main_policy = sched_getscheduler(0);

        // Refused: the error says what and why, and no worker runs (the lcore still takes work).
        if (privileged()) {
            ASSERT_EQ(rte_eal_remote_launch(drop_sys_nice, nullptr, lcore), 0);
            ASSERT_EQ(rte_eal_wait_lcore(lcore), 0);
        }
        try {
            dp.start();
            ADD_FAILURE() << "start() should have refused fifo without CAP_SYS_NICE";
            dp.stop();
        } catch (const std::runtime_error& e) {
            const std::string why = e.what();
            EXPECT_NE(why.find("dataplane.worker_scheduling"), std::string::npos) << why;
            EXPECT_NE(why.find("fifo priority 7"), std::string::npos) << why;
            EXPECT_NE(why.find("CAP_SYS_NICE"), std::string::npos) << why;
        }
        EXPECT_EQ(rte_eal_get_lcore_state(lcore), WAIT) << "nothing left running on the lcore";
        EXPECT_EQ(of_thread(tid).policy, SCHED_OTHER);
        if (!privileged()) {
            std::filesystem::remove_all(dir);
            GTEST_SKIP() << "not root: fifo cannot be granted here";
        }

        ASSERT_EQ(rte_eal_remote_launch(raise_sys_nice, nullptr, lcore), 0);
        ASSERT_EQ(rte_eal_wait_lcore(lcore), 0);
        dp.start();
        const observed w = of_thread(tid);
        EXPECT_EQ(w.policy, SCHED_FIFO);
        EXPECT_EQ(w.priority, 7);
        EXPECT_EQ(rte_eal_get_lcore_state(lcore), RUNNING) << "the worker loop runs after its class is set";
        EXPECT_EQ(sched_getscheduler(0), main_policy) << "the control thread keeps its class";
        dp.stop();
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sf::dp
