/// @file
/// Header helpers of the dataplane (packet.hh) on real mbufs: UDP frame
/// construction, incremental checksums, ARP and ICMP answers.

// rte_ipv4_udptcp_cksum_verify is still marked experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API

#include <gtest/gtest.h>

#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#include <algorithm>
#include <random>

#include "eal_fixture.hh"
#include "packet.hh"

namespace sf::dp {
namespace {

using namespace sf::dp::test;

[[maybe_unused]] auto* const eal = register_eal();

// An mbuf holding only a UDP payload, as the control thread hands it to prepend_udp_headers.
rte_mbuf* payload_mbuf(const std::vector<uint8_t>& payload) {
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    if (m == nullptr) {
        return nullptr;
    }
    auto* p = rte_pktmbuf_append(m, static_cast<uint16_t>(payload.size()));
    if (!payload.empty()) {
        std::memcpy(p, payload.data(), payload.size());
    }
    return m;
}

udp_route test_route() {
    udp_route r{};
    r.src_mac = mac(0x01);
    r.dst_mac = mac(0x02);
    r.src_addr = ipv4(192, 0, 2, 1);
    r.dst_addr = ipv4(192, 0, 2, 10);
    r.src_port = 5060;
    r.dst_port = 5062;
    return r;
}

TEST(prepend_udp_headers, fields_and_checksums) {
    // Odd and even lengths: the odd byte is where checksum code usually goes wrong.
    for (size_t len : {0u, 1u, 2u, 17u, 160u, 1001u, 1400u}) {
        SCOPED_TRACE(len);
        const auto payload = pattern_payload(len, static_cast<uint8_t>(len));
        rte_mbuf* m = payload_mbuf(payload);
        ASSERT_NE(m, nullptr);
        const udp_route r = test_route();
        ASSERT_TRUE(prepend_udp_headers(m, r));

        ASSERT_EQ(rte_pktmbuf_pkt_len(m), l2_l3_l4_len + len);
        ASSERT_EQ(rte_pktmbuf_data_len(m), l2_l3_l4_len + len);
        const frame_view f = view_of(m);
        EXPECT_TRUE(mac_eq(f.eth->src_addr, r.src_mac));
        EXPECT_TRUE(mac_eq(f.eth->dst_addr, r.dst_mac));
        EXPECT_EQ(f.eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));

        EXPECT_EQ(f.ip->version_ihl, 0x45);
        EXPECT_EQ(rte_be_to_cpu_16(f.ip->total_length), sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + len);
        EXPECT_EQ(rte_be_to_cpu_16(f.ip->fragment_offset), RTE_IPV4_HDR_DF_FLAG);
        EXPECT_EQ(f.ip->time_to_live, 64);
        EXPECT_EQ(f.ip->next_proto_id, IPPROTO_UDP);
        EXPECT_EQ(rte_be_to_cpu_32(f.ip->src_addr), r.src_addr);
        EXPECT_EQ(rte_be_to_cpu_32(f.ip->dst_addr), r.dst_addr);
        EXPECT_TRUE(ref_ipv4_ok(f.ip));
        // DPDK's own check agrees: the checksum over a valid header is 0.
        EXPECT_EQ(rte_ipv4_cksum(f.ip), 0);

        EXPECT_EQ(rte_be_to_cpu_16(f.udp->src_port), r.src_port);
        EXPECT_EQ(rte_be_to_cpu_16(f.udp->dst_port), r.dst_port);
        EXPECT_EQ(rte_be_to_cpu_16(f.udp->dgram_len), sizeof(rte_udp_hdr) + len);
        EXPECT_NE(f.udp->dgram_cksum, 0);
        EXPECT_TRUE(ref_udp_ok(f.ip, f.udp));
        EXPECT_EQ(rte_ipv4_udptcp_cksum_verify(f.ip, f.udp), 0);
        if (len > 0) {  // memcmp with a null pointer is undefined even for 0 bytes
            EXPECT_EQ(0, std::memcmp(f.payload, payload.data(), len));
        }
        EXPECT_EQ(m->l2_len, sizeof(rte_ether_hdr));
        EXPECT_EQ(m->l3_len, sizeof(rte_ipv4_hdr));
        rte_pktmbuf_free(m);
    }
}

TEST(prepend_udp_headers, random_payloads_verify) {
    std::mt19937 rng(42);
    for (int i = 0; i < 500; ++i) {
        std::vector<uint8_t> payload(rng() % 1473);
        for (auto& b : payload) {
            b = static_cast<uint8_t>(rng());
        }
        udp_route r = test_route();
        r.src_addr = rng();
        r.dst_addr = rng();
        r.src_port = static_cast<uint16_t>(rng());
        r.dst_port = static_cast<uint16_t>(rng());
        rte_mbuf* m = payload_mbuf(payload);
        ASSERT_NE(m, nullptr);
        ASSERT_TRUE(prepend_udp_headers(m, r));
        const frame_view f = view_of(m);
        ASSERT_TRUE(ref_ipv4_ok(f.ip)) << i;
        ASSERT_TRUE(ref_udp_ok(f.ip, f.udp)) << i;
        rte_pktmbuf_free(m);
    }
}

TEST(prepend_udp_headers, refuses_without_headroom) {
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    ASSERT_NE(m, nullptr);
    m->data_off = l2_l3_l4_len - 1;  // one byte short of room for the headers
    ASSERT_NE(rte_pktmbuf_append(m, 100), nullptr);
    EXPECT_FALSE(prepend_udp_headers(m, test_route()));
    EXPECT_EQ(rte_pktmbuf_pkt_len(m), 100u);
    EXPECT_EQ(m->data_off, l2_l3_l4_len - 1);
    rte_pktmbuf_free(m);
}

// The incremental update must give what a full recomputation gives (RFC 1624 eqn. 3).
TEST(csum_replace, agrees_with_full_recomputation) {
    std::mt19937 rng(7);
    for (int i = 0; i < 20000; ++i) {
        uint8_t buf[64];
        const size_t words = 1 + rng() % 16;  // 4..64 bytes
        for (size_t k = 0; k < words * 4; ++k) {
            buf[k] = static_cast<uint8_t>(rng());
        }
        const uint16_t before = static_cast<uint16_t>(~ref_sum(buf, words * 4));

        const size_t at = rng() % words;
        uint32_t old32;
        std::memcpy(&old32, buf + at * 4, 4);
        // Sometimes the new word equals the old one, or is zero / all ones: the -0/+0 corner.
        uint32_t new32 = rng();
        switch (rng() % 8) {
        case 0: new32 = old32; break;
        case 1: new32 = 0; break;
        case 2: new32 = 0xffffffff; break;
        default: break;
        }
        std::memcpy(buf + at * 4, &new32, 4);
        if (std::all_of(buf, buf + words * 4, [](uint8_t b) { return b == 0; })) {
            // All-zero data is the one case where eqn. 3 yields +0 (0x0000 sum, an
            // unverifiable checksum) and the full sum -0 (RFC 1624 section 3); it
            // cannot occur in an IP or UDP header (version, length are non-zero).
            continue;
        }
        const uint16_t full4 = static_cast<uint16_t>(~ref_sum(buf, words * 4));
        ASSERT_EQ(csum_replace4(before, old32, new32), full4) << i;

        const size_t at2 = rng() % (words * 2);
        uint16_t old16;
        std::memcpy(&old16, buf + at2 * 2, 2);
        uint16_t new16 = static_cast<uint16_t>(rng());
        if (rng() % 8 == 0) {
            new16 = old16;
        }
        std::memcpy(buf + at2 * 2, &new16, 2);
        const uint16_t full2 = static_cast<uint16_t>(~ref_sum(buf, words * 4));
        ASSERT_EQ(csum_replace2(full4, old16, new16), full2) << i;
    }
}

// Chained updates (what the relay does: 2 addresses + 2 ports) still verify.
TEST(csum_replace, chained_updates_verify) {
    std::mt19937 rng(9);
    for (int i = 0; i < 5000; ++i) {
        uint8_t buf[32];
        for (auto& b : buf) {
            b = static_cast<uint8_t>(rng());
        }
        uint16_t c = static_cast<uint16_t>(~ref_sum(buf, sizeof(buf)));
        for (int k = 0; k < 4; ++k) {
            const size_t at = rng() % 8;
            uint32_t o, n = rng();
            std::memcpy(&o, buf + at * 4, 4);
            std::memcpy(buf + at * 4, &n, 4);
            c = csum_replace4(c, o, n);
        }
        // Verification in one's complement: data + checksum sums to all ones.
        uint8_t with[34];
        std::memcpy(with, buf, 32);
        std::memcpy(with + 32, &c, 2);
        ASSERT_EQ(ref_sum(with, sizeof(with)), 0xffffu) << i;
    }
}

TEST(csum_fold, folds_carries) {
    EXPECT_EQ(csum_fold(0), 0);
    EXPECT_EQ(csum_fold(0xffff), 0xffff);
    EXPECT_EQ(csum_fold(0x10000), 1);
    EXPECT_EQ(csum_fold(0x1fffe), 0xffff);
    EXPECT_EQ(csum_fold(0xffffffff), 0xffff);
}

// An ARP request frame as a peer would send it.
rte_mbuf* arp_request_frame(const rte_ether_addr& from_mac, uint32_t from_addr, uint32_t target) {
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
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
    arp->arp_data.arp_sha = from_mac;
    arp->arp_data.arp_sip = rte_cpu_to_be_32(from_addr);
    std::memset(&arp->arp_data.arp_tha, 0, RTE_ETHER_ADDR_LEN);
    arp->arp_data.arp_tip = rte_cpu_to_be_32(target);
    return m;
}

TEST(arp, reply_from_request) {
    const rte_ether_addr peer = mac(0x10);
    const rte_ether_addr ours = mac(0x01);
    rte_mbuf* m = arp_request_frame(peer, ipv4(192, 0, 2, 10), ipv4(192, 0, 2, 1));
    ASSERT_NE(m, nullptr);
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    make_arp_reply(eth, arp, ours);

    EXPECT_TRUE(mac_eq(eth->dst_addr, peer));
    EXPECT_TRUE(mac_eq(eth->src_addr, ours));
    EXPECT_EQ(eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP));
    EXPECT_EQ(arp->arp_hardware, rte_cpu_to_be_16(RTE_ARP_HRD_ETHER));
    EXPECT_EQ(arp->arp_protocol, rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
    EXPECT_EQ(arp->arp_hlen, RTE_ETHER_ADDR_LEN);
    EXPECT_EQ(arp->arp_plen, 4);
    EXPECT_EQ(rte_be_to_cpu_16(arp->arp_opcode), RTE_ARP_OP_REPLY);
    EXPECT_TRUE(mac_eq(arp->arp_data.arp_sha, ours));
    EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), ipv4(192, 0, 2, 1));
    EXPECT_TRUE(mac_eq(arp->arp_data.arp_tha, peer));
    EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_tip), ipv4(192, 0, 2, 10));
    rte_pktmbuf_free(m);
}

TEST(arp, build_request_and_gratuitous) {
    const rte_ether_addr ours = mac(0x01);
    for (const uint32_t target : {ipv4(192, 0, 2, 10), ipv4(192, 0, 2, 1)}) {
        rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
        ASSERT_NE(m, nullptr);
        ASSERT_TRUE(build_arp_request(m, ours, ipv4(192, 0, 2, 1), target));
        ASSERT_EQ(rte_pktmbuf_data_len(m), sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr));
        auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
        auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
        EXPECT_TRUE(rte_is_broadcast_ether_addr(&eth->dst_addr));
        EXPECT_TRUE(mac_eq(eth->src_addr, ours));
        EXPECT_EQ(eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP));
        EXPECT_EQ(arp->arp_hardware, rte_cpu_to_be_16(RTE_ARP_HRD_ETHER));
        EXPECT_EQ(arp->arp_protocol, rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
        EXPECT_EQ(arp->arp_hlen, RTE_ETHER_ADDR_LEN);
        EXPECT_EQ(arp->arp_plen, 4);
        EXPECT_EQ(rte_be_to_cpu_16(arp->arp_opcode), RTE_ARP_OP_REQUEST);
        EXPECT_TRUE(mac_eq(arp->arp_data.arp_sha, ours));
        EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), ipv4(192, 0, 2, 1));
        EXPECT_TRUE(rte_is_zero_ether_addr(&arp->arp_data.arp_tha));
        EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_tip), target);
        rte_pktmbuf_free(m);
    }
}

// An ICMP echo request with `len` bytes of data and a valid checksum.
rte_mbuf* echo_request_frame(size_t len, std::mt19937& rng) {
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
    ip->time_to_live = 3;
    ip->next_proto_id = IPPROTO_ICMP;
    ip->src_addr = rte_cpu_to_be_32(ipv4(192, 0, 2, 10));
    ip->dst_addr = rte_cpu_to_be_32(ipv4(192, 0, 2, 1));
    ip->hdr_checksum = static_cast<uint16_t>(~ref_sum(ip, sizeof(*ip)));
    auto* icmp = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
    icmp->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
    icmp->icmp_code = 0;
    icmp->icmp_cksum = 0;
    icmp->icmp_ident = static_cast<uint16_t>(rng());
    icmp->icmp_seq_nb = static_cast<uint16_t>(rng());
    auto* data = reinterpret_cast<uint8_t*>(icmp + 1);
    for (size_t i = 0; i < len; ++i) {
        data[i] = static_cast<uint8_t>(rng());
    }
    icmp->icmp_cksum = static_cast<uint16_t>(~ref_sum(icmp, sizeof(*icmp) + len));
    return m;
}

TEST(icmp, echo_reply_checksums_valid) {
    std::mt19937 rng(3);
    for (int i = 0; i < 2000; ++i) {
        const size_t len = rng() % 1400;
        rte_mbuf* m = echo_request_frame(len, rng);
        ASSERT_NE(m, nullptr);
        auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        auto* icmp = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
        const uint16_t ident = icmp->icmp_ident;
        const uint16_t seq = icmp->icmp_seq_nb;
        std::vector<uint8_t> data(reinterpret_cast<uint8_t*>(icmp + 1), reinterpret_cast<uint8_t*>(icmp + 1) + len);

        eth->dst_addr = rte_ether_addr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};  // flooded: not our MAC
        make_icmp_echo_reply(eth, ip, mac(0x01));

        ASSERT_TRUE(mac_eq(eth->dst_addr, mac(0x10)));
        ASSERT_TRUE(mac_eq(eth->src_addr, mac(0x01)));
        ASSERT_EQ(rte_be_to_cpu_32(ip->src_addr), ipv4(192, 0, 2, 1));
        ASSERT_EQ(rte_be_to_cpu_32(ip->dst_addr), ipv4(192, 0, 2, 10));
        ASSERT_EQ(ip->time_to_live, 64);
        ASSERT_TRUE(ref_ipv4_ok(ip)) << i;
        ASSERT_EQ(icmp->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
        ASSERT_EQ(icmp->icmp_code, 0);
        ASSERT_EQ(icmp->icmp_ident, ident);
        ASSERT_EQ(icmp->icmp_seq_nb, seq);
        ASSERT_EQ(ref_sum(icmp, sizeof(*icmp) + len), 0xffffu) << i << " len " << len;
        if (len > 0) {  // memcmp with a null pointer is undefined even for 0 bytes
            ASSERT_EQ(0, std::memcmp(icmp + 1, data.data(), len));
        }
        rte_pktmbuf_free(m);
    }
}

// One's complement's two zeros: the reply to an all-zero echo (id 0, sequence 0, zero data) must
// carry 0xffff, not the 0x0000 an incremental update gives (found by fuzz_frames).
TEST(icmp, an_all_zero_echo_gets_a_valid_reply) {
    std::mt19937 rng(5);
    for (size_t len : {0, 1, 56, 1400}) {
        rte_mbuf* m = echo_request_frame(len, rng);
        ASSERT_NE(m, nullptr);
        auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        auto* icmp = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
        icmp->icmp_ident = 0;
        icmp->icmp_seq_nb = 0;
        std::memset(icmp + 1, 0, len);
        icmp->icmp_cksum = 0;
        icmp->icmp_cksum = static_cast<uint16_t>(~ref_sum(icmp, sizeof(*icmp) + len));
        make_icmp_echo_reply(eth, ip, mac(0x01));
        EXPECT_EQ(icmp->icmp_cksum, 0xffff) << len;
        EXPECT_EQ(ref_sum(icmp, sizeof(*icmp) + len), 0xffffu) << len;
        rte_pktmbuf_free(m);
    }
}

// SIP frames are a header mbuf chained in front of (a clone of) the message: the UDP checksum
// must cover every segment, whatever their lengths (odd ones shift the byte pairing).
TEST(prepend_udp_headers, payload_in_later_segments_verifies) {
    for (size_t first : {0u, 1u, 7u, 700u}) {
        for (size_t second : {1u, 2u, 333u, 1000u}) {
            SCOPED_TRACE(std::to_string(first) + "+" + std::to_string(second));
            const auto payload = pattern_payload(first + second, static_cast<uint8_t>(first ^ second));
            rte_mbuf* head = rte_pktmbuf_alloc(test_pool());
            rte_mbuf* a = rte_pktmbuf_alloc(test_pool());
            rte_mbuf* b = rte_pktmbuf_alloc(test_pool());
            ASSERT_TRUE(head != nullptr && a != nullptr && b != nullptr);
            if (first > 0) {
                std::memcpy(rte_pktmbuf_append(a, static_cast<uint16_t>(first)), payload.data(), first);
            }
            std::memcpy(rte_pktmbuf_append(b, static_cast<uint16_t>(second)), payload.data() + first, second);
            ASSERT_EQ(rte_pktmbuf_chain(a, b), 0);
            ASSERT_EQ(rte_pktmbuf_chain(head, a), 0);  // an empty header mbuf leads
            ASSERT_TRUE(prepend_udp_headers(head, test_route()));
            ASSERT_EQ(rte_pktmbuf_pkt_len(head), l2_l3_l4_len + first + second);
            // Verify on a contiguous copy with the reference sum.
            std::vector<uint8_t> flat(rte_pktmbuf_pkt_len(head));
            ASSERT_NE(rte_pktmbuf_read(head, 0, static_cast<uint32_t>(flat.size()), flat.data()), nullptr);
            const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(flat.data() + sizeof(rte_ether_hdr));
            const auto* udp = reinterpret_cast<const rte_udp_hdr*>(ip + 1);
            EXPECT_TRUE(ref_ipv4_ok(ip));
            EXPECT_TRUE(ref_udp_ok(ip, udp));
            EXPECT_EQ(0, std::memcmp(udp + 1, payload.data(), payload.size()));
            rte_pktmbuf_free(head);
        }
    }
}

TEST(prepend_ipv4_udp_headers, fragmentable_header_over_a_chain) {
    const auto payload = pattern_payload(3001, 5);
    rte_mbuf* head = rte_pktmbuf_alloc(test_pool());
    rte_mbuf* a = rte_pktmbuf_alloc(test_pool());
    rte_mbuf* b = rte_pktmbuf_alloc(test_pool());
    ASSERT_TRUE(head != nullptr && a != nullptr && b != nullptr);
    std::memcpy(rte_pktmbuf_append(a, 1501), payload.data(), 1501);
    std::memcpy(rte_pktmbuf_append(b, 1500), payload.data() + 1501, 1500);
    ASSERT_EQ(rte_pktmbuf_chain(a, b), 0);
    ASSERT_EQ(rte_pktmbuf_chain(head, a), 0);
    ASSERT_TRUE(prepend_ipv4_udp_headers(head, test_route(), 0x1234));
    std::vector<uint8_t> flat(rte_pktmbuf_pkt_len(head));
    ASSERT_EQ(flat.size(), sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + payload.size());
    ASSERT_NE(rte_pktmbuf_read(head, 0, static_cast<uint32_t>(flat.size()), flat.data()), nullptr);
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(flat.data());
    EXPECT_EQ(rte_be_to_cpu_16(ip->packet_id), 0x1234);
    EXPECT_EQ(ip->fragment_offset, 0) << "no DF: rte_ipv4_fragment_packet refuses DF datagrams";
    EXPECT_TRUE(ref_ipv4_ok(ip));
    EXPECT_TRUE(ref_udp_ok(ip, reinterpret_cast<const rte_udp_hdr*>(ip + 1)));
    EXPECT_EQ(head->l3_len, sizeof(rte_ipv4_hdr));
    ASSERT_TRUE(prepend_ethernet(head, test_route()));
    const auto* eth = rte_pktmbuf_mtod(head, const rte_ether_hdr*);
    EXPECT_TRUE(mac_eq(eth->dst_addr, test_route().dst_mac));
    EXPECT_EQ(eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
    rte_pktmbuf_free(head);
}

}  // namespace
}  // namespace sf::dp
