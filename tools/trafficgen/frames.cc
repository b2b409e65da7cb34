#include "frames.hh"

#include <algorithm>
#include <cstring>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

namespace sf::gen {

namespace {

constexpr size_t ip_off = RTE_ETHER_HDR_LEN;
constexpr size_t udp_off = ip_off + sizeof(rte_ipv4_hdr);
constexpr size_t rtp_off = udp_off + sizeof(rte_udp_hdr);
constexpr size_t probe_off = rtp_off + 12;
constexpr size_t frame_len = rtp_off + rtp_len;

void put32(uint8_t* p, uint32_t v) {
    v = rte_cpu_to_be_32(v);
    std::memcpy(p, &v, 4);
}

uint32_t get32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return rte_be_to_cpu_32(v);
}

// Ethernet/IPv4/UDP headers for `payload_len` bytes of UDP payload; checksums left 0.
void build_headers(frame_template& t, const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac, uint32_t src_ip,
                   uint16_t src_port, uint32_t dst_ip, uint16_t dst_port, uint16_t payload_len) {
    std::memset(t.bytes, 0, sizeof(t.bytes));
    t.len = static_cast<uint16_t>(rtp_off + payload_len);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(t.bytes);
    eth->dst_addr = dst_mac;
    eth->src_addr = src_mac;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(t.bytes + ip_off);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + payload_len));
    ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = rte_cpu_to_be_32(src_ip);
    ip->dst_addr = rte_cpu_to_be_32(dst_ip);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(t.bytes + udp_off);
    udp->src_port = rte_cpu_to_be_16(src_port);
    udp->dst_port = rte_cpu_to_be_16(dst_port);
    udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_udp_hdr) + payload_len));
}

}  // namespace

void build_template(frame_template& t, const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac,
                    uint32_t src_ip, uint16_t src_port, uint32_t dst_ip, uint16_t dst_port, uint32_t ssrc) {
    build_headers(t, src_mac, dst_mac, src_ip, src_port, dst_ip, dst_port, rtp_len);
    uint8_t* rtp = t.bytes + rtp_off;
    rtp[0] = 0x80;  // version 2
    rtp[1] = 0;     // PT 0 (PCMU)
    put32(rtp + 8, ssrc);
    put32(rtp + 12, probe_magic);
    std::memset(rtp + 12 + 24, 0xff, rtp_len - 12 - 24);  // mu-law silence after the probe
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(t.bytes + ip_off);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    const auto* udp = reinterpret_cast<const rte_udp_hdr*>(t.bytes + udp_off);
    t.udp_partial_sum = uint32_t{rte_ipv4_phdr_cksum(ip, 0)} + rte_raw_cksum(udp, sizeof(rte_udp_hdr) + rtp_len);
}

void build_payload_template(frame_template& t, const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac,
                            uint32_t src_ip, uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
                            const std::string& payload) {
    const auto len = static_cast<uint16_t>(std::min<size_t>(payload.size(), max_payload_len));
    build_headers(t, src_mac, dst_mac, src_ip, src_port, dst_ip, dst_port, len);
    std::memcpy(t.bytes + rtp_off, payload.data(), len);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(t.bytes + ip_off);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(t.bytes + udp_off);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
}

bool fill_copy(rte_mbuf* m, const frame_template& t) {
    auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, t.len));
    if (d == nullptr) {
        return false;
    }
    std::memcpy(d, t.bytes, t.len);
    return true;
}

bool fill_probe(rte_mbuf* m, const frame_template& t, const probe& p) {
    auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, frame_len));
    if (d == nullptr) {
        return false;
    }
    std::memcpy(d, t.bytes, frame_len);
    uint8_t* rtp = d + rtp_off;
    const uint16_t seq = rte_cpu_to_be_16(static_cast<uint16_t>(p.seq));
    std::memcpy(rtp + 2, &seq, 2);
    put32(rtp + 4, p.seq * 160u);  // RTP timestamp: 8 kHz, 20 ms per packet
    put32(d + probe_off + 4, p.trial);
    put32(d + probe_off + 8, p.stream);
    put32(d + probe_off + 12, p.seq);
    const uint64_t tsc = rte_cpu_to_be_64(p.tsc);
    std::memcpy(d + probe_off + 16, &tsc, 8);
    // Complete checksums: the relay under test updates them incrementally and a receiver
    // may verify them; the generator must not hand it broken frames. The IPv4 one came with
    // the template; the UDP one is the template's sum plus the fields just written (RTP
    // sequence and timestamp, then trial, stream, sequence and TSC: both runs start at an even
    // offset in the datagram, so their 16-bit words line up with the template's), not a pass
    // over all 180 bytes per packet.
    uint32_t sum = t.udp_partial_sum + rte_raw_cksum(rtp + 2, 6) + rte_raw_cksum(d + probe_off + 4, 20);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    const auto cksum = static_cast<uint16_t>(~sum);
    reinterpret_cast<rte_udp_hdr*>(d + udp_off)->dgram_cksum = cksum == 0 ? 0xffff : cksum;
    return true;
}

std::optional<probe> read_probe(const rte_mbuf* m) {
    if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(rte_ipv4_hdr)) {
        return std::nullopt;
    }
    const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
    const auto* eth = reinterpret_cast<const rte_ether_hdr*>(d);
    if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
        return std::nullopt;
    }
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(d + ip_off);
    if (ip->next_proto_id != IPPROTO_UDP) {
        return std::nullopt;
    }
    // The relay may add IP options in principle: honour the header length it says.
    const size_t off = ip_off + rte_ipv4_hdr_len(ip) + sizeof(rte_udp_hdr) + 12;
    if (rte_pktmbuf_data_len(m) < off + 24 || get32(d + off) != probe_magic) {
        return std::nullopt;
    }
    probe p;
    p.trial = get32(d + off + 4);
    p.stream = get32(d + off + 8);
    p.seq = get32(d + off + 12);
    uint64_t tsc;
    std::memcpy(&tsc, d + off + 16, 8);
    p.tsc = rte_be_to_cpu_64(tsc);
    return p;
}

bool fill_arp(rte_mbuf* m, uint16_t op, const rte_ether_addr& sender_mac, uint32_t sender_ip,
              const rte_ether_addr& target_mac, uint32_t target_ip) {
    // 60 bytes: the Ethernet minimum without FCS, as a kernel pads it.
    constexpr size_t len = 60;
    auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, len));
    if (d == nullptr) {
        return false;
    }
    std::memset(d, 0, len);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(d);
    const bool request = op == RTE_ARP_OP_REQUEST;
    if (request) {
        std::memset(eth->dst_addr.addr_bytes, 0xff, RTE_ETHER_ADDR_LEN);
    } else {
        eth->dst_addr = target_mac;
    }
    eth->src_addr = sender_mac;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = RTE_ETHER_ADDR_LEN;
    arp->arp_plen = 4;
    arp->arp_opcode = rte_cpu_to_be_16(op);
    arp->arp_data.arp_sha = sender_mac;
    arp->arp_data.arp_sip = rte_cpu_to_be_32(sender_ip);
    if (!request) {
        arp->arp_data.arp_tha = target_mac;
    }
    arp->arp_data.arp_tip = rte_cpu_to_be_32(target_ip);
    return true;
}

}  // namespace sf::gen
