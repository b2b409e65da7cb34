#pragma once
/// @file
/// Anchors a call's media on the appliance: per SDP stream, one relay port on
/// each leg's realm, published to the dataplane's relay table as two bridged
/// media sides (plus two for RTCP unless rtcp-mux).

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <rte_ether.h>

#include "cdr.hh"
#include "media_ports.hh"
#include "relay_table.hh"
#include "sip_types.hh"
#include "rings.hh"
#include "sip/sdp.hh"
#include "timer_queue.hh"

namespace sf::control {

/// One of the appliance's ports as the control plane sees it.
struct realm_info {
    std::string name;
    uint32_t addr = 0;  ///< host order
    std::string addr_text;
    uint8_t prefix = 24;
    uint32_t gateway = 0;  ///< 0 = none
    uint16_t port_id = 0;
    rte_ether_addr mac{};
    /// More addresses that carry relayed media on this port ([port.NAME] media_addresses):
    /// [media_first, media_first + media_count). The port's own address carries media too.
    uint32_t media_first = 0;
    uint32_t media_count = 0;

    /// Every address of the port: its own first, then its media addresses in order.
    std::vector<uint32_t> addresses() const {
        std::vector<uint32_t> all{addr};
        for (uint32_t i = 0; i < media_count; ++i) {
            all.push_back(media_first + i);
        }
        return all;
    }

    bool on_link(uint32_t a) const {
        const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
        return (a & mask) == (addr & mask);
    }
};

/// Next-hop MAC towards `addr` on `realm`, if known (the neighbour table).
using neighbour_fn = std::function<std::optional<rte_ether_addr>(unsigned realm, uint32_t addr)>;
/// Asks the transport to find the next hop towards `addr` on `realm` (an ARP request).
using resolve_fn = std::function<void(unsigned realm, uint32_t addr)>;

/// The relay state of one call: leg A is the caller's, leg B the placed one.
struct media_bridge {
    struct stream {
        uint16_t a_port = 0, b_port = 0;  ///< RTP relay ports (RTCP = +1)
        bool rtcp = false;                 ///< RTCP sides exist (no rtcp-mux)
        dp::media_side* a_rtp = nullptr;
        dp::media_side* b_rtp = nullptr;
        dp::media_side* a_rtcp = nullptr;
        dp::media_side* b_rtcp = nullptr;
        /// The endpoint each side's SDP last named (a_rtp, b_rtp, a_rtcp, b_rtcp), packed:
        /// a re-offer that names the same one keeps the latched address, a new one re-latches.
        uint64_t sdp_remote[4] = {};
        /// Audio over plain RTP (RTP/AVP, RTP/AVPF): its headers may be rewritten to continue a
        /// stream across a transfer. Not SRTP (the SSRC, sequence number and timestamp are
        /// authenticated and key the cipher), not video (its marker bit ends a frame).
        bool continuable = false;
        /// A replacement's stream whose new party is held back until switch_over(), which then
        /// continues what the kept party heard (open_replacement with continuity).
        bool continue_at_switch = false;
        /// RTCP arriving at this stream's sides is read for call quality: plain RTP (not SRTCP,
        /// whose reports are encrypted) with a known RTP clock (the last SDP's first codec).
        bool reads_rtcp = false;
        bool audio = false;  ///< an audio m-line (the first one names the call's codec)
        std::string type;    ///< the m-line's media type as the last SDP applied names it ("audio", "image")
    };
    unsigned a_realm = 0, b_realm = 0;
    /// The relay address of each leg (host order): the realm's own or one of its media
    /// addresses; every stream of a leg uses it (one c= line in the SDP).
    uint32_t a_addr = 0, b_addr = 0;
    std::vector<stream> streams;  ///< index = m-line index; ports 0 for streams never enabled
    /// The first audio stream's codec as the last SDP applied names it ("PCMU"; "" when none).
    std::string codec;
    /// An image stream over UDPTL (T.38 fax) was enabled since the bridge opened (for a
    /// transfer's new segment: since the switch).
    bool t38 = false;
    bool open = false;
    /// Set anew (media_anchor's count) whenever the bridge is opened or its halves are replaced
    /// (switch_over, splice): what was recorded of it before (added_streams) no longer applies.
    uint64_t generation = 0;
    /// What the streams removed since the bridge opened had relayed (release_removed), so that
    /// a_to_b()/b_to_a() stay cumulative: a segment's counts are differences of them.
    rtp_counts removed_a_to_b, removed_b_to_a;
};

/// What one media_anchor::add_streams call anchored, so that a refusal of the offer that
/// added them can give them back (media_anchor::take_back).
struct added_streams {
    /// A stream's RTP sides the call made (nullptr: that half was there before).
    struct halves {
        unsigned index = 0;
        dp::media_side* a_rtp = nullptr;
        dp::media_side* b_rtp = nullptr;
    };
    uint64_t generation = 0;  ///< the bridge's when they were added
    size_t had = 0;           ///< the m-lines the bridge had before
    bool t38 = false;         ///< the bridge's t38 before
    std::vector<halves> streams;
    bool empty() const { return streams.empty(); }
};

class media_anchor {
public:
    media_anchor(dp::relay_table& table, std::vector<realm_info> realms, uint16_t port_min, uint16_t port_max,
                 neighbour_fn neighbours, resolve_fn resolve = {});

    /// A side whose SDP named a remote with no known next-hop MAC cannot send until that MAC
    /// is known (or the remote's first packet latches it): its next hop is ARPed at once and
    /// again every second from here, and the MAC filled in when the neighbour table has it.
    /// Call from the control loop, with `learnt` when neighbours were just learnt (the MACs are
    /// then filled at once; ARP requests go at most once a second); cheap when nothing waits.
    void retry_neighbours(ms_t now, bool learnt = false);
    /// Sides waiting for a next-hop MAC.
    size_t waiting_for_neighbour() const { return waiting_.size(); }

    /// Allocates relay ports for every active stream of `offer` and publishes the sides;
    /// the offering leg's remotes come from the offer: leg A's normally, leg B's when
    /// `offer_from_b` (an offerless INVITE: the offer came in B's 2xx). False (nothing left
    /// allocated) when ports or table space run out.
    bool open(media_bridge& b, unsigned a_realm, unsigned b_realm, const sdp::session& offer,
              bool offer_from_b = false);
    /// Applies an SDP from leg B (answer) or leg A: sets that leg's remotes where
    /// not latched yet. With `renegotiate` (a re-INVITE or UPDATE), a stream whose SDP
    /// names a new endpoint is re-pointed there and latches again on its first packet.
    void apply_remote(media_bridge& b, bool leg_b, const sdp::session& desc, bool renegotiate = false);
    /// True when `desc` fits the bridge: no more m-lines than were anchored (an answer never
    /// has more than its offer; a re-offer that adds some goes through add_streams first).
    bool fits(const media_bridge& b, const sdp::session& desc) const { return desc.n_media <= b.streams.size(); }
    /// True when the re-offer `desc` enables a stream the bridge has no relay ports for: an
    /// m-line past the last one anchored, or one that was disabled (port 0) when it was.
    bool adds_streams(const media_bridge& b, const sdp::session& desc) const;
    /// Anchors those streams of an open bridge (RFC 3264 8.1: a re-offer adds a stream by
    /// appending an m-line or by reusing a disabled one; T.38 fax next to the audio, say), on
    /// the relay addresses the bridge already uses, with the offering leg's remotes. All or
    /// nothing: false (the bridge as it was) when the bridge is not open or ports or table
    /// space run out. With `added`, what was anchored is recorded there for take_back().
    bool add_streams(media_bridge& b, const sdp::session& offer, bool offer_from_b,
                     added_streams* added = nullptr);
    /// Gives back what add_streams() anchored for an offer that was then refused (RFC 3264 8:
    /// the session stays as it was): those halves are unbridged and unpublished, their ports
    /// go back, what they relayed is kept in the removed_ counts, and the m-lines appended go.
    /// Nothing when the bridge was closed or had its halves replaced since (a transfer, a
    /// pickup: `added.generation`), nor for a stream whose sides are no longer the ones made.
    /// Returns how many streams were given back.
    unsigned take_back(media_bridge& b, const added_streams& added);
    /// Removes the streams a completed offer/answer ended (RFC 3264 6 and 8.2: `answer` has
    /// port 0 where the answerer declined a stream or the offerer removed it): their sides
    /// are unbridged and unpublished and their relay ports go back to the pool, what they
    /// relayed is kept in the bridge's removed_ counts. The m-line keeps its place; a later
    /// re-offer that enables it again gets new ports (add_streams). Returns how many were
    /// removed. With `other` (the other party's SDP, when the answer is not passed on to it:
    /// our own re-INVITE), only the streams it has at port 0 too: one it still has active
    /// keeps its ports. Never while a replacement borrows the bridge's sides (open_replacement).
    unsigned release_removed(media_bridge& b, const sdp::session& answer, const sdp::session* other = nullptr);
    /// Unbridges and removes every side (their slots reusable after the RCU grace period).
    void close(media_bridge& b);

    // --- moving media to a new leg (transfers), make-before-break ---
    /// Builds `next`: the kept leg's sides of `current` (A when `keep_a`) shared as they are,
    /// plus new sides on `new_realm` for every active stream of `offer` whose peer is the
    /// kept side, so the new party's packets reach the kept one at once. The kept sides still
    /// send to the old party until switch_over(). False (nothing left allocated) on exhaustion.
    /// With `continuity`, a continuable stream's new party is heard only from switch_over()
    /// on, and then in the stream the kept party heard (dp::bridge with a stream_position):
    /// its early media would otherwise interleave with the old party's.
    bool open_replacement(media_bridge& next, const media_bridge& current, bool keep_a, unsigned new_realm,
                          const sdp::session& offer, bool continuity = false);
    /// Moves the kept sides' traffic to the new party (one bridge() per side), then
    /// removes the replaced leg's sides; `current` becomes `next`.
    void switch_over(media_bridge& current, media_bridge& next, bool keep_a);
    /// Drops a replacement that was never switched to (the new party failed).
    void close_replacement(media_bridge& next, bool keep_a);
    /// Attended transfer: joins the kept half of `first` (A when `keep_a_first`) with the
    /// kept half of `second` (A when `keep_a_second`), stream by stream (one bridge()
    /// per side and direction), and retires both other halves. `first` becomes the joined
    /// bridge with the first's kept half as leg A; `second` is left empty.
    /// `continuity_first` (`_second`): the first (second) call's kept party goes on hearing the
    /// stream it heard from the party that leaves, on streams continuable in both calls.
    void splice(media_bridge& first, bool keep_a_first, media_bridge& second, bool keep_a_second,
                bool continuity_first = false, bool continuity_second = false);

    /// The relay address of one leg as text, for the SDP rewrite (c=, o=).
    std::string address_of(const media_bridge& b, bool leg_b) const;
    /// Relay ports of one leg, per m-line, for the SDP rewrite.
    void ports_of(const media_bridge& b, bool leg_b, uint16_t (&out)[sdp::session::max_media]) const;
    /// What one direction relayed, and what its receiver reported in RTCP of the audio streams
    /// (note_rtcp).
    rtp_counts a_to_b(const media_bridge& b) const;
    rtp_counts b_to_a(const media_bridge& b) const;

    /// An RTCP report a worker read at one of the relay sides (`arrival_us`: when, on a
    /// monotonic microsecond clock). Its report block adds to the figures of the party that
    /// sent it (rtp_counts::receiver of the direction it receives); an SR is remembered, so
    /// that a report block from the other party naming it (LSR) measures that party's round
    /// trip: arrival - the SR's arrival - DLSR. Reports at sides that are gone, or whose
    /// stream does not read RTCP (media_bridge::stream::reads_rtcp), are counted and ignored.
    void note_rtcp(const dp::rtcp_event& ev, uint64_t arrival_us);
    uint64_t rtcp_read() const { return rtcp_read_; }

    /// Names the owner of every side of `b` (the B2BUA's call number; 0: none) and which leg
    /// each serves, for what is told about them elsewhere: the RTCP copies to a HEP collector
    /// take the leg's Call-ID. Labels again whatever was labelled before (a side shared by a
    /// replacement, a half spliced into another call).
    void label(const media_bridge& b, uint64_t owner);
    /// Where an RTCP report came from and went, as a capture collector shows it.
    struct rtcp_origin {
        sip_addr from;         ///< the party that sent it: the side's remote (latched or from SDP)
        sip_addr to;           ///< the relay side it arrived at
        uint64_t owner = 0;    ///< label()'s
        bool leg_b = false;    ///< the side serves leg B
    };
    /// The origin of a report note_rtcp() reads (a live side that reads plain RTCP); nullopt
    /// for one it ignores.
    std::optional<rtcp_origin> origin_of(const dp::rtcp_event& ev) const;
    uint64_t rtcp_ignored() const { return rtcp_ignored_; }

    const realm_info& realm(unsigned i) const { return realms_[i]; }
    unsigned realm_count() const { return static_cast<unsigned>(realms_.size()); }
    /// Port pairs in use and in all, over every relay address of `realm`.
    unsigned pairs_in_use(unsigned realm) const;
    unsigned pairs_capacity(unsigned realm) const;

private:
    /// One relay address and its port pairs.
    struct address_pool {
        uint32_t addr = 0;
        media_ports ports;
    };
    /// The address with room for `pairs` more port pairs on `realm`, round-robin over the
    /// realm's addresses (spreading calls over addresses spreads them over RSS queues too);
    /// 0 when every address is full.
    uint32_t pick_address(unsigned realm, unsigned pairs);
    address_pool& pool(unsigned realm, uint32_t addr);
    void release(unsigned realm, uint32_t addr, uint16_t port);
    dp::media_side* make_side(unsigned realm, uint32_t addr, uint16_t port);
    void set_remote(dp::media_side* s, unsigned realm, std::string_view addr, uint16_t port, uint64_t& last_sdp,
                    bool renegotiate);
    /// Allocates ports on the bridge's addresses for stream `i` (m-line `m`), makes, bridges
    /// and publishes its sides, the offering leg's pointed at the offer; of a stream a transfer
    /// left with one half, the missing half. False (the stream as it was) when ports or table
    /// space run out.
    bool anchor_stream(media_bridge& b, unsigned i, const sdp::media& m, bool offer_from_b);
    /// What one stream relayed from leg A to B (`from_b`: from B to A), and what the party
    /// receiving it reported in RTCP (audio only).
    rtp_counts stream_counts(const media_bridge::stream& st, bool from_b) const;
    /// Unbridges and unpublishes the sides of `st`, one of `b`'s streams, gives back its
    /// ports and empties it.
    void drop_stream(const media_bridge& b, media_bridge::stream& st);
    /// Allocates a port on leg B's (`leg_b`) or A's relay address for `st` and makes its side
    /// (and RTCP side when `st.rtcp`), not yet bridged nor published. False when ports or table
    /// space run out (what was made is left in `st` for drop_halves()).
    bool make_half(const media_bridge& b, media_bridge::stream& st, bool leg_b);
    /// Undoes anchor_stream()'s halves: leg A's when `a`, leg B's when `b_half` (both: the whole
    /// stream); a half left alone relays to nobody.
    void drop_halves(const media_bridge& b, media_bridge::stream& st, bool a, bool b_half);

    dp::relay_table& table_;
    std::vector<realm_info> realms_;
    std::vector<std::vector<address_pool>> pools_;  ///< per realm: [0] its own address, then media addresses
    std::vector<unsigned> cursor_;                  ///< per realm: where pick_address starts
    neighbour_fn neighbours_;
    resolve_fn resolve_;
    /// Published sides whose remote is set but whose next-hop MAC is not known yet.
    struct waiting_side {
        dp::media_side* side;
        unsigned realm;
        uint32_t addr;
    };
    std::vector<waiting_side> waiting_;
    ms_t last_retry_ = 0;
    /// What the RTCP arriving at one side said, for every side made and not yet unpublished.
    struct side_rtcp {
        uint32_t clock_hz = 0;  ///< 0: not read (see media_bridge::stream::reads_rtcp)
        rtcp_figures heard;     ///< the report blocks of the party that sends to this side
        /// The last SRs that party sent, by arrival (ring, next at sr_next; arrival 0: none).
        /// More than the last one: a report crosses the next SR on its way (the phones' timers
        /// in step), and two workers' rings may hand the SR over before the report that
        /// answers the one before. With the last only, such a call never had a round trip.
        struct sr_seen {
            uint32_t ntp_middle = 0;
            uint64_t arrival_us = 0;
        };
        std::array<sr_seen, 4> srs{};
        uint8_t sr_next = 0;
        uint64_t owner = 0;  ///< label()
        bool leg_b = false;
    };
    std::unordered_map<uint64_t, side_rtcp> rtcp_;  ///< by side_key()
    /// A relay side of a stream that carried something other than RTP (T.38's UDPTL). The
    /// workers' RTP bookkeeping cannot tell: UDPTL past sequence number 32767 starts with a byte
    /// that reads as RTP version 2, and its "sequence numbers" (payload bytes) would make up
    /// loss. While the stream is not RTP its side's RTP counts are frozen; what was counted
    /// meanwhile is left out for good.
    struct opaque_span {
        bool opaque = false;  ///< the stream carries no RTP now
        uint64_t frozen_expected = 0, frozen_received = 0;  ///< the side's counts when it stopped
        uint64_t skip_expected = 0, skip_received = 0;      ///< made up in spans before this one
    };
    std::unordered_map<uint64_t, opaque_span> opaque_;  ///< by side_key(); sides that ever carried non-RTP
    /// Starts or ends `s`'s non-RTP span (describe(): the m-line's protocol says which).
    void set_opaque(const dp::media_side* s, bool opaque);
    /// What `s` relayed, its RTP counts without those a non-RTP span made up.
    rtp_counts forwarded(const dp::media_side* s) const;
    uint64_t rtcp_read_ = 0, rtcp_ignored_ = 0;
    uint64_t generations_ = 0;  ///< the last media_bridge::generation given
    static uint64_t side_key(uint32_t addr, uint16_t port) { return (uint64_t{addr} << 16) | port; }
    /// The figures of the party sending to `s` (zero when none or `s` is nullptr).
    rtcp_figures heard_at(const dp::media_side* s) const;
    /// Takes a stream's codec and RTP clock from the m-line an SDP gave it (index `i` of `b`).
    void describe(media_bridge& b, unsigned i, const sdp::media& m);
    /// Takes `s` out of the relay table (and out of waiting_: its slot is reused after the grace period).
    void unpublish(dp::media_side* s);
    /// Unbridges and unpublishes `s` (nullptr: nothing to do).
    void retire(dp::media_side* s);
    /// Retires one leg's sides of stream `st` of `b` (leg B when `leg_b`) and gives back its ports.
    void retire_leg(const media_bridge& b, const media_bridge::stream& st, bool leg_b);
    void forget_waiting(const dp::media_side* s);
};

}  // namespace sf::control
