#pragma once
/// @file
/// The RTP/RTCP relay step of the worker loop: table lookup, latching and
/// header rewrite for a burst of packets addressed to relay ports.

#include <cstdint>

#include <rte_mbuf.h>

#include "relay_table.hh"
#include "rings.hh"

namespace sf::dp {

constexpr uint16_t relay_drop = UINT16_MAX;

/// Per-burst outcome counts (the caller adds them to its per-lcore stats).
struct relay_burst_result {
    uint16_t relayed = 0;
    uint16_t miss = 0;        ///< no entry for the destination (addr, port)
    /// Entry without a peer, the peer without a remote or next hop yet, or (rarely) its
    /// departure being rewritten by a writer that held it for all of the reader's tries.
    uint16_t no_target = 0;
    /// RTCP reports read into the caller's batch (events[0..rtcp_reports)), when it gave one.
    uint16_t rtcp_reports = 0;
};

/// The RTCP reports a burst carried (relay_burst fills it, the worker stamps and hands them to
/// the control plane). Only SR and RR packets are read, on the path that already set them apart
/// from RTP. Nothing in it is touched per burst when no report came (relay_burst_result says how
/// many did): a per-burst store here cost the worker ~4 % per packet at 1M entries.
struct rtcp_batch {
    static constexpr unsigned max = 64;  ///< one burst: relay_burst reads at most 64 packets
    rtcp_event events[max];
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
///
/// With `rtcp`, each SR or RR (RFC 3550; muxed or on its own side) that arrives at a published
/// side is also read into `rtcp->events` (rtcp::read; all but `tsc`), whether or not it can be
/// relayed; the result's `rtcp_reports` counts them.
///
/// With `located`, located[i] is pkts[i]'s slot (relay_table::locate of its destination), its
/// line 0 already prefetched by the caller: the worker does both as it classifies the burst,
/// which both spares the second pass over the keys and gives the misses the rest of the
/// classification to overlap with. Without it, relay_burst locates the sides itself and
/// prefetches each a few packets ahead.
relay_burst_result relay_burst(const relay_table& table, rte_mbuf** pkts, unsigned n, uint16_t* egress,
                               bool tx_cksum_offload = false, rtcp_batch* rtcp = nullptr,
                               const media_side* const* located = nullptr);

}  // namespace sf::dp
