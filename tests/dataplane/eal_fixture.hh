#pragma once
/// @file
/// Shared helpers for the dataplane tests: EAL brought up once per test binary
/// (no hugepages, no PCI, vdevs only, so it runs on any CI box and in parallel
/// with other test binaries), one mbuf pool, and an independent frame builder
/// and checksum reference. The reference code is written from the RFCs on
/// purpose, not with the dataplane's helpers, so a test does not check the code
/// under test against itself.

#include <gtest/gtest.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_udp.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../test_eal.hh"
#include "ref_checksum.hh"
#include "rings.hh"

namespace sf::dp::test {

/// Initialises EAL before the first test. Process-wide and only once: EAL cannot
/// be initialised twice in a process, hence a gtest Environment, not a fixture.
class eal_environment : public ::testing::Environment {
public:
    explicit eal_environment(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {}

    void SetUp() override {
        std::vector<std::string> args{"-m", "512", "-l", "0"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        if (!sf::test::init_test_eal("sf_test_", args)) {
            // A failed Environment::SetUp only skips the tests (exit 0): fail loudly instead.
            std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
            std::exit(1);
        }
    }

    // No rte_eal_cleanup(): tables and pools owned by static objects may outlive
    // the environment, and the process is about to exit anyway. Anything made in the runtime
    // directory since SetUp goes too.
    void TearDown() override { std::filesystem::remove_all(rte_eal_get_runtime_dir()); }

private:
    std::vector<std::string> extra_;
};

/// Registers the environment at static-initialisation time (gtest_main runs the tests).
inline ::testing::Environment* register_eal(std::vector<std::string> extra = {}) {
    return ::testing::AddGlobalTestEnvironment(new eal_environment(std::move(extra)));
}

/// The binary's mbuf pool, with room for packet_meta like the dataplane's own pool.
inline rte_mempool* test_pool() {
    static rte_mempool* pool = rte_pktmbuf_pool_create("test_pool", 8191, 256, packet_meta_priv_size,
                                                       RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
    return pool;
}

/// A unique name for per-test DPDK objects (hash tables and rings are named globally).
inline std::string unique_name(const char* prefix) {
    static unsigned n = 0;
    return std::string(prefix) + std::to_string(n++);
}

constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

inline rte_ether_addr mac(uint8_t last) {
    return rte_ether_addr{{0x02, 0x00, 0x5e, 0x10, 0x00, last}};
}

inline bool mac_eq(const rte_ether_addr& a, const rte_ether_addr& b) {
    return std::memcmp(a.addr_bytes, b.addr_bytes, RTE_ETHER_ADDR_LEN) == 0;
}

/// What a test frame carries.
struct udp_spec {
    rte_ether_addr src_mac = mac(0xaa);
    rte_ether_addr dst_mac = mac(0xbb);
    uint32_t src_addr = 0;
    uint32_t dst_addr = 0;
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    std::vector<uint8_t> payload;
    bool udp_cksum = true;   ///< false: send checksum 0 ("none")
    uint8_t ip_options = 0;  ///< 32-bit words of IP options (NOPs)
};

inline std::vector<uint8_t> pattern_payload(size_t len, uint8_t seed) {
    std::vector<uint8_t> p(len);
    for (size_t i = 0; i < len; ++i) {
        p[i] = static_cast<uint8_t>(seed + i * 7);
    }
    return p;
}

/// Builds a complete Ethernet/IPv4/UDP frame in a fresh single-segment mbuf.
inline rte_mbuf* make_udp_frame(const udp_spec& s, rte_mempool* pool = test_pool()) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
        return nullptr;
    }
    const uint16_t ihl = static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + 4 * s.ip_options);
    const uint16_t udp_len = static_cast<uint16_t>(sizeof(rte_udp_hdr) + s.payload.size());
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + ihl + udp_len));
    if (p == nullptr) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
    eth->dst_addr = s.dst_mac;
    eth->src_addr = s.src_mac;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    std::memset(ip, 0, ihl);
    ip->version_ihl = static_cast<uint8_t>(0x40 | (ihl / 4));
    ip->total_length = rte_cpu_to_be_16(ihl + udp_len);
    ip->packet_id = rte_cpu_to_be_16(0x1234);
    ip->time_to_live = 17;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(s.src_addr);
    ip->dst_addr = rte_cpu_to_be_32(s.dst_addr);
    std::memset(reinterpret_cast<uint8_t*>(ip) + sizeof(rte_ipv4_hdr), 1, ihl - sizeof(rte_ipv4_hdr));  // NOP
    ip->hdr_checksum = static_cast<uint16_t>(~ref_sum(ip, ihl));
    auto* udp = reinterpret_cast<rte_udp_hdr*>(reinterpret_cast<uint8_t*>(ip) + ihl);
    udp->src_port = rte_cpu_to_be_16(s.src_port);
    udp->dst_port = rte_cpu_to_be_16(s.dst_port);
    udp->dgram_len = rte_cpu_to_be_16(udp_len);
    udp->dgram_cksum = 0;
    if (!s.payload.empty()) {
        std::memcpy(udp + 1, s.payload.data(), s.payload.size());
    }
    if (s.udp_cksum) {
        udp->dgram_cksum = ref_udp_cksum(ip, udp);
    }
    return m;
}

/// Header views of a frame built by make_udp_frame (or rewritten from one).
struct frame_view {
    rte_ether_hdr* eth;
    rte_ipv4_hdr* ip;
    rte_udp_hdr* udp;
    uint8_t* payload;
};

inline frame_view view_of(rte_mbuf* m) {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(reinterpret_cast<uint8_t*>(ip) + rte_ipv4_hdr_len(ip));
    return {eth, ip, udp, reinterpret_cast<uint8_t*>(udp + 1)};
}

}  // namespace sf::dp::test
