#pragma once
/// @file
/// Per-lcore counters and the drop reasons every worker counts by.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace sf::dp {

/// Why a worker dropped a packet. Never logged per packet: counted.
enum class drop_reason : uint8_t {
    ethertype = 0,    ///< neither IPv4 nor ARP (IPv6, VLAN, LLDP...)
    arp_other,        ///< ARP not for us / malformed
    not_for_us,       ///< IPv4 to an address that is not the port's
    ip_malformed,     ///< bad version, header or total length
    ip_fragment,      ///< a fragment that cannot be reassembled, or a reassembled datagram that is not SIP
    ip_proto,         ///< neither UDP nor ICMP
    icmp_other,       ///< ICMP other than echo request, or one whose reply would not fit the port MTU
    udp_malformed,    ///< UDP length inconsistent with the IP packet
    udp_port,         ///< UDP to a port that is neither SIP nor in the relay range
    relay_miss,       ///< relay port without a relay entry
    relay_no_target,  ///< relay entry whose peer has no remote yet
    sip_ring_full,    ///< the control thread is behind
    multi_segment,    ///< chained mbuf on receive
    tx_failed,        ///< the NIC TX queue refused the packet
    sip_rate_limited, ///< SIP from a source over dataplane.sip_rate_per_source (a datagram, not a fragment)
    count_,
};

const char* to_string(drop_reason r);

/// Counters of one worker, cache-line aligned and written only by that worker;
/// readers (the control thread) use relaxed loads.
struct alignas(64) worker_stats {
    static constexpr unsigned max_ports = 8;
    std::atomic<uint64_t> rx_packets[max_ports] = {};
    std::atomic<uint64_t> tx_packets[max_ports] = {};
    std::atomic<uint64_t> drops[static_cast<unsigned>(drop_reason::count_)] = {};
    std::atomic<uint64_t> relayed{0};
    std::atomic<uint64_t> sip_in{0};
    std::atomic<uint64_t> sip_out{0};
    std::atomic<uint64_t> arp_replies{0};
    std::atomic<uint64_t> arp_absorbed{0};   ///< ARP replies and gratuitous ARPs taken in (nothing to answer)
    std::atomic<uint64_t> icmp_replies{0};
    std::atomic<uint64_t> idle_sleeps{0};
    std::atomic<uint64_t> fragments_in{0};   ///< IPv4 fragments handed to reassembly
    std::atomic<uint64_t> reassembled{0};    ///< datagrams made whole again
    std::atomic<uint64_t> sip_sources{0};    ///< gauge: SIP sources the rate limiter tracks
    std::atomic<uint64_t> rtcp_reports{0};   ///< RTCP SR/RR reports handed to the control plane
    std::atomic<uint64_t> rtcp_reports_lost{0};  ///< ... not handed over: the ring was full (the packets were relayed)
    // Where the poll loop's time goes (charge_iteration): a polling core is 100% busy to top at
    // any load, so these are the only measure of its load and of its cost per packet.
    std::atomic<uint64_t> loop_cycles{0};  ///< TSC cycles of every loop iteration since the start
    std::atomic<uint64_t> busy_cycles{0};  ///< ... of the iterations that received or sent something
    std::atomic<uint64_t> busy_polls{0};   ///< those iterations (received, or flushed buffered TX)
    /// ... of those, the cycles spent handling the received bursts: classification, the relay
    /// table, rewrite, counters, hand-offs to the control plane (worker_handle_burst), without
    /// the driver's TX of a buffer that filled meanwhile. busy - handling: the driver's RX and
    /// TX and the loop, what io forwarding would cost on the same ports.
    std::atomic<uint64_t> handling_cycles{0};
};

/// Single-writer increment: no locked instruction on the fast path.
inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

/// Charges one poll-loop iteration of `cycles` TSC cycles: to the loop, and to its busy part
/// when the iteration received a packet or sent one it had buffered (the whole iteration then:
/// its burst's relay, TX flush and quiescent report). An idle iteration's sleep stays idle
/// time. One call per iteration, never per packet.
inline void charge_iteration(worker_stats& s, uint64_t cycles, bool busy) {
    bump(s.loop_cycles, cycles);
    if (busy) {
        bump(s.busy_cycles, cycles);
        bump(s.busy_polls);
    }
}

struct port_stats_snapshot {
    std::string name;
    uint64_t rx_packets = 0, tx_packets = 0;          ///< seen by workers
    uint64_t nic_ipackets = 0, nic_opackets = 0, nic_imissed = 0, nic_ierrors = 0, nic_oerrors = 0;
};

/// One worker's load counters (worker_stats) and what it received.
struct worker_load_snapshot {
    unsigned id = 0, lcore = 0;
    uint64_t loop_cycles = 0, busy_cycles = 0, busy_polls = 0, handling_cycles = 0;
    uint64_t rx_packets = 0;  ///< on every port
};

struct stats_snapshot {
    std::vector<port_stats_snapshot> ports;
    std::vector<worker_load_snapshot> workers;  ///< by worker id
    uint64_t tsc_hz = 0;                        ///< the workers' cycle counters' clock
    std::array<uint64_t, static_cast<unsigned>(drop_reason::count_)> drops{};
    uint64_t relayed = 0, sip_in = 0, sip_out = 0, arp_replies = 0, arp_absorbed = 0, icmp_replies = 0, idle_sleeps = 0;
    uint64_t fragments_in = 0, reassembled = 0;
    uint64_t sip_sources = 0;  ///< SIP sources tracked by the rate limiters (sum over workers)
    uint64_t rtcp_reports = 0, rtcp_reports_lost = 0;
    uint32_t relay_entries = 0;
};

}  // namespace sf::dp
