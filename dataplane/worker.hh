#pragma once
/// @file
/// One worker lcore's state and its poll loop.

#include <atomic>
#include <cstdint>
#include <memory>

#include <rte_ethdev.h>
#include <rte_ip_frag.h>

#include "relay.hh"
#include "relay_table.hh"
#include "sip_limiter.hh"
#include "stats.hh"

struct rte_ring;
struct rte_mempool;

namespace sf::dp {

struct port_info;

/// What a worker needs to know about one port, indexed by DPDK port id.
struct worker_port {
    bool used = false;
    uint8_t index = 0;      ///< position in the dataplane's port list (for stats)
    uint32_t addr = 0;      ///< host order
    uint32_t media_first = 0;  ///< more relay addresses: [media_first, media_first + media_count)
    uint32_t media_count = 0;
    rte_ether_addr mac{};
    uint16_t mtu = 1500;    ///< the largest IPv4 packet the port sends (echo replies beyond it are not sent)
    rte_eth_dev_tx_buffer* tx = nullptr;  ///< this worker's buffered TX for the port

    /// The port's own address or one of its media addresses (one subtraction, no loop).
    bool owns(uint32_t a) const { return a == addr || a - media_first < media_count; }
};

/// Owned by one lcore; the control thread only reads `stats` and uses the rings' other ends.
struct alignas(64) worker {
    unsigned id = 0;          ///< 0..workers-1, also its RCU reader id and queue id
    unsigned lcore = 0;
    uint16_t queue = 0;
    unsigned burst = 32;
    unsigned idle_polls = 64;
    unsigned idle_sleep_us = 0;
    uint16_t sip_port = 5060;
    uint16_t relay_min = 0, relay_max = 0;
    uint16_t port_ids[worker_stats::max_ports] = {};
    unsigned n_ports = 0;
    worker_port ports[RTE_MAX_ETHPORTS];

    relay_table* relay = nullptr;
    bool tx_cksum_offload = false;   ///< every port computes IPv4/UDP checksums on TX (relay_burst)
    rte_ring* sip_in = nullptr;      ///< worker -> control, mbufs
    rte_ring* neighbours = nullptr;  ///< worker -> control, neighbour_event elements
    rte_ring* frames_out = nullptr;  ///< control -> worker, mbufs (worker 0 only)
    rte_ring* rtcp_out = nullptr;    ///< worker -> control, rtcp_event elements; nullptr: RTCP not read
    rtcp_batch rtcp;                 ///< the RTCP reports of the burst being relayed
    const std::atomic<bool>* stop = nullptr;
    rte_ip_frag_tbl* frag_tbl = nullptr;  ///< IPv4 reassembly (SIP only); nullptr: fragments dropped
    rte_ip_frag_death_row death_row{};
    /// Per-source SIP rate limit before the control ring; nullptr: unlimited. RTP never touches it.
    std::unique_ptr<sip_limiter> sip_limit;

    worker_stats stats;
    /// The driver's TX of buffers that filled during the burst being handled (scratch of the
    /// loop: kept out of stats.handling_cycles).
    uint64_t tx_cycles_in_handling = 0;
};

/// The lcore entry point (rte_eal_remote_launch); `arg` is a worker*.
int worker_main(void* arg);

/// Handles one received burst from `port_id` (exposed for tests and benchmarks). `now_tsc`
/// is the clock of the burst: reassembly timeouts, relay last-seen and SIP token refill.
void worker_handle_burst(worker& w, uint16_t port_id, rte_mbuf** pkts, unsigned n, uint64_t now_tsc);

}  // namespace sf::dp
