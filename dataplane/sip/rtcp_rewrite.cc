#include "rtcp_rewrite.hh"

#include <cstring>

#include "big_endian.hh"
#include "rtcp.hh"

namespace sf::rtcp {

namespace {

// Packet types beyond rtcp.hh's (RFC 3550 12.1, RFC 4585 6.1).
constexpr uint8_t type_sdes = 202;
constexpr uint8_t type_bye = 203;
constexpr uint8_t type_app = 204;
constexpr uint8_t type_rtpfb = 205;
constexpr uint8_t type_psfb = 206;
constexpr uint8_t rtpfb_generic_nack = 1;  // RFC 4585 6.2.1
// RFC 3611 block types.
constexpr uint8_t xr_loss_rle = 1, xr_duplicate_rle = 2, xr_receipt_times = 3, xr_dlrr = 5, xr_statistics = 6;

constexpr size_t sr_blocks_at = 28;  // header, sender info
constexpr size_t rr_blocks_at = 8;
constexpr size_t block_bytes = 24;

// One packet's rewrite: the fields it changes and the checksum's running sum.
class rewriter {
public:
    rewriter(const stream_rename& sent, const stream_rename& heard, uint32_t& csum_sum)
        : sent_(sent), heard_(heard), sum_(csum_sum) {}

    unsigned changed() const { return changed_; }

    // The SSRC at p names the packet's sender: renamed by `sent`. True if it was.
    bool sender(uint8_t* p) { return rename(p, sent_); }
    // The SSRC at p names a source the sender hears: renamed by `heard`. True if it was.
    bool source(uint8_t* p) { return rename(p, heard_); }
    // The SR's RTP timestamp (its sender was renamed).
    void timestamp(uint8_t* p) {
        put32(p, load_be32(p) + sent_.ts_add);
        ++changed_;
    }
    // A renamed heard source's 16-bit sequence number, or a 32-bit extended one.
    void heard_seq16(uint8_t* p) {
        put16(p, static_cast<uint16_t>(load_be16(p) + heard_.seq_add));
        ++changed_;
    }
    void heard_seq32(uint8_t* p) {
        // The nearer way round (the header): the reporter's cycles stay as they are but across a wrap.
        put32(p, load_be32(p) + static_cast<uint32_t>(int32_t{static_cast<int16_t>(heard_.seq_add)}));
        ++changed_;
    }

private:
    bool rename(uint8_t* p, const stream_rename& r) {
        if (!r.on || load_be32(p) != r.from) {
            return false;
        }
        put32(p, r.to);
        ++changed_;
        return true;
    }
    void put32(uint8_t* p, uint32_t v) {
        put16(p, static_cast<uint16_t>(v >> 16));
        put16(p + 2, static_cast<uint16_t>(v));
    }
    // RFC 1624: the checksum takes ~old + new of each word, in memory order like the rest of
    // the datagram's words (so the caller folds it into the checksum as stored).
    void put16(uint8_t* p, uint16_t v) {
        uint16_t was, now;
        std::memcpy(&was, p, sizeof was);
        store_be16(p, v);
        std::memcpy(&now, p, sizeof now);
        // Folded before each word (the caller's sum too), so no sum carries out of 32 bits.
        sum_ = (sum_ & 0xffff) + (sum_ >> 16);
        sum_ += static_cast<uint16_t>(~was) + uint32_t{now};
    }

    const stream_rename& sent_;
    const stream_rename& heard_;
    uint32_t& sum_;
    unsigned changed_ = 0;
};

// Report blocks (RFC 3550 6.4.1) at p[0..24 * rc), rc of them within `bytes`.
void report_blocks(rewriter& w, uint8_t* p, size_t bytes, unsigned rc) {
    for (unsigned k = 0; k < rc && (k + 1) * block_bytes <= bytes; ++k) {
        uint8_t* b = p + k * block_bytes;
        if (w.source(b)) {
            w.heard_seq32(b + 8);  // extended highest sequence number
        }
    }
}

// SDES chunks (RFC 3550 6.5) at p[0..bytes): an SSRC, items (type, length, text) up to a null
// type, padding to the next 32-bit boundary (`p` is 32-bit aligned in the packet).
void sdes_chunks(rewriter& w, uint8_t* p, size_t bytes, unsigned count) {
    size_t at = 0;
    for (unsigned k = 0; k < count && at + 4 <= bytes; ++k) {
        w.sender(p + at);
        at += 4;
        while (at < bytes && p[at] != 0) {  // items: each at least two bytes
            at += 2 + (at + 1 < bytes ? p[at + 1] : 0);
        }
        at = (at + 4) & ~size_t{3};  // the null item and the padding after it
    }
}

// XR report blocks (RFC 3611 4) at p[0..bytes).
void xr_blocks(rewriter& w, uint8_t* p, size_t bytes) {
    size_t at = 0;
    while (at + 4 <= bytes) {
        uint8_t* b = p + at;
        const size_t len = (size_t{load_be16(b + 2)} + 1) * 4;  // header included
        if (at + len > bytes) {
            return;
        }
        switch (b[0]) {
        case xr_loss_rle:
        case xr_duplicate_rle:
        case xr_receipt_times:
        case xr_statistics:
            if (len >= 12 && w.source(b + 4)) {
                w.heard_seq16(b + 8);  // begin_seq
                w.heard_seq16(b + 10);  // end_seq
            }
            break;
        case xr_voip_metrics:
            if (len >= 8) {
                w.source(b + 4);
            }
            break;
        case xr_dlrr:
            for (size_t sub = 4; sub + 12 <= len; sub += 12) {  // SSRC_i, LRR, DLRR
                w.source(b + sub);
            }
            break;
        default:
            break;
        }
        at += len;
    }
}

// One packet of the compound, p[0..bytes) without its padding.
void packet(rewriter& w, uint8_t* p, size_t bytes) {
    const unsigned count = p[0] & 0x1f;  // RC, SC or FMT
    switch (p[1]) {
    case type_sr:
        if (bytes >= sr_blocks_at) {
            if (w.sender(p + 4)) {
                w.timestamp(p + 16);
            }
            report_blocks(w, p + sr_blocks_at, bytes - sr_blocks_at, count);
        }
        break;
    case type_rr:
        if (bytes >= rr_blocks_at) {
            w.sender(p + 4);
            report_blocks(w, p + rr_blocks_at, bytes - rr_blocks_at, count);
        }
        break;
    case type_sdes:
        sdes_chunks(w, p + 4, bytes - 4, count);
        break;
    case type_bye:
        for (unsigned k = 0; k < count && 8 + 4 * size_t{k} <= bytes; ++k) {
            w.sender(p + 4 + 4 * k);
        }
        break;
    case type_app:
        if (bytes >= 8) {
            w.sender(p + 4);
        }
        break;
    case type_rtpfb:
    case type_psfb:
        if (bytes >= 12) {
            w.sender(p + 4);
            if (w.source(p + 8) && p[1] == type_rtpfb && count == rtpfb_generic_nack) {
                for (size_t fci = 12; fci + 4 <= bytes; fci += 4) {  // PID, BLP
                    w.heard_seq16(p + fci);
                }
            }
        }
        break;
    case type_xr:
        if (bytes >= 8) {
            w.sender(p + 4);
            xr_blocks(w, p + 8, bytes - 8);
        }
        break;
    default:
        break;
    }
}

}  // namespace

unsigned rewrite(uint8_t* p, size_t len, const stream_rename& sent, const stream_rename& heard,
                 uint32_t& csum_sum) noexcept {
    if (!sent.on && !heard.on) {
        return 0;
    }
    rewriter w(sent, heard, csum_sum);
    size_t at = 0;
    for (unsigned n = 0; n < rewrite_max_packets && at + 4 <= len && (p[at] >> 6) == 2; ++n) {
        const size_t bytes = (size_t{load_be16(p + at + 2)} + 1) * 4;
        if (at + bytes > len) {
            break;
        }
        // Padding (P bit) ends the packet and counts itself in its last octet, so with P set a
        // count of 0 is malformed (as rtcp::read() holds): such a packet is left alone, since
        // renaming its last word would rewrite the octet a receiver reads as the padding count.
        const bool padded = (p[at] & 0x20) != 0;
        const size_t pad = padded ? p[at + bytes - 1] : 0;
        if ((!padded || pad > 0) && pad <= bytes - 4) {
            packet(w, p + at, bytes - pad);
        }
        at += bytes;
    }
    return w.changed();
}

}  // namespace sf::rtcp
