// The SIP message writer and handle: text straight into mbufs (one segment, chained when
// larger), allocation failure as a defined empty result, and shared ownership by reference
// count (copies share the bytes; the last owner gives the mbufs back to the pool).

#include "sip_wire.hh"

#include <gtest/gtest.h>

#include <rte_mbuf.h>

#include <string>
#include <vector>

#include "control_eal.hh"

using namespace sf::control;
using sf::control::test::test_pool;

namespace {

/// Text of `n` bytes that shows where a byte went missing or moved (a counter every 8 bytes).
std::string patterned(size_t n) {
    std::string s;
    for (unsigned i = 0; s.size() < n; ++i) {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "%07u,", i);
        s += buf;
    }
    s.resize(n);
    return s;
}

/// A pool of its own, so that counts are exact and other tests' messages do not interfere.
message_pool& small_pool() {
    static message_pool& pool = *new message_pool("wire_small", 16, 2048, SOCKET_ID_ANY);
    return pool;
}

}  // namespace

TEST(sip_writer, single_segment_keeps_headroom_for_the_frame_headers) {
    sip_writer w(test_pool());
    w.append("OPTIONS sip:x@192.0.2.1 SIP/2.0\r\n").header("Call-ID", "abc").append_uint(0).append(' ');
    w.append_uint(18446744073709551615ull).append('\n');
    EXPECT_FALSE(w.failed());
    const sip_wire m = w.finish();
    const std::string expected = "OPTIONS sip:x@192.0.2.1 SIP/2.0\r\nCall-ID: abc\r\n0 18446744073709551615\n";
    ASSERT_FALSE(m.empty());
    EXPECT_EQ(m.size(), expected.size());
    EXPECT_EQ(m.segments(), 1u);
    EXPECT_EQ(m.contiguous(), expected);
    EXPECT_EQ(m.to_string(), expected);
    EXPECT_GE(rte_pktmbuf_headroom(m.head()), 14u + 20u + 8u);
    EXPECT_TRUE(m.starts_with("OPTIONS "));
    EXPECT_FALSE(m.starts_with("SIP/"));
    EXPECT_EQ(w.size(), 0u) << "finish() leaves the writer empty";
}

TEST(sip_writer, larger_than_a_segment_is_chained_byte_for_byte) {
    const std::string text = patterned(2048 * 3 + 777);
    const uint64_t chained_before = test_pool().stats().segments_chained;
    sip_writer w(test_pool());
    // Odd-sized appends so that they straddle segment boundaries.
    for (size_t off = 0; off < text.size(); off += 333) {
        w.append(std::string_view(text).substr(off, 333));
    }
    const sip_wire m = w.finish();
    ASSERT_FALSE(m.empty());
    EXPECT_EQ(m.size(), text.size());
    EXPECT_EQ(m.segments(), 4u) << "the first segment keeps its headroom, the rest use their whole buffer";
    EXPECT_EQ(test_pool().stats().segments_chained - chained_before, 3u);
    EXPECT_TRUE(m.contiguous().empty());
    EXPECT_EQ(m.to_string(), text);
    // Reads across segment boundaries.
    std::string part(100, '\0');
    ASSERT_EQ(m.copy_to(part.data(), part.size(), 2000), 100u);
    EXPECT_EQ(part, text.substr(2000, 100));
    EXPECT_TRUE(m.starts_with(text.substr(0, 200)));
    size_t sum = 0;
    for (const rte_mbuf* seg = m.head(); seg != nullptr; seg = seg->next) {
        sum += rte_pktmbuf_data_len(seg);
    }
    EXPECT_EQ(sum, text.size());
}

TEST(sip_writer, allocation_failure_gives_an_empty_handle_counted_once) {
    message_pool& pool = small_pool();
    const unsigned free_at_start = pool.available();
    std::vector<sip_wire> hold;
    for (unsigned i = 0; i < 64 && pool.available() > 1; ++i) {
        sip_writer w(pool);
        w.append("x");
        hold.push_back(w.finish());
    }
    ASSERT_EQ(pool.available(), 1u);
    const uint64_t failures = pool.stats().alloc_failures;
    {
        // Needs three segments, one is left: it fails half-way and gives the one back.
        sip_writer w(pool);
        w.append(patterned(5000));
        EXPECT_TRUE(w.failed());
        w.append("more is ignored");
        const sip_wire m = w.finish();
        EXPECT_TRUE(m.empty());
        EXPECT_EQ(m.size(), 0u);
        EXPECT_EQ(m.to_string(), "");
    }
    EXPECT_EQ(pool.stats().alloc_failures, failures + 1);
    EXPECT_EQ(pool.available(), 1u) << "the partial chain went back to the pool";
    hold.clear();
    EXPECT_EQ(pool.available(), free_at_start);
}

TEST(sip_writer, an_unfinished_writer_frees_its_chain) {
    message_pool& pool = small_pool();
    const unsigned free_at_start = pool.available();
    {
        sip_writer w(pool);
        w.append(patterned(3000));
        EXPECT_LT(pool.available(), free_at_start);
    }
    EXPECT_EQ(pool.available(), free_at_start);
}

TEST(sip_wire, copies_share_the_bytes_and_the_last_owner_frees_them) {
    message_pool& pool = small_pool();
    const unsigned free_at_start = pool.available();
    sip_writer w(pool);
    w.append(patterned(4500));  // three segments
    sip_wire a = w.finish();
    ASSERT_EQ(a.segments(), 3u);
    EXPECT_EQ(pool.available(), free_at_start - 3);
    EXPECT_TRUE(a.unique());
    {
        sip_wire b = a;  // reference +1 on every segment, no new mbufs
        EXPECT_EQ(pool.available(), free_at_start - 3);
        EXPECT_EQ(b.head(), a.head()) << "the same chain, not a copy of it";
        EXPECT_FALSE(a.unique());
        for (const rte_mbuf* seg = a.head(); seg != nullptr; seg = seg->next) {
            EXPECT_EQ(rte_mbuf_refcnt_read(seg), 2u);
        }
        sip_wire c;
        c = b;  // copy-assign
        EXPECT_EQ(rte_mbuf_refcnt_read(a.head()), 3u);
        sip_wire d = std::move(c);  // moves take no reference
        EXPECT_TRUE(c.empty());
        EXPECT_EQ(rte_mbuf_refcnt_read(a.head()), 3u);
        EXPECT_EQ(d.to_string(), a.to_string());
        a.reset();  // the first owner goes; the others still read the bytes
        EXPECT_EQ(pool.available(), free_at_start - 3);
        EXPECT_EQ(b.to_string(), patterned(4500));
    }
    EXPECT_EQ(pool.available(), free_at_start) << "the last owner gave every segment back";
}

TEST(sip_wire, release_hands_over_the_reference) {
    message_pool& pool = small_pool();
    const unsigned free_at_start = pool.available();
    sip_writer w(pool);
    w.append("BYE sip:x SIP/2.0\r\n\r\n");
    sip_wire m = w.finish();
    rte_mbuf* raw = m.release();
    EXPECT_TRUE(m.empty());
    EXPECT_EQ(pool.available(), free_at_start - 1);
    sip_wire again(raw);  // adopts it back
    EXPECT_EQ(again.to_string(), "BYE sip:x SIP/2.0\r\n\r\n");
    again.reset();
    EXPECT_EQ(pool.available(), free_at_start);
}

TEST(sip_wire, self_assignment_keeps_the_message) {
    sip_writer w(test_pool());
    w.append("INFO");
    sip_wire m = w.finish();
    sip_wire& alias = m;
    m = alias;
    EXPECT_EQ(m.to_string(), "INFO");
    EXPECT_EQ(rte_mbuf_refcnt_read(m.head()), 1u);
}
