// sfgen's frames (tools/trafficgen/frames.cc): what it puts on the wire and how it reads it
// back. Every probe frame must carry valid IPv4 and UDP checksums (a relay under test updates
// them incrementally, a receiver may verify them) although fill_probe only adds the fields it
// writes to the template's sum; read_probe must return exactly the probe written, and refuse
// frames that are not probes. Checksums are checked over every byte, not with the incremental code
// under test.

#include "frames.hh"

#include <gtest/gtest.h>

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <cstring>
#include <random>

#include "eal_fixture.hh"

using namespace sf::gen;

namespace {

// EAL and the mbuf pool of the dataplane tests, and their RFC 1071/768 reference checksums.
[[maybe_unused]] auto* const eal = sf::dp::test::register_eal();

const rte_ether_addr mac_a{{0x02, 0, 0, 0, 0, 0x0a}}, mac_b{{0x02, 0, 0, 0, 0, 0x0b}};

struct mbuf_ptr {
    rte_mbuf* m = rte_pktmbuf_alloc(sf::dp::test::test_pool());
    ~mbuf_ptr() { rte_pktmbuf_free(m); }
};

const rte_ipv4_hdr* ip_of(const rte_mbuf* m) {
    return rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
}
const rte_udp_hdr* udp_of(const rte_mbuf* m) {
    return reinterpret_cast<const rte_udp_hdr*>(ip_of(m) + 1);
}

// Both checksums by the dataplane tests' reference code, over every byte.
bool udp_verifies(const rte_mbuf* m) {
    return sf::dp::test::ref_udp_ok(ip_of(m), udp_of(m));
}
bool ipv4_verifies(const rte_mbuf* m) {
    return sf::dp::test::ref_ipv4_ok(ip_of(m));
}

}  // namespace

TEST(frames, probes_carry_valid_checksums_and_read_back_as_written) {
    std::mt19937_64 rng(42);
    for (unsigned stream = 0; stream < 8; ++stream) {
        frame_template t;
        build_template(t, mac_a, mac_b, 0xcb007114u + stream, static_cast<uint16_t>(30000 + 2 * stream),
                       0xcb007196u, static_cast<uint16_t>(40000 + 2 * stream), 0x5f000000u + stream);
        for (unsigned k = 0; k < 500; ++k) {
            // Edge values too: every field at 0 and at all ones.
            const probe p = k == 0   ? probe{0, 0, 0, 0}
                            : k == 1 ? probe{~0u, ~0u, ~0u, ~uint64_t{0}}
                                     : probe{static_cast<uint32_t>(rng()), stream, static_cast<uint32_t>(rng()), rng()};
            mbuf_ptr b;
            ASSERT_NE(b.m, nullptr);
            ASSERT_TRUE(fill_probe(b.m, t, p));
            ASSERT_TRUE(ipv4_verifies(b.m)) << "IPv4 header checksum, stream " << stream << " packet " << k;
            ASSERT_NE(udp_of(b.m)->dgram_cksum, 0) << "UDP checksum present";
            ASSERT_TRUE(udp_verifies(b.m)) << "UDP checksum, stream " << stream << " packet " << k;
            const std::optional<probe> back = read_probe(b.m);
            ASSERT_TRUE(back.has_value());
            EXPECT_EQ(back->trial, p.trial);
            EXPECT_EQ(back->stream, p.stream);
            EXPECT_EQ(back->seq, p.seq);
            EXPECT_EQ(back->tsc, p.tsc);
        }
    }
}

TEST(frames, payload_frames_are_the_file_bytes_with_valid_checksums) {
    const std::string sip = "OPTIONS sip:ping@203.0.113.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    for (const std::string& payload : {sip, sip + "x"}) {  // even and odd lengths
        frame_template t;
        build_payload_template(t, mac_a, mac_b, 0xcb007164u, 5060, 0xcb007101u, 5060, payload);
        mbuf_ptr b;
        ASSERT_TRUE(fill_copy(b.m, t));
        EXPECT_EQ(rte_pktmbuf_data_len(b.m), RTE_ETHER_HDR_LEN + 20 + 8 + payload.size());
        EXPECT_TRUE(ipv4_verifies(b.m));
        EXPECT_TRUE(udp_verifies(b.m));
        EXPECT_EQ(std::memcmp(udp_of(b.m) + 1, payload.data(), payload.size()), 0);
        EXPECT_FALSE(read_probe(b.m).has_value()) << "a payload frame is not a probe";
    }
}

TEST(frames, read_probe_refuses_what_is_not_a_probe) {
    frame_template t;
    build_template(t, mac_a, mac_b, 0xcb007114u, 30000, 0xcb007196u, 40000, 1);
    {
        mbuf_ptr b;  // an ARP frame
        ASSERT_TRUE(fill_arp(b.m, 1, mac_a, 0xcb007114u, mac_b, 0xcb007196u));
        EXPECT_FALSE(read_probe(b.m).has_value());
    }
    {
        mbuf_ptr b;  // a probe whose magic was changed on the way
        ASSERT_TRUE(fill_probe(b.m, t, probe{1, 2, 3, 4}));
        rte_pktmbuf_mtod_offset(b.m, uint8_t*, RTE_ETHER_HDR_LEN + 20 + 8 + 12)[0] ^= 0xff;
        EXPECT_FALSE(read_probe(b.m).has_value());
    }
    {
        mbuf_ptr b;  // cut short inside the probe
        ASSERT_TRUE(fill_probe(b.m, t, probe{1, 2, 3, 4}));
        rte_pktmbuf_trim(b.m, static_cast<uint16_t>(rte_pktmbuf_data_len(b.m) - (RTE_ETHER_HDR_LEN + 20 + 8 + 12 + 20)));
        EXPECT_FALSE(read_probe(b.m).has_value());
    }
    {
        mbuf_ptr b;  // not UDP
        ASSERT_TRUE(fill_probe(b.m, t, probe{1, 2, 3, 4}));
        rte_pktmbuf_mtod_offset(b.m, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN)->next_proto_id = IPPROTO_TCP;
        EXPECT_FALSE(read_probe(b.m).has_value());
    }
}
