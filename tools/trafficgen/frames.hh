#pragma once
/// @file
/// The frames sfgen puts on the wire: G.711-like RTP probes carrying a stream id, a sequence
/// number and the send TSC, and ARP requests/replies.

#include <cstdint>
#include <optional>
#include <string>

#include <rte_ether.h>

struct rte_mbuf;

namespace sf::gen {

/// RTP payload bytes: 12-byte RTP header + 160 bytes (20 ms of G.711).
constexpr uint16_t rtp_len = 12 + 160;
constexpr uint32_t probe_magic = 0x53464731;  // "SFG1"

/// What a probe carries behind the RTP header (network byte order on the wire).
struct probe {
    uint32_t trial = 0;   ///< which trial sent it: late packets of an earlier trial are told apart
    uint32_t stream = 0;  ///< index into the stream list
    uint32_t seq = 0;     ///< per stream and trial, from 0
    uint64_t tsc = 0;     ///< rte_rdtsc() just before tx_burst (one process: one clock)
};

/// The largest UDP payload of --payload-file: one 1500-byte IPv4 packet, no fragments.
constexpr uint16_t max_payload_len = 1500 - 20 - 8;

/// Fixed part of one stream's frames, built once: Ethernet/IPv4/UDP/RTP headers, or with
/// build_payload_template the whole frame.
struct frame_template {
    alignas(64) uint8_t bytes[RTE_ETHER_HDR_LEN + 20 + 8 + max_payload_len];
    uint16_t len = 0;  ///< frame bytes in use
    /// Probe templates: the one's-complement sum (not folded) of the UDP pseudo-header and
    /// datagram with the per-packet fields zero; fill_probe adds those fields to it. The IPv4
    /// header, the same for every packet of a stream, carries its checksum already.
    uint32_t udp_partial_sum = 0;
};

/// Builds the template of a stream's frames (checksums are filled per packet).
void build_template(frame_template& t, const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac,
                    uint32_t src_ip, uint16_t src_port, uint32_t dst_ip, uint16_t dst_port, uint32_t ssrc);

/// A frame whose UDP payload is `payload` as given (--payload-file: e.g. a SIP request), both
/// checksums complete: sent as it is, with no probe (nothing to match at the receiver).
void build_payload_template(frame_template& t, const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac,
                            uint32_t src_ip, uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
                            const std::string& payload);

/// Copies a payload template into m. False when m has no room.
bool fill_copy(rte_mbuf* m, const frame_template& t);

/// Copies the template into m and stamps the RTP sequence/timestamp, the probe and both
/// checksums. False when m has no room.
bool fill_probe(rte_mbuf* m, const frame_template& t, const probe& p);

/// The probe in a received frame, or nullopt when it is not one of ours (IPv4/UDP with the magic).
std::optional<probe> read_probe(const rte_mbuf* m);

/// Fills m with an ARP frame. op: RTE_ARP_OP_REQUEST (target MAC zero, broadcast) or
/// RTE_ARP_OP_REPLY (to target_mac). A gratuitous ARP is a request with sender == target.
bool fill_arp(rte_mbuf* m, uint16_t op, const rte_ether_addr& sender_mac, uint32_t sender_ip,
              const rte_ether_addr& target_mac, uint32_t target_ip);

}  // namespace sf::gen
