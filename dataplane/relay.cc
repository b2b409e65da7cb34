#include "relay.hh"

#include <algorithm>
#include <cstring>

#include <rte_branch_prediction.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include "packet.hh"
#include "sip/big_endian.hh"
#include "sip/rtcp_rewrite.hh"

namespace sf::dp {

namespace {

struct l3l4 {
    rte_ether_hdr* eth;
    rte_ipv4_hdr* ip;
    rte_udp_hdr* udp;
};

inline l3l4 headers_of(rte_mbuf* m) {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(reinterpret_cast<uint8_t*>(ip) + rte_ipv4_hdr_len(ip));
    return {eth, ip, udp};
}

// Rewrites one packet's headers to `d` (the departure of the side it arrived at).
template <bool offload>
inline void rewrite(rte_mbuf* m, const l3l4& h, const departure& d) {
    // A zero UDP checksum means "none" in IPv4 and stays zero on either path.
    const bool udp_cksum = h.udp->dgram_cksum != 0;
    if constexpr (!offload) {
        // Incremental over the pseudo-header addresses and the ports (RFC 1624), from the old
        // values: before they are overwritten below.
        if (udp_cksum) {
            uint16_t c = h.udp->dgram_cksum;
            c = csum_replace4(c, h.ip->src_addr, d.src_addr_be());
            c = csum_replace4(c, h.ip->dst_addr, d.dst_addr_be());
            c = csum_replace2(c, h.udp->src_port, d.src_port_be());
            c = csum_replace2(c, h.udp->dst_port, d.dst_port_be());
            h.udp->dgram_cksum = c == 0 ? 0xffff : c;
        }
    }
    // The departure is kept in wire order: three copies, no field-by-field assembly.
    auto* eth = reinterpret_cast<uint8_t*>(h.eth);
    std::memcpy(eth, &d.eth, 8);
    std::memcpy(eth + 8, &d.eth_ports, 4);
    std::memcpy(&h.udp->src_port, reinterpret_cast<const uint8_t*>(&d.eth_ports) + 4, 4);
    std::memcpy(&h.ip->src_addr, &d.addrs, 8);
    h.ip->time_to_live = 64;
    h.ip->hdr_checksum = 0;
    if constexpr (offload) {
        m->l2_len = sizeof(rte_ether_hdr);
        m->l3_len = rte_ipv4_hdr_len(h.ip);
        m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | (udp_cksum ? RTE_MBUF_F_TX_UDP_CKSUM : 0);
        if (udp_cksum) {
            h.udp->dgram_cksum = rte_ipv4_phdr_cksum(h.ip, m->ol_flags);  // the device adds the rest
        }
    } else {
        h.ip->hdr_checksum = rte_ipv4_cksum(h.ip);
    }
}

// What track_rtp made of a packet.
enum class rtp_seen : uint8_t { not_rtp, in_sequence, restarted };

// Sequence bookkeeping of one RTP packet arriving at `in` (the worker owns the side's flow).
// A jump forward by more than max_dropout or back by more than max_misorder is a restarted
// sender (RFC 3550 A.1's thresholds): the count starts again from there rather than inventing
// thousands of lost packets. Late and duplicate packets count as received, so reordering does
// not read as loss; a duplicate can make a segment's loss negative, which readers clamp to 0.
inline rtp_seen track_rtp(media_side& in, const rte_udp_hdr* udp, uint16_t payload) {
    constexpr int max_dropout = 3000;
    constexpr int max_misorder = 100;
    constexpr auto relaxed = std::memory_order_relaxed;
    const auto* rtp = reinterpret_cast<const uint8_t*>(udp + 1);
    // Not RTP version 2, or RTCP SR/RR/SDES/BYE/APP sharing the port (RFC 5761 4): counted on
    // line 1, a miss only for these rare packets, so RTP's "received" needs no store of its own.
    if (payload < 12 || (rtp[0] & 0xc0) != 0x80 || ((rtp[1] & 0x7f) >= 72 && (rtp[1] & 0x7f) <= 76)) {
        in.non_rtp.store(in.non_rtp.load(relaxed) + 1, relaxed);
        return rtp_seen::not_rtp;
    }
    const uint16_t seq = static_cast<uint16_t>((rtp[2] << 8) | rtp[3]);
    const uint32_t ts = (uint32_t{rtp[4]} << 24) | (uint32_t{rtp[5]} << 16) | (uint32_t{rtp[6]} << 8) | rtp[7];
    const uint32_t ssrc = (uint32_t{rtp[8]} << 24) | (uint32_t{rtp[9]} << 16) | (uint32_t{rtp[10]} << 8) | rtp[11];
    uint64_t expected = in.rtp_expected.load(relaxed);
    rtp_seen seen = rtp_seen::in_sequence;
    if (expected == 0 || ssrc != in.rtp_ssrc.load(relaxed)) {
        in.rtp_ssrc.store(ssrc, relaxed);
        in.rtp_max_seq.store(seq, relaxed);
        in.rtp_last_ts.store(ts, relaxed);
        ++expected;
        seen = rtp_seen::restarted;
    } else {
        const int delta = static_cast<int16_t>(static_cast<uint16_t>(seq - in.rtp_max_seq.load(relaxed)));
        if (delta > max_dropout || delta < -max_misorder) {
            in.rtp_max_seq.store(seq, relaxed);
            in.rtp_last_ts.store(ts, relaxed);
            ++expected;
            seen = rtp_seen::restarted;
        } else if (delta > 0) {
            in.rtp_max_seq.store(seq, relaxed);
            in.rtp_last_ts.store(ts, relaxed);
            expected += static_cast<unsigned>(delta);
        }
    }
    in.rtp_expected.store(expected, relaxed);
    return seen;
}


// A packet that is not RTP arrived at `in`, a side whose departure is flagged continuing: as
// RTCP, it is renamed like the RTP of the streams it names (media_side.hh, "RTCP"). Rare (one
// report every few seconds per party, and only on continued calls): out of line.
template <bool offload>
__attribute__((noinline, cold)) void rename_rtcp(const media_side& in, rte_udp_hdr* udp, uint16_t payload) {
    constexpr auto relaxed = std::memory_order_relaxed;
    // RTP ports are even (media_ports): an odd one is RTCP, its RTP side the port below.
    const media_side* rtp = (in.local_port & 1) != 0 ? relay_table::even_neighbour(&in) : &in;
    if (rtp == nullptr) {
        return;
    }
    rtcp::stream_rename sent, heard;
    if (rtp->cont_state.load(std::memory_order_acquire) == continuity::active) {
        // The reporter's own stream, as the RTP side renames it (armed: not known until its
        // first RTP packet; until then its reports pass as they came).
        sent = {true, rtp->rtp_ssrc.load(relaxed), rtp->cont_ssrc.load(relaxed), 0, rtp->cont_ts.load(relaxed)};
    }
    const media_side* source = rtp->peer();
    if (source != nullptr && source->cont_state.load(std::memory_order_acquire) == continuity::active) {
        // The stream the reporter hears, renamed back to what its sender knows.
        heard = {true, source->cont_ssrc.load(relaxed), source->rtp_ssrc.load(relaxed),
                 static_cast<uint16_t>(-source->cont_seq.load(relaxed)), 0};
    }
    uint32_t sum = 0;
    if (rtcp::rewrite(reinterpret_cast<uint8_t*>(udp + 1), payload, sent, heard, sum) == 0) {
        return;
    }
    if constexpr (!offload) {
        udp_checksum_add(udp, sum);
    }
}

// A packet arriving at a side that continues a stream (media_side.hh, "Continuity"): tracked
// like any other, then, if it is RTP, rewritten into the stream its receiver heard. The offsets
// are fixed on the first RTP packet after the bridge (from the armed position) and again when
// the sender restarts (from this side's own last packet out), and the marker bit marks each
// seam. Without a hardware checksum the UDP checksum follows the changed words (RFC 1624).
template <bool offload>
inline rtp_seen relay_continuing(media_side& in, rte_udp_hdr* udp, uint16_t payload) {
    constexpr auto relaxed = std::memory_order_relaxed;
    const uint16_t prev_seq = in.rtp_max_seq.load(relaxed);
    const uint32_t prev_ts = in.rtp_last_ts.load(relaxed);
    const rtp_seen seen = track_rtp(in, udp, payload);
    const continuity state = in.cont_state.load(std::memory_order_acquire);
    if (seen == rtp_seen::not_rtp) {
        rename_rtcp<offload>(in, udp, payload);
        return seen;
    }
    if (state != continuity::armed && state != continuity::active) {
        return seen;  // no RTP rewrite here (reports), or re-bridged meanwhile (off)
    }
    // The header is read once and written once, whole: byte stores read back by a wider load
    // (for the checksum) would stall on store forwarding.
    auto* rtp = reinterpret_cast<uint8_t*>(udp + 1);
    uint8_t was[12], now[12];
    std::memcpy(was, rtp, sizeof was);
    const uint16_t seq = load_be16(was + 2);
    const uint32_t ts = load_be32(was + 4);
    uint16_t seq_offset = in.cont_seq.load(relaxed);
    uint32_t ts_offset = in.cont_ts.load(relaxed);
    bool seam = false;
    if (state == continuity::armed) {
        seq_offset = static_cast<uint16_t>(seq_offset - seq);  // from the position given
        ts_offset -= ts;
        seam = true;
    } else if (seen == rtp_seen::restarted) {
        // The sender restarted: go on from this side's last packet out.
        seq_offset = static_cast<uint16_t>(prev_seq + seq_offset + 1 - seq);
        ts_offset = prev_ts + ts_offset + continuity_seam_ts - ts;
        seam = true;
    }
    if (unlikely(seam)) {
        in.cont_seq.store(seq_offset, relaxed);
        in.cont_ts.store(ts_offset, relaxed);
        in.cont_state.store(continuity::active, std::memory_order_release);
    }
    now[0] = was[0];
    now[1] = static_cast<uint8_t>(was[1] | (seam ? 0x80 : 0));
    store_be16(now + 2, static_cast<uint16_t>(seq + seq_offset));
    store_be32(now + 4, ts + ts_offset);
    store_be32(now + 8, in.cont_ssrc.load(relaxed));
    std::memcpy(rtp, now, sizeof now);
    if constexpr (!offload) {
        // RFC 1624 over the six words at once: sum(~old) + sum(new), folded once.
        uint16_t w_was[6], w_now[6];
        std::memcpy(w_was, was, sizeof w_was);
        std::memcpy(w_now, now, sizeof w_now);
        uint32_t delta = 0;
        for (unsigned w = 0; w < 6; ++w) {
            delta += static_cast<uint16_t>(~w_was[w]) + uint32_t{w_now[w]};
        }
        udp_checksum_add(udp, delta);
    }
    return seen;
}

// A packet that is not RTP arrived at `in`: if it is an RTCP SR or RR, its report goes into
// the batch at `n`, which then counts it (the caller's rare path: RTP never gets here).
inline void note_rtcp(rtcp_batch& batch, uint16_t& n, const media_side& in, const rte_udp_hdr* udp,
                      uint16_t payload) {
    rtcp_event& ev = batch.events[n];
    if (rtcp::read(reinterpret_cast<const uint8_t*>(udp + 1), payload, ev.report)) {
        ev.addr = in.local_addr;
        ev.port = in.local_port;
        ++n;
    }
}

}  // namespace

namespace {

// `caller_located`: `located` holds the sides' slots, prefetched (relay.hh); otherwise it is
// nullptr and the slots are found and prefetched here. A template parameter, as `offload` is:
// the per-packet loop carries no test for either.
template <bool offload, bool caller_located>
relay_burst_result relay_burst_as(const relay_table& table, rte_mbuf** pkts, unsigned n, uint16_t* egress,
                                  rtcp_batch* rtcp, const media_side* const* located) {
    relay_burst_result res;
    constexpr unsigned max_burst = 64;  // RTE_HASH_LOOKUP_BULK_MAX
    static_assert(rtcp_batch::max >= max_burst, "one RTCP report per packet at most");
    l3l4 hdrs[max_burst];
    if (n > max_burst) {
        // Callers hand at most one burst; anything beyond is dropped, never left undecided.
        for (unsigned i = max_burst; i < n; ++i) {
            egress[i] = relay_drop;
        }
        res.miss = static_cast<uint16_t>(n - max_burst);
        n = max_burst;
    }
    // The headers, and each side's slot unless the caller located them.
    const media_side* own_slots[max_burst];
    const media_side* const* slots = caller_located ? located : own_slots;
    if constexpr (caller_located) {
        for (unsigned i = 0; i < n; ++i) {
            hdrs[i] = headers_of(pkts[i]);
        }
    } else {
        relay_key keys[max_burst];
        const relay_key* key_ptrs[max_burst] = {};
        for (unsigned i = 0; i < n; ++i) {
            hdrs[i] = headers_of(pkts[i]);
            keys[i] = relay_key{rte_be_to_cpu_32(hdrs[i].ip->dst_addr), rte_be_to_cpu_16(hdrs[i].udp->dst_port), 0};
            key_ptrs[i] = &keys[i];
        }
        table.locate_bulk(key_ptrs, n, own_slots);
    }
    // Each side's line 0 (all a relayed packet needs; at a million entries a cache miss) is
    // prefetched prefetch_ahead packets before its turn: the misses overlap the relaying of the
    // packets before them, never more in flight than the core's fill buffers hold (see
    // locate_bulk). 16: what current server cores keep in flight (16 L1 fill buffers on Intel
    // since Golden Cove, more on AMD since Zen 3); on a 480 MiB-L3 host 16 beat 8 by 10-20%
    // at 1M entries and cost nothing at 1k (docs/ARCHITECTURE.md, relay table). A caller that
    // located the sides has prefetched them too: then none here.
    constexpr unsigned prefetch_ahead = 16;
    if constexpr (!caller_located) {
        for (unsigned i = 0; i < std::min(n, prefetch_ahead); ++i) {
            rte_prefetch0(slots[i]);
        }
    }
    for (unsigned i = 0; i < n; ++i) {
        if (!caller_located && i + prefetch_ahead < n) {
            rte_prefetch0(slots[i + prefetch_ahead]);
        }
        media_side* in = relay_table::live_side(slots[i]);
        if (in == nullptr) {
            egress[i] = relay_drop;
            ++res.miss;
            continue;
        }
        const l3l4& h = hdrs[i];
        const uint16_t payload = rte_be_to_cpu_16(h.udp->dgram_len) - sizeof(rte_udp_hdr);
        in->rx_packets.store(in->rx_packets.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        in->rx_bytes.store(in->rx_bytes.load(std::memory_order_relaxed) + payload, std::memory_order_relaxed);
        // The RTP header must be in the first segment to be read in place (it is, but for a
        // contrived chain): only those bytes count.
        const auto head = static_cast<uint16_t>(rte_pktmbuf_data_len(pkts[i]) -
                                                (reinterpret_cast<const uint8_t*>(h.udp + 1) -
                                                 rte_pktmbuf_mtod(pkts[i], const uint8_t*)));
        const uint16_t rtp_bytes = std::min(payload, head);

        // One test tells a plain departure from the rest: a continuing one (flag bit set), or
        // none (nowhere has it too, or a writer held the copy through every try).
        departure d;
        const bool have = in->read_departure(d);
        bool forward = true;
        rtp_seen seen;
        if (likely(have && d.port < departure::continuing)) {
            seen = track_rtp(*in, h.udp, rtp_bytes);
        } else if (have && d.port != departure::nowhere) {
            d.port = static_cast<uint16_t>(d.port & ~departure::continuing);
            seen = relay_continuing<offload>(*in, h.udp, rtp_bytes);
        } else {
            seen = track_rtp(*in, h.udp, rtp_bytes);
            forward = false;
        }
        if (unlikely(seen == rtp_seen::not_rtp) && rtcp != nullptr) {
            note_rtcp(*rtcp, res.rtcp_reports, *in, h.udp, rtp_bytes);  // one per packet: fits
        }

        // Symmetric latching: the first packet tells where this side's remote really is
        // (behind NAT the SDP address is often wrong); its source MAC is the next hop back.
        // (Latching changes the departure of the side that sends here, never this side's own.)
        if (unlikely(in->latch.load(std::memory_order_relaxed) == latching::waiting)) {
            latch(*in, pack_endpoint(rte_be_to_cpu_32(h.ip->src_addr), rte_be_to_cpu_16(h.udp->src_port)),
                  pack_mac(h.eth->src_addr));
        }

        if (unlikely(!forward)) {
            egress[i] = relay_drop;
            in->drops.store(in->drops.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            ++res.no_target;
            continue;
        }
        rewrite<offload>(pkts[i], h, d);
        egress[i] = d.port;
        ++res.relayed;
    }
    return res;
}

}  // namespace

relay_burst_result relay_burst(const relay_table& table, rte_mbuf** pkts, unsigned n, uint16_t* egress,
                               bool tx_cksum_offload, rtcp_batch* rtcp, const media_side* const* located) {
    if (located != nullptr) {
        return tx_cksum_offload ? relay_burst_as<true, true>(table, pkts, n, egress, rtcp, located)
                                : relay_burst_as<false, true>(table, pkts, n, egress, rtcp, located);
    }
    return tx_cksum_offload ? relay_burst_as<true, false>(table, pkts, n, egress, rtcp, nullptr)
                            : relay_burst_as<false, false>(table, pkts, n, egress, rtcp, nullptr);
}

}  // namespace sf::dp
