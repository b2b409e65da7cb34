#pragma once
/// @file
/// EAL for the test and fuzz binaries: no hugepages, no PCI, no shared config and a file prefix
/// of their own (with the pid), so that any number of them run at once on any CI box beside a
/// running daemon. DPDK 22.11: --no-huge implies legacy memory, which --in-memory refuses, hence
/// --no-shconf and the prefix instead.

#include <rte_eal.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace sf::test {

/// rte_eal_init with those arguments and `extra` (memory, lcores, vdevs); false with rte_errno
/// set when EAL refuses. EAL's runtime directory (/var/run/dpdk/<prefix>) is made even with
/// --no-shconf and nothing uses it after init (no IPC without shared config): it goes at once,
/// so a binary that crashes or is killed on a timeout leaves none behind.
inline bool init_test_eal(const std::string& prefix, const std::vector<std::string>& extra) {
    std::vector<std::string> args{"sipferry-test", "--no-huge", "--no-pci", "--no-shconf",
                                  "--file-prefix=" + prefix + std::to_string(getpid()), "--log-level=*:error"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
        return false;
    }
    std::filesystem::remove_all(rte_eal_get_runtime_dir());
    return true;
}

}  // namespace sf::test
