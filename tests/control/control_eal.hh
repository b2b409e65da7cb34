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

#include "../test_eal.hh"
#include "sip_wire.hh"

namespace sf::control::test {

class eal_environment : public ::testing::Environment {
public:
    void SetUp() override {
        ASSERT_TRUE(sf::test::init_test_eal("sf_control_test_", {"-m", "512", "-l", "0"}))
            << "rte_eal_init: " << rte_strerror(rte_errno);
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
