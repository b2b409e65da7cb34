// HEPv3 as control/hep_encoding.hh writes it: every chunk a collector needs, with the right
// values, in the order position-reading receivers (sngrep) expect, and the 16-bit size limit.
// The lab's real collector (Kamailio's sipcapture) reads it in tests/lab/hep_tests.py.

#include "hep_encoding.hh"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hep_reader.hh"

using namespace sf::control;
using sf::test::read_hep;

namespace {

hep_datagram sample() {
    hep_datagram d;
    d.src_addr = 0xc000020a;  // 192.0.2.10
    d.dst_addr = 0xc0000201;  // 192.0.2.1
    d.src_port = 5062;
    d.dst_port = 5060;
    d.time_us = 1'796'521'084'634'665;
    d.capture_id = 2001;
    return d;
}

const std::string invite = "INVITE sip:bob@192.0.2.1 SIP/2.0\r\nCall-ID: a@192.0.2.10\r\nContent-Length: 0\r\n\r\n";

}  // namespace

TEST(hep_encoding, every_chunk_says_what_the_datagram_was) {
    std::string out;
    ASSERT_TRUE(hep_encode(sample(), invite, out));
    const auto h = read_hep(out);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->chunks.at(0x0001), std::string(1, '\x02'));  // AF_INET
    EXPECT_EQ(h->chunks.at(0x0002), std::string(1, '\x11'));  // UDP
    EXPECT_EQ(h->u32(0x0003), 0xc000020au);
    EXPECT_EQ(h->u32(0x0004), 0xc0000201u);
    EXPECT_EQ(h->u32(0x0007), 5062u);
    EXPECT_EQ(h->chunks.at(0x0007).size(), 2u);
    EXPECT_EQ(h->u32(0x0008), 5060u);
    EXPECT_EQ(h->u32(0x0009), 1'796'521'084u);
    EXPECT_EQ(h->u32(0x000a), 634'665u);
    EXPECT_EQ(h->chunks.at(0x000b), std::string(1, '\x01'));  // SIP
    EXPECT_EQ(h->u32(0x000c), 2001u);
    EXPECT_EQ(h->chunks.at(0x000f), invite);
    EXPECT_FALSE(h->has(0x000e));
    EXPECT_FALSE(h->has(0x0011));
}

TEST(hep_encoding, chunks_come_in_the_order_siptrace_and_captagent_write) {
    hep_datagram d = sample();
    d.auth_key = "s3cret";
    d.correlation_id = "a@192.0.2.10";
    std::string out;
    ASSERT_TRUE(hep_encode(d, invite, out));
    const auto h = read_hep(out);
    ASSERT_TRUE(h.has_value());
    const std::vector<uint16_t> expected{0x0001, 0x0002, 0x0007, 0x0008, 0x0009, 0x000a, 0x000b,
                                         0x000c, 0x0003, 0x0004, 0x000e, 0x0011, 0x000f};
    EXPECT_EQ(h->order, expected);
    EXPECT_EQ(h->chunks.at(0x000e), "s3cret");
    EXPECT_EQ(h->chunks.at(0x0011), "a@192.0.2.10");
}

TEST(hep_encoding, the_head_and_the_payload_written_apart_make_the_same_packet) {
    std::string whole, parts = "kept";
    ASSERT_TRUE(hep_encode(sample(), invite, whole));
    ASSERT_TRUE(hep_encode_head(sample(), invite.size(), parts));
    parts += invite;
    EXPECT_EQ(parts, "kept" + whole);  // appends: what `out` held stays
}

TEST(hep_encoding, a_packet_is_at_most_65535_octets) {
    hep_datagram d = sample();
    d.auth_key = "key";
    const size_t max = hep_max_payload(d);
    std::string out;
    ASSERT_TRUE(hep_encode(d, std::string(max, 'x'), out));
    EXPECT_EQ(out.size(), 65535u);
    ASSERT_TRUE(read_hep(out).has_value());
    std::string refused = "untouched";
    EXPECT_FALSE(hep_encode(d, std::string(max + 1, 'x'), refused));
    EXPECT_FALSE(hep_encode_head(d, max + 1, refused));
    EXPECT_EQ(refused, "untouched");
    // A longer key leaves less room.
    d.auth_key = "a-longer-key";
    EXPECT_EQ(hep_max_payload(d), max - 9);
}

TEST(hep_encoding, time_splits_into_seconds_and_microseconds) {
    hep_datagram d = sample();
    for (const uint64_t t : {uint64_t{0}, uint64_t{999'999}, uint64_t{1'000'000}, uint64_t{4'294'967'295'999'999}}) {
        d.time_us = t;
        std::string out;
        ASSERT_TRUE(hep_encode(d, "", out));
        const auto h = read_hep(out);
        ASSERT_TRUE(h.has_value());
        EXPECT_EQ(h->u32(0x0009), t / 1'000'000) << t;
        EXPECT_EQ(h->u32(0x000a), t % 1'000'000) << t;
        EXPECT_EQ(h->chunks.at(0x000f), "");
    }
}
