#include "packet.hh"

#include <rte_icmp.h>

#include <algorithm>
#include <vector>

namespace sf::dp {

namespace {

void fill_ipv4_udp(rte_ipv4_hdr* ip, const udp_route& route, uint32_t payload_len, uint16_t ip_id, bool df) {
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->type_of_service = 0;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + payload_len));
    ip->packet_id = rte_cpu_to_be_16(ip_id);
    ip->fragment_offset = df ? rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG) : 0;
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(route.src_addr);
    ip->dst_addr = rte_cpu_to_be_32(route.dst_addr);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    udp->src_port = rte_cpu_to_be_16(route.src_port);
    udp->dst_port = rte_cpu_to_be_16(route.dst_port);
    udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_udp_hdr) + payload_len));
    udp->dgram_cksum = 0;
}

}  // namespace

uint16_t udp_checksum(const rte_mbuf* m, uint32_t l4_off, const rte_ipv4_hdr* ip) {
    const uint32_t l4_len = rte_be_to_cpu_16(ip->total_length) - rte_ipv4_hdr_len(ip);
    uint16_t raw = 0;
    if (rte_raw_cksum_mbuf(m, l4_off, l4_len, &raw) != 0) {
        return 0;  // the chain is shorter than the header says: no checksum (0 means none in UDP)
    }
    const uint16_t sum = static_cast<uint16_t>(~csum_fold(uint32_t{raw} + rte_ipv4_phdr_cksum(ip, 0)));
    return sum == 0 ? 0xffff : sum;
}

bool prepend_ethernet(rte_mbuf* m, const udp_route& route) {
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_prepend(m, sizeof(rte_ether_hdr)));
    if (eth == nullptr) {
        return false;
    }
    rte_ether_addr_copy(&route.dst_mac, &eth->dst_addr);
    rte_ether_addr_copy(&route.src_mac, &eth->src_addr);
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    m->l2_len = sizeof(rte_ether_hdr);
    return true;
}

bool prepend_udp_headers(rte_mbuf* m, const udp_route& route) {
    const uint32_t payload_len = rte_pktmbuf_pkt_len(m);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_prepend(m, l2_l3_l4_len));
    if (eth == nullptr) {
        return false;
    }
    rte_ether_addr_copy(&route.dst_mac, &eth->dst_addr);
    rte_ether_addr_copy(&route.src_mac, &eth->src_addr);
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    fill_ipv4_udp(ip, route, payload_len, 0, true);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    // Over the chain: the payload sits in later segments when a header mbuf leads the frame.
    udp->dgram_cksum = udp_checksum(m, sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr), ip);
    m->l2_len = sizeof(rte_ether_hdr);
    m->l3_len = sizeof(rte_ipv4_hdr);
    return true;
}

bool prepend_ipv4_udp_headers(rte_mbuf* m, const udp_route& route, uint16_t ip_id) {
    const uint32_t payload_len = rte_pktmbuf_pkt_len(m);
    if (payload_len + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) > UINT16_MAX) {
        return false;
    }
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(
        rte_pktmbuf_prepend(m, static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr))));
    if (ip == nullptr) {
        return false;
    }
    fill_ipv4_udp(ip, route, payload_len, ip_id, false);
    reinterpret_cast<rte_udp_hdr*>(ip + 1)->dgram_cksum = udp_checksum(m, sizeof(rte_ipv4_hdr), ip);
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
