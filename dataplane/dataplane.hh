#pragma once
/// @file
/// The dataplane as the control thread sees it: EAL and ports brought up from
/// config, worker lcores launched, and the rings and relay table the control
/// thread uses to talk to them. Nothing here knows about SIP calls.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_ether.h>

#include "packet_socket_drops.hh"
#include "relay_table.hh"
#include "rings.hh"
#include "stats.hh"
#include "worker_scheduling.hh"

struct rte_mempool;
struct rte_ring;
struct rte_mbuf;

namespace sf::dp {

struct port_config {
    std::string name;      ///< operator's name ("acc", "core"): logs, stats, realms
    std::string device;    ///< DPDK device: vdev spec ("net_af_packet0,iface=acc") or PCI address
    uint32_t addr = 0;     ///< host byte order
    uint8_t prefix = 24;
    uint32_t gateway = 0;  ///< 0 = none
    /// More addresses for relayed media on this port: [media_first, media_first + media_count)
    /// (host order; 0 = none). A port's relay ports bound its calls per address (25k calls for
    /// 16384..65535), so a large box spreads its relay entries over a range of addresses.
    uint32_t media_first = 0;
    uint32_t media_count = 0;
    /// Descriptors of each RX and TX queue (a power of two; the driver may adjust them to its
    /// limits). Deeper RX rings absorb longer bursts: an af_xdp port's socket ring is this deep,
    /// and a frame the kernel cannot put in it is lost before the worker sees it.
    uint16_t rx_descriptors = 1024;
    uint16_t tx_descriptors = 1024;
};

struct dataplane_config {
    std::vector<std::string> eal_args;
    std::vector<port_config> ports;
    unsigned workers = 1;
    unsigned burst = 32;
    unsigned idle_polls = 64;
    unsigned idle_sleep_us = 0;
    worker_scheduling scheduling;  ///< the worker lcores' threads' OS scheduling class
    unsigned mbufs = 8191;
    unsigned mbuf_data_room = 2048;  ///< bytes of packet an mbuf holds (RX is single-segment)
    unsigned sip_mbufs = 16383;      ///< segments of the control thread's SIP message pool
    unsigned sip_mbuf_data_room = 2048;  ///< bytes of SIP text a message segment holds (more: chained)
    uint16_t sip_port = 5060;
    uint16_t relay_port_min = 20000;
    uint16_t relay_port_max = 29999;
    uint32_t relay_capacity = 65536;
    uint32_t sip_rate_per_source = 200;    ///< SIP messages/s per source IPv4 per worker; 0 = unlimited
    uint32_t sip_burst_per_source = 400;   ///< messages a quiet source may send at once
    uint32_t sip_sources_tracked = 65536;  ///< per worker; beyond, CLOCK replaces a source
};

/// A started port.
struct port_info {
    std::string name;
    uint16_t port_id = 0;
    rte_ether_addr mac{};
    uint32_t addr = 0;
    uint8_t prefix = 24;
    uint32_t gateway = 0;
    uint16_t mtu = 1500;
    bool tx_cksum_offload = false;  ///< the device computes IPv4 and UDP checksums on TX (enabled)
    bool tx_multi_seg = false;      ///< the device sends chained mbufs (RTE_ETH_TX_OFFLOAD_MULTI_SEGS, enabled)
    uint32_t media_first = 0;       ///< see port_config
    uint32_t media_count = 0;
    /// net_af_packet only: the kernel's RX ring drops, which the driver does not report
    /// (added to nic_imissed by stats()).
    std::shared_ptr<packet_socket_drops> kernel_drops;

    bool on_link(uint32_t a) const {
        const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
        return (a & mask) == (addr & mask);
    }
};

struct worker;

class dataplane {
public:
    /// Initialises EAL, the mbuf pool, every port, the rings and the relay table.
    /// Throws std::runtime_error naming what failed.
    explicit dataplane(const dataplane_config& cfg);
    ~dataplane();
    dataplane(const dataplane&) = delete;
    dataplane& operator=(const dataplane&) = delete;

    /// Puts the worker lcores' threads in the configured scheduling class, then launches the
    /// workers. Call from the main lcore. Throws std::runtime_error (nothing launched) when the
    /// class cannot be set.
    void start();
    /// Stops the workers and waits for them.
    void stop();

    // --- control thread API ---
    /// Dequeues SIP datagrams from every worker (ownership passes to the caller).
    unsigned poll_sip(rte_mbuf** out, unsigned max);
    /// Dequeues neighbour events seen by workers.
    unsigned poll_neighbours(neighbour_event* out, unsigned max);
    /// Dequeues the RTCP reports workers read (call quality; media_anchor::note_rtcp).
    unsigned poll_rtcp(rtcp_event* out, unsigned max);
    /// Hands a complete Ethernet frame (meta_of(m)->port_id set) to a worker to send.
    /// Ownership passes on success; false (caller frees) if the ring is full.
    bool send_frame(rte_mbuf* m);
    /// Frames send_frame() can have queued before a worker takes them: what a worker that is off
    /// its CPU for a moment can leave in flight (each holds its message's mbufs until sent).
    unsigned frames_out_capacity() const;
    /// A fresh mbuf from the pool (nullptr when exhausted).
    rte_mbuf* alloc_mbuf();
    /// The packet pool (frame headers, ARP, fragments' headers).
    rte_mempool* packet_pool() const { return pool_; }
    /// The pool the control thread builds SIP messages in (packet_meta private area, so a
    /// message can lead its own frame).
    rte_mempool* sip_message_pool() const { return sip_pool_; }
    /// Indirect mbufs (no data room): clones of SIP messages behind a header mbuf, and
    /// the data segments of IP fragments.
    rte_mempool* clone_pool() const { return clone_pool_; }

    relay_table& relay() { return *relay_; }
    const std::vector<port_info>& ports() const { return ports_; }
    /// The port (index into ports()) whose prefix holds `addr`, else one with a gateway, else -1.
    int route(uint32_t addr) const;
    const dataplane_config& config() const { return cfg_; }

    /// Sums of every worker's counters, and per-port NIC counters (for net_af_packet ports
    /// nic_imissed is the kernel's RX ring drops). Control thread only: reading those resets
    /// the kernel's count, which packet_socket_drops keeps the running total of.
    stats_snapshot stats() const;

private:
    void setup_port(const port_config& pc);

    dataplane_config cfg_;
    rte_mempool* pool_ = nullptr;
    rte_mempool* sip_pool_ = nullptr;
    rte_mempool* clone_pool_ = nullptr;
    std::vector<port_info> ports_;
    std::unique_ptr<relay_table> relay_;
    std::vector<worker*> workers_;
    std::atomic<bool> stop_{false};
    bool started_ = false;
    unsigned next_sip_ring_ = 0;
};

}  // namespace sf::dp
