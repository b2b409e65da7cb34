#pragma once
// EAL for the control tests (no hugepages, no PCI, a per-process file prefix so test binaries
// that run at once stay apart) and the message pool SIP messages are built in: the builders,
// the transaction layer and the B2BUA write into mbufs.
//
// Include it from one source file per test executable (it registers the EAL environment).

#include <gtest/gtest.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memory.h>

#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "sip_wire.hh"

namespace sf::control::test {

class eal_environment : public ::testing::Environment {
public:
    void SetUp() override {
        // DPDK 22.11: --no-huge implies legacy memory, which --in-memory refuses; --no-shconf and
        // a per-process --file-prefix keep test binaries that run at once apart instead.
        std::vector<std::string> args{"control_test", "--no-huge", "--no-pci", "--no-shconf", "--file-prefix",
                                      "sf_control_test_" + std::to_string(::getpid()), "-m", "512", "-l", "0",
                                      "--log-level=*:error"};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        ASSERT_GE(rte_eal_init(static_cast<int>(args.size()), argv.data()), 0)
            << "rte_eal_init: " << rte_strerror(rte_errno);
        // EAL's runtime directory is made even with --no-shconf and unused after init (no IPC
        // without shared config): gone at once, so a crash or a timeout kill leaves none.
        std::filesystem::remove_all(rte_eal_get_runtime_dir());
    }
    // And anything made in it since.
    void TearDown() override { std::filesystem::remove_all(rte_eal_get_runtime_dir()); }
};

[[maybe_unused]] inline ::testing::Environment* const eal_env =
    ::testing::AddGlobalTestEnvironment(new eal_environment);

/// The binary's message pool (created on first use, after EAL; kept for the process's life:
/// DPDK objects are not freed after EAL is gone).
inline message_pool& test_pool() {
    static message_pool& pool = *new message_pool("sf_test_msgs", 16383, 2048, SOCKET_ID_ANY);
    return pool;
}

}  // namespace sf::control::test
