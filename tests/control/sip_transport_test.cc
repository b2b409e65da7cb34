// Frames of SIP messages built in mbufs (build_sip_frames): the message's bytes are never
// copied on the way out unless the port cannot send chains. A message nobody keeps takes its
// headers in place; a kept one (for retransmission) goes as a header mbuf + indirect clone,
// as often as needed, and stays intact; one larger than the MTU leaves as IPv4 fragments.
// Checksums are verified with a reference sum written here from RFC 1071/768, not DPDK's.

#include "sip_transport.hh"

#include <gtest/gtest.h>

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <cstring>
#include <string>
#include <vector>

#include "control_eal.hh"
#include "rings.hh"

using namespace sf::control;
namespace dp = sf::dp;

namespace {

constexpr uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

const dp::udp_route route{{{0x02, 0, 0, 0, 0, 0x01}}, {{0x02, 0, 0, 0, 0, 0x99}}, ip4(192, 0, 2, 1),
                          ip4(192, 0, 2, 10), 5060, 5062};

/// Pools with no per-lcore cache, so that counts are exact.
struct pools {
    rte_mempool* msgs_mp = rte_pktmbuf_pool_create(name("tx_msg").c_str(), 255, 0, dp::packet_meta_priv_size,
                                                   2048 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
    message_pool msgs{msgs_mp};
    rte_mempool* headers = rte_pktmbuf_pool_create(name("tx_hdr").c_str(), 255, 0, dp::packet_meta_priv_size,
                                                   RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    rte_mempool* clones = rte_pktmbuf_pool_create(name("tx_cln").c_str(), 255, 0, 0, 0, SOCKET_ID_ANY);

    static std::string name(const char* prefix) {
        static unsigned n = 0;
        return prefix + std::to_string(n++);
    }
    frame_pools frames() const { return frame_pools{headers, clones}; }
    bool all_free() const {
        return rte_mempool_avail_count(msgs_mp) == 255 && rte_mempool_avail_count(headers) == 255 &&
               rte_mempool_avail_count(clones) == 255;
    }
};

std::string patterned(size_t n) {
    std::string s;
    for (unsigned i = 0; s.size() < n; ++i) {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "%07u;", i);
        s += buf;
    }
    s.resize(n);
    return s;
}

sip_wire write(message_pool& pool, std::string_view text) {
    sip_writer w(pool);
    w.append(text);
    return w.finish();
}

std::vector<uint8_t> bytes_of(const rte_mbuf* m) {
    std::vector<uint8_t> out;
    for (; m != nullptr; m = m->next) {
        const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
        out.insert(out.end(), p, p + rte_pktmbuf_data_len(m));
    }
    return out;
}

// RFC 1071 one's-complement sum over bytes (big-endian 16-bit words).
uint32_t ref_sum(const uint8_t* p, size_t n, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) {
        sum += (uint32_t{p[i]} << 8) | p[i + 1];
    }
    if (n % 2 != 0) {
        sum += uint32_t{p[n - 1]} << 8;
    }
    while (sum > 0xffff) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

bool ipv4_header_ok(const uint8_t* ip) {
    return ref_sum(ip, (ip[0] & 0x0f) * 4u) == 0xffff;
}

// The UDP datagram `udp` (header + payload) checks out against the pseudo-header of `ip`.
bool udp_ok(const uint8_t* ip, const std::vector<uint8_t>& udp) {
    uint8_t ph[12];
    std::memcpy(ph, ip + 12, 8);
    ph[8] = 0;
    ph[9] = 17;
    ph[10] = static_cast<uint8_t>(udp.size() >> 8);
    ph[11] = static_cast<uint8_t>(udp.size());
    const bool has_sum = udp[6] != 0 || udp[7] != 0;
    return has_sum && ref_sum(udp.data(), udp.size(), ref_sum(ph, sizeof(ph))) == 0xffff;
}

/// Checks one unfragmented frame carrying `text` and returns nothing; failures are reported.
void expect_frame(const rte_mbuf* frame, const std::string& text) {
    const std::vector<uint8_t> f = bytes_of(frame);
    ASSERT_EQ(f.size(), 14 + 20 + 8 + text.size());
    EXPECT_EQ(rte_pktmbuf_pkt_len(frame), f.size());
    EXPECT_EQ(std::memcmp(f.data(), route.dst_mac.addr_bytes, 6), 0);
    EXPECT_EQ(std::memcmp(f.data() + 6, route.src_mac.addr_bytes, 6), 0);
    EXPECT_EQ(f[12], 0x08);
    EXPECT_EQ(f[13], 0x00);
    const uint8_t* ip = f.data() + 14;
    EXPECT_TRUE(ipv4_header_ok(ip));
    EXPECT_EQ(ip[6] & 0x40, 0x40) << "DF: an unfragmented datagram";
    const std::vector<uint8_t> udp(f.begin() + 34, f.end());
    EXPECT_TRUE(udp_ok(ip, udp));
    EXPECT_EQ((udp[0] << 8) | udp[1], 5060);
    EXPECT_EQ((udp[2] << 8) | udp[3], 5062);
    EXPECT_EQ(std::string(udp.begin() + 8, udp.end()), text);
}

}  // namespace

TEST(sip_frames, a_message_nobody_keeps_takes_its_headers_in_place) {
    pools p;
    const std::string text = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    sip_wire msg = write(p.msgs, text);
    const rte_mbuf* head = msg.head();
    rte_mbuf* out[64];
    frame_outcome how{};
    uint64_t linearized = 0;
    ASSERT_EQ(build_sip_frames(std::move(msg), route, 1500, 1, true, p.frames(), out, 64, how, linearized), 1u);
    EXPECT_EQ(how, frame_outcome::in_place);
    EXPECT_EQ(out[0], head) << "the message's own mbuf is the frame";
    EXPECT_EQ(out[0]->nb_segs, 1u);
    expect_frame(out[0], text);
    EXPECT_EQ(rte_mempool_avail_count(p.headers), 255u) << "no header mbuf was needed";
    rte_pktmbuf_free(out[0]);
    EXPECT_TRUE(p.all_free());
}

TEST(sip_frames, a_kept_message_goes_as_a_clone_and_is_sent_again_unchanged) {
    pools p;
    const std::string text = "INVITE sip:bob@192.0.2.10 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    sip_wire kept = write(p.msgs, text);
    rte_mbuf* out[64];
    frame_outcome how{};
    uint64_t linearized = 0;
    std::vector<rte_mbuf*> frames;
    for (int i = 0; i < 3; ++i) {  // the first send and two retransmissions, all in flight at once
        ASSERT_EQ(build_sip_frames(kept, route, 1500, 1, true, p.frames(), out, 64, how, linearized), 1u);
        EXPECT_EQ(how, frame_outcome::cloned);
        ASSERT_EQ(out[0]->nb_segs, 2u);
        EXPECT_TRUE(RTE_MBUF_CLONED(out[0]->next));
        EXPECT_EQ(out[0]->next->buf_addr, kept.head()->buf_addr) << "the frame reads the message's own buffer";
        expect_frame(out[0], text);
        frames.push_back(out[0]);
    }
    EXPECT_EQ(rte_mbuf_refcnt_read(kept.head()), 4u) << "one reference per clone in flight";
    EXPECT_EQ(rte_mempool_avail_count(p.msgs_mp), 254u) << "no copy of the message";
    for (rte_mbuf* f : frames) {
        rte_pktmbuf_free(f);  // what the worker does after TX
    }
    EXPECT_EQ(kept.to_string(), text) << "the kept message is intact after its frames went";
    EXPECT_TRUE(kept.unique());
    kept.reset();
    EXPECT_TRUE(p.all_free());
}

TEST(sip_frames, a_chained_message_within_the_mtu_is_one_chained_frame) {
    pools p;
    const std::string text = patterned(5000);
    sip_wire kept = write(p.msgs, text);
    ASSERT_EQ(kept.segments(), 3u);
    rte_mbuf* out[64];
    frame_outcome how{};
    uint64_t linearized = 0;
    ASSERT_EQ(build_sip_frames(kept, route, 9000, 1, true, p.frames(), out, 64, how, linearized), 1u);
    EXPECT_EQ(how, frame_outcome::cloned);
    EXPECT_EQ(out[0]->nb_segs, 4u);
    expect_frame(out[0], text);  // the UDP checksum spans the segments
    EXPECT_EQ(linearized, 0u);
    rte_pktmbuf_free(out[0]);
    kept.reset();
    EXPECT_TRUE(p.all_free());
}

TEST(sip_frames, larger_than_the_mtu_leaves_as_ipv4_fragments_of_one_datagram) {
    pools p;
    const std::string text = patterned(5000);
    sip_wire kept = write(p.msgs, text);
    rte_mbuf* out[64];
    frame_outcome how{};
    uint64_t linearized = 0;
    const unsigned n = build_sip_frames(kept, route, 1500, 0x4242, true, p.frames(), out, 64, how, linearized);
    ASSERT_EQ(n, 4u) << "5008 bytes of UDP in 1480-byte pieces";
    EXPECT_EQ(how, frame_outcome::fragmented);
    std::vector<uint8_t> udp;
    const uint8_t* first_ip = nullptr;
    std::vector<std::vector<uint8_t>> kept_bytes;
    for (unsigned i = 0; i < n; ++i) {
        kept_bytes.push_back(bytes_of(out[i]));
        const std::vector<uint8_t>& f = kept_bytes.back();
        ASSERT_LE(f.size(), 14u + 1500u);
        EXPECT_EQ(f[12], 0x08);
        const uint8_t* ip = f.data() + 14;
        EXPECT_TRUE(ipv4_header_ok(ip)) << "fragment " << i;
        EXPECT_EQ((ip[4] << 8) | ip[5], 0x4242) << "one identification for every fragment";
        const unsigned flags_off = (ip[6] << 8) | ip[7];
        EXPECT_EQ(flags_off & 0x4000, 0u) << "no DF";
        EXPECT_EQ((flags_off & 0x2000) != 0, i + 1 < n) << "MF on all but the last";
        EXPECT_EQ((flags_off & 0x1fff) * 8u, udp.size()) << "offsets follow each other";
        EXPECT_EQ((ip[2] << 8) | ip[3], f.size() - 14);
        udp.insert(udp.end(), f.begin() + 34, f.end());
        if (i == 0) {
            first_ip = ip;
        }
    }
    ASSERT_EQ(udp.size(), 8 + text.size());
    EXPECT_EQ((udp[4] << 8) | udp[5], udp.size());
    EXPECT_TRUE(udp_ok(first_ip, udp)) << "the UDP checksum covers the reassembled datagram";
    EXPECT_EQ(std::string(udp.begin() + 8, udp.end()), text);
    for (unsigned i = 0; i < n; ++i) {
        rte_pktmbuf_free(out[i]);
    }
    EXPECT_EQ(kept.to_string(), text);
    kept.reset();
    EXPECT_TRUE(p.all_free());
}

TEST(sip_frames, a_port_without_chained_tx_gets_one_copied_segment_per_frame) {
    pools p;
    const std::string text = patterned(1200);
    sip_wire kept = write(p.msgs, text);
    rte_mbuf* out[64];
    frame_outcome how{};
    uint64_t linearized = 0;
    ASSERT_EQ(build_sip_frames(kept, route, 1500, 1, false, p.frames(), out, 64, how, linearized), 1u);
    EXPECT_EQ(out[0]->nb_segs, 1u);
    EXPECT_TRUE(RTE_MBUF_DIRECT(out[0]));
    EXPECT_EQ(linearized, 1u);
    expect_frame(out[0], text);
    rte_pktmbuf_free(out[0]);

    const std::string big = patterned(3000);
    sip_wire kept_big = write(p.msgs, big);
    const unsigned n = build_sip_frames(kept_big, route, 1500, 7, false, p.frames(), out, 64, how, linearized);
    ASSERT_EQ(n, 3u);
    for (unsigned i = 0; i < n; ++i) {
        EXPECT_EQ(out[i]->nb_segs, 1u);
        rte_pktmbuf_free(out[i]);
    }
    EXPECT_EQ(linearized, 4u);
    kept.reset();
    kept_big.reset();
    EXPECT_TRUE(p.all_free());
}

TEST(sip_frames, no_header_mbuf_is_a_defined_drop_that_keeps_the_message) {
    pools p;
    const std::string text = "BYE sip:x SIP/2.0\r\n\r\n";
    sip_wire kept = write(p.msgs, text);
    std::vector<rte_mbuf*> drained;
    for (unsigned i = 0; i < 512; ++i) {
        rte_mbuf* m = rte_pktmbuf_alloc(p.headers);
        if (m == nullptr) {
            break;
        }
        drained.push_back(m);
    }
    ASSERT_EQ(rte_mempool_avail_count(p.headers), 0u);
    rte_mbuf* out[64];
    frame_outcome how{};
    uint64_t linearized = 0;
    EXPECT_EQ(build_sip_frames(kept, route, 1500, 1, true, p.frames(), out, 64, how, linearized), 0u);
    EXPECT_EQ(how, frame_outcome::no_mbuf);
    EXPECT_EQ(build_sip_frames(kept, route, 576, 1, true, p.frames(), out, 64, how, linearized), 0u)
        << "nor as fragments";
    EXPECT_EQ(how, frame_outcome::no_mbuf);
    EXPECT_EQ(build_sip_frames(sip_wire{}, route, 1500, 1, true, p.frames(), out, 64, how, linearized), 0u)
        << "an empty handle (its build failed) is never a frame";
    for (rte_mbuf* m : drained) {
        rte_pktmbuf_free(m);
    }
    EXPECT_EQ(kept.to_string(), text);
    EXPECT_TRUE(kept.unique()) << "nothing still references it";
    kept.reset();
    EXPECT_TRUE(p.all_free());
}
