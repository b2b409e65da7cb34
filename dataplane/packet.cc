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
    uint32_t left = rte_be_to_cpu_16(ip->total_length) - rte_ipv4_hdr_len(ip);
    // Segment by segment. Not rte_raw_cksum_mbuf: DPDK 22.11 truncates a segment's unfolded sum
    // to 16 bits before byte-swapping it when the segment starts at an odd offset, which gives a
    // wrong checksum for chains with odd-length segments. Each segment's sum is folded first here.
    uint32_t sum = 0;
    uint32_t done = 0;
    for (const rte_mbuf* seg = m; seg != nullptr && left > 0; seg = seg->next) {
        const uint32_t len = rte_pktmbuf_data_len(seg);
        if (l4_off >= len) {
            l4_off -= len;
            continue;
        }
        const uint32_t n = std::min(len - l4_off, left);
        uint16_t part = rte_raw_cksum(rte_pktmbuf_mtod_offset(seg, const void*, l4_off), n);
        if ((done & 1) != 0) {
            part = rte_bswap16(part);  // this segment's bytes pair up the other way round
        }
        sum += part;
        done += n;
        left -= n;
        l4_off = 0;
    }
    if (left != 0) {
        return 0;  // the chain is shorter than the header says: no checksum (0 means none in UDP)
    }
    const uint16_t c = static_cast<uint16_t>(~csum_fold(sum + rte_ipv4_phdr_cksum(ip, 0)));
    return c == 0 ? 0xffff : c;
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

void make_icmp_echo_reply(rte_ether_hdr* eth, rte_ipv4_hdr* ip, const rte_ether_addr& our_mac) {
    rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
    rte_ether_addr_copy(&our_mac, &eth->src_addr);

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
    if (icmp->icmp_cksum == 0) {
        // One's complement has two zeros: an incremental update yields 0x0000 both for a message
        // summing to 0xffff (right) and for an all-zero reply (type, code, id, sequence and data
        // all 0), whose checksum must be 0xffff. Only then is the sum done again (found by
        // fuzz_frames: a ping with id 0, sequence 0 and zero data got an invalid reply).
        const auto len = static_cast<size_t>(rte_be_to_cpu_16(ip->total_length) - rte_ipv4_hdr_len(ip));
        icmp->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(icmp, len));
    }
}

}  // namespace sf::dp
