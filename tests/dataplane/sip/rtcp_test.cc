// RTCP report reader tests (dataplane/sip/rtcp): packets built byte by byte per RFC 3550
// 6.4.1 (SR) and 6.4.2 (RR), every field read checked, and the packets it must refuse.

#include "sip/rtcp.hh"
#include "rtcp_bytes.hh"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

using namespace sf::rtcp;

namespace {

using namespace sf::rtcp::test;

/// One reception report block's fields (RFC 3550 6.4.1), as they go on the wire.
struct block {
    uint32_t ssrc = 0;
    uint8_t fraction_lost = 0;
    uint32_t lost24 = 0;  ///< the 24-bit field as sent (two's complement)
    uint32_t highest_seq = 0;
    uint32_t jitter = 0;
    uint32_t lsr = 0;
    uint32_t dlsr = 0;
};

/// An SR or RR from explicit field values. The header's RC is blocks.size() unless `rc` is set,
/// its length field (words - 1) is computed unless `length_field` is set; `extension` bytes go
/// after the blocks (profile-specific extension), then `padding` bytes whose last one holds
/// `pad_count` (default: the padding's size) with the P bit set when `padding` > 0 or `p_bit`.
struct spec {
    uint8_t version = 2;
    uint8_t type = type_rr;
    uint32_t sender_ssrc = 0;
    uint32_t ntp_sec = 0, ntp_frac = 0, rtp_ts = 0, packets = 0, octets = 0;  // SR only
    std::vector<block> blocks;
    int rc = -1;
    int length_field = -1;
    size_t extension = 0;
    size_t padding = 0;
    int pad_count = -1;
    bool p_bit = false;
};

bytes build(const spec& s) {
    bytes b;
    const bool pad = s.padding > 0 || s.p_bit;
    const unsigned rc = s.rc >= 0 ? static_cast<unsigned>(s.rc) : static_cast<unsigned>(s.blocks.size());
    b.push_back(static_cast<uint8_t>(s.version << 6 | (pad ? 0x20 : 0) | (rc & 0x1f)));
    b.push_back(s.type);
    put16(b, 0);  // length: patched below
    put32(b, s.sender_ssrc);
    if (s.type == type_sr) {
        put32(b, s.ntp_sec);
        put32(b, s.ntp_frac);
        put32(b, s.rtp_ts);
        put32(b, s.packets);
        put32(b, s.octets);
    }
    for (const block& k : s.blocks) {
        put32(b, k.ssrc);
        b.push_back(k.fraction_lost);
        b.push_back(static_cast<uint8_t>(k.lost24 >> 16));
        b.push_back(static_cast<uint8_t>(k.lost24 >> 8));
        b.push_back(static_cast<uint8_t>(k.lost24));
        put32(b, k.highest_seq);
        put32(b, k.jitter);
        put32(b, k.lsr);
        put32(b, k.dlsr);
    }
    for (size_t i = 0; i < s.extension; ++i) {
        b.push_back(static_cast<uint8_t>(0xe0 + i));
    }
    for (size_t i = 0; i < s.padding; ++i) {
        b.push_back(0);
    }
    if (s.padding > 0) {
        b.back() = static_cast<uint8_t>(s.pad_count >= 0 ? s.pad_count : static_cast<int>(s.padding));
    }
    const unsigned length = s.length_field >= 0 ? static_cast<unsigned>(s.length_field)
                                                : static_cast<unsigned>(b.size() / 4 - 1);
    b[2] = static_cast<uint8_t>(length >> 8);
    b[3] = static_cast<uint8_t>(length);
    return b;
}

/// A whole packet of another type (SDES with one CNAME chunk, BYE for one SSRC, APP, XR).
bytes sdes(uint32_t ssrc) {
    bytes b{0x81, 202, 0, 3};
    put32(b, ssrc);
    const uint8_t cname[] = {1, 4, 'a', '@', 'b', 'c', 0, 0};  // CNAME "a@bc", end item, pad to a word
    b.insert(b.end(), cname, cname + sizeof cname);
    return b;
}

bytes bye(uint32_t ssrc) {
    bytes b{0x81, 203, 0, 1};
    put32(b, ssrc);
    return b;
}

bytes other(uint8_t type) {
    bytes b{0x80, type, 0, 2};
    put32(b, 0x11223344);
    put32(b, 0x55667788);
    return b;
}

bool read_bytes(const bytes& b, report& r) {
    return read(b.data(), b.size(), r);
}

bool read_bytes(const bytes& b) {
    report r;
    return read_bytes(b, r);
}

const block block_a{.ssrc = 0xdeadbeef,
                    .fraction_lost = 0x40,
                    .lost24 = 0x000123,
                    .highest_seq = 0x0001fffe,
                    .jitter = 0x00000345,
                    .lsr = 0x56789abc,
                    .dlsr = 0x00018000};

const block block_b{.ssrc = 0x01020304,
                    .fraction_lost = 0xff,
                    .lost24 = 0xfffffe,
                    .highest_seq = 0xfedcba98,
                    .jitter = 0xffffffff,
                    .lsr = 0xffffffff,
                    .dlsr = 0xffffffff};

void expect_block(const report& r, const block& k, int32_t lost) {
    EXPECT_TRUE(r.has_block);
    EXPECT_EQ(r.source_ssrc, k.ssrc);
    EXPECT_EQ(r.fraction_lost, k.fraction_lost);
    EXPECT_EQ(r.cumulative_lost, lost);
    EXPECT_EQ(r.highest_seq, k.highest_seq);
    EXPECT_EQ(r.jitter, k.jitter);
    EXPECT_EQ(r.lsr, k.lsr);
    EXPECT_EQ(r.dlsr, k.dlsr);
}

void expect_no_block(const report& r) {
    EXPECT_FALSE(r.has_block);
    EXPECT_EQ(r.source_ssrc, 0u);
    EXPECT_EQ(r.fraction_lost, 0u);
    EXPECT_EQ(r.cumulative_lost, 0);
    EXPECT_EQ(r.highest_seq, 0u);
    EXPECT_EQ(r.jitter, 0u);
    EXPECT_EQ(r.lsr, 0u);
    EXPECT_EQ(r.dlsr, 0u);
}

spec sr_one_block() {
    return spec{.type = type_sr,
                .sender_ssrc = 0xa1b2c3d4,
                .ntp_sec = 0x83aa7e80,
                .ntp_frac = 0x9abcdef0,
                .rtp_ts = 0x11111111,
                .packets = 0x22222222,
                .octets = 0x33333333,
                .blocks = {block_a}};
}

spec rr_one_block() {
    return spec{.type = type_rr, .sender_ssrc = 0x0badf00d, .blocks = {block_b}};
}

}  // namespace

// --- what is read ---

TEST(Rtcp, SenderReportWithOneBlock) {
    const bytes b = build(sr_one_block());
    ASSERT_EQ(b.size(), 8u + 20u + 24u);
    // The wire image of the header and the first bytes, spelled out once.
    EXPECT_EQ(b[0], 0x81);
    EXPECT_EQ(b[1], 200);
    EXPECT_EQ(b[2], 0);
    EXPECT_EQ(b[3], 12);  // 52 bytes = 13 words
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    EXPECT_EQ(r.sender_ssrc, 0xa1b2c3d4u);
    EXPECT_TRUE(r.sender_report);
    // Low 16 bits of the seconds, high 16 bits of the fraction.
    EXPECT_EQ(r.sr_ntp_middle, 0x7e809abcu);
    // The rest of the sender info, as a capture collector shows it.
    EXPECT_EQ(r.sr_ntp_sec, 0x83aa7e80u);
    EXPECT_EQ(r.sr_ntp_fraction, 0x9abcdef0u);
    EXPECT_EQ(r.sr_rtp_ts, 0x11111111u);
    EXPECT_EQ(r.sr_packets, 0x22222222u);
    EXPECT_EQ(r.sr_octets, 0x33333333u);
    EXPECT_EQ(r.report_count, 1u);
    expect_block(r, block_a, 0x123);
}

TEST(Rtcp, SenderReportNtpMiddleTakesOnlyTheMiddleBits) {
    spec s = sr_one_block();
    s.ntp_sec = 0xffff0001;
    s.ntp_frac = 0x0002ffff;
    report r;
    ASSERT_TRUE(read_bytes(build(s), r));
    EXPECT_EQ(r.sr_ntp_middle, 0x00010002u);
    s.ntp_sec = 0x0000ffff;
    s.ntp_frac = 0xffff0000;
    ASSERT_TRUE(read_bytes(build(s), r));
    EXPECT_EQ(r.sr_ntp_middle, 0xffffffffu);
}

TEST(Rtcp, ReceiverReportWithOneBlock) {
    const bytes b = build(rr_one_block());
    ASSERT_EQ(b.size(), 8u + 24u);
    EXPECT_EQ(b[0], 0x81);
    EXPECT_EQ(b[1], 201);
    EXPECT_EQ(b[3], 7);
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    EXPECT_EQ(r.sender_ssrc, 0x0badf00du);
    EXPECT_FALSE(r.sender_report);
    EXPECT_EQ(r.sr_ntp_middle, 0u);
    EXPECT_EQ(r.sr_ntp_sec, 0u) << "an RR has no sender info";
    EXPECT_EQ(r.sr_packets, 0u);
    EXPECT_EQ(r.report_count, 1u);
    expect_block(r, block_b, -2);
}

TEST(Rtcp, CumulativeLostIsSigned24Bit) {
    struct {
        uint32_t wire;
        int32_t value;
    } const cases[] = {{0x000000, 0},        {0x000001, 1},         {0x7fffff, 8388607}, {0x800000, -8388608},
                       {0xfffffe, -2},       {0xffffff, -1},        {0x123456, 0x123456}, {0x800001, -8388607}};
    for (const auto& c : cases) {
        for (uint8_t type : {type_sr, type_rr}) {
            spec s = type == type_sr ? sr_one_block() : rr_one_block();
            s.blocks[0].lost24 = c.wire;
            report r;
            ASSERT_TRUE(read_bytes(build(s), r)) << std::hex << c.wire;
            EXPECT_EQ(r.cumulative_lost, c.value) << std::hex << c.wire << " type " << std::dec << int{type};
            // The neighbouring fields are untouched by the sign extension.
            EXPECT_EQ(r.fraction_lost, s.blocks[0].fraction_lost);
            EXPECT_EQ(r.source_ssrc, s.blocks[0].ssrc);
            EXPECT_EQ(r.highest_seq, s.blocks[0].highest_seq);
        }
    }
}

TEST(Rtcp, SenderReportWithoutBlocks) {
    spec s = sr_one_block();
    s.blocks.clear();
    const bytes b = build(s);
    ASSERT_EQ(b.size(), 28u);
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    EXPECT_EQ(r.sender_ssrc, 0xa1b2c3d4u);
    EXPECT_TRUE(r.sender_report);
    EXPECT_EQ(r.sr_ntp_middle, 0x7e809abcu);
    expect_no_block(r);
}

TEST(Rtcp, ReceiverReportWithoutBlocks) {
    // The smallest report: an empty RR, header and SSRC only (RFC 3550 6.4.2).
    const bytes b = build(spec{.type = type_rr, .sender_ssrc = 0x01020304});
    ASSERT_EQ(b, (bytes{0x80, 201, 0, 1, 1, 2, 3, 4}));
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    EXPECT_EQ(r.sender_ssrc, 0x01020304u);
    EXPECT_FALSE(r.sender_report);
    EXPECT_EQ(r.sr_ntp_middle, 0u);
    expect_no_block(r);
}

TEST(Rtcp, TwoBlocksReadsTheFirst) {
    for (uint8_t type : {type_sr, type_rr}) {
        spec s = type == type_sr ? sr_one_block() : rr_one_block();
        s.blocks = {block_a, block_b};
        report r;
        ASSERT_TRUE(read_bytes(build(s), r)) << int{type};
        expect_block(r, block_a, 0x123);
        s.blocks = {block_b, block_a};
        ASSERT_TRUE(read_bytes(build(s), r)) << int{type};
        expect_block(r, block_b, -2);
    }
}

TEST(Rtcp, ThirtyOneBlocks) {
    spec s = rr_one_block();
    s.blocks.assign(31, block_a);
    s.blocks[0] = block_b;
    const bytes b = build(s);
    EXPECT_EQ(b[0] & 0x1f, 31);
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    EXPECT_EQ(r.report_count, 31u);
    expect_block(r, block_b, -2);
    // One byte short of the last block: refused.
    bytes cut = b;
    cut.pop_back();
    EXPECT_FALSE(read_bytes(cut));
}

TEST(Rtcp, CompoundReadsOnlyTheFirstPacket) {
    bytes b = build(sr_one_block());
    const bytes s = sdes(0xa1b2c3d4), y = bye(0xa1b2c3d4);
    b.insert(b.end(), s.begin(), s.end());
    b.insert(b.end(), y.begin(), y.end());
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    EXPECT_EQ(r.sender_ssrc, 0xa1b2c3d4u);
    EXPECT_TRUE(r.sender_report);
    EXPECT_EQ(r.sr_ntp_middle, 0x7e809abcu);
    expect_block(r, block_a, 0x123);

    // RR + SDES: the same.
    bytes rr = build(rr_one_block());
    rr.insert(rr.end(), s.begin(), s.end());
    ASSERT_TRUE(read_bytes(rr, r));
    EXPECT_EQ(r.sender_ssrc, 0x0badf00du);
    expect_block(r, block_b, -2);
}

TEST(Rtcp, ExtensionAfterBlocksIsSkipped) {
    // A profile-specific extension (RFC 3550 6.4.1) inside the packet's length.
    spec s = rr_one_block();
    s.extension = 8;
    const bytes b = build(s);
    EXPECT_EQ(b[3], 9);
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    expect_block(r, block_b, -2);
}

TEST(Rtcp, LengthShorterThanTheBufferIsFine) {
    // Trailing bytes past the length (the rest of a compound, or anything) are not read.
    bytes b = build(rr_one_block());
    for (int i = 0; i < 5; ++i) {
        b.push_back(0xff);
    }
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    expect_block(r, block_b, -2);

    // An RC=0 RR whose length is 1 word in a longer buffer: the bytes after it are not a block.
    bytes e = build(spec{.type = type_rr, .sender_ssrc = 7});
    const bytes tail = build(rr_one_block());
    e.insert(e.end(), tail.begin(), tail.end());
    ASSERT_TRUE(read_bytes(e, r));
    EXPECT_EQ(r.sender_ssrc, 7u);
    expect_no_block(r);
}

TEST(Rtcp, OutIsResetBetweenReads) {
    report r;
    ASSERT_TRUE(read_bytes(build(sr_one_block()), r));
    ASSERT_TRUE(r.has_block);
    ASSERT_TRUE(r.sender_report);
    // A zero-block RR: nothing of the SR above may remain.
    ASSERT_TRUE(read_bytes(build(spec{.type = type_rr, .sender_ssrc = 0x55}), r));
    EXPECT_EQ(r.sender_ssrc, 0x55u);
    EXPECT_FALSE(r.sender_report);
    EXPECT_EQ(r.sr_ntp_middle, 0u);
    expect_no_block(r);

    // And a zero-block SR after an RR with a block.
    ASSERT_TRUE(read_bytes(build(rr_one_block()), r));
    ASSERT_TRUE(r.has_block);
    spec s = sr_one_block();
    s.blocks.clear();
    ASSERT_TRUE(read_bytes(build(s), r));
    EXPECT_TRUE(r.sender_report);
    expect_no_block(r);
}

TEST(Rtcp, OutIsPlainValuesOnRefusal) {
    // `out` is unspecified after a refusal, but a later good read must still fill it in full.
    report r;
    ASSERT_TRUE(read_bytes(build(sr_one_block()), r));
    EXPECT_FALSE(read_bytes(bytes{0x80, 201, 0}, r));
    ASSERT_TRUE(read_bytes(build(spec{.type = type_rr, .sender_ssrc = 9}), r));
    EXPECT_EQ(r.sender_ssrc, 9u);
    EXPECT_FALSE(r.sender_report);
    expect_no_block(r);
}

// --- padding (RFC 3550 6.4.1: the last octet of the padding counts it) ---

TEST(Rtcp, PaddingWithAValidCount) {
    for (size_t pad : {size_t{1}, size_t{4}, size_t{8}}) {
        spec s = rr_one_block();
        // Keep the packet a whole number of words: pad the extension room up.
        s.extension = (4 - pad % 4) % 4;
        s.padding = pad;
        const bytes b = build(s);
        ASSERT_EQ(b.size() % 4, 0u);
        EXPECT_EQ(b[0] & 0x20, 0x20);
        report r;
        ASSERT_TRUE(read_bytes(b, r)) << pad;
        expect_block(r, block_b, -2);
    }
    // Padding that fills all of the room after the blocks exactly.
    spec s = sr_one_block();
    s.padding = 4;
    report r;
    ASSERT_TRUE(read_bytes(build(s), r));
    EXPECT_TRUE(r.sender_report);
    expect_block(r, block_a, 0x123);
    // A zero-block RR padded by 4.
    ASSERT_TRUE(read_bytes(build(spec{.type = type_rr, .sender_ssrc = 3, .padding = 4}), r));
    EXPECT_EQ(r.sender_ssrc, 3u);
    expect_no_block(r);
}

TEST(Rtcp, PaddingCountIsReadAtTheEndOfThePacketNotTheBuffer) {
    // A padded RR followed by another packet: the count is the padded packet's last octet.
    bytes b = build(spec{.type = type_rr, .sender_ssrc = 3, .blocks = {block_a}, .padding = 4});
    const bytes y = bye(3);  // ends in 0x03: would be a count of 3
    b.insert(b.end(), y.begin(), y.end());
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    expect_block(r, block_a, 0x123);
    // And the other way round: a packet with a bad count, followed by bytes that would pass.
    bytes bad = build(spec{.type = type_rr, .sender_ssrc = 3, .blocks = {block_a}, .padding = 4, .pad_count = 0});
    bad.insert(bad.end(), y.begin(), y.end());
    EXPECT_FALSE(read_bytes(bad));
}

TEST(Rtcp, PaddingCountZeroIsRefused) {
    spec s = rr_one_block();
    s.padding = 4;
    s.pad_count = 0;
    EXPECT_FALSE(read_bytes(build(s)));
    s = sr_one_block();
    s.padding = 8;
    s.pad_count = 0;
    EXPECT_FALSE(read_bytes(build(s)));
}

TEST(Rtcp, PaddingCountBeyondTheRoomAfterTheBlocksIsRefused) {
    // Room after the block: 4 bytes of padding. A count of 5 reaches into the block.
    spec s = rr_one_block();
    s.padding = 4;
    s.pad_count = 5;
    EXPECT_FALSE(read_bytes(build(s)));
    s.pad_count = 4;
    EXPECT_TRUE(read_bytes(build(s)));
    s.pad_count = 255;
    EXPECT_FALSE(read_bytes(build(s)));
    // SR, one block, 8 bytes room: 8 fits, 9 reaches into the block.
    s = sr_one_block();
    s.padding = 8;
    s.pad_count = 8;
    EXPECT_TRUE(read_bytes(build(s)));
    s.pad_count = 9;
    EXPECT_FALSE(read_bytes(build(s)));
    // A zero-block SR: the count may not reach into the sender info.
    s = sr_one_block();
    s.blocks.clear();
    s.padding = 4;
    s.pad_count = 4;
    EXPECT_TRUE(read_bytes(build(s)));
    s.pad_count = 5;
    EXPECT_FALSE(read_bytes(build(s)));
    // P bit with no room at all after the blocks: the last octet is the block's DLSR.
    spec t = rr_one_block();
    t.p_bit = true;
    t.blocks[0].dlsr = 0x00000001;  // count 1, but no padding room
    EXPECT_FALSE(read_bytes(build(t)));
    t.blocks[0].dlsr = 0;  // count 0
    EXPECT_FALSE(read_bytes(build(t)));
    // The same for an empty RR: its last octet is the SSRC's.
    EXPECT_FALSE(read_bytes(build(spec{.type = type_rr, .sender_ssrc = 4, .p_bit = true})));
}

// --- what is refused ---

TEST(Rtcp, RefusesShortInputAndNull) {
    const bytes b = build(spec{.type = type_rr, .sender_ssrc = 0x01020304});
    ASSERT_EQ(b.size(), 8u);
    report r;
    EXPECT_TRUE(read(b.data(), 8, r));
    for (size_t n = 0; n < 8; ++n) {
        EXPECT_FALSE(read(b.data(), n, r)) << n;
    }
    EXPECT_FALSE(read(nullptr, 0, r));
    EXPECT_FALSE(read(nullptr, 8, r));
    EXPECT_FALSE(read(nullptr, 1500, r));
}

TEST(Rtcp, RefusesEveryTruncationOfAGoodPacket) {
    for (const spec& s : {sr_one_block(), rr_one_block()}) {
        const bytes b = build(s);
        ASSERT_TRUE(read_bytes(b));
        for (size_t n = 0; n < b.size(); ++n) {
            report r;
            EXPECT_FALSE(read(b.data(), n, r)) << n;
        }
    }
}

TEST(Rtcp, RefusesOtherVersions) {
    for (uint8_t v : {0, 1, 3}) {
        for (const spec& base : {sr_one_block(), rr_one_block(), spec{.type = type_rr}}) {
            spec s = base;
            s.version = v;
            EXPECT_FALSE(read_bytes(build(s))) << int{v};
        }
    }
}

TEST(Rtcp, RefusesOtherFirstPacketTypes) {
    EXPECT_FALSE(read_bytes(sdes(1)));
    EXPECT_FALSE(read_bytes(bye(1)));
    for (uint8_t type : {uint8_t{202}, uint8_t{203}, uint8_t{204}, uint8_t{205}, uint8_t{206}, uint8_t{207},
                         uint8_t{199}, uint8_t{0}, uint8_t{96}, uint8_t{8}, uint8_t{255}}) {
        EXPECT_FALSE(read_bytes(other(type))) << int{type};
        // An RR's or SR's body under another type.
        spec s = rr_one_block();
        s.type = type;
        EXPECT_FALSE(read_bytes(build(s))) << int{type};
    }
    // A compound that starts with SDES and has an RR after it: not read (RFC 3550 6.1).
    bytes b = sdes(1);
    const bytes rr = build(rr_one_block());
    b.insert(b.end(), rr.begin(), rr.end());
    EXPECT_FALSE(read_bytes(b));
    // An RTP packet (version 2, PT 0 / 96 with and without the marker) with a 12-byte header.
    for (uint8_t second : {uint8_t{0x00}, uint8_t{0x60}, uint8_t{0x80}, uint8_t{0xe0}}) {
        bytes rtp{0x80, second, 0x12, 0x34, 0, 0, 0x10, 0, 0xca, 0xfe, 0xba, 0xbe};
        rtp.insert(rtp.end(), 160, 0xd5);
        EXPECT_FALSE(read_bytes(rtp)) << int{second};
    }
}

TEST(Rtcp, RefusesALengthBeyondTheInput) {
    for (const spec& base : {sr_one_block(), rr_one_block()}) {
        spec s = base;
        const bytes good = build(s);
        s.length_field = static_cast<int>(good.size() / 4);  // one word more than there is
        EXPECT_FALSE(read_bytes(build(s)));
        s.length_field = 0xffff;
        EXPECT_FALSE(read_bytes(build(s)));
    }
    // An empty RR claiming two words.
    EXPECT_FALSE(read_bytes(bytes{0x80, 201, 0, 2, 1, 2, 3, 4, 5, 6, 7}));
    EXPECT_TRUE(read_bytes(bytes{0x80, 201, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(Rtcp, RefusesALengthTooShortForTheHeader) {
    // Length 0: a 4-byte packet, no room for the sender SSRC, whatever the buffer holds.
    EXPECT_FALSE(read_bytes(bytes{0x80, 201, 0, 0, 1, 2, 3, 4}));
    EXPECT_FALSE(read_bytes(bytes{0x80, 200, 0, 0, 1, 2, 3, 4}));
}

TEST(Rtcp, RefusesBlocksBeyondTheLength) {
    // RC=2 with room for one block (the buffer has the second, the length does not).
    spec s = rr_one_block();
    s.blocks = {block_a, block_b};
    s.length_field = 7;  // 8 + 24 bytes
    EXPECT_FALSE(read_bytes(build(s)));
    // RC=2 with one block's bytes.
    s = rr_one_block();
    s.rc = 2;
    EXPECT_FALSE(read_bytes(build(s)));
    s = sr_one_block();
    s.rc = 2;
    EXPECT_FALSE(read_bytes(build(s)));
    // RC=1 with none.
    EXPECT_FALSE(read_bytes(build(spec{.type = type_rr, .rc = 1})));
    // RC=31, one block.
    s = rr_one_block();
    s.rc = 31;
    EXPECT_FALSE(read_bytes(build(s)));
    // RC=1 and one block, but the block's last word is cut by the length.
    s = rr_one_block();
    s.length_field = 6;
    EXPECT_FALSE(read_bytes(build(s)));
}

TEST(Rtcp, RefusesASenderReportTooShortForItsSenderInfo) {
    // An SR header with RR-sized content: 8 bytes, or 8 + 16 (one word short of the sender info).
    EXPECT_FALSE(read_bytes(bytes{0x80, 200, 0, 1, 1, 2, 3, 4}));
    bytes b{0x80, 200, 0, 5, 1, 2, 3, 4};
    b.insert(b.end(), 16, 0x77);
    EXPECT_FALSE(read_bytes(b));
    b.insert(b.end(), 4, 0x77);  // now 28 bytes, but the length still says 24
    EXPECT_FALSE(read_bytes(b));
    b[3] = 6;  // 28 bytes: the whole sender info
    EXPECT_TRUE(read_bytes(b));
    // An SR with one block whose length covers the sender info but not the block: the RR's
    // 32-byte size is not enough for an SR.
    spec s = sr_one_block();
    s.length_field = 7;
    EXPECT_FALSE(read_bytes(build(s)));
    s.length_field = 11;  // one word short
    EXPECT_FALSE(read_bytes(build(s)));
}

TEST(Rtcp, SameBytesSameAnswer) {
    // read() keeps no state: the same bytes give the same report, refusals included.
    const bytes good = build(sr_one_block());
    const bytes bad = bytes{0x80, 202, 0, 1, 1, 2, 3, 4};
    for (int i = 0; i < 3; ++i) {
        report r;
        ASSERT_TRUE(read_bytes(good, r));
        EXPECT_EQ(r.sr_ntp_middle, 0x7e809abcu);
        expect_block(r, block_a, 0x123);
        EXPECT_FALSE(read_bytes(bad));
    }
}

// ------------------------------------------------------------------ RTCP XR VoIP metrics (RFC 3611 4.7)

namespace {

/// An XR packet (PT 207) from `ssrc` with the given report blocks, each already whole.
bytes xr_packet(uint32_t ssrc, const std::vector<bytes>& blocks) {
    bytes b{0x80, type_xr, 0, 0};
    put32(b, ssrc);
    for (const bytes& k : blocks) {
        b.insert(b.end(), k.begin(), k.end());
    }
    b[2] = static_cast<uint8_t>((b.size() / 4 - 1) >> 8);
    b[3] = static_cast<uint8_t>(b.size() / 4 - 1);
    return b;
}

/// A VoIP Metrics block: loss 26/256, discard 3/256, round trip 42 ms, R 80, MOS-LQ 4.1, MOS-CQ 3.9.
bytes voip_metrics(uint8_t mos_lq = 41, uint8_t mos_cq = 39) {
    bytes b{xr_voip_metrics, 0, 0, 8};
    put32(b, 0xb0b);
    b.insert(b.end(), {26, 3, 0, 0});          // loss, discard, burst and gap density
    put16(b, 0), put16(b, 0);                  // burst, gap duration
    put16(b, 42), put16(b, 5);                 // round trip, end system delay
    b.insert(b.end(), {127, 127, 127, 16});    // signal, noise, RERL, Gmin
    b.insert(b.end(), {80, 127, mos_lq, mos_cq});  // R, external R, MOS-LQ, MOS-CQ
    b.insert(b.end(), {0, 0}), put16(b, 40);   // RX config, reserved, JB nominal
    put16(b, 80), put16(b, 120);               // JB maximum, absolute maximum
    return b;
}

/// Another XR block type (4: receiver reference time), which is skipped.
bytes reference_time() {
    bytes b{4, 0, 0, 2};
    put32(b, 0x11111111), put32(b, 0x22222222);
    return b;
}

bytes compound(std::initializer_list<bytes> parts) {
    bytes all;
    for (const bytes& p : parts) {
        all.insert(all.end(), p.begin(), p.end());
    }
    return all;
}

}  // namespace

TEST(Rtcp, XrVoipMetricsAfterTheReportAreRead) {
    const bytes b = compound({build(rr_one_block()), sdes(7), xr_packet(7, {reference_time(), voip_metrics()})});
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    EXPECT_TRUE(r.has_block) << "the RR is read as before";
    ASSERT_TRUE(r.has_voip_metrics);
    EXPECT_EQ(r.xr_loss_rate, 26);
    EXPECT_EQ(r.xr_discard_rate, 3);
    EXPECT_EQ(r.xr_round_trip_ms, 42);
    EXPECT_EQ(r.xr_r_factor, 80);
    EXPECT_EQ(r.xr_mos_lq, 41);
    EXPECT_EQ(r.xr_mos_cq, 39);
}

TEST(Rtcp, AReportWithoutXrHasNoMetrics) {
    report r;
    ASSERT_TRUE(read_bytes(compound({build(rr_one_block()), sdes(7)}), r));
    EXPECT_FALSE(r.has_voip_metrics);
    EXPECT_EQ(r.xr_mos_cq, xr_unavailable);
    EXPECT_EQ(r.xr_r_factor, xr_unavailable);
}

TEST(Rtcp, ABrokenXrLeavesTheReportStanding) {
    const bytes good = compound({build(rr_one_block()), xr_packet(7, {voip_metrics()})});
    report r;
    // Cut anywhere inside the XR packet: the RR still reads, the metrics do not.
    const size_t rr = build(rr_one_block()).size();
    for (size_t len = rr; len < good.size(); ++len) {
        ASSERT_TRUE(read_bytes(bytes(good.begin(), good.begin() + static_cast<long>(len)), r)) << len;
        EXPECT_FALSE(r.has_voip_metrics) << len;
        EXPECT_TRUE(r.has_block) << len;
    }
    // A block whose length runs past its packet ends the walk.
    bytes bad = good;
    bad[rr + 8 + 3] = 9;
    ASSERT_TRUE(read_bytes(bad, r));
    EXPECT_FALSE(r.has_voip_metrics);
    // A VoIP Metrics block too short for its fields is not read; a later one is.
    bytes short_block{xr_voip_metrics, 0, 0, 1, 0, 0, 0, 1};
    ASSERT_TRUE(read_bytes(compound({build(rr_one_block()), xr_packet(7, {short_block, voip_metrics(30, 127)})}), r));
    ASSERT_TRUE(r.has_voip_metrics);
    EXPECT_EQ(r.xr_mos_lq, 30);
    EXPECT_EQ(r.xr_mos_cq, xr_unavailable);
    // A version other than 2 after the report ends the walk too.
    bytes v1 = compound({build(rr_one_block()), xr_packet(7, {voip_metrics()})});
    v1[rr] = 0x40;
    ASSERT_TRUE(read_bytes(v1, r));
    EXPECT_FALSE(r.has_voip_metrics);
}

TEST(Rtcp, WhatRtpsimSendsWithXrReadsAsItMeant) {
    // A compound tools/rtpsim --rtcp mux --xr sent in its self-test (SR + SDES + XR), byte for byte:
    // its XR says loss 17/256, round trip 400 ms, R 63, MOS-LQ 3.7, MOS-CQ 3.3.
    const char* hex =
        "81c8000c00005151eebde8d710ba09c4d280bf960000002e00001cc00000abcd080000030000041500000001000000000000"
        "000081ca000600005151011072747073696d403132372e302e302e31000080cf000a00005151070000080000abcd1100000000"
        "000000019000007f7f7f103f7f25210000000000000000";
    bytes b;
    for (const char* h = hex; h[0] != 0 && h[1] != 0; h += 2) {
        b.push_back(static_cast<uint8_t>(std::stoi(std::string(h, 2), nullptr, 16)));
    }
    ASSERT_EQ(b.size(), 124u);
    report r;
    ASSERT_TRUE(read_bytes(b, r));
    EXPECT_TRUE(r.sender_report);
    EXPECT_EQ(r.sender_ssrc, 0x5151u);
    ASSERT_TRUE(r.has_block);
    EXPECT_EQ(r.source_ssrc, 0xabcdu);
    EXPECT_EQ(r.cumulative_lost, 3);
    ASSERT_TRUE(r.has_voip_metrics);
    EXPECT_EQ(r.xr_loss_rate, 17);
    EXPECT_EQ(r.xr_round_trip_ms, 400);
    EXPECT_EQ(r.xr_r_factor, 63);
    EXPECT_EQ(r.xr_mos_lq, 37);
    EXPECT_EQ(r.xr_mos_cq, 33);
}
