#pragma once
/// @file
/// Header-level helpers shared by the worker loop (relay rewrite, ARP/ICMP answers)
/// and the control thread (building SIP frames): checksums and frame construction.

#include <cstdint>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

namespace sf::dp {

constexpr uint16_t l2_l3_l4_len = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);

/// Addresses of one UDP datagram (host byte order) and its link-layer hop.
struct udp_route {
    rte_ether_addr src_mac;
    rte_ether_addr dst_mac;
    uint32_t src_addr;
    uint32_t dst_addr;
    uint16_t src_port;
    uint16_t dst_port;
};

/// Prepends Ethernet/IPv4/UDP headers (DF set, TTL 64, both checksums computed
/// in software) to an mbuf (chain) that holds only the UDP payload. The payload may
/// span segments (a header mbuf chained in front of a SIP message). False if no headroom.
bool prepend_udp_headers(rte_mbuf* m, const udp_route& route);

/// Prepends IPv4/UDP headers without Ethernet and without DF (identification `ip_id`),
/// the UDP checksum over the whole chain: the input of rte_ipv4_fragment_packet.
bool prepend_ipv4_udp_headers(rte_mbuf* m, const udp_route& route, uint16_t ip_id);

/// Prepends the Ethernet header of `route` (IPv4 ethertype). False if no headroom.
bool prepend_ethernet(rte_mbuf* m, const udp_route& route);

/// The UDP checksum (RFC 768, 0 sent as 0xffff) of the datagram at `l4_off` in chain `m`,
/// whose IPv4 header is `ip`; the datagram may span segments.
uint16_t udp_checksum(const rte_mbuf* m, uint32_t l4_off, const rte_ipv4_hdr* ip);

/// Folds a 32-bit one's-complement sum to 16 bits.
inline uint16_t csum_fold(uint32_t sum) {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

/// RFC 1624 incremental update of a checksum field (network order) when the
/// 32-bit word `old_word` of the covered data becomes `new_word`.
inline uint16_t csum_replace4(uint16_t check, uint32_t old_word, uint32_t new_word) {
    uint32_t sum = static_cast<uint16_t>(~check);
    sum += static_cast<uint16_t>(~old_word) + static_cast<uint16_t>(~(old_word >> 16));
    sum += (new_word & 0xffff) + (new_word >> 16);
    return static_cast<uint16_t>(~csum_fold(sum));
}

/// Same for a 16-bit word.
inline uint16_t csum_replace2(uint16_t check, uint16_t old_word, uint16_t new_word) {
    uint32_t sum = static_cast<uint16_t>(~check);
    sum += static_cast<uint16_t>(~old_word);
    sum += new_word;
    return static_cast<uint16_t>(~csum_fold(sum));
}

/// RFC 1624 update of a UDP checksum by `delta`, the ones' complement sum of every changed
/// 16-bit word's ~old and new (at most 0xfffe0000: it is added unfolded). A zero checksum
/// (IPv4: none) stays zero; a result of zero goes out as 0xffff (RFC 768).
inline void udp_checksum_add(rte_udp_hdr* udp, uint32_t delta) {
    if (udp->dgram_cksum != 0) {
        const auto c = static_cast<uint16_t>(~csum_fold(static_cast<uint16_t>(~udp->dgram_cksum) + delta));
        udp->dgram_cksum = c == 0 ? 0xffff : c;
    }
}

/// Turns an ARP request for `our_addr` (host order) into the reply, in place.
void make_arp_reply(rte_ether_hdr* eth, rte_arp_hdr* arp, const rte_ether_addr& our_mac);

/// Fills `m` with an ARP request (or a gratuitous ARP when target == sender).
bool build_arp_request(rte_mbuf* m, const rte_ether_addr& our_mac, uint32_t our_addr, uint32_t target_addr);

/// Turns an ICMP echo request into the echo reply, in place: back to the sender's MAC from
/// `our_mac` (not from the request's destination MAC, which a broadcast or flooded frame does
/// not make ours), IPv4 addresses swapped, checksums recomputed.
void make_icmp_echo_reply(rte_ether_hdr* eth, rte_ipv4_hdr* ip, const rte_ether_addr& our_mac);

}  // namespace sf::dp
