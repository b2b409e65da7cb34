#include "dataplane.hh"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <rte_bus.h>
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ip_frag.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <stdexcept>

#include "unmap_grace.hh"
#include "worker.hh"

namespace sf::dp {

const char* to_string(drop_reason r) {
    switch (r) {
    case drop_reason::ethertype: return "ethertype";
    case drop_reason::arp_other: return "arp_other";
    case drop_reason::not_for_us: return "not_for_us";
    case drop_reason::ip_malformed: return "ip_malformed";
    case drop_reason::ip_fragment: return "ip_fragment";
    case drop_reason::ip_proto: return "ip_proto";
    case drop_reason::icmp_other: return "icmp_other";
    case drop_reason::udp_malformed: return "udp_malformed";
    case drop_reason::udp_port: return "udp_port";
    case drop_reason::relay_miss: return "relay_miss";
    case drop_reason::relay_no_target: return "relay_no_target";
    case drop_reason::sip_ring_full: return "sip_ring_full";
    case drop_reason::multi_segment: return "multi_segment";
    case drop_reason::tx_failed: return "tx_failed";
    case drop_reason::sip_rate_limited: return "sip_rate_limited";
    case drop_reason::count_: break;
    }
    return "unknown";
}

namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + ": " + rte_strerror(rte_errno));
}

constexpr uint16_t ring_size = 4096;

// "net_af_packet0,iface=acc" -> "net_af_packet0"; a PCI address is its own name.
std::string device_name(const std::string& device) {
    return device.substr(0, device.find(','));
}

}  // namespace

dataplane::dataplane(const dataplane_config& cfg) : cfg_(cfg) {
    if (cfg_.ports.empty() || cfg_.ports.size() > worker_stats::max_ports) {
        throw std::runtime_error("dataplane: between 1 and 8 ports are supported");
    }
    std::vector<std::string> args{"sipferry"};
    args.insert(args.end(), cfg_.eal_args.begin(), cfg_.eal_args.end());
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
        fail("eal.args: rte_eal_init failed");
    }
    if (rte_lcore_count() < cfg_.workers + 1) {
        throw std::runtime_error("dataplane.workers = " + std::to_string(cfg_.workers) + " needs " +
                                 std::to_string(cfg_.workers + 1) + " lcores (main + workers); eal.args gives " +
                                 std::to_string(rte_lcore_count()));
    }

    pool_ = rte_pktmbuf_pool_create("sf_pool", cfg_.mbufs, 256, packet_meta_priv_size,
                                    static_cast<uint16_t>(cfg_.mbuf_data_room + RTE_PKTMBUF_HEADROOM),
                                    static_cast<int>(rte_socket_id()));
    if (pool_ == nullptr) {
        fail("dataplane.mbufs: cannot create the mbuf pool");
    }
    // SIP messages are built in mbufs the transaction layer keeps for retransmissions: a pool
    // of their own, so that a burst of calls cannot starve RX of mbufs (nor RX the calls).
    sip_pool_ = rte_pktmbuf_pool_create("sf_sip_msg", cfg_.sip_mbufs, std::min(256u, cfg_.sip_mbufs / 4),
                                        packet_meta_priv_size,
                                        static_cast<uint16_t>(cfg_.sip_mbuf_data_room + RTE_PKTMBUF_HEADROOM),
                                        static_cast<int>(rte_socket_id()));
    // Every frame carrying a message in flight holds one clone per message segment (and one
    // per fragment piece): as many as there are message segments covers retransmissions.
    clone_pool_ = rte_pktmbuf_pool_create("sf_clone", cfg_.sip_mbufs, std::min(256u, cfg_.sip_mbufs / 4), 0, 0,
                                          static_cast<int>(rte_socket_id()));
    if (sip_pool_ == nullptr || clone_pool_ == nullptr) {
        fail("dataplane.sip_mbufs: cannot create the SIP message pools");
    }
    for (const auto& pc : cfg_.ports) {
        setup_port(pc);
    }
    // Relay ports live on the ports' own addresses and their media ranges, and nowhere else.
    uint32_t relay_addresses = 0;
    for (const auto& pc : cfg_.ports) {
        relay_addresses += 1 + pc.media_count;
    }
    relay_ = std::make_unique<relay_table>("sf_relay", cfg_.relay_capacity, cfg_.workers,
                                           static_cast<int>(rte_socket_id()), std::max(relay_addresses, 1u));
    // A memif peer's disconnect unmaps rings the workers may be polling: let it wait for them.
    set_unmap_grace(relay_->readers());

    for (unsigned i = 0; i < cfg_.workers; ++i) {
        auto* w = new (rte_zmalloc("sf_worker", sizeof(worker), RTE_CACHE_LINE_SIZE)) worker();
        w->id = i;
        w->queue = static_cast<uint16_t>(i);
        w->burst = cfg_.burst;
        w->idle_polls = cfg_.idle_polls;
        w->idle_sleep_us = cfg_.idle_sleep_us;
        w->sip_port = cfg_.sip_port;
        w->relay_min = cfg_.relay_port_min;
        w->relay_max = cfg_.relay_port_max;
        w->relay = relay_.get();
        // Relayed packets may leave on any port: offload only when all of them can.
        w->tx_cksum_offload = !ports_.empty() && std::all_of(ports_.begin(), ports_.end(),
                                                              [](const port_info& p) { return p.tx_cksum_offload; });
        w->stop = &stop_;
        const std::string suffix = std::to_string(i);
        w->sip_in = rte_ring_create(("sf_sip_in" + suffix).c_str(), ring_size, rte_socket_id(),
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
        w->neighbours = rte_ring_create_elem(("sf_nb" + suffix).c_str(), sizeof(neighbour_event), 1024,
                                             rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
        // RTCP reports: one per party per ~5 s, so 4096 hold a burst of reports from ~20k parties
        // between two polls of the control loop; beyond, reports (never packets) are lost, counted.
        w->rtcp_out = rte_ring_create_elem(("sf_rtcp" + suffix).c_str(), sizeof(rtcp_event), 4096,
                                           rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
        // Reassembly of fragmented SIP: up to 4096 datagrams in flight per worker, 2 s to complete.
        const uint64_t frag_timeout = rte_get_tsc_hz() * 2;
        w->frag_tbl = rte_ip_frag_table_create(1024, 16, 4096, frag_timeout, rte_socket_id());
        if (w->frag_tbl == nullptr) {
            fail("dataplane: cannot create the IP reassembly table");
        }
        // Per-source SIP rate limit (none when the rate is 0).
        w->sip_limit = make_sip_limiter(("sf_sip_lim" + suffix).c_str(), cfg_.sip_rate_per_source,
                                        cfg_.sip_burst_per_source, cfg_.sip_sources_tracked, rte_get_tsc_hz(),
                                        static_cast<int>(rte_socket_id()));
        if (i == 0) {
            w->frames_out = rte_ring_create("sf_frames_out", ring_size, rte_socket_id(),
                                            RING_F_SP_ENQ | RING_F_SC_DEQ);
        }
        if (w->sip_in == nullptr || w->neighbours == nullptr || w->rtcp_out == nullptr ||
            (i == 0 && w->frames_out == nullptr)) {
            fail("dataplane: cannot create rings");
        }
        for (unsigned p = 0; p < ports_.size(); ++p) {
            const port_info& pi = ports_[p];
            worker_port& wp = w->ports[pi.port_id];
            wp.used = true;
            wp.index = static_cast<uint8_t>(p);
            wp.addr = pi.addr;
            wp.media_first = pi.media_first;
            wp.media_count = pi.media_count;
            wp.mac = pi.mac;
            wp.mtu = pi.mtu;
            wp.tx = static_cast<rte_eth_dev_tx_buffer*>(
                rte_zmalloc("sf_txbuf", RTE_ETH_TX_BUFFER_SIZE(64), RTE_CACHE_LINE_SIZE));
            if (wp.tx == nullptr) {
                fail("dataplane: cannot allocate TX buffers");
            }
            rte_eth_tx_buffer_init(wp.tx, cfg_.burst > 64 ? 64 : cfg_.burst);
            w->port_ids[w->n_ports++] = pi.port_id;
        }
        workers_.push_back(w);
    }
}

void dataplane::setup_port(const port_config& pc) {
    const std::string name = device_name(pc.device);
    uint16_t port_id = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port_id) != 0) {
        // Not probed by EAL arguments: hot-plug it. Virtual devices are named after their
        // driver (net_af_packet0, net_ring0...); anything else goes to the bus probe (PCI).
        const bool vdev = name.rfind("net_", 0) == 0;
        const std::string args = name.size() < pc.device.size() ? pc.device.substr(name.size() + 1) : "";
        const int rc = vdev ? rte_vdev_init(name.c_str(), args.c_str()) : rte_dev_probe(pc.device.c_str());
        if (rc != 0 || rte_eth_dev_get_port_by_name(name.c_str(), &port_id) != 0) {
            fail("port." + pc.name + ".device: cannot probe '" + pc.device + "'");
        }
    }
    rte_eth_dev_info info{};
    if (rte_eth_dev_info_get(port_id, &info) != 0) {
        fail("port." + pc.name + ": rte_eth_dev_info_get");
    }
    const uint16_t queues = static_cast<uint16_t>(cfg_.workers);
    if (queues > info.max_rx_queues || queues > info.max_tx_queues) {
        throw std::runtime_error("port." + pc.name + ".device: " + std::to_string(queues) +
                                 " workers need as many RX/TX queues; the device has " +
                                 std::to_string(info.max_rx_queues) + " (af_packet: add qpairs=N)");
    }
    rte_eth_conf conf{};
    if (queues > 1 && info.flow_type_rss_offloads != 0) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
    }
    // Checksum offload where the device has it: the relay then writes the pseudo-header sum and
    // flags instead of summing in software (worker.tx_cksum_offload, set when every port has it).
    constexpr uint64_t cksum_offloads = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    const bool cksum_offload = (info.tx_offload_capa & cksum_offloads) == cksum_offloads;
    if (cksum_offload) {
        conf.txmode.offloads |= cksum_offloads;
    }
    // SIP frames are a header mbuf chained to a clone of the message: ask for chained TX where
    // the device has it (vector TX paths of some PMDs ignore chains unless asked); elsewhere the
    // transport makes frames contiguous (counted as linearized).
    const bool multi_seg = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
    if (multi_seg) {
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    }
    if (rte_eth_dev_configure(port_id, queues, queues, &conf) != 0) {
        fail("port." + pc.name + ": rte_eth_dev_configure");
    }
    uint16_t rxd = pc.rx_descriptors, txd = pc.tx_descriptors;
    rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rxd, &txd);
    const int socket = rte_eth_dev_socket_id(port_id) < 0 ? 0 : rte_eth_dev_socket_id(port_id);
    for (uint16_t q = 0; q < queues; ++q) {
        if (rte_eth_rx_queue_setup(port_id, q, rxd, socket, nullptr, pool_) != 0 ||
            rte_eth_tx_queue_setup(port_id, q, txd, socket, nullptr) != 0) {
            fail("port." + pc.name + ": queue setup");
        }
    }
    if (rte_eth_dev_start(port_id) != 0) {
        fail("port." + pc.name + ": rte_eth_dev_start");
    }
    port_info pi;
    pi.name = pc.name;
    pi.port_id = port_id;
    pi.addr = pc.addr;
    pi.prefix = pc.prefix;
    pi.gateway = pc.gateway;
    pi.tx_cksum_offload = cksum_offload;
    pi.tx_multi_seg = multi_seg;
    pi.media_first = pc.media_first;
    pi.media_count = pc.media_count;
    rte_eth_macaddr_get(port_id, &pi.mac);
    uint16_t mtu = 1500;
    if (rte_eth_dev_get_mtu(port_id, &mtu) == 0 && mtu >= 576) {
        pi.mtu = mtu;
    }
    if (const std::string iface = af_packet_iface(pc.device); !iface.empty()) {
        pi.kernel_drops = std::make_shared<packet_socket_drops>(iface);
    }
    ports_.push_back(pi);
}

dataplane::~dataplane() {
    stop();
    for (auto& p : ports_) {
        rte_eth_dev_stop(p.port_id);
        rte_eth_dev_close(p.port_id);
    }
    set_unmap_grace(nullptr);
    relay_.reset();
    for (worker* w : workers_) {
        rte_mbuf* m = nullptr;
        while (rte_ring_dequeue(w->sip_in, reinterpret_cast<void**>(&m)) == 0) {
            rte_pktmbuf_free(m);
        }
        while (w->frames_out != nullptr && rte_ring_dequeue(w->frames_out, reinterpret_cast<void**>(&m)) == 0) {
            rte_pktmbuf_free(m);
        }
        rte_ip_frag_table_destroy(w->frag_tbl);
        rte_ring_free(w->sip_in);
        rte_ring_free(w->neighbours);
        rte_ring_free(w->rtcp_out);
        rte_ring_free(w->frames_out);
        for (unsigned i = 0; i < w->n_ports; ++i) {
            rte_free(w->ports[w->port_ids[i]].tx);
        }
        w->~worker();
        rte_free(w);
    }
    rte_mempool_free(pool_);
    rte_mempool_free(sip_pool_);
    rte_mempool_free(clone_pool_);
    rte_eal_cleanup();
}

namespace {

// Runs on a worker lcore before its loop: the thread's scheduling class is its own to set.
int set_lcore_scheduling(void* arg) {
    return apply_to_this_thread(*static_cast<const worker_scheduling*>(arg));
}

}  // namespace

void dataplane::start() {
    // Worker i runs on the i-th worker lcore.
    unsigned i = 0;
    unsigned lcore = 0;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        if (i == workers_.size()) {
            break;
        }
        workers_[i++]->lcore = lcore;
    }
    // Every worker's class is set before any worker runs: a refusal leaves nothing launched.
    if (cfg_.scheduling.policy != scheduling_policy::normal) {
        for (worker* w : workers_) {
            worker_scheduling s = cfg_.scheduling;
            if (rte_eal_remote_launch(set_lcore_scheduling, &s, w->lcore) != 0) {
                throw std::runtime_error("dataplane: cannot launch on lcore " + std::to_string(w->lcore));
            }
            if (const int err = rte_eal_wait_lcore(w->lcore); err != 0) {
                throw std::runtime_error("dataplane.worker_scheduling: cannot make lcore " + std::to_string(w->lcore) +
                                         "'s thread " + to_string(s) + ": " + std::strerror(err) +
                                         (err == EPERM ? " (needs root or CAP_SYS_NICE)" : ""));
            }
        }
    }
    for (worker* w : workers_) {
        if (rte_eal_remote_launch(worker_main, w, w->lcore) != 0) {
            throw std::runtime_error("dataplane: cannot launch worker on lcore " + std::to_string(w->lcore));
        }
    }
    started_ = true;
}

void dataplane::stop() {
    if (!started_) {
        return;
    }
    stop_.store(true);
    rte_eal_mp_wait_lcore();
    started_ = false;
}

unsigned dataplane::poll_sip(rte_mbuf** out, unsigned max) {
    unsigned got = 0;
    // Round-robin start so one busy worker cannot starve the others' SIP.
    for (unsigned k = 0; k < workers_.size() && got < max; ++k) {
        worker* w = workers_[(next_sip_ring_ + k) % workers_.size()];
        got += rte_ring_sc_dequeue_burst(w->sip_in, reinterpret_cast<void**>(out + got), max - got, nullptr);
    }
    next_sip_ring_ = (next_sip_ring_ + 1) % workers_.size();
    return got;
}

namespace {

// Up to `max` elements of type T from one element ring of every worker, in worker order.
template <typename T>
unsigned dequeue_from_workers(const std::vector<worker*>& workers, rte_ring* worker::*ring, T* out, unsigned max) {
    unsigned got = 0;
    for (worker* w : workers) {
        got += rte_ring_sc_dequeue_burst_elem(w->*ring, out + got, sizeof(T), max - got, nullptr);
        if (got == max) {
            break;
        }
    }
    return got;
}

}  // namespace

unsigned dataplane::poll_neighbours(neighbour_event* out, unsigned max) {
    return dequeue_from_workers(workers_, &worker::neighbours, out, max);
}

unsigned dataplane::poll_rtcp(rtcp_event* out, unsigned max) {
    return dequeue_from_workers(workers_, &worker::rtcp_out, out, max);
}

bool dataplane::send_frame(rte_mbuf* m) {
    meta_of(m)->kind = meta_kind::frame_out;
    return rte_ring_sp_enqueue(workers_[0]->frames_out, m) == 0;
}

unsigned dataplane::frames_out_capacity() const {
    return rte_ring_get_capacity(workers_[0]->frames_out);
}

rte_mbuf* dataplane::alloc_mbuf() {
    return rte_pktmbuf_alloc(pool_);
}

int dataplane::route(uint32_t addr) const {
    for (unsigned i = 0; i < ports_.size(); ++i) {
        if (ports_[i].on_link(addr)) {
            return static_cast<int>(i);
        }
    }
    for (unsigned i = 0; i < ports_.size(); ++i) {
        if (ports_[i].gateway != 0) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

stats_snapshot dataplane::stats() const {
    stats_snapshot s;
    s.ports.resize(ports_.size());
    for (unsigned p = 0; p < ports_.size(); ++p) {
        s.ports[p].name = ports_[p].name;
        rte_eth_stats es{};
        if (rte_eth_stats_get(ports_[p].port_id, &es) == 0) {
            s.ports[p].nic_ipackets = es.ipackets;
            s.ports[p].nic_opackets = es.opackets;
            s.ports[p].nic_imissed = es.imissed;
            if (ports_[p].kernel_drops) {
                s.ports[p].nic_imissed += ports_[p].kernel_drops->total();  // 0 from net_af_packet itself
            }
            s.ports[p].nic_ierrors = es.ierrors;
            s.ports[p].nic_oerrors = es.oerrors;
        }
    }
    for (const worker* w : workers_) {
        const worker_stats& ws = w->stats;
        for (unsigned p = 0; p < ports_.size(); ++p) {
            s.ports[p].rx_packets += ws.rx_packets[p].load(std::memory_order_relaxed);
            s.ports[p].tx_packets += ws.tx_packets[p].load(std::memory_order_relaxed);
        }
        for (unsigned r = 0; r < s.drops.size(); ++r) {
            s.drops[r] += ws.drops[r].load(std::memory_order_relaxed);
        }
        s.relayed += ws.relayed.load(std::memory_order_relaxed);
        s.sip_in += ws.sip_in.load(std::memory_order_relaxed);
        s.sip_out += ws.sip_out.load(std::memory_order_relaxed);
        s.arp_replies += ws.arp_replies.load(std::memory_order_relaxed);
        s.arp_absorbed += ws.arp_absorbed.load(std::memory_order_relaxed);
        s.icmp_replies += ws.icmp_replies.load(std::memory_order_relaxed);
        s.idle_sleeps += ws.idle_sleeps.load(std::memory_order_relaxed);
        s.fragments_in += ws.fragments_in.load(std::memory_order_relaxed);
        s.reassembled += ws.reassembled.load(std::memory_order_relaxed);
        s.sip_sources += ws.sip_sources.load(std::memory_order_relaxed);
        s.rtcp_reports += ws.rtcp_reports.load(std::memory_order_relaxed);
        s.rtcp_reports_lost += ws.rtcp_reports_lost.load(std::memory_order_relaxed);
        worker_load_snapshot load{w->id, w->lcore, ws.loop_cycles.load(std::memory_order_relaxed),
                                  ws.busy_cycles.load(std::memory_order_relaxed),
                                  ws.busy_polls.load(std::memory_order_relaxed),
                                  ws.handling_cycles.load(std::memory_order_relaxed), 0};
        for (unsigned p = 0; p < ports_.size(); ++p) {
            load.rx_packets += ws.rx_packets[p].load(std::memory_order_relaxed);
        }
        s.workers.push_back(load);
    }
    s.tsc_hz = rte_get_tsc_hz();
    s.relay_entries = relay_->size();
    return s;
}

}  // namespace sf::dp
