#include "transfer_policy.hh"

#include <algorithm>

namespace sf::control {

bool parse_connected_identity_mode(std::string_view text, connected_identity_mode& out) {
    static constexpr std::pair<std::string_view, connected_identity_mode> names[] = {
        {"dialled", connected_identity_mode::dialled},
        {"asserted", connected_identity_mode::asserted},
        {"none", connected_identity_mode::none},
    };
    for (const auto& [name, mode] : names) {
        if (text == name) {
            out = mode;
            return true;
        }
    }
    return false;
}

transfer_policy::transfer_policy(transfer_policy_config cfg)
    : cfg_(std::move(cfg)), per_minute_(static_cast<double>(cfg_.max_per_minute), 60'000) {}

const char* transfer_policy::refuse(const char* why) {
    ++refusals_[why];
    return why;
}

const char* transfer_policy::check(std::string_view user, uint64_t transfers_so_far, ms_t now) {
    auto starts_with = [&](const std::string& p) { return user.substr(0, p.size()) == p; };
    if (std::any_of(cfg_.deny_prefixes.begin(), cfg_.deny_prefixes.end(), starts_with)) {
        return refuse("denied_prefix");
    }
    if (!cfg_.allow_prefixes.empty() &&
        std::none_of(cfg_.allow_prefixes.begin(), cfg_.allow_prefixes.end(), starts_with)) {
        return refuse("not_allowed");
    }
    return check_rate(transfers_so_far, now);
}

const char* transfer_policy::check_rate(uint64_t transfers_so_far, ms_t now) {
    if (transfers_so_far >= cfg_.max_per_call) {
        return refuse("too_many_in_call");
    }
    if (!per_minute_.take(now)) {
        return refuse("rate_limited");
    }
    return nullptr;
}

}  // namespace sf::control
