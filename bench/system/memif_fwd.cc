/// @file
/// The DUT of the system benchmark's memif phase (bench/system/run.py): two net_memif ports
/// (the memif server side; sfgen is the client) and one forwarding lcore, in one of two modes
/// on the same devices:
///
///   io     rx_burst on one port, tx_burst of the same frames on the other, untouched
///          (testpmd's io forwarding): the limit of the I/O path;
///   relay  sipferry's real worker loop (dataplane/lcore_loop.cc worker_main: classification,
///          ARP answers, relay table lookup, latching check, rewrite with incremental
///          checksums, per-side and per-lcore counters, buffered TX) with one relay call per
///          stream installed directly in the relay table (no SIP: memif has no kernel path
///          for the B2BUA's signalling).
///   alternate  both on the same lcore, taking turns of --slice-ms (default 10): the relay's
///          worker loop for a slice, io forwarding for the next, each counting its own load.
///          Separate trials of io and relay compare two moments of a shared host whose speed
///          moves 2x within minutes; slices of 10 ms see the same host, so the ratio of their
///          busy time per packet is the relay's cost over io's, free of that drift.
///
///   memif_fwd [EAL args, two net_memif vdevs, -l MAIN,WORKER] -- --mode io|relay|alternate
///             --streams N [--duration S] [--load-file PATH] [--slice-ms MS]
///
/// Stream i: sfgen sends from 203.0.113.20:30000+2i to 203.0.113.1:20000+2i (port 0); the
/// relay forwards from 203.0.113.129:20000+2i (port 1) to 203.0.113.150:40000+2i. Runs until
/// SIGINT/SIGTERM or --duration, then prints its counters as JSON on stdout. Both modes count
/// their loop's busy cycles as the appliance's workers do (dataplane/stats.hh, charge_iteration);
/// with --load-file the main lcore writes them there every 100 ms (JSON, replaced by rename), so
/// that the harness can read them around each trial (alternate: the relay's at the top level, as
/// in relay mode, and io forwarding's under "io").

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "relay.hh"
#include "relay_table.hh"
#include "rings.hh"
#include "stats.hh"
#include "unmap_grace.hh"
#include "worker.hh"

namespace {

using namespace sf::dp;

constexpr uint32_t addr_a = 0xcb007101;     // 203.0.113.1: the relay on port 0
constexpr uint32_t addr_b = 0xcb007181;     // 203.0.113.129: the relay on port 1
constexpr uint32_t src_addr = 0xcb007114;   // 203.0.113.20: sfgen's sources
constexpr uint32_t sink_addr = 0xcb007196;  // 203.0.113.150: sfgen's sink
constexpr uint16_t relay_base = 20000, src_base = 30000, sink_base = 40000;

std::atomic<bool> stop{false};

void on_signal(int) {
    stop.store(true);
}

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "memif_fwd: %s\n", what);
    std::exit(1);
}

void start_port(uint16_t id, rte_mempool* pool) {
    rte_eth_conf conf{};
    uint16_t rxd = 1024, txd = 1024;
    if (rte_eth_dev_configure(id, 1, 1, &conf) != 0 || rte_eth_dev_adjust_nb_rx_tx_desc(id, &rxd, &txd) != 0 ||
        rte_eth_rx_queue_setup(id, 0, rxd, rte_socket_id(), nullptr, pool) != 0 ||
        rte_eth_tx_queue_setup(id, 0, txd, rte_socket_id(), nullptr) != 0 || rte_eth_dev_start(id) != 0) {
        die("port set-up");
    }
}

struct io_counters {
    worker_stats stats;  ///< rx_packets, tx_packets and drops[tx_failed] by port; the loop's cycles
    rte_rcu_qsbr* pollers = nullptr;  ///< reader 0: this lcore, quiescent between bursts (unmap_grace.hh)
};

// testpmd's io forwarding on one lcore, both directions, frames untouched, for as long as
// `keep_going()` says; reader 0 of c.pollers online meanwhile (registered by the caller).
template <class KeepGoing>
void io_forward(io_counters& c, KeepGoing keep_going) {
    rte_mbuf* pkts[32];
    const uint16_t ports[2][2] = {{0, 1}, {1, 0}};
    rte_rcu_qsbr_thread_online(c.pollers, 0);
    uint64_t iteration_start = rte_rdtsc();
    unsigned got = 0;
    while (keep_going()) {
        const uint64_t now = rte_rdtsc();
        charge_iteration(c.stats, now - iteration_start, got != 0);
        iteration_start = now;
        got = 0;
        rte_rcu_qsbr_quiescent(c.pollers, 0);
        for (const auto& p : ports) {
            const uint16_t n = rte_eth_rx_burst(p[0], 0, pkts, 32);
            if (n == 0) {
                continue;
            }
            got += n;
            const uint16_t sent = rte_eth_tx_burst(p[1], 0, pkts, n);
            bump(c.stats.rx_packets[p[0]], n);
            bump(c.stats.tx_packets[p[1]], sent);
            if (sent < n) {
                bump(c.stats.drops[static_cast<unsigned>(drop_reason::tx_failed)], n - sent);
                rte_pktmbuf_free_bulk(pkts + sent, n - sent);
            }
        }
    }
    charge_iteration(c.stats, rte_rdtsc() - iteration_start, got != 0);
    rte_rcu_qsbr_thread_offline(c.pollers, 0);
}

int io_main(void* arg) {
    auto* c = static_cast<io_counters*>(arg);
    rte_rcu_qsbr_thread_register(c->pollers, 0);
    io_forward(*c, [] { return !stop.load(std::memory_order_relaxed); });
    return 0;
}

// --mode alternate: whose turn it is. The main lcore flips it at every slice's end; the relay's
// worker loop returns when its stop flag (relay_slice_over) is set, io forwarding when the turn
// is no longer its own.
std::atomic<bool> relay_turn{false};
std::atomic<bool> relay_slice_over{true};

struct alternate_lcore {
    io_counters* io;  ///< io forwarding's counters; its pollers are the relay table's readers
    worker* relay;    ///< the relay's worker, stop = &relay_slice_over
};

// The relay's worker loop and io forwarding take turns on one lcore: each turn, the worker as
// the appliance runs it (worker_main, entered afresh: it registers, flushes its TX buffers and
// goes offline as it returns) or io forwarding. Both are reader 0 of the same RCU variable, so a
// memif client's disconnect waits for whichever burst is in flight (unmap_grace.hh).
int alternate_main(void* arg) {
    const auto* lc = static_cast<const alternate_lcore*>(arg);
    rte_rcu_qsbr_thread_register(lc->io->pollers, 0);
    while (!stop.load(std::memory_order_relaxed)) {
        if (relay_turn.load(std::memory_order_acquire)) {
            worker_main(lc->relay);
            // A slice may end before worker_main saw it begin: wait for the turn to pass.
            while (relay_turn.load(std::memory_order_acquire) && !stop.load(std::memory_order_relaxed)) {
                rte_pause();
            }
        } else {
            io_forward(*lc->io, [] {
                return !stop.load(std::memory_order_relaxed) && !relay_turn.load(std::memory_order_relaxed);
            });
        }
    }
    return 0;
}

// The main lcore's end of a slice: the other forwarder's turn. The relay's stop flag is cleared
// before its turn is announced and set before the turn passes back.
void next_turn() {
    if (relay_turn.load()) {
        relay_slice_over.store(true);
        relay_turn.store(false, std::memory_order_release);
    } else {
        relay_slice_over.store(false);
        relay_turn.store(true, std::memory_order_release);
    }
}

uint64_t sum(const std::atomic<uint64_t>* first, unsigned n) {
    uint64_t total = 0;
    for (unsigned i = 0; i < n; ++i) {
        total += first[i].load(std::memory_order_relaxed);
    }
    return total;
}

// One forwarder's load counters as a JSON object's members.
void print_load(FILE* f, const worker_stats& s) {
    std::fprintf(f,
                 "\"loop_cycles\":%lu,\"busy_cycles\":%lu,\"busy_polls\":%lu,\"handling_cycles\":%lu,"
                 "\"rx_packets\":%lu,\"tsc_hz\":%lu",
                 static_cast<unsigned long>(s.loop_cycles.load()), static_cast<unsigned long>(s.busy_cycles.load()),
                 static_cast<unsigned long>(s.busy_polls.load()), static_cast<unsigned long>(s.handling_cycles.load()),
                 static_cast<unsigned long>(sum(s.rx_packets, worker_stats::max_ports)),
                 static_cast<unsigned long>(rte_get_tsc_hz()));
}

// The forwarding lcore's load counters as JSON (with --mode alternate, io forwarding's too, under
// "io"), written to `path` through a temporary file and a rename, so that a reader never sees
// half of it.
void write_load(const std::string& path, const worker_stats& s, const worker_stats* io) {
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
        return;
    }
    std::fputc('{', f);
    print_load(f, s);
    if (io != nullptr) {
        std::fputs(",\"io\":{", f);
        print_load(f, *io);
        std::fputc('}', f);
    }
    std::fputs("}\n", f);
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    rte_openlog_stream(stderr);
    const int consumed = rte_eal_init(argc, argv);
    if (consumed < 0) {
        die("rte_eal_init");
    }
    argc -= consumed;
    argv += consumed;
    std::string mode = "relay";
    unsigned n_streams = 100;
    double duration = 600;
    unsigned slice_ms = 10;
    std::string load_file;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string opt = argv[i];
        if (opt == "--mode") {
            mode = argv[i + 1];
        } else if (opt == "--streams") {
            n_streams = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
        } else if (opt == "--duration") {
            duration = std::strtod(argv[i + 1], nullptr);
        } else if (opt == "--load-file") {
            load_file = argv[i + 1];
        } else if (opt == "--slice-ms") {
            slice_ms = static_cast<unsigned>(std::strtoul(argv[i + 1], nullptr, 10));
        } else {
            die("usage: memif_fwd [EAL] -- --mode io|relay|alternate --streams N [--duration S] [--load-file PATH] "
                "[--slice-ms MS]");
        }
    }
    if ((mode != "io" && mode != "relay" && mode != "alternate") || n_streams == 0 || n_streams > 4000 ||
        slice_ms == 0 || slice_ms > 1000 || rte_eth_dev_count_avail() < 2) {
        die("--mode io|relay|alternate, --streams 1..4000, --slice-ms 1..1000, two ports (EAL --vdev net_memif...)");
    }
    const bool alternate = mode == "alternate";
    const unsigned worker_lcore = rte_get_next_lcore(rte_lcore_id(), 1, 0);
    if (worker_lcore >= RTE_MAX_LCORE) {
        die("needs a worker lcore (-l MAIN,WORKER)");
    }
    rte_mempool* pool = rte_pktmbuf_pool_create("mfwd_pool", 16383, 256, packet_meta_priv_size,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
    if (pool == nullptr) {
        die("mbuf pool");
    }
    start_port(0, pool);
    start_port(1, pool);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    io_counters io;
    std::unique_ptr<relay_table> table;
    auto w = std::make_unique<worker>();
    if (mode == "io") {
        // As the relay's worker does: a memif client's disconnect waits for the burst in flight.
        io.pollers = static_cast<rte_rcu_qsbr*>(rte_zmalloc("mfwd_rcu", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
        if (io.pollers == nullptr || rte_rcu_qsbr_init(io.pollers, 1) != 0) {
            die("rcu");
        }
        set_unmap_grace(io.pollers);
        rte_eal_remote_launch(io_main, &io, worker_lcore);
    } else {
        // One call per stream: side a (port 0, where sfgen sends) bridged to side b (port 1,
        // towards the sink), both latched as after a call's first packets.
        // Two addresses: the relay ports of addr_a (port 0) and addr_b (port 1).
        table = std::make_unique<relay_table>("mfwd_rt", 2 * n_streams + 64, 1, static_cast<int>(rte_socket_id()), 2);
        rte_ether_addr mac0{}, mac1{};
        rte_eth_macaddr_get(0, &mac0);
        rte_eth_macaddr_get(1, &mac1);
        for (unsigned i = 0; i < n_streams; ++i) {
            media_side* a = table->make(addr_a, static_cast<uint16_t>(relay_base + 2 * i));
            media_side* b = table->make(addr_b, static_cast<uint16_t>(relay_base + 2 * i));
            if (a == nullptr || b == nullptr) {
                die("relay table make");
            }
            a->port_id = 0;
            a->local_mac = mac0;
            set_remote(*a, pack_endpoint(src_addr, static_cast<uint16_t>(src_base + 2 * i)),
                       pack_mac(rte_ether_addr{{0x02, 0, 0, 0, 0, 0x01}}));
            a->latch.store(latching::latched);
            b->port_id = 1;
            b->local_mac = mac1;
            // memif has no MAC filter and sfgen's sink matches by payload: any unicast MAC will do.
            set_remote(*b, pack_endpoint(sink_addr, static_cast<uint16_t>(sink_base + 2 * i)),
                       pack_mac(rte_ether_addr{{0x02, 0, 0, 0, 0, 0x02}}));
            b->latch.store(latching::latched);
            bridge(*a, b);
            bridge(*b, a);
            if (!table->insert(a) || !table->insert(b)) {
                die("relay table insert");
            }
        }
        set_unmap_grace(table->readers());
        // The worker as dataplane.cc sets up worker 0 (no control thread: its rings are
        // drained by nobody, so SIP would be dropped as sip_ring_full; none is sent).
        w->burst = 32;
        w->sip_port = 5060;
        w->relay_min = relay_base;
        w->relay_max = relay_base + 2 * 4000;
        w->relay = table.get();
        w->stop = &stop;
        w->lcore = worker_lcore;
        w->sip_in = rte_ring_create("mfwd_sip", 1024, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
        w->neighbours = rte_ring_create_elem("mfwd_nb", sizeof(neighbour_event), 1024, rte_socket_id(),
                                             RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (w->sip_in == nullptr || w->neighbours == nullptr) {
            die("worker rings");
        }
        const std::pair<uint16_t, uint32_t> ports[] = {{0, addr_a}, {1, addr_b}};
        for (const auto& [id, addr] : ports) {
            worker_port& wp = w->ports[id];
            wp.used = true;
            wp.index = static_cast<uint8_t>(w->n_ports);
            wp.addr = addr;
            rte_eth_macaddr_get(id, &wp.mac);
            wp.tx = static_cast<rte_eth_dev_tx_buffer*>(
                rte_zmalloc("mfwd_txbuf", RTE_ETH_TX_BUFFER_SIZE(64), RTE_CACHE_LINE_SIZE));
            if (wp.tx == nullptr) {
                die("tx buffer");
            }
            rte_eth_tx_buffer_init(wp.tx, 32);
            w->port_ids[w->n_ports++] = id;
        }
        if (alternate) {
            io.pollers = table->readers();
            w->stop = &relay_slice_over;
            static alternate_lcore lc{&io, w.get()};
            rte_eal_remote_launch(alternate_main, &lc, worker_lcore);
        } else {
            rte_eal_remote_launch(worker_main, w.get(), worker_lcore);
        }
    }
    const worker_stats& load = mode == "io" ? io.stats : w->stats;
    const worker_stats* io_load = alternate ? &io.stats : nullptr;
    if (!load_file.empty()) {
        write_load(load_file, load, io_load);  // before the line the harness waits for: its first sample is there
    }
    std::fprintf(stderr, "memif_fwd: %s mode, %u streams, forwarding on lcore %u%s\n", mode.c_str(), n_streams,
                 worker_lcore, alternate ? (", turns of " + std::to_string(slice_ms) + " ms").c_str() : "");
    // The main lcore only waits (bounded by --duration), ends the alternating slices and writes
    // the load file every 100 ms; neighbour events are discarded.
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t end = rte_rdtsc() + static_cast<uint64_t>(duration * static_cast<double>(hz));
    const unsigned tick_us = alternate ? slice_ms * 1000 : 10000;
    uint64_t next_write = 0;
    while (!stop.load() && rte_rdtsc() < end) {
        if (alternate) {
            next_turn();
        }
        if (w->neighbours != nullptr) {
            neighbour_event ev[32];
            rte_ring_dequeue_burst_elem(w->neighbours, ev, sizeof(neighbour_event), 32, nullptr);
        }
        if (!load_file.empty() && rte_rdtsc() >= next_write) {
            write_load(load_file, load, io_load);
            next_write = rte_rdtsc() + hz / 10;
        }
        rte_delay_us_sleep(tick_us);
    }
    stop.store(true);
    relay_slice_over.store(true);
    rte_eal_wait_lcore(worker_lcore);
    if (!load_file.empty()) {
        write_load(load_file, load, io_load);
    }
    const unsigned tx_failed = static_cast<unsigned>(drop_reason::tx_failed);
    std::printf("{\"mode\":\"%s\",\"streams\":%u,\"io_rx\":%lu,\"io_tx\":%lu,\"io_dropped\":%lu,"
                "\"relayed\":%lu,\"worker_drops\":%lu,\"loop_cycles\":%lu,\"busy_cycles\":%lu,\"busy_polls\":%lu}\n",
                mode.c_str(), n_streams, static_cast<unsigned long>(sum(io.stats.rx_packets, worker_stats::max_ports)),
                static_cast<unsigned long>(sum(io.stats.tx_packets, worker_stats::max_ports)),
                static_cast<unsigned long>(io.stats.drops[tx_failed].load()),
                static_cast<unsigned long>(w->stats.relayed.load()),
                static_cast<unsigned long>(sum(w->stats.drops, static_cast<unsigned>(drop_reason::count_))),
                static_cast<unsigned long>(load.loop_cycles.load()),
                static_cast<unsigned long>(load.busy_cycles.load()), static_cast<unsigned long>(load.busy_polls.load()));
    std::fflush(stdout);  // the figures survive whatever the teardown below does
    for (uint16_t p = 0; p < 2; ++p) {
        rte_eth_dev_stop(p);
    }
    // The table lives in EAL memory (memzone, RCU variable): it must go before the EAL does, or
    // its destructor reads unmapped memory (it did: SIGSEGV at every relay-mode exit, the JSON
    // above lost with it).
    set_unmap_grace(nullptr);
    if (!alternate) {
        rte_free(io.pollers);  // alternate: the table's own, freed with it
    }
    table.reset();
    rte_eal_cleanup();
    return 0;
}
