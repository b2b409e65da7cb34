/// @file
/// media_side's departure copy: what bridge(), set_remote(), set_remote_mac() and latch() put
/// in it, that a reader never sees half of one departure and half of another, and that the
/// copy ends up matching the truth when a worker latches while the control thread re-bridges.

#include <gtest/gtest.h>

#include <rte_byteorder.h>
#include <rte_pause.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "media_side.hh"

namespace sf::dp {
namespace {

constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}
rte_ether_addr mac(uint8_t last) { return rte_ether_addr{{0x02, 0, 0, 0, 0, last}}; }

// The departure a packet gets when it leaves from `to` towards (remote, rmac): built here
// field by field, as the relay used to write it, to check the packed copy against.
struct expected_headers {
    std::array<uint8_t, 12> eth;
    uint32_t src_be, dst_be;
    uint16_t sport_be, dport_be;
};

expected_headers expect_from(const media_side& to, uint64_t remote, const rte_ether_addr& rmac) {
    expected_headers e{};
    std::memcpy(e.eth.data(), rmac.addr_bytes, 6);
    std::memcpy(e.eth.data() + 6, to.local_mac.addr_bytes, 6);
    e.src_be = rte_cpu_to_be_32(to.local_addr);
    e.dst_be = rte_cpu_to_be_32(endpoint_addr(remote));
    e.sport_be = rte_cpu_to_be_16(to.local_port);
    e.dport_be = rte_cpu_to_be_16(endpoint_port(remote));
    return e;
}

void expect_departure(const media_side& from, const media_side& to, uint64_t remote, const rte_ether_addr& rmac) {
    departure d;
    ASSERT_TRUE(from.read_departure(d));
    const expected_headers e = expect_from(to, remote, rmac);
    uint8_t eth[12];
    std::memcpy(eth, &d.eth, 8);
    std::memcpy(eth + 8, &d.eth_ports, 4);
    EXPECT_EQ(std::memcmp(eth, e.eth.data(), 12), 0);
    EXPECT_EQ(d.src_addr_be(), e.src_be);
    EXPECT_EQ(d.dst_addr_be(), e.dst_be);
    EXPECT_EQ(d.src_port_be(), e.sport_be);
    EXPECT_EQ(d.dst_port_be(), e.dport_be);
    EXPECT_EQ(d.port, to.port_id);
}

uint16_t port_of(const media_side& s) {
    departure d;
    EXPECT_TRUE(s.read_departure(d));
    return d.port;
}

void init(media_side& s, uint32_t addr, uint16_t port, uint16_t port_id, uint8_t mac_last) {
    s.local_addr = addr;
    s.local_port = port;
    s.port_id = port_id;
    s.local_mac = mac(mac_last);
}

class media_side_test : public ::testing::Test {
protected:
    void SetUp() override {
        init(a, ipv4(192, 0, 2, 1), 20000, 0, 0x01);
        init(b, ipv4(198, 51, 100, 1), 30002, 1, 0x02);
        set_remote(a, pack_endpoint(ipv4(192, 0, 2, 10), 6000), pack_mac(mac(0xa0)));
        set_remote(b, pack_endpoint(ipv4(198, 51, 100, 20), 7000), pack_mac(mac(0xb0)));
    }
    media_side a, b;
};

TEST_F(media_side_test, unbridged_side_sends_nowhere) {
    EXPECT_EQ(port_of(a), departure::nowhere);
    EXPECT_EQ(a.peer(), nullptr);
}

TEST_F(media_side_test, bridge_copies_the_peers_addresses_and_remote) {
    ASSERT_TRUE(bridge(a, &b));
    ASSERT_TRUE(bridge(b, &a));
    EXPECT_EQ(a.peer(), &b);
    expect_departure(a, b, pack_endpoint(ipv4(198, 51, 100, 20), 7000), mac(0xb0));
    expect_departure(b, a, pack_endpoint(ipv4(192, 0, 2, 10), 6000), mac(0xa0));

    ASSERT_TRUE(bridge(a, nullptr));
    EXPECT_EQ(port_of(a), departure::nowhere);
    EXPECT_EQ(a.peer(), nullptr);
}

TEST_F(media_side_test, peer_without_remote_or_next_hop_is_nowhere) {
    media_side c;
    init(c, ipv4(203, 0, 113, 1), 40000, 2, 0x03);
    ASSERT_TRUE(bridge(a, &c));
    ASSERT_TRUE(bridge(c, &a));  // c's changes reach the side that sends to it when c sends back
    EXPECT_EQ(port_of(a), departure::nowhere) << "no remote yet";
    ASSERT_TRUE(set_remote(c, pack_endpoint(ipv4(203, 0, 113, 9), 5000), 0));
    EXPECT_EQ(port_of(a), departure::nowhere) << "a remote without a next hop";
    ASSERT_TRUE(set_remote_mac(c, pack_mac(mac(0xc0))));
    expect_departure(a, c, pack_endpoint(ipv4(203, 0, 113, 9), 5000), mac(0xc0));
}

TEST_F(media_side_test, a_remote_change_reaches_the_side_that_sends_to_it) {
    ASSERT_TRUE(bridge(a, &b));
    ASSERT_TRUE(bridge(b, &a));
    ASSERT_TRUE(set_remote(b, pack_endpoint(ipv4(198, 51, 100, 77), 7070), pack_mac(mac(0xbb))));
    expect_departure(a, b, pack_endpoint(ipv4(198, 51, 100, 77), 7070), mac(0xbb));
    ASSERT_TRUE(latch(b, pack_endpoint(ipv4(198, 51, 100, 99), 9999), pack_mac(mac(0xb9))));
    EXPECT_TRUE(b.latched());
    expect_departure(a, b, pack_endpoint(ipv4(198, 51, 100, 99), 9999), mac(0xb9));
    // b's own departure (towards a's remote) did not move.
    expect_departure(b, a, pack_endpoint(ipv4(192, 0, 2, 10), 6000), mac(0xa0));
}

// A transfer in progress: the new party's side n sends to the kept side a, a still sends to
// the old party b. A change of a's remote reaches b's copy; n's is refreshed by re-bridging.
TEST_F(media_side_test, a_side_that_is_not_its_peers_peer_is_refreshed_by_bridging) {
    media_side n;
    init(n, ipv4(203, 0, 113, 1), 40000, 2, 0x03);
    ASSERT_TRUE(bridge(a, &b));
    ASSERT_TRUE(bridge(b, &a));
    ASSERT_TRUE(bridge(n, &a));
    const uint64_t moved = pack_endpoint(ipv4(192, 0, 2, 55), 5555);
    ASSERT_TRUE(set_remote(a, moved, pack_mac(mac(0xa5))));
    expect_departure(b, a, moved, mac(0xa5));
    expect_departure(n, a, pack_endpoint(ipv4(192, 0, 2, 10), 6000), mac(0xa0));
    ASSERT_TRUE(bridge(a, &n));  // the switch-over, as media_anchor does it
    ASSERT_TRUE(bridge(n, &a));
    expect_departure(n, a, moved, mac(0xa5));
}

// A writer mid-change: readers give up (the relay drops the packet) rather than read a mix,
// and a worker's latch does not wait: the side keeps waiting and latches on a later packet.
TEST_F(media_side_test, a_held_departure_is_neither_read_nor_waited_for) {
    ASSERT_TRUE(bridge(a, &b));
    ASSERT_TRUE(bridge(b, &a));
    a.dep_seq_.fetch_add(1);  // what a writer holding a's lock looks like
    departure d;
    EXPECT_FALSE(a.read_departure(d));
    EXPECT_FALSE(latch(b, pack_endpoint(ipv4(198, 51, 100, 99), 9999), pack_mac(mac(0xb9))));
    EXPECT_FALSE(b.latched()) << "latches again on its next packet";
    a.dep_seq_.fetch_add(1);
    EXPECT_TRUE(latch(b, pack_endpoint(ipv4(198, 51, 100, 99), 9999), pack_mac(mac(0xb9))));
    expect_departure(a, b, pack_endpoint(ipv4(198, 51, 100, 99), 9999), mac(0xb9));
}

// A packet from where the SDP said: latching changes nothing, so it takes no lock and the
// side that sends to it (whose packets the other direction's worker is relaying meanwhile)
// never looks mid-change. A stale copy (a latch that gave up after storing the truth) is
// still recopied under the lock, and so is a packet from another next hop.
TEST_F(media_side_test, a_latch_that_confirms_the_remote_takes_no_lock) {
    ASSERT_TRUE(bridge(a, &b));
    ASSERT_TRUE(bridge(b, &a));
    const uint32_t seq_a = a.dep_seq_.load(), seq_b = b.dep_seq_.load();
    EXPECT_TRUE(latch(b, pack_endpoint(ipv4(198, 51, 100, 20), 7000), pack_mac(mac(0xb0))));
    EXPECT_TRUE(b.latched());
    EXPECT_EQ(a.dep_seq_.load(), seq_a) << "a's copy was locked";
    EXPECT_EQ(b.dep_seq_.load(), seq_b);
    expect_departure(a, b, pack_endpoint(ipv4(198, 51, 100, 20), 7000), mac(0xb0));

    EXPECT_TRUE(latch(a, pack_endpoint(ipv4(192, 0, 2, 10), 6000), pack_mac(mac(0xa1))));
    EXPECT_EQ(b.dep_seq_.load(), seq_b + 2) << "another next hop is a change, copied under b's lock";
    expect_departure(b, a, pack_endpoint(ipv4(192, 0, 2, 10), 6000), mac(0xa1));
}

// A worker reads a's departure while the control thread moves a between two parties (a
// transfer's switch, over and over): every read is all of one or all of the other.
TEST(media_side_race, readers_never_see_half_a_switch) {
    media_side a, x, y;
    init(a, ipv4(192, 0, 2, 1), 20000, 0, 0x01);
    init(x, ipv4(198, 51, 100, 1), 30000, 1, 0x02);
    init(y, ipv4(203, 0, 113, 1), 40000, 2, 0x03);
    set_remote(x, pack_endpoint(ipv4(198, 51, 100, 20), 7000), pack_mac(mac(0xb0)));
    set_remote(y, pack_endpoint(ipv4(203, 0, 113, 20), 8000), pack_mac(mac(0xc0)));
    departure dx, dy;
    ASSERT_TRUE(bridge(a, &x));
    ASSERT_TRUE(a.read_departure(dx));
    ASSERT_TRUE(bridge(a, &y));
    ASSERT_TRUE(a.read_departure(dy));

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> reads{0}, torn{0}, refused{0};
    std::thread reader([&] {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (unsigned i = 0; i < 50'000'000 && !stop.load(std::memory_order_relaxed); ++i) {
            if ((i & 0xffff) == 0 && std::chrono::steady_clock::now() > deadline) {
                break;
            }
            departure d;
            if (!a.read_departure(d)) {
                refused.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            const bool is_x = d.eth == dx.eth && d.eth_ports == dx.eth_ports && d.addrs == dx.addrs && d.port == dx.port;
            const bool is_y = d.eth == dy.eth && d.eth_ports == dy.eth_ports && d.addrs == dy.addrs && d.port == dy.port;
            if (!is_x && !is_y) {
                torn.fetch_add(1, std::memory_order_relaxed);
            }
            reads.fetch_add(1, std::memory_order_relaxed);
        }
    });
    for (unsigned i = 0; i < 200'000; ++i) {
        ASSERT_TRUE(bridge(a, (i & 1) ? &x : &y));
    }
    stop.store(true);
    reader.join();
    EXPECT_EQ(torn.load(), 0u) << reads.load() << " reads, " << refused.load() << " refused while a switch was on";
    EXPECT_GT(reads.load(), 0u);
}

// The worker that receives b's flow latches b (its remote changes) while the control thread
// re-bridges a to b: however the two interleave, a's copy ends up with b's latched remote.
TEST(media_side_race, a_latch_racing_a_bridge_is_never_lost) {
    unsigned stale = 0;
    for (unsigned round = 0; round < 2000; ++round) {
        media_side a, b;
        init(a, ipv4(192, 0, 2, 1), 20000, 0, 0x01);
        init(b, ipv4(198, 51, 100, 1), 30000, 1, 0x02);
        set_remote(b, pack_endpoint(ipv4(198, 51, 100, 20), 7000), pack_mac(mac(0xb0)));
        ASSERT_TRUE(bridge(b, &a));  // b -> a was set up first, as open() does before publishing
        const uint64_t latched_ep = pack_endpoint(ipv4(198, 51, 100, 99), static_cast<uint16_t>(1000 + round));
        // Both start from a spin barrier; one of them then waits a little, a different while each
        // round, so the rounds sweep every interleaving of the two short critical paths.
        const unsigned worker_delay = (round & 1) ? (round / 2) % 128 : 0;
        const unsigned control_delay = (round & 1) ? 0 : (round / 2) % 128;
        std::atomic<unsigned> ready{0};
        std::thread worker([&] {
            ready.fetch_add(1);
            for (unsigned spin = 0; spin < 100'000'000 && ready.load(std::memory_order_acquire) < 2; ++spin) {
            }
            for (unsigned k = 0; k < worker_delay; ++k) {
                rte_pause();
            }
            // A worker retries on the next packet when the lock is busy: a few packets here.
            for (unsigned tries = 0; tries < 1000 && !latch(b, latched_ep, pack_mac(mac(0xb9))); ++tries) {
            }
        });
        ready.fetch_add(1);
        for (unsigned spin = 0; spin < 100'000'000 && ready.load(std::memory_order_acquire) < 2; ++spin) {
        }
        for (unsigned k = 0; k < control_delay; ++k) {
            rte_pause();
        }
        ASSERT_TRUE(bridge(a, &b));
        worker.join();
        ASSERT_TRUE(b.latched());
        departure d;
        ASSERT_TRUE(a.read_departure(d));
        const expected_headers e = expect_from(b, latched_ep, mac(0xb9));
        stale += d.dst_addr_be() != e.dst_be || d.dst_port_be() != e.dport_be;
    }
    EXPECT_EQ(stale, 0u);
}

}  // namespace
}  // namespace sf::dp
