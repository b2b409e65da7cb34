// Relay port allocation: even RTP ports, RTCP pairs, exhaustion, round robin.

#include "media_ports.hh"

#include <gtest/gtest.h>

#include <set>

using namespace sf::control;

TEST(media_ports, capacity_counts_pairs) {
    media_ports p(20000, 29999);
    EXPECT_EQ(p.capacity(), 5000u);
    EXPECT_EQ(p.in_use(), 0u);
    media_ports small(20000, 20003);
    EXPECT_EQ(small.capacity(), 2u);
}

TEST(media_ports, allocates_even_ports_in_range) {
    media_ports p(20000, 20019);
    std::set<uint16_t> seen;
    for (int i = 0; i < 10; ++i) {
        const uint16_t port = p.allocate();
        ASSERT_NE(port, 0);
        EXPECT_EQ(port % 2, 0) << port;
        EXPECT_GE(port, 20000);
        EXPECT_LE(port + 1, 20019) << "the RTCP port must lie in the range too";
        EXPECT_TRUE(seen.insert(port).second) << "port " << port << " handed out twice";
    }
    EXPECT_EQ(p.in_use(), 10u);
}

TEST(media_ports, first_allocations_are_consecutive_pairs) {
    media_ports p(20000, 29999);
    EXPECT_EQ(p.allocate(), 20000);
    EXPECT_EQ(p.allocate(), 20002);
    EXPECT_EQ(p.allocate(), 20004);
}

TEST(media_ports, exhaustion_returns_zero) {
    media_ports p(20000, 20007);
    EXPECT_NE(p.allocate(), 0);
    EXPECT_NE(p.allocate(), 0);
    EXPECT_NE(p.allocate(), 0);
    EXPECT_NE(p.allocate(), 0);
    EXPECT_EQ(p.allocate(), 0);
    EXPECT_EQ(p.allocate(), 0);
    EXPECT_EQ(p.in_use(), 4u);
}

TEST(media_ports, odd_max_does_not_hand_out_a_half_pair) {
    // [20000, 20004]: pairs 20000/1 and 20002/3; 20004 has no RTCP partner.
    media_ports p(20000, 20004);
    EXPECT_EQ(p.capacity(), 2u);
    EXPECT_EQ(p.allocate(), 20000);
    EXPECT_EQ(p.allocate(), 20002);
    EXPECT_EQ(p.allocate(), 0);
}

TEST(media_ports, release_and_reuse_after_exhaustion) {
    media_ports p(20000, 20007);
    for (int i = 0; i < 4; ++i) {
        ASSERT_NE(p.allocate(), 0);
    }
    ASSERT_EQ(p.allocate(), 0);
    p.release(20004);
    EXPECT_EQ(p.in_use(), 3u);
    EXPECT_EQ(p.allocate(), 20004);
    EXPECT_EQ(p.in_use(), 4u);
    EXPECT_EQ(p.allocate(), 0);
}

TEST(media_ports, round_robin_does_not_reuse_a_freed_port_at_once) {
    media_ports p(20000, 20009);  // 5 pairs
    const uint16_t first = p.allocate();
    EXPECT_EQ(first, 20000);
    p.release(first);
    const uint16_t second = p.allocate();
    EXPECT_NE(second, first) << "a freed port must not come back immediately";
    EXPECT_EQ(second, 20002);
    // Walk around the ring: the freed one comes back only after the others.
    EXPECT_EQ(p.allocate(), 20004);
    EXPECT_EQ(p.allocate(), 20006);
    EXPECT_EQ(p.allocate(), 20008);
    EXPECT_EQ(p.allocate(), 20000);
    EXPECT_EQ(p.allocate(), 0);
}

TEST(media_ports, release_of_bad_ports_is_ignored) {
    media_ports p(20000, 20007);
    const uint16_t a = p.allocate();
    ASSERT_EQ(a, 20000);
    p.release(20001);  // odd: the RTCP port, not a pair
    p.release(19998);  // below the range
    p.release(20008);  // above the range
    p.release(0);
    p.release(65535);
    p.release(20002);  // in range but never allocated
    EXPECT_EQ(p.in_use(), 1u);
    p.release(a);
    EXPECT_EQ(p.in_use(), 0u);
    p.release(a);  // double release
    EXPECT_EQ(p.in_use(), 0u);
    // Everything is still usable exactly once.
    std::set<uint16_t> seen;
    for (int i = 0; i < 4; ++i) {
        const uint16_t port = p.allocate();
        ASSERT_NE(port, 0);
        EXPECT_TRUE(seen.insert(port).second);
    }
    EXPECT_EQ(p.allocate(), 0);
}
