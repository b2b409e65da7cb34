// sip_transport's HEP copies on a real dataplane (EAL, one net_pcap port whose TX goes to a pcap
// file, worker 0 sending): a message is copied when it really leaves, not when it is handed over:
// one waiting for ARP is copied once the neighbour is learnt, a datagram too big for UDP never,
// one sent as IP fragments once and whole. Each copy's payload is the message's bytes and its
// addresses the port's and the peer's; the frame on the wire carries the same bytes.

#include "sip_transport.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_udp.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "hep_exporter.hh"
#include "hep_reader.hh"
#include "sip_wire.hh"

using namespace sf::control;
namespace dp = sf::dp;
namespace fs = std::filesystem;
using sf::test::read_hep;

namespace {

constexpr uint32_t port_addr = 0xc0000201;  // 192.0.2.1
constexpr uint32_t alice = 0xc000020a;      // 192.0.2.10
constexpr uint32_t bob = 0xc000020b;        // 192.0.2.11

void write_empty_pcap(const fs::path& p) {
    const uint32_t magic = 0xa1b2c3d4, snaplen = 65535, linktype = 1, sigfigs = 0;
    const uint16_t major = 2, minor = 4;
    const int32_t zone = 0;
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(&magic), 4);
    f.write(reinterpret_cast<const char*>(&major), 2);
    f.write(reinterpret_cast<const char*>(&minor), 2);
    f.write(reinterpret_cast<const char*>(&zone), 4);
    f.write(reinterpret_cast<const char*>(&sigfigs), 4);
    f.write(reinterpret_cast<const char*>(&snaplen), 4);
    f.write(reinterpret_cast<const char*>(&linktype), 4);
}

std::vector<std::string> read_pcap(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::vector<std::string> frames;
    char global[24];
    if (!f.read(global, sizeof(global))) {
        return frames;
    }
    for (unsigned n = 0; n < 10000; ++n) {
        uint32_t rec[4];
        if (!f.read(reinterpret_cast<char*>(rec), sizeof(rec))) {
            break;
        }
        std::string frame(rec[2], '\0');
        if (!f.read(frame.data(), static_cast<std::streamsize>(frame.size()))) {
            break;
        }
        frames.push_back(std::move(frame));
    }
    return frames;
}

/// A collector on 127.0.0.1: what arrives within `ms` of quiet (at most `max`).
struct collector {
    int fd = -1;
    uint16_t port = 0;
    collector() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~collector() { ::close(fd); }
    std::vector<std::string> take(int ms = 100, size_t max = 100) {
        std::vector<std::string> got;
        std::vector<char> buf(65536);
        while (got.size() < max) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, ms) <= 0) {
                break;
            }
            const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n < 0) {
                break;
            }
            got.emplace_back(buf.data(), static_cast<size_t>(n));
        }
        return got;
    }
};

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
    write_empty_pcap(rx);

    dp::dataplane_config cfg;
    cfg.eal_args = {"-l", "0-1", "--no-huge", "--no-pci", "--no-shconf", "-m", "256",
                    "--file-prefix=sf_transport_hep_" + std::to_string(getpid()), "--log-level=*:error"};
    dp::port_config pc;
    pc.name = "acc";
    pc.device = "net_pcap0,rx_pcap=" + rx.string() + ",tx_pcap=" + tx.string();
    pc.addr = port_addr;
    cfg.ports = {pc};
    cfg.mbufs = 2047;
    cfg.sip_mbufs = 1023;
    cfg.relay_capacity = 1024;
    cfg.sip_sources_tracked = 64;
    cfg.idle_sleep_us = 50;

    collector c;
    hep_config hc;
    hc.collector_addr = INADDR_LOOPBACK;
    hc.collector_port = c.port;
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
    for (const std::string& f : read_pcap(tx)) {
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
