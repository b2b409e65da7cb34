// EAL start-up shared by the benchmarks that need DPDK: which memory their pools and tables live in.
#pragma once

#include <sched.h>
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace sf::bench {

/// True when SIPFERRY_BENCH_HUGE=1: the benchmark runs on the machine's hugepages, as the
/// appliance does in production. Otherwise (CI, this lab box) on 4 KiB pages with --no-huge,
/// where a table that spreads over hundreds of MB costs a page walk per packet on top of its
/// cache miss, which production does not pay (docs/benchmarks.md).
inline bool hugepages_requested() {
    const char* v = std::getenv("SIPFERRY_BENCH_HUGE");
    return v != nullptr && std::strcmp(v, "1") == 0;
}

/// The first CPU this process may run on (taskset's choice), 0 if it cannot tell: the EAL pins
/// its main thread to its lcore, so `-l 0` silently moved a `taskset -c 1` run to CPU 0.
inline unsigned first_allowed_cpu() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
            if (CPU_ISSET(cpu, &set)) {
                return cpu;
            }
        }
    }
    return 0;
}

/// Starts the EAL on the first CPU taskset allows (lcore = that CPU) with a private file prefix. `no_huge_mb` is the -m for the
/// --no-huge case (which needs it up front); with hugepages memory grows on demand (--in-memory:
/// no hugetlbfs mount or runtime files needed). Records the choice in the benchmark context.
/// Returns false (after printing why) when the EAL does not start.
inline bool start_eal(const char* name, unsigned no_huge_mb) {
    const bool huge = hugepages_requested();
    // A prefix of its own either way: main() removes the runtime directory when done.
    std::vector<std::string> args{name, "--no-pci", "-l", std::to_string(first_allowed_cpu()), "--log-level=*:error",
                                  "--file-prefix=sf_bench_" + std::to_string(getpid())};
    if (huge) {
        args.emplace_back("--in-memory");
    } else {
        args.insert(args.end(), {"--no-huge", "--no-shconf", "-m", std::to_string(no_huge_mb)});
    }
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
        std::fprintf(stderr, "%s: rte_eal_init (%s): %s\n", name, huge ? "hugepages" : "--no-huge",
                     rte_strerror(rte_errno));
        return false;
    }
    benchmark::AddCustomContext("eal_memory", huge ? "hugepages" : "4k pages (--no-huge)");
    return true;
}

}  // namespace sf::bench
