#pragma once
/// @file
/// The typed messages that cross between worker lcores and the control thread.
///
/// Every ring is single-producer/single-consumer. A ring that carries mbufs moves
/// their ownership with the message: whoever dequeues an mbuf frees or sends it.
/// Per-packet metadata travels in the mbuf's private area (`packet_meta`), so the
/// receiver never parses Ethernet/IP/UDP again.

#include <cstdint>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "sip/rtcp.hh"

namespace sf::dp {

/// What a ring message (an mbuf) is.
enum class meta_kind : uint8_t {
    sip_in = 1,   ///< worker -> control: a SIP datagram; payload at payload_off/payload_len
    frame_out,    ///< control -> worker: a complete Ethernet frame to send on `port_id`
};

/// Lives in the mbuf private area (mempool priv_size); written by whoever enqueues.
struct packet_meta {
    meta_kind kind;
    uint16_t port_id;       ///< ingress port (sip_in) or egress port (frame_out)
    uint32_t src_addr;      ///< IPv4, host byte order (sip_in)
    uint32_t dst_addr;      ///< IPv4, host byte order (sip_in)
    uint16_t src_port;      ///< UDP, host byte order (sip_in)
    uint16_t dst_port;      ///< UDP, host byte order (sip_in)
    uint16_t payload_off;   ///< offset of the UDP payload from the mbuf data start
    uint16_t payload_len;   ///< UDP payload length
    rte_ether_addr src_mac; ///< sender's MAC (sip_in): the next hop back to it
};

constexpr uint16_t packet_meta_priv_size = (sizeof(packet_meta) + RTE_MBUF_PRIV_ALIGN - 1) &
                                           ~(uint16_t)(RTE_MBUF_PRIV_ALIGN - 1);

inline packet_meta* meta_of(rte_mbuf* m) {
    return static_cast<packet_meta*>(rte_mbuf_to_priv(m));
}

/// worker -> control: a neighbour seen in an ARP request or reply (fixed-size ring element).
struct neighbour_event {
    uint32_t addr;          ///< IPv4, host byte order
    uint16_t port_id;
    uint8_t mac[RTE_ETHER_ADDR_LEN];
};
static_assert(sizeof(neighbour_event) % 4 == 0, "rte_ring elements are multiples of 4 bytes");

/// worker -> control: an RTCP SR or RR that arrived at a relay side (fixed-size ring element).
/// The packet itself is relayed as it came; this is what the control plane measures a call's
/// quality by (media_anchor::note_rtcp). A full ring drops the event, never the packet.
struct rtcp_event {
    uint64_t tsc = 0;   ///< when the burst that carried it arrived (rte_rdtsc)
    uint32_t addr = 0;  ///< the side's relay address, host byte order
    uint16_t port = 0;  ///< the side's relay port, host byte order
    uint16_t reserved = 0;
    rtcp::report report;
};
static_assert(sizeof(rtcp_event) % 4 == 0, "rte_ring elements are multiples of 4 bytes");

}  // namespace sf::dp
