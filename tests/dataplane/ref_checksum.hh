#pragma once
/// @file
/// Reference Internet checksums for the dataplane's tests and fuzz target, written from the
/// RFCs (1071, 768) on purpose rather than with the dataplane's own helpers, so that the code
/// under test is never checked against itself. Needs only DPDK's header structs.

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sf::dp::test {

/// RFC 1071 one's complement sum of `len` bytes as they lie in memory, folded to
/// 16 bits. Byte-order independent (RFC 1071 section 2B), so it works on
/// network-order data loaded as native words.
inline uint32_t ref_sum(const void* data, size_t len, uint32_t sum = 0) {
    const auto* p = static_cast<const uint8_t*>(data);
    uint64_t s = sum;
    for (; len >= 2; p += 2, len -= 2) {
        uint16_t w;
        std::memcpy(&w, p, 2);
        s += w;
    }
    if (len == 1) {
        uint16_t w = 0;
        std::memcpy(&w, p, 1);  // the odd byte is padded with a zero byte after it
        s += w;
    }
    while (s >> 16) {
        s = (s & 0xffff) + (s >> 16);
    }
    return static_cast<uint32_t>(s);
}

/// True when the IPv4 header checksum verifies (the sum over the header is all ones).
inline bool ref_ipv4_ok(const rte_ipv4_hdr* ip) {
    return ref_sum(ip, rte_ipv4_hdr_len(ip)) == 0xffff;
}

/// The pseudo-header sum for UDP over IPv4 (RFC 768).
inline uint32_t ref_pseudo_sum(const rte_ipv4_hdr* ip, uint16_t l4_len) {
    uint8_t ph[12];
    std::memcpy(ph, &ip->src_addr, 4);
    std::memcpy(ph + 4, &ip->dst_addr, 4);
    ph[8] = 0;
    ph[9] = ip->next_proto_id;
    const uint16_t be_len = rte_cpu_to_be_16(l4_len);
    std::memcpy(ph + 10, &be_len, 2);
    return ref_sum(ph, sizeof(ph));
}

/// True when the UDP checksum verifies over pseudo-header + UDP header + payload
/// (the length is the UDP length field). A zero checksum (none) is not "ok" here:
/// callers check for it explicitly.
inline bool ref_udp_ok(const rte_ipv4_hdr* ip, const rte_udp_hdr* udp) {
    const uint16_t l4_len = rte_be_to_cpu_16(udp->dgram_len);
    return udp->dgram_cksum != 0 && ref_sum(udp, l4_len, ref_pseudo_sum(ip, l4_len)) == 0xffff;
}

/// The UDP checksum field value for a datagram whose checksum field is zero now.
inline uint16_t ref_udp_cksum(const rte_ipv4_hdr* ip, const rte_udp_hdr* udp) {
    const uint16_t l4_len = rte_be_to_cpu_16(udp->dgram_len);
    const uint16_t c = static_cast<uint16_t>(~ref_sum(udp, l4_len, ref_pseudo_sum(ip, l4_len)));
    return c == 0 ? 0xffff : c;  // RFC 768: a computed zero is sent as all ones
}

}  // namespace sf::dp::test
