/// @file
/// relay_burst on real mbufs and a real relay table: header rewrite, checksums,
/// counters, symmetric latching, drops and a media move (transfer).

// rte_ipv4_udptcp_cksum_verify is still marked experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API

#include <gtest/gtest.h>

#include <rte_lcore.h>

#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "eal_fixture.hh"
#include "relay.hh"
#include "relay_table.hh"

namespace sf::dp {
namespace {

using namespace sf::dp::test;

[[maybe_unused]] auto* const eal = register_eal();

constexpr uint32_t a_local = ipv4(192, 0, 2, 1);
constexpr uint32_t a_remote = ipv4(192, 0, 2, 10);
constexpr uint32_t b_local = ipv4(198, 51, 100, 1);
constexpr uint32_t b_remote = ipv4(198, 51, 100, 20);

// Two bridged sides, A on port 0 and B on port 1, as control sets them up for a call.
class relay_fixture : public ::testing::Test {
protected:
    void SetUp() override {
        table = std::make_unique<relay_table>(unique_name("relay").c_str(), 1024, 1,
                                              static_cast<int>(rte_socket_id()));
        a = make_side(a_local, 20000, 0, mac(0x01), a_remote, 6000, mac(0xa0));
        b = make_side(b_local, 20002, 1, mac(0x02), b_remote, 6000, mac(0xb0));
        bridge(*a, b);
        bridge(*b, a);
        ASSERT_TRUE(table->insert(a));
        ASSERT_TRUE(table->insert(b));
    }

    void TearDown() override {
        for (rte_mbuf* m : held) {
            rte_pktmbuf_free(m);
        }
    }

    media_side* make_side(uint32_t local, uint16_t lport, uint16_t port_id, const rte_ether_addr& lmac,
                                 uint32_t remote, uint16_t rport, const rte_ether_addr& rmac) {
        media_side* s = table->make(local, lport);
        EXPECT_NE(s, nullptr);
        if (s == nullptr) {
            return nullptr;
        }
        s->port_id = port_id;
        s->local_mac = lmac;
        if (remote != 0) {
            set_remote(*s, pack_endpoint(remote, rport), pack_mac(rmac));
        }
        return s;
    }

    // A frame from a remote (address, port, MAC) to a relay port (address, port, MAC).
    static udp_spec flow(uint32_t src, uint16_t sport, uint8_t src_mac, uint32_t dst, uint16_t dport, uint8_t dst_mac,
                         std::vector<uint8_t> payload) {
        udp_spec s;
        s.src_mac = mac(src_mac);
        s.dst_mac = mac(dst_mac);
        s.src_addr = src;
        s.dst_addr = dst;
        s.src_port = sport;
        s.dst_port = dport;
        s.payload = std::move(payload);
        return s;
    }

    // A frame from A's remote (as in the SDP) to A's relay port.
    udp_spec to_a(size_t payload_len = 172) const {
        return flow(a_remote, 6000, 0xa0, a_local, 20000, 0x01, pattern_payload(payload_len, 0x5a));
    }

    udp_spec to_b(size_t payload_len = 172) const {
        return flow(b_remote, 6000, 0xb0, b_local, 20002, 0x02, pattern_payload(payload_len, 0x33));
    }

    rte_mbuf* frame(const udp_spec& s) {
        rte_mbuf* m = make_udp_frame(s);
        EXPECT_NE(m, nullptr);
        held.push_back(m);
        return m;
    }

    // Runs one packet through relay_burst.
    relay_burst_result relay_one(rte_mbuf* m, uint16_t& egress) {
        return relay_burst(*table, &m, 1, &egress);
    }

    std::unique_ptr<relay_table> table;
    media_side* a = nullptr;  // owned by the table
    media_side* b = nullptr;
    std::vector<rte_mbuf*> held;
};

// Checks a relayed frame leaves `out` towards (dst, dport) via dst_mac, payload intact.
void expect_rewritten(rte_mbuf* m, const media_side& out, uint32_t dst, uint16_t dport, const rte_ether_addr& dst_mac,
                      const std::vector<uint8_t>& payload) {
    const frame_view f = view_of(m);
    EXPECT_TRUE(mac_eq(f.eth->src_addr, out.local_mac));
    EXPECT_TRUE(mac_eq(f.eth->dst_addr, dst_mac));
    EXPECT_EQ(f.eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
    EXPECT_EQ(rte_be_to_cpu_32(f.ip->src_addr), out.local_addr);
    EXPECT_EQ(rte_be_to_cpu_32(f.ip->dst_addr), dst);
    EXPECT_EQ(rte_be_to_cpu_16(f.udp->src_port), out.local_port);
    EXPECT_EQ(rte_be_to_cpu_16(f.udp->dst_port), dport);
    EXPECT_TRUE(ref_ipv4_ok(f.ip));
    EXPECT_EQ(rte_ipv4_cksum(f.ip), 0);
    EXPECT_EQ(rte_be_to_cpu_16(f.udp->dgram_len), sizeof(rte_udp_hdr) + payload.size());
    ASSERT_EQ(rte_pktmbuf_data_len(m),
              sizeof(rte_ether_hdr) + rte_ipv4_hdr_len(f.ip) + sizeof(rte_udp_hdr) + payload.size());
    if (!payload.empty()) {  // memcmp with a null pointer is undefined even for 0 bytes
        EXPECT_EQ(0, std::memcmp(f.payload, payload.data(), payload.size()));
    }
}

TEST_F(relay_fixture, a_to_b_rewrite) {
    const udp_spec s = to_a();
    rte_mbuf* m = frame(s);
    uint16_t egress = 0xbeef;
    const relay_burst_result r = relay_one(m, egress);
    EXPECT_EQ(r.relayed, 1);
    EXPECT_EQ(r.miss, 0);
    EXPECT_EQ(r.no_target, 0);
    EXPECT_EQ(egress, b->port_id);
    expect_rewritten(m, *b, b_remote, 6000, mac(0xb0), s.payload);
    const frame_view f = view_of(m);
    EXPECT_TRUE(ref_udp_ok(f.ip, f.udp));
    EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(f.ip, f.udp), 0);
    // The IP header outside addresses/TTL/checksum is left as it came.
    EXPECT_EQ(f.ip->version_ihl, 0x45);
    EXPECT_EQ(f.ip->packet_id, rte_cpu_to_be_16(0x1234));
    EXPECT_EQ(f.ip->next_proto_id, IPPROTO_UDP);

    EXPECT_EQ(a->rx_packets.load(), 1u);
    EXPECT_EQ(a->rx_bytes.load(), s.payload.size());
    EXPECT_EQ(a->fwd_packets(), 1u);
    EXPECT_EQ(a->drops.load(), 0u);
    EXPECT_EQ(b->rx_packets.load(), 0u);
    EXPECT_EQ(b->fwd_packets(), 0u);
}

TEST_F(relay_fixture, b_to_a_rewrite) {
    const udp_spec s = to_b(20);
    rte_mbuf* m = frame(s);
    uint16_t egress = 0xbeef;
    EXPECT_EQ(relay_one(m, egress).relayed, 1);
    EXPECT_EQ(egress, a->port_id);
    expect_rewritten(m, *a, a_remote, 6000, mac(0xa0), s.payload);
    EXPECT_TRUE(ref_udp_ok(view_of(m).ip, view_of(m).udp));
}

TEST_F(relay_fixture, zero_udp_checksum_stays_zero) {
    udp_spec s = to_a();
    s.udp_cksum = false;
    rte_mbuf* m = frame(s);
    uint16_t egress = 0;
    EXPECT_EQ(relay_one(m, egress).relayed, 1);
    const frame_view f = view_of(m);
    EXPECT_EQ(f.udp->dgram_cksum, 0);
    EXPECT_TRUE(ref_ipv4_ok(f.ip));
    expect_rewritten(m, *b, b_remote, 6000, mac(0xb0), s.payload);
}

TEST_F(relay_fixture, ip_options_are_skipped) {
    udp_spec s = to_a(61);
    s.ip_options = 3;
    rte_mbuf* m = frame(s);
    uint16_t egress = 0;
    EXPECT_EQ(relay_one(m, egress).relayed, 1);
    EXPECT_EQ(egress, 1);
    const frame_view f = view_of(m);
    EXPECT_EQ(rte_ipv4_hdr_len(f.ip), 32u);
    expect_rewritten(m, *b, b_remote, 6000, mac(0xb0), s.payload);
    EXPECT_TRUE(ref_udp_ok(f.ip, f.udp));
}

// Random payloads, ports and addresses: the incremental UDP checksum always verifies,
// including when the result would be 0 (sent as 0xffff).
TEST_F(relay_fixture, checksums_valid_on_random_traffic) {
    std::mt19937 rng(11);
    for (int i = 0; i < 3000; ++i) {
        // New B remote each time: a different rewrite target exercises other sums.
        set_remote(*b, pack_endpoint(rng(), static_cast<uint16_t>(rng())), b->remote_mac());
        udp_spec s = to_a(rng() % 1400);
        for (auto& x : s.payload) {
            x = static_cast<uint8_t>(rng());
        }
        s.src_port = static_cast<uint16_t>(rng());
        rte_mbuf* m = make_udp_frame(s);
        ASSERT_NE(m, nullptr);
        uint16_t egress = 0;
        ASSERT_EQ(relay_one(m, egress).relayed, 1);
        const frame_view f = view_of(m);
        ASSERT_TRUE(ref_ipv4_ok(f.ip)) << i;
        ASSERT_TRUE(ref_udp_ok(f.ip, f.udp)) << i;
        ASSERT_EQ(rte_be_to_cpu_32(f.ip->dst_addr), endpoint_addr(b->remote()));
        rte_pktmbuf_free(m);
    }
}

TEST_F(relay_fixture, counters_exact_over_many_bursts) {
    std::mt19937 rng(2);
    uint64_t bytes_a = 0, bytes_b = 0, n_a = 0, n_b = 0;
    for (int burst = 0; burst < 100; ++burst) {
        rte_mbuf* pkts[32];
        bool is_a[32];
        std::vector<std::vector<uint8_t>> payloads;
        const unsigned n = 1 + rng() % 32;
        for (unsigned i = 0; i < n; ++i) {
            is_a[i] = rng() % 2;
            const size_t len = rng() % 300;
            const udp_spec s = is_a[i] ? to_a(len) : to_b(len);
            payloads.push_back(s.payload);
            pkts[i] = make_udp_frame(s);
            ASSERT_NE(pkts[i], nullptr);
            (is_a[i] ? bytes_a : bytes_b) += len;
            ++(is_a[i] ? n_a : n_b);
        }
        uint16_t egress[32];
        const relay_burst_result r = relay_burst(*table, pkts, n, egress);
        ASSERT_EQ(r.relayed, n);
        for (unsigned i = 0; i < n; ++i) {
            ASSERT_EQ(egress[i], is_a[i] ? 1 : 0);
            if (is_a[i]) {
                expect_rewritten(pkts[i], *b, b_remote, 6000, mac(0xb0), payloads[i]);
            } else {
                expect_rewritten(pkts[i], *a, a_remote, 6000, mac(0xa0), payloads[i]);
            }
        }
        rte_pktmbuf_free_bulk(pkts, n);
    }
    EXPECT_EQ(a->rx_packets.load(), n_a);
    EXPECT_EQ(a->rx_bytes.load(), bytes_a);
    EXPECT_EQ(a->fwd_packets(), n_a);
    EXPECT_EQ(b->rx_packets.load(), n_b);
    EXPECT_EQ(b->rx_bytes.load(), bytes_b);
    EXPECT_EQ(b->fwd_packets(), n_b);
    EXPECT_EQ(a->drops.load() + b->drops.load(), 0u);
}

TEST_F(relay_fixture, first_packet_latches_source) {
    // The SDP said 192.0.2.10:6000, but behind NAT the media comes from elsewhere.
    udp_spec s = to_a();
    s.src_addr = ipv4(192, 0, 2, 99);
    s.src_port = 7000;
    s.src_mac = mac(0xc9);
    rte_mbuf* first = frame(s);
    uint16_t egress = 0;
    ASSERT_EQ(relay_one(first, egress).relayed, 1);
    EXPECT_TRUE(a->latched());
    EXPECT_EQ(a->remote(), pack_endpoint(ipv4(192, 0, 2, 99), 7000));
    EXPECT_EQ(a->remote_mac(), pack_mac(mac(0xc9)));
    EXPECT_EQ(egress, 1);

    // Media the other way now goes to the latched address and MAC.
    const udp_spec back = to_b();
    rte_mbuf* m = frame(back);
    ASSERT_EQ(relay_one(m, egress).relayed, 1);
    EXPECT_EQ(egress, 0);
    expect_rewritten(m, *a, ipv4(192, 0, 2, 99), 7000, mac(0xc9), back.payload);
    EXPECT_TRUE(ref_udp_ok(view_of(m).ip, view_of(m).udp));

    // Latching happens once: a later packet from yet another source does not move it.
    udp_spec other = to_a();
    other.src_addr = ipv4(192, 0, 2, 77);
    other.src_port = 7777;
    ASSERT_EQ(relay_one(frame(other), egress).relayed, 1);
    EXPECT_EQ(a->remote(), pack_endpoint(ipv4(192, 0, 2, 99), 7000));
}

TEST_F(relay_fixture, latching_disabled_keeps_sdp_remote) {
    a->latch.store(latching::off);  // fine in a test: no worker reads the table concurrently
    udp_spec s = to_a();
    s.src_addr = ipv4(192, 0, 2, 99);
    s.src_port = 7000;
    uint16_t egress = 0;
    ASSERT_EQ(relay_one(frame(s), egress).relayed, 1);
    EXPECT_FALSE(a->latched());
    EXPECT_EQ(a->remote(), pack_endpoint(a_remote, 6000));
}

TEST_F(relay_fixture, latching_gives_a_side_without_remote_a_target) {
    // A side created before the answer SDP: no remote yet. B->A is not forwardable
    // until A's remote sends its first packet.
    set_remote(*a, 0, 0);
    uint16_t egress = 0;
    relay_burst_result r = relay_one(frame(to_b()), egress);
    EXPECT_EQ(r.no_target, 1);
    EXPECT_EQ(egress, relay_drop);
    EXPECT_EQ(b->drops.load(), 1u);

    ASSERT_EQ(relay_one(frame(to_a()), egress).relayed, 1);
    const udp_spec back = to_b();
    rte_mbuf* m = frame(back);
    r = relay_one(m, egress);
    EXPECT_EQ(r.relayed, 1);
    EXPECT_EQ(egress, 0);
    expect_rewritten(m, *a, a_remote, 6000, mac(0xa0), back.payload);
}

TEST_F(relay_fixture, no_peer_drops) {
    bridge(*a, nullptr);
    const udp_spec s = to_a();
    uint16_t egress = 0;
    const relay_burst_result r = relay_one(frame(s), egress);
    EXPECT_EQ(r.relayed, 0);
    EXPECT_EQ(r.no_target, 1);
    EXPECT_EQ(r.miss, 0);
    EXPECT_EQ(egress, relay_drop);
    EXPECT_EQ(a->drops.load(), 1u);
    EXPECT_EQ(a->rx_packets.load(), 1u);
    EXPECT_EQ(a->rx_bytes.load(), s.payload.size());
    EXPECT_EQ(a->fwd_packets(), 0u);
}

TEST_F(relay_fixture, peer_without_remote_is_no_target) {
    b->latch.store(latching::off);
    set_remote(*b, 0, b->remote_mac());
    uint16_t egress = 0;
    relay_burst_result r = relay_one(frame(to_a()), egress);
    EXPECT_EQ(r.no_target, 1);
    EXPECT_EQ(egress, relay_drop);
    EXPECT_EQ(a->drops.load(), 1u);
    EXPECT_EQ(a->fwd_packets(), 0u);

    // A remote without a next-hop MAC cannot be sent to either.
    set_remote(*b, pack_endpoint(b_remote, 6000), 0);
    r = relay_one(frame(to_a()), egress);
    EXPECT_EQ(r.no_target, 1);
    EXPECT_EQ(a->drops.load(), 2u);
}

TEST_F(relay_fixture, unknown_port_or_address_misses) {
    udp_spec s = to_a();
    s.dst_port = 20004;
    rte_mbuf* m1 = frame(s);
    s = to_a();
    s.dst_addr = ipv4(192, 0, 2, 2);
    rte_mbuf* m2 = frame(s);
    rte_mbuf* m3 = frame(to_a());
    rte_mbuf* pkts[3] = {m1, m2, m3};
    const std::vector<uint8_t> before(rte_pktmbuf_mtod(m1, uint8_t*),
                                      rte_pktmbuf_mtod(m1, uint8_t*) + rte_pktmbuf_data_len(m1));
    uint16_t egress[3];
    const relay_burst_result r = relay_burst(*table, pkts, 3, egress);
    EXPECT_EQ(r.miss, 2);
    EXPECT_EQ(r.relayed, 1);
    EXPECT_EQ(r.no_target, 0);
    EXPECT_EQ(egress[0], relay_drop);
    EXPECT_EQ(egress[1], relay_drop);
    EXPECT_EQ(egress[2], 1);
    // A miss leaves the frame alone.
    EXPECT_EQ(0, std::memcmp(before.data(), rte_pktmbuf_mtod(m1, uint8_t*), before.size()));
    EXPECT_EQ(a->rx_packets.load(), 1u);
}

TEST_F(relay_fixture, mixed_burst_of_32) {
    rte_mbuf* pkts[32];
    uint16_t want[32];
    std::mt19937 rng(8);
    for (unsigned i = 0; i < 32; ++i) {
        udp_spec s;
        switch (rng() % 3) {
        case 0: s = to_a(); want[i] = 1; break;
        case 1: s = to_b(); want[i] = 0; break;
        default:
            s = to_a();
            s.dst_port = static_cast<uint16_t>(21000 + i);
            want[i] = relay_drop;
            break;
        }
        pkts[i] = frame(s);
    }
    uint16_t egress[32];
    const relay_burst_result r = relay_burst(*table, pkts, 32, egress);
    unsigned misses = 0;
    for (unsigned i = 0; i < 32; ++i) {
        EXPECT_EQ(egress[i], want[i]) << i;
        misses += want[i] == relay_drop;
    }
    EXPECT_EQ(r.miss, misses);
    EXPECT_EQ(r.relayed, 32 - misses);
}

// The worker locates each packet's side as it classifies the burst and hands the slots over:
// the same outcome, frame for frame, as relay_burst's own lookup (misses included: a key whose
// address or page does not exist locates to a stand-in that is never live).
TEST_F(relay_fixture, sides_the_caller_located_are_relayed_alike) {
    std::mt19937 rng(9);
    rte_mbuf* own[32];
    rte_mbuf* given[32];
    const media_side* located[32];
    for (unsigned i = 0; i < 32; ++i) {
        udp_spec s;
        switch (rng() % 4) {
        case 0: s = to_a(); break;
        case 1: s = to_b(); break;
        case 2: s = to_a(); s.dst_port = static_cast<uint16_t>(21000 + 2 * i); break;  // no such port
        default: s = to_b(); s.dst_addr = ipv4(203, 0, 113, 99); break;                  // no such address
        }
        own[i] = frame(s);
        given[i] = frame(s);
        const auto* ip = rte_pktmbuf_mtod_offset(given[i], const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
        const auto* udp = reinterpret_cast<const rte_udp_hdr*>(ip + 1);
        located[i] = table->locate(rte_be_to_cpu_32(ip->dst_addr), rte_be_to_cpu_16(udp->dst_port));
    }
    uint16_t egress_own[32], egress_given[32];
    const relay_burst_result r_own = relay_burst(*table, own, 32, egress_own);
    const relay_burst_result r_given = relay_burst(*table, given, 32, egress_given, false, nullptr, located);
    EXPECT_EQ(r_given.relayed, r_own.relayed);
    EXPECT_EQ(r_given.miss, r_own.miss);
    EXPECT_EQ(r_given.no_target, r_own.no_target);
    EXPECT_GT(r_own.relayed, 0);
    EXPECT_GT(r_own.miss, 0);
    for (unsigned i = 0; i < 32; ++i) {
        EXPECT_EQ(egress_given[i], egress_own[i]) << i;
        ASSERT_EQ(rte_pktmbuf_data_len(given[i]), rte_pktmbuf_data_len(own[i]));
        EXPECT_EQ(0, std::memcmp(rte_pktmbuf_mtod(given[i], uint8_t*), rte_pktmbuf_mtod(own[i], uint8_t*),
                                 rte_pktmbuf_data_len(own[i])))
            << "frame " << i << " rewritten differently";
    }
    // Both bursts counted on the sides: each relayed frame twice.
    EXPECT_EQ(a->rx_packets.load() + b->rx_packets.load(), 2u * r_own.relayed);
}

// Transfer: control installs side C, then swaps A's peer to it in one store.
TEST_F(relay_fixture, transfer_moves_media_to_new_side) {
    uint16_t egress = 0;
    ASSERT_EQ(relay_one(frame(to_a()), egress).relayed, 1);
    ASSERT_EQ(egress, 1);

    media_side* c = make_side(ipv4(203, 0, 113, 1), 20010, 2, mac(0x03), ipv4(203, 0, 113, 30), 8000, mac(0xd0));
    bridge(*c, a);
    ASSERT_TRUE(table->insert(c));
    bridge(*a, c);

    for (int i = 0; i < 10; ++i) {
        const udp_spec s = to_a(100 + i);
        rte_mbuf* m = frame(s);
        ASSERT_EQ(relay_one(m, egress).relayed, 1);
        EXPECT_EQ(egress, 2);
        expect_rewritten(m, *c, ipv4(203, 0, 113, 30), 8000, mac(0xd0), s.payload);
        EXPECT_TRUE(ref_udp_ok(view_of(m).ip, view_of(m).udp));
    }
    EXPECT_EQ(a->fwd_packets(), 11u);

    // C's remote reaches A's remote.
    udp_spec from_c;
    from_c.src_mac = mac(0xd0);
    from_c.dst_mac = mac(0x03);
    from_c.src_addr = ipv4(203, 0, 113, 30);
    from_c.dst_addr = ipv4(203, 0, 113, 1);
    from_c.src_port = 8000;
    from_c.dst_port = 20010;
    from_c.payload = pattern_payload(50, 1);
    rte_mbuf* m = frame(from_c);
    ASSERT_EQ(relay_one(m, egress).relayed, 1);
    EXPECT_EQ(egress, 0);
    expect_rewritten(m, *a, a_remote, 6000, mac(0xa0), from_c.payload);

    // Break: B is unhooked and removed (the rule: no peer points at it any more).
    bridge(*b, nullptr);
    ASSERT_TRUE(table->remove(b_local, 20002));
    ASSERT_EQ(relay_one(frame(to_b()), egress).miss, 1);
}

}  // namespace
}  // namespace sf::dp

// ------------------------------------------------------------------ RTP loss per side

namespace sf::dp {
namespace {

// An RTP packet (v2, PT 0) with `seq` and `ssrc`, 160 bytes of audio.
std::vector<uint8_t> rtp_payload(uint16_t seq, uint32_t ssrc, uint8_t pt = 0) {
    std::vector<uint8_t> p(172, 0xd5);
    p[0] = 0x80;
    p[1] = pt;
    p[2] = static_cast<uint8_t>(seq >> 8);
    p[3] = static_cast<uint8_t>(seq);
    for (int i = 0; i < 4; ++i) {
        p[8 + i] = static_cast<uint8_t>(ssrc >> (24 - 8 * i));
    }
    return p;
}

class rtp_loss_fixture : public relay_fixture {
protected:
    void send_a(uint16_t seq, uint32_t ssrc = 0x1234, uint8_t pt = 0) {
        udp_spec s = to_a();
        s.payload = rtp_payload(seq, ssrc, pt);
        uint16_t egress = 0;
        relay_one(frame(s), egress);
        EXPECT_EQ(egress, 1);
    }
    uint64_t expected() const { return a->rtp_expected.load(); }
    uint64_t received() const { return a->rtp_received(); }
};

TEST_F(rtp_loss_fixture, gaps_count_as_lost) {
    for (uint16_t seq : {100, 101, 102, 105, 106, 110}) {  // 103, 104, 107, 108, 109 lost
        send_a(seq);
    }
    EXPECT_EQ(expected(), 11u);
    EXPECT_EQ(received(), 6u);
    EXPECT_EQ(b->rtp_expected.load(), 0u);  // per side: B received nothing
    EXPECT_EQ(a->fwd_packets(), 6u);
}

TEST_F(rtp_loss_fixture, reordering_and_late_packets_are_not_loss) {
    for (uint16_t seq : {1, 3, 2, 4, 6, 5}) {
        send_a(seq);
    }
    EXPECT_EQ(expected(), 6u);
    EXPECT_EQ(received(), 6u);
}

TEST_F(rtp_loss_fixture, sequence_wraps_around) {
    for (uint16_t seq : {65534, 65535, 0, 2}) {  // 1 lost across the wrap
        send_a(seq);
    }
    EXPECT_EQ(expected(), 5u);
    EXPECT_EQ(received(), 4u);
}

TEST_F(rtp_loss_fixture, a_new_ssrc_or_a_restart_starts_counting_again) {
    send_a(1000, 0xaaaa);
    send_a(1001, 0xaaaa);
    send_a(7, 0xbbbb);  // a new source (after a transfer, a re-INVITE): not 64k lost
    send_a(8, 0xbbbb);
    EXPECT_EQ(expected(), 4u);
    send_a(30000, 0xbbbb);  // a jump beyond the dropout limit: a restarted sender
    send_a(30001, 0xbbbb);
    send_a(29000, 0xbbbb);  // far behind: restarted again
    EXPECT_EQ(expected(), 7u);
    EXPECT_EQ(received(), 7u);
}

TEST_F(rtp_loss_fixture, rtcp_and_non_rtp_are_not_counted) {
    send_a(1);
    send_a(50, 0x1234, 200 & 0x7f);  // RTCP SR muxed on the RTP port: byte 1 is 200
    send_a(60, 0x1234, 201 & 0x7f);  // RR
    EXPECT_EQ(expected(), 1u);
    EXPECT_EQ(received(), 1u);
    udp_spec s = to_a(8);  // too short for an RTP header
    s.payload = {0x80, 0, 0, 9, 0, 0, 0, 0};
    uint16_t egress = 0;
    relay_one(frame(s), egress);
    EXPECT_EQ(expected(), 1u);
    EXPECT_EQ(a->rx_packets.load(), 4u);  // all relayed and counted as packets, only one as RTP
}

TEST_F(rtp_loss_fixture, duplicates_count_as_received) {
    send_a(1);
    send_a(2);
    send_a(2);
    EXPECT_EQ(expected(), 2u);
    EXPECT_EQ(received(), 3u);  // readers clamp expected - received at 0
}

}  // namespace
}  // namespace sf::dp

// ------------------------------------------------------------------ TX checksum offload

namespace sf::dp {
namespace {

// Finishes an offloaded packet as a NIC does: the IPv4 header checksum, and the UDP one from the
// pseudo-header sum the relay left in the field.
void nic_finish(rte_mbuf* m) {
    const frame_view f = view_of(m);
    ASSERT_TRUE(m->ol_flags & RTE_MBUF_F_TX_IPV4);
    ASSERT_TRUE(m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM);
    ASSERT_EQ(m->l2_len, sizeof(rte_ether_hdr));
    ASSERT_EQ(m->l3_len, rte_ipv4_hdr_len(f.ip));
    ASSERT_EQ(f.ip->hdr_checksum, 0) << "the device fills it";
    f.ip->hdr_checksum = rte_ipv4_cksum(f.ip);
    if (m->ol_flags & RTE_MBUF_F_TX_UDP_CKSUM) {
        const uint16_t l4_len = rte_be_to_cpu_16(f.udp->dgram_len);
        const auto c = static_cast<uint16_t>(~ref_sum(f.udp, l4_len));
        f.udp->dgram_cksum = c == 0 ? 0xffff : c;
    }
}

TEST_F(relay_fixture, offloaded_checksums_match_the_software_ones) {
    std::mt19937 rng(7);
    for (int i = 0; i < 1000; ++i) {
        set_remote(*b, pack_endpoint(rng(), static_cast<uint16_t>(rng())), b->remote_mac());
        udp_spec s = to_a(rng() % 1400);
        for (auto& x : s.payload) {
            x = static_cast<uint8_t>(rng());
        }
        s.src_port = static_cast<uint16_t>(rng());
        s.udp_cksum = i % 10 != 0;  // every tenth without a UDP checksum: it must stay 0
        rte_mbuf* soft = make_udp_frame(s);
        rte_mbuf* hard = make_udp_frame(s);
        ASSERT_NE(soft, nullptr);
        ASSERT_NE(hard, nullptr);
        uint16_t e1 = 0, e2 = 0;
        ASSERT_EQ(relay_burst(*table, &soft, 1, &e1, false).relayed, 1);
        ASSERT_EQ(relay_burst(*table, &hard, 1, &e2, true).relayed, 1);
        EXPECT_EQ(e1, e2);
        EXPECT_EQ(soft->ol_flags & (RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM), 0u) << "software path flags nothing";
        EXPECT_EQ((hard->ol_flags & RTE_MBUF_F_TX_UDP_CKSUM) != 0, s.udp_cksum) << i;
        nic_finish(hard);
        ASSERT_EQ(rte_pktmbuf_data_len(soft), rte_pktmbuf_data_len(hard));
        ASSERT_EQ(0, std::memcmp(rte_pktmbuf_mtod(soft, const void*), rte_pktmbuf_mtod(hard, const void*),
                                 rte_pktmbuf_data_len(soft)))
            << "packet " << i << ": the device's checksums differ from the software path's";
        rte_pktmbuf_free(soft);
        rte_pktmbuf_free(hard);
    }
}

}  // namespace
}  // namespace sf::dp

// ------------------------------------------------------------------ stream continuity (transfers)

namespace sf::dp {
namespace {

constexpr uint32_t c_local = ipv4(203, 0, 113, 1);
constexpr uint32_t c_remote = ipv4(203, 0, 113, 30);

// One RTP header's fields, read from or written into a packet.
struct rtp_fields {
    uint16_t seq = 0;
    uint32_t ts = 0;
    uint32_t ssrc = 0;
    bool marker = false;
    uint8_t pt = 0;
};

std::vector<uint8_t> rtp_packet(const rtp_fields& f) {
    std::vector<uint8_t> p(172);
    for (size_t i = 12; i < p.size(); ++i) {
        p[i] = static_cast<uint8_t>(i * 13 + f.seq);  // audio that differs per packet
    }
    p[0] = 0x80;
    p[1] = static_cast<uint8_t>((f.marker ? 0x80 : 0) | f.pt);
    p[2] = static_cast<uint8_t>(f.seq >> 8);
    p[3] = static_cast<uint8_t>(f.seq);
    for (int i = 0; i < 4; ++i) {
        p[4 + i] = static_cast<uint8_t>(f.ts >> (24 - 8 * i));
        p[8 + i] = static_cast<uint8_t>(f.ssrc >> (24 - 8 * i));
    }
    return p;
}

rtp_fields rtp_of(const uint8_t* p) {
    rtp_fields f;
    f.marker = (p[1] & 0x80) != 0;
    f.pt = p[1] & 0x7f;
    f.seq = static_cast<uint16_t>((p[2] << 8) | p[3]);
    f.ts = (uint32_t{p[4]} << 24) | (uint32_t{p[5]} << 16) | (uint32_t{p[6]} << 8) | p[7];
    f.ssrc = (uint32_t{p[8]} << 24) | (uint32_t{p[9]} << 16) | (uint32_t{p[10]} << 8) | p[11];
    return f;
}

// The fixture's call (alice on A, bob on B) with a transfer to carol on side C: bob's RTP has
// reached alice; at the switch B is unbridged and C continues what alice heard from B.
class continuity_fixture : public relay_fixture {
protected:
    static constexpr uint32_t bob_ssrc = 0xb0b0b, carol_ssrc = 0xca201;

    void SetUp() override {
        relay_fixture::SetUp();
        c = make_side(c_local, 20010, 2, mac(0x03), c_remote, 8000, mac(0xd0));
        ASSERT_NE(c, nullptr);
        ASSERT_TRUE(table->insert(c));
    }

    // bob -> B -> alice, `n` packets from `seq`, `ts`.
    void bob_talks(uint16_t seq, uint32_t ts, unsigned n) {
        for (unsigned i = 0; i < n; ++i) {
            udp_spec s = to_b();
            s.payload = rtp_packet({static_cast<uint16_t>(seq + i), ts + 160 * i, bob_ssrc});
            uint16_t egress = 0;
            ASSERT_EQ(relay_one(frame(s), egress).relayed, 1);
        }
    }

    // The switch as media_anchor::switch_over makes it with continuity.
    void switch_to_carol() {
        bridge(*b, nullptr);
        ASSERT_TRUE(heard_from(*b, pos));
        bridge(*a, c);
        bridge(*c, a, &pos);
    }

    udp_spec from_carol(const rtp_fields& f) const { return flow(c_remote, 8000, 0xd0, c_local, 20010, 0x03, rtp_packet(f)); }

    // carol -> C -> alice; what alice gets (checked: addressing, checksums, audio intact).
    rtp_fields carol_says(const rtp_fields& f, bool offload = false, bool udp_cksum = true) {
        udp_spec s = from_carol(f);
        s.udp_cksum = udp_cksum;
        rte_mbuf* m = frame(s);
        uint16_t egress = 0;
        EXPECT_EQ(relay_burst(*table, &m, 1, &egress, offload).relayed, 1);
        EXPECT_EQ(egress, 0);
        const frame_view v = view_of(m);
        if (offload) {
            nic_finish(m);
        }
        EXPECT_EQ(rte_be_to_cpu_32(v.ip->dst_addr), a_remote);
        EXPECT_EQ(rte_ipv4_cksum(v.ip), 0);
        if (udp_cksum) {
            EXPECT_TRUE(ref_udp_ok(v.ip, v.udp)) << "seq " << f.seq;
        } else {
            EXPECT_EQ(v.udp->dgram_cksum, 0) << "no checksum stays none";
        }
        EXPECT_EQ(0, std::memcmp(v.payload + 12, s.payload.data() + 12, s.payload.size() - 12)) << "audio untouched";
        return rtp_of(v.payload);
    }

    media_side* c = nullptr;
    stream_position pos;
};

TEST_F(continuity_fixture, alice_hears_one_stream_across_the_transfer) {
    bob_talks(1000, 5000, 10);  // alice heard seq 1000..1009, ts up to 5000 + 9 * 160
    switch_to_carol();
    EXPECT_EQ(pos.ssrc, bob_ssrc);
    EXPECT_EQ(pos.next_seq, 1010);
    EXPECT_EQ(pos.next_ts, 5000u + 9 * 160 + continuity_seam_ts);

    for (uint16_t i = 0; i < 20; ++i) {
        const rtp_fields out = carol_says({static_cast<uint16_t>(7 + i), 90000u + 160u * i, carol_ssrc, false, 8});
        EXPECT_EQ(out.ssrc, bob_ssrc);
        EXPECT_EQ(out.seq, 1010 + i);
        EXPECT_EQ(out.ts, pos.next_ts + 160u * i);
        EXPECT_EQ(out.marker, i == 0) << "the seam, and only the seam, is marked";
        EXPECT_EQ(out.pt, 8) << "the payload type is the new party's (the re-INVITE names it)";
    }
    // Counters are the sender's: carol's own sequence numbers, no loss.
    EXPECT_EQ(c->rtp_expected.load(), 20u);
    EXPECT_EQ(c->rtp_received(), 20u);
}

TEST_F(continuity_fixture, late_and_reordered_packets_keep_their_place) {
    bob_talks(65530, 0xfffffe00, 3);  // both wrap on the way
    switch_to_carol();
    std::vector<uint16_t> got;
    for (uint16_t seq : {100, 102, 101, 103}) {
        got.push_back(carol_says({seq, 160u * seq, carol_ssrc}).seq);
    }
    EXPECT_EQ(got, (std::vector<uint16_t>{65533, 65535, 65534, 0}));
}

TEST_F(continuity_fixture, a_restarted_sender_goes_on_from_the_last_packet_out) {
    bob_talks(1000, 5000, 3);
    switch_to_carol();
    const rtp_fields first = carol_says({7, 700, carol_ssrc});
    const rtp_fields second = carol_says({8, 860, carol_ssrc});
    // carol's phone restarts its stream (a new SSRC, as after its own re-INVITE): still one stream.
    const rtp_fields third = carol_says({40000, 123456, 0x5eed});
    const rtp_fields fourth = carol_says({40001, 123616, 0x5eed});
    EXPECT_EQ(third.ssrc, bob_ssrc);
    EXPECT_EQ(third.seq, static_cast<uint16_t>(second.seq + 1));
    EXPECT_EQ(third.ts, second.ts + continuity_seam_ts);
    EXPECT_TRUE(third.marker);
    EXPECT_EQ(fourth.seq, static_cast<uint16_t>(third.seq + 1));
    EXPECT_EQ(fourth.ts, third.ts + 160);
    EXPECT_FALSE(fourth.marker);
    // A jump beyond the dropout limit within one SSRC is a restart too.
    const rtp_fields fifth = carol_says({50000, 999, 0x5eed});
    EXPECT_EQ(fifth.seq, static_cast<uint16_t>(fourth.seq + 1));
    EXPECT_TRUE(fifth.marker);
    EXPECT_EQ(first.seq + 4, fifth.seq);
}

TEST_F(continuity_fixture, rtcp_and_non_rtp_pass_as_they_came) {
    bob_talks(1000, 5000, 2);
    switch_to_carol();
    const rtp_fields sr = carol_says({1, 2, carol_ssrc, true, 200 & 0x7f});  // an RTCP SR muxed on the port
    EXPECT_EQ(sr.ssrc, carol_ssrc);
    EXPECT_EQ(sr.seq, 1);
    EXPECT_EQ(carol_says({7, 700, carol_ssrc}).seq, 1002) << "the first RTP packet is still the seam";
}

TEST_F(continuity_fixture, offloaded_and_unchecksummed_packets_continue_too) {
    bob_talks(1000, 5000, 2);
    switch_to_carol();
    EXPECT_EQ(carol_says({7, 700, carol_ssrc}, true).seq, 1002);
    EXPECT_EQ(carol_says({8, 860, carol_ssrc}, false, false).seq, 1003);
    EXPECT_EQ(carol_says({9, 1020, carol_ssrc}, true, false).ssrc, bob_ssrc);
}

TEST_F(continuity_fixture, a_bridge_without_a_position_turns_it_off) {
    bob_talks(1000, 5000, 2);
    switch_to_carol();
    EXPECT_EQ(carol_says({7, 700, carol_ssrc}).ssrc, bob_ssrc);
    bridge(*c, a);  // re-bridged plainly (another switch without continuity)
    const rtp_fields out = carol_says({8, 860, carol_ssrc});
    EXPECT_EQ(out.ssrc, carol_ssrc);
    EXPECT_EQ(out.seq, 8);
    EXPECT_EQ(out.ts, 860u);
    EXPECT_FALSE(out.marker);
}

TEST_F(continuity_fixture, the_flag_survives_alice_moving) {
    bob_talks(1000, 5000, 2);
    set_remote(*a, a->remote(), a->remote_mac());
    a->latch.store(latching::waiting);
    switch_to_carol();
    // alice's phone moves (NAT rebinding): A latches its new address and recopies C's departure.
    udp_spec s = to_a();
    s.src_port = 6100;
    uint16_t egress = 0;
    ASSERT_EQ(relay_one(frame(s), egress).relayed, 1);
    ASSERT_TRUE(a->latched());
    udp_spec f = from_carol({7, 700, carol_ssrc});
    rte_mbuf* m = frame(f);
    ASSERT_EQ(relay_one(m, egress).relayed, 1);
    EXPECT_EQ(rte_be_to_cpu_16(view_of(m).udp->dst_port), 6100) << "to alice's new address";
    EXPECT_EQ(rtp_of(view_of(m).payload).ssrc, bob_ssrc) << "and still in bob's stream";
    EXPECT_TRUE(ref_udp_ok(view_of(m).ip, view_of(m).udp));
}

TEST_F(continuity_fixture, a_second_transfer_continues_what_alice_heard_not_carols_own_stream) {
    bob_talks(1000, 5000, 10);
    switch_to_carol();
    const rtp_fields last = carol_says({7, 700, carol_ssrc});
    // carol transfers alice on: C stops (as stop_and_locate does) and says where alice's stream stands.
    bridge(*c, nullptr);
    stream_position p;
    ASSERT_TRUE(heard_from(*c, p));
    EXPECT_EQ(p.ssrc, bob_ssrc) << "alice heard bob's SSRC all along";
    EXPECT_EQ(p.next_seq, static_cast<uint16_t>(last.seq + 1));
    EXPECT_EQ(p.next_ts, last.ts + continuity_seam_ts);
}

TEST_F(continuity_fixture, heard_from_follows_chains_of_transfers) {
    stream_position p;
    EXPECT_FALSE(heard_from(*c, p)) << "no RTP arrived at C: its receiver heard nothing";
    bob_talks(1000, 5000, 2);
    switch_to_carol();
    ASSERT_TRUE(heard_from(*c, p)) << "armed: the position it was given";
    EXPECT_EQ(p.ssrc, bob_ssrc);
    EXPECT_EQ(p.next_seq, pos.next_seq);
    EXPECT_EQ(p.next_ts, pos.next_ts);
    const rtp_fields out = carol_says({7, 700, carol_ssrc});
    carol_says({8, 860, carol_ssrc});
    ASSERT_TRUE(heard_from(*c, p)) << "active: the last packet out, one on";
    EXPECT_EQ(p.ssrc, bob_ssrc);
    EXPECT_EQ(p.next_seq, out.seq + 2);
    EXPECT_EQ(p.next_ts, out.ts + 160 + continuity_seam_ts);
}

}  // namespace
}  // namespace sf::dp

// ------------------------------------------------------------------ RTCP reports for call quality

namespace sf::dp {
namespace {

// An RTCP SR (or RR) from `ssrc` with one report block about `source`, then an SDES (a compound).
std::vector<uint8_t> rtcp_compound(bool sr, uint32_t ssrc, uint32_t source, uint8_t fraction, uint32_t jitter,
                                   uint32_t lsr, uint32_t dlsr) {
    std::vector<uint8_t> p;
    const auto be32 = [&p](uint32_t v) {
        for (int i = 0; i < 4; ++i) {
            p.push_back(static_cast<uint8_t>(v >> (24 - 8 * i)));
        }
    };
    const unsigned words = sr ? 12 : 7;  // length field: 32-bit words less one
    p = {0x81, static_cast<uint8_t>(sr ? 200 : 201), 0, static_cast<uint8_t>(words)};
    be32(ssrc);
    if (sr) {
        be32(0xe0001234);  // NTP seconds
        be32(0x56780000);  // NTP fraction: the middle 32 bits are 0x12345678
        be32(160000);      // RTP timestamp
        be32(1000);        // packets
        be32(160000);      // octets
    }
    be32(source);
    p.push_back(fraction);
    p.insert(p.end(), {0x00, 0x00, 0x05});  // cumulative lost 5
    be32(70000);                            // extended highest sequence number
    be32(jitter);
    be32(lsr);
    be32(dlsr);
    // SDES with an empty chunk: the rest of the compound is not read.
    p.insert(p.end(), {0x81, 202, 0, 2});
    be32(ssrc);
    p.insert(p.end(), {0, 0, 0, 0});
    return p;
}

class rtcp_read_fixture : public relay_fixture {
protected:
    // One packet to A's relay port through relay_burst with a batch; returns the egress and
    // adds the reports read to `reports`.
    uint16_t to_a_with_batch(std::vector<uint8_t> payload, uint16_t dport = 20000) {
        udp_spec s = to_a();
        s.dst_port = dport;
        s.payload = std::move(payload);
        rte_mbuf* m = frame(s);
        uint16_t egress = 0;
        reports += relay_burst(*table, &m, 1, &egress, false, &batch).rtcp_reports;
        return egress;
    }
    rtcp_batch batch;
    unsigned reports = 0;
};

TEST_F(rtcp_read_fixture, an_sr_is_read_with_its_side_and_time_and_relayed_as_it_came) {
    const std::vector<uint8_t> sr = rtcp_compound(true, 0xa11ce, 0xb0b, 26, 80, 0x11112222, 65536);
    ASSERT_EQ(to_a_with_batch(sr), 1) << "relayed to B's remote";
    EXPECT_EQ(0, std::memcmp(view_of(held.back()).payload, sr.data(), sr.size())) << "untouched";
    ASSERT_EQ(reports, 1u);
    const rtcp_event& ev = batch.events[0];
    EXPECT_EQ(ev.addr, a_local);
    EXPECT_EQ(ev.port, 20000);
    EXPECT_TRUE(ev.report.sender_report);
    EXPECT_EQ(ev.report.sender_ssrc, 0xa11ceu);
    EXPECT_EQ(ev.report.sr_ntp_middle, 0x12345678u);
    ASSERT_TRUE(ev.report.has_block);
    EXPECT_EQ(ev.report.source_ssrc, 0xb0bu);
    EXPECT_EQ(ev.report.fraction_lost, 26);
    EXPECT_EQ(ev.report.cumulative_lost, 5);
    EXPECT_EQ(ev.report.jitter, 80u);
    EXPECT_EQ(ev.report.lsr, 0x11112222u);
    EXPECT_EQ(ev.report.dlsr, 65536u);
    EXPECT_EQ(a->rtp_expected.load(), 0u) << "RTCP is not RTP";
}

TEST_F(rtcp_read_fixture, rtp_and_other_packets_are_not_read) {
    to_a_with_batch(rtp_payload(1, 0x1234));
    to_a_with_batch({0x81, 202, 0, 1, 0, 0, 0, 1});  // a lone SDES: no report in it
    to_a_with_batch({0x01, 0x02, 0x03});             // not RTP, not RTCP
    EXPECT_EQ(reports, 0u);
    EXPECT_EQ(a->fwd_packets(), 3u) << "all relayed";
}

TEST_F(rtcp_read_fixture, a_report_that_cannot_be_relayed_is_read_all_the_same) {
    bridge(*a, nullptr);  // A's peer gone (a transfer between its steps)
    const std::vector<uint8_t> rr = rtcp_compound(false, 0xa11ce, 0xb0b, 0, 8, 0, 0);
    EXPECT_EQ(to_a_with_batch(rr), relay_drop);
    ASSERT_EQ(reports, 1u);
    EXPECT_FALSE(batch.events[0].report.sender_report);
    EXPECT_TRUE(batch.events[0].report.has_block);
}

TEST_F(rtcp_read_fixture, a_burst_of_reports_fills_the_batch_in_order_and_without_one_reads_nothing) {
    std::vector<rte_mbuf*> burst;
    for (uint8_t i = 0; i < 64; ++i) {
        udp_spec s = to_a();
        s.payload = rtcp_compound(false, i, 2, i, 0, 0, 0);
        burst.push_back(frame(s));
    }
    uint16_t egress[64];
    EXPECT_EQ(relay_burst(*table, burst.data(), 64, egress, false, &batch).rtcp_reports, 64);
    for (unsigned i = 0; i < 64; ++i) {
        EXPECT_EQ(batch.events[i].report.sender_ssrc, i);
    }
    udp_spec s = to_a();
    s.payload = rtcp_compound(false, 1, 2, 0, 0, 0, 0);
    rte_mbuf* m = frame(s);
    uint16_t one = 0;
    const relay_burst_result r = relay_burst(*table, &m, 1, &one);
    EXPECT_EQ(r.relayed, 1) << "no batch: relayed";
    EXPECT_EQ(r.rtcp_reports, 0) << "and not read";
}

TEST_F(rtcp_read_fixture, a_continuing_side_reads_rtcp_too) {
    stream_position pos{0xb0b, 100, 16000};
    bridge(*a, b, &pos);
    ASSERT_EQ(to_a_with_batch(rtcp_compound(true, 7, 8, 1, 2, 3, 4)), 1);
    ASSERT_EQ(reports, 1u);
    EXPECT_EQ(batch.events[0].report.sender_ssrc, 7u);
}

}  // namespace
}  // namespace sf::dp

// ------------------------------------------------------------------ RTCP renamed with continuity

namespace sf::dp {
namespace {

uint32_t be32_at(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Offsets in rtcp_compound()'s SR (an RR has no sender info: its block is 20 bytes earlier).
constexpr size_t sr_rtp_ts = 16, sr_block = 28, rr_block = 8;

// continuity_fixture's transfer, with the reports of both ends: carol's on C (muxed) or on C's
// RTCP port (C + 1), alice's on A (muxed) or A + 1; the control thread marks them as
// media_anchor::switch_over does.
class rtcp_continuity_fixture : public continuity_fixture {
protected:
    void rtcp_ports() {
        a_rtcp = make_side(a_local, 20001, 0, mac(0x01), a_remote, 6001, mac(0xa0));
        c_rtcp = make_side(c_local, 20011, 2, mac(0x03), c_remote, 8001, mac(0xd0));
        ASSERT_TRUE(a_rtcp != nullptr && c_rtcp != nullptr);
        ASSERT_TRUE(table->insert(a_rtcp) && table->insert(c_rtcp));
        bridge(*a_rtcp, c_rtcp, nullptr, true);
        bridge(*c_rtcp, a_rtcp, nullptr, true);
    }

    // A report from `src` (remote address, port, MAC) to relay port `dport` of `local`; what
    // leaves, after checking its checksums the way carol_says() does.
    std::vector<uint8_t> report(uint32_t src, uint16_t sport, uint8_t src_mac, uint32_t local, uint16_t dport,
                                uint8_t dst_mac, const std::vector<uint8_t>& rtcp, bool offload = false,
                                bool udp_cksum = true) {
        udp_spec s = flow(src, sport, src_mac, local, dport, dst_mac, rtcp);
        s.udp_cksum = udp_cksum;
        rte_mbuf* m = frame(s);
        uint16_t egress = 0;
        EXPECT_EQ(relay_burst(*table, &m, 1, &egress, offload).relayed, 1);
        if (offload) {
            nic_finish(m);
        }
        const frame_view v = view_of(m);
        if (udp_cksum) {
            EXPECT_TRUE(ref_udp_ok(v.ip, v.udp)) << "port " << dport;
        } else {
            EXPECT_EQ(v.udp->dgram_cksum, 0);
        }
        return {v.payload, v.payload + rtcp.size()};
    }
    std::vector<uint8_t> from_carol_rtcp(const std::vector<uint8_t>& rtcp, uint16_t port = 20010,
                                         bool offload = false, bool udp_cksum = true) {
        return report(c_remote, port == 20010 ? 8000 : 8001, 0xd0, c_local, port, 0x03, rtcp, offload, udp_cksum);
    }
    std::vector<uint8_t> from_alice_rtcp(const std::vector<uint8_t>& rtcp, uint16_t port = 20000) {
        return report(a_remote, port == 20000 ? 6000 : 6001, 0xa0, a_local, port, 0x01, rtcp);
    }

    // The switch with alice's muxed reports marked (switch_to_carol leaves A plain).
    void switch_to_carol_muxed() {
        switch_to_carol();
        bridge(*a, c, nullptr, true);
    }

    static constexpr uint32_t alice_ssrc = 0xa11ce;
    media_side* a_rtcp = nullptr;
    media_side* c_rtcp = nullptr;
};

TEST_F(rtcp_continuity_fixture, carols_sender_report_is_in_the_stream_alice_hears) {
    bob_talks(1000, 5000, 10);
    switch_to_carol_muxed();
    const rtp_fields first = carol_says({7, 700, carol_ssrc});
    // carol's SR: her RTP clock 160000 maps to alice's stream as her packets do (700 -> first.ts).
    for (const bool offload : {false, true}) {
        for (const bool cksum : {true, false}) {
            const std::vector<uint8_t> out =
                from_carol_rtcp(rtcp_compound(true, carol_ssrc, alice_ssrc, 3, 40, 0x1111, 0x2222), 20010, offload, cksum);
            EXPECT_EQ(be32_at(&out[4]), bob_ssrc) << "sender: the SSRC alice hears";
            EXPECT_EQ(be32_at(&out[sr_rtp_ts]), 160000 - 700 + first.ts);
            EXPECT_EQ(be32_at(&out[sr_block]), alice_ssrc) << "the block about alice's stream: not renamed";
            EXPECT_EQ(be32_at(&out[sr_block + 8]), 70000u);
            EXPECT_EQ(be32_at(&out[sr_block + 24 + 4]), bob_ssrc) << "the SDES chunk names the sender too";
            EXPECT_EQ(be32_at(&out[8]), 0xe0001234u) << "NTP time as it came";
        }
    }
}

TEST_F(rtcp_continuity_fixture, alices_reports_name_carols_own_stream_on_their_way) {
    bob_talks(65000, 5000, 10);
    switch_to_carol_muxed();
    const rtp_fields first = carol_says({7, 700, carol_ssrc});  // leaves as 65010
    ASSERT_EQ(first.seq, 65010);
    std::vector<uint8_t> rr = rtcp_compound(false, alice_ssrc, bob_ssrc, 5, 80, 0x3333, 0x4444);
    // alice's extended highest sequence number: cycle 2, just past carol's first packet.
    rr[rr_block + 8] = 0, rr[rr_block + 9] = 2, rr[rr_block + 10] = 0xfd, rr[rr_block + 11] = 0xf2;
    const std::vector<uint8_t> out = from_alice_rtcp(rr);
    EXPECT_EQ(be32_at(&out[4]), alice_ssrc) << "alice's own stream is not renamed";
    EXPECT_EQ(be32_at(&out[rr_block]), carol_ssrc) << "the stream carol sends, by her own SSRC";
    EXPECT_EQ(be32_at(&out[rr_block + 8]) & 0xffff, 7u) << "65010 heard is carol's 7";
    EXPECT_EQ(be32_at(&out[rr_block + 16]), 0x3333u) << "LSR as it came";
    EXPECT_EQ(be32_at(&out[rr_block + 20]), 0x4444u);
}

TEST_F(rtcp_continuity_fixture, reports_on_rtcp_ports_follow_their_rtp_ports) {
    rtcp_ports();
    bob_talks(1000, 5000, 10);
    switch_to_carol();
    const rtp_fields first = carol_says({7, 700, carol_ssrc});
    std::vector<uint8_t> out = from_carol_rtcp(rtcp_compound(true, carol_ssrc, alice_ssrc, 0, 0, 0, 0), 20011);
    EXPECT_EQ(be32_at(&out[4]), bob_ssrc);
    EXPECT_EQ(be32_at(&out[sr_rtp_ts]), 160000 - 700 + first.ts);
    out = from_alice_rtcp(rtcp_compound(false, alice_ssrc, bob_ssrc, 0, 0, 0, 0), 20001);
    EXPECT_EQ(be32_at(&out[rr_block]), carol_ssrc);
    EXPECT_EQ(be32_at(&out[rr_block + 8]), 70000u - first.seq + 7) << "shifted back by 1003, not on by 64533";
}

TEST_F(rtcp_continuity_fixture, reports_before_carols_first_packet_pass_as_they_came) {
    rtcp_ports();
    bob_talks(1000, 5000, 10);
    switch_to_carol();  // armed: the timestamp offset is not known yet
    const std::vector<uint8_t> sr = rtcp_compound(true, carol_ssrc, alice_ssrc, 0, 0, 0, 0);
    EXPECT_EQ(from_carol_rtcp(sr, 20011), sr);
    const std::vector<uint8_t> rr = rtcp_compound(false, alice_ssrc, bob_ssrc, 0, 0, 0, 0);
    EXPECT_EQ(from_alice_rtcp(rr, 20001), rr);
}

TEST_F(rtcp_continuity_fixture, unmarked_sides_and_other_streams_pass_as_they_came) {
    bob_talks(1000, 5000, 10);
    switch_to_carol();  // A plain: alice's muxed reports are not looked at
    carol_says({7, 700, carol_ssrc});
    const std::vector<uint8_t> rr = rtcp_compound(false, alice_ssrc, bob_ssrc, 0, 0, 0, 0);
    EXPECT_EQ(from_alice_rtcp(rr), rr);
    // A report from carol about some other stream, under another SSRC: nothing of it is hers.
    const std::vector<uint8_t> other = rtcp_compound(true, 0x0dd, 0x0dd2, 0, 0, 0, 0);
    EXPECT_EQ(from_carol_rtcp(other), other);
}

}  // namespace
}  // namespace sf::dp
