/// @file
/// Two worker lcores running the real poll loop (worker_main, launched with
/// rte_eal_remote_launch and stopped through its stop flag, as dataplane::start/stop
/// do) share one relay table. Each polls its own RX queue of two net_ring ports built
/// with rte_eth_from_rings: two queue pairs per port and one rte_ring per queue, so the
/// test plays the NIC's RSS (Toeplitz with the usual default key over the IPv4/UDP
/// 4-tuple, two queues) by enqueuing every frame into the RX ring of the queue it hashes
/// to, and reads what each worker sent from the TX ring of that worker's queue. The main
/// lcore is the control thread: it publishes and removes relay entries while traffic flows.
///
/// Every frame carries its sequence number in the payload, so each transmitted frame is
/// matched to what was expected of it: egress port and queue, rewritten MACs, addresses,
/// ports and TTL, valid IPv4 and UDP checksums, payload intact, seen once, in order within
/// its flow. Counters are checked exactly, per lcore.
///
/// RCU: a removed media_side's slot is freed by the table after a grace period (and reset
/// when it is made again). The control thread here poisons every slot it finds freed, right
/// after each table operation: the side becomes one bridged to a "poison" side whose remote
/// is 203.0.113.66, and a side freed while still published is flagged. Under traffic (the
/// churn test) a worker that used a freed side would relay a frame there; that window is a
/// fraction of a microsecond, so the churn test is only a safety net.
/// grace_period_waits_for_every_worker checks the same rule deterministically, with one worker
/// stalled between lookup and use.

#include <gtest/gtest.h>

#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_thash.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdlib>
#include <memory>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "eal_fixture.hh"
#include "ring_port.hh"
#include "packet.hh"
#include "relay_table.hh"
#include "rings.hh"
#include "worker.hh"

namespace sf::dp {
namespace {

using namespace sf::dp::test;

constexpr uint32_t addr_a = ipv4(192, 0, 2, 1);     // port A: the customers' side
constexpr uint32_t addr_b = ipv4(198, 51, 100, 1);  // port B: the providers' side
constexpr uint32_t poison_addr = ipv4(203, 0, 113, 66);
constexpr uint16_t poison_port = 0xdead;
constexpr uint16_t miss_port = 29998;  // in the relay range, never published
constexpr unsigned n_queues = 2;
constexpr uint16_t payload_len = 160;  // G.711, 20 ms
constexpr uint16_t frame_len = l2_l3_l4_len + payload_len;
constexpr unsigned max_errors_shown = 20;

// EAL with three lcores (control + two workers) floating over the CPUs this process may
// use: a 2-core CI box cannot pin three lcores, and -l 0-2 would need CPU 2 to exist.
class multi_lcore_environment : public ::testing::Environment {
public:
    void SetUp() override {
        cpu_set_t set;
        CPU_ZERO(&set);
        std::string cpus;
        if (sched_getaffinity(0, sizeof(set), &set) == 0) {
            for (int c = 0; c < CPU_SETSIZE; ++c) {
                if (CPU_ISSET(c, &set)) {
                    cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
                }
            }
        }
        if (cpus.empty()) {
            cpus = "0";
        }
        if (!sf::test::init_test_eal("sf_test_", {"-m", "512", "--lcores=(0-2)@(" + cpus + ")"})) {
            std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
            std::exit(1);
        }
    }
    // And anything made in it since.
    void TearDown() override { std::filesystem::remove_all(rte_eal_get_runtime_dir()); }
};

[[maybe_unused]] auto* const eal = ::testing::AddGlobalTestEnvironment(new multi_lcore_environment);

// The 40-byte Toeplitz key most NICs default to (Microsoft RSS verification suite).
const uint8_t rss_key[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
                             0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
                             0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

// The queue a NIC with a 2-queue round-robin redirection table puts a frame on.
unsigned rss_queue(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
    rte_ipv4_tuple t{};
    t.src_addr = src;
    t.dst_addr = dst;
    t.sport = sport;
    t.dport = dport;
    return rte_softrss(reinterpret_cast<uint32_t*>(&t), RTE_THASH_V4_L4_LEN, rss_key) % n_queues;
}

rte_ether_addr mac2(uint8_t kind, uint16_t n) {
    return rte_ether_addr{{0x02, 0x00, 0x5e, kind, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)}};
}

// The side every poisoned (freed) side forwards to; its port is port A (set at suite set-up).
media_side& poison_peer() {
    static media_side s;
    return s;
}

// A freed slot, as a worker that wrongly still held it would find it: forwarding to the poison
// side. The slot is not reset (lookups read its state meanwhile); make() resets it on reuse.
void poison_side(media_side* s) {
    s->local_addr = poison_addr;
    s->local_port = poison_port;
    s->port_id = poison_peer().port_id;
    s->local_mac = mac2(0xde, 0xad);
    s->latch.store(latching::off);
    set_remote(*s, pack_endpoint(poison_addr, poison_port), pack_mac(mac2(0xde, 0xad)));
    bridge(*s, &poison_peer());
}

// Every side the test made, and what became of it. Control thread only.
struct side_registry {
    enum state : uint8_t { published, removed, freed };
    std::unordered_map<media_side*, state> sides;
    uint64_t freed_count = 0;
    uint64_t freed_while_published = 0;  ///< freed by the table while the test had not removed it

    // After each table operation: a removed side whose slot the table freed is poisoned in
    // place (a slot is free only once no worker can hold it: one that still did would now
    // relay to the poison address); a published one that is not live any more is flagged.
    void reap() {
        for (auto& [side, st] : sides) {
            const slot_state e = side->entry.load(std::memory_order_relaxed);
            if (st == published && e != slot_state::live && e != slot_state::made) {
                ++freed_while_published;
                st = freed;
            } else if (st == removed && e == slot_state::free) {
                st = freed;
                ++freed_count;
                poison_side(side);
            }
        }
    }
    void clear() {
        sides.clear();
        freed_count = 0;
        freed_while_published = 0;
    }
};

side_registry& registry() {
    static side_registry r;
    return r;
}

struct endpoint {
    uint32_t addr = 0;
    uint16_t port = 0;
    rte_ether_addr mac{};
};

// One direction of a call as the wire sees it: the frame that arrives, and what must leave.
struct direction {
    unsigned in_port = 0;  ///< 0 = A, 1 = B
    unsigned queue = 0;    ///< the RSS queue of the arriving frame
    endpoint from;         ///< the remote that sends
    endpoint to;           ///< the side it arrives at (mac: the port's)
    unsigned out_port = 0;
    endpoint out_src;      ///< the peer side's local address, port and MAC
    endpoint out_dst;      ///< the peer side's remote
    media_side* side = nullptr;  ///< the receiving side
    uint64_t sent_relay = 0;     ///< frames that must have been relayed
    int64_t last_out = -1;       ///< sequence number of the last frame seen leaving
};

struct call {
    media_side* a = nullptr;  ///< on port A, towards the caller
    media_side* b = nullptr;  ///< on port B, towards the callee
    direction ab, ba;
    unsigned outstanding = 0;  ///< frames that must be relayed and have not been seen yet
    bool removed = false;
};

enum class expect : uint8_t {
    relay,   ///< sent while the entry was live and kept live until it was seen
    drop,    ///< sent to a relay port with no entry
    either,  ///< sent just before its entry was removed: relayed (correctly) or dropped
};

struct sent_frame {
    call* c = nullptr;  ///< nullptr: a frame to a port without an entry
    bool ab = true;
    expect what = expect::relay;
    uint8_t in_port = 0;
    uint8_t queue = 0;
    bool udp_cksum = true;
    bool seen = false;
};

/// How many calls to pick whose directions hash to queues q_ab (A to B) and q_ba (B to A).
struct spread {
    unsigned q_ab, q_ba, count;
};

using ring_port = sf::dp::test::ring_port<n_queues>;

// A worker stopped between its lookup and its use of a side (a preempted lcore, as RCU
// sees it): reader `reader_id` looks `key` up, holds the side until the test releases it,
// checks it is still the side it found (not freed and poisoned), then reports a quiescent
// state and goes offline. Runs on a worker lcore instead of worker_main.
struct stalled_reader {
    relay_table* table = nullptr;
    unsigned reader_id = 1;
    relay_key key{};
    std::atomic<int> phase{0};  ///< 1: holding the side, 2: released by the test, 3: done
    media_side* held = nullptr;
    bool intact = false;

    static int run(void* arg) {
        auto& r = *static_cast<stalled_reader*>(arg);
        r.table->reader_register(r.reader_id);
        const relay_key* k = &r.key;
        media_side* found[1] = {};
        r.table->lookup_bulk(&k, 1, found);
        r.held = found[0];
        r.phase.store(1, std::memory_order_release);
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (r.phase.load(std::memory_order_acquire) < 2 && std::chrono::steady_clock::now() < until) {
            usleep(20);  // stalled, yet online: it has not reported a quiescent state
        }
        r.intact = r.held != nullptr && r.held->local_addr == r.key.addr && r.held->local_port == r.key.port;
        r.table->reader_quiescent(r.reader_id);
        r.table->reader_offline(r.reader_id);
        r.phase.store(3, std::memory_order_release);
        return 0;
    }
};

class multi_worker : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ASSERT_GE(rte_lcore_count(), 3u) << "the test needs the main lcore and two workers";
        pool = rte_pktmbuf_pool_create("mw_pool", 16383, 256, packet_meta_priv_size, RTE_MBUF_DEFAULT_BUF_SIZE,
                                       static_cast<int>(rte_socket_id()));
        ASSERT_NE(pool, nullptr);
        make_port("mw_a", ports[0]);
        make_port("mw_b", ports[1]);
        poison_peer().port_id = ports[0].id;
        poison_peer().local_addr = poison_addr;
        poison_peer().local_port = poison_port;
        set_remote(poison_peer(), pack_endpoint(poison_addr, poison_port), pack_mac(mac2(0xde, 0xad)));
    }

    // Two queue pairs, one ring each way per queue: RX rings are filled by the test (the
    // NIC's RSS), TX rings hold what the workers sent. TX rings hold more than the pool
    // has mbufs, so a slow reader can never make a worker drop.
    static void make_port(const char* name, ring_port& p) { make_ring_port(name, p, 4096, 16384, 1024, pool); }

    void SetUp() override {
        ASSERT_NE(pool, nullptr);
        pool_in_use = rte_mempool_in_use_count(pool);
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);  // 3 tests < meson's 120 s
        table = std::make_unique<relay_table>(unique_name("mw_rt").c_str(), 16384, n_queues,
                                              static_cast<int>(rte_socket_id()));
        // Set up as dataplane::dataplane does: worker i polls and sends on queue i of every port.
        for (unsigned i = 0; i < n_queues; ++i) {
            auto w = std::make_unique<worker>();
            w->id = i;
            w->queue = static_cast<uint16_t>(i);
            w->burst = 32;
            w->idle_polls = 64;
            w->idle_sleep_us = 20;  // a shared 2-core box: idle workers must let the test run
            w->sip_port = 5060;
            w->relay_min = 20000;
            w->relay_max = 29999;
            w->relay = table.get();
            w->stop = &stop;
            w->sip_in = rte_ring_create(unique_name("mw_sip").c_str(), 1024, rte_socket_id(),
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
            w->neighbours = rte_ring_create_elem(unique_name("mw_nb").c_str(), sizeof(neighbour_event), 1024,
                                                 rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
            ASSERT_NE(w->sip_in, nullptr);
            ASSERT_NE(w->neighbours, nullptr);
            for (unsigned p = 0; p < 2; ++p) {
                worker_port& wp = w->ports[ports[p].id];
                wp.used = true;
                wp.index = static_cast<uint8_t>(p);
                wp.addr = p == 0 ? addr_a : addr_b;
                wp.mac = ports[p].mac;
                wp.tx = static_cast<rte_eth_dev_tx_buffer*>(
                    rte_zmalloc("mw_txbuf", RTE_ETH_TX_BUFFER_SIZE(64), RTE_CACHE_LINE_SIZE));
                ASSERT_NE(wp.tx, nullptr);
                rte_eth_tx_buffer_init(wp.tx, 32);
                w->port_ids[w->n_ports++] = ports[p].id;
            }
            workers.push_back(std::move(w));
        }
    }

    void TearDown() override {
        stop_workers();
        if (stall_lcore != 0) {
            stall.phase.store(2);
            EXPECT_EQ(rte_eal_wait_lcore(stall_lcore), 0);
            stall_lcore = 0;
        }
        pump();
        for (auto& per_port : pending) {
            for (auto& v : per_port) {
                if (!v.empty()) {
                    rte_pktmbuf_free_bulk(v.data(), static_cast<unsigned>(v.size()));
                }
                v.clear();
            }
        }
        drain_rx();
        for (auto& w : workers) {
            rte_mbuf* m = nullptr;
            while (rte_ring_dequeue(w->sip_in, reinterpret_cast<void**>(&m)) == 0) {
                rte_pktmbuf_free(m);
            }
            rte_ring_free(w->sip_in);
            rte_ring_free(w->neighbours);
            for (unsigned i = 0; i < w->n_ports; ++i) {
                rte_free(w->ports[w->port_ids[i]].tx);
            }
        }
        workers.clear();
        table.reset();  // frees every page, whatever its sides' state
        registry().clear();
        EXPECT_EQ(rte_mempool_in_use_count(pool), pool_in_use) << "mbuf leak";
    }

    // Launches the real worker loop for workers [0, count) on the worker lcores, in order.
    void start_workers(unsigned count = n_queues) {
        stop.store(false);
        launched_tsc = rte_rdtsc();
        unsigned lcore = 0;
        unsigned i = 0;
        RTE_LCORE_FOREACH_WORKER(lcore) {
            if (i == count) {
                break;
            }
            workers[i]->lcore = lcore;
            ASSERT_EQ(rte_eal_remote_launch(worker_main, workers[i].get(), lcore), 0);
            launched.push_back(lcore);
            ++i;
        }
        ASSERT_EQ(i, count);
    }

    void stop_workers() {
        stop.store(true);
        for (unsigned lcore : launched) {
            EXPECT_EQ(rte_eal_wait_lcore(lcore), 0);
        }
        launched.clear();
        run_cycles += rte_rdtsc() - launched_tsc;
    }

    // Each worker's load counters: its loop ran within the time it was launched for, and every
    // frame it received was taken in an iteration counted busy, at most 2 x burst per iteration
    // (one burst per port). Worker 0's frames_out ring stays empty here, so a busy iteration
    // received a frame or sent at least one it had buffered (each frame sent once). Handling
    // the bursts is part of the busy iterations' time, and took some whenever a frame came.
    void expect_load_counters() {
        for (unsigned i = 0; i < workers.size(); ++i) {
            const worker_stats& st = workers[i]->stats;
            const uint64_t rx = st.rx_packets[0].load() + st.rx_packets[1].load();
            const uint64_t tx = st.tx_packets[0].load() + st.tx_packets[1].load();
            const uint64_t loop = st.loop_cycles.load(), busy = st.busy_cycles.load(), polls = st.busy_polls.load();
            EXPECT_GT(loop, 0u) << "worker " << i;
            EXPECT_LE(loop, run_cycles) << "worker " << i;
            EXPECT_LE(busy, loop) << "worker " << i;
            EXPECT_LE(polls, rx + tx) << "worker " << i;
            EXPECT_GE(polls, (rx + 2 * workers[i]->burst - 1) / (2 * workers[i]->burst)) << "worker " << i;
            EXPECT_EQ(busy == 0, polls == 0) << "worker " << i;
            const uint64_t handling = st.handling_cycles.load();
            EXPECT_LE(handling, busy) << "worker " << i;
            EXPECT_EQ(handling == 0, rx == 0) << "worker " << i;
        }
    }

    media_side* new_side(uint32_t addr, uint16_t port, unsigned port_idx, const endpoint& remote) {
        media_side* s = table->make(addr, port);
        registry().reap();  // make() may have reclaimed older removals
        EXPECT_NE(s, nullptr) << "no slot for " << addr << ":" << port;
        if (s == nullptr) {
            static media_side spare;  // keeps the caller going; the test has failed already
            return &spare;
        }
        s->port_id = ports[port_idx].id;
        s->local_mac = ports[port_idx].mac;
        // The SDP's endpoint is where the frames come from: latching stores the same values,
        // so which worker latches first does not change any frame.
        set_remote(*s, pack_endpoint(remote.addr, remote.port), pack_mac(remote.mac));
        registry().sides[s] = side_registry::published;
        return s;
    }

    // A call between caller (behind port A) and callee (behind port B) on relay ports pa/pb.
    call make_call(const endpoint& caller, const endpoint& callee, uint16_t pa, uint16_t pb) {
        call c;
        c.a = new_side(addr_a, pa, 0, caller);
        c.b = new_side(addr_b, pb, 1, callee);
        bridge(*c.a, c.b);
        bridge(*c.b, c.a);
        c.ab = direction{0, rss_queue(caller.addr, addr_a, caller.port, pa), caller, {addr_a, pa, ports[0].mac},
                         1, {addr_b, pb, ports[1].mac}, callee, c.a};
        c.ba = direction{1, rss_queue(callee.addr, addr_b, callee.port, pb), callee, {addr_b, pb, ports[1].mac},
                         0, {addr_a, pa, ports[0].mac}, caller, c.b};
        return c;
    }

    static endpoint caller_of(unsigned n) {
        return {ipv4(192, 0, 2, static_cast<uint8_t>(10 + n % 200)), static_cast<uint16_t>(40000 + 2 * n),
                mac2(0x0a, static_cast<uint16_t>(n))};
    }
    static endpoint callee_of(unsigned n) {
        return {ipv4(198, 51, 100, static_cast<uint8_t>(10 + n % 200)), static_cast<uint16_t>(50000 + 2 * n),
                mac2(0x0b, static_cast<uint16_t>(n))};
    }

    // Calls whose two directions hash to queues (q_ab, q_ba), `want` of them, from candidate
    // numbers [0, 1000) (relay ports below 24000; churn calls use 25000 and up).
    std::vector<std::unique_ptr<call>> calls_on(const std::vector<spread>& want) {
        std::vector<std::unique_ptr<call>> out;
        for (const spread& sp : want) {
            unsigned found = 0;
            for (unsigned n = 0; n < 1000 && found < sp.count; ++n) {
                const endpoint caller = caller_of(n), callee = callee_of(n);
                const auto pa = static_cast<uint16_t>(20000 + 4 * n);
                const auto pb = static_cast<uint16_t>(20002 + 4 * n);
                if (rss_queue(caller.addr, addr_a, caller.port, pa) == sp.q_ab &&
                    rss_queue(callee.addr, addr_b, callee.port, pb) == sp.q_ba) {
                    out.push_back(std::make_unique<call>(make_call(caller, callee, pa, pb)));
                    ++found;
                }
            }
            EXPECT_EQ(found, sp.count) << "not enough calls hash to queues " << sp.q_ab << "/" << sp.q_ba;
        }
        return out;
    }

    void publish(call& c) {
        ASSERT_TRUE(table->insert(c.a));
        ASSERT_TRUE(table->insert(c.b));
    }

    // The control thread's removal: unbridge first (no side may point to a removed one),
    // then unpublish; the table frees both after the grace period.
    void unpublish(call& c) {
        bridge(*c.a, nullptr);
        bridge(*c.b, nullptr);
        for (media_side* s : {c.a, c.b}) {
            const uint32_t addr = s->local_addr;
            const uint16_t port = s->local_port;
            EXPECT_TRUE(table->remove(addr, port));
            registry().sides[s] = side_registry::removed;
            registry().reap();
        }
        c.removed = true;
    }

    // One make + insert + remove of a throwaway side (the table reclaims a few older removals
    // on each), then the poisoning of what it freed. Ports 29000.. cycle: a port removed a
    // moment ago may still be in its grace period, so a refused make is fine here.
    void drive_reclaim(unsigned i) {
        const auto port = static_cast<uint16_t>(29000 + 2 * (i % 400));
        if (media_side* d = table->make(addr_a, port); d != nullptr) {
            EXPECT_TRUE(table->insert(d));
            EXPECT_TRUE(table->remove(addr_a, port));
        }
        registry().reap();
    }

    std::vector<uint8_t> payload_of(uint32_t seq) const {
        std::vector<uint8_t> p(payload_len);
        for (unsigned i = 4; i < payload_len; ++i) {
            p[i] = static_cast<uint8_t>(seq * 31 + i * 7);
        }
        std::memcpy(p.data(), &seq, 4);
        return p;
    }

    // Queues one frame of `c`'s direction (ab or ba) for its RSS queue.
    void send(call& c, bool ab, expect what) {
        const direction& d = ab ? c.ab : c.ba;
        send_frame(d.in_port, d.queue, d.from, d.to, &c, ab, what);
        if (what == expect::relay) {
            ++c.outstanding;
            ++(ab ? c.ab : c.ba).sent_relay;
        }
    }

    // A frame to a relay port without an entry (relay_miss), from caller `n` on port A.
    void send_miss(unsigned n) {
        const endpoint from = caller_of(n);
        const endpoint to{addr_a, miss_port, ports[0].mac};
        send_frame(0, rss_queue(from.addr, addr_a, from.port, miss_port), from, to, nullptr, true, expect::drop);
    }

    void send_frame(unsigned in_port, unsigned queue, const endpoint& from, const endpoint& to, call* c, bool ab,
                    expect what) {
        const auto seq = static_cast<uint32_t>(sent.size());
        udp_spec s;
        s.src_mac = from.mac;
        s.dst_mac = to.mac;
        s.src_addr = from.addr;
        s.dst_addr = to.addr;
        s.src_port = from.port;
        s.dst_port = to.port;
        s.payload = payload_of(seq);
        s.udp_cksum = seq % 7 != 3;  // some senders leave the UDP checksum out: it must stay 0
        rte_mbuf* m = make_udp_frame(s, pool);
        if (m == nullptr) {
            error("mbuf pool exhausted at frame %u", seq);
            return;
        }
        sent_frame f;
        f.c = c;
        f.ab = ab;
        f.what = what;
        f.in_port = static_cast<uint8_t>(in_port);
        f.queue = static_cast<uint8_t>(queue);
        f.udp_cksum = s.udp_cksum;
        sent.push_back(f);
        pending[in_port][queue].push_back(m);
    }

    // Pending frames into the RX rings (the NIC receiving them), waiting for room if need be.
    void flush() {
        for (unsigned p = 0; p < 2; ++p) {
            for (unsigned q = 0; q < n_queues; ++q) {
                std::vector<rte_mbuf*>& v = pending[p][q];
                size_t done = 0;
                while (done < v.size()) {
                    const unsigned n = rte_ring_sp_enqueue_burst(
                        ports[p].rx[q], reinterpret_cast<void* const*>(v.data() + done),
                        static_cast<unsigned>(v.size() - done), nullptr);
                    done += n;
                    enqueued[p][q] += n;
                    if (done < v.size() && !wait_a_little("room in an RX ring")) {
                        rte_pktmbuf_free_bulk(v.data() + done, static_cast<unsigned>(v.size() - done));
                        break;
                    }
                }
                v.clear();
            }
        }
    }

    // Between polls of a wait: read outputs, sleep when nothing moved. False past the deadline.
    bool wait_a_little(const char* what) {
        if (std::chrono::steady_clock::now() > deadline) {
            if (!timed_out) {
                ADD_FAILURE() << "timed out waiting for " << what << "; " << accounting();
                timed_out = true;
            }
            return false;
        }
        if (pump() == 0) {
            usleep(50);
        }
        return true;
    }

    // Reads what the workers transmitted and checks every frame.
    unsigned pump() {
        unsigned got = 0;
        rte_mbuf* pkts[64];
        for (unsigned p = 0; p < 2; ++p) {
            for (unsigned q = 0; q < n_queues; ++q) {
                unsigned n;
                while ((n = rte_ring_sc_dequeue_burst(ports[p].tx[q], reinterpret_cast<void**>(pkts), 64,
                                                      nullptr)) != 0) {
                    for (unsigned i = 0; i < n; ++i) {
                        check_out(p, q, pkts[i]);
                    }
                    rte_pktmbuf_free_bulk(pkts, n);
                    got += n;
                }
            }
        }
        return got;
    }

    __attribute__((format(printf, 2, 3))) void error(const char* fmt, ...) {
        if (++n_errors > max_errors_shown) {
            return;
        }
        char buf[256];
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        errors += std::string(buf) + "\n";
    }

    void check_out(unsigned port, unsigned queue, rte_mbuf* m) {
        ++out[port][queue];
        if (m->nb_segs != 1 || rte_pktmbuf_data_len(m) != frame_len) {
            return error("port %u queue %u: frame of %u bytes", port, queue, rte_pktmbuf_data_len(m));
        }
        const frame_view f = view_of(m);
        if (rte_be_to_cpu_32(f.ip->dst_addr) == poison_addr) {
            return error("port %u queue %u: relayed through a freed media_side (RCU grace period broken)", port,
                         queue);
        }
        uint32_t seq = 0;
        std::memcpy(&seq, f.payload, 4);
        if (seq >= sent.size()) {
            return error("port %u queue %u: unknown frame %u", port, queue, seq);
        }
        sent_frame& e = sent[seq];
        if (e.seen) {
            return error("frame %u transmitted twice", seq);
        }
        e.seen = true;
        ++seen;
        if (e.what == expect::drop || e.c == nullptr) {
            return error("frame %u to a relay port without an entry was transmitted", seq);
        }
        direction& d = e.ab ? e.c->ab : e.c->ba;
        if (e.what == expect::relay) {
            --e.c->outstanding;
        }
        if (static_cast<int64_t>(seq) <= d.last_out) {
            error("frame %u left after frame %lld of the same flow", seq, static_cast<long long>(d.last_out));
        }
        d.last_out = seq;
        if (port != d.out_port) {
            error("frame %u left on port %u, not %u", seq, port, d.out_port);
        }
        if (queue != e.queue) {
            error("frame %u received on queue %u left on TX queue %u", seq, e.queue, queue);
        }
        const bool hdr_ok = mac_eq(f.eth->src_addr, d.out_src.mac) && mac_eq(f.eth->dst_addr, d.out_dst.mac) &&
                            f.eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) &&
                            rte_be_to_cpu_32(f.ip->src_addr) == d.out_src.addr &&
                            rte_be_to_cpu_32(f.ip->dst_addr) == d.out_dst.addr &&
                            rte_be_to_cpu_16(f.udp->src_port) == d.out_src.port &&
                            rte_be_to_cpu_16(f.udp->dst_port) == d.out_dst.port && f.ip->time_to_live == 64 &&
                            f.ip->next_proto_id == IPPROTO_UDP &&
                            rte_be_to_cpu_16(f.ip->total_length) == frame_len - sizeof(rte_ether_hdr) &&
                            rte_be_to_cpu_16(f.udp->dgram_len) == sizeof(rte_udp_hdr) + payload_len;
        if (!hdr_ok) {
            error("frame %u: headers %08x:%u -> %08x:%u ttl %u, expected %08x:%u -> %08x:%u ttl 64 (or MACs)", seq,
                  rte_be_to_cpu_32(f.ip->src_addr), rte_be_to_cpu_16(f.udp->src_port),
                  rte_be_to_cpu_32(f.ip->dst_addr), rte_be_to_cpu_16(f.udp->dst_port), f.ip->time_to_live,
                  d.out_src.addr, d.out_src.port, d.out_dst.addr, d.out_dst.port);
        }
        if (!ref_ipv4_ok(f.ip)) {
            error("frame %u: bad IPv4 header checksum", seq);
        }
        if (e.udp_cksum ? !ref_udp_ok(f.ip, f.udp) : f.udp->dgram_cksum != 0) {
            error("frame %u: bad UDP checksum %04x (sent %s)", seq, rte_be_to_cpu_16(f.udp->dgram_cksum),
                  e.udp_cksum ? "with one" : "without");
        }
        if (std::memcmp(f.payload, payload_of(seq).data(), payload_len) != 0) {
            error("frame %u: payload changed", seq);
        }
    }

    uint64_t drops_total() const {
        uint64_t n = 0;
        for (const auto& w : workers) {
            for (const auto& d : w->stats.drops) {
                n += d.load(std::memory_order_relaxed);
            }
        }
        return n;
    }

    uint64_t drops(drop_reason r) const {
        uint64_t n = 0;
        for (const auto& w : workers) {
            n += w->stats.drops[static_cast<unsigned>(r)].load(std::memory_order_relaxed);
        }
        return n;
    }

    // Where the frames went, for a failure message: sent, seen, unaccounted, drops by reason.
    std::string accounting() const {
        std::string s = "sent " + std::to_string(sent.size()) + ", transmitted " + std::to_string(seen) +
                        ", unaccounted " + std::to_string(unaccounted()) + ", drops:";
        for (unsigned r = 0; r < static_cast<unsigned>(drop_reason::count_); ++r) {
            if (const uint64_t n = drops(static_cast<drop_reason>(r)); n != 0) {
                s += std::string(" ") + to_string(static_cast<drop_reason>(r)) + "=" + std::to_string(n);
            }
        }
        return s;
    }

    // Sent frames neither transmitted (and read back) nor counted as dropped yet.
    uint64_t unaccounted() const { return sent.size() - seen - drops_total(); }

    // Waits until every frame sent so far is accounted for.
    bool settle() {
        flush();
        while (unaccounted() != 0) {
            if (!wait_a_little("every frame to be relayed or dropped")) {
                return false;
            }
        }
        return true;
    }

    // Keeps at most `max` frames in flight, so the pool never runs dry.
    void throttle(uint64_t max = 2048) {
        while (unaccounted() > max && wait_a_little("the workers to catch up")) {
        }
    }

    void expect_no_errors() {
        EXPECT_EQ(n_errors, 0u) << errors << (n_errors > max_errors_shown ? "...\n" : "");
    }

    // Per lcore, exactly: worker i received every frame enqueued on queue i of each port,
    // and what it relayed and sent is what came out of TX queue i.
    void expect_per_lcore_counters() {
        for (unsigned i = 0; i < workers.size(); ++i) {
            const worker_stats& st = workers[i]->stats;
            uint64_t tx = 0;
            for (unsigned p = 0; p < 2; ++p) {
                EXPECT_EQ(st.rx_packets[p].load(), enqueued[p][i]) << "worker " << i << " port " << p;
                EXPECT_EQ(st.tx_packets[p].load(), out[p][i]) << "worker " << i << " port " << p;
                tx += out[p][i];
            }
            EXPECT_EQ(st.relayed.load(), tx) << "worker " << i;
            EXPECT_EQ(st.drops[static_cast<unsigned>(drop_reason::tx_failed)].load(), 0u) << "worker " << i;
            EXPECT_EQ(st.sip_in.load(), 0u);
            EXPECT_EQ(st.arp_replies.load() + st.icmp_replies.load(), 0u);
        }
        for (unsigned p = 0; p < 2; ++p) {
            for (unsigned q = 0; q < n_queues; ++q) {
                EXPECT_GT(enqueued[p][q], 0u) << "RSS left port " << p << " queue " << q << " idle";
            }
        }
    }

    // Only the reasons in `allowed` may be non-zero.
    void expect_only_drops(std::initializer_list<drop_reason> allowed) const {
        for (unsigned r = 0; r < static_cast<unsigned>(drop_reason::count_); ++r) {
            bool ok = false;
            for (drop_reason a : allowed) {
                ok = ok || static_cast<unsigned>(a) == r;
            }
            if (!ok) {
                EXPECT_EQ(drops(static_cast<drop_reason>(r)), 0u) << to_string(static_cast<drop_reason>(r));
            }
        }
    }

    // A stable call's sides counted exactly what was sent to them, each by one worker.
    static void expect_side_counters(const call& c) {
        for (const direction* d : {&c.ab, &c.ba}) {
            EXPECT_EQ(d->side->rx_packets.load(), d->sent_relay);
            EXPECT_EQ(d->side->fwd_packets(), d->sent_relay);
            EXPECT_EQ(d->side->rx_bytes.load(), d->sent_relay * payload_len);
            EXPECT_EQ(d->side->drops.load(), 0u);
            EXPECT_TRUE(d->side->latched());
        }
    }

    void drain_rx() {
        for (auto& p : ports) {
            for (rte_ring* r : p.rx) {
                rte_mbuf* m = nullptr;
                while (rte_ring_dequeue(r, reinterpret_cast<void**>(&m)) == 0) {
                    rte_pktmbuf_free(m);
                }
            }
        }
    }

    static inline rte_mempool* pool = nullptr;
    static inline ring_port ports[2];

    std::unique_ptr<relay_table> table;
    std::vector<std::unique_ptr<worker>> workers;
    std::atomic<bool> stop{false};
    std::vector<unsigned> launched;  ///< lcores running worker_main
    stalled_reader stall;
    unsigned stall_lcore = 0;        ///< the lcore running stall (0: none)
    unsigned pool_in_use = 0;
    uint64_t launched_tsc = 0;  ///< when start_workers launched them
    uint64_t run_cycles = 0;    ///< TSC cycles between each launch and the end of its stop_workers
    std::chrono::steady_clock::time_point deadline;
    bool timed_out = false;

    std::vector<sent_frame> sent;
    std::vector<rte_mbuf*> pending[2][n_queues];
    uint64_t enqueued[2][n_queues] = {};  ///< frames put on each RX queue
    uint64_t out[2][n_queues] = {};       ///< frames read from each TX queue
    uint64_t seen = 0;
    uint64_t n_errors = 0;
    std::string errors;
};

// 36 calls spread by RSS: 16 with both directions on queue 0, 16 on queue 1, and 4 whose
// directions land on different queues, so one worker forwards to a side whose remote the
// other latched. 300 rounds of 1-2 frames per direction plus a frame to a port without an
// entry: every frame relayed by the worker of its queue, with exact counters.
TEST_F(multi_worker, rss_spread_calls_relayed_by_both_workers) {
    std::vector<std::unique_ptr<call>> calls = calls_on({{0, 0, 16}, {1, 1, 16}, {0, 1, 2}, {1, 0, 2}});
    ASSERT_EQ(calls.size(), 36u);
    for (auto& c : calls) {
        publish(*c);
    }
    start_workers();

    for (unsigned round = 0; round < 300 && !timed_out; ++round) {
        for (unsigned i = 0; i < calls.size(); ++i) {
            for (unsigned k = 0; k < 1 + (round + i) % 2; ++k) {
                send(*calls[i], true, expect::relay);
                send(*calls[i], false, expect::relay);
            }
        }
        send_miss(round);
        flush();
        pump();
        throttle();
    }
    ASSERT_TRUE(settle());
    stop_workers();
    pump();

    expect_no_errors();
    uint64_t must = 0;
    for (const sent_frame& f : sent) {
        if (f.what == expect::relay) {
            ++must;
            EXPECT_TRUE(f.seen) << "a frame for a live entry was lost";
        }
    }
    EXPECT_EQ(seen, must);
    EXPECT_EQ(drops(drop_reason::relay_miss), 300u);
    expect_only_drops({drop_reason::relay_miss});
    expect_per_lcore_counters();
    expect_load_counters();
    for (const auto& c : calls) {
        expect_side_counters(*c);
    }
}

// Workers with nothing to receive: their loops run (cycles counted) and no iteration of
// them is busy, so an idle appliance reports no load although its cores poll at 100%. Worker
// 1 sleeps when idle (as the lab's do): its sleeps are idle time too.
TEST_F(multi_worker, idle_workers_count_no_busy_cycles) {
    workers[1]->idle_polls = 1;
    workers[1]->idle_sleep_us = 100;
    start_workers();
    usleep(20000);
    stop_workers();
    for (unsigned i = 0; i < workers.size(); ++i) {
        const worker_stats& st = workers[i]->stats;
        EXPECT_GT(st.loop_cycles.load(), 0u) << "worker " << i;
        EXPECT_LE(st.loop_cycles.load(), run_cycles) << "worker " << i;
        EXPECT_EQ(st.busy_cycles.load(), 0u) << "worker " << i;
        EXPECT_EQ(st.busy_polls.load(), 0u) << "worker " << i;
        EXPECT_EQ(st.handling_cycles.load(), 0u) << "worker " << i;
    }
    EXPECT_GT(workers[1]->stats.idle_sleeps.load(), 0u);
}

// The same traffic while the control thread keeps publishing and removing calls: 3000
// short calls on 250 port pairs (each pair reused every 250 calls, while its old sides may
// still wait for their grace period). A call's frames sent while it is live are relayed;
// two frames per direction are sent just before it is removed (relayed correctly or dropped:
// the worker may still hold the side, which RCU keeps valid); frames sent after it was
// removed are relay_miss. Stable calls lose nothing meanwhile.
TEST_F(multi_worker, entries_added_and_removed_under_traffic) {
    std::vector<std::unique_ptr<call>> stable = calls_on({{0, 0, 8}, {1, 1, 8}, {0, 1, 1}, {1, 0, 1}});
    ASSERT_EQ(stable.size(), 18u);
    for (auto& c : stable) {
        publish(*c);
    }
    start_workers();

    constexpr unsigned rounds = 3000, slots = 250;
    std::vector<std::unique_ptr<call>> churn;
    size_t oldest_live = 0;
    uint64_t removed_sides = 0, dead_frames = 0;

    // Removes, oldest first, the calls whose live frames have all been seen.
    const auto retire_ready = [&](bool all) {
        while (oldest_live < churn.size() && (all || oldest_live + 2 < churn.size())) {
            call& c = *churn[oldest_live];
            if (c.outstanding != 0) {
                break;
            }
            // Each racing frame ends a full burst of its queue (30 stable frames ahead of it), so
            // the worker looked the side up a microsecond or so before it rewrites that frame.
            for (bool ab : {true, false}) {
                const direction& d = ab ? c.ab : c.ba;
                unsigned ahead = 0;
                for (unsigned k = 0; ahead < 30 && k < 30 * stable.size(); ++k) {
                    call& st = *stable[k % stable.size()];
                    if ((ab ? st.ab : st.ba).queue == d.queue) {
                        send(st, ab, expect::relay);
                        ++ahead;
                    }
                }
                send(c, ab, expect::either);
                send(c, ab, expect::either);
            }
            flush();
            // Vary the moment of removal over a worker's poll/wake-up time (0-63 us), so the
            // racing frames are looked up before, during and after it.
            rte_delay_us_block((oldest_live * 7) % 64);
            unpublish(c);
            removed_sides += 2;
            for (bool ab : {true, false}) {
                send(c, ab, expect::drop);
                ++dead_frames;
            }
            ++oldest_live;
        }
    };

    // Removes every call, waiting for their live frames; once every frame is accounted for, a
    // call still waiting for one will not get it (dropped): fail now rather than at the deadline.
    const auto retire_all = [&] {
        while (oldest_live < churn.size() && !timed_out) {
            retire_ready(true);
            flush();
            if (oldest_live == churn.size()) {
                break;
            }
            if (unaccounted() == 0) {
                ADD_FAILURE() << "a frame of a live call was dropped; " << accounting();
                timed_out = true;
                break;
            }
            wait_a_little("the live frames of the calls to remove");
        }
    };

    for (unsigned r = 0; r < rounds && !timed_out; ++r) {
        const unsigned slot = r % slots;
        if (r != 0 && slot == 0) {
            // The ports are about to be reused: every older call gone and its frames accounted for.
            retire_all();
            ASSERT_TRUE(settle());
        }
        const endpoint caller = caller_of(1000 + r), callee = callee_of(1000 + r);
        churn.push_back(std::make_unique<call>(make_call(caller, callee, static_cast<uint16_t>(25000 + 4 * slot),
                                                         static_cast<uint16_t>(25002 + 4 * slot))));
        call& c = *churn.back();
        publish(c);
        for (auto& s : stable) {
            send(*s, true, expect::relay);
            send(*s, false, expect::relay);
        }
        for (unsigned k = 0; k < 2; ++k) {
            send(c, true, expect::relay);
            send(c, false, expect::relay);
        }
        if (r % 10 == 0) {
            send_miss(r);
        }
        flush();
        pump();
        retire_ready(false);
        throttle();
    }
    retire_all();
    ASSERT_TRUE(settle());
    const uint64_t freed_while_running = registry().freed_count;
    stop_workers();
    pump();

    expect_no_errors();
    uint64_t must = 0, must_seen = 0, either = 0, either_seen = 0, dead = 0;
    for (const sent_frame& f : sent) {
        switch (f.what) {
        case expect::relay:
            ++must;
            must_seen += f.seen;
            break;
        case expect::either:
            ++either;
            either_seen += f.seen;
            break;
        case expect::drop:
            ++dead;
            break;
        }
    }
    EXPECT_EQ(must_seen, must) << "frames for live entries were lost";
    EXPECT_EQ(dead, dead_frames + rounds / 10);
    EXPECT_EQ(seen, must_seen + either_seen);
    // Removed frames are misses; the racing ones found their side (relayed), found it
    // unbridged (no_target) or found no entry (miss).
    EXPECT_GE(drops(drop_reason::relay_miss), dead);
    EXPECT_EQ(drops(drop_reason::relay_miss) + drops(drop_reason::relay_no_target), dead + either - either_seen);
    expect_only_drops({drop_reason::relay_miss, drop_reason::relay_no_target});
    expect_per_lcore_counters();
    expect_load_counters();
    for (const auto& c : stable) {
        expect_side_counters(*c);
    }
    EXPECT_EQ(removed_sides, 2u * rounds);

    // Grace periods ended while the workers polled, and no side was freed while published.
    EXPECT_GT(freed_while_running, 0u) << "no removed side was reclaimed while the workers ran";
    // With the workers offline every removed side can go: each removal reclaims a few.
    for (unsigned i = 0; i < 1000 && registry().freed_count < removed_sides; ++i) {
        drive_reclaim(i);
    }
    EXPECT_EQ(registry().freed_count, removed_sides) << "removed sides never reclaimed";
    EXPECT_EQ(registry().freed_while_published, 0u) << "the table freed a side that was still published";
}

// RCU across workers, deterministically: worker 0 runs the real loop (reader 0: relaying
// and reporting a quiescent state on every poll) while the other worker lcore is reader 1,
// stalled between its lookup of a side and its use of it. The control thread removes that
// side and then publishes and removes 100 more calls: nothing may be freed while reader 1
// holds its pointer, however often worker 0 reports, and the side it holds must be intact
// when it resumes. Once reader 1 has reported, everything removed is reclaimed.
TEST_F(multi_worker, grace_period_waits_for_every_worker) {
    std::vector<std::unique_ptr<call>> stable = calls_on({{0, 0, 8}});  // both directions: worker 0
    std::vector<std::unique_ptr<call>> held = calls_on({{1, 1, 1}});
    ASSERT_EQ(stable.size(), 8u);
    ASSERT_EQ(held.size(), 1u);
    for (auto& c : stable) {
        publish(*c);
    }
    publish(*held[0]);
    start_workers(1);
    stall.table = table.get();
    stall.key = relay_key{addr_a, held[0]->a->local_port, 0};
    const unsigned lcore = rte_get_next_lcore(launched.at(0), 1, 0);
    ASSERT_LT(lcore, static_cast<unsigned>(RTE_MAX_LCORE));
    ASSERT_EQ(rte_eal_remote_launch(stalled_reader::run, &stall, lcore), 0);
    stall_lcore = lcore;
    while (stall.phase.load() < 1) {
        ASSERT_TRUE(wait_a_little("the stalled reader's lookup"));
    }
    ASSERT_EQ(stall.held, held[0]->a);

    unpublish(*held[0]);
    uint64_t removed = 2;
    for (unsigned i = 0; i < 100 && !timed_out; ++i) {
        auto c = std::make_unique<call>(make_call(caller_of(2000 + i), callee_of(2000 + i),
                                                  static_cast<uint16_t>(25000 + 4 * i),
                                                  static_cast<uint16_t>(25002 + 4 * i)));
        publish(*c);
        for (auto& st : stable) {
            send(*st, true, expect::relay);
            send(*st, false, expect::relay);
        }
        ASSERT_TRUE(settle());  // worker 0 polled, relayed and reported quiescent meanwhile
        unpublish(*c);
        removed += 2;
        held.push_back(std::move(c));
    }
    EXPECT_EQ(registry().freed_count, 0u) << "freed while a worker still held a side it had looked up";
    EXPECT_GT(workers[0]->stats.relayed.load(), 0u);

    stall.phase.store(2);
    while (stall.phase.load() < 3) {
        ASSERT_TRUE(wait_a_little("the stalled reader to finish"));
    }
    EXPECT_TRUE(stall.intact) << "the side a worker held was freed under it";
    EXPECT_EQ(rte_eal_wait_lcore(stall_lcore), 0);
    stall_lcore = 0;

    // Reader 1 has reported (and is offline), worker 0 keeps reporting: each removal now
    // reclaims what waits in the defer queue.
    for (unsigned i = 0; i < 1000 && registry().freed_count < removed; ++i) {
        drive_reclaim(i);
        usleep(10);
    }
    EXPECT_EQ(registry().freed_count, removed) << "removed sides never reclaimed";
    EXPECT_EQ(registry().freed_while_published, 0u);
    stop_workers();
    pump();

    expect_no_errors();
    uint64_t must = 0;
    for (const sent_frame& f : sent) {
        must += f.what == expect::relay;
        EXPECT_TRUE(f.seen);
    }
    EXPECT_EQ(seen, must);
    expect_only_drops({});
    const worker_stats& st0 = workers[0]->stats;
    EXPECT_EQ(st0.rx_packets[0].load(), enqueued[0][0]);
    EXPECT_EQ(st0.rx_packets[1].load(), enqueued[1][0]);
    EXPECT_EQ(st0.relayed.load(), must);
    EXPECT_EQ(enqueued[0][1] + enqueued[1][1], 0u);
    for (const auto& c : stable) {
        expect_side_counters(*c);
    }
}

}  // namespace
}  // namespace sf::dp
