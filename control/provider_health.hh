#pragma once
/// @file
/// Which providers answer (Kamailio's dispatcher probing, for trunks): a provider with `ping`
/// set is sent an OPTIONS every `ping` seconds; one that leaves an OPTIONS or an INVITE
/// unanswered is **down**, and the B2BUA skips it in dial strings (the next destination rings at
/// once instead of after a 32 s transaction timeout) until it answers anything again. Pure state
/// over names and a clock: the B2BUA sends the OPTIONS and reports what came back.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "accounts.hh"

namespace sf::control {

class provider_health {
public:
    using ms_t = uint64_t;

    /// The providers of a (re)loaded config: probing starts for those with `ping`; a provider
    /// that keeps its name keeps its state, the others are forgotten.
    void configure(const std::vector<provider_config>& providers, ms_t now);

    /// False only for a probed provider that left its last OPTIONS or INVITE unanswered.
    bool up(std::string_view provider) const;

    /// Any response from the provider (to an OPTIONS or an INVITE, whatever its status): it lives.
    /// True when that brought it back up.
    bool answered(std::string_view provider);
    /// An OPTIONS or INVITE it did not answer in time. True when that took it down (only a
    /// probed provider goes down: nothing else would ever bring it back).
    bool unanswered(std::string_view provider);

    /// The probed providers whose OPTIONS is due at `now`, each then due `ping` seconds later.
    std::vector<std::string> due_pings(ms_t now);

    struct state {
        bool up = true;
        unsigned ping_s = 0;
        ms_t next_ping = 0;
        uint64_t downs = 0;  ///< times it went down
    };
    const std::unordered_map<std::string, state>& states() const { return states_; }

private:
    std::unordered_map<std::string, state> states_;
};

}  // namespace sf::control
