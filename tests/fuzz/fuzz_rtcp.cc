// libFuzzer target: the RTCP report reader (dataplane/sip/rtcp). Oracles beyond "no crash, no UB":
// - what read() accepts is a version 2 SR or RR whose length fits the input, whose RC agrees with
//   has_block, and whose fields equal an independent decoding of the same bytes (below, by
//   memcpy + be32toh at the RFC's fixed offsets, not by rtcp.cc's shifts);
// - cumulative_lost is a 24-bit signed value;
// - read() is deterministic: a refused input is refused again, an accepted one reads the same,
//   also into a report left filled by the previous input (the XR VoIP Metrics fields too);
// - VoIP Metrics are found only where an XR packet (PT 207) follows the first packet, with room
//   for the block;
// - every prefix of the input (up to 64 bytes) is read without touching bytes past it;
// - what is read, made into Homer's JSON ([hep] rtcp, control/hep_rtcp), is JSON that
//   Boost.PropertyTree reads back to the same ssrc, type, report count and first block.

#include "sip/rtcp.hh"

#include "hep_rtcp.hh"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <sstream>

#include <endian.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

using namespace sf::rtcp;

namespace {

uint32_t word_at(const uint8_t* data, size_t off) {
    uint32_t w;
    std::memcpy(&w, data + off, sizeof w);
    return be32toh(w);
}

uint16_t half_at(const uint8_t* data, size_t off) {
    uint16_t h;
    std::memcpy(&h, data + off, sizeof h);
    return be16toh(h);
}

/// The reference: an accepted packet's fields, decoded from the offsets of RFC 3550 6.4.1.
report decode(const uint8_t* data) {
    report r;
    const bool sr = data[1] == 200;
    r.sender_ssrc = word_at(data, 4);
    r.sender_report = sr;
    if (sr) {
        // The middle of the 64-bit NTP timestamp at bytes 8..15 is bytes 10..13.
        r.sr_ntp_middle = word_at(data, 10);
        r.sr_ntp_sec = word_at(data, 8);
        r.sr_ntp_fraction = word_at(data, 12);
        r.sr_rtp_ts = word_at(data, 16);
        r.sr_packets = word_at(data, 20);
        r.sr_octets = word_at(data, 24);
    }
    const unsigned rc = data[0] % 32;
    r.report_count = static_cast<uint8_t>(rc);
    if (rc > 0) {
        const size_t b = sr ? 28 : 8;
        r.has_block = true;
        r.source_ssrc = word_at(data, b);
        const uint32_t lost_word = word_at(data, b + 4);  // fraction (8 bits) | cumulative (24 bits)
        r.fraction_lost = static_cast<uint8_t>(lost_word / 0x1000000u);
        const int64_t lost = lost_word % 0x1000000u;
        r.cumulative_lost = static_cast<int32_t>(lost >= 0x800000 ? lost - 0x1000000 : lost);
        r.highest_seq = word_at(data, b + 8);
        r.jitter = word_at(data, b + 12);
        r.lsr = word_at(data, b + 16);
        r.dlsr = word_at(data, b + 20);
    }
    return r;
}

bool same(const report& a, const report& b) {
    return a.sender_ssrc == b.sender_ssrc && a.sender_report == b.sender_report &&
           a.sr_ntp_middle == b.sr_ntp_middle && a.sr_ntp_sec == b.sr_ntp_sec &&
           a.sr_ntp_fraction == b.sr_ntp_fraction && a.sr_rtp_ts == b.sr_rtp_ts && a.sr_packets == b.sr_packets &&
           a.sr_octets == b.sr_octets && a.report_count == b.report_count && a.has_block == b.has_block && a.source_ssrc == b.source_ssrc &&
           a.fraction_lost == b.fraction_lost && a.cumulative_lost == b.cumulative_lost &&
           a.highest_seq == b.highest_seq && a.jitter == b.jitter && a.lsr == b.lsr && a.dlsr == b.dlsr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A copy of exactly `size` bytes on the heap, so ASan sees any read past the end.
    std::unique_ptr<uint8_t[]> copy(new uint8_t[size == 0 ? 1 : size]);
    if (size > 0) {
        std::memcpy(copy.get(), data, size);
    }
    const uint8_t* in = size == 0 ? nullptr : copy.get();

    report r;
    const bool ok = read(in, size, r);
    // The second read goes into a report still holding the previous input's fields: read()
    // resets it, so nothing of them may remain.
    static report again;
    const bool ok_again = read(in, size, again);
    if (ok != ok_again) {
        __builtin_trap();
    }
    if (ok) {
        if (size < 8 || in[0] / 64 != 2 || (in[1] != 200 && in[1] != 201)) {
            __builtin_trap();
        }
        const size_t length_bytes = size_t{half_at(in, 2)} * 4 + 4;
        if (length_bytes > size) {
            __builtin_trap();
        }
        const unsigned rc = in[0] % 32;
        const size_t needed = (in[1] == 200 ? 28 : 8) + size_t{rc} * 24;
        if (needed > length_bytes) {
            __builtin_trap();
        }
        if ((in[0] & 0x20) != 0) {
            const unsigned pad = in[length_bytes - 1];
            if (pad == 0 || needed + pad > length_bytes) {
                __builtin_trap();
            }
        }
        if (r.has_block != (rc != 0) || r.sender_report != (in[1] == 200)) {
            __builtin_trap();
        }
        if (r.cumulative_lost < -8388608 || r.cumulative_lost > 8388607) {
            __builtin_trap();
        }
        if (!same(r, decode(in)) || !same(r, again)) {
            __builtin_trap();
        }
        // XR VoIP metrics: read the same way twice, and only when an XR packet follows the
        // first one with room for the 36-byte block: some byte after the first packet is 207.
        if (r.has_voip_metrics != again.has_voip_metrics || r.xr_loss_rate != again.xr_loss_rate ||
            r.xr_mos_cq != again.xr_mos_cq || r.xr_mos_lq != again.xr_mos_lq || r.xr_r_factor != again.xr_r_factor ||
            r.xr_round_trip_ms != again.xr_round_trip_ms || r.xr_discard_rate != again.xr_discard_rate) {
            __builtin_trap();
        }
        if (r.has_voip_metrics) {
            bool xr_follows = false;
            for (size_t i = length_bytes + 1; i < size && !xr_follows; ++i) {
                xr_follows = in[i] == 207;
            }
            if (!xr_follows || size < length_bytes + 8 + 36) {
                __builtin_trap();
            }
        }
    }

    if (ok) {
        boost::property_tree::ptree t;
        std::istringstream json(sf::control::rtcp_report_json(r));
        try {
            boost::property_tree::read_json(json, t);
        } catch (const boost::property_tree::json_parser_error&) {
            __builtin_trap();
        }
        const auto blocks = t.get_child_optional("report_blocks");
        if (t.get<uint64_t>("ssrc", ~0ull) != r.sender_ssrc || t.get<unsigned>("type", 0) != in[1] ||
            t.get<unsigned>("report_count", 99) != r.report_count || !blocks || blocks->size() != (r.has_block ? 1u : 0u) ||
            t.get_child_optional("sender_information").has_value() != r.sender_report) {
            __builtin_trap();
        }
        if (r.has_block && (blocks->front().second.get<int64_t>("packets_lost", 1 << 30) != r.cumulative_lost ||
                            blocks->front().second.get<uint64_t>("highest_seq_no", ~0ull) != r.highest_seq)) {
            __builtin_trap();
        }
    }

    // Truncations: every prefix up to 64 bytes, each in its own exact-size buffer.
    const size_t n = size < 64 ? size : 64;
    for (size_t len = 0; len <= n; ++len) {
        std::unique_ptr<uint8_t[]> prefix(new uint8_t[len == 0 ? 1 : len]);
        if (len > 0) {
            std::memcpy(prefix.get(), data, len);
        }
        report p;
        const bool pok = read(len == 0 ? nullptr : prefix.get(), len, p);
        // A prefix is accepted only if the packet's length fits in it.
        if (pok && (len < 8 || size_t{half_at(prefix.get(), 2)} * 4 + 4 > len)) {
            __builtin_trap();
        }
        // A prefix holding the whole first packet reads the same as the whole input.
        if (ok && len >= 8 && size_t{half_at(in, 2)} * 4 + 4 <= len && (!pok || !same(p, r))) {
            __builtin_trap();
        }
        if (len == 0) {
            report q;
            if (read(prefix.get(), 0, q)) {  // empty, through a non-null pointer
                __builtin_trap();
            }
        }
    }
    return 0;
}
