/// @file
/// Per-packet cost of relay_burst (table lookup + latching check + header
/// rewrite + counters) on bursts of 32 real mbufs, without any NIC I/O.
///
/// Tables of 1k and 1M published sides on a realistic key set: 64 appliance addresses
/// (a port's media_addresses range) x relay ports 1024..65535, drawn at random. The
/// burst's destinations walk a shuffled list of every entry, so at 1M entries the
/// table's lines and the media_side lines miss the caches like a loaded box would. Each iteration first resets the
/// burst's headers (a template copy plus the destination), so every iteration
/// does the full relay work; BM_relay_baseline_touch does the same reset and
/// then only reads the headers and swaps the MACs: the I/O-free lower bound
/// the relay's cost is compared to.

#include <benchmark/benchmark.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_udp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "bench_eal.hh"
#include "relay.hh"
#include "relay_table.hh"

namespace {

using namespace sf::dp;

constexpr unsigned burst = 32;
constexpr uint16_t payload_len = 172;  // G.711 20 ms RTP: 12-byte header + 160 bytes
constexpr uint16_t frame_len = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + payload_len;
constexpr uint16_t hdr_len = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);

rte_mempool* pool = nullptr;

// A published table and the shuffled destinations the bursts walk through.
struct fixture {
    std::unique_ptr<relay_table> table;
    std::vector<relay_key> walk;
};

// Built once per size: a 1M-entry table takes a second or two to fill. With `continuing`
// every side continues a stream (media_side.hh, "Continuity"), as after a transfer with
// [transfer] continuous_media: the relay's other path, for its cost against the plain one.
fixture& fixture_for(uint32_t entries, bool continuing = false) {
    static std::map<std::pair<uint32_t, bool>, fixture> cache;
    auto it = cache.find({entries, continuing});
    if (it != cache.end()) {
        return it->second;
    }
    fixture& f = cache[{entries, continuing}];
    // ~20% headroom over the entries, as an operator would size relay_capacity.
    const uint32_t capacity = entries + entries / 5 + 64;
    f.table = std::make_unique<relay_table>(("bench_rt" + std::to_string(entries) + (continuing ? "c" : "")).c_str(),
                                            capacity, 1,
                                            static_cast<int>(rte_socket_id()));
    std::mt19937_64 rng(entries);
    std::unordered_set<uint64_t> used;
    std::vector<media_side*> sides;
    sides.reserve(entries);
    while (sides.size() < entries) {
        // 64 appliance addresses (10.0.0.1..64, one port's media range) x relay ports
        // 1024..65535: the keys a real box holds (1M entries fill ~25% of that space).
        const uint32_t addr = 0x0a000001u + static_cast<uint32_t>(rng() % 64);
        const auto port = static_cast<uint16_t>(1024 + rng() % (65536 - 1024));
        if (!used.insert((uint64_t{addr} << 16) | port).second) {
            continue;
        }
        media_side* s = f.table->make(addr, port);
        if (s == nullptr) {
            std::fprintf(stderr, "bench_relay: make failed at %zu of %u entries\n", sides.size(), entries);
            std::abort();
        }
        s->port_id = static_cast<uint8_t>(sides.size() & 1);
        s->local_mac = rte_ether_addr{{0x02, 0, 0, 0, 0, static_cast<uint8_t>(sides.size())}};
        const uint64_t remote = pack_endpoint(0xc6336400u | static_cast<uint32_t>(rng() & 0xff), 6000);
        set_remote(*s, remote, pack_mac(rte_ether_addr{{0x02, 0, 0, 0, 1, static_cast<uint8_t>(rng())}}));
        s->latch.store(latching::latched);  // steady state: the call's first packet is long past
        sides.push_back(s);
    }
    // Bridge neighbours in pairs, as calls are.
    const stream_position heard{0xb0b0b, 1000, 160000};
    const stream_position* position = continuing ? &heard : nullptr;
    for (size_t i = 0; i + 1 < sides.size(); i += 2) {
        bridge(*sides[i], sides[i + 1], position);
        bridge(*sides[i + 1], sides[i], position);
    }
    if (sides.size() % 2 == 1) {
        bridge(*sides.back(), sides.front(), position);
    }
    for (media_side* s : sides) {
        if (!f.table->insert(s)) {
            std::fprintf(stderr, "bench_relay: insert failed at %u of %u entries\n", f.table->size(), entries);
            std::abort();
        }
    }
    // The walk: every side in random order, repeated to at least 64k packets.
    std::vector<relay_key> keys;
    keys.reserve(sides.size());
    for (media_side* s : sides) {
        keys.push_back(relay_key{s->local_addr, s->local_port, 0});
    }
    while (f.walk.size() < std::max<size_t>(keys.size(), 65536)) {
        std::shuffle(keys.begin(), keys.end(), rng);
        f.walk.insert(f.walk.end(), keys.begin(), keys.end());
    }
    f.walk.resize(f.walk.size() / burst * burst);
    return f;
}

// The header template every burst slot is reset from (checksums are updated
// incrementally by the relay, so their start value does not matter for cost).
struct header_template {
    uint8_t bytes[hdr_len];
};

header_template make_template() {
    header_template t{};
    auto* eth = reinterpret_cast<rte_ether_hdr*>(t.bytes);
    eth->dst_addr = rte_ether_addr{{0x02, 0, 0, 0, 0, 0xee}};
    eth->src_addr = rte_ether_addr{{0x02, 0, 0, 0, 0, 0xaa}};
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + payload_len);
    ip->time_to_live = 60;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(0xc0000263);  // 192.0.2.99
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = rte_cpu_to_be_16(6000);
    udp->dgram_len = rte_cpu_to_be_16(sizeof(rte_udp_hdr) + payload_len);
    udp->dgram_cksum = rte_cpu_to_be_16(0x1234);
    return t;
}

struct mbuf_burst {
    rte_mbuf* pkts[burst];

    mbuf_burst() {
        if (rte_pktmbuf_alloc_bulk(pool, pkts, burst) != 0) {
            std::fprintf(stderr, "bench_relay: mbuf alloc failed\n");
            std::abort();
        }
        for (rte_mbuf* m : pkts) {
            auto* p = static_cast<uint8_t*>(std::memset(rte_pktmbuf_append(m, frame_len), 0x5a, frame_len));
            // A real RTP header (v2, PCMU, an SSRC), so the relay's sequence tracking runs as in service.
            p[hdr_len] = 0x80;
            p[hdr_len + 1] = 0;
            const uint8_t ssrc[4] = {0x0a, 0x11, 0xce, 0x01};
            std::memcpy(p + hdr_len + 8, ssrc, 4);
        }
    }
    ~mbuf_burst() { rte_pktmbuf_free_bulk(pkts, burst); }

    // What every iteration of both benchmarks pays: a fresh received header per packet.
    void reset(const header_template& t, const relay_key* keys) {
        for (unsigned i = 0; i < burst; ++i) {
            auto* p = rte_pktmbuf_mtod(pkts[i], uint8_t*);
            std::memcpy(p, t.bytes, hdr_len);
            auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + sizeof(rte_ether_hdr));
            auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
            ip->dst_addr = rte_cpu_to_be_32(keys[i].addr);
            udp->dst_port = rte_cpu_to_be_16(keys[i].port);
            const uint16_t seq = rte_cpu_to_be_16(static_cast<uint16_t>(seq_));
            std::memcpy(p + hdr_len + 2, &seq, 2);
        }
        ++seq_;
    }
    uint32_t seq_ = 0;  ///< RTP sequence number of this round's packets
};

void set_counters(benchmark::State& state) {
    const auto pkts = static_cast<double>(state.iterations() * burst);
    state.SetItemsProcessed(static_cast<int64_t>(pkts));
    // Seconds per packet (kIsRate | kInvert); shown as e.g. "25n".
    state.counters["per_pkt"] = benchmark::Counter(pkts, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void relay_bursts(benchmark::State& state, bool continuing) {
    fixture& f = fixture_for(static_cast<uint32_t>(state.range(0)), continuing);
    const header_template t = make_template();
    mbuf_burst b;
    uint16_t egress[burst];
    size_t pos = 0;
    uint64_t relayed = 0;
    for (auto _ : state) {
        b.reset(t, &f.walk[pos]);
        const relay_burst_result r = relay_burst(*f.table, b.pkts, burst, egress);
        relayed += r.relayed;
        benchmark::DoNotOptimize(egress);
        pos += burst;
        if (pos == f.walk.size()) {
            pos = 0;
        }
    }
    if (relayed != static_cast<uint64_t>(state.iterations()) * burst) {
        state.SkipWithError("not every packet was relayed");
    }
    set_counters(state);
}

void BM_relay_burst(benchmark::State& state) { relay_bursts(state, false); }
// Every side continues a stream: the RTP header rewrite and its checksum update on top.
void BM_relay_burst_continuing(benchmark::State& state) { relay_bursts(state, true); }

// Same burst, same reset, same key walk; then only what any forwarder must do:
// read the headers (the lookup key) and swap the MACs.
void BM_relay_baseline_touch(benchmark::State& state) {
    fixture& f = fixture_for(static_cast<uint32_t>(state.range(0)));
    const header_template t = make_template();
    mbuf_burst b;
    size_t pos = 0;
    uint64_t sink = 0;
    for (auto _ : state) {
        b.reset(t, &f.walk[pos]);
        for (unsigned i = 0; i < burst; ++i) {
            auto* eth = rte_pktmbuf_mtod(b.pkts[i], rte_ether_hdr*);
            auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
            auto* udp = reinterpret_cast<rte_udp_hdr*>(reinterpret_cast<uint8_t*>(ip) + rte_ipv4_hdr_len(ip));
            sink += ip->dst_addr ^ udp->dst_port;
            rte_ether_addr tmp;
            rte_ether_addr_copy(&eth->src_addr, &tmp);
            rte_ether_addr_copy(&eth->dst_addr, &eth->src_addr);
            rte_ether_addr_copy(&tmp, &eth->dst_addr);
        }
        benchmark::DoNotOptimize(sink);
        benchmark::ClobberMemory();
        pos += burst;
        if (pos == f.walk.size()) {
            pos = 0;
        }
    }
    set_counters(state);
}

// Only the table part: the same walk through lookup_bulk, no packets.
void BM_relay_lookup_only(benchmark::State& state) {
    fixture& f = fixture_for(static_cast<uint32_t>(state.range(0)));
    const relay_key* ptrs[burst];
    media_side* out[burst];
    size_t pos = 0;
    for (auto _ : state) {
        for (unsigned i = 0; i < burst; ++i) {
            ptrs[i] = &f.walk[pos + i];
        }
        benchmark::DoNotOptimize(f.table->lookup_bulk(ptrs, burst, out));
        benchmark::DoNotOptimize(out);
        pos += burst;
        if (pos == f.walk.size()) {
            pos = 0;
        }
    }
    set_counters(state);
}

// What the machine allows a relay at 1M entries: per packet, `lines` cache lines at random
// places in `area` MB (far beyond the caches), each found through the one before it as the
// relay's were, for a burst of 32 packets at once, in rounds: prefetch the round's 32 lines,
// then read them. No packet work at all. The relay's per-packet cost at 1M minus that at 1k is
// to be compared with this at 1 line (the arriving side's line 0, whose address the key
// computes and which holds the departure copied from the peer; 2 with the table's pointer
// pages, 3 before the copy): what a line costs when no work overlaps it and every one of a
// burst's misses is asked for at once (the relay did that until it prefetched a few packets
// ahead instead, docs/ARCHITECTURE.md). The area: 256 MB, or 512 MB as the 1M
// table's pages span on the benchmark's random keys (more pages for the TLB to cover).
void BM_memory_lines(benchmark::State& state) {
    struct alignas(64) line {
        uint32_t next;  ///< the line a chain visits after this one
        uint8_t pad[60];
    };
    const size_t area_lines = (static_cast<size_t>(state.range(2)) << 20) / sizeof(line);
    // In EAL memory like the table's pages (hugepages with SIPFERRY_BENCH_HUGE=1); kept to the
    // end, one per size.
    static std::map<size_t, line*> areas;
    line*& area = areas[area_lines];
    if (area == nullptr) {
        area = static_cast<line*>(rte_malloc("bench_lines", area_lines * sizeof(line), 64));
        if (area == nullptr) {
            state.SkipWithError("rte_malloc of the area failed");
            return;
        }
        std::mt19937_64 rng(7);
        for (size_t i = 0; i < area_lines; ++i) {
            area[i].next = static_cast<uint32_t>(rng() % area_lines);
        }
    }
    const auto lines = static_cast<unsigned>(state.range(0));
    const bool written = state.range(1) != 0;
    std::mt19937_64 rng(11);
    uint32_t at[burst];
    uint64_t sink = 0;
    for (auto _ : state) {
        for (unsigned i = 0; i < burst; ++i) {
            at[i] = static_cast<uint32_t>(rng() % area_lines);  // a packet's key: anywhere
        }
        for (unsigned round = 0; round < lines; ++round) {
            for (unsigned i = 0; i < burst; ++i) {
                rte_prefetch0(&area[at[i]]);
            }
            for (unsigned i = 0; i < burst; ++i) {
                line& l = area[at[i]];
                if (written) {
                    ++l.pad[0];  // a counter in the line, as the relay bumps its side's
                }
                at[i] = l.next;
            }
        }
        for (unsigned i = 0; i < burst; ++i) {
            sink += at[i];
        }
    }
    benchmark::DoNotOptimize(sink);
    set_counters(state);
}

// What an address translation costs a random line on this host's pages, for reading the
// relay's 1M-over-1k figures: a dependent chase over the same 64k cache lines (4 MB: past the
// L2, as the 1M table's lines are), either packed into 4 MB (two 2 MB pages) or one per 4 KiB
// page over 256 MB (128 2 MB pages). The caches see the same lines either way; only the pages
// differ. Bare metal's TLB holds 128 2 MB pages, so on hugepages the two should cost the same;
// a guest whose hugepages the host backs with small pages pays part of a nested page walk per
// line in the spread case (docs/ARCHITECTURE.md, relay table: 2026-12-06, 15 ns here).
void BM_memory_translation(benchmark::State& state) {
    constexpr size_t line = 64, page = 4096, lines = 65536;
    const bool spread = state.range(0) != 0;
    static void* area = nullptr;  // 256 MB of EAL memory, kept to the end
    if (area == nullptr) {
        area = rte_malloc("bench_translation", lines * page, page);
        if (area == nullptr) {
            state.SkipWithError("rte_malloc of 256 MB failed");
            return;
        }
    }
    auto* base = static_cast<uint8_t*>(area);
    // Line i: packed at i * 64; spread in page i, at a line offset that walks the cache sets.
    auto at = [&](size_t i) { return base + (spread ? i * page + (i % (page / line)) * line : i * line); };
    std::vector<uint32_t> order(lines);
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(5));
    for (size_t k = 0; k < lines; ++k) {  // one cycle through every line, in random order
        *reinterpret_cast<uint8_t**>(at(order[k])) = at(order[(k + 1) % lines]);
    }
    auto* p = reinterpret_cast<uint8_t*>(at(order[0]));
    for (size_t k = 0; k < lines; ++k) {  // warm: every line and translation seen once
        p = *reinterpret_cast<uint8_t**>(p);
    }
    constexpr unsigned loads = 1024;
    for (auto _ : state) {
        for (unsigned k = 0; k < loads; ++k) {
            p = *reinterpret_cast<uint8_t**>(p);
        }
    }
    benchmark::DoNotOptimize(p);
    const auto n = static_cast<double>(state.iterations() * loads);
    state.SetItemsProcessed(static_cast<int64_t>(n));
    state.counters["per_load"] = benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_relay_baseline_touch)->Arg(1000)->Arg(1000000);
BENCHMARK(BM_memory_translation)->ArgName("spread")->Arg(0)->Arg(1);
BENCHMARK(BM_memory_lines)
    ->ArgNames({"lines", "written", "area_mb"})
    ->Args({0, 0, 256})
    ->Args({1, 0, 256})
    ->Args({2, 0, 256})
    ->Args({3, 0, 256})
    ->Args({1, 1, 256})
    ->Args({1, 0, 512})
    ->Args({1, 1, 512});
BENCHMARK(BM_relay_lookup_only)->Arg(1000)->Arg(1000000);
BENCHMARK(BM_relay_burst)->Arg(1000)->Arg(1000000);
BENCHMARK(BM_relay_burst_continuing)->Arg(1000)->Arg(1000000);

}  // namespace

int main(int argc, char** argv) {
    // EAL first (mempool and relay table live in its memory); -m 2048 (4 KiB pages) leaves room
    // for a 1M-entry table of random ports (~516 MB of 32 KB pages), and --no-huge accepts a large -m.
    if (!sf::bench::start_eal("bench_relay", 2048)) {
        return 1;
    }
    pool = rte_pktmbuf_pool_create("bench_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   static_cast<int>(rte_socket_id()));
    if (pool == nullptr) {
        std::fprintf(stderr, "bench_relay: mempool: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    std::filesystem::remove_all(rte_eal_get_runtime_dir());  // made even with --no-shconf
    return 0;
}
