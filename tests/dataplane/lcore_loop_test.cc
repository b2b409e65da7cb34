/// @file
/// worker_handle_burst (the per-burst classification of the lcore loop) on real
/// net_ring ports: what the worker transmits is read back from the same ring
/// port (net_ring loops TX queue 0 into RX queue 0), what it hands to control is
/// read from its rings, and every drop reason is counted exactly.

#include <gtest/gtest.h>

#include <rte_arp.h>
#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <map>
#include <memory>
#include <vector>

#include "eal_fixture.hh"
#include "packet.hh"
#include "relay_table.hh"
#include "rings.hh"
#include "sip_limiter.hh"
#include "worker.hh"

namespace sf::dp {
namespace {

using namespace sf::dp::test;

[[maybe_unused]] auto* const eal = register_eal();

constexpr uint32_t our_addr0 = ipv4(192, 0, 2, 1);
constexpr uint32_t our_addr1 = ipv4(198, 51, 100, 1);
constexpr uint32_t peer_addr = ipv4(192, 0, 2, 10);

// Creates and starts a loopback ring port with one queue pair.
uint16_t start_ring_port(const char* name) {
    uint16_t port_id = 0;
    if (rte_eth_dev_get_port_by_name(name, &port_id) == 0) {
        return port_id;
    }
    EXPECT_EQ(rte_vdev_init(name, nullptr), 0);
    EXPECT_EQ(rte_eth_dev_get_port_by_name(name, &port_id), 0);
    rte_eth_conf conf{};
    EXPECT_EQ(rte_eth_dev_configure(port_id, 1, 1, &conf), 0);
    EXPECT_EQ(rte_eth_rx_queue_setup(port_id, 0, 1024, 0, nullptr, test_pool()), 0);
    EXPECT_EQ(rte_eth_tx_queue_setup(port_id, 0, 1024, 0, nullptr), 0);
    EXPECT_EQ(rte_eth_dev_start(port_id), 0);
    return port_id;
}

class loop_fixture : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        port0 = start_ring_port("net_ring0");
        port1 = start_ring_port("net_ring1");
    }

    void SetUp() override {
        ASSERT_NE(test_pool(), nullptr);
        drain(port0);
        drain(port1);
        pool_in_use = rte_mempool_in_use_count(test_pool());

        table = std::make_unique<relay_table>(unique_name("loop_rt").c_str(), 1024, 1,
                                              static_cast<int>(rte_socket_id()));
        // Set up like dataplane::dataplane does for worker 0.
        w = std::make_unique<worker>();
        w->id = 0;
        w->queue = 0;
        w->burst = 32;
        w->sip_port = 5060;
        w->relay_min = 20000;
        w->relay_max = 29999;
        w->relay = table.get();
        w->sip_in = rte_ring_create(unique_name("t_sip_in").c_str(), sip_ring_size, rte_socket_id(),
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
        w->neighbours = rte_ring_create_elem(unique_name("t_nb").c_str(), sizeof(neighbour_event), 1024,
                                             rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
        // Small, so a test can fill it: holds rtcp_ring_size - 1 events.
        w->rtcp_out = rte_ring_create_elem(unique_name("t_rtcp").c_str(), sizeof(rtcp_event), rtcp_ring_size,
                                           rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
        ASSERT_NE(w->sip_in, nullptr);
        ASSERT_NE(w->neighbours, nullptr);
        ASSERT_NE(w->rtcp_out, nullptr);
        add_port(port0, our_addr0, mac(0x01));
        add_port(port1, our_addr1, mac(0x02));
    }

    void TearDown() override {
        flush();
        drain(port0);
        drain(port1);
        rte_mbuf* m = nullptr;
        while (rte_ring_dequeue(w->sip_in, reinterpret_cast<void**>(&m)) == 0) {
            rte_pktmbuf_free(m);
        }
        rte_ring_free(w->sip_in);
        rte_ring_free(w->neighbours);
        rte_ring_free(w->rtcp_out);
        for (unsigned i = 0; i < w->n_ports; ++i) {
            rte_free(w->ports[w->port_ids[i]].tx);
        }
        // Every path either sent, handed over or freed its mbuf.
        EXPECT_EQ(rte_mempool_in_use_count(test_pool()), pool_in_use) << "mbuf leak";
    }

    // net_ring cannot change its MAC, and the worker answers with wp.mac: set that.
    void add_port(uint16_t port_id, uint32_t addr, const rte_ether_addr& port_mac) {
        worker_port& wp = w->ports[port_id];
        wp.used = true;
        wp.index = static_cast<uint8_t>(w->n_ports);
        wp.addr = addr;
        wp.mac = port_mac;
        wp.tx = static_cast<rte_eth_dev_tx_buffer*>(
            rte_zmalloc("t_txbuf", RTE_ETH_TX_BUFFER_SIZE(64), RTE_CACHE_LINE_SIZE));
        ASSERT_NE(wp.tx, nullptr);
        rte_eth_tx_buffer_init(wp.tx, 32);
        w->port_ids[w->n_ports++] = port_id;
    }

    void flush() {
        for (unsigned i = 0; i < w->n_ports; ++i) {
            rte_eth_tx_buffer_flush(w->port_ids[i], w->queue, w->ports[w->port_ids[i]].tx);
        }
    }

    static void drain(uint16_t port_id) {
        rte_mbuf* pkts[64];
        uint16_t n;
        while ((n = rte_eth_rx_burst(port_id, 0, pkts, 64)) != 0) {
            rte_pktmbuf_free_bulk(pkts, n);
        }
    }

    // What the worker transmitted on `port_id` (caller frees).
    std::vector<rte_mbuf*> transmitted(uint16_t port_id) {
        flush();
        std::vector<rte_mbuf*> out;
        rte_mbuf* pkts[64];
        uint16_t n;
        while ((n = rte_eth_rx_burst(port_id, 0, pkts, 64)) != 0) {
            out.insert(out.end(), pkts, pkts + n);
        }
        return out;
    }

    std::vector<neighbour_event> neighbours() {
        std::vector<neighbour_event> out(64);
        const unsigned n = rte_ring_sc_dequeue_burst_elem(w->neighbours, out.data(), sizeof(neighbour_event), 64,
                                                          nullptr);
        out.resize(n);
        return out;
    }

    std::vector<rtcp_event> rtcp_events() {
        std::vector<rtcp_event> out(64);
        const unsigned n = rte_ring_sc_dequeue_burst_elem(w->rtcp_out, out.data(), sizeof(rtcp_event), 64, nullptr);
        out.resize(n);
        return out;
    }

    void handle(std::vector<rte_mbuf*> pkts, uint16_t port_id = 0) {
        for (rte_mbuf* m : pkts) {
            ASSERT_NE(m, nullptr);
        }
        worker_handle_burst(*w, port_id, pkts.data(), static_cast<unsigned>(pkts.size()), 42);
    }

    void handle_at(std::vector<rte_mbuf*> pkts, uint64_t now_tsc, uint16_t port_id = 0) {
        for (rte_mbuf* m : pkts) {
            ASSERT_NE(m, nullptr);
        }
        worker_handle_burst(*w, port_id, pkts.data(), static_cast<unsigned>(pkts.size()), now_tsc);
    }

    // The SIP rate limit as dataplane::dataplane sets it, on a 1 GHz test clock (now_tsc is injected).
    static constexpr uint64_t test_hz = 1'000'000'000;
    void limit_sip(uint32_t rate, uint32_t burst, uint32_t sources = 1024) {
        w->sip_limit = make_sip_limiter(unique_name("t_sipl").c_str(), rate, burst, sources, test_hz,
                                        static_cast<int>(rte_socket_id()));
    }

    // A SIP datagram from `src` to port 0's address.
    static rte_mbuf* sip_from(uint32_t src, size_t payload_len = 40) {
        udp_spec s = udp_to_us(5060, payload_len);
        s.src_addr = src;
        return make_udp_frame(s);
    }

    // Empties the SIP ring: how many datagrams of each source reached control.
    std::map<uint32_t, unsigned> sip_delivered() {
        std::map<uint32_t, unsigned> out;
        rte_mbuf* m = nullptr;
        while (rte_ring_dequeue(w->sip_in, reinterpret_cast<void**>(&m)) == 0) {
            ++out[meta_of(m)->src_addr];
            rte_pktmbuf_free(m);
        }
        return out;
    }

    uint64_t drops(drop_reason r) const { return w->stats.drops[static_cast<unsigned>(r)].load(); }

    // Every drop counter equals `want` (absent reasons: zero).
    void expect_drops(const std::map<drop_reason, uint64_t>& want) const {
        for (unsigned r = 0; r < static_cast<unsigned>(drop_reason::count_); ++r) {
            const auto it = want.find(static_cast<drop_reason>(r));
            EXPECT_EQ(w->stats.drops[r].load(), it == want.end() ? 0 : it->second)
                << to_string(static_cast<drop_reason>(r));
        }
    }

    // A SIP/RTP-style UDP frame from the peer to port 0's address.
    /// A call's two relay sides: `a_addr`:20000 on port0 bridged to 198.51.100.1:20002 on port1,
    /// whose remote (bob, 198.51.100.20:6000, MAC b0) is known from the SDP.
    void bridge_to_bob(uint32_t a_addr, media_side** a_out = nullptr, media_side** b_out = nullptr) {
        media_side* a = table->make(a_addr, 20000);
        media_side* b = table->make(our_addr1, 20002);
        ASSERT_NE(a, nullptr);
        ASSERT_NE(b, nullptr);
        a->port_id = port0;
        a->local_mac = w->ports[port0].mac;
        b->port_id = port1;
        b->local_mac = w->ports[port1].mac;
        set_remote(*b, pack_endpoint(ipv4(198, 51, 100, 20), 6000), pack_mac(mac(0xb0)));
        bridge(*a, b);
        bridge(*b, a);
        ASSERT_TRUE(table->insert(a));
        ASSERT_TRUE(table->insert(b));
        if (a_out != nullptr) {
            *a_out = a;
        }
        if (b_out != nullptr) {
            *b_out = b;
        }
    }

    static udp_spec udp_to_us(uint16_t dport, size_t payload_len = 40) {
        udp_spec s;
        s.src_mac = mac(0x10);
        s.dst_mac = mac(0x01);
        s.src_addr = peer_addr;
        s.dst_addr = our_addr0;
        s.src_port = 5062;
        s.dst_port = dport;
        s.payload = pattern_payload(payload_len, 9);
        return s;
    }

    static constexpr unsigned sip_ring_size = 1024;
    static constexpr unsigned rtcp_ring_size = 8;
    static inline uint16_t port0 = 0;
    static inline uint16_t port1 = 0;
    unsigned pool_in_use = 0;
    std::unique_ptr<relay_table> table;
    std::unique_ptr<worker> w;
};

rte_mbuf* arp_frame(uint16_t op, const rte_ether_addr& from_mac, uint32_t from_addr, uint32_t target) {
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)));
    std::memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
    eth->src_addr = from_mac;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = RTE_ETHER_ADDR_LEN;
    arp->arp_plen = 4;
    arp->arp_opcode = rte_cpu_to_be_16(op);
    arp->arp_data.arp_sha = from_mac;
    arp->arp_data.arp_sip = rte_cpu_to_be_32(from_addr);
    std::memset(&arp->arp_data.arp_tha, 0, RTE_ETHER_ADDR_LEN);
    arp->arp_data.arp_tip = rte_cpu_to_be_32(target);
    return m;
}

rte_mbuf* icmp_frame(uint8_t type, uint32_t dst, size_t len) {
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    const uint16_t ip_len = static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + sizeof(rte_icmp_hdr) + len);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + ip_len));
    eth->src_addr = mac(0x10);
    eth->dst_addr = mac(0x01);
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    std::memset(ip, 0, sizeof(*ip));
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(ip_len);
    ip->time_to_live = 9;
    ip->next_proto_id = IPPROTO_ICMP;
    ip->src_addr = rte_cpu_to_be_32(peer_addr);
    ip->dst_addr = rte_cpu_to_be_32(dst);
    ip->hdr_checksum = static_cast<uint16_t>(~ref_sum(ip, sizeof(*ip)));
    auto* icmp = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
    icmp->icmp_type = type;
    icmp->icmp_code = 0;
    icmp->icmp_cksum = 0;
    icmp->icmp_ident = rte_cpu_to_be_16(77);
    icmp->icmp_seq_nb = rte_cpu_to_be_16(3);
    auto* data = reinterpret_cast<uint8_t*>(icmp + 1);
    for (size_t i = 0; i < len; ++i) {
        data[i] = static_cast<uint8_t>(i * 13);
    }
    icmp->icmp_cksum = static_cast<uint16_t>(~ref_sum(icmp, sizeof(*icmp) + len));
    return m;
}

// Helpers that break one thing in an otherwise valid UDP frame; they fix the IP
// checksum afterwards so only the intended defect is present.
rte_ipv4_hdr* ip_of(rte_mbuf* m) {
    return reinterpret_cast<rte_ipv4_hdr*>(rte_pktmbuf_mtod(m, rte_ether_hdr*) + 1);
}

void fix_ip_cksum(rte_mbuf* m) {
    rte_ipv4_hdr* ip = ip_of(m);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = static_cast<uint16_t>(~ref_sum(ip, sizeof(*ip)));
}

TEST_F(loop_fixture, arp_request_for_us_is_answered_and_learnt) {
    handle({arp_frame(RTE_ARP_OP_REQUEST, mac(0x10), peer_addr, our_addr0)});
    EXPECT_EQ(w->stats.arp_replies.load(), 1u);
    EXPECT_EQ(w->stats.rx_packets[0].load(), 1u);
    EXPECT_EQ(w->stats.tx_packets[0].load(), 1u);
    expect_drops({});

    auto out = transmitted(port0);
    ASSERT_EQ(out.size(), 1u);
    auto* eth = rte_pktmbuf_mtod(out[0], rte_ether_hdr*);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    EXPECT_TRUE(mac_eq(eth->dst_addr, mac(0x10)));
    EXPECT_TRUE(mac_eq(eth->src_addr, w->ports[port0].mac));
    EXPECT_EQ(eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP));
    EXPECT_EQ(rte_be_to_cpu_16(arp->arp_opcode), RTE_ARP_OP_REPLY);
    EXPECT_TRUE(mac_eq(arp->arp_data.arp_sha, w->ports[port0].mac));
    EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), our_addr0);
    EXPECT_TRUE(mac_eq(arp->arp_data.arp_tha, mac(0x10)));
    EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_tip), peer_addr);
    rte_pktmbuf_free_bulk(out.data(), static_cast<unsigned>(out.size()));
    EXPECT_TRUE(transmitted(port1).empty());

    const auto ev = neighbours();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].addr, peer_addr);
    EXPECT_EQ(ev[0].port_id, port0);
    EXPECT_EQ(0, std::memcmp(ev[0].mac, mac(0x10).addr_bytes, RTE_ETHER_ADDR_LEN));
}

TEST_F(loop_fixture, arp_request_for_other_address_not_answered) {
    handle({arp_frame(RTE_ARP_OP_REQUEST, mac(0x10), peer_addr, ipv4(192, 0, 2, 77))});
    EXPECT_EQ(w->stats.arp_replies.load(), 0u);
    EXPECT_EQ(w->stats.tx_packets[0].load(), 0u);
    EXPECT_TRUE(transmitted(port0).empty());
    EXPECT_TRUE(neighbours().empty());
}

// stats.hh documents drop_reason::arp_other as "ARP not for us / malformed": an ARP request
// for another host is counted there.
TEST_F(loop_fixture, arp_request_for_other_address_counted_as_arp_other) {
    handle({arp_frame(RTE_ARP_OP_REQUEST, mac(0x10), peer_addr, ipv4(192, 0, 2, 77))});
    expect_drops({{drop_reason::arp_other, 1}});
}

TEST_F(loop_fixture, arp_reply_and_gratuitous_are_learnt_not_answered) {
    handle({arp_frame(RTE_ARP_OP_REPLY, mac(0x11), ipv4(192, 0, 2, 11), our_addr0),
            arp_frame(RTE_ARP_OP_REQUEST, mac(0x12), ipv4(192, 0, 2, 12), ipv4(192, 0, 2, 12)),
            // Someone claiming our own address is not learnt.
            arp_frame(RTE_ARP_OP_REPLY, mac(0x13), our_addr0, our_addr0)});
    EXPECT_EQ(w->stats.arp_replies.load(), 0u);
    EXPECT_EQ(w->stats.arp_absorbed.load(), 3u);  // taken in, nothing to answer: not drops
    expect_drops({});
    EXPECT_TRUE(transmitted(port0).empty());
    const auto ev = neighbours();
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0].addr, ipv4(192, 0, 2, 11));
    EXPECT_EQ(0, std::memcmp(ev[0].mac, mac(0x11).addr_bytes, RTE_ETHER_ADDR_LEN));
    EXPECT_EQ(ev[1].addr, ipv4(192, 0, 2, 12));
}

TEST_F(loop_fixture, malformed_arp_dropped) {
    rte_mbuf* shortm = arp_frame(RTE_ARP_OP_REQUEST, mac(0x10), peer_addr, our_addr0);
    rte_pktmbuf_trim(shortm, 1);
    rte_mbuf* bad_hw = arp_frame(RTE_ARP_OP_REQUEST, mac(0x10), peer_addr, our_addr0);
    reinterpret_cast<rte_arp_hdr*>(rte_pktmbuf_mtod(bad_hw, rte_ether_hdr*) + 1)->arp_hlen = 8;
    handle({shortm, bad_hw});
    expect_drops({{drop_reason::arp_other, 2}});
    EXPECT_TRUE(transmitted(port0).empty());
    EXPECT_TRUE(neighbours().empty());
}

TEST_F(loop_fixture, icmp_echo_is_answered) {
    handle({icmp_frame(RTE_IP_ICMP_ECHO_REQUEST, our_addr0, 57)});
    EXPECT_EQ(w->stats.icmp_replies.load(), 1u);
    EXPECT_EQ(w->stats.tx_packets[0].load(), 1u);
    expect_drops({});
    auto out = transmitted(port0);
    ASSERT_EQ(out.size(), 1u);
    auto* eth = rte_pktmbuf_mtod(out[0], rte_ether_hdr*);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    auto* icmp = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
    EXPECT_TRUE(mac_eq(eth->dst_addr, mac(0x10)));
    EXPECT_TRUE(mac_eq(eth->src_addr, mac(0x01)));
    EXPECT_EQ(rte_be_to_cpu_32(ip->src_addr), our_addr0);
    EXPECT_EQ(rte_be_to_cpu_32(ip->dst_addr), peer_addr);
    EXPECT_TRUE(ref_ipv4_ok(ip));
    EXPECT_EQ(icmp->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
    EXPECT_EQ(ref_sum(icmp, sizeof(*icmp) + 57), 0xffffu);
    EXPECT_EQ(rte_be_to_cpu_16(icmp->icmp_ident), 77);
    rte_pktmbuf_free_bulk(out.data(), static_cast<unsigned>(out.size()));
}

// A ping to the broadcast MAC (or flooded by a switch) is answered from the port's own MAC,
// never from the destination MAC the request happened to carry.
TEST_F(loop_fixture, icmp_echo_reply_leaves_from_the_port_mac) {
    rte_mbuf* m = icmp_frame(RTE_IP_ICMP_ECHO_REQUEST, our_addr0, 16);
    rte_pktmbuf_mtod(m, rte_ether_hdr*)->dst_addr = rte_ether_addr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    handle({m});
    auto out = transmitted(port0);
    ASSERT_EQ(out.size(), 1u);
    const auto* eth = rte_pktmbuf_mtod(out[0], rte_ether_hdr*);
    EXPECT_TRUE(mac_eq(eth->src_addr, w->ports[port0].mac));
    EXPECT_TRUE(mac_eq(eth->dst_addr, mac(0x10)));
    rte_pktmbuf_free_bulk(out.data(), static_cast<unsigned>(out.size()));
}

// An echo request larger than the port MTU (an af_packet port's kernel reassembles a
// fragmented ping before the worker sees it) would need a reply the worker cannot send in one
// frame: dropped, not sent oversize.
TEST_F(loop_fixture, icmp_echo_larger_than_the_mtu_is_not_answered) {
    w->ports[port0].mtu = 1400;
    handle({icmp_frame(RTE_IP_ICMP_ECHO_REQUEST, our_addr0, 1400 - 28),
            icmp_frame(RTE_IP_ICMP_ECHO_REQUEST, our_addr0, 1400 - 28 + 1)});
    EXPECT_EQ(w->stats.icmp_replies.load(), 1u);  // exactly the MTU is answered
    expect_drops({{drop_reason::icmp_other, 1}});
    auto out = transmitted(port0);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(rte_pktmbuf_pkt_len(out[0]), sizeof(rte_ether_hdr) + 1400u);
    rte_pktmbuf_free_bulk(out.data(), static_cast<unsigned>(out.size()));
}

TEST_F(loop_fixture, icmp_other_dropped) {
    rte_mbuf* ts = icmp_frame(13, our_addr0, 12);  // timestamp request
    rte_mbuf* short_icmp = make_udp_frame(udp_to_us(5060, 0));  // 8 bytes after IP: rewrite as too-short ICMP
    ip_of(short_icmp)->next_proto_id = IPPROTO_ICMP;
    ip_of(short_icmp)->total_length = rte_cpu_to_be_16(sizeof(rte_ipv4_hdr) + 4);
    fix_ip_cksum(short_icmp);
    handle({ts, short_icmp});
    expect_drops({{drop_reason::icmp_other, 2}});
    EXPECT_TRUE(transmitted(port0).empty());
}

TEST_F(loop_fixture, sip_goes_to_control_with_meta) {
    const udp_spec s = udp_to_us(5060, 333);
    handle({make_udp_frame(s)});
    EXPECT_EQ(w->stats.sip_in.load(), 1u);
    expect_drops({});
    rte_mbuf* m = nullptr;
    ASSERT_EQ(rte_ring_dequeue(w->sip_in, reinterpret_cast<void**>(&m)), 0);
    const packet_meta* meta = meta_of(m);
    EXPECT_EQ(meta->kind, meta_kind::sip_in);
    EXPECT_EQ(meta->port_id, port0);
    EXPECT_EQ(meta->src_addr, peer_addr);
    EXPECT_EQ(meta->dst_addr, our_addr0);
    EXPECT_EQ(meta->src_port, 5062);
    EXPECT_EQ(meta->dst_port, 5060);
    EXPECT_EQ(meta->payload_off, l2_l3_l4_len);
    EXPECT_EQ(meta->payload_len, 333);
    EXPECT_TRUE(mac_eq(meta->src_mac, mac(0x10)));
    EXPECT_EQ(0, std::memcmp(rte_pktmbuf_mtod_offset(m, uint8_t*, meta->payload_off), s.payload.data(), 333));
    rte_pktmbuf_free(m);
    EXPECT_TRUE(transmitted(port0).empty());
}

TEST_F(loop_fixture, sip_with_ethernet_padding_and_ip_options) {
    // 4 bytes of SIP keepalive ("\r\n\r\n") arrive padded to the 60-byte Ethernet minimum.
    udp_spec s = udp_to_us(5060, 4);
    s.ip_options = 1;
    rte_mbuf* m = make_udp_frame(s);
    const uint16_t real_len = rte_pktmbuf_data_len(m);
    std::memset(rte_pktmbuf_append(m, 60 - real_len), 0xee, 60 - real_len);
    handle({m});
    ASSERT_EQ(w->stats.sip_in.load(), 1u);
    rte_mbuf* got = nullptr;
    ASSERT_EQ(rte_ring_dequeue(w->sip_in, reinterpret_cast<void**>(&got)), 0);
    EXPECT_EQ(rte_pktmbuf_data_len(got), real_len) << "padding trimmed";
    EXPECT_EQ(meta_of(got)->payload_off, l2_l3_l4_len + 4);
    EXPECT_EQ(meta_of(got)->payload_len, 4);
    rte_pktmbuf_free(got);
}

TEST_F(loop_fixture, sip_ring_full_counted) {
    // Fill the SIP ring to one short of full (a ring of N holds N-1).
    for (unsigned i = 0; i < sip_ring_size - 2; ++i) {
        rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
        ASSERT_NE(m, nullptr);
        ASSERT_EQ(rte_ring_sp_enqueue(w->sip_in, m), 0);
    }
    handle({make_udp_frame(udp_to_us(5060)), make_udp_frame(udp_to_us(5060)), make_udp_frame(udp_to_us(5060))});
    EXPECT_EQ(w->stats.sip_in.load(), 1u);
    expect_drops({{drop_reason::sip_ring_full, 2}});
}

TEST_F(loop_fixture, udp_port_and_relay_miss) {
    handle({make_udp_frame(udp_to_us(53)), make_udp_frame(udp_to_us(19999)), make_udp_frame(udp_to_us(30000)),
            make_udp_frame(udp_to_us(20000)), make_udp_frame(udp_to_us(29999))});
    expect_drops({{drop_reason::udp_port, 3}, {drop_reason::relay_miss, 2}});
    EXPECT_EQ(w->stats.relayed.load(), 0u);
    EXPECT_TRUE(transmitted(port0).empty());
    EXPECT_TRUE(transmitted(port1).empty());
}

TEST_F(loop_fixture, non_ipv4_and_runts_dropped) {
    rte_mbuf* v6 = make_udp_frame(udp_to_us(5060));
    rte_pktmbuf_mtod(v6, rte_ether_hdr*)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
    rte_mbuf* vlan = make_udp_frame(udp_to_us(5060));
    rte_pktmbuf_mtod(vlan, rte_ether_hdr*)->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
    rte_mbuf* runt = rte_pktmbuf_alloc(test_pool());
    std::memset(rte_pktmbuf_append(runt, 13), 0, 13);
    handle({v6, vlan, runt});
    expect_drops({{drop_reason::ethertype, 3}});
}

TEST_F(loop_fixture, not_for_us) {
    udp_spec s = udp_to_us(5060);
    s.dst_addr = ipv4(192, 0, 2, 2);
    rte_mbuf* other = make_udp_frame(s);
    // Port 1's address arriving on port 0 is not port 0's either.
    s.dst_addr = our_addr1;
    rte_mbuf* cross = make_udp_frame(s);
    handle({other, cross});
    expect_drops({{drop_reason::not_for_us, 2}});
}

TEST_F(loop_fixture, malformed_ip_dropped) {
    std::vector<rte_mbuf*> pkts;
    // Truncated: the frame ends inside the IP header.
    rte_mbuf* trunc = make_udp_frame(udp_to_us(5060));
    rte_pktmbuf_trim(trunc, rte_pktmbuf_data_len(trunc) - (sizeof(rte_ether_hdr) + 10));
    pkts.push_back(trunc);
    // Total length beyond the frame.
    rte_mbuf* too_long = make_udp_frame(udp_to_us(5060));
    ip_of(too_long)->total_length = rte_cpu_to_be_16(rte_be_to_cpu_16(ip_of(too_long)->total_length) + 1);
    fix_ip_cksum(too_long);
    pkts.push_back(too_long);
    // Total length below the header length.
    rte_mbuf* too_short = make_udp_frame(udp_to_us(5060));
    ip_of(too_short)->total_length = rte_cpu_to_be_16(19);
    fix_ip_cksum(too_short);
    pkts.push_back(too_short);
    // IHL of 4 words.
    rte_mbuf* ihl = make_udp_frame(udp_to_us(5060));
    ip_of(ihl)->version_ihl = 0x44;
    pkts.push_back(ihl);
    // IPv6 payload under the IPv4 ethertype.
    rte_mbuf* ver = make_udp_frame(udp_to_us(5060));
    ip_of(ver)->version_ihl = 0x65;
    pkts.push_back(ver);
    // IHL larger than the frame.
    rte_mbuf* big_ihl = make_udp_frame(udp_to_us(5060, 0));
    ip_of(big_ihl)->version_ihl = 0x4f;
    pkts.push_back(big_ihl);
    handle(pkts);
    expect_drops({{drop_reason::ip_malformed, 6}});
}

TEST_F(loop_fixture, fragments_dropped) {
    rte_mbuf* first = make_udp_frame(udp_to_us(5060));
    ip_of(first)->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
    fix_ip_cksum(first);
    rte_mbuf* later = make_udp_frame(udp_to_us(5060));
    ip_of(later)->fragment_offset = rte_cpu_to_be_16(185);  // offset 1480
    fix_ip_cksum(later);
    rte_mbuf* df = make_udp_frame(udp_to_us(5060));  // DF alone is not a fragment
    ip_of(df)->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
    fix_ip_cksum(df);
    handle({first, later, df});
    expect_drops({{drop_reason::ip_fragment, 2}});
    EXPECT_EQ(w->stats.sip_in.load(), 1u);
}

TEST_F(loop_fixture, other_protocols_dropped) {
    rte_mbuf* tcp = make_udp_frame(udp_to_us(5060));
    ip_of(tcp)->next_proto_id = IPPROTO_TCP;
    fix_ip_cksum(tcp);
    rte_mbuf* sctp = make_udp_frame(udp_to_us(5060));
    ip_of(sctp)->next_proto_id = IPPROTO_SCTP;
    fix_ip_cksum(sctp);
    handle({tcp, sctp});
    expect_drops({{drop_reason::ip_proto, 2}});
}

TEST_F(loop_fixture, malformed_udp_dropped) {
    rte_mbuf* long_udp = make_udp_frame(udp_to_us(5060, 10));
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip_of(long_udp) + 1);
    udp->dgram_len = rte_cpu_to_be_16(sizeof(rte_udp_hdr) + 11);
    rte_mbuf* short_udp = make_udp_frame(udp_to_us(5060, 10));
    reinterpret_cast<rte_udp_hdr*>(ip_of(short_udp) + 1)->dgram_len = rte_cpu_to_be_16(7);
    rte_mbuf* no_room = make_udp_frame(udp_to_us(5060, 0));
    ip_of(no_room)->total_length = rte_cpu_to_be_16(sizeof(rte_ipv4_hdr) + 4);
    fix_ip_cksum(no_room);
    handle({long_udp, short_udp, no_room});
    expect_drops({{drop_reason::udp_malformed, 3}});
}

TEST_F(loop_fixture, multi_segment_dropped) {
    rte_mbuf* head = make_udp_frame(udp_to_us(5060));
    rte_mbuf* tail = rte_pktmbuf_alloc(test_pool());
    std::memset(rte_pktmbuf_append(tail, 10), 0, 10);
    ASSERT_EQ(rte_pktmbuf_chain(head, tail), 0);
    handle({head});
    expect_drops({{drop_reason::multi_segment, 1}});
}

// A side A on port 0 bridged to side B on port 1: media in on port 0 leaves on port 1.
TEST_F(loop_fixture, relayed_packet_is_transmitted_on_peer_port) {
    [[maybe_unused]] media_side* a = nullptr;
    [[maybe_unused]] media_side* b = nullptr;
    ASSERT_NO_FATAL_FAILURE(bridge_to_bob(our_addr0, &a, &b));

    std::vector<rte_mbuf*> in;
    for (int i = 0; i < 20; ++i) {
        in.push_back(make_udp_frame(udp_to_us(20000, 160)));
    }
    handle(in);
    EXPECT_EQ(w->stats.relayed.load(), 20u);
    EXPECT_EQ(w->stats.rx_packets[0].load(), 20u);
    EXPECT_EQ(w->stats.tx_packets[1].load(), 20u);
    EXPECT_EQ(w->stats.tx_packets[0].load(), 0u);
    expect_drops({});
    EXPECT_EQ(a->rx_packets.load(), 20u);
    EXPECT_EQ(a->fwd_packets(), 20u);
    EXPECT_TRUE(a->latched());

    EXPECT_TRUE(transmitted(port0).empty());
    auto out = transmitted(port1);
    ASSERT_EQ(out.size(), 20u);
    for (rte_mbuf* m : out) {
        const frame_view f = view_of(m);
        EXPECT_TRUE(mac_eq(f.eth->src_addr, w->ports[port1].mac));
        EXPECT_TRUE(mac_eq(f.eth->dst_addr, mac(0xb0)));
        EXPECT_EQ(rte_be_to_cpu_32(f.ip->src_addr), our_addr1);
        EXPECT_EQ(rte_be_to_cpu_32(f.ip->dst_addr), ipv4(198, 51, 100, 20));
        EXPECT_EQ(rte_be_to_cpu_16(f.udp->src_port), 20002);
        EXPECT_EQ(rte_be_to_cpu_16(f.udp->dst_port), 6000);
        EXPECT_TRUE(ref_ipv4_ok(f.ip));
        EXPECT_TRUE(ref_udp_ok(f.ip, f.udp));
    }
    rte_pktmbuf_free_bulk(out.data(), static_cast<unsigned>(out.size()));

    // B has no peer-side remote problem, but A's peer gone: no_target drops.
    bridge(*a, nullptr);
    handle({make_udp_frame(udp_to_us(20000))});
    expect_drops({{drop_reason::relay_no_target, 1}});
    EXPECT_EQ(w->stats.relayed.load(), 20u);
}

TEST_F(loop_fixture, rtcp_reports_go_to_the_control_ring_and_a_full_ring_loses_reports_not_packets) {
    [[maybe_unused]] media_side* a = nullptr;
    [[maybe_unused]] media_side* b = nullptr;
    ASSERT_NO_FATAL_FAILURE(bridge_to_bob(our_addr0, &a, &b));
    // An RR (RFC 3550 6.4.2) with one block: 26/256 lost, jitter 80.
    udp_spec rr = udp_to_us(20000);
    rr.payload = {0x81, 201, 0, 7, 0, 0, 0xa1, 0xce, 0, 0, 0x0b, 0x0b, 26, 0, 0, 3,
                  0, 1, 0, 0, 0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0};
    handle({make_udp_frame(rr), make_udp_frame(udp_to_us(20000, 160))});
    EXPECT_EQ(w->stats.relayed.load(), 2u) << "the report is relayed too";
    for (rte_mbuf* m : transmitted(port1)) {
        rte_pktmbuf_free(m);
    }
    const auto ev = rtcp_events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].tsc, 42u) << "the burst's clock";
    EXPECT_EQ(ev[0].addr, our_addr0);
    EXPECT_EQ(ev[0].port, 20000);
    EXPECT_EQ(ev[0].report.sender_ssrc, 0xa1ceu);
    EXPECT_EQ(ev[0].report.fraction_lost, 26);
    EXPECT_EQ(ev[0].report.jitter, 80u);
    EXPECT_EQ(w->stats.rtcp_reports.load(), 1u);

    // Ten reports in one burst: the ring holds seven; three are lost, every packet relayed.
    std::vector<rte_mbuf*> burst;
    for (int i = 0; i < 10; ++i) {
        burst.push_back(make_udp_frame(rr));
    }
    handle(burst);
    EXPECT_EQ(w->stats.relayed.load(), 12u);
    EXPECT_EQ(w->stats.rtcp_reports.load(), 1u + rtcp_ring_size - 1);
    EXPECT_EQ(w->stats.rtcp_reports_lost.load(), 10u - (rtcp_ring_size - 1));
    EXPECT_EQ(rtcp_events().size(), rtcp_ring_size - 1);
    expect_drops({});
}

// One burst with one packet of every kind: every counter exact at once.
TEST_F(loop_fixture, mixed_burst_counters_exact) {
    media_side* a = table->make(our_addr0, 20000);
    media_side* b = table->make(our_addr1, 20002);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    a->port_id = port0;
    b->port_id = port1;
    set_remote(*b, pack_endpoint(ipv4(198, 51, 100, 20), 6000), pack_mac(mac(0xb0)));
    bridge(*a, b);
    ASSERT_TRUE(table->insert(a));
    ASSERT_TRUE(table->insert(b));

    std::vector<rte_mbuf*> pkts;
    pkts.push_back(arp_frame(RTE_ARP_OP_REQUEST, mac(0x10), peer_addr, our_addr0));  // reply
    pkts.push_back(icmp_frame(RTE_IP_ICMP_ECHO_REQUEST, our_addr0, 8));             // reply
    pkts.push_back(make_udp_frame(udp_to_us(5060)));                                 // sip_in
    pkts.push_back(make_udp_frame(udp_to_us(20000)));                                // relayed
    pkts.push_back(make_udp_frame(udp_to_us(20000)));                                // relayed
    pkts.push_back(make_udp_frame(udp_to_us(20004)));                                // relay_miss
    pkts.push_back(make_udp_frame(udp_to_us(9)));                                    // udp_port
    rte_mbuf* tcp = make_udp_frame(udp_to_us(5060));
    ip_of(tcp)->next_proto_id = IPPROTO_TCP;
    fix_ip_cksum(tcp);
    pkts.push_back(tcp);                                                             // ip_proto
    udp_spec s = udp_to_us(5060);
    s.dst_addr = ipv4(10, 9, 9, 9);
    pkts.push_back(make_udp_frame(s));                                               // not_for_us
    handle(pkts);

    EXPECT_EQ(w->stats.rx_packets[0].load(), 9u);
    EXPECT_EQ(w->stats.tx_packets[0].load(), 2u);
    EXPECT_EQ(w->stats.tx_packets[1].load(), 2u);
    EXPECT_EQ(w->stats.arp_replies.load(), 1u);
    EXPECT_EQ(w->stats.icmp_replies.load(), 1u);
    EXPECT_EQ(w->stats.sip_in.load(), 1u);
    EXPECT_EQ(w->stats.relayed.load(), 2u);
    expect_drops({{drop_reason::relay_miss, 1},
                  {drop_reason::udp_port, 1},
                  {drop_reason::ip_proto, 1},
                  {drop_reason::not_for_us, 1}});
    auto out0 = transmitted(port0);
    auto out1 = transmitted(port1);
    EXPECT_EQ(out0.size(), 2u);
    EXPECT_EQ(out1.size(), 2u);
    rte_pktmbuf_free_bulk(out0.data(), static_cast<unsigned>(out0.size()));
    rte_pktmbuf_free_bulk(out1.data(), static_cast<unsigned>(out1.size()));
}


namespace {

/// A fragment of `whole` (an Ethernet/IPv4 frame): IP payload bytes [off, off + len).
rte_mbuf* fragment_of(rte_mbuf* whole, size_t off, size_t len, bool more) {
    const auto* eth = rte_pktmbuf_mtod(whole, const rte_ether_hdr*);
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
    const size_t ihl = rte_ipv4_hdr_len(ip);
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(sizeof(rte_ether_hdr) + ihl + len)));
    std::memcpy(p, eth, sizeof(rte_ether_hdr) + ihl);
    std::memcpy(p + sizeof(rte_ether_hdr) + ihl, reinterpret_cast<const uint8_t*>(ip) + ihl + off, len);
    auto* fip = reinterpret_cast<rte_ipv4_hdr*>(p + sizeof(rte_ether_hdr));
    fip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(ihl + len));
    fip->fragment_offset = rte_cpu_to_be_16(static_cast<uint16_t>((off / 8) | (more ? RTE_IPV4_HDR_MF_FLAG : 0)));
    fip->hdr_checksum = 0;
    fip->hdr_checksum = rte_ipv4_cksum(fip);
    return m;
}

}  // namespace

TEST_F(loop_fixture, fragmented_sip_is_reassembled_for_control) {
    w->frag_tbl = rte_ip_frag_table_create(64, 16, 256, rte_get_tsc_hz() * 2, 0);
    ASSERT_NE(w->frag_tbl, nullptr);
    const udp_spec s = udp_to_us(5060, 1800);
    rte_mbuf* whole = make_udp_frame(s);
    ASSERT_NE(whole, nullptr);
    const size_t ip_payload = sizeof(rte_udp_hdr) + 1800;
    rte_mbuf* first = fragment_of(whole, 0, 1480, true);
    rte_mbuf* last = fragment_of(whole, 1480, ip_payload - 1480, false);
    // A fragmented datagram to a relay port is not SIP: dropped once whole.
    rte_mbuf* rtp_whole = make_udp_frame(udp_to_us(20000, 1800));
    rte_mbuf* rtp_first = fragment_of(rtp_whole, 0, 1480, true);
    rte_mbuf* rtp_last = fragment_of(rtp_whole, 1480, ip_payload - 1480, false);
    rte_pktmbuf_free(whole);
    rte_pktmbuf_free(rtp_whole);
    handle({last, rtp_first, first, rtp_last});  // out of order on purpose
    EXPECT_EQ(w->stats.fragments_in.load(), 4u);
    EXPECT_EQ(w->stats.reassembled.load(), 2u);
    EXPECT_EQ(w->stats.sip_in.load(), 1u);
    expect_drops({{drop_reason::ip_fragment, 1}});
    rte_mbuf* m = nullptr;
    ASSERT_EQ(rte_ring_dequeue(w->sip_in, reinterpret_cast<void**>(&m)), 0);
    EXPECT_GE(m->nb_segs, 2);
    const packet_meta* meta = meta_of(m);
    EXPECT_EQ(meta->payload_len, 1800);
    std::vector<uint8_t> buf(1800);
    const auto* data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, meta->payload_off, 1800, buf.data()));
    ASSERT_NE(data, nullptr);
    EXPECT_EQ(0, std::memcmp(data, s.payload.data(), 1800));
    rte_pktmbuf_free(m);
    rte_ip_frag_free_death_row(&w->death_row, 0);
    rte_ip_frag_table_destroy(w->frag_tbl);
    w->frag_tbl = nullptr;
}

// A fragmented ping is reassembled like any datagram to us, but only SIP is wanted whole: its
// reply would leave as one chained frame larger than the MTU (found by fuzz_frames).
TEST_F(loop_fixture, fragmented_ping_is_dropped_once_whole) {
    w->frag_tbl = rte_ip_frag_table_create(64, 16, 256, rte_get_tsc_hz() * 2, 0);
    ASSERT_NE(w->frag_tbl, nullptr);
    rte_mbuf* whole = icmp_frame(RTE_IP_ICMP_ECHO_REQUEST, our_addr0, 2000);
    const size_t ip_payload = sizeof(rte_icmp_hdr) + 2000;
    rte_mbuf* first = fragment_of(whole, 0, 1480, true);
    rte_mbuf* last = fragment_of(whole, 1480, ip_payload - 1480, false);
    rte_pktmbuf_free(whole);
    handle({first, last});
    EXPECT_EQ(w->stats.fragments_in.load(), 2u);
    EXPECT_EQ(w->stats.reassembled.load(), 1u);
    EXPECT_EQ(w->stats.icmp_replies.load(), 0u);
    expect_drops({{drop_reason::ip_fragment, 1}});
    EXPECT_TRUE(transmitted(port0).empty());
    rte_ip_frag_free_death_row(&w->death_row, 0);
    rte_ip_frag_table_destroy(w->frag_tbl);
    w->frag_tbl = nullptr;
}

// ------------------------------------------------------------------ SIP rate limit per source

constexpr uint32_t flooder = ipv4(192, 0, 2, 66);
constexpr uint32_t other_src = ipv4(192, 0, 2, 67);
constexpr uint32_t third_src = ipv4(203, 0, 113, 5);
constexpr uint64_t t0 = 7 * 1'000'000'000ull;  // any clock value

TEST_F(loop_fixture, sip_flood_from_one_source_stops_at_the_burst) {
    limit_sip(100, 8);
    std::vector<rte_mbuf*> pkts;
    for (int i = 0; i < 40; ++i) {
        pkts.push_back(sip_from(flooder));
    }
    handle_at(pkts, t0);
    EXPECT_EQ(w->stats.sip_in.load(), 8u);
    expect_drops({{drop_reason::sip_rate_limited, 32}});
    EXPECT_EQ(sip_delivered(), (std::map<uint32_t, unsigned>{{flooder, 8}}));
    EXPECT_EQ(w->stats.sip_sources.load(), 1u);
    // Same instant, the bucket is empty: nothing more passes.
    handle_at({sip_from(flooder), sip_from(flooder)}, t0);
    EXPECT_EQ(w->stats.sip_in.load(), 8u);
    expect_drops({{drop_reason::sip_rate_limited, 34}});
    EXPECT_TRUE(sip_delivered().empty());
    EXPECT_EQ(std::string(to_string(drop_reason::sip_rate_limited)), "sip_rate_limited");
}

TEST_F(loop_fixture, sip_flood_leaves_other_sources_alone) {
    limit_sip(100, 4);
    std::vector<rte_mbuf*> pkts;
    for (int i = 0; i < 30; ++i) {
        pkts.push_back(sip_from(flooder));
        if (i == 0 || i == 10 || i == 29) {  // before, during and after the flooder's bucket runs dry
            pkts.push_back(sip_from(other_src));
        }
        if (i == 5 || i == 20) {
            pkts.push_back(sip_from(third_src));
        }
    }
    handle_at(pkts, t0);
    EXPECT_EQ(sip_delivered(), (std::map<uint32_t, unsigned>{{flooder, 4}, {other_src, 3}, {third_src, 2}}));
    EXPECT_EQ(w->stats.sip_in.load(), 9u);
    expect_drops({{drop_reason::sip_rate_limited, 26}});
    EXPECT_EQ(w->stats.sip_sources.load(), 3u);
}

TEST_F(loop_fixture, sip_tokens_refill_with_time) {
    limit_sip(1000, 5);  // one token per millisecond: 1'000'000 ticks of the test clock
    constexpr uint64_t ms = test_hz / 1000;
    auto send = [&](uint64_t now) {
        const uint64_t before = w->stats.sip_in.load();
        std::vector<rte_mbuf*> pkts;
        for (int i = 0; i < 10; ++i) {
            pkts.push_back(sip_from(flooder));
        }
        handle_at(pkts, now);
        sip_delivered();
        return w->stats.sip_in.load() - before;
    };
    EXPECT_EQ(send(t0), 5u);                  // the burst
    EXPECT_EQ(send(t0 + 2 * ms), 2u);         // two tokens back after 2 ms
    EXPECT_EQ(send(t0 + 2 * ms + ms / 2), 0u);  // half a token is none
    EXPECT_EQ(send(t0 + 3 * ms), 1u);
    EXPECT_EQ(send(t0 + 3 * ms + 1000 * ms), 5u);  // a quiet second refills to the burst, not beyond
    EXPECT_EQ(w->stats.sip_in.load(), 13u);
    expect_drops({{drop_reason::sip_rate_limited, 37}});
}

// A SIP flood on the same port as an established call's RTP: every RTP packet relayed, exact.
TEST_F(loop_fixture, sip_flood_never_costs_relayed_rtp) {
    [[maybe_unused]] media_side* a = nullptr;
    [[maybe_unused]] media_side* b = nullptr;
    ASSERT_NO_FATAL_FAILURE(bridge_to_bob(our_addr0, &a, &b));
    limit_sip(100, 10);
    constexpr uint64_t interval = test_hz / 100;

    constexpr unsigned bursts = 8, sip_per_burst = 48, rtp_per_burst = 16;
    for (unsigned k = 0; k < bursts; ++k) {
        std::vector<rte_mbuf*> pkts;
        for (unsigned i = 0; i < sip_per_burst + rtp_per_burst; ++i) {
            pkts.push_back(i % 4 == 3 ? make_udp_frame(udp_to_us(20000, 160)) : sip_from(flooder, 600));
        }
        handle_at(pkts, t0 + k * interval);  // one token back per burst
        sip_delivered();
        auto out = transmitted(port1);
        ASSERT_EQ(out.size(), rtp_per_burst) << "burst " << k;
        for (rte_mbuf* m : out) {
            const frame_view f = view_of(m);
            EXPECT_EQ(rte_be_to_cpu_32(f.ip->dst_addr), ipv4(198, 51, 100, 20));
            EXPECT_EQ(rte_be_to_cpu_16(f.udp->src_port), 20002);
            EXPECT_EQ(rte_be_to_cpu_16(f.udp->dst_port), 6000);
            EXPECT_TRUE(ref_ipv4_ok(f.ip));
            EXPECT_TRUE(ref_udp_ok(f.ip, f.udp));
        }
        rte_pktmbuf_free_bulk(out.data(), static_cast<unsigned>(out.size()));
    }
    const uint64_t rtp = bursts * rtp_per_burst;
    const uint64_t sip_passed = 10 + (bursts - 1);
    EXPECT_EQ(w->stats.relayed.load(), rtp);
    EXPECT_EQ(w->stats.tx_packets[1].load(), rtp);
    EXPECT_EQ(a->rx_packets.load(), rtp);
    EXPECT_EQ(a->fwd_packets(), rtp);
    EXPECT_EQ(w->stats.sip_in.load(), sip_passed);
    EXPECT_EQ(w->stats.rx_packets[0].load(), bursts * (sip_per_burst + rtp_per_burst));
    expect_drops({{drop_reason::sip_rate_limited, bursts * sip_per_burst - sip_passed}});
    // RTP never went through the limiter: only the flooder is tracked (RTP came from peer_addr).
    EXPECT_EQ(w->sip_limit->tracked(), 1u);
    EXPECT_TRUE(transmitted(port0).empty());
}

TEST_F(loop_fixture, sip_rate_zero_is_unlimited) {
    limit_sip(0, 1);
    EXPECT_TRUE(w->sip_limit == nullptr);
    auto flood = [&] {
        for (int k = 0; k < 5; ++k) {
            std::vector<rte_mbuf*> pkts;
            for (int i = 0; i < 200; ++i) {
                pkts.push_back(sip_from(flooder));
            }
            handle_at(pkts, t0);
            sip_delivered();
        }
    };
    flood();
    EXPECT_EQ(w->stats.sip_in.load(), 1000u);
    expect_drops({});
    EXPECT_EQ(w->stats.sip_sources.load(), 0u);
    // The same flood with a limit of 1/s: the test can tell the difference.
    limit_sip(1, 1);
    flood();
    EXPECT_EQ(w->stats.sip_in.load(), 1001u);
    expect_drops({{drop_reason::sip_rate_limited, 999}});
}

TEST_F(loop_fixture, fragmented_sip_is_rate_limited_once_per_datagram) {
    w->frag_tbl = rte_ip_frag_table_create(64, 16, 256, rte_get_tsc_hz() * 2, 0);
    ASSERT_NE(w->frag_tbl, nullptr);
    limit_sip(100, 2);
    std::vector<rte_mbuf*> pkts;
    for (uint16_t d = 0; d < 3; ++d) {
        rte_mbuf* whole = sip_from(flooder, 1800);
        ASSERT_NE(whole, nullptr);
        ip_of(whole)->packet_id = rte_cpu_to_be_16(0x100 + d);  // three datagrams, three reassemblies
        const size_t ip_payload = sizeof(rte_udp_hdr) + 1800;
        pkts.push_back(fragment_of(whole, 0, 1480, true));
        pkts.push_back(fragment_of(whole, 1480, ip_payload - 1480, false));
        rte_pktmbuf_free(whole);
    }
    handle_at(pkts, t0);
    EXPECT_EQ(w->stats.fragments_in.load(), 6u);
    EXPECT_EQ(w->stats.reassembled.load(), 3u);
    EXPECT_EQ(w->stats.sip_in.load(), 2u);
    expect_drops({{drop_reason::sip_rate_limited, 1}});
    EXPECT_EQ(sip_delivered(), (std::map<uint32_t, unsigned>{{flooder, 2}}));
    rte_ip_frag_free_death_row(&w->death_row, 0);
    rte_ip_frag_table_destroy(w->frag_tbl);
    w->frag_tbl = nullptr;
}

// The table is bounded: a new source replaces a quiet one (bucket refilled) before an active one,
// and with none quiet, the one not seen since the CLOCK hand last passed.
TEST(sip_limiter, full_table_replaces_quiet_sources_first) {
    constexpr uint64_t hz = 1'000'000'000;
    auto lim = make_sip_limiter(unique_name("t_sipl").c_str(), 1, 2, 16, hz, static_cast<int>(rte_socket_id()));
    ASSERT_NE(lim, nullptr);
    auto src = [](uint32_t i) { return ipv4(10, 0, 0, static_cast<uint8_t>(i)); };
    for (uint32_t i = 0; i < 16; ++i) {
        EXPECT_TRUE(lim->allow(src(i), t0));
        EXPECT_TRUE(lim->allow(src(i), t0));
        EXPECT_FALSE(lim->allow(src(i), t0));
    }
    EXPECT_EQ(lim->tracked(), 16u);
    EXPECT_EQ(lim->evictions(), 0u);

    // 10 s later every bucket is full again; sources 0..7 empty theirs, 8..15 stay quiet.
    const uint64_t t1 = t0 + 10 * hz;
    for (uint32_t i = 0; i < 8; ++i) {
        EXPECT_TRUE(lim->allow(src(i), t1));
        EXPECT_TRUE(lim->allow(src(i), t1));
    }
    // Eight new sources take the quiet sources' places, not the active ones'.
    for (uint32_t i = 100; i < 108; ++i) {
        EXPECT_TRUE(lim->allow(src(i), t1));
    }
    EXPECT_EQ(lim->tracked(), 16u);
    EXPECT_EQ(lim->evictions(), 8u);
    for (uint32_t i = 0; i < 8; ++i) {
        EXPECT_FALSE(lim->allow(src(i), t1)) << "active source " << i << " lost its state";
    }
    // Nobody quiet now and everyone seen: the sweep gives each a second chance and then
    // replaces the first source the hand comes back to (0), which restarts with a full bucket.
    EXPECT_TRUE(lim->allow(src(200), t1));
    EXPECT_EQ(lim->evictions(), 9u);
    EXPECT_EQ(lim->tracked(), 16u);
    for (uint32_t i = 1; i < 8; ++i) {
        EXPECT_FALSE(lim->allow(src(i), t1)) << "source " << i << " should still be tracked (empty bucket)";
    }
    EXPECT_TRUE(lim->allow(src(0), t1)) << "source 0 was replaced: back with a full bucket";
    EXPECT_EQ(lim->evictions(), 10u);
}

}  // namespace
}  // namespace sf::dp

// ------------------------------------------------------------------ media address ranges

namespace sf::dp {
namespace {

constexpr uint32_t media0 = ipv4(192, 0, 2, 100);  // port0's media addresses: .100 .. .103

class media_range_fixture : public loop_fixture {
protected:
    void SetUp() override {
        loop_fixture::SetUp();
        w->ports[port0].media_first = media0;
        w->ports[port0].media_count = 4;
    }
};

TEST_F(media_range_fixture, arp_for_a_media_address_is_answered_with_it) {
    handle({arp_frame(RTE_ARP_OP_REQUEST, mac(0x10), peer_addr, media0 + 3)});
    EXPECT_EQ(w->stats.arp_replies.load(), 1u);
    auto out = transmitted(port0);
    ASSERT_EQ(out.size(), 1u);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(rte_pktmbuf_mtod(out[0], rte_ether_hdr*) + 1);
    EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), media0 + 3);
    EXPECT_TRUE(mac_eq(arp->arp_data.arp_sha, w->ports[port0].mac));
    rte_pktmbuf_free_bulk(out.data(), static_cast<unsigned>(out.size()));
    // Just past the range: someone else's.
    handle({arp_frame(RTE_ARP_OP_REQUEST, mac(0x10), peer_addr, media0 + 4)});
    EXPECT_EQ(w->stats.arp_replies.load(), 1u);
    EXPECT_TRUE(transmitted(port0).empty());
}

TEST_F(media_range_fixture, rtp_to_a_media_address_is_relayed_sip_to_it_is_not) {
    [[maybe_unused]] media_side* a = nullptr;
    [[maybe_unused]] media_side* b = nullptr;
    ASSERT_NO_FATAL_FAILURE(bridge_to_bob(media0 + 1, &a, &b));

    udp_spec rtp = udp_to_us(20000, 160);
    rtp.dst_addr = media0 + 1;
    udp_spec sip = udp_to_us(5060);
    sip.dst_addr = media0 + 1;  // SIP is served on the port's own address only
    udp_spec outside = udp_to_us(20000, 160);
    outside.dst_addr = media0 + 4;
    handle({make_udp_frame(rtp), make_udp_frame(sip), make_udp_frame(outside)});
    EXPECT_EQ(w->stats.relayed.load(), 1u);
    expect_drops({{drop_reason::udp_port, 1}, {drop_reason::not_for_us, 1}});
    auto out = transmitted(port1);
    ASSERT_EQ(out.size(), 1u);
    rte_pktmbuf_free_bulk(out.data(), static_cast<unsigned>(out.size()));
    EXPECT_TRUE(sip_delivered().empty());
}

}  // namespace
}  // namespace sf::dp
