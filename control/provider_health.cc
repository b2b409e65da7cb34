#include "provider_health.hh"

namespace sf::control {

void provider_health::configure(const std::vector<provider_config>& providers, ms_t now) {
    std::unordered_map<std::string, state> next;
    for (const provider_config& p : providers) {
        state s;
        if (auto it = states_.find(p.name); it != states_.end()) {
            s = it->second;
        }
        if (s.ping_s != p.ping_s) {
            s.next_ping = now;  // a new interval starts with a probe
        }
        s.ping_s = p.ping_s;
        if (s.ping_s == 0) {
            s.up = true;  // nobody would probe it back up
        }
        next.emplace(p.name, s);
    }
    states_ = std::move(next);
}

bool provider_health::up(std::string_view provider) const {
    const auto it = states_.find(std::string(provider));
    return it == states_.end() || it->second.up;
}

bool provider_health::answered(std::string_view provider) {
    const auto it = states_.find(std::string(provider));
    if (it == states_.end() || it->second.up) {
        return false;
    }
    it->second.up = true;
    return true;
}

bool provider_health::unanswered(std::string_view provider) {
    const auto it = states_.find(std::string(provider));
    if (it == states_.end() || it->second.ping_s == 0 || !it->second.up) {
        return false;
    }
    it->second.up = false;
    ++it->second.downs;
    return true;
}

std::vector<std::string> provider_health::due_pings(ms_t now) {
    std::vector<std::string> due;
    for (auto& [name, s] : states_) {
        if (s.ping_s != 0 && s.next_ping <= now) {
            due.push_back(name);
            s.next_ping = now + 1000ull * s.ping_s;
        }
    }
    return due;
}

}  // namespace sf::control
