#pragma once
/// @file
/// The RTP/RTCP relay step of the worker loop: table lookup, latching and
/// header rewrite for a burst of packets addressed to relay ports.

#include <cstdint>

#include <rte_mbuf.h>

#include "relay_table.hh"

namespace sf::dp {

constexpr uint16_t relay_drop = UINT16_MAX;

/// Per-burst outcome counts (the caller adds them to its per-lcore stats).
struct relay_burst_result {
    uint16_t relayed = 0;
    uint16_t miss = 0;        ///< no entry for the destination (addr, port)
    /// Entry without a peer, the peer without a remote or next hop yet, or (rarely) its
    /// departure being rewritten by a writer that held it for all of the reader's tries.
    uint16_t no_target = 0;
};

/// `pkts` are IPv4/UDP frames (headers in the first segment, already validated)
/// to the appliance's relay ports. Each is rewritten in place with the departure of the side
/// it arrived at (from the peer side's address to the peer's remote); egress[i] receives the DPDK port to
/// send it on, or relay_drop (the caller frees those).
///
/// Checksums: with `tx_cksum_offload` (every port computes IPv4/UDP checksums on TX) the IPv4
/// checksum is zeroed, the UDP one set to the pseudo-header sum and the mbuf flagged
/// (RTE_MBUF_F_TX_IPV4 | IP_CKSUM | UDP_CKSUM, l2_len, l3_len); otherwise both are fixed in
/// software, the UDP one incrementally (RFC 1624). A zero UDP checksum ("none") stays zero
/// either way. The choice is made once per burst, not per packet.
relay_burst_result relay_burst(const relay_table& table, rte_mbuf** pkts, unsigned n, uint16_t* egress,
                               bool tx_cksum_offload = false);

}  // namespace sf::dp
