#include "rtcp.hh"

#include "big_endian.hh"

namespace sf::rtcp {

namespace {

constexpr size_t header_bytes = 8;  // V/P/RC, PT, length, sender SSRC
constexpr size_t sender_info_bytes = 20;
constexpr size_t block_bytes = 24;
constexpr size_t voip_metrics_bytes = 36;  // RFC 3611 4.7: block header + 8 words

// The report blocks of the XR packet at xr[0..bytes) (its header included): the first VoIP
// Metrics block goes into `out`. Blocks that do not fit end the walk.
void read_xr(const uint8_t* xr, size_t bytes, report& out) {
    size_t at = header_bytes;
    while (at + 4 <= bytes) {
        const uint8_t* b = xr + at;
        const size_t len = (size_t{load_be16(b + 2)} + 1) * 4;  // RFC 3611 3: words, minus one, header included
        if (at + len > bytes) {
            return;
        }
        if (b[0] == xr_voip_metrics && len >= voip_metrics_bytes) {
            out.has_voip_metrics = true;
            out.xr_loss_rate = b[8];
            out.xr_discard_rate = b[9];
            out.xr_round_trip_ms = load_be16(b + 16);
            out.xr_r_factor = b[24];
            out.xr_mos_lq = b[26];
            out.xr_mos_cq = b[27];
            return;
        }
        at += len;
    }
}

// The packets after the first, at p[at..len): the first XR packet that carries a VoIP Metrics
// block is read. Each step moves on by a packet's length (at least 4 bytes): bounded by len.
void read_rest(const uint8_t* p, size_t at, size_t len, report& out) {
    while (at + header_bytes <= len && (p[at] >> 6) == 2) {
        const size_t bytes = (size_t{load_be16(p + at + 2)} + 1) * 4;
        if (at + bytes > len) {
            return;
        }
        if (p[at + 1] == type_xr) {
            // Padding (P bit) sits at the end of the packet and counts itself in its last octet.
            const size_t pad = (p[at] & 0x20) != 0 ? p[at + bytes - 1] : 0;
            if (pad <= bytes - header_bytes) {
                read_xr(p + at, bytes - pad, out);
                if (out.has_voip_metrics) {
                    return;
                }
            }
        }
        at += bytes;
    }
}

}  // namespace

bool read(const uint8_t* p, size_t len, report& out) noexcept {
    out = report{};
    if (p == nullptr || len < header_bytes || (p[0] >> 6) != 2) {
        return false;
    }
    const uint8_t type = p[1];
    if (type != type_sr && type != type_rr) {
        return false;
    }
    // The length field counts 32-bit words less one (RFC 3550 6.4.1): the packet must fit, and
    // with padding (P bit) its last octet counts the padding, which must fit as well.
    const size_t packet_bytes = (size_t{p[2]} << 8 | p[3]) * 4 + 4;
    const size_t blocks = p[0] & 0x1f;
    const size_t fixed = header_bytes + (type == type_sr ? sender_info_bytes : 0);
    if (packet_bytes > len || fixed + blocks * block_bytes > packet_bytes) {
        return false;
    }
    if ((p[0] & 0x20) != 0) {
        const size_t padding = p[packet_bytes - 1];
        if (padding == 0 || fixed + blocks * block_bytes + padding > packet_bytes) {
            return false;
        }
    }
    out.sender_ssrc = load_be32(p + 4);
    if (type == type_sr) {
        out.sender_report = true;
        // NTP seconds (p+8) and fraction (p+12): the low half of one, the high half of the other.
        out.sr_ntp_middle = (load_be32(p + 8) << 16) | (load_be32(p + 12) >> 16);
        out.sr_ntp_sec = load_be32(p + 8);
        out.sr_ntp_fraction = load_be32(p + 12);
        out.sr_rtp_ts = load_be32(p + 16);
        out.sr_packets = load_be32(p + 20);
        out.sr_octets = load_be32(p + 24);
    }
    out.report_count = static_cast<uint8_t>(blocks);
    read_rest(p, packet_bytes, len, out);
    if (blocks == 0) {
        return true;
    }
    const uint8_t* b = p + fixed;
    out.has_block = true;
    out.source_ssrc = load_be32(b);
    out.fraction_lost = b[4];
    // 24-bit two's complement, sign-extended.
    const uint32_t lost24 = (uint32_t{b[5]} << 16) | (uint32_t{b[6]} << 8) | b[7];
    out.cumulative_lost = static_cast<int32_t>(lost24 << 8) >> 8;
    out.highest_seq = load_be32(b + 8);
    out.jitter = load_be32(b + 12);
    out.lsr = load_be32(b + 16);
    out.dlsr = load_be32(b + 20);
    return true;
}

}  // namespace sf::rtcp
