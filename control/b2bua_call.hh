#pragma once
/// @file
/// The B2BUA's per-call state, shared by the files that implement class b2bua
/// (b2bua.cc: new calls and teardown; b2bua_in_dialog.cc: requests within the dialogs).

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "asserted_identity.hh"
#include "b2bua.hh"
#include "sip/ascii.hh"
#include "sip/sip_uri.hh"

namespace sf::control {

namespace b2bua_detail {

inline constexpr std::string_view allow_header =
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, REFER, NOTIFY\r\n";

/// A display name as a quoted-string (RFC 3261 25.1).
inline std::string quoted_display(std::string_view text) {
    std::string out = "\"";
    for (char ch : text) {
        if (ch == '"' || ch == '\\') {
            out.push_back('\\');
        }
        out.push_back(ch);
    }
    return out + "\" ";
}

/// The host of the From of a leg we place towards `t` (and of what we assert there: the
/// P-Asserted-Identity and Diversion URIs): its fh= (or provider's from_host), else `here`, the
/// appliance's address on that leg's realm.
inline std::string_view from_host_of(const dial_target& t, std::string_view here) {
    return t.from_host.empty() ? here : std::string_view(t.from_host);
}

/// The From name-addr (no tag) of a leg we place towards `t`: its fu=/fd=/fh= options, else
/// `user`, `display` and the appliance's address `here` on that leg's realm.
inline std::string from_name_addr(const dial_target& t, std::string_view user, std::string_view display,
                                  std::string_view here) {
    const std::string_view shown = t.from_display.empty() ? display : std::string_view(t.from_display);
    return (shown.empty() ? std::string() : quoted_display(shown)) + "<sip:" +
           std::string(t.from_user.empty() ? user : std::string_view(t.from_user)) + "@" +
           std::string(from_host_of(t, here)) + ">";
}

/// `user` with ATIS-1000074's verstat user parameter ("+15551234;verstat=TN-Validation-Passed")
/// when it is a telephone number and `verstat` is not empty; else `user` as it is.
inline std::string with_verstat(const std::string& user, std::string_view verstat) {
    if (verstat.empty() || user.find(';') != std::string::npos || canonical_tn(user).empty()) {
        return user;
    }
    return user + ";verstat=" + std::string(verstat);
}

/// The identity asserted towards `t`: its pai= option, else the caller's.
inline asserted_identity leg_identity(const asserted_identity& caller, const dial_target& t) {
    return t.asserted_user.empty() ? caller : asserted_identity{t.asserted_user, {}};
}

/// Removes the ;tag= parameter from a From/To value (the leg keeps tags apart).
inline std::string strip_tag(std::string_view value) {
    std::string v(value);
    std::string lower = v;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    // Only parameters after the URI count: skip past '>' when the value is a name-addr.
    const size_t from = lower.find('>') == std::string::npos ? 0 : lower.find('>');
    const size_t t = lower.find(";tag=", from);
    if (t == std::string::npos) {
        return v;
    }
    size_t end = lower.find(';', t + 1);
    v.erase(t, end == std::string::npos ? std::string::npos : end - t);
    return v;
}

/// The Contact (or any name-addr) URI as an IPv4 endpoint, if it is one; `uri_text`
/// receives the URI itself (the Request-URI of in-dialog requests, RFC 3261 12.2.1.1) without
/// any `?headers`, which a Request-URI may not carry (RFC 3261 19.1.1; found by fuzz_b2bua: a
/// Contact's "?60" made an ACK that no parser takes).
inline bool uri_endpoint(std::string_view name_addr_value, sip_addr& out, std::string* uri_text = nullptr) {
    sip::name_addr na;
    sip::uri u;
    if (!sip::parse_name_addr(name_addr_value, na) || !sip::parse_uri(na.uri, u)) {
        return false;
    }
    uint32_t addr = 0;
    if (!sip::parse_ipv4(u.host, addr)) {
        return false;
    }
    out = sip_addr{addr, u.port != 0 ? u.port : uint16_t{5060}};
    if (uri_text != nullptr) {
        // A '?' before the host belongs to the user part (RFC 4475 "intmeth"): look after it.
        const size_t q = na.uri.find('?', static_cast<size_t>(u.host.data() - na.uri.data()));
        *uri_text = std::string(na.uri.substr(0, q));
    }
    return true;
}

using sip::iequals_ascii;

/// A Warning header line (RFC 3261 20.43) with `text` as its quoted warn-text.
inline std::string warning_header(std::string_view text) {
    std::string out = "Warning: 399 sipferry \"";
    for (char ch : text) {
        if (ch == '"' || ch == '\\') {
            out.push_back('\\');
        }
        if (static_cast<unsigned char>(ch) >= 0x20) {
            out.push_back(ch);
        }
    }
    out += "\"\r\n";
    return out;
}

/// The Record-Route URIs of `m` (each header may list several), in order; `reversed` for a
/// UAC, which sees them from the far end (RFC 3261 12.1.2).
inline std::vector<std::string> record_route_of(const sip::message& m, bool reversed) {
    std::vector<std::string> out;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        if (m.headers[i].id != sip::hdr::record_route) {
            continue;
        }
        std::string_view rest = m.headers[i].value;
        while (!rest.empty()) {
            sip::name_addr na;
            std::string_view after;
            if (!sip::parse_name_addr(rest, na, &after)) {
                break;
            }
            out.emplace_back(na.uri);
            while (!after.empty() && (after.front() == ' ' || after.front() == '\t' || after.front() == ',')) {
                after.remove_prefix(1);
            }
            rest = after;
        }
    }
    if (reversed) {
        std::reverse(out.begin(), out.end());
    }
    return out;
}

/// The Record-Route lines of a request, to copy into the responses that make its dialog.
inline std::string record_route_lines(const sip::message& m) {
    std::string out;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        if (m.headers[i].id == sip::hdr::record_route) {
            out.append("Record-Route: ").append(m.headers[i].value).append("\r\n");
        }
    }
    return out;
}

/// Points `l.target` at the first route when the dialog has a route set (its host must be an
/// IPv4 address: the appliance resolves no names); the remote target stays the Request-URI.
inline void route_next_hop(leg& l) {
    if (l.route_set.empty()) {
        return;
    }
    sip::uri u;
    uint32_t addr = 0;
    if (sip::parse_uri(l.route_set.front(), u) && sip::parse_ipv4(u.host, addr)) {
        l.target = sip_addr{addr, u.port != 0 ? u.port : uint16_t{5060}};
    }
}

/// `sdp` with every stream sendrecv: the party a call is handed to comes off hold with it
/// (RFC 5589 6.1), whatever the one it replaces had asked for.
inline std::string off_hold(std::string sdp) {
    for (const char* attr : {"a=sendonly", "a=recvonly", "a=inactive"}) {
        for (size_t at = sdp.find(attr); at != std::string::npos; at = sdp.find(attr, at)) {
            const size_t end = sdp.find_first_of("\r\n", at);
            sdp.replace(at, (end == std::string::npos ? sdp.size() : end) - at, "a=sendrecv");
        }
    }
    return sdp;
}

/// The Reason of a CANCEL to destinations that rang while another answered (RFC 3326, as
/// forking proxies send it): their phones then show no missed call.
inline constexpr std::string_view answered_elsewhere = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// RFC 3261 16.7 step 6, for a B2BUA choosing among its destinations' failures: a 6xx ends the
/// search at once and wins; otherwise the lowest class wins, and within it a real answer (busy,
/// say) beats "nobody answered".
inline bool better_failure(unsigned status, unsigned best) {
    if (best == 0) {
        return true;
    }
    if ((best >= 600) != (status >= 600)) {
        return status >= 600;
    }
    if (status / 100 != best / 100) {
        return status / 100 < best / 100;
    }
    auto no_answer = [](unsigned s) { return s == 408 || s == 480 || s == 487; };
    return no_answer(best) && !no_answer(status);
}

/// Writes what a dialplan run said (its sys.Log lines and its error) to the appliance's log.
void log_dialplan(const char* which, const route_result& rr);

/// Whether an option tag (RFC 3261 19.2) is listed in a header of kind `a` or `b` of `m`
/// (comma lists, several lines, case-insensitive).
inline bool lists_option_tag(const sip::message& m, sip::hdr a, sip::hdr b, std::string_view option) {
    for (unsigned i = 0; i < m.n_headers; ++i) {
        if (m.headers[i].id != a && m.headers[i].id != b) {
            continue;
        }
        for (std::string_view rest = m.headers[i].value; !rest.empty();) {
            const size_t comma = rest.find(',');
            std::string_view tag = rest.substr(0, comma);
            while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) {
                tag.remove_prefix(1);
            }
            while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) {
                tag.remove_suffix(1);
            }
            if (iequals_ascii(tag, option)) {
                return true;
            }
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
    }
    return false;
}

/// Whether a response is sent reliably: Require lists 100rel (RFC 3262 3).
inline bool requires_100rel(const sip::message& m) {
    return lists_option_tag(m, sip::hdr::require, sip::hdr::require, "100rel");
}

inline bool is_sdp(const sip::message& m) {
    const sip::header* ct = m.find(sip::hdr::content_type);
    if (ct == nullptr || m.body.empty()) {
        return false;
    }
    std::string v(ct->value.substr(0, ct->value.find(';')));
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char ch) { return std::tolower(ch); });
    while (!v.empty() && v.back() == ' ') {
        v.pop_back();
    }
    return v == "application/sdp";
}

}  // namespace b2bua_detail

struct b2bua::call {
    enum class state : uint8_t {
        routing,      ///< INVITE from A taken, INVITE to B sent, nothing back yet
        early,        ///< B sent a provisional response
        answered,     ///< 2xx sent to A, waiting for A's ACK
        confirmed,    ///< both dialogs established
        cancelling,   ///< A is gone; waiting for B's final response to clean up
    };
    uint64_t id = 0;
    state st = state::routing;
    leg a, b;
    response_base a_invite;        ///< to build responses to A's INVITE
    sip_addr a_reply_to;           ///< where responses to A's INVITE go (2xx retransmissions too)
    uint64_t a_invite_tx = 0;
    unsigned a_invite_cseq = 0;
    reliable_uas a_reliable;       ///< RFC 3262 towards the caller (b2bua_reliable.cc)

    /// One INVITE the appliance placed for the dial string (b2bua_fork.cc). Parallel
    /// destinations are branches of one group; the answering branch's dialog becomes leg B.
    struct branch {
        enum class state : uint8_t {
            delayed,   ///< dt= : its INVITE waits for its delay timer
            ringing,   ///< INVITE sent, no final response yet
            given_up,  ///< cancelled (lost, rt= ran out, A left): counts as finished, its final response still ends it
            done,      ///< final response (or transaction timeout) seen
        };
        dial_target target;
        leg l;                     ///< the dialog this INVITE opens (becomes `b` if it answers)
        state st = state::delayed;
        sip_addr dest;             ///< where the INVITE went
        std::string request_uri;
        std::string via_branch;
        uint64_t tx = 0;
        unsigned status = 0;       ///< final status (408: transaction timeout, 480: ring time ran out)
        timer_queue::id timer = 0; ///< delay timer (delayed) or ring timer (ringing)
        timer_queue::id response_timer = 0;  ///< the provider's response_timeout: cleared by any response
        bool holds_channel = false;  ///< counted in its provider's calls (max_calls) until released
        uint32_t last_rseq = 0;    ///< RSeq of the last reliable provisional response PRACKed (RFC 3262)
        uint32_t pracks = 0;       ///< PRACKs sent in its early dialog (their CSeqs follow the INVITE's)
        identity_on_leg identity;  ///< its From's anonymity and P-Asserted-Identity/Privacy lines
        bool auth_tried = false;   ///< the INVITE was re-sent once with the provider's credentials
        std::string auth_header;   ///< that (Proxy-)Authorization line
        /// The SDP its INVITE offers: b_offer through its co= (b_offer itself when it has none).
        std::string offer;
    };
    std::vector<dial_target> plan;     ///< the dialplan's destinations, groups in order
    unsigned group = 0;                ///< the group ringing now
    std::vector<branch> branches;      ///< every branch placed so far, all groups (indices are stable)
    int answered_branch = -1;          ///< the branch that became leg B
    int early_media_branch = -1;       ///< the branch whose early SDP the bridge's B side uses
    unsigned best_status = 0;          ///< the failure leg A gets if no branch answers (RFC 3261 16.7)
    std::string best_reason;
    std::string b_offer;               ///< the SDP offered on every branch (B realm, B's origin); empty if offerless
    bool offerless = false;            ///< A's INVITE had no SDP: the winner's 2xx offers, A's ACK answers
    unsigned b_max_forwards = 70;
    std::string caller_user, caller_display;  ///< From of leg B unless fu=/fd= say otherwise
    asserted_identity identity;               ///< who the caller is, as asserted (asserted_identity.hh)
    /// STIR/SHAKEN (RFC 8588): how well the appliance knows the caller: 'A' an account presenting
    /// one of its own numbers, 'B' an account otherwise, 'C' anyone else (a provider's call);
    /// and the UUID naming the call in every PASSporT signed for it.
    char attest = 'C';
    std::string origid;
    privacy_request privacy;                  ///< what the caller withholds (RFC 3323)
    std::string called_user;                  ///< the user the caller dialled (A's Request-URI)
    std::string inbound_diversions;           ///< a trusted caller's Diversion lines, passed on (RFC 5806)
    /// A trusted caller's History-Info lines, passed on (RFC 7044), and the index of their last
    /// entry, under which a diversion here goes ("" = none, or not passed on: last_history_index).
    std::string inbound_history;
    std::string inbound_history_index;
    /// The Identity lines (RFC 8224) a trusted provider's call came with: passed on unchanged to
    /// providers that are signed for, in place of the appliance's own signature (a transit
    /// carrier does not re-sign a call another carrier already attested).
    std::string inbound_identity;
    /// The caller as the first SHAKEN PASSporT of those lines names it (orig.tn), "" when none
    /// does: a div PASSporT signed here for a diverted call names the same (RFC 8946 3).
    std::string inbound_orig_tn;
    /// The caller's STIR/SHAKEN verification (stir_verify.hh) as a verstat value, "" when its
    /// source is not verified: destinations that are no provider see it in From and
    /// P-Asserted-Identity (ATIS-1000074 5.3.1).
    std::string verstat;
    timer_queue::id duration_timer = 0;       ///< cd= : hang up when it fires
    timer_queue::id media_timer = 0;          ///< media timeout: checks the relayed packets
    uint64_t media_packets = 0;               ///< RTP relayed both ways when last seen to change
    ms_t media_changed_at = 0;                ///< when that was
    std::string tag;                   ///< fu= of the answering destination: the call-manager API finds calls by it
    int8_t continuous_media = -1;      ///< cm= of the answering destination (-1: `[transfer] continuous_media`)
    /// The provider whose channel (max_calls) each leg holds, [0] leg A, [1] leg B ("" = none):
    /// leg A's when the call came in from a provider that counts them, leg B's from its answering
    /// destination at one (call::branch::holds_channel moves here). A channel belongs to its leg:
    /// it goes when the leg goes (the call's end, a transfer or Replaces taking the leg's place)
    /// and moves with it (an attended transfer joins two calls' kept legs).
    std::string channel[2];
    std::string a_record_route;        ///< Record-Route lines of A's INVITE, echoed in the responses that make the dialog
    std::string account;               ///< the account that placed the call ("" = none): its limits, its bill
    std::shared_ptr<dialplan_engine> plans;  ///< the dialplans it started with (a reload does not change them)
    leg_timer session[2];              ///< RFC 4028 per leg: [0] A, [1] B
    /// REFERs passed through (mode p), to translate their NOTIFYs' Event ids (the last 8).
    struct passed_refer {
        bool from_a = false;         ///< the leg that sent the REFER
        uint32_t original_cseq = 0;  ///< its CSeq there
        uint32_t relayed_cseq = 0;   ///< its CSeq in the other leg's dialog
    };
    std::vector<passed_refer> passed_refers;
    /// A 2xx this appliance sent on one leg's INVITE (the first or a re-INVITE), retransmitted
    /// until that leg's ACK (RFC 3261 13.3.1.4).
    struct ack_wait {
        bool active = false;
        uint32_t cseq = 0;
        sip_wire text;  ///< the 2xx as sent (shared with the transport, never copied)
        sip_addr to;
        timer_queue::id timer = 0;
        ms_t deadline = 0;
        bool forward_ack = false;  ///< offerless re-INVITE: the ACK carries the answer to the other leg
        uint32_t other_cseq = 0;   ///< CSeq of the relayed INVITE on the other leg
    };
    /// [0] leg A, [1] leg B: one each, as a pickup answers both legs' INVITEs at once.
    ack_wait waiting_ack[2];
    /// Whether a 2xx of ours waits for its ACK on either leg (an offer now would cross it).
    bool awaiting_ack() const { return waiting_ack[0].active || waiting_ack[1].active; }
    sip_wire last_ack[2];          ///< [0] leg A, [1] leg B: our last ACK, re-sent on a retransmitted 2xx

    /// The in-dialog INVITE being relayed from one leg to the other (one at a time per call).
    struct relayed_invite {
        bool active = false;
        bool from_a = true;
        bool offerless = false;
        bool cancelled = false;    ///< CANCELled: by its sender, or unanswered for max_ring
        uint64_t server_tx = 0;
        sip_addr reply_to;
        uint32_t cseq = 0;         ///< the originator's CSeq (its ACK carries it)
        uint64_t client_tx = 0;    ///< the INVITE relayed to the other leg
        timer_queue::id timer = 0; ///< max_ring: CANCELs it when no final response comes
    };
    relayed_invite reinvite;
    /// [0] A's, [1] B's UPDATE carrying an offer, relayed and not answered yet (RFC 3311 5.2:
    /// another offer must not cross it).
    bool update_offer_out[2] = {false, false};
    /// Whether an offer of the leg (`from_a`) is on its way to the other one, unanswered: its
    /// re-INVITE or its UPDATE.
    bool offer_out(bool from_a) const {
        return (reinvite.active && reinvite.from_a == from_a) || update_offer_out[from_a ? 0 : 1];
    }

    /// The appliance's own re-INVITE of each leg ([0] A, [1] B; b2bua_own_reinvite.cc).
    struct own_invite {
        uint64_t tx = 0;                  ///< the one in progress, 0 if none
        std::string sdp, extra;           ///< what the next send offers (the latest wanted)
        bool queued = false;              ///< wanted again once the one in progress ends
        unsigned sends = 0;               ///< of this re-INVITE (a 491 makes another)
        ms_t waiting_since = 0;           ///< another INVITE in the call holds it back since
        bool cancelled = false;           ///< rang for max_ring: CANCELled
        /// With `tx`: max_ring, then CANCEL. Without: the next attempt (after a 491, or a wait).
        timer_queue::id timer = 0;
    };
    own_invite own_reinvite[2];

    /// The SDP each leg's peer last sent (its own view: codecs, its address): a transfer
    /// offers the transferee's to the new party.
    std::string a_remote_sdp, b_remote_sdp;

    /// One destination of a transfer's current step: the new leg it becomes if it answers first.
    struct transfer_branch {
        dial_target target;              ///< provider, options
        std::string target_uri;          ///< its Request-URI
        leg next;                        ///< the dialog its INVITE opens
        uint64_t invite_tx = 0;
        std::string via_branch;          ///< of the INVITE in flight (a new one after a challenge)
        sip_addr invite_dest;
        std::string auth_header;         ///< credentials for the provider's challenge, once it asked
        bool auth_tried = false;
        bool done = false;               ///< its final response came, or it was given up
        timer_queue::id ring_timer = 0;  ///< CANCELs it when it rings too long (rt=, max_ring)
        timer_queue::id response_timer = 0;  ///< its provider's response_timeout: cleared by any response
        bool holds_channel = false;  ///< counted in its provider's calls (max_calls) until released
        bool without_replaces = false;  ///< it refused the transfer's Replaces (481): sent again without
    };
    /// A transfer handled on the appliance (transfer mode c): the transferor's REFER, the new
    /// leg being placed, and the media bridge that will replace the transferor's half.
    struct transfer_state {
        bool active = false;
        bool transferor_is_a = false;    ///< which leg sent the REFER (the other one stays)
        bool transferor_gone = false;    ///< it hung up after the 202: no more NOTIFYs
        bool notify_stopped = false;     ///< a NOTIFY got 481: the subscription is over
        uint32_t refer_cseq = 0;         ///< Event: refer;id=
        std::string referred_by;
        std::string transferor_user;     ///< its REFER's From user: whom a dv= Diversion names
        std::string target_uri;          ///< the current step's destinations (logs, the API's answer)
        /// The transfer dialplan's destinations, resolved: parallel within a step ("a&b"), the
        /// steps one after the other ("a|b").
        std::vector<std::vector<dial_target>> steps;
        size_t step = 0;                 ///< the one being tried
        std::vector<transfer_branch> ringing;  ///< its destinations
        unsigned best_status = 0;        ///< the failure the step ends with if nobody answers (RFC 3261 16.7)
        std::string best_reason;
        std::string offer;               ///< the SDP offered to every destination of the step
        std::string replaces;            ///< transfer_request::replaces: on every destination's INVITE
        media_bridge media;              ///< kept half shared with `call::media`, new half for the step's destinations
    };
    transfer_state transfer;
    rtp_counts segment_base_a_to_b, segment_base_b_to_a;  ///< counters when the current segment began
    uint64_t transfers = 0;
    timer_queue::id linger_timer = 0;
    std::string a_last_sdp, b_last_sdp;
    media_bridge media;
    call_record rec;
    bool record_written = false;
};

}  // namespace sf::control
