#pragma once
/// @file
/// sfgen's command line (everything after EAL's arguments and `--`).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <rte_ether.h>

namespace sf::gen {

/// How sfgen was asked to run. Addresses and ports in host byte order.
struct options {
    bool ring_cable = false;       ///< two in-process net_ring ports cabled to each other (tests)
    uint16_t tx_port = 0;          ///< ethdev the streams leave on
    uint16_t rx_port = 1;          ///< ethdev the sink receives on
    std::vector<uint32_t> tx_ips;  ///< our addresses on the TX port (answered in ARP)
    std::vector<uint32_t> rx_ips;  ///< our addresses on the RX port (the sink; answered in ARP)
    uint32_t gateway = 0;          ///< next hop of every destination (0: the destination itself)
    std::optional<rte_ether_addr> dst_mac;  ///< skip ARP: every stream goes to this MAC
    std::string streams_file;      ///< lines "SRC_IP:PORT DST_IP:PORT"
    std::string range;             ///< "N,SRC_IP:PORT,DST_IP:PORT": ports step by 2
    /// Every frame's UDP payload is this file's bytes (e.g. a SIP request for a flood) instead
    /// of an RTP probe: nothing is matched at the receiver, only what was sent counts.
    std::string payload_file;
    /// A flood mixed into every measured trial (not the warm-up): frames whose UDP payload is
    /// this file's bytes, from the --flood-streams sources, paced at flood_pps beside the probes
    /// on the TX port (a SIP flood on the same queue as the RTP it must not delay).
    std::string flood_file;
    std::string flood_streams;     ///< its sources and destinations: lines as --streams
    double flood_pps = 0;
    double rate_pps = 0;           ///< total packets/s (0: 50 per stream)
    double duration_s = 5;         ///< sending time of one trial
    double drain_s = 0.5;          ///< receive time after the last packet of a trial
    double warmup_s = 1;           ///< priming traffic (ARP, latching) before the first trial, not counted
    double arp_timeout_s = 5;
    double deadline_s = 600;       ///< hard bound of the whole run (SIGALRM backstop beyond it)
    bool garp_only = false;        ///< announce our addresses (gratuitous ARP) and exit
    bool per_stream = false;       ///< per-stream figures in the report
    // Search mode (RFC 2544-style): binary search for the highest rate with loss <= tolerance.
    bool search = false;
    double search_min_pps = 100;
    double search_max_pps = 1e6;
    unsigned search_trials = 16;
    double pause_s = 1;              ///< quiet time between search trials (the relay recovers)
    double search_precision = 0.02;  ///< stop when (hi - lo) / hi falls below this
    double loss_tolerance = 0;       ///< fraction of packets a passing trial may lose
    bool latency_at_half = false;    ///< after the search: one trial at half the found rate
    unsigned burst = 32;
    unsigned idle_sleep_us = 0;  ///< sleep when idle (a shared box); 0: pure polling
};

/// Parses argv (sfgen's own arguments). Throws std::runtime_error with a usage hint.
options parse_options(int argc, char** argv);

/// "203.0.113.5" -> host order; nullopt when not a dotted quad.
std::optional<uint32_t> parse_ipv4(const std::string& s);
std::string ipv4_text(uint32_t addr);

}  // namespace sf::gen
