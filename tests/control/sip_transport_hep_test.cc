// sip_transport's HEP copies on a real dataplane (EAL, one net_pcap port whose TX goes to a pcap
// file, worker 0 sending): a message is copied when it really leaves, not when it is handed over:
// one waiting for ARP is copied once the neighbour is learnt, a datagram too big for UDP never,
// one sent as IP fragments once and whole. Each copy's payload is the message's bytes and its
// addresses the port's and the peer's; the frame on the wire carries the same bytes.

#include "sip_transport.hh"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_udp.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "hep_exporter.hh"
#include "hep_reader.hh"
#include "pcap_port.hh"
#include "sip_wire.hh"

using namespace sf::control;
namespace dp = sf::dp;
namespace fs = std::filesystem;
using sf::test::read_hep;

namespace {

constexpr uint32_t port_addr = 0xc0000201;  // 192.0.2.1
constexpr uint32_t alice = 0xc000020a;      // 192.0.2.10
constexpr uint32_t bob = 0xc000020b;        // 192.0.2.11

sip_wire message(message_pool& pool, const std::string& text) {
    sip_writer w(pool);
    w.append(text);
    return w.finish();
}

std::string options(const char* branch, size_t padding = 0) {
    return std::string("OPTIONS sip:alice@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK") + branch +
           "\r\nCall-ID: " + branch + "@192.0.2.1\r\nCSeq: 1 OPTIONS\r\nX-Pad: " + std::string(padding, 'p') +
           "\r\nContent-Length: 0\r\n\r\n";
}

}  // namespace

TEST(sip_transport_hep, copies_what_leaves_when_it_leaves) {
    const fs::path dir = fs::temp_directory_path() / ("sf_transport_hep_" + std::to_string(getpid()));
    fs::create_directories(dir);
    const fs::path rx = dir / "rx.pcap", tx = dir / "tx.pcap";
    sf::test::write_empty_pcap(rx);

    const dp::dataplane_config cfg = sf::test::pcap_port_config("sf_transport_hep", rx, tx, port_addr);

    sf::test::udp_collector c;
    hep_config hc;
    hc.collector_addr = INADDR_LOOPBACK;
    hc.collector_port = c.port();
    hc.capture_id = 9;
    const std::string waiting = options("waits"), known = options("known"), big = options("big", 3000);
    {
        dp::dataplane d(cfg);
        d.start();
        message_pool pool(d.sip_message_pool());
        sip_transport t(d, realms_of(d), 5060);
        hep_exporter hep(hc);
        t.set_hep(&hep);

        // alice's MAC is unknown: the message waits for ARP, and so does its copy.
        t.send(0, sip_addr{alice, 5060}, message(pool, waiting));
        EXPECT_EQ(t.stats().queued_for_arp, 1u);
        hep.flush();
        EXPECT_TRUE(c.take(50).empty()) << "copied before it left";
        const rte_ether_addr alice_mac{{0x02, 0, 0, 0, 0, 0x0a}};
        t.learn_on_port(d.ports()[0].port_id, alice, alice_mac);
        EXPECT_EQ(t.stats().sent, 1u);
        // Too big for one UDP datagram: dropped before it is sent, never copied.
        t.send(0, sip_addr{alice, 5060}, message(pool, options("huge", 70000)));
        EXPECT_EQ(t.stats().dropped_too_big, 1u);
        // bob is known: sent at once; one larger than the MTU leaves as fragments, copied once.
        t.learn_on_port(d.ports()[0].port_id, bob, rte_ether_addr{{0x02, 0, 0, 0, 0, 0x0b}});
        t.send(0, sip_addr{bob, 5062}, message(pool, known));
        t.send(0, sip_addr{bob, 5062}, message(pool, big));
        EXPECT_EQ(t.stats().fragmented, 1u);
        hep.flush();
        EXPECT_EQ(hep.stats().sent, 3u);

        const auto got = c.take();
        ASSERT_EQ(got.size(), 3u);
        const std::string texts[] = {waiting, known, big};
        const uint32_t to[] = {alice, bob, bob};
        const uint16_t to_port[] = {5060, 5062, 5062};
        for (size_t i = 0; i < 3; ++i) {
            const auto h = read_hep(got[i]);
            ASSERT_TRUE(h.has_value());
            EXPECT_EQ(h->chunks.at(0x000f), texts[i]);
            EXPECT_EQ(h->u32(0x0003), port_addr);
            EXPECT_EQ(h->u32(0x0007), 5060u);
            EXPECT_EQ(h->u32(0x0004), to[i]);
            EXPECT_EQ(h->u32(0x0008), to_port[i]);
            EXPECT_EQ(h->u32(0x000c), 9u);
        }
        for (int i = 0; i < 500 && d.stats().ports[0].nic_opackets < 2 + 3; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        d.stop();
    }  // closing the port flushes the pcap file

    // The wire: ARP request for alice, then the waiting message, the known one, the fragments.
    std::vector<std::string> payloads;
    for (const auto& frame : sf::test::read_pcap(tx)) {
        const std::string f(frame.begin(), frame.end());
        const auto* eth = reinterpret_cast<const rte_ether_hdr*>(f.data());
        if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
            continue;
        }
        const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
        if (rte_ipv4_frag_pkt_is_fragmented(ip)) {
            continue;
        }
        const size_t off = sizeof(rte_ether_hdr) + rte_ipv4_hdr_len(ip) + sizeof(rte_udp_hdr);
        payloads.push_back(f.substr(off, rte_be_to_cpu_16(ip->total_length) - rte_ipv4_hdr_len(ip) - sizeof(rte_udp_hdr)));
    }
    ASSERT_EQ(payloads.size(), 2u);
    EXPECT_EQ(payloads[0], waiting);
    EXPECT_EQ(payloads[1], known);
    fs::remove_all(dir);
    fs::remove_all(rte_eal_get_runtime_dir());
}
