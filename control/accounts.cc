#include "accounts.hh"

#include <algorithm>
#include <charconv>

#include "config.hh"

namespace sf::control {

std::string parse_cidr(std::string_view text, cidr& out) {
    const auto slash = text.find('/');
    uint32_t addr = 0;
    if (!parse_ipv4_text(std::string(text.substr(0, slash)), addr)) {
        return "expected an IPv4 network A.B.C.D/N or an address, got '" + std::string(text) + "'";
    }
    unsigned prefix = 32;
    if (slash != std::string_view::npos) {
        const std::string_view ps = text.substr(slash + 1);
        auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), prefix);
        if (ps.empty() || ps.size() > 2 || ec != std::errc{} || p != ps.data() + ps.size() || prefix > 32) {
            return "expected a prefix length 0..32 after '/', got '" + std::string(text) + "'";
        }
    }
    cidr c;
    c.prefix = static_cast<uint8_t>(prefix);
    c.net = addr & c.mask();
    if (c.net != addr) {
        return "'" + std::string(text) + "' has host bits set (did you mean " + to_string(c) + "?)";
    }
    out = c;
    return {};
}

std::string to_string(const cidr& c) {
    return ipv4_to_string(c.net) + "/" + std::to_string(c.prefix);
}

bool account_config::has_user(std::string_view user) const {
    return std::find(users.begin(), users.end(), user) != users.end();
}

account_directory::account_directory(std::vector<account_config> accounts, std::vector<provider_config> providers)
    : accounts_(std::move(accounts)), providers_(std::move(providers)) {
    for (size_t i = 0; i < accounts_.size(); ++i) {
        const account_config& a = accounts_[i];
        account_names_.emplace(a.name, i);
        if (a.may_register) {
            for (const auto& u : a.users) {
                users_.emplace(u, i);
            }
        }
        for (const cidr& n : a.networks) {
            auto it = std::find_if(networks_.begin(), networks_.end(),
                                   [&](const by_prefix& b) { return b.prefix == n.prefix; });
            if (it == networks_.end()) {
                networks_.push_back(by_prefix{n.prefix, {}});
                it = networks_.end() - 1;
            }
            it->nets.emplace(n.net, i);  // the first account with this network keeps it
        }
    }
    std::sort(networks_.begin(), networks_.end(),
              [](const by_prefix& a, const by_prefix& b) { return a.prefix > b.prefix; });
    for (size_t i = 0; i < providers_.size(); ++i) {
        provider_names_.emplace(providers_[i].name, i);
    }
}

const account_config* account_directory::account(std::string_view name) const {
    auto it = account_names_.find(std::string(name));
    return it == account_names_.end() ? nullptr : &accounts_[it->second];
}

const account_config* account_directory::account_by_source(uint32_t addr) const {
    for (const by_prefix& b : networks_) {
        const uint32_t mask = b.prefix == 0 ? 0u : ~uint32_t{0} << (32 - b.prefix);
        auto it = b.nets.find(addr & mask);
        if (it != b.nets.end()) {
            return &accounts_[it->second];
        }
    }
    return nullptr;
}

const account_config* account_directory::account_by_user(std::string_view user) const {
    auto it = users_.find(std::string(user));
    return it == users_.end() ? nullptr : &accounts_[it->second];
}

const provider_config* account_directory::provider(std::string_view name) const {
    auto it = provider_names_.find(std::string(name));
    return it == provider_names_.end() ? nullptr : &providers_[it->second];
}

const provider_config* account_directory::provider_by_address(uint32_t addr, uint16_t port) const {
    for (const provider_config& p : providers_) {
        if (p.host == addr && (port == 0 || p.port == port)) {
            return &p;
        }
    }
    return nullptr;
}

}  // namespace sf::control
