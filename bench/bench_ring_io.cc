/// @file
/// Per-packet cost of the relay through real DPDK I/O: two net_ring ports made with
/// rte_eth_from_rings, one lcore, bursts of 32, G.711 RTP frames (214 bytes).
///
/// Port B's TX queue is port A's RX ring (a loopback cable from B back to A): every
/// iteration is rte_eth_rx_burst(A) -> the work measured -> rte_eth_tx_burst(B), and the
/// frames it sends come back to it frames/32 iterations later. The generator is the pool of
/// prebuilt frames put on that ring before the timed loop; nothing refills or rewrites
/// frames inside the loop, for any benchmark, so the timed region is the I/O path plus the
/// work being measured, and no timer pauses distort the baseline's few nanoseconds. Every
/// benchmark fails unless every frame it took was sent (zero loss).
///
/// --frames=N sets the frames in flight (default 2048, about an RX plus a TX descriptor
/// ring). Their headers are the working set every frame-touching benchmark pays for: with
/// EAL's --no-huge (4 KiB pages, as here) 2048 mbufs span ~1200 pages and TLB misses add
/// several ns per frame that hugepage-backed mbufs would not.
///
/// For the relay to find an entry again on the next pass, the table is one cycle: a call
/// is side a (the key a frame arrives at) bridged to side b, and b's remote is the key of
/// the next call's a side in a random permutation. A relayed frame is thus addressed to
/// another random entry; at 1M entries its table line and both sides miss the caches
/// as under real load. At 1M the keys are realistic: 32 addresses per port (a
/// media_addresses range) x relay ports 1024..65535, drawn at random.
///
/// BM_ring_io_forward_baseline  rx_burst + tx_burst, frames untouched (testpmd's io
///                              forwarding): the limit of the I/O path.
/// BM_ring_io_macswap           the same, swapping each frame's MACs (testpmd's macswap):
///                              the cost of touching every frame, for reference.
/// BM_ring_relay_1k, _1M        relay_burst (bulk lookup, latching check, rewrite with
///                              incremental checksums, per-side counters), the worker's
///                              per-lcore counters, tx_burst of the relayed frames and the
///                              RCU quiescent report of every poll.
/// BM_ring_worker_1k, _1M       worker_handle_burst: the worker loop's whole per-burst path
///                              (validation, classification, relay, buffered TX). At 1M
///                              each worker port owns the table's 32 media addresses
///                              (worker_port media range) and relays ports 1024-65535, as a
///                              box configured with media_addresses and a wide port range does.
/// BM_ring_worker_capturing_sip_1k  BM_ring_worker_1k while a packet capture of `udp port 5060`
///                              runs (dataplane/packet_capture.hh): its JIT-compiled filter on
///                              every frame received and sent, none taken (the RTP path's cost
///                              of an operator capturing SIP on a busy box).

#include <benchmark/benchmark.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_udp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "bench_eal.hh"
#include "packet_capture.hh"
#include "relay.hh"
#include "relay_table.hh"
#include "rings.hh"
#include "stats.hh"
#include "worker.hh"

namespace {

using namespace sf::dp;

constexpr unsigned burst = 32;
constexpr unsigned max_in_flight = 4064;  // the loop ring holds 4095, one burst is in hand
unsigned in_flight = 2048;                // --frames=N
constexpr uint16_t rtp_len = 12 + 160;  // RTP header + 20 ms of G.711
constexpr uint16_t frame_len = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + rtp_len;
constexpr uint32_t addr_a = 0xc0000201;  // 192.0.2.1, port A
constexpr uint32_t addr_b = 0xc6336401;  // 198.51.100.1, port B
constexpr uint32_t sender_addr = 0xc0000263;  // 192.0.2.99
constexpr uint16_t relay_min = 20000, relay_max = 29999;

rte_mempool* pool = nullptr;
uint16_t port_a = 0, port_b = 0;
rte_ring* loop = nullptr;  // port A's RX queue 0 and port B's TX queue 0
rte_ether_addr mac_a{}, mac_b{};

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "bench_ring_io: %s: %s\n", what, rte_strerror(rte_errno));
    std::exit(1);
}

// ---- the table: one cycle over the calls' a sides -------------------------------------

struct table_fixture {
    std::unique_ptr<relay_table> table;
    std::vector<relay_key> start;  ///< where each in-flight frame starts on the cycle
};

// Built once per size (1M entries take a few seconds), never freed.
table_fixture& table_for(uint32_t entries) {
    static std::map<uint32_t, table_fixture> cache;
    auto it = cache.find(entries);
    if (it != cache.end()) {
        return it->second;
    }
    table_fixture& f = cache[entries];
    const uint32_t calls = entries / 2;
    const uint32_t capacity = entries + entries / 5 + 64;  // ~20% headroom, as an operator sizes it
    f.table = std::make_unique<relay_table>(("rio_rt" + std::to_string(entries)).c_str(), capacity, 1,
                                            static_cast<int>(rte_socket_id()));
    f.table->reader_register(0);  // this lcore is the worker: reader 0

    std::mt19937_64 rng(entries);
    std::vector<relay_key> a_keys, b_keys;
    if (calls * 2 <= relay_max - relay_min + 1u) {
        // Each port's own address and relay range: what worker_handle_burst accepts.
        for (uint32_t i = 0; i < calls; ++i) {
            a_keys.push_back(relay_key{addr_a, static_cast<uint16_t>(relay_min + 2 * i), 0});
            b_keys.push_back(relay_key{addr_b, static_cast<uint16_t>(relay_min + 2 * i), 0});
        }
    } else {
        // Each port's media range: 32 addresses (10.0.0.1..32 on A, 10.1.0.1..32 on B) x
        // relay ports 1024..65535, as a large box spreads its calls (64 addresses in all).
        std::unordered_set<uint64_t> used;
        while (a_keys.size() + b_keys.size() < 2 * calls) {
            const bool to_a = a_keys.size() == b_keys.size();
            const uint32_t addr = (to_a ? 0x0a000001u : 0x0a010001u) + static_cast<uint32_t>(rng() % 32);
            const auto port = static_cast<uint16_t>(1024 + rng() % (65536 - 1024));
            if (used.insert((uint64_t{addr} << 16) | port).second) {
                (to_a ? a_keys : b_keys).push_back(relay_key{addr, port, 0});
            }
        }
    }
    std::vector<uint32_t> order(calls);
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), rng);

    std::vector<media_side*> a(calls), b(calls);
    for (uint32_t i = 0; i < calls; ++i) {
        a[i] = f.table->make(a_keys[i].addr, a_keys[i].port);
        b[i] = f.table->make(b_keys[i].addr, b_keys[i].port);
        if (a[i] == nullptr || b[i] == nullptr) {
            std::fprintf(stderr, "bench_ring_io: make failed at %u of %u calls\n", i, calls);
            std::abort();
        }
        a[i]->port_id = port_a;
        a[i]->local_mac = mac_a;
        set_remote(*a[i], pack_endpoint(sender_addr, 40000), pack_mac(rte_ether_addr{{0x02, 0, 0, 0, 0xaa, 0x01}}));
        a[i]->latch.store(latching::latched);  // steady state: the call's first packet is long past
        b[i]->port_id = port_b;
        b[i]->local_mac = mac_b;
        b[i]->latch.store(latching::latched);
        bridge(*a[i], b[i]);
        bridge(*b[i], a[i]);
    }
    // b's remote is the next a on the cycle: a relayed frame arrives at another random entry.
    for (uint32_t j = 0; j < calls; ++j) {
        const relay_key& next = a_keys[order[(j + 1) % calls]];
        set_remote(*b[order[j]], pack_endpoint(next.addr, next.port),
                   pack_mac(rte_ether_addr{{0x02, 0, 0, 0, 0xbb, static_cast<uint8_t>(order[j])}}));
    }
    for (uint32_t i = 0; i < calls; ++i) {
        if (!f.table->insert(a[i]) || !f.table->insert(b[i])) {
            std::fprintf(stderr, "bench_ring_io: insert failed at %u of %u entries\n", f.table->size(), entries);
            std::abort();
        }
    }
    for (unsigned k = 0; k < in_flight; ++k) {
        f.start.push_back(a_keys[order[static_cast<uint64_t>(k) * calls / in_flight % calls]]);
    }
    return f;
}

// ---- the generator: prebuilt frames on the loop ring ----------------------------------

void build_frame(rte_mbuf* m, const relay_key& to, unsigned n) {
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, frame_len));
    eth->dst_addr = mac_a;
    eth->src_addr = rte_ether_addr{{0x02, 0, 0, 0, 0xaa, 0x01}};
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    std::memset(ip, 0, sizeof(*ip));
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + rtp_len);
    ip->time_to_live = 60;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(sender_addr);
    ip->dst_addr = rte_cpu_to_be_32(to.addr);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = rte_cpu_to_be_16(40000);
    udp->dst_port = rte_cpu_to_be_16(to.port);
    udp->dgram_len = rte_cpu_to_be_16(sizeof(rte_udp_hdr) + rtp_len);
    udp->dgram_cksum = 0;
    auto* rtp = reinterpret_cast<uint8_t*>(udp + 1);
    rtp[0] = 0x80;  // version 2
    rtp[1] = 0;     // PCMU
    const uint16_t seq = rte_cpu_to_be_16(static_cast<uint16_t>(n));
    const uint32_t ts = rte_cpu_to_be_32(n * 160), ssrc = rte_cpu_to_be_32(0x5f000000u + n);
    std::memcpy(rtp + 2, &seq, 2);
    std::memcpy(rtp + 4, &ts, 4);
    std::memcpy(rtp + 8, &ssrc, 4);
    std::memset(rtp + 12, 0xff, 160);  // mu-law silence
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
}

// Puts in_flight fresh frames, addressed to `keys`, on the loop ring (outside the timing).
void fill(const std::vector<relay_key>& keys) {
    std::vector<rte_mbuf*> m(in_flight);
    if (rte_pktmbuf_alloc_bulk(pool, m.data(), in_flight) != 0) {
        die("mbuf alloc");
    }
    for (unsigned k = 0; k < in_flight; ++k) {
        build_frame(m[k], keys[k % keys.size()], k);
    }
    if (rte_ring_enqueue_bulk(loop, reinterpret_cast<void* const*>(m.data()), in_flight, nullptr) != in_flight) {
        die("loop ring enqueue");
    }
}

// Checks zero loss and that every frame still verifies (after thousands of incremental
// checksum updates for the relay), empties the loop ring and reports packets.
void finish(benchmark::State& state, uint64_t sent) {
    const unsigned left = rte_ring_count(loop);
    unsigned corrupt = 0;
    rte_mbuf* m = nullptr;
    while (rte_ring_dequeue(loop, reinterpret_cast<void**>(&m)) == 0) {
        const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, sizeof(rte_ether_hdr));
        const auto* udp = reinterpret_cast<const rte_udp_hdr*>(ip + 1);
        // Pseudo-header + UDP datagram (checksum included) sum to all ones when it verifies.
        uint32_t sum = rte_ipv4_phdr_cksum(ip, 0) + rte_raw_cksum(udp, rte_be_to_cpu_16(udp->dgram_len));
        sum = (sum & 0xffff) + (sum >> 16);
        if (rte_pktmbuf_data_len(m) != frame_len || rte_ipv4_cksum(ip) != 0 || udp->dgram_cksum == 0 ||
            sum != 0xffff) {
            ++corrupt;
        }
        rte_pktmbuf_free(m);
    }
    const uint64_t expected = static_cast<uint64_t>(state.iterations()) * burst;
    if (sent != expected || left != in_flight) {
        state.SkipWithError("frames lost: not every frame received was sent");
    } else if (corrupt != 0) {
        state.SkipWithError("frames with bad checksums");
    }
    state.SetItemsProcessed(static_cast<int64_t>(sent));
    // Seconds per packet (kIsRate | kInvert); shown as e.g. "25n".
    state.counters["per_pkt"] =
        benchmark::Counter(static_cast<double>(sent), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Frames for the I/O-only benchmarks: the same shape, addresses that are never looked up.
const std::vector<relay_key>& plain_keys() {
    static const std::vector<relay_key> keys = [] {
        std::vector<relay_key> k;
        for (unsigned i = 0; i < 500; ++i) {
            k.push_back(relay_key{addr_a, static_cast<uint16_t>(relay_min + 2 * i), 0});
        }
        return k;
    }();
    return keys;
}

// ---- the benchmarks --------------------------------------------------------------------

void BM_ring_io_forward_baseline(benchmark::State& state) {
    fill(plain_keys());
    rte_mbuf* pkts[burst];
    uint64_t sent = 0;
    for (auto _ : state) {
        const uint16_t n = rte_eth_rx_burst(port_a, 0, pkts, burst);
        sent += rte_eth_tx_burst(port_b, 0, pkts, n);
    }
    finish(state, sent);
}

void BM_ring_io_macswap(benchmark::State& state) {
    fill(plain_keys());
    rte_mbuf* pkts[burst];
    uint64_t sent = 0;
    for (auto _ : state) {
        const uint16_t n = rte_eth_rx_burst(port_a, 0, pkts, burst);
        for (uint16_t i = 0; i < n; ++i) {
            auto* eth = rte_pktmbuf_mtod(pkts[i], rte_ether_hdr*);
            rte_ether_addr tmp;
            rte_ether_addr_copy(&eth->src_addr, &tmp);
            rte_ether_addr_copy(&eth->dst_addr, &eth->src_addr);
            rte_ether_addr_copy(&tmp, &eth->dst_addr);
        }
        sent += rte_eth_tx_burst(port_b, 0, pkts, n);
    }
    finish(state, sent);
}

// The relay step as the worker runs it, with unbuffered TX (the whole burst leaves on B).
void BM_ring_relay(benchmark::State& state, uint32_t entries) {
    table_fixture& f = table_for(entries);
    fill(f.start);
    auto stats = std::make_unique<worker_stats>();
    rte_mbuf* pkts[burst];
    rte_mbuf* out[burst];
    uint16_t egress[burst];
    for (auto _ : state) {
        const uint16_t n = rte_eth_rx_burst(port_a, 0, pkts, burst);
        bump(stats->rx_packets[0], n);
        const relay_burst_result r = relay_burst(*f.table, pkts, n, egress);
        unsigned k = 0;
        for (uint16_t i = 0; i < n; ++i) {
            if (egress[i] == port_b) {
                out[k++] = pkts[i];
            } else {
                rte_pktmbuf_free(pkts[i]);  // dropped (never here: every frame has an entry)
            }
        }
        const uint16_t sent = rte_eth_tx_burst(port_b, 0, out, static_cast<uint16_t>(k));
        if (sent < k) {
            bump(stats->drops[static_cast<unsigned>(drop_reason::tx_failed)], k - sent);
            rte_pktmbuf_free_bulk(out + sent, k - sent);
        }
        bump(stats->relayed, r.relayed);
        if (r.miss != 0) {
            bump(stats->drops[static_cast<unsigned>(drop_reason::relay_miss)], r.miss);
        }
        if (r.no_target != 0) {
            bump(stats->drops[static_cast<unsigned>(drop_reason::relay_no_target)], r.no_target);
        }
        bump(stats->tx_packets[1], sent);
        f.table->reader_quiescent(0);
    }
    finish(state, stats->tx_packets[1].load());
    if (stats->relayed.load() != stats->tx_packets[1].load()) {
        state.SkipWithError("not every frame was relayed");
    }
}

// The worker loop's per-burst path, set up as dataplane::dataplane sets up worker 0; with
// `capture_filter`, while a packet capture with that filter runs on both ports.
void BM_ring_worker(benchmark::State& state, uint32_t entries, const char* capture_filter = nullptr) {
    static unsigned instance = 0;
    table_fixture& f = table_for(entries);
    fill(f.start);
    auto w = std::make_unique<worker>();
    w->burst = burst;
    w->sip_port = 5060;
    // The 1M table's keys are 32 media addresses per port x ports 1024-65535 (table_for).
    const bool wide = entries / 2 * 2 > relay_max - relay_min + 1u;
    w->relay_min = wide ? 1024 : relay_min;
    w->relay_max = wide ? 65535 : relay_max;
    w->relay = f.table.get();
    const std::string suffix = std::to_string(instance++);
    w->sip_in = rte_ring_create(("rio_sip" + suffix).c_str(), 1024, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    w->neighbours = rte_ring_create_elem(("rio_nb" + suffix).c_str(), sizeof(neighbour_event), 1024,
                                         rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    // As dataplane.cc does: the worker always has its RTCP ring (the production path).
    w->rtcp_out = rte_ring_create_elem(("rio_rtcp" + suffix).c_str(), sizeof(rtcp_event), 4096, rte_socket_id(),
                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (w->sip_in == nullptr || w->neighbours == nullptr || w->rtcp_out == nullptr) {
        die("worker rings");
    }
    const std::pair<uint16_t, uint32_t> ports[] = {{port_a, addr_a}, {port_b, addr_b}};
    for (const auto& [id, addr] : ports) {
        worker_port& wp = w->ports[id];
        wp.used = true;
        wp.index = static_cast<uint8_t>(w->n_ports);
        wp.addr = addr;
        if (wide) {
            wp.media_first = id == port_a ? 0x0a000001u : 0x0a010001u;
            wp.media_count = 32;
        }
        wp.mac = id == port_a ? mac_a : mac_b;
        wp.tx = static_cast<rte_eth_dev_tx_buffer*>(
            rte_zmalloc("rio_txbuf", RTE_ETH_TX_BUFFER_SIZE(64), RTE_CACHE_LINE_SIZE));
        if (wp.tx == nullptr) {
            die("tx buffer");
        }
        rte_eth_tx_buffer_init(wp.tx, burst);
        w->port_ids[w->n_ports++] = id;
    }
    std::unique_ptr<packet_capture> capture;
    const std::filesystem::path capture_dir =
        std::filesystem::temp_directory_path() / ("bench_ring_io_capture_" + std::to_string(getpid()));
    if (capture_filter != nullptr) {
        std::filesystem::create_directories(capture_dir);
        capture = std::make_unique<packet_capture>(std::vector<uint16_t>{port_a, port_b}, 1, f.table->rcu());
        capture_request req;
        req.filter = capture_filter;
        req.path = (capture_dir / ("bench-" + suffix + ".pcapng")).string();
        if (const std::string err = capture->start(req, 0); !err.empty()) {
            die(("capture: " + err).c_str());
        }
    }
    rte_mbuf* pkts[burst];
    for (auto _ : state) {
        const uint16_t n = rte_eth_rx_burst(port_a, 0, pkts, burst);
        worker_handle_burst(*w, port_a, pkts, n, rte_rdtsc());
        // worker_main drains its TX buffers every 100 us; a full burst has already gone.
        rte_eth_tx_buffer_flush(port_b, 0, w->ports[port_b].tx);
        f.table->reader_quiescent(0);
    }
    uint64_t drops = 0;
    for (const auto& d : w->stats.drops) {
        drops += d.load();
    }
    finish(state, w->stats.tx_packets[1].load());
    if (drops != 0 || w->stats.relayed.load() != w->stats.tx_packets[1].load()) {
        state.SkipWithError("the worker dropped frames");
    }
    if (capture != nullptr) {
        // stop() waits for every online reader's quiescent state: this thread is reader 0.
        f.table->reader_offline(0);
        capture->stop("done", 0);
        f.table->reader_online(0);
        if (capture->status().matched != 0) {
            state.SkipWithError("the capture's filter took RTP frames");
        }
        capture.reset();
        std::filesystem::remove_all(capture_dir);
    }
    rte_ring_free(w->sip_in);
    rte_ring_free(w->neighbours);
    rte_ring_free(w->rtcp_out);
    for (unsigned i = 0; i < w->n_ports; ++i) {
        rte_free(w->ports[w->port_ids[i]].tx);
    }
}

uint16_t start_port(const char* name, rte_ring* rx, rte_ring* tx) {
    const int id = rte_eth_from_rings(name, &rx, 1, &tx, 1, rte_socket_id());
    if (id < 0) {
        die("rte_eth_from_rings");
    }
    const auto port = static_cast<uint16_t>(id);
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(port, 0, 1024, rte_socket_id(), nullptr, pool) != 0 ||
        rte_eth_tx_queue_setup(port, 0, 1024, rte_socket_id(), nullptr) != 0 || rte_eth_dev_start(port) != 0) {
        die("ring port set-up");
    }
    return port;
}

}  // namespace

int main(int argc, char** argv) {
    // --frames=N (ours, not Google Benchmark's): frames in flight, default 2048.
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--frames=", 9) == 0) {
            in_flight = static_cast<unsigned>(std::strtoul(argv[i] + 9, nullptr, 10));
            if (in_flight < burst || in_flight > max_in_flight) {
                std::fprintf(stderr, "bench_ring_io: --frames between %u and %u\n", burst, max_in_flight);
                return 1;
            }
            std::copy(argv + i + 1, argv + argc + 1, argv + i);  // argv[argc] is the null pointer
            --argc;
            --i;
        }
    }
    // Room for a 1M-entry table of random ports (~516 MB of 32 KB pages) with 4 KiB pages;
    // --no-huge accepts a large -m.
    if (!sf::bench::start_eal("bench_ring_io", 2048)) {
        return 1;
    }
    pool = rte_pktmbuf_pool_create("rio_pool", 8191, 256, packet_meta_priv_size, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   static_cast<int>(rte_socket_id()));
    loop = rte_ring_create("rio_loop", 4096, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* a_tx = rte_ring_create("rio_a_tx", 64, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* b_rx = rte_ring_create("rio_b_rx", 64, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (pool == nullptr || loop == nullptr || a_tx == nullptr || b_rx == nullptr) {
        die("pool and rings");
    }
    port_a = start_port("net_ring_rio_a", loop, a_tx);
    port_b = start_port("net_ring_rio_b", b_rx, loop);
    rte_eth_macaddr_get(port_a, &mac_a);
    rte_eth_macaddr_get(port_b, &mac_b);

    benchmark::RegisterBenchmark("BM_ring_io_forward_baseline", BM_ring_io_forward_baseline);
    benchmark::RegisterBenchmark("BM_ring_io_macswap", BM_ring_io_macswap);
    benchmark::RegisterBenchmark("BM_ring_relay_1k", BM_ring_relay, 1000u);
    benchmark::RegisterBenchmark("BM_ring_relay_1M", BM_ring_relay, 1000000u);
    benchmark::RegisterBenchmark("BM_ring_worker_1k", BM_ring_worker, 1000u, nullptr);
    benchmark::RegisterBenchmark("BM_ring_worker_1M", BM_ring_worker, 1000000u, nullptr);
    // The RTP path while ops capture SIP on the box: the filter runs on every frame in and out.
    benchmark::RegisterBenchmark("BM_ring_worker_capturing_sip_1k", BM_ring_worker, 1000u, "udp port 5060");

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    std::filesystem::remove_all(rte_eal_get_runtime_dir());  // made even with --no-shconf
    return 0;
}
