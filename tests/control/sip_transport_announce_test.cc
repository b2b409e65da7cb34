// sip_transport::announce on a real dataplane: EAL, one net_pcap port (its TX written to a pcap
// file, its RX an empty one), worker 0 on lcore 1 sending what the control side hands it. A port
// with 100 media addresses is announced: 64 frames at once (the per-tick bound), the rest on the
// next tick, a second round 2 s later and no third. The pcap file then must hold each of the 101
// addresses exactly twice, as gratuitous ARP requests (sender == target, broadcast, the port's
// MAC). Times are passed to announce()/tick() as numbers: nothing here waits on a clock, only
// (boundedly) on the worker to have sent the frames.

#include "sip_transport.hh"

#include "pcap_port.hh"

#include <gtest/gtest.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_byteorder.h>
#include <rte_ether.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace sf::control;
namespace dp = sf::dp;
namespace fs = std::filesystem;

namespace {

constexpr uint32_t port_addr = 0xc0000201;    // 192.0.2.1
constexpr uint32_t media_first = 0xc0000240;  // 192.0.2.64 .. 192.0.2.163
constexpr uint32_t media_count = 100;

}  // namespace

TEST(sip_transport_announce, every_port_and_media_address_twice_paced_per_tick) {
    const fs::path dir = fs::temp_directory_path() / ("sf_announce_" + std::to_string(getpid()));
    fs::create_directories(dir);
    const fs::path rx = dir / "rx.pcap", tx = dir / "tx.pcap";
    sf::test::write_empty_pcap(rx);

    dp::dataplane_config cfg = sf::test::pcap_port_config("sf_announce", rx, tx, port_addr);
    cfg.ports[0].media_first = media_first;
    cfg.ports[0].media_count = media_count;

    rte_ether_addr port_mac{};
    {
        dp::dataplane d(cfg);
        port_mac = d.ports()[0].mac;
        d.start();
        sip_transport t(d, realms_of(d), 5060);

        EXPECT_EQ(t.announce(1000), 1 + media_count);
        EXPECT_EQ(t.stats().arp_announced, 64u) << "at most 64 frames before the next tick";
        t.tick(1001);
        EXPECT_EQ(t.stats().arp_announced, 1 + media_count);
        t.tick(2999);
        EXPECT_EQ(t.stats().arp_announced, 1 + media_count) << "the second round is due 2 s after the first ended";
        t.tick(3001);
        EXPECT_EQ(t.stats().arp_announced, 1 + media_count + 64);
        t.tick(3002);
        EXPECT_EQ(t.stats().arp_announced, 2 * (1 + media_count));
        t.tick(60000);
        EXPECT_EQ(t.stats().arp_announced, 2 * (1 + media_count)) << "no third round";

        // Worker 0 drains the frame ring onto the port; wait (bounded) until it has sent them all.
        const uint64_t want = 2 * (1 + media_count);
        for (int i = 0; i < 500 && d.stats().ports[0].nic_opackets < want; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        EXPECT_EQ(d.stats().ports[0].nic_opackets, want);
        d.stop();
    }  // closing the port flushes the pcap file

    std::map<uint32_t, unsigned> seen;
    unsigned other = 0;
    for (const auto& f : sf::test::read_pcap(tx)) {
        if (f.size() < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) {
            ++other;
            continue;
        }
        const auto* eth = reinterpret_cast<const rte_ether_hdr*>(f.data());
        const auto* arp = reinterpret_cast<const rte_arp_hdr*>(eth + 1);
        const uint32_t sender = rte_be_to_cpu_32(arp->arp_data.arp_sip);
        const bool garp = eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) &&
                          rte_is_broadcast_ether_addr(&eth->dst_addr) &&
                          rte_is_same_ether_addr(&eth->src_addr, &port_mac) &&
                          arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) &&
                          rte_is_same_ether_addr(&arp->arp_data.arp_sha, &port_mac) &&
                          arp->arp_data.arp_sip == arp->arp_data.arp_tip;
        if (garp) {
            ++seen[sender];
        } else {
            ++other;
        }
    }
    EXPECT_EQ(other, 0u) << "only gratuitous ARPs from the port's MAC";
    ASSERT_EQ(seen.size(), 1 + media_count);
    EXPECT_EQ(seen[port_addr], 2u);
    for (uint32_t a = media_first; a < media_first + media_count; ++a) {
        EXPECT_EQ(seen[a], 2u) << "media address " << (a & 0xff);
    }
    fs::remove_all(dir);
    fs::remove_all(rte_eal_get_runtime_dir());  // EAL makes it even with --no-shconf
}
