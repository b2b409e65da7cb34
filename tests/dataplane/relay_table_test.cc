/// @file
/// The relay table (address directory + pages of sides, slots reused after an RCU grace
/// period) on real DPDK objects: make and publish, lookup, bulk lookup, removal with deferred
/// reuse, capacity, the address bound, page boundaries and readers racing the control thread.

#include <gtest/gtest.h>

#include <rte_lcore.h>

#include <rte_malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <new>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "eal_fixture.hh"
#include "relay_table.hh"

namespace sf::dp {
namespace {

using namespace sf::dp::test;

[[maybe_unused]] auto* const eal = register_eal();

// A side made in `t` for (addr, port), as control makes one before filling and inserting it.
media_side* new_side(relay_table& t, uint32_t addr, uint16_t port) {
    return t.make(addr, port);
}

std::unique_ptr<relay_table> make_table(uint32_t capacity, unsigned readers = 1, uint32_t max_addresses = 4096) {
    return std::make_unique<relay_table>(unique_name("rt").c_str(), capacity, readers,
                                         static_cast<int>(rte_socket_id()), max_addresses);
}

// Bytes allocated from DPDK's heaps on this socket (directories and pages come from there).
size_t dpdk_heap_bytes() {
    rte_malloc_socket_stats st{};
    rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &st);
    return st.heap_allocsz_bytes;
}

media_side* lookup_one(const relay_table& t, uint32_t addr, uint16_t port) {
    const relay_key k{addr, port, 0};
    const relay_key* p = &k;
    media_side* out = reinterpret_cast<media_side*>(0x1);  // garbage
    const unsigned hits = t.lookup_bulk(&p, 1, &out);
    EXPECT_EQ(hits, out != nullptr ? 1u : 0u);
    return out;
}

TEST(relay_table, made_side_is_found_only_once_inserted) {
    auto t = make_table(64);
    media_side* s = t->make(ipv4(192, 0, 2, 1), 20000);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->local_addr, ipv4(192, 0, 2, 1));
    EXPECT_EQ(s->local_port, 20000);
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 1), 20000), nullptr) << "made, not published";
    EXPECT_EQ(lookup_one(*t, ipv4(192, 0, 2, 1), 20000), nullptr);
    EXPECT_EQ(t->size(), 0u);
    EXPECT_EQ(t->make(ipv4(192, 0, 2, 1), 20000), nullptr) << "the key is taken while made";
    ASSERT_TRUE(t->insert(s));
    EXPECT_FALSE(t->insert(s)) << "published already";
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 1), 20000), s);
    EXPECT_EQ(lookup_one(*t, ipv4(192, 0, 2, 1), 20000), s);

    // A side made and never inserted goes back at once (no worker can have found it), reset.
    media_side* u = t->make(ipv4(192, 0, 2, 1), 20002);
    ASSERT_NE(u, nullptr);
    u->rx_packets.store(7);
    u->port_id = 3;
    ASSERT_TRUE(t->remove(ipv4(192, 0, 2, 1), 20002));
    media_side* again = t->make(ipv4(192, 0, 2, 1), 20002);
    ASSERT_EQ(again, u) << "the same slot";
    EXPECT_EQ(again->rx_packets.load(), 0u);
    EXPECT_EQ(again->port_id, 0);
    EXPECT_FALSE(t->insert(nullptr));
    media_side stray;
    EXPECT_FALSE(t->insert(&stray)) << "not the table's";
}

TEST(relay_table, insert_find_remove) {
    auto t = make_table(1024);
    EXPECT_EQ(t->size(), 0u);
    EXPECT_EQ(t->capacity(), 1024u);
    media_side* a = new_side(*t, ipv4(192, 0, 2, 1), 20000);
    media_side* b = new_side(*t, ipv4(192, 0, 2, 1), 20002);
    media_side* c = new_side(*t, ipv4(192, 0, 2, 2), 20000);  // same port, other address
    ASSERT_TRUE(t->insert(a));
    ASSERT_TRUE(t->insert(b));
    ASSERT_TRUE(t->insert(c));
    EXPECT_EQ(t->size(), 3u);
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 1), 20000), a);
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 1), 20002), b);
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 2), 20000), c);
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 2), 20002), nullptr);
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 1), 20001), nullptr);

    EXPECT_TRUE(t->remove(ipv4(192, 0, 2, 1), 20000));
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 1), 20000), nullptr);
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 1), 20002), b);
    EXPECT_FALSE(t->remove(ipv4(192, 0, 2, 1), 20000)) << "second remove of the same key";
    EXPECT_FALSE(t->remove(ipv4(203, 0, 113, 1), 1));
}

TEST(relay_table, duplicate_insert_refused) {
    auto t = make_table(64);
    media_side* a = new_side(*t, ipv4(192, 0, 2, 1), 20000);
    ASSERT_TRUE(t->insert(a));
    EXPECT_EQ(t->make(ipv4(192, 0, 2, 1), 20000), nullptr);
    EXPECT_FALSE(t->insert(a));
    // The published side is untouched: a refused make must not reset it.
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 1), 20000), a);
    EXPECT_EQ(t->size(), 1u);
}

// size() feeds stats_snapshot::relay_entries: entries removed but still waiting
// for their grace period are not published any more and must not be counted.
TEST(relay_table, size_counts_only_published_entries) {
    auto t = make_table(1024);
    for (uint16_t i = 0; i < 10; ++i) {
        ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 8, 0, 1), static_cast<uint16_t>(20000 + i))));
    }
    for (uint16_t i = 0; i < 3; ++i) {
        ASSERT_TRUE(t->remove(ipv4(10, 8, 0, 1), static_cast<uint16_t>(20000 + i)));
    }
    EXPECT_EQ(t->size(), 7u) << "no reader registered: nothing can still hold the removed sides";

    // With a reader that has not reported yet the gap is as large as the churn.
    auto t2 = make_table(2000);
    t2->reader_register(0);
    for (unsigned i = 0; i < 1000; ++i) {
        ASSERT_TRUE(t2->insert(new_side(*t2, ipv4(10, 9, 0, 0) + i % 4, static_cast<uint16_t>(20000 + i))));
    }
    for (unsigned i = 0; i < 1000; ++i) {
        ASSERT_TRUE(t2->remove(ipv4(10, 9, 0, 0) + i % 4, static_cast<uint16_t>(20000 + i)));
    }
    EXPECT_EQ(t2->size(), 0u);
    EXPECT_EQ(t2->pending(), 1000u);
    t2->reader_offline(0);
}

TEST(relay_table, same_name_twice_throws) {
    const std::string name = unique_name("rt_dup");
    relay_table t(name.c_str(), 64, 1, static_cast<int>(rte_socket_id()));
    EXPECT_THROW(relay_table(name.c_str(), 64, 1, static_cast<int>(rte_socket_id())), std::runtime_error);
}

TEST(relay_table, lookup_bulk_mixed_burst) {
    auto t = make_table(4096);
    std::vector<media_side*> sides;
    for (uint16_t p = 0; p < 100; ++p) {
        sides.push_back(new_side(*t, ipv4(192, 0, 2, 1), static_cast<uint16_t>(20000 + 2 * p)));
        ASSERT_TRUE(t->insert(sides.back()));
    }
    std::mt19937 rng(1);
    for (int round = 0; round < 200; ++round) {
        relay_key keys[32];
        const relay_key* ptrs[32];
        media_side* expect[32];
        unsigned expect_hits = 0;
        for (unsigned i = 0; i < 32; ++i) {
            if (rng() % 3 == 0) {
                // Odd ports are never published; other addresses neither.
                keys[i] = relay_key{rng() % 2 ? ipv4(192, 0, 2, 1) : ipv4(192, 0, 2, 9),
                                    static_cast<uint16_t>(20001 + 2 * (rng() % 100)), 0};
                expect[i] = nullptr;
            } else {
                const unsigned k = rng() % sides.size();
                keys[i] = relay_key{sides[k]->local_addr, sides[k]->local_port, 0};
                expect[i] = sides[k];
                ++expect_hits;
            }
            ptrs[i] = &keys[i];
        }
        media_side* out[32];
        std::fill(std::begin(out), std::end(out), reinterpret_cast<media_side*>(0x1));  // garbage
        ASSERT_EQ(t->lookup_bulk(ptrs, 32, out), expect_hits);
        for (unsigned i = 0; i < 32; ++i) {
            ASSERT_EQ(out[i], expect[i]) << "round " << round << " slot " << i;
        }
    }
}

TEST(relay_table, lookup_bulk_64_and_single) {
    auto t = make_table(1024);
    relay_key keys[64];
    const relay_key* ptrs[64];
    for (uint16_t i = 0; i < 64; ++i) {
        ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 0, 0, 1), static_cast<uint16_t>(30000 + i))));
        keys[i] = relay_key{ipv4(10, 0, 0, 1), static_cast<uint16_t>(30000 + i), 0};
        ptrs[i] = &keys[i];
    }
    media_side* out[64];
    EXPECT_EQ(t->lookup_bulk(ptrs, 64, out), 64u);  // bit 63 of the hit mask counts too
    for (unsigned i = 0; i < 64; ++i) {
        ASSERT_NE(out[i], nullptr);
        EXPECT_EQ(out[i]->local_port, 30000 + i);
    }
    EXPECT_EQ(t->lookup_bulk(ptrs + 5, 1, out), 1u);
    EXPECT_EQ(out[0]->local_port, 30005);
}

// More than a burst in one call is outside the contract, yet answered in full, never past a buffer.
TEST(relay_table, lookup_bulk_over_64_answered_in_full) {
    auto t = make_table(1024);
    std::vector<relay_key> keys(150);
    std::vector<const relay_key*> ptrs(150);
    for (uint16_t i = 0; i < 150; ++i) {
        if (i % 3 != 0) {
            ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 0, 0, 2), static_cast<uint16_t>(40000 + i))));
        }
        keys[i] = relay_key{ipv4(10, 0, 0, 2), static_cast<uint16_t>(40000 + i), 0};
        ptrs[i] = &keys[i];
    }
    std::vector<media_side*> out(150, reinterpret_cast<media_side*>(1));
    EXPECT_EQ(t->lookup_bulk(ptrs.data(), 150, out.data()), 100u);
    for (unsigned i = 0; i < 150; ++i) {
        if (i % 3 == 0) {
            EXPECT_EQ(out[i], nullptr) << i;
        } else {
            ASSERT_NE(out[i], nullptr) << i;
            EXPECT_EQ(out[i]->local_port, 40000 + i);
        }
    }
}

// The relay's two-step lookup: locate_bulk gives every key a slot to read (its own, or a
// stand-in that is never live), and live_side() says whether it is published, in every state.
TEST(relay_table, locate_bulk_then_live_side) {
    auto t = make_table(1024);
    const uint32_t a = ipv4(10, 0, 0, 3);
    media_side* live = new_side(*t, a, 20000);
    ASSERT_TRUE(t->insert(live));
    media_side* made = t->make(a, 20002);  // made, never inserted
    ASSERT_NE(made, nullptr);
    media_side* retiring = new_side(*t, a, 20004);
    ASSERT_TRUE(t->insert(retiring));
    t->reader_register(0);  // holds the removed side in its grace period
    ASSERT_TRUE(t->remove(a, 20004));
    const relay_key keys[] = {
        {a, 20000, 0},                 // live
        {a, 20002, 0},                 // made
        {a, 20004, 0},                 // retiring
        {a, 20006, 0},                 // free slot on an existing page
        {a, 60000, 0},                 // its page was never made
        {ipv4(10, 0, 0, 4), 20000, 0}, // an address the table does not hold
    };
    constexpr unsigned n = std::size(keys);
    const relay_key* ptrs[n];
    for (unsigned i = 0; i < n; ++i) {
        ptrs[i] = &keys[i];
    }
    const media_side* where[n];
    std::fill(std::begin(where), std::end(where), nullptr);
    t->locate_bulk(ptrs, n, where);
    EXPECT_EQ(where[0], live);
    EXPECT_EQ(where[1], made);
    EXPECT_EQ(where[2], retiring);
    for (unsigned i = 0; i < n; ++i) {
        ASSERT_NE(where[i], nullptr) << i;  // always something to read
        EXPECT_EQ(relay_table::live_side(where[i]), i == 0 ? live : nullptr) << i;
    }
    // The same answers as the one-step lookup.
    media_side* out[n];
    EXPECT_EQ(t->lookup_bulk(ptrs, n, out), 1u);
    for (unsigned i = 0; i < n; ++i) {
        EXPECT_EQ(out[i], relay_table::live_side(where[i])) << i;
    }
    t->reader_offline(0);
}

TEST(relay_table, remove_then_lookup_misses) {
    auto t = make_table(1024);
    for (uint16_t i = 0; i < 32; ++i) {
        ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 0, 0, 1), static_cast<uint16_t>(20000 + i))));
    }
    for (uint16_t i = 0; i < 32; i += 2) {
        ASSERT_TRUE(t->remove(ipv4(10, 0, 0, 1), static_cast<uint16_t>(20000 + i)));
    }
    relay_key keys[32];
    const relay_key* ptrs[32];
    for (uint16_t i = 0; i < 32; ++i) {
        keys[i] = relay_key{ipv4(10, 0, 0, 1), static_cast<uint16_t>(20000 + i), 0};
        ptrs[i] = &keys[i];
    }
    media_side* out[32];
    EXPECT_EQ(t->lookup_bulk(ptrs, 32, out), 16u);
    for (unsigned i = 0; i < 32; ++i) {
        EXPECT_EQ(out[i] == nullptr, i % 2 == 0) << i;
    }
}

// Removed sides must stay as they were while a registered reader has not reported a
// quiescent state (their slots cannot be made again), and be reusable once it has.
TEST(relay_table, removed_slots_reused_only_after_grace_period) {
    constexpr unsigned n = 10000;
    auto t = make_table(12000);
    t->reader_register(0);
    for (unsigned i = 0; i < n; ++i) {
        ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 1, 0, 0) + i / 5000, static_cast<uint16_t>(20000 + i % 5000))));
    }
    // A worker looked an entry up before the removals and may still use it.
    media_side* held = t->find(ipv4(10, 1, 0, 0), 20000);
    ASSERT_NE(held, nullptr);
    held->rx_packets.store(41);

    for (unsigned i = 0; i < n; ++i) {
        ASSERT_TRUE(t->remove(ipv4(10, 1, 0, 0) + i / 5000, static_cast<uint16_t>(20000 + i % 5000)));
    }
    EXPECT_EQ(t->find(ipv4(10, 1, 0, 0), 20000), nullptr);
    EXPECT_EQ(lookup_one(*t, ipv4(10, 1, 0, 0), 20000), nullptr);
    EXPECT_EQ(t->pending(), n);
    EXPECT_EQ(t->make(ipv4(10, 1, 0, 0), 20000), nullptr) << "remade before the reader's grace period ended";
    EXPECT_EQ(held->local_port, 20000);
    EXPECT_EQ(held->rx_packets.load(), 41u) << "reset under a reader";
    held->rx_packets.store(42);  // still the reader's to touch

    // With 10k slots waiting for the grace period only 2k are free.
    unsigned added = 0;
    for (unsigned i = 0; i < 3000; ++i) {
        if (!t->insert(new_side(*t, ipv4(10, 2, 0, 0), static_cast<uint16_t>(i)))) {
            break;
        }
        ++added;
    }
    EXPECT_EQ(added, 2000u) << "slots of removed entries reused before the grace period";

    // The reader passes a quiescent state: now every removed slot can be made again, and the
    // old entries are reclaimed as makes need them.
    t->reader_quiescent(0);
    for (unsigned i = 0; i < n - added; ++i) {
        ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 1, 0, 0) + i / 5000, static_cast<uint16_t>(20000 + i % 5000))))
            << "re-add " << i;
    }
    media_side* again = t->find(ipv4(10, 1, 0, 0), 20000);
    EXPECT_EQ(again, held) << "the same slot, made again";
    EXPECT_EQ(again->rx_packets.load(), 0u) << "and reset";
    EXPECT_EQ(t->size(), n);
    t->reader_offline(0);
}

TEST(relay_table, remove_10k_and_readd_many_rounds) {
    auto t = make_table(10000);
    t->reader_register(0);
    for (int round = 0; round < 5; ++round) {
        for (unsigned i = 0; i < 10000; ++i) {
            ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 3, 0, 0) + i % 8, static_cast<uint16_t>(20000 + i / 8))))
                << "round " << round << " entry " << i;
        }
        EXPECT_EQ(t->size(), 10000u);
        for (unsigned i = 0; i < 10000; ++i) {
            ASSERT_TRUE(t->remove(ipv4(10, 3, 0, 0) + i % 8, static_cast<uint16_t>(20000 + i / 8)));
        }
        t->reader_quiescent(0);  // the worker's once-per-loop report
    }
    t->reader_offline(0);
}

TEST(relay_table, offline_reader_does_not_hold_frees) {
    auto t = make_table(100);
    t->reader_register(0);
    t->reader_offline(0);  // a sleeping worker
    for (unsigned round = 0; round < 10; ++round) {
        for (unsigned i = 0; i < 100; ++i) {
            ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 4, 0, 0) + i, 20000))) << round << " " << i;
        }
        for (unsigned i = 0; i < 100; ++i) {
            ASSERT_TRUE(t->remove(ipv4(10, 4, 0, 0) + i, 20000));
        }
    }
}

// Sides live in the table's pages: destroying the table gives back every page and directory,
// whatever state their sides are in.
TEST(relay_table, destructor_frees_every_page) {
    const size_t heap = dpdk_heap_bytes();
    {
        auto t = make_table(1000);
        t->reader_register(0);
        for (unsigned i = 0; i < 500; ++i) {
            ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 5, 0, 0) + i % 7, static_cast<uint16_t>(20000 + 300 * i))));
        }
        ASSERT_NE(new_side(*t, ipv4(10, 5, 0, 0), 1), nullptr);      // made, never inserted
        ASSERT_TRUE(t->remove(ipv4(10, 5, 0, 1), 20000 + 300 * 1));  // retiring: the reader never reported
        EXPECT_GT(dpdk_heap_bytes(), heap + 500 * sizeof(media_side));
    }
    EXPECT_EQ(dpdk_heap_bytes(), heap);
}

TEST(relay_table, capacity_exact_when_not_power_of_two) {
    // Exactly `capacity` entries fit, whatever the number.
    auto t = make_table(1000);
    unsigned i = 0;
    for (; i < 1000; ++i) {
        ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 6, 0, 0) + i % 3, static_cast<uint16_t>(20000 + i)))) << i;
    }
    EXPECT_EQ(t->make(ipv4(10, 7, 0, 0), 20000), nullptr);
    EXPECT_EQ(t->size(), 1000u);
    // Removing one makes room again (no reader registered: the grace period is immediate).
    ASSERT_TRUE(t->remove(ipv4(10, 6, 0, 0), 20000));
    EXPECT_TRUE(t->insert(new_side(*t, ipv4(10, 7, 0, 0), 20000)));
    EXPECT_EQ(t->size(), 1000u);
}

TEST(relay_table, capacity_power_of_two_exact) {
    // No buckets to fill up early: at a power of two too, exactly `capacity` inserts succeed,
    // and the ones beyond fail cleanly (the table intact).
    constexpr uint32_t cap = 4096;
    {
        auto t = make_table(cap);
        std::mt19937 rng(5);
        std::set<uint64_t> used;
        unsigned ok = 0;
        std::vector<std::pair<uint32_t, uint16_t>> keys;
        for (unsigned i = 0; i < cap + 100; ++i) {
            uint32_t a;
            uint16_t p;
            do {
                a = ipv4(10, 20, 0, 1) + rng() % 16;
                p = static_cast<uint16_t>(rng());
            } while (!used.insert((uint64_t{a} << 16) | p).second);
            if (t->insert(new_side(*t, a, p))) {
                keys.emplace_back(a, p);
                ++ok;
            } else {
                EXPECT_GE(i, cap) << "refused before the table was full";
            }
        }
        EXPECT_EQ(ok, cap);
        EXPECT_EQ(t->size(), cap);
        for (const auto& [a, p] : keys) {
            ASSERT_NE(t->find(a, p), nullptr);
        }
    }
}

TEST(relay_table, unknown_address_and_unpublished_port_miss) {
    auto t = make_table(64);
    ASSERT_TRUE(t->insert(new_side(*t, ipv4(192, 0, 2, 1), 20000)));
    // An address the table never saw.
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 2), 20000), nullptr);
    EXPECT_EQ(lookup_one(*t, ipv4(192, 0, 2, 2), 20000), nullptr);
    EXPECT_FALSE(t->remove(ipv4(192, 0, 2, 2), 20000));
    // A known address, a port on the same page that was never published.
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 1), 20001), nullptr);
    EXPECT_EQ(lookup_one(*t, ipv4(192, 0, 2, 1), 20001), nullptr);
    // A known address, a port whose page does not exist.
    EXPECT_EQ(t->find(ipv4(192, 0, 2, 1), 40000), nullptr);
    EXPECT_EQ(lookup_one(*t, ipv4(192, 0, 2, 1), 40000), nullptr);
    EXPECT_FALSE(t->remove(ipv4(192, 0, 2, 1), 40000));
    // Address 0 marks an empty directory slot: never a key, never a hit.
    EXPECT_EQ(t->find(0, 20000), nullptr);
    EXPECT_EQ(lookup_one(*t, 0, 20000), nullptr);
    EXPECT_EQ(t->make(0, 20000), nullptr);
    EXPECT_EQ(lookup_one(*t, 0, 20000), nullptr);
    EXPECT_EQ(lookup_one(*t, ipv4(192, 0, 2, 1), 20000)->local_port, 20000);
    EXPECT_EQ(t->size(), 1u);
}

TEST(relay_table, page_boundary_ports) {
    auto t = make_table(64);
    const uint32_t a = ipv4(198, 51, 100, 7);
    const uint16_t ports[] = {0, 1, 255, 256, 257, 511, 512, 65279, 65280, 65534, 65535};
    for (uint16_t p : ports) {
        ASSERT_TRUE(t->insert(new_side(*t, a, p))) << p;
    }
    for (uint16_t p : ports) {
        media_side* s = t->find(a, p);
        ASSERT_NE(s, nullptr) << p;
        EXPECT_EQ(s->local_port, p);
        EXPECT_EQ(lookup_one(*t, a, p), s) << p;
    }
    // Neighbours of the published ports across page edges stay empty.
    for (uint16_t p : {2, 254, 258, 510, 513, 65278, 65281, 65533}) {
        EXPECT_EQ(t->find(a, static_cast<uint16_t>(p)), nullptr) << p;
        EXPECT_EQ(lookup_one(*t, a, static_cast<uint16_t>(p)), nullptr) << p;
    }
    // Another address with the same ports is independent.
    EXPECT_EQ(t->find(a + 1, 255), nullptr);
    ASSERT_TRUE(t->remove(a, 255));
    EXPECT_EQ(t->find(a, 255), nullptr);
    EXPECT_NE(t->find(a, 256), nullptr);
    EXPECT_NE(t->find(a, 0), nullptr);
    EXPECT_NE(t->find(a, 65535), nullptr);
}

TEST(relay_table, max_addresses_exhaustion_refused_cleanly) {
    {
        auto t = make_table(1000, 1, 4);
        EXPECT_EQ(t->max_addresses(), 4u);
        for (uint32_t i = 0; i < 4; ++i) {
            ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 30, 0, 1) + i, 20000)));
        }
        EXPECT_EQ(t->addresses(), 4u);
        const size_t heap = dpdk_heap_bytes();
        // A fifth address does not fit; refused without allocating.
        for (int round = 0; round < 100; ++round) {
            EXPECT_EQ(t->make(ipv4(10, 30, 0, 9), static_cast<uint16_t>(round)), nullptr);
        }
        EXPECT_EQ(dpdk_heap_bytes(), heap) << "a refused address left memory behind";
        EXPECT_EQ(t->size(), 4u);
        EXPECT_EQ(t->addresses(), 4u);
        EXPECT_EQ(t->find(ipv4(10, 30, 0, 9), 0), nullptr);
        // Known addresses still take new ports, and removing every entry of an address does not
        // free its directory slot for another address (addresses live as long as the table).
        ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 30, 0, 1), 20002)));
        ASSERT_TRUE(t->remove(ipv4(10, 30, 0, 4), 20000));
        EXPECT_EQ(t->make(ipv4(10, 30, 0, 9), 1), nullptr);
        // The removed one's slot is free at once (no reader registered).
        ASSERT_TRUE(t->insert(new_side(*t, ipv4(10, 30, 0, 4), 20000)));
        EXPECT_EQ(t->size(), 5u);
    }
}

// The control thread inserts and removes while a reader looks entries up: every hit is the
// side published at that key and still valid memory (a removed one until the reader's next
// quiescent report); entries never removed are always found.
TEST(relay_table, concurrent_reader_while_control_churns) {
    auto t = make_table(4096, 1, 64);
    const uint32_t a0 = ipv4(10, 40, 0, 0);
    constexpr unsigned stable = 256;
    for (unsigned i = 0; i < stable; ++i) {
        ASSERT_TRUE(t->insert(new_side(*t, a0 + i % 4, static_cast<uint16_t>(1000 + i))));
    }
    std::atomic<bool> stop{false};
    std::atomic<bool> registered{false};
    std::atomic<uint64_t> bad{0}, stable_misses{0}, churn_hits{0}, rounds{0};
    std::thread reader([&] {
        t->reader_register(0);
        registered.store(true);
        std::mt19937 rng(7);
        relay_key keys[32];
        const relay_key* ptrs[32];
        media_side* out[32];
        while (!stop.load(std::memory_order_relaxed)) {
            for (unsigned i = 0; i < 32; ++i) {
                if (i % 4 == 0) {
                    const unsigned k = rng() % stable;
                    keys[i] = relay_key{a0 + k % 4, static_cast<uint16_t>(1000 + k), 0};
                } else {
                    // Churned keys: 16 addresses (new ones appear while we read), ports over several pages.
                    keys[i] = relay_key{a0 + static_cast<uint32_t>(rng() % 16), static_cast<uint16_t>(30000 + rng() % 2048), 0};
                }
                ptrs[i] = &keys[i];
            }
            t->lookup_bulk(ptrs, 32, out);
            for (unsigned i = 0; i < 32; ++i) {
                if (out[i] == nullptr) {
                    stable_misses += i % 4 == 0;
                    continue;
                }
                if (out[i]->local_addr != keys[i].addr || out[i]->local_port != keys[i].port) {
                    ++bad;
                }
                out[i]->rx_packets.fetch_add(1, std::memory_order_relaxed);  // still ours to touch
                churn_hits += i % 4 != 0;
            }
            t->reader_quiescent(0);
            ++rounds;
        }
        t->reader_offline(0);
    });
    while (!registered.load()) {
        std::this_thread::yield();
    }
    std::mt19937 rng(11);
    std::set<std::pair<uint32_t, uint16_t>> live;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    unsigned ops = 0;
    while (std::chrono::steady_clock::now() < deadline || rounds.load() < 100) {
        const uint32_t a = a0 + static_cast<uint32_t>(rng() % 16);
        const auto p = static_cast<uint16_t>(30000 + rng() % 2048);
        if (live.count({a, p}) != 0) {
            ASSERT_TRUE(t->remove(a, p));
            live.erase({a, p});
        } else {
            if (t->insert(new_side(*t, a, p))) {
                live.insert({a, p});
            }
        }
        ++ops;
    }
    stop.store(true);
    reader.join();
    EXPECT_EQ(bad.load(), 0u);
    EXPECT_EQ(stable_misses.load(), 0u);
    EXPECT_GT(churn_hits.load(), 0u);
    EXPECT_EQ(t->size(), stable + live.size());
    for (const auto& [a, p] : live) {
        EXPECT_NE(t->find(a, p), nullptr);
    }
    std::printf("concurrent churn: %u control ops, %llu reader bursts\n", ops,
                static_cast<unsigned long long>(rounds.load()));
}

TEST(pack, endpoint_and_mac_roundtrip) {
    const uint64_t e = pack_endpoint(ipv4(198, 51, 100, 20), 6000);
    EXPECT_TRUE(endpoint_valid(e));
    EXPECT_EQ(endpoint_addr(e), ipv4(198, 51, 100, 20));
    EXPECT_EQ(endpoint_port(e), 6000);
    EXPECT_FALSE(endpoint_valid(0));
    // The all-zero endpoint is still "valid" once packed: validity is the flag, not the value.
    EXPECT_TRUE(endpoint_valid(pack_endpoint(0, 0)));

    const rte_ether_addr m{{0xff, 0xfe, 0x00, 0x01, 0x80, 0x7f}};
    const uint64_t pm = pack_mac(m);
    EXPECT_TRUE(mac_valid(pm));
    EXPECT_FALSE(mac_valid(0));
    rte_ether_addr back{};
    unpack_mac(pm, back);
    EXPECT_TRUE(mac_eq(back, m));
}

}  // namespace
}  // namespace sf::dp
