#pragma once
/// @file
/// RFC 3262 on the UAS side of the caller's INVITE (leg A): the state of the reliable
/// provisional responses the B2BUA sends to the caller, and the small pieces of RFC 3262
/// grammar it needs. The machinery that drives it (sending, retransmitting on the call's
/// timer queue, PRACK matching, holding the 2xx) is b2bua_reliable.cc.

#include <cstdint>
#include <string>
#include <string_view>

#include "sip_header_values.hh"
#include "sip_wire.hh"
#include "timer_queue.hh"

namespace sf::control {

/// When the B2BUA sends its provisional responses to a caller reliably. A caller whose INVITE
/// has `Require: 100rel` always gets every 18x reliably (RFC 3262 3: MUST); this decides what a
/// caller that only lists 100rel in Supported gets.
enum class reliable_policy : uint8_t {
    required,   ///< nothing more: only callers that require it
    sdp,        ///< 18x that carry SDP (early media): the SDP is then a real answer (RFC 3262 5)
    supported,  ///< every 18x to a caller that supports 100rel
};

/// The first RSeq of a transaction: random in 1 .. 2^31-1 (RFC 3262 3), leaving room to count up.
uint32_t first_rseq();

/// A response to the caller's INVITE that waits its turn (a later 18x, or the 2xx).
struct pending_response {
    unsigned status = 0;
    std::string reason;
    std::string extra;  ///< complete header lines
    std::string body;   ///< SDP or empty
};

/// RFC 3262 state of leg A of one call. At most one reliable provisional response is
/// unacknowledged at a time; later 18x wait (collapsed into one), and so does the 2xx.
struct reliable_uas {
    bool required = false;   ///< the caller's INVITE has Require: 100rel
    bool supported = false;  ///< it lists 100rel in Supported or Require
    uint32_t next_rseq = 0;  ///< RSeq of the next reliable provisional response

    // The reliable provisional response waiting for its PRACK.
    bool outstanding = false;
    uint32_t rseq = 0;
    sip_wire text;             ///< as sent, for its retransmissions
    unsigned interval = 0;     ///< the next retransmission interval (T1, doubling, no cap: RFC 3262 3)
    ms_t deadline = 0;         ///< 64*T1 after it was first sent
    timer_queue::id timer = 0;

    /// A later 18x that must go reliably too (sent once the outstanding one is PRACKed).
    bool queued = false;
    pending_response next;

    /// The 2xx for the caller, held until the outstanding reliable provisional is PRACKed.
    bool held = false;
    pending_response final_response;
    uint32_t held_other_cseq = 0;  ///< leg B's INVITE CSeq when the 2xx came (offerless: its ACK)

    /// The SDP a reliable provisional response gave the caller: the answer to its offer
    /// (RFC 3262 5); every later SDP on this INVITE repeats it (RFC 3261 13.2.1).
    std::string answer_sdp;

    /// Whether a provisional response (with SDP or without) goes to this caller reliably.
    bool wants_reliable(reliable_policy policy, bool has_sdp) const {
        if (required) {
            return true;
        }
        if (!supported) {
            return false;
        }
        return policy == reliable_policy::supported || (policy == reliable_policy::sdp && has_sdp);
    }
};

}  // namespace sf::control
