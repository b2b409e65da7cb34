#pragma once
/// @file
/// Call detail records: one JSON object per line, appended to the configured file
/// when a call ends, and the most recent ones kept for the management API.

#include <chrono>
#include <cstdint>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "call_quality.hh"

namespace sf::control {

/// What one direction of a call relayed. `packets`/`bytes`: forwarded by the appliance.
/// `rtp_expected`/`rtp_received`: RTP packets the sender sent (by sequence number) and those that
/// reached the appliance, so lost() is the loss between the sender and the appliance (the loss
/// after it, towards the receiver, is in the receiver's RTCP: `receiver`).
struct rtp_counts {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t rtp_expected = 0;
    uint64_t rtp_received = 0;
    /// What the party receiving this direction reported in RTCP (loss and jitter end to end),
    /// and the round trips between the appliance and that party.
    rtcp_figures receiver;

    /// Duplicates can make received exceed expected over a segment: that is no loss, not a gain.
    uint64_t lost() const { return rtp_expected > rtp_received ? rtp_expected - rtp_received : 0; }
    /// Counts of a segment: these (cumulative, now) minus those at the segment's start.
    rtp_counts operator-(const rtp_counts& base) const {
        return {packets - base.packets, bytes - base.bytes, rtp_expected - base.rtp_expected,
                rtp_received - base.rtp_received, receiver - base.receiver};
    }
    rtp_counts& operator+=(const rtp_counts& o) {
        packets += o.packets;
        bytes += o.bytes;
        rtp_expected += o.rtp_expected;
        rtp_received += o.rtp_received;
        receiver += o.receiver;
        return *this;
    }
};

struct call_record {
    using time_point = std::chrono::system_clock::time_point;
    std::string call_id;    ///< the caller's leg
    std::string b_call_id;  ///< the leg the appliance placed
    std::string from;       ///< caller's From URI
    std::string to;         ///< called Request-URI
    std::string caller;     ///< caller's signalling address
    std::string callee;     ///< where the call was sent ("" if never routed)
    std::string provider;   ///< the [provider.NAME] the placed leg went to ("" when none: an address, a user@local)
    unsigned result = 0;    ///< final status the caller got
    std::string reason;
    time_point start;
    std::optional<time_point> answer;
    time_point end;
    std::string hangup;     ///< "caller", "callee", "appliance" or "none" (never answered)
    rtp_counts caller_to_callee;
    rtp_counts callee_to_caller;
    std::string codec;  ///< the first audio stream's codec as last negotiated ("PCMU"), "" when none
    bool t38 = false;   ///< the segment switched to T.38 fax (an image stream over UDPTL)
    // Transfer chain: every transfer ends one segment (hangup "transfer") and starts the next.
    unsigned segment = 1;         ///< 1 for the call as placed, +1 per completed transfer
    std::string parent;           ///< b_call_id of the previous segment ("" for the first)
    std::string transferred_by;   ///< who sent the REFER that started this segment
    std::string billed_account;   ///< the transferor's account pays for the new leg
    std::string picked_up;        ///< the ringing destination a pickup answered for ("" when none)
    std::string identity;         ///< the caller's asserted identity (RFC 3325), "" when none
    std::string privacy;          ///< the privacy the caller asked for ("id;header"...), "" when none
    /// STIR/SHAKEN verification of the call (a provider's with verify_identity): the verstat
    /// ("TN-Validation-Passed"...) and, when it passed, the PASSporT's attestation; "" otherwise.
    std::string verstat;
    std::string attest;
    /// When it passed: the signer's SPC (its certificate's TNAuthList) and the PASSporT's
    /// origid, what a traceback asks for; "" otherwise.
    std::string signer_spc;
    std::string origid;
    /// When it passed through div PASSporTs (RFC 8946): the number it was signed for, which a
    /// carrier on the way diverted it from; "" otherwise.
    std::string diverted_from;
};

std::string to_json(const call_record& r);

class json_writer;
/// One direction of a call as the CDR and the call list show it: packets, bytes, lost (before
/// the appliance), `rtcp` (what the receiver reported; null without reports) and `mos` (the
/// estimate; null without reports or for a codec the E-model does not rate). `other` is the
/// opposite direction: its receiver's round trips complete the path.
void write_direction(json_writer& j, const char* name, const rtp_counts& c, const rtp_counts& other,
                     const std::string& codec);

class cdr_writer {
public:
    static constexpr size_t keep = 256;
    /// `path` empty: records are only kept in memory. When the file reaches `max_bytes`
    /// (0: never) it is rotated: path -> path.1 -> ... -> path.<files> (the oldest dropped).
    explicit cdr_writer(const std::string& path, uint64_t max_bytes = 0, unsigned files = 5);
    void write(const call_record& r);
    const std::deque<std::string>& recent() const { return recent_; }
    uint64_t written() const { return written_; }

    uint64_t rotations() const { return rotations_; }
    /// Directions of the records written that have a MOS (estimate_mos), and those of them below
    /// `poor_mos`: G.107 Annex B's R 70, "many users dissatisfied" (MOS ~3.6).
    static constexpr double poor_mos = 3.6;
    /// Rated record directions: how many, how many poor, their MOS summed (for a mean).
    struct quality_tally {
        uint64_t rated = 0;
        uint64_t poor = 0;
        double mos_sum = 0;
        double recent_mos = 0;  ///< each new direction weighs 1/16 (the first: all)
    };
    uint64_t rated() const { return all_.rated; }
    uint64_t poor() const { return all_.poor; }
    /// The same per provider the records' calls were placed to (call_record::provider), for the
    /// providers that have a rated direction: a trunk's quality at a glance.
    const std::map<std::string, quality_tally, std::less<>>& quality_by_provider() const { return by_provider_; }

private:
    void rotate();

    std::string path_;
    uint64_t max_bytes_ = 0;
    unsigned files_ = 5;
    uint64_t size_ = 0;
    uint64_t rotations_ = 0;
    std::ofstream file_;
    std::deque<std::string> recent_;
    uint64_t written_ = 0;
    quality_tally all_;
    std::map<std::string, quality_tally, std::less<>> by_provider_;
};

}  // namespace sf::control
