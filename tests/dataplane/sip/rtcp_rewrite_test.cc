// RTCP rename tests (dataplane/sip/rtcp_rewrite): compound packets built byte by byte from the
// RFCs' layouts (RFC 3550 6.4-6.7, RFC 4585 6.1-6.3, RFC 3611 4), rewritten, and compared with
// the same packets built again from the renamed field values: whatever the header does not name
// must come out as it went in. Every rewrite also checks the UDP checksum adjustment against a
// checksum recomputed from scratch; where a compound starts with a report, rtcp::read() must
// read it after as before, but for the renamed fields.

#include "sip/rtcp.hh"
#include "sip/rtcp_rewrite.hh"
#include "rtcp_bytes.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace sf::rtcp;

namespace {

using namespace sf::rtcp::test;

uint32_t get32(const bytes& b, size_t at) {
    return uint32_t{b.at(at)} << 24 | uint32_t{b.at(at + 1)} << 16 | uint32_t{b.at(at + 2)} << 8 | b.at(at + 3);
}

void set32(bytes& b, size_t at, uint32_t v) {
    b.at(at) = static_cast<uint8_t>(v >> 24);
    b.at(at + 1) = static_cast<uint8_t>(v >> 16);
    b.at(at + 2) = static_cast<uint8_t>(v >> 8);
    b.at(at + 3) = static_cast<uint8_t>(v);
}

bytes cat(std::initializer_list<bytes> parts) {
    bytes all;
    for (const bytes& p : parts) {
        all.insert(all.end(), p.begin(), p.end());
    }
    return all;
}

/// The common header (RFC 3550 6.4.1): V=2, P, a 5-bit count, PT and a length patched by finish().
bytes header(uint8_t count, uint8_t type, bool padded = false) {
    return bytes{static_cast<uint8_t>(0x80 | (padded ? 0x20 : 0) | (count & 0x1f)), type, 0, 0};
}

/// Pads `b` with `padding` bytes (the last one counting them, P bit set) and writes its length
/// field: the packet's 32-bit words minus one.
bytes finish(bytes b, size_t padding = 0) {
    if (padding > 0) {
        b[0] |= 0x20;
        b.insert(b.end(), padding - 1, 0);
        b.push_back(static_cast<uint8_t>(padding));
    }
    const size_t words = b.size() / 4 - 1;
    b[2] = static_cast<uint8_t>(words >> 8);
    b[3] = static_cast<uint8_t>(words);
    return b;
}

// ---------------------------------------------------------------- SR and RR (RFC 3550 6.4)

struct sender_info {
    uint32_t ntp_sec = 0x83aa7e80;
    uint32_t ntp_frac = 0x9abcdef0;
    uint32_t rtp_ts = 0x11111111;
    uint32_t packets = 0x64;
    uint32_t octets = 0x3e80;
};

struct block {
    uint32_t ssrc = 0;
    uint8_t fraction = 0x40;
    uint32_t lost24 = 0x000123;
    uint32_t ext_seq = 0x0001fffe;
    uint32_t jitter = 0x345;
    uint32_t lsr = 0x56789abc;
    uint32_t dlsr = 0x00018000;
};

void put_block(bytes& b, const block& k) {
    put32(b, k.ssrc);
    put32(b, uint32_t{k.fraction} << 24 | (k.lost24 & 0xffffff));
    put32(b, k.ext_seq);
    put32(b, k.jitter);
    put32(b, k.lsr);
    put32(b, k.dlsr);
}

bytes sr(uint32_t ssrc, const sender_info& si, const std::vector<block>& blocks = {}, size_t padding = 0) {
    bytes b = header(static_cast<uint8_t>(blocks.size()), type_sr);
    put32(b, ssrc);
    put32(b, si.ntp_sec);
    put32(b, si.ntp_frac);
    put32(b, si.rtp_ts);
    put32(b, si.packets);
    put32(b, si.octets);
    for (const block& k : blocks) {
        put_block(b, k);
    }
    return finish(b, padding);
}

/// An RR; `extension` words (profile-specific, RFC 3550 6.4.1) follow the blocks.
bytes rr(uint32_t ssrc, const std::vector<block>& blocks = {}, const std::vector<uint32_t>& extension = {}) {
    bytes b = header(static_cast<uint8_t>(blocks.size()), type_rr);
    put32(b, ssrc);
    for (const block& k : blocks) {
        put_block(b, k);
    }
    for (uint32_t w : extension) {
        put32(b, w);
    }
    return finish(b);
}

constexpr size_t sr_block_at = 28;  // the first report block of an SR
constexpr size_t rr_block_at = 8;   // of an RR
constexpr size_t block_bytes = 24;
constexpr size_t ext_seq_in_block = 8;

// ---------------------------------------------------------------- SDES, BYE, APP (RFC 3550 6.5-6.7)

struct item {
    uint8_t type;
    std::string text;
};

struct chunk {
    uint32_t ssrc;
    std::vector<item> items;
};

/// Each chunk: its SSRC, its items, then the null item and null octets up to the next word
/// (one to four of them, RFC 3550 6.5).
bytes sdes(const std::vector<chunk>& chunks, size_t padding = 0) {
    bytes b = header(static_cast<uint8_t>(chunks.size()), 202);
    for (const chunk& c : chunks) {
        put32(b, c.ssrc);
        for (const item& i : c.items) {
            b.push_back(i.type);
            b.push_back(static_cast<uint8_t>(i.text.size()));
            b.insert(b.end(), i.text.begin(), i.text.end());
        }
        do {
            b.push_back(0);
        } while (b.size() % 4 != 0);
    }
    return finish(b, padding);
}

bytes bye(const std::vector<uint32_t>& ssrcs, const std::string& reason = "") {
    bytes b = header(static_cast<uint8_t>(ssrcs.size()), 203);
    for (uint32_t s : ssrcs) {
        put32(b, s);
    }
    if (!reason.empty()) {
        b.push_back(static_cast<uint8_t>(reason.size()));
        b.insert(b.end(), reason.begin(), reason.end());
        while (b.size() % 4 != 0) {
            b.push_back(0);
        }
    }
    return finish(b);
}

bytes app(uint8_t subtype, uint32_t ssrc, const char (&name)[5], const std::vector<uint32_t>& data) {
    bytes b = header(subtype, 204);
    put32(b, ssrc);
    b.insert(b.end(), name, name + 4);
    for (uint32_t w : data) {
        put32(b, w);
    }
    return finish(b);
}

// ---------------------------------------------------------------- feedback (RFC 4585 6.1)

constexpr uint8_t type_rtpfb = 205;
constexpr uint8_t type_psfb = 206;

bytes feedback(uint8_t type, uint8_t fmt, uint32_t sender, uint32_t media, const bytes& fci = {},
               size_t padding = 0) {
    bytes b = header(fmt, type);
    put32(b, sender);
    put32(b, media);
    b.insert(b.end(), fci.begin(), fci.end());
    return finish(b, padding);
}

struct nack_entry {
    uint16_t pid;
    uint16_t blp;
};

/// Generic NACK FCI (RFC 4585 6.2.1): PID and BLP, 16 bits each.
bytes nack_fci(const std::vector<nack_entry>& entries) {
    bytes b;
    for (const nack_entry& e : entries) {
        put16(b, e.pid);
        put16(b, e.blp);
    }
    return b;
}

// ---------------------------------------------------------------- XR (RFC 3611)

bytes xr(uint32_t ssrc, const std::vector<bytes>& blocks) {
    bytes b = header(0, type_xr);
    put32(b, ssrc);
    for (const bytes& k : blocks) {
        b.insert(b.end(), k.begin(), k.end());
    }
    return finish(b);
}

/// A report block: BT, type-specific byte, length (words after the 4-byte header), body.
bytes xr_block(uint8_t type, uint8_t specific, const bytes& body) {
    bytes b{type, specific};
    put16(b, static_cast<uint32_t>(body.size() / 4));
    b.insert(b.end(), body.begin(), body.end());
    return b;
}

/// Blocks 1-3 and 6 open alike: SSRC of source, begin_seq, end_seq; `rest` follows.
bytes seq_block(uint8_t type, uint8_t specific, uint32_t ssrc, uint16_t begin, uint16_t end, const bytes& rest) {
    bytes body;
    put32(body, ssrc);
    put16(body, begin);
    put16(body, end);
    body.insert(body.end(), rest.begin(), rest.end());
    return xr_block(type, specific, body);
}

/// Block 1 (loss RLE) or 2 (duplicate RLE) with two chunks.
bytes rle_block(uint8_t type, uint32_t ssrc, uint16_t begin, uint16_t end) {
    bytes chunks;
    put16(chunks, 0x4005);  // run length chunk: 5 received
    put16(chunks, 0xa5a5);  // bit vector chunk
    return seq_block(type, 0x03, ssrc, begin, end, chunks);
}

/// Block 3: one receipt time per packet in [begin, end).
bytes receipt_times_block(uint32_t ssrc, uint16_t begin, uint16_t end, const std::vector<uint32_t>& times) {
    bytes rest;
    for (uint32_t t : times) {
        put32(rest, t);
    }
    return seq_block(3, 0, ssrc, begin, end, rest);
}

/// Block 4: receiver reference time, an NTP timestamp.
bytes rrtr_block(uint32_t ntp_sec, uint32_t ntp_frac) {
    bytes body;
    put32(body, ntp_sec);
    put32(body, ntp_frac);
    return xr_block(4, 0, body);
}

struct dlrr_sub {
    uint32_t ssrc;
    uint32_t lrr;
    uint32_t dlrr;
};

/// Block 5: DLRR, three words per receiver.
bytes dlrr_block(const std::vector<dlrr_sub>& subs) {
    bytes body;
    for (const dlrr_sub& s : subs) {
        put32(body, s.ssrc);
        put32(body, s.lrr);
        put32(body, s.dlrr);
    }
    return xr_block(5, 0, body);
}

/// Block 6: statistics summary, nine words after the header.
bytes stats_block(uint32_t ssrc, uint16_t begin, uint16_t end) {
    bytes rest;
    for (uint32_t w : {17u, 2u, 10u, 90u, 40u, 7u, 0x40404040u}) {  // lost, dup, jitter min/max/mean/dev, TTLs
        put32(rest, w);
    }
    return seq_block(6, 0xf0, ssrc, begin, end, rest);
}

/// Block 7: VoIP metrics (loss 26/256, discard 3/256, round trip 42 ms, R 80, MOS-LQ 4.1, MOS-CQ 3.9).
bytes voip_metrics_block(uint32_t ssrc) {
    bytes body;
    put32(body, ssrc);
    body.insert(body.end(), {26, 3, 0, 0});
    put16(body, 0), put16(body, 0);
    put16(body, 42), put16(body, 5);
    body.insert(body.end(), {127, 127, 127, 16});
    body.insert(body.end(), {80, 127, 41, 39});
    body.insert(body.end(), {0, 0}), put16(body, 40);
    put16(body, 80), put16(body, 120);
    return xr_block(xr_voip_metrics, 0, body);
}

// ---------------------------------------------------------------- the rewrite and its checks

stream_rename rename(uint32_t from, uint32_t to, uint16_t seq_add = 0, uint32_t ts_add = 0) {
    return stream_rename{.on = true, .from = from, .to = to, .seq_add = seq_add, .ts_add = ts_add};
}

const stream_rename off{};

/// The caller's view of the checksum (header): the datagram's checksum over `before`, with
/// other changes already summed into `start`, adjusted by `csum_sum` (which started as `start`
/// and had rewrite()'s words added to it) must be the checksum of `after` with those other
/// changes. Ones' complement: 0x0000 and 0xffff are the same number, and rewrite() may fold the
/// sum on its way (the same number too).
::testing::AssertionResult checksum_follows(const bytes& before, const bytes& after, uint32_t start,
                                            uint32_t csum_sum) {
    const auto old_checksum = static_cast<uint16_t>(~fold(ones_sum(before.data(), before.size())));
    const auto recomputed = static_cast<uint16_t>(~fold(ones_sum(after.data(), after.size()) + start));
    const auto adjusted = static_cast<uint16_t>(~fold(uint64_t{static_cast<uint16_t>(~old_checksum)} + csum_sum));
    if (adjusted % 0xffff == recomputed % 0xffff) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << std::hex << "checksum " << old_checksum << " adjusted by " << csum_sum
                                         << " (from " << start << ") gives " << adjusted << ", recomputed "
                                         << recomputed;
}

constexpr uint32_t csum_start = 0x00012345;  ///< csum_sum before each rewrite: added to, not reset

struct outcome {
    bytes out;
    unsigned count = 0;
    uint32_t csum_sum = 0;  ///< csum_sum after the rewrite (it started as csum_start)
};

/// Rewrites a copy of `in` (its first `len` bytes; all of them by default) and checks the
/// checksum adjustment.
outcome rewritten(const bytes& in, const stream_rename& sent, const stream_rename& heard, size_t len = SIZE_MAX) {
    outcome o{.out = in, .csum_sum = csum_start};
    o.count = rewrite(o.out.data(), len == SIZE_MAX ? in.size() : len, sent, heard, o.csum_sum);
    EXPECT_EQ(o.out.size(), in.size());
    EXPECT_TRUE(checksum_follows(in, o.out, csum_start, o.csum_sum));
    return o;
}

::testing::AssertionResult same_bytes(const bytes& got, const bytes& want) {
    if (got.size() != want.size()) {
        return ::testing::AssertionFailure() << "size " << got.size() << ", want " << want.size();
    }
    for (size_t i = 0; i < got.size(); ++i) {
        if (got[i] != want[i]) {
            return ::testing::AssertionFailure() << "first difference at byte " << i << std::hex << ": 0x"
                                                 << int{got[i]} << ", want 0x" << int{want[i]};
        }
    }
    return ::testing::AssertionSuccess();
}

/// The extended highest sequence number as the header promises it: shifted as a 32-bit number
/// by seq_add taken as a signed 16-bit number, so its low 16 bits + seq_add exactly and the
/// cycles as they were or one off.
void expect_ext_seq(uint32_t before, uint32_t after, uint16_t seq_add) {
    EXPECT_EQ(after & 0xffff, (before + seq_add) & 0xffff) << std::hex << before << " -> " << after;
    const auto cycles = static_cast<uint16_t>((after >> 16) - (before >> 16));
    EXPECT_TRUE(cycles == 0 || cycles == 1 || cycles == 0xffff) << std::hex << before << " -> " << after;
    const int32_t shift = seq_add < 0x8000 ? seq_add : int32_t{seq_add} - 0x10000;
    EXPECT_EQ(after, before + static_cast<uint32_t>(shift)) << std::hex << before << " + " << seq_add;
}

/// rtcp::read() of the packets before and after: accepted alike, the renamed SSRCs and sequence
/// number as the renames say, the rest the same.
void expect_reads_alike(const bytes& before, const bytes& after, const stream_rename& sent,
                        const stream_rename& heard) {
    report a, b;
    const bool ok_a = read(before.data(), before.size(), a);
    const bool ok_b = read(after.data(), after.size(), b);
    ASSERT_EQ(ok_a, ok_b);
    if (!ok_a) {
        return;
    }
    EXPECT_EQ(b.sender_ssrc, sent.on && a.sender_ssrc == sent.from ? sent.to : a.sender_ssrc);
    EXPECT_EQ(b.sender_report, a.sender_report);
    EXPECT_EQ(b.sr_ntp_middle, a.sr_ntp_middle);
    EXPECT_EQ(b.has_block, a.has_block);
    const bool heard_block = a.has_block && heard.on && a.source_ssrc == heard.from;
    EXPECT_EQ(b.source_ssrc, heard_block ? heard.to : a.source_ssrc);
    if (heard_block) {
        expect_ext_seq(a.highest_seq, b.highest_seq, heard.seq_add);
    } else {
        EXPECT_EQ(b.highest_seq, a.highest_seq);
    }
    EXPECT_EQ(b.fraction_lost, a.fraction_lost);
    EXPECT_EQ(b.cumulative_lost, a.cumulative_lost);
    EXPECT_EQ(b.jitter, a.jitter);
    EXPECT_EQ(b.lsr, a.lsr);
    EXPECT_EQ(b.dlsr, a.dlsr);
    EXPECT_EQ(b.has_voip_metrics, a.has_voip_metrics);
    EXPECT_EQ(b.xr_loss_rate, a.xr_loss_rate);
    EXPECT_EQ(b.xr_discard_rate, a.xr_discard_rate);
    EXPECT_EQ(b.xr_r_factor, a.xr_r_factor);
    EXPECT_EQ(b.xr_mos_lq, a.xr_mos_lq);
    EXPECT_EQ(b.xr_mos_cq, a.xr_mos_cq);
    EXPECT_EQ(b.xr_round_trip_ms, a.xr_round_trip_ms);
}

// The SSRCs of the tests: the stream the packets' sender sends (A, relayed as B) and the one it
// hears (H, known to the receiver as K); C and D are streams neither rename is about.
constexpr uint32_t A = 0xa1b2c3d4;
constexpr uint32_t B = 0x0b0b0b0b;
constexpr uint32_t H = 0x5eed1234;
constexpr uint32_t K = 0x4b4b4b4b;
constexpr uint32_t C = 0xc0c0c0c0;
constexpr uint32_t D = 0xd0d0d0d0;

}  // namespace

// ---------------------------------------------------------------- SR and RR

TEST(RtcpRewrite, SenderReportFromTheRenamedSender) {
    // The packet count holds A's value and the block's LSR holds H's: counts and times are not
    // SSRCs and stay as they are.
    const sender_info si{.rtp_ts = 0xfffffff0, .packets = A, .octets = 0x12345678};
    const block other{.ssrc = C, .lsr = H};
    const bytes in = sr(A, si, {other});
    const auto sent = rename(A, B, 0x1111, 0x20);
    const outcome o = rewritten(in, sent, off);
    sender_info moved = si;
    moved.rtp_ts = 0x00000010;  // + ts_add, mod 2^32
    EXPECT_TRUE(same_bytes(o.out, sr(B, moved, {other})));
    EXPECT_EQ(o.count, 2u);  // SSRC, RTP timestamp
    expect_reads_alike(in, o.out, sent, off);
    report r;
    ASSERT_TRUE(read(o.out.data(), o.out.size(), r));
    EXPECT_EQ(r.sender_ssrc, B);
    EXPECT_EQ(r.sr_ntp_middle, 0x7e809abcu);
}

TEST(RtcpRewrite, SenderReportTimestampWithoutWrap) {
    const sender_info si{.rtp_ts = 0x00001000};
    const bytes in = sr(A, si);
    const outcome o = rewritten(in, rename(A, B, 0, 0x80000123), off);
    EXPECT_TRUE(same_bytes(o.out, sr(B, sender_info{.rtp_ts = 0x80001123})));
    EXPECT_EQ(o.count, 2u);
}

TEST(RtcpRewrite, SenderReportFromAnotherSsrcIsUntouched) {
    // C sends; A appears only where it names nothing (the packet count, a block's LSR/DLSR).
    const bytes in = sr(C, sender_info{.packets = A}, {block{.ssrc = D, .lsr = A, .dlsr = H}});
    const outcome o = rewritten(in, rename(A, B, 7, 0x1000), off);
    EXPECT_EQ(o.count, 0u);
    EXPECT_EQ(o.csum_sum, csum_start);
    EXPECT_TRUE(same_bytes(o.out, in));
    expect_reads_alike(in, o.out, rename(A, B), off);
}

TEST(RtcpRewrite, ReceiverReportBlockAboutTheHeardStream) {
    struct {
        uint32_t ext_seq;
        uint16_t seq_add;
        uint32_t want;  // the header's arithmetic, spelled out
    } const cases[] = {{0x0002fff0, 0x0020, 0x00030010}, {0x00051000, 0x0234, 0x00051234},
                       {0x00000005, 0xfff0, 0xfffffff5}, {0xffffffff, 0x0001, 0x00000000},
                       {0x0000ffff, 0xffff, 0x0000fffe}, {0x00030000, 0x0000, 0x00030000},
                       {0x00058000, 0x8000, 0x00050000}, {0x00050000, 0x7fff, 0x00057fff},
                       {0x00050010, 0x8001, 0x00048011}, {0x0005fff0, 0x0010, 0x00060000}};
    for (const auto& c : cases) {
        const block k{.ssrc = H, .ext_seq = c.ext_seq};
        const bytes in = rr(C, {k});
        const auto heard = rename(H, K, c.seq_add, 0x5555);  // ts_add: no timestamp in an RR
        const outcome o = rewritten(in, off, heard);
        const uint32_t got = get32(o.out, rr_block_at + ext_seq_in_block);
        EXPECT_EQ(got, c.want) << std::hex << c.ext_seq << " + " << c.seq_add;
        expect_ext_seq(c.ext_seq, got, c.seq_add);
        block want = k;
        want.ssrc = K;
        want.ext_seq = got;  // checked above
        EXPECT_TRUE(same_bytes(o.out, rr(C, {want}))) << std::hex << c.ext_seq;
        EXPECT_EQ(o.count, 2u);  // SSRC, extended highest sequence number
        expect_reads_alike(in, o.out, off, heard);
    }
}

TEST(RtcpRewrite, ReportBlocksAboutOtherSourcesAreUntouched) {
    // Neither rename's SSRC is a block's source; H and A sit in other fields.
    const bytes in = rr(C, {block{.ssrc = D, .ext_seq = H, .lsr = A, .dlsr = H}}, {H, A});
    const outcome o = rewritten(in, rename(A, B, 1, 1), rename(H, K, 1, 1));
    EXPECT_EQ(o.count, 0u);
    EXPECT_TRUE(same_bytes(o.out, in));
    expect_reads_alike(in, o.out, rename(A, B, 1, 1), rename(H, K, 1, 1));
}

TEST(RtcpRewrite, OnlyTheMatchingReportBlocksChange) {
    const std::vector<block> blocks{block{.ssrc = D, .ext_seq = 0x00010010},
                                    block{.ssrc = H, .ext_seq = 0x00020020},
                                    block{.ssrc = C, .ext_seq = 0x00030030},
                                    block{.ssrc = H, .ext_seq = 0x00040040, .jitter = 99}};
    const auto heard = rename(H, K, 0x100);
    // In an RR (the sender is C: no sender rename) and in an SR from A (renamed too).
    {
        const bytes in = rr(C, blocks, {H});
        const outcome o = rewritten(in, rename(A, B, 0, 5), heard);
        std::vector<block> want = blocks;
        for (size_t i : {size_t{1}, size_t{3}}) {
            want[i].ssrc = K;
            want[i].ext_seq = get32(o.out, rr_block_at + i * block_bytes + ext_seq_in_block);
            expect_ext_seq(blocks[i].ext_seq, want[i].ext_seq, 0x100);
        }
        EXPECT_TRUE(same_bytes(o.out, rr(C, want, {H})));
        EXPECT_EQ(o.count, 4u);
        expect_reads_alike(in, o.out, rename(A, B, 0, 5), heard);
    }
    {
        const bytes in = sr(A, sender_info{}, blocks);
        const outcome o = rewritten(in, rename(A, B, 0, 5), heard);
        std::vector<block> want = blocks;
        for (size_t i : {size_t{1}, size_t{3}}) {
            want[i].ssrc = K;
            want[i].ext_seq = get32(o.out, sr_block_at + i * block_bytes + ext_seq_in_block);
            expect_ext_seq(blocks[i].ext_seq, want[i].ext_seq, 0x100);
        }
        sender_info si;
        si.rtp_ts += 5;
        EXPECT_TRUE(same_bytes(o.out, sr(B, si, want)));
        EXPECT_EQ(o.count, 6u);
        expect_reads_alike(in, o.out, rename(A, B, 0, 5), heard);
    }
    // The first block matching: what read() reports is the renamed one.
    {
        const bytes in = rr(C, {blocks[1], blocks[0]});
        const outcome o = rewritten(in, off, heard);
        report r;
        ASSERT_TRUE(read(o.out.data(), o.out.size(), r));
        EXPECT_EQ(r.source_ssrc, K);
        EXPECT_EQ(r.highest_seq & 0xffff, 0x0120u);
    }
}

TEST(RtcpRewrite, ReportCountBeyondTheLength) {
    // RC says 2 where the length holds one block: the second "block" would begin with the next
    // packet's header. With heard.from equal to that header word (a v2 APP of one word), the
    // next packet must come through as it is: fields are rewritten only within their packet.
    constexpr uint32_t next_header = 0x80cc0001;
    bytes first = rr(C, {block{.ssrc = next_header}});
    first[0] = static_cast<uint8_t>((first[0] & 0xe0) | 2);
    bytes next = app(0, D, "SFRY", {});
    next.resize(8);  // header and SSRC only: length 1
    next[3] = 1;
    ASSERT_EQ(get32(next, 0), next_header);
    const bytes in = cat({first, next, bye({A})});
    const outcome o = rewritten(in, rename(A, B), rename(next_header, K));
    bytes want_first = rr(C, {block{.ssrc = K, .ext_seq = get32(o.out, rr_block_at + ext_seq_in_block)}});
    want_first[0] = first[0];
    EXPECT_TRUE(same_bytes(o.out, cat({want_first, next, bye({B})})));
    EXPECT_EQ(o.count, 3u);
}

TEST(RtcpRewrite, PaddedSenderReport) {
    // P bit with four bytes of padding after the block: the block is still renamed.
    const bytes in = sr(A, sender_info{}, {block{.ssrc = H}}, 4);
    const outcome o = rewritten(in, rename(A, B, 0, 1), rename(H, K, 2));
    sender_info si;
    si.rtp_ts += 1;
    EXPECT_TRUE(same_bytes(o.out, sr(B, si, {block{.ssrc = K, .ext_seq = get32(o.out, sr_block_at + 8)}}, 4)));
    expect_ext_seq(0x0001fffe, get32(o.out, sr_block_at + 8), 2);
    EXPECT_EQ(o.count, 4u);
    expect_reads_alike(in, o.out, rename(A, B, 0, 1), rename(H, K, 2));
}

TEST(RtcpRewrite, PaddingCountOfZeroLeavesThePacketAlone) {
    // P bit set but a padding count of 0 (the count counts itself, so at least 1): malformed, as
    // rtcp::read() holds. Renaming would rewrite the last word, where a receiver reads the count
    // (found by the fuzzer: an RR whose SSRC 0 was the count). The next packet is still renamed.
    bytes padded_rr = rr(0, {});
    padded_rr[0] |= 0x20;
    const bytes in = cat({padded_rr, bye({0})});
    const outcome o = rewritten(in, rename(0, 0x1d), rename(A, B));
    EXPECT_TRUE(same_bytes(o.out, cat({padded_rr, bye({0x1d})})));
    EXPECT_EQ(o.count, 1u);
}

// ---------------------------------------------------------------- SDES, BYE, APP

TEST(RtcpRewrite, SdesRenamesOnlyTheSendersChunk) {
    // Items of 15, 34 and 12 bytes after the chunks' SSRCs: one, two and four null octets end
    // them (a whole word when the items end on one). A NOTE item's text holds A's bytes on a word
    // boundary of the packet, where an SSRC could be: it stays.
    const std::string a_text{'\xa1', '\xb2', '\xc3', '\xd4', 'x', 'y'};
    const chunk mixer{C, {{1, "bob@host"}, {2, "Bob"}}};                          // 10 + 5
    const chunk sender{A, {{1, "a@example.org"}, {6, "sipferry1"}, {7, a_text}}};  // 15 + 11 + 8
    const chunk quiet{D, {{1, "d@h"}, {8, "\x02pvxy"}}};                          // 5 + 7 (PRIV "pv" = "xy")
    for (const auto& chunks : {std::vector<chunk>{mixer, sender}, std::vector<chunk>{sender, mixer, quiet},
                               std::vector<chunk>{quiet, mixer, sender}}) {
        for (size_t padding : {size_t{0}, size_t{4}}) {
            const bytes in = sdes(chunks, padding);
            const outcome o = rewritten(in, rename(A, B, 9, 9), rename(C, K, 9, 9));
            std::vector<chunk> want = chunks;
            for (chunk& c : want) {
                if (c.ssrc == A) {
                    c.ssrc = B;
                }
            }
            EXPECT_TRUE(same_bytes(o.out, sdes(want, padding))) << chunks.size() << " chunks, padding " << padding;
            EXPECT_EQ(o.count, 1u);
        }
    }
}

TEST(RtcpRewrite, SdesChunkWithNoItems) {
    // A chunk may hold no item at all: its SSRC, then the null octets of a whole word.
    const std::vector<chunk> chunks{{C, {}}, {A, {}}, {D, {{1, "x"}}}};
    const bytes in = sdes(chunks);
    ASSERT_EQ(in.size(), 4u + 8 + 8 + 8);
    const outcome o = rewritten(in, rename(A, B), off);
    EXPECT_TRUE(same_bytes(o.out, sdes({{C, {}}, {B, {}}, {D, {{1, "x"}}}})));
    EXPECT_EQ(o.count, 1u);
}

TEST(RtcpRewrite, ByeWithTwoSsrcs) {
    // The sender's SSRC first or second, with and without a reason (which holds A's bytes on a
    // word boundary of the packet, where a third SSRC would be).
    const std::string reason{"bye\xa1\xb2\xc3\xd4!"};
    for (const std::string& why : {std::string{}, reason}) {
        {
            const outcome o = rewritten(bye({A, C}, why), rename(A, B), rename(C, K));
            EXPECT_TRUE(same_bytes(o.out, bye({B, C}, why)));
            EXPECT_EQ(o.count, 1u);
        }
        {
            const outcome o = rewritten(bye({C, A}, why), rename(A, B), off);
            EXPECT_TRUE(same_bytes(o.out, bye({C, B}, why)));
            EXPECT_EQ(o.count, 1u);
        }
        {
            const outcome o = rewritten(bye({C, D}, why), rename(A, B), off);
            EXPECT_TRUE(same_bytes(o.out, bye({C, D}, why)));
            EXPECT_EQ(o.count, 0u);
        }
    }
    // The reason's first word (its length and three characters) is no SSRC, whatever it holds.
    const bytes with_reason = bye({C}, "abc");
    ASSERT_EQ(get32(with_reason, 8), 0x03616263u);
    const outcome o = rewritten(with_reason, rename(0x03616263, B), off);
    EXPECT_TRUE(same_bytes(o.out, with_reason));
    EXPECT_EQ(o.count, 0u);
}

TEST(RtcpRewrite, AppRenamesItsSsrcOnly) {
    // The name and the application data (here holding A and H) are the application's.
    const bytes in = app(5, A, "SFRY", {A, H, 0x01020304});
    const outcome o = rewritten(in, rename(A, B, 3, 3), rename(H, K, 3, 3));
    EXPECT_TRUE(same_bytes(o.out, app(5, B, "SFRY", {A, H, 0x01020304})));
    EXPECT_EQ(o.count, 1u);
    const outcome other = rewritten(app(0, C, "SFRY", {A}), rename(A, B), off);
    EXPECT_TRUE(same_bytes(other.out, app(0, C, "SFRY", {A})));
    EXPECT_EQ(other.count, 0u);
}

// ---------------------------------------------------------------- feedback

TEST(RtcpRewrite, GenericNack) {
    const auto sent = rename(A, B, 0x7777, 0x7777);  // the sender's own seq_add: not for the PIDs
    const auto heard = rename(H, K, 0x0020);
    const bytes in = feedback(type_rtpfb, 1, A, H, nack_fci({{0xfff0, 0x8001}, {0x0100, 0x0000}}));
    const outcome o = rewritten(in, sent, heard);
    EXPECT_TRUE(same_bytes(o.out, feedback(type_rtpfb, 1, B, K, nack_fci({{0x0010, 0x8001}, {0x0120, 0x0000}}))));
    EXPECT_EQ(o.count, 4u);  // sender, media source, two PIDs

    // About another stream: only the sender is renamed, the PIDs stay.
    const bytes about_c = feedback(type_rtpfb, 1, A, C, nack_fci({{0xfff0, 0x8001}, {0x0100, 0x0000}}));
    const outcome oc = rewritten(about_c, sent, heard);
    EXPECT_TRUE(same_bytes(oc.out, feedback(type_rtpfb, 1, B, C, nack_fci({{0xfff0, 0x8001}, {0x0100, 0x0000}}))));
    EXPECT_EQ(oc.count, 1u);

    // From another sender about H: the media source and PIDs, not the sender.
    const bytes from_c = feedback(type_rtpfb, 1, C, H, nack_fci({{1, 2}}));
    const outcome of = rewritten(from_c, sent, heard);
    EXPECT_TRUE(same_bytes(of.out, feedback(type_rtpfb, 1, C, K, nack_fci({{0x21, 2}}))));
    EXPECT_EQ(of.count, 2u);

    // Only `heard` on: the sender stays A.
    const outcome oh = rewritten(in, off, heard);
    EXPECT_TRUE(same_bytes(oh.out, feedback(type_rtpfb, 1, A, K, nack_fci({{0x0010, 0x8001}, {0x0120, 0x0000}}))));
    EXPECT_EQ(oh.count, 3u);

    // Padded (P bit, RFC 3550 6.4.1): the padding's words are not FCI entries.
    for (size_t padding : {size_t{4}, size_t{8}}) {
        const bytes padded = feedback(type_rtpfb, 1, A, H, nack_fci({{0x0100, 0x0003}}), padding);
        const outcome op = rewritten(padded, sent, heard);
        EXPECT_TRUE(same_bytes(op.out, feedback(type_rtpfb, 1, B, K, nack_fci({{0x0120, 0x0003}}), padding)));
        EXPECT_EQ(op.count, 3u);
    }
}

TEST(RtcpRewrite, OtherFeedbackKeepsItsFci) {
    // Only a generic NACK's FCI holds packet IDs: TMMBR (RTPFB 3, RFC 5104 4.2.1) and FIR
    // (PSFB 4, 4.3.1) carry an SSRC (here D) and numbers of their own, and a PSFB with FMT 1
    // (PLI, no FCI) followed by extra words is no NACK either.
    const auto sent = rename(A, B, 0x0100, 0x100);
    const auto heard = rename(H, K, 0x0100, 0x100);
    bytes tmmbr, fir;
    put32(tmmbr, D), put32(tmmbr, 0x0c01f401);
    put32(fir, D), put32(fir, 0x05000000);
    const bytes words = nack_fci({{0x0001, 0x0002}, {0x0003, 0x0004}});
    const bytes in = cat({feedback(type_rtpfb, 3, A, H, tmmbr), feedback(type_psfb, 4, A, H, fir),
                          feedback(type_psfb, 1, A, H, words), feedback(type_rtpfb, 15, A, H, words)});
    const outcome o = rewritten(in, sent, heard);
    const bytes want = cat({feedback(type_rtpfb, 3, B, K, tmmbr), feedback(type_psfb, 4, B, K, fir),
                            feedback(type_psfb, 1, B, K, words), feedback(type_rtpfb, 15, B, K, words)});
    EXPECT_TRUE(same_bytes(o.out, want));
    EXPECT_EQ(o.count, 8u);
}

TEST(RtcpRewrite, PictureLossIndication) {
    const bytes in = feedback(type_psfb, 1, A, H);
    ASSERT_EQ(in.size(), 12u);
    const outcome o = rewritten(in, rename(A, B, 1, 1), rename(H, K, 1, 1));
    EXPECT_TRUE(same_bytes(o.out, feedback(type_psfb, 1, B, K)));
    EXPECT_EQ(o.count, 2u);
    const outcome other = rewritten(feedback(type_psfb, 1, C, D), rename(A, B), rename(H, K));
    EXPECT_TRUE(same_bytes(other.out, feedback(type_psfb, 1, C, D)));
    EXPECT_EQ(other.count, 0u);
}

// ---------------------------------------------------------------- XR

TEST(RtcpRewrite, XrReferenceTimeDlrrStatisticsAndVoipMetrics) {
    // RRTR's NTP words hold H and A and are not SSRCs; DLRR names H in one sub-block of three
    // (the others hold H in their LRR and DLRR).
    const auto sent = rename(A, B, 0x10, 0x10);
    const auto heard = rename(H, K, 0x0010, 0x10);
    const bytes in = xr(A, {rrtr_block(H, A), dlrr_block({{C, H, A}, {H, 0x11112222, 0x00010000}, {D, H, H}}),
                            stats_block(H, 0xfff8, 0x0008), voip_metrics_block(H)});
    const outcome o = rewritten(in, sent, heard);
    const bytes want = xr(B, {rrtr_block(H, A), dlrr_block({{C, H, A}, {K, 0x11112222, 0x00010000}, {D, H, H}}),
                              stats_block(K, 0x0008, 0x0018), voip_metrics_block(K)});
    EXPECT_TRUE(same_bytes(o.out, want));
    EXPECT_EQ(o.count, 6u);  // XR SSRC, DLRR SSRC, statistics SSRC + begin + end, VoIP metrics SSRC

    // Behind an RR: read() finds the metrics as before.
    const bytes compound = cat({rr(A, {block{.ssrc = H}}), in});
    const outcome oc = rewritten(compound, sent, heard);
    EXPECT_EQ(oc.count, 1u + 2u + 6u);  // RR SSRC, its block's SSRC and sequence number, the XR
    expect_reads_alike(compound, oc.out, sent, heard);
    report r;
    ASSERT_TRUE(read(oc.out.data(), oc.out.size(), r));
    EXPECT_TRUE(r.has_voip_metrics);
    EXPECT_EQ(r.xr_mos_lq, 41);
}

TEST(RtcpRewrite, XrBlocksAboutOtherSourcesAreUntouched) {
    const bytes in = xr(C, {dlrr_block({{D, H, H}}), stats_block(D, 1, 2), voip_metrics_block(C),
                            rle_block(1, D, 5, 9)});
    const outcome o = rewritten(in, rename(A, B, 1, 1), rename(H, K, 1, 1));
    EXPECT_TRUE(same_bytes(o.out, in));
    EXPECT_EQ(o.count, 0u);
}

TEST(RtcpRewrite, XrLossDuplicateAndReceiptTimes) {
    // Blocks 1-3 about H, a loss RLE about D, and a block type RFC 3611 does not define (its
    // content, holding H, is passed over by its length).
    bytes unknown_body;
    put32(unknown_body, H);
    put32(unknown_body, 0x00100020);
    const auto heard = rename(H, K, 0x8000);
    const bytes in = xr(C, {rle_block(1, H, 0x1000, 0x1010), xr_block(42, 0, unknown_body),
                            rle_block(2, H, 0x8000, 0x8004), receipt_times_block(H, 0xfffe, 0x0001, {7, 8, 9}),
                            rle_block(1, D, 0x1000, 0x1010)});
    const outcome o = rewritten(in, rename(A, B), heard);
    const bytes want = xr(C, {rle_block(1, K, 0x9000, 0x9010), xr_block(42, 0, unknown_body),
                              rle_block(2, K, 0x0000, 0x0004), receipt_times_block(K, 0x7ffe, 0x8001, {7, 8, 9}),
                              rle_block(1, D, 0x1000, 0x1010)});
    EXPECT_TRUE(same_bytes(o.out, want));
    EXPECT_EQ(o.count, 9u);
}

// ---------------------------------------------------------------- compounds

TEST(RtcpRewrite, CompoundSrSdesXr) {
    const auto sent = rename(A, B, 0, 0x100);
    const auto heard = rename(H, K, 0x10);
    const sender_info si{.rtp_ts = 0x1000};
    const chunk cname{A, {{1, "a@example.org"}}};
    const bytes in = cat({sr(A, si, {block{.ssrc = H, .ext_seq = 0x00010100}}), sdes({cname}),
                          xr(A, {rrtr_block(1, 2), voip_metrics_block(H)})});
    const outcome o = rewritten(in, sent, heard);
    const bytes want = cat({sr(B, sender_info{.rtp_ts = 0x1100}, {block{.ssrc = K, .ext_seq = get32(o.out, 36)}}),
                            sdes({{B, cname.items}}), xr(B, {rrtr_block(1, 2), voip_metrics_block(K)})});
    expect_ext_seq(0x00010100, get32(o.out, 36), 0x10);
    EXPECT_TRUE(same_bytes(o.out, want));
    EXPECT_EQ(o.count, 2u + 2u + 1u + 1u + 1u);
    expect_reads_alike(in, o.out, sent, heard);
}

TEST(RtcpRewrite, WhatRtpsimSends) {
    // tools/rtpsim's SR + SDES + XR (as in rtcp_test): SSRC 0x5151 reporting on 0xabcd.
    const char* hex =
        "81c8000c00005151eebde8d710ba09c4d280bf960000002e00001cc00000abcd080000030000041500000001000000000000"
        "000081ca000600005151011072747073696d403132372e302e302e31000080cf000a00005151070000080000abcd1100000000"
        "000000019000007f7f7f103f7f25210000000000000000";
    bytes in;
    for (const char* h = hex; h[0] != 0 && h[1] != 0; h += 2) {
        in.push_back(static_cast<uint8_t>(std::stoi(std::string(h, 2), nullptr, 16)));
    }
    ASSERT_EQ(in.size(), 124u);
    const auto sent = rename(0x5151, 0x77777777, 0x10, 0x20);
    const auto heard = rename(0xabcd, 0x12341234, 0x0100);
    const outcome o = rewritten(in, sent, heard);
    // SR (52 bytes), SDES (28), XR (44): the fields at their offsets, the rest as it was.
    bytes want = in;
    set32(want, 4, 0x77777777);
    set32(want, 16, get32(in, 16) + 0x20);
    set32(want, 28, 0x12341234);
    expect_ext_seq(get32(in, 36), get32(o.out, 36), 0x0100);
    set32(want, 36, get32(o.out, 36));
    set32(want, 56, 0x77777777);
    set32(want, 84, 0x77777777);
    set32(want, 92, 0x12341234);
    EXPECT_TRUE(same_bytes(o.out, want));
    EXPECT_EQ(o.count, 7u);
    expect_reads_alike(in, o.out, sent, heard);
}

TEST(RtcpRewrite, BothRenamesAtOnce) {
    const auto sent = rename(A, B, 0x0100, 0x1000);
    const auto heard = rename(H, K, 0x0200, 0x2000);
    const bytes in = cat({rr(A, {block{.ssrc = H, .ext_seq = 0x00010000}}), sdes({{A, {{1, "a@h"}}}}),
                          feedback(type_rtpfb, 1, A, H, nack_fci({{0x0001, 0}})), feedback(type_psfb, 1, A, H),
                          bye({A})});
    const outcome o = rewritten(in, sent, heard);
    const uint32_t ext = get32(o.out, rr_block_at + ext_seq_in_block);
    expect_ext_seq(0x00010000, ext, 0x0200);
    const bytes want = cat({rr(B, {block{.ssrc = K, .ext_seq = ext}}), sdes({{B, {{1, "a@h"}}}}),
                            feedback(type_rtpfb, 1, B, K, nack_fci({{0x0201, 0}})), feedback(type_psfb, 1, B, K),
                            bye({B})});
    EXPECT_TRUE(same_bytes(o.out, want));
    EXPECT_EQ(o.count, 1u + 2u + 1u + 3u + 2u + 1u);
    expect_reads_alike(in, o.out, sent, heard);
}

TEST(RtcpRewrite, EachRenameOnlyInItsOwnFields) {
    // H as a sender and A as a reported source: neither is the rename's field, both stay.
    const auto sent = rename(A, B, 1, 1);
    const auto heard = rename(H, K, 1, 1);
    const bytes in = cat({rr(H, {block{.ssrc = A}}), sdes({{H, {{1, "h@h"}}}}),
                          feedback(type_rtpfb, 1, H, A, nack_fci({{5, 0}})),
                          xr(H, {dlrr_block({{A, 0, 0}}), stats_block(A, 1, 2)}), bye({H})});
    const outcome o = rewritten(in, sent, heard);
    EXPECT_TRUE(same_bytes(o.out, in));
    EXPECT_EQ(o.count, 0u);

    // One SSRC in both roles (a stream the sender both sends and hears): each field by its rename.
    const auto sent_s = rename(C, B, 0, 0x10);
    const auto heard_s = rename(C, K, 0x10, 0);
    const bytes loop = cat({sr(C, sender_info{.rtp_ts = 0}, {block{.ssrc = C, .ext_seq = 0x00000001}}),
                            feedback(type_psfb, 1, C, C)});
    const outcome ol = rewritten(loop, sent_s, heard_s);
    const uint32_t ext = get32(ol.out, sr_block_at + ext_seq_in_block);
    expect_ext_seq(1, ext, 0x10);
    EXPECT_TRUE(same_bytes(ol.out, cat({sr(B, sender_info{.rtp_ts = 0x10}, {block{.ssrc = K, .ext_seq = ext}}),
                                        feedback(type_psfb, 1, B, K)})));
    EXPECT_EQ(ol.count, 6u);
    expect_reads_alike(loop, ol.out, sent_s, heard_s);
}

// ---------------------------------------------------------------- the walk's end

TEST(RtcpRewrite, WalkStopsAtALengthPastTheBuffer) {
    const auto sent = rename(A, B, 0, 4);
    const bytes first = sr(A, sender_info{});
    bytes second = rr(A, {block{.ssrc = A}});
    second[3] = static_cast<uint8_t>(second[3] + 3);  // three words more than there are
    const bytes third = bye({A});
    for (const bytes& in : {cat({first, second, third}), cat({first, second})}) {
        const outcome o = rewritten(in, sent, off);
        sender_info si;
        si.rtp_ts += 4;
        bytes want = in;
        const bytes renamed = sr(B, si);
        std::copy(renamed.begin(), renamed.end(), want.begin());
        EXPECT_TRUE(same_bytes(o.out, want));
        EXPECT_EQ(o.count, 2u);
        expect_reads_alike(in, o.out, sent, off);
    }
    // A length of 0xffff on the first packet: nothing is walked.
    bytes huge = cat({rr(A), bye({A})});
    huge[2] = 0xff, huge[3] = 0xff;
    const outcome oh = rewritten(huge, sent, off);
    EXPECT_TRUE(same_bytes(oh.out, huge));
    EXPECT_EQ(oh.count, 0u);
}

TEST(RtcpRewrite, WalkStopsAtATruncatedPacket) {
    const auto sent = rename(A, B);
    const bytes first = rr(A, {block{.ssrc = C}});
    const bytes in = cat({first, bye({A, A}), bye({A})});
    const bytes all_renamed = cat({rr(B, {block{.ssrc = C}}), bye({B, B}), bye({B})});
    // Every len: packets wholly inside len are renamed, the one len cuts and all after it are not.
    for (size_t len = 0; len <= in.size(); ++len) {
        const bytes cut(in.begin(), in.begin() + static_cast<long>(len));
        const outcome o = rewritten(cut, sent, off);
        bytes want = cut;
        size_t walked = 0;
        unsigned count = 0;
        // The packets' ends and the renamed SSRCs up to each.
        for (const auto& [end, renamed] : {std::pair{first.size(), 1u}, std::pair{first.size() + 12, 3u},
                                           std::pair{first.size() + 20, 4u}}) {
            if (end <= len) {
                walked = end;
                count = renamed;
            }
        }
        std::copy(all_renamed.begin(), all_renamed.begin() + static_cast<long>(walked), want.begin());
        EXPECT_TRUE(same_bytes(o.out, want)) << "len " << len;
        EXPECT_EQ(o.count, count) << "len " << len;
    }
    // len shorter than the buffer: the bytes past it are not the packet's, whatever they hold.
    const outcome o = rewritten(in, sent, off, first.size() + 10);
    bytes want = in;
    std::copy(all_renamed.begin(), all_renamed.begin() + static_cast<long>(first.size()), want.begin());
    EXPECT_TRUE(same_bytes(o.out, want));
    EXPECT_EQ(o.count, 1u);
}

TEST(RtcpRewrite, WalkStopsAtAnotherVersion) {
    const auto sent = rename(A, B, 0, 0x10);
    const bytes first = sr(A, sender_info{});
    sender_info si;
    si.rtp_ts += 0x10;
    const bytes first_renamed = sr(B, si);
    for (uint8_t version : {0, 1, 3}) {
        bytes odd = bye({A});
        odd[0] = static_cast<uint8_t>((odd[0] & 0x3f) | version << 6);
        const bytes in = cat({first, odd, bye({A}), rr(A)});
        const outcome o = rewritten(in, sent, off);
        EXPECT_TRUE(same_bytes(o.out, cat({first_renamed, odd, bye({A}), rr(A)}))) << int{version};
        EXPECT_EQ(o.count, 2u);
        expect_reads_alike(in, o.out, sent, off);
    }
    // The first packet itself: nothing.
    bytes v1 = cat({first, bye({A})});
    v1[0] = 0x40;
    const outcome o = rewritten(v1, sent, off);
    EXPECT_TRUE(same_bytes(o.out, v1));
    EXPECT_EQ(o.count, 0u);
}

TEST(RtcpRewrite, OtherPacketTypesArePassedOver) {
    // IJ (RFC 5450, PT 195) and a PT no RFC names, each holding A: passed as they came, the walk
    // goes on to the BYE after them.
    bytes ij = header(2, 195);
    put32(ij, A), put32(ij, A);
    ij = finish(ij);
    bytes unknown = header(0, 210);
    put32(unknown, A);
    unknown = finish(unknown);
    const bytes in = cat({rr(A), ij, unknown, bye({A})});
    const outcome o = rewritten(in, rename(A, B), off);
    EXPECT_TRUE(same_bytes(o.out, cat({rr(B), ij, unknown, bye({B})})));
    EXPECT_EQ(o.count, 2u);
}

TEST(RtcpRewrite, AtMostThirtyTwoPackets) {
    static_assert(rewrite_max_packets == 32);
    bytes in, want;
    for (unsigned i = 0; i < 33; ++i) {
        const bytes one = bye({A});
        in.insert(in.end(), one.begin(), one.end());
        const bytes renamed = bye({i < 32 ? B : A});
        want.insert(want.end(), renamed.begin(), renamed.end());
    }
    const outcome o = rewritten(in, rename(A, B), off);
    EXPECT_TRUE(same_bytes(o.out, want));
    EXPECT_EQ(o.count, 32u);
    // Exactly 32: all of them.
    const bytes in32(in.begin(), in.end() - 8);
    const outcome o32 = rewritten(in32, rename(A, B), off);
    EXPECT_TRUE(same_bytes(o32.out, bytes(want.begin(), want.end() - 8)));
    EXPECT_EQ(o32.count, 32u);
    // Packets that are passed over count towards the 32 too.
    bytes mixed;
    for (unsigned i = 0; i < 32; ++i) {
        const bytes one = app(0, C, "SFRY", {});
        mixed.insert(mixed.end(), one.begin(), one.end());
    }
    const bytes tail = bye({A});
    mixed.insert(mixed.end(), tail.begin(), tail.end());
    const outcome om = rewritten(mixed, rename(A, B), off);
    EXPECT_TRUE(same_bytes(om.out, mixed));
    EXPECT_EQ(om.count, 0u);
}

TEST(RtcpRewrite, EmptyAndShortInputs) {
    bytes one{0x80};
    uint32_t sum = 7;
    EXPECT_EQ(rewrite(one.data(), 0, rename(A, B), rename(H, K), sum), 0u);
    EXPECT_EQ(sum, 7u);
    const bytes in = bye({A});
    for (size_t len = 0; len < in.size(); ++len) {
        const outcome o = rewritten(in, rename(A, B), off, len);
        EXPECT_TRUE(same_bytes(o.out, in)) << len;
        EXPECT_EQ(o.count, 0u) << len;
    }
}

// ---------------------------------------------------------------- renames off or doing nothing

TEST(RtcpRewrite, RenamesThatAreOffDoNothing) {
    const bytes in = cat({sr(A, sender_info{}, {block{.ssrc = H}}), sdes({{A, {{1, "a@h"}}}}),
                          feedback(type_rtpfb, 1, A, H, nack_fci({{1, 0}})), xr(A, {stats_block(H, 1, 2)}), bye({A})});
    stream_rename sent = rename(A, B, 5, 5);
    stream_rename heard = rename(H, K, 5, 5);
    sent.on = false;
    heard.on = false;
    const outcome o = rewritten(in, sent, heard);
    EXPECT_TRUE(same_bytes(o.out, in));
    EXPECT_EQ(o.count, 0u);
    EXPECT_EQ(o.csum_sum, csum_start);

    // One of them on: only its fields.
    const outcome os = rewritten(in, rename(A, B, 5, 5), heard);
    sender_info si;
    si.rtp_ts += 5;
    EXPECT_TRUE(same_bytes(os.out, cat({sr(B, si, {block{.ssrc = H}}), sdes({{B, {{1, "a@h"}}}}),
                                        feedback(type_rtpfb, 1, B, H, nack_fci({{1, 0}})),
                                        xr(B, {stats_block(H, 1, 2)}), bye({B})})));
    EXPECT_EQ(os.count, 6u);
    const outcome oh = rewritten(in, sent, rename(H, K, 5, 5));
    const uint32_t ext = get32(oh.out, sr_block_at + ext_seq_in_block);
    expect_ext_seq(0x0001fffe, ext, 5);
    EXPECT_TRUE(same_bytes(oh.out, cat({sr(A, sender_info{}, {block{.ssrc = K, .ext_seq = ext}}),
                                        sdes({{A, {{1, "a@h"}}}}), feedback(type_rtpfb, 1, A, K, nack_fci({{6, 0}})),
                                        xr(A, {stats_block(K, 6, 7)}), bye({A})})));
    EXPECT_EQ(oh.count, 2u + 2u + 3u);
}

TEST(RtcpRewrite, IdentityRenamesCountButChangeNothing) {
    // from == to, nothing added: every field is rewritten as it was, and counted.
    const bytes in = cat({sr(A, sender_info{}, {block{.ssrc = H}}), feedback(type_rtpfb, 1, A, H, nack_fci({{1, 0}})),
                          xr(A, {dlrr_block({{H, 1, 2}})})});
    const outcome o = rewritten(in, rename(A, A), rename(H, H));
    EXPECT_TRUE(same_bytes(o.out, in));
    EXPECT_EQ(o.count, 2u + 2u + 3u + 2u);
    EXPECT_EQ(fold(o.csum_sum) % 0xffff, fold(csum_start) % 0xffff);  // each word adds ~w + w: zero
}

// ---------------------------------------------------------------- the checksum

TEST(RtcpRewrite, ChecksumSumIsAddedPerChangedWord) {
    // One SSRC word pair changed: 0xa1b2 -> 0x0b0b and 0xc3d4 -> 0x0b0b, in memory order.
    const bytes in = bye({A});
    bytes out = in;
    uint32_t sum = 0;
    ASSERT_EQ(rewrite(out.data(), out.size(), rename(A, B), off, sum), 1u);
    uint32_t want = 0;
    for (size_t i = 4; i < 8; i += 2) {
        uint16_t old_word, new_word;
        std::memcpy(&old_word, in.data() + i, 2);
        std::memcpy(&new_word, out.data() + i, 2);
        want += static_cast<uint16_t>(~old_word) + uint32_t{new_word};
    }
    // Words left as they were may add ~w + w (ones' complement zero) or nothing.
    EXPECT_EQ(fold(sum) % 0xffff, fold(want) % 0xffff);
    EXPECT_TRUE(checksum_follows(in, out, 0, sum));
}

namespace {

uint32_t pick_ssrc(std::mt19937& rng) {
    const uint32_t choices[] = {A, H, C, static_cast<uint32_t>(rng())};
    return choices[rng() % 4];
}

uint16_t random16(std::mt19937& rng) { return static_cast<uint16_t>(rng()); }

/// A compound of 1-6 packets of every kind, SSRCs mostly A, H or C.
bytes random_compound(std::mt19937& rng) {
    bytes all;
    const unsigned n = 1 + rng() % 6;
    for (unsigned i = 0; i < n; ++i) {
        std::vector<block> blocks(rng() % 3);
        for (block& k : blocks) {
            k.ssrc = pick_ssrc(rng);
            k.ext_seq = static_cast<uint32_t>(rng());
        }
        bytes p;
        switch (rng() % 8) {
        case 0:
            p = sr(pick_ssrc(rng), sender_info{.rtp_ts = static_cast<uint32_t>(rng())}, blocks, 4 * (rng() % 2));
            break;
        case 1:
            p = rr(pick_ssrc(rng), blocks);
            break;
        case 2:
            p = sdes({{pick_ssrc(rng), {{1, std::string(rng() % 9, 'x')}}}, {pick_ssrc(rng), {}}});
            break;
        case 3:
            p = bye({pick_ssrc(rng), pick_ssrc(rng)}, std::string(rng() % 5, 'r'));
            break;
        case 4:
            p = app(1, pick_ssrc(rng), "SFRY", {pick_ssrc(rng)});
            break;
        case 5:
            p = feedback(type_rtpfb, 1, pick_ssrc(rng), pick_ssrc(rng),
                         nack_fci({{random16(rng), random16(rng)}, {random16(rng), random16(rng)}}));
            break;
        case 6:
            p = feedback(type_psfb, 1, pick_ssrc(rng), pick_ssrc(rng));
            break;
        default:
            p = xr(pick_ssrc(rng), {rle_block(1, pick_ssrc(rng), random16(rng), random16(rng)),
                                    dlrr_block({{pick_ssrc(rng), 1, 2}, {pick_ssrc(rng), 3, 4}}),
                                    stats_block(pick_ssrc(rng), random16(rng), random16(rng)),
                                    receipt_times_block(pick_ssrc(rng), random16(rng), random16(rng), {1}),
                                    voip_metrics_block(pick_ssrc(rng)), rrtr_block(1, 2)});
            break;
        }
        all.insert(all.end(), p.begin(), p.end());
    }
    return all;
}

stream_rename random_rename(std::mt19937& rng, uint32_t from) {
    return stream_rename{.on = rng() % 8 != 0,
                         .from = from,
                         .to = static_cast<uint32_t>(rng()),
                         .seq_add = random16(rng),
                         .ts_add = static_cast<uint32_t>(rng())};
}

}  // namespace

TEST(RtcpRewrite, ChecksumFollowsForRandomPackets) {
    std::mt19937 rng(1624);
    unsigned changed = 0;
    for (int i = 0; i < 3000; ++i) {
        bytes in = random_compound(rng);
        // A third of them damaged: bytes flipped, a tail cut off (odd lengths too).
        if (i % 3 == 1) {
            for (unsigned f = rng() % 4; f > 0; --f) {
                in[rng() % in.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
            }
        } else if (i % 3 == 2) {
            in.resize(rng() % (in.size() + 1));
        }
        const stream_rename sent = random_rename(rng, A);
        const stream_rename heard = random_rename(rng, H);
        const outcome o = rewritten(in, sent, heard);  // checks the checksum
        if (o.out != in) {
            ++changed;
        }
        if (!sent.on && !heard.on) {
            EXPECT_EQ(o.count, 0u);
            EXPECT_TRUE(same_bytes(o.out, in));
        }
        // The trailing odd byte is never part of a packet.
        if (in.size() % 2 != 0) {
            EXPECT_EQ(o.out.back(), in.back());
        }
        if (i % 3 == 0) {
            expect_reads_alike(in, o.out, sent, heard);
        }
        if (HasFailure()) {
            ADD_FAILURE() << "iteration " << i;
            break;
        }
    }
    EXPECT_GT(changed, 1000u);  // the test renamed something
}
