#pragma once
/// @file
/// Transfer fraud control: deny by default what policy does not allow. Blind
/// transfers to premium or international numbers are a classic fraud (a callee
/// REFERs the caller to a number it earns from), so every transfer the appliance
/// handles passes these checks after the `transfer` dialplan's own decision.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "timer_queue.hh"
#include "token_bucket.hh"

namespace sf::control {

/// What the party that stays in a call is told of the party it is connected to after a transfer,
/// a Replaces, a pickup or a joined call: the P-Asserted-Identity of the re-INVITE or 200 that
/// connects them (RFC 3325 9.1, connected identity).
enum class connected_identity_mode : uint8_t {
    /// What is asserted of the new party: its destination's ci=, a trusted provider's own
    /// P-Asserted-Identity, an account's number. A number nobody asserted is not revealed (a
    /// transfer target's direct line, a mobile behind a trunk that keeps it to itself).
    asserted,
    dialled,  ///< that, else the user the appliance dialled it as
    none,     ///< nothing: the party that stays keeps showing whom it called or was called by
};

/// "dialled", "asserted", "none"; false (and `out` untouched) for anything else.
bool parse_connected_identity_mode(std::string_view text, connected_identity_mode& out);

struct transfer_policy_config {
    std::vector<std::string> deny_prefixes;   ///< Refer-To users starting with one of these are refused
    std::vector<std::string> allow_prefixes;  ///< when not empty, only users starting with one of these pass
    unsigned max_per_call = 3;                ///< transfers in one call (chains and loops end here)
    unsigned max_per_minute = 60;             ///< transfers the appliance starts per minute (REFER storms)
    unsigned accept_status = 202;             ///< a REFER handled here is accepted with 202, or 200 (RFC 7647)
    bool challenge_refer = false;             ///< REFERs must carry the call's account's digest credentials
    /// The party that stays hears one continuous RTP stream across a transfer (the dial option
    /// cm= decides per call; media_anchor::open_replacement).
    bool continuous_media = false;
    connected_identity_mode connected_identity = connected_identity_mode::asserted;
};

class transfer_policy {
public:
    explicit transfer_policy(transfer_policy_config cfg);

    /// Whether a transfer of a call that has had `transfers_so_far` to `target_user` may
    /// start at `now`. Returns nullptr when it may, else the reason (also counted).
    const char* check(std::string_view target_user, uint64_t transfers_so_far, ms_t now);
    /// The depth and rate part of check() alone, for transfers that dial nobody new (attended:
    /// two existing calls are joined, so the destination lists do not apply, but a REFER storm
    /// with Replaces is as much a storm).
    const char* check_rate(uint64_t transfers_so_far, ms_t now);

    /// Refusals by reason, for the management API.
    const std::map<std::string, uint64_t>& refusals() const { return refusals_; }
    const transfer_policy_config& config() const { return cfg_; }

private:
    const char* refuse(const char* why);

    transfer_policy_config cfg_;
    token_bucket per_minute_;  ///< max_per_minute tokens, refilled continuously
    std::map<std::string, uint64_t> refusals_;
};

}  // namespace sf::control
