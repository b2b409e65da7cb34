// sip_transport::announce on a real dataplane: EAL, one net_pcap port (its TX written to a pcap
// file, its RX an empty one), worker 0 on lcore 1 sending what the control side hands it. A port
// with 100 media addresses is announced: 64 frames at once (the per-tick bound), the rest on the
// next tick, a second round 2 s later and no third. The pcap file then must hold each of the 101
// addresses exactly twice, as gratuitous ARP requests (sender == target, broadcast, the port's
// MAC). Times are passed to announce()/tick() as numbers: nothing here waits on a clock, only
// (boundedly) on the worker to have sent the frames.

#include "sip_transport.hh"

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

// An empty pcap file (the 24-byte global header: microsecond stamps, Ethernet).
void write_empty_pcap(const fs::path& p) {
    const uint32_t magic = 0xa1b2c3d4, snaplen = 65535, linktype = 1;
    const uint16_t major = 2, minor = 4;
    const int32_t zone = 0;
    const uint32_t sigfigs = 0;
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(&magic), 4);
    f.write(reinterpret_cast<const char*>(&major), 2);
    f.write(reinterpret_cast<const char*>(&minor), 2);
    f.write(reinterpret_cast<const char*>(&zone), 4);
    f.write(reinterpret_cast<const char*>(&sigfigs), 4);
    f.write(reinterpret_cast<const char*>(&snaplen), 4);
    f.write(reinterpret_cast<const char*>(&linktype), 4);
}

// The frames of a pcap file this host wrote (native byte order).
std::vector<std::vector<uint8_t>> read_pcap(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::vector<std::vector<uint8_t>> frames;
    char global[24];
    if (!f.read(global, sizeof(global))) {
        return frames;
    }
    for (unsigned n = 0; n < 100000; ++n) {  // bounded: far more than the test writes
        uint32_t rec[4];
        if (!f.read(reinterpret_cast<char*>(rec), sizeof(rec))) {
            break;
        }
        std::vector<uint8_t> frame(rec[2]);
        if (!f.read(reinterpret_cast<char*>(frame.data()), static_cast<std::streamsize>(frame.size()))) {
            break;
        }
        frames.push_back(std::move(frame));
    }
    return frames;
}

}  // namespace

TEST(sip_transport_announce, every_port_and_media_address_twice_paced_per_tick) {
    const fs::path dir = fs::temp_directory_path() / ("sf_announce_" + std::to_string(getpid()));
    fs::create_directories(dir);
    const fs::path rx = dir / "rx.pcap", tx = dir / "tx.pcap";
    write_empty_pcap(rx);

    dp::dataplane_config cfg;
    cfg.eal_args = {"-l", "0-1", "--no-huge", "--no-pci", "--no-shconf", "-m", "256",
                    "--file-prefix=sf_announce_" + std::to_string(getpid()), "--log-level=*:error"};
    dp::port_config pc;
    pc.name = "acc";
    pc.device = "net_pcap0,rx_pcap=" + rx.string() + ",tx_pcap=" + tx.string();
    pc.addr = port_addr;
    pc.media_first = media_first;
    pc.media_count = media_count;
    cfg.ports = {pc};
    cfg.mbufs = 2047;
    cfg.sip_mbufs = 1023;
    cfg.relay_capacity = 1024;
    cfg.sip_sources_tracked = 64;
    cfg.idle_sleep_us = 50;

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
    for (const auto& f : read_pcap(tx)) {
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
