#include "packet.hh"

#include <rte_icmp.h>

#include <algorithm>
#include <vector>

namespace sf::dp {

bool prepend_udp_headers(rte_mbuf* m, const udp_route& route) {
    const uint16_t payload_len = rte_pktmbuf_pkt_len(m);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_prepend(m, l2_l3_l4_len));
    if (eth == nullptr) {
        return false;
    }
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);

    rte_ether_addr_copy(&route.dst_mac, &eth->dst_addr);
    rte_ether_addr_copy(&route.src_mac, &eth->src_addr);
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->type_of_service = 0;
    ip->total_length = rte_cpu_to_be_16(sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + payload_len);
    ip->packet_id = 0;
    ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(route.src_addr);
    ip->dst_addr = rte_cpu_to_be_32(route.dst_addr);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);

    udp->src_port = rte_cpu_to_be_16(route.src_port);
    udp->dst_port = rte_cpu_to_be_16(route.dst_port);
    udp->dgram_len = rte_cpu_to_be_16(sizeof(rte_udp_hdr) + payload_len);
    udp->dgram_cksum = 0;
    // The payload is contiguous only for single-segment mbufs; control builds those.
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
    m->l2_len = sizeof(rte_ether_hdr);
    m->l3_len = sizeof(rte_ipv4_hdr);
    return true;
}

unsigned build_udp_fragments(const udp_route& route, const char* payload, size_t payload_len, uint16_t mtu,
                             uint16_t ip_id, rte_mbuf* (*alloc)(void*), void* alloc_ctx, rte_mbuf** out,
                             unsigned max_out) {
    const size_t dgram_len = sizeof(rte_udp_hdr) + payload_len;
    if (dgram_len > UINT16_MAX - sizeof(rte_ipv4_hdr) || mtu < 68) {
        return 0;
    }
    // The UDP checksum needs the whole datagram: assemble it once behind a pseudo IP header.
    std::vector<uint8_t> whole(sizeof(rte_ipv4_hdr) + dgram_len);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(whole.data());
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(whole.size()));
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(route.src_addr);
    ip->dst_addr = rte_cpu_to_be_32(route.dst_addr);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = rte_cpu_to_be_16(route.src_port);
    udp->dst_port = rte_cpu_to_be_16(route.dst_port);
    udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(dgram_len));
    udp->dgram_cksum = 0;
    memcpy(udp + 1, payload, payload_len);
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
    const uint8_t* l4 = reinterpret_cast<const uint8_t*>(udp);

    // Every fragment but the last carries a multiple of 8 bytes (the offset unit).
    const size_t chunk = ((mtu - sizeof(rte_ipv4_hdr)) / 8) * 8;
    const unsigned count = static_cast<unsigned>((dgram_len + chunk - 1) / chunk);
    if (count > max_out) {
        return 0;
    }
    for (unsigned i = 0; i < count; ++i) {
        const size_t off = i * chunk;
        const size_t len = std::min(chunk, dgram_len - off);
        rte_mbuf* m = alloc(alloc_ctx);
        auto* eth = m == nullptr ? nullptr
                                 : reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(
                                       m, static_cast<uint16_t>(sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + len)));
        if (eth == nullptr) {
            if (m != nullptr) {
                rte_pktmbuf_free(m);
            }
            rte_pktmbuf_free_bulk(out, i);
            return 0;
        }
        rte_ether_addr_copy(&route.dst_mac, &eth->dst_addr);
        rte_ether_addr_copy(&route.src_mac, &eth->src_addr);
        eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
        auto* fip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        fip->version_ihl = RTE_IPV4_VHL_DEF;
        fip->type_of_service = 0;
        fip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + len));
        fip->packet_id = rte_cpu_to_be_16(ip_id);
        const bool more = off + len < dgram_len;
        fip->fragment_offset = rte_cpu_to_be_16(static_cast<uint16_t>((off / 8) | (more ? RTE_IPV4_HDR_MF_FLAG : 0)));
        fip->time_to_live = 64;
        fip->next_proto_id = IPPROTO_UDP;
        fip->src_addr = ip->src_addr;
        fip->dst_addr = ip->dst_addr;
        fip->hdr_checksum = 0;
        fip->hdr_checksum = rte_ipv4_cksum(fip);
        memcpy(fip + 1, l4 + off, len);
        out[i] = m;
    }
    return count;
}

void make_arp_reply(rte_ether_hdr* eth, rte_arp_hdr* arp, const rte_ether_addr& our_mac) {
    rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
    rte_ether_addr_copy(&our_mac, &eth->src_addr);
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    const uint32_t asked = arp->arp_data.arp_tip;
    arp->arp_data.arp_tha = arp->arp_data.arp_sha;
    arp->arp_data.arp_tip = arp->arp_data.arp_sip;
    rte_ether_addr_copy(&our_mac, &arp->arp_data.arp_sha);
    arp->arp_data.arp_sip = asked;
}

bool build_arp_request(rte_mbuf* m, const rte_ether_addr& our_mac, uint32_t our_addr, uint32_t target_addr) {
    auto* eth = reinterpret_cast<rte_ether_hdr*>(
        rte_pktmbuf_append(m, sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)));
    if (eth == nullptr) {
        return false;
    }
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
    rte_ether_addr_copy(&our_mac, &eth->src_addr);
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
    arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = RTE_ETHER_ADDR_LEN;
    arp->arp_plen = 4;
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
    rte_ether_addr_copy(&our_mac, &arp->arp_data.arp_sha);
    arp->arp_data.arp_sip = rte_cpu_to_be_32(our_addr);
    memset(&arp->arp_data.arp_tha, 0, RTE_ETHER_ADDR_LEN);
    arp->arp_data.arp_tip = rte_cpu_to_be_32(target_addr);
    return true;
}

void make_icmp_echo_reply(rte_ether_hdr* eth, rte_ipv4_hdr* ip) {
    rte_ether_addr tmp;
    rte_ether_addr_copy(&eth->src_addr, &tmp);
    rte_ether_addr_copy(&eth->dst_addr, &eth->src_addr);
    rte_ether_addr_copy(&tmp, &eth->dst_addr);

    const uint32_t src = ip->src_addr;
    ip->src_addr = ip->dst_addr;
    ip->dst_addr = src;
    ip->time_to_live = 64;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);

    auto* icmp = reinterpret_cast<rte_icmp_hdr*>(reinterpret_cast<uint8_t*>(ip) + rte_ipv4_hdr_len(ip));
    // Only the type changes (8 -> 0): an incremental update keeps the payload untouched.
    const uint16_t old_word = *reinterpret_cast<uint16_t*>(icmp);
    icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
    const uint16_t new_word = *reinterpret_cast<uint16_t*>(icmp);
    icmp->icmp_cksum = csum_replace2(icmp->icmp_cksum, old_word, new_word);
}

}  // namespace sf::dp
