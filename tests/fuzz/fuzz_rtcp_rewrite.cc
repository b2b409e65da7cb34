// libFuzzer target: the RTCP rename (dataplane/sip/rtcp_rewrite).
//
// Input: the two renames, then the RTCP compound they are applied to.
//   byte  0       flags: bit 0 `sent` on, bit 1 `heard` on (other bits ignored)
//   bytes 1..14   sent:  from (4), to (4), seq_add (2), ts_add (4), all big-endian
//   bytes 15..28  heard: from (4), to (4), seq_add (2), ts_add (4)
//   bytes 29..    the packet: rewritten in a heap copy of exactly its size (ASan sees any byte
//                 touched past it)
// An input shorter than 29 bytes is all packet, with both renames off.
//
// Oracles beyond "no crash, no UB", each from rtcp_rewrite.hh's promises:
// - deterministic: the same bytes and renames give the same bytes, count and checksum sum;
// - both renames off: nothing changes, 0 is returned, csum_sum is left alone;
// - the checksum: a checksum of the packet (RFC 1071 over 16-bit words in memory order, an odd
//   last byte padded with zero) adjusted by csum_sum equals the checksum of the rewritten
//   packet (0x0000 and 0xffff being one number);
// - the walk: no byte changes at or after the end of the walk, computed here from the header's
//   rule (version-2 packets, each within its length and len, at most 32); a trailing odd byte
//   never changes; nor does a packet's padding (RFC 3550 6.4.1: no field is in it), nor the
//   last octet of any packet with the P bit, where a receiver reads the padding count (a count
//   of 0 is malformed: that packet is left alone);
// - what changes is a field: every changed 32-bit word (packets are whole words, so every field
//   sits in one) is a `from` become `to`, a timestamp + ts_add, 16-bit halves + seq_add, or an
//   extended sequence number + seq_add (signed); a field is changed only beside an SSRC that was
//   a rename's `from`, so with no `from` in the walked words nothing changes; the count is at
//   least the number of changed words;
// - identity renames (to = from, nothing added): nothing changes, the same count as the real
//   renames (the same fields match), csum_sum a ones' complement zero;
// - the inverse renames (to -> from, -seq_add, -ts_add) restore the input, with the same count,
//   whenever neither `to` is a word of the input already (then a field the first rewrite did not
//   touch could match the inverse). Extended sequence numbers are shifted by seq_add as a signed
//   16-bit number, so a seq_add of 0x8000 there and back leaves them one cycle (0x10000) low;
// - prefixes: rewriting the first L bytes changes the packets wholly within L exactly as the
//   whole input's rewrite does, and nothing after them (fields are rewritten only within their
//   packet);
// - rtcp::read() accepts the rewritten packet iff it accepted the input, and reads the same
//   report but for the renamed sender SSRC, source SSRC and extended highest sequence number.

#include "sip/rtcp.hh"
#include "sip/rtcp_rewrite.hh"

#include "../dataplane/sip/rtcp_bytes.hh"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

using namespace sf::rtcp;
using sf::rtcp::test::fold;
using sf::rtcp::test::ones_sum;

namespace {

constexpr size_t rename_bytes = 29;

uint32_t be32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

stream_rename rename_at(const uint8_t* p, bool on) {
    return stream_rename{.on = on, .from = be32(p), .to = be32(p + 4), .seq_add = be16(p + 8), .ts_add = be32(p + 10)};
}

stream_rename inverse(const stream_rename& r) {
    return stream_rename{.on = r.on,
                         .from = r.to,
                         .to = r.from,
                         .seq_add = static_cast<uint16_t>(-r.seq_add),
                         .ts_add = static_cast<uint32_t>(-r.ts_add)};
}

stream_rename identity(const stream_rename& r) { return stream_rename{.on = r.on, .from = r.from, .to = r.from}; }

/// seq_add as the header applies it to an extended sequence number: signed 16-bit.
uint32_t signed_seq(uint16_t seq_add) {
    return static_cast<uint32_t>(seq_add < 0x8000 ? int32_t{seq_add} : int32_t{seq_add} - 0x10000);
}

/// A heap buffer of exactly n bytes holding a copy of `in`.
struct buffer {
    std::unique_ptr<uint8_t[]> bytes;
    size_t size;
    buffer(const uint8_t* in, size_t n) : bytes(new uint8_t[n == 0 ? 1 : n]), size(n) {
        if (n > 0) {
            std::memcpy(bytes.get(), in, n);
        }
    }
    uint8_t* data() const { return bytes.get(); }
};

struct result {
    buffer out;
    unsigned count;
    uint32_t csum_sum;
};

result run(const uint8_t* in, size_t n, const stream_rename& sent, const stream_rename& heard) {
    result r{buffer(in, n), 0, 0};
    r.count = rewrite(r.out.data(), n, sent, heard, r.csum_sum);
    return r;
}

bool same(const uint8_t* a, const uint8_t* b, size_t n) { return n == 0 || std::memcmp(a, b, n) == 0; }

/// The two sums are one ones' complement number.
bool ones_equal(uint64_t a, uint64_t b) { return fold(a) % 0xffff == fold(b) % 0xffff; }

/// The walk as the header states it: where it ends, where the SR/RR report blocks' extended
/// highest sequence numbers of the walked packets are (any block within its packet's length),
/// and the walked packets' padding (P bit, a count that fits after the header).
struct walk {
    size_t end = 0;
    size_t ext_seq[32 * 31];
    size_t ext_seqs = 0;
    size_t pad_from[32], pad_to[32];
    size_t pads = 0;
    size_t pad_count[32];  // the last octet of every walked packet with the P bit, valid or not
    size_t pad_counts = 0;
};

walk walk_of(const uint8_t* p, size_t n) {
    walk w;
    for (unsigned k = 0; k < rewrite_max_packets && w.end + 4 <= n && p[w.end] >> 6 == 2; ++k) {
        const size_t bytes = (size_t{be16(p + w.end + 2)} + 1) * 4;
        if (w.end + bytes > n) {
            break;
        }
        const size_t pad = (p[w.end] & 0x20) != 0 ? p[w.end + bytes - 1] : 0;
        if ((p[w.end] & 0x20) != 0) {
            w.pad_count[w.pad_counts++] = w.end + bytes - 1;
        }
        if (pad > 0 && pad <= bytes - 4) {
            w.pad_from[w.pads] = w.end + bytes - pad;
            w.pad_to[w.pads++] = w.end + bytes;
        }
        const uint8_t type = p[w.end + 1];
        if (type == type_sr || type == type_rr) {
            const size_t first = type == type_sr ? 28 : 8;
            for (size_t b = 0; b < (p[w.end] & 0x1fu) && first + (b + 1) * 24 <= bytes; ++b) {
                w.ext_seq[w.ext_seqs++] = w.end + first + b * 24 + 8;
            }
        }
        w.end += bytes;
    }
    return w;
}

bool is_ext_seq(const walk& w, size_t at) {
    for (size_t i = 0; i < w.ext_seqs; ++i) {
        if (w.ext_seq[i] == at) {
            return true;
        }
    }
    return false;
}

/// A changed word is one of the fields' changes.
bool permitted(uint32_t was, uint32_t now, const stream_rename& sent, const stream_rename& heard) {
    if (sent.on && ((was == sent.from && now == sent.to) || now == was + sent.ts_add)) {
        return true;
    }
    if (!heard.on) {
        return false;
    }
    if ((was == heard.from && now == heard.to) || now == was + signed_seq(heard.seq_add)) {
        return true;
    }
    const auto hi_was = static_cast<uint16_t>(was >> 16), lo_was = static_cast<uint16_t>(was);
    const auto hi_now = static_cast<uint16_t>(now >> 16), lo_now = static_cast<uint16_t>(now);
    const bool hi = hi_now == hi_was || hi_now == static_cast<uint16_t>(hi_was + heard.seq_add);
    const bool lo = lo_now == lo_was || lo_now == static_cast<uint16_t>(lo_was + heard.seq_add);
    return hi && lo;
}

/// `value` is one of the 32-bit words at p[4k] below `end`.
bool has_word(const uint8_t* p, size_t end, uint32_t value) {
    for (size_t i = 0; i + 4 <= end; i += 4) {
        if (be32(p + i) == value) {
            return true;
        }
    }
    return false;
}

bool same_report(const report& a, const report& b) {
    return a.sender_report == b.sender_report && a.sr_ntp_middle == b.sr_ntp_middle && a.has_block == b.has_block &&
           a.fraction_lost == b.fraction_lost && a.cumulative_lost == b.cumulative_lost && a.jitter == b.jitter &&
           a.lsr == b.lsr && a.dlsr == b.dlsr && a.has_voip_metrics == b.has_voip_metrics &&
           a.xr_loss_rate == b.xr_loss_rate && a.xr_discard_rate == b.xr_discard_rate &&
           a.xr_r_factor == b.xr_r_factor && a.xr_mos_lq == b.xr_mos_lq && a.xr_mos_cq == b.xr_mos_cq &&
           a.xr_round_trip_ms == b.xr_round_trip_ms;
}

void check(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const bool has_renames = size >= rename_bytes;
    const stream_rename sent = has_renames ? rename_at(data + 1, (data[0] & 1) != 0) : stream_rename{};
    const stream_rename heard = has_renames ? rename_at(data + 15, (data[0] & 2) != 0) : stream_rename{};
    const buffer input(has_renames ? data + rename_bytes : data, has_renames ? size - rename_bytes : size);
    const uint8_t* in = input.data();
    const size_t n = input.size;

    const result first = run(in, n, sent, heard);
    const uint8_t* out = first.out.data();

    // Deterministic.
    const result again = run(in, n, sent, heard);
    check(same(out, again.out.data(), n) && first.count == again.count && first.csum_sum == again.csum_sum);

    // Off: nothing at all.
    const result none = run(in, n, stream_rename{}, stream_rename{});
    check(none.count == 0 && none.csum_sum == 0 && same(none.out.data(), in, n));
    if (!sent.on && !heard.on) {
        check(first.count == 0 && first.csum_sum == 0 && same(out, in, n));
    }

    // The checksum follows.
    check(ones_equal(ones_sum(in, n) + first.csum_sum, ones_sum(out, n)));

    // Nothing past the walk; only fields within it.
    const walk w = walk_of(in, n);
    check(same(out + w.end, in + w.end, n - w.end));
    for (size_t i = 0; i < w.pads; ++i) {
        check(same(out + w.pad_from[i], in + w.pad_from[i], w.pad_to[i] - w.pad_from[i]));
    }
    for (size_t i = 0; i < w.pad_counts; ++i) {
        check(out[w.pad_count[i]] == in[w.pad_count[i]]);
    }
    if (n % 2 != 0) {
        check(out[n - 1] == in[n - 1]);
    }
    unsigned words_changed = 0;
    for (size_t i = 0; i + 4 <= w.end; i += 4) {
        const uint32_t was = be32(in + i), now = be32(out + i);
        if (was != now) {
            check(permitted(was, now, sent, heard));
            ++words_changed;
        }
    }
    check(first.count >= words_changed && first.count <= w.end / 2);
    const bool any_from = (sent.on && has_word(in, w.end, sent.from)) || (heard.on && has_word(in, w.end, heard.from));
    if (!any_from) {
        check(first.count == 0 && same(out, in, n));
    }

    // Identity renames: the same fields, nothing changed.
    const result same_names = run(in, n, identity(sent), identity(heard));
    check(same(same_names.out.data(), in, n) && same_names.count == first.count && ones_equal(same_names.csum_sum, 0));

    // The way back.
    if (!(sent.on && has_word(in, n, sent.to)) && !(heard.on && has_word(in, n, heard.to))) {
        const result back = run(out, n, inverse(sent), inverse(heard));
        check(back.count == first.count);
        const uint8_t* b = back.out.data();
        for (size_t i = 0; i < n; ++i) {
            if (b[i] == in[i]) {
                continue;
            }
            // Only an extended sequence number, one cycle low after seq_add 0x8000 both ways.
            const size_t at = i & ~size_t{3};
            check(heard.on && heard.seq_add == 0x8000 && at + 4 <= n && is_ext_seq(w, at) &&
                  be32(b + at) == be32(in + at) - 0x10000);
        }
    }

    // Prefixes: the packets within them as in the whole, nothing after.
    auto check_prefix = [&](size_t len) {
        if (len > n) {
            return;
        }
        const result part = run(in, len, sent, heard);
        const size_t end = walk_of(in, len).end;
        check(same(part.out.data(), out, end) && same(part.out.data() + end, in + end, len - end));
    };
    for (size_t len = 0; len <= 40 && len <= n; ++len) {
        check_prefix(len);
    }
    for (size_t at = 0, k = 0; k < rewrite_max_packets && at + 4 <= n && in[at] >> 6 == 2; ++k) {
        at += (size_t{be16(in + at + 2)} + 1) * 4;
        for (size_t len : {at - 1, at, at + 1, at + 4, at + 8}) {
            check_prefix(len);
        }
    }

    // What rtcp::read() makes of it.
    report before, after;
    const bool read_before = read(n == 0 ? nullptr : in, n, before);
    const bool read_after = read(n == 0 ? nullptr : out, n, after);
    check(read_before == read_after);
    if (read_before) {
        check(same_report(before, after));
        check(after.sender_ssrc == (sent.on && before.sender_ssrc == sent.from ? sent.to : before.sender_ssrc));
        const bool heard_block = before.has_block && heard.on && before.source_ssrc == heard.from;
        check(after.source_ssrc == (heard_block ? heard.to : before.source_ssrc));
        check(after.highest_seq == before.highest_seq + (heard_block ? signed_seq(heard.seq_add) : 0));
    }
    return 0;
}
