#include "config.hh"

#include "stir_shaken.hh"
#include "stir_verify.hh"

#include <boost/program_options/parsers.hpp>
#include <boost/program_options/options_description.hpp>

#include <algorithm>
#include <chrono>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "asserted_identity.hh"
#include "dial_string.hh"

namespace sf::control {

namespace po = boost::program_options;

bool parse_ipv4_text(const std::string& text, uint32_t& out) {
    uint32_t addr = 0;
    const char* p = text.data();
    const char* end = text.data() + text.size();
    for (int i = 0; i < 4; ++i) {
        unsigned v = 0;
        auto [next, ec] = std::from_chars(p, end, v);
        if (ec != std::errc{} || next == p || next - p > 3 || v > 255) {
            return false;
        }
        addr = (addr << 8) | v;
        p = next;
        if (i < 3) {
            if (p == end || *p != '.') {
                return false;
            }
            ++p;
        }
    }
    if (p != end) {
        return false;
    }
    out = addr;
    return true;
}

bool parse_ipv4_port_text(const std::string& text, uint32_t& addr, uint16_t& port) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) {
        return false;
    }
    uint32_t a = 0;
    unsigned p = 0;
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    auto [next, ec] = std::from_chars(first, last, p);
    if (!parse_ipv4_text(text.substr(0, colon), a) || first == last || ec != std::errc{} || next != last || p == 0 ||
        p > 65535) {
        return false;
    }
    addr = a;
    port = static_cast<uint16_t>(p);
    return true;
}

std::string ipv4_to_string(uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." + std::to_string((a >> 8) & 0xff) +
           "." + std::to_string(a & 0xff);
}

namespace {

// Reads typed values out of the flat key -> value map, recording which keys were used
// so that anything left over is reported as unknown.
class reader {
public:
    reader(std::map<std::string, std::string> values, std::string origin)
        : values_(std::move(values)), origin_(std::move(origin)) {}

    [[noreturn]] void fail(const std::string& key, const std::string& what) const {
        throw config_error(origin_ + ": " + key + ": " + what);
    }

    bool has(const std::string& key) const { return values_.count(key) != 0; }

    std::string str(const std::string& key, const std::string& dflt, bool required = false) {
        auto it = values_.find(key);
        used_.insert(key);
        if (it == values_.end()) {
            if (required) {
                fail(key, "missing (required)");
            }
            return dflt;
        }
        if (required && it->second.empty()) {
            fail(key, "required, got an empty value");  // e.g. `default = # ...`: the comment is not a value
        }
        return it->second;
    }

    uint64_t num(const std::string& key, uint64_t dflt, uint64_t min, uint64_t max) {
        auto it = values_.find(key);
        used_.insert(key);
        if (it == values_.end()) {
            return dflt;
        }
        const std::string& s = it->second;
        uint64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) {
            fail(key, "expected an integer between " + std::to_string(min) + " and " + std::to_string(max) +
                          ", got '" + s + "'");
        }
        if (v < min || v > max) {
            fail(key, "expected an integer between " + std::to_string(min) + " and " + std::to_string(max) +
                          ", got " + s);
        }
        return v;
    }

    void check_all_used() const {
        for (const auto& [k, v] : values_) {
            if (used_.count(k) == 0) {
                fail(k, "unknown key");
            }
        }
    }

    /// Port section names in the order the file gives them (port order is realm order).
    std::vector<std::string> port_names(const std::vector<std::string>& file_order) const {
        std::vector<std::string> names;
        for (const auto& k : file_order) {
            if (k.rfind("port.", 0) == 0) {
                const auto dot = k.find('.', 5);
                if (dot == std::string::npos) {
                    fail(k, "expected a key inside a [port.NAME] section");
                }
                std::string name = k.substr(5, dot - 5);
                if (std::find(names.begin(), names.end(), name) == names.end()) {
                    names.push_back(name);
                }
            }
        }
        return names;
    }

    /// Names of the [PREFIX.NAME] sections (`prefix` without the dot), in file order.
    std::vector<std::string> section_names(const std::string& prefix,
                                           const std::vector<std::string>& file_order) const {
        std::vector<std::string> names;
        const std::string pre = prefix + ".";
        for (const auto& k : file_order) {
            if (k.rfind(pre, 0) == 0) {
                const auto dot = k.find('.', pre.size());
                if (dot == std::string::npos) {
                    fail(k, "expected a key inside a [" + prefix + ".NAME] section");
                }
                if (k.find('.', dot + 1) != std::string::npos) {
                    fail(k, "expected a [" + prefix + ".NAME] section whose NAME has no '.'");
                }
                std::string name = k.substr(pre.size(), dot - pre.size());
                if (std::find(names.begin(), names.end(), name) == names.end()) {
                    names.push_back(name);
                }
            }
        }
        return names;
    }

    bool flag(const std::string& key, bool dflt) {
        const std::string v = str(key, dflt ? "true" : "false");
        if (v == "true") {
            return true;
        }
        if (v == "false") {
            return false;
        }
        fail(key, "expected true or false, got '" + v + "'");
    }

private:
    std::map<std::string, std::string> values_;
    std::set<std::string> used_;
    std::string origin_;
};

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) {
        return "";
    }
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

std::string resolve(const std::string& base_dir, const std::string& p) {
    if (p.empty() || p[0] == '/' || base_dir.empty()) {
        return p;
    }
    return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

// Whether `path` names a regular file (a dialplan that can be loaded). Not the throwing
// std::filesystem::is_regular_file(path): it throws filesystem_error when stat() fails other
// than with "no such file" (a name over NAME_MAX, a symlink loop, a folder it may not search),
// past the callers' `catch (config_error)`: `sipferry --check` ended in std::terminate and a
// reload (SIGHUP, API) stopped the appliance instead of refusing the config
// (tests/fuzz/fuzz_config). Such a path is no readable dialplan: reported like a missing one.
bool regular_file_exists(const std::string& path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec);
}

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > 15) {
        return false;
    }
    for (char c : s) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

// Names of accounts, providers and dialplans: 1-32 letters, digits, '_' or '-'.
bool valid_entity_name(const std::string& s) {
    if (s.empty() || s.size() > 32) {
        return false;
    }
    for (char c : s) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

// A host name or dotted IPv4 address (what goes after '@' in a SIP URI we build).
bool valid_host(const std::string& s) {
    if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-') {
        return false;
    }
    for (char c : s) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

// A SIP user name a phone registers as: 1-64 characters of the URI user part, without
// the list separator.
bool valid_user(const std::string& s) {
    if (s.empty() || s.size() > 64) {
        return false;
    }
    for (char c : s) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-_.!~*'()&=+$;?/").find(c) !=
                                                                 std::string_view::npos)) {
            return false;
        }
    }
    return true;
}

bool printable(const std::string& s, std::string_view also_refused = {}) {
    for (char c : s) {
        if (c < 0x20 || c == 0x7f || also_refused.find(c) != std::string_view::npos) {
            return false;
        }
    }
    return true;
}

bool is_hex(const std::string& s, size_t n) {
    return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) != 0;
           });
}

std::vector<std::string> split_list(const std::string& v) {
    std::vector<std::string> out;
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) {
        item = trim(item);
        if (!item.empty()) {
            out.push_back(item);
        }
    }
    return out;
}

// An account's or provider's `codecs` and `media_types` (PRE: "account.NAME."): comma lists of
// RTP encoding names and of media types (as co= and mt=); absent: any.
media_policy media_lists(reader& r, const std::string& pre) {
    media_policy out;
    if (r.has(pre + "codecs")) {
        if (const std::string why = parse_codec_list(r.str(pre + "codecs", ""), ',', out.codecs); !why.empty()) {
            r.fail(pre + "codecs", "expected a comma list of codec names (PCMA, PCMU, telephone-event): " + why);
        }
    }
    if (r.has(pre + "media_types")) {
        if (const std::string why = parse_media_type_list(r.str(pre + "media_types", ""), ',', out.types);
            !why.empty()) {
            r.fail(pre + "media_types", "expected a comma list of media types (audio, image): " + why);
        }
    }
    return out;
}

// An account's or provider's `diversion_headers`: how a diverted call to it says so (dh=).
diversion_headers diversion_headers_of(reader& r, const std::string& pre) {
    diversion_headers out = diversion_headers::diversion;
    if (const std::string via = r.str(pre + "diversion_headers", "diversion"); !parse_diversion_headers(via, out)) {
        r.fail(pre + "diversion_headers", "expected diversion, history-info or both, got '" + via + "'");
    }
    return out;
}

std::string lower_text(std::string s) {
    for (char& ch : s) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    return s;
}

// [registrar], [account.NAME] and [provider.NAME] (docs/accounts.md). Runs after [sip],
// the ports and the dialplans, which accounts and providers refer to.
void parse_accounts(reader& r, const std::vector<std::string>& order, config& c) {
    auto& rg = c.registrar;
    rg.min_expires = static_cast<unsigned>(r.num("registrar.min_expires", 60, 1, 86'400));
    rg.max_expires = static_cast<unsigned>(r.num("registrar.max_expires", std::max(3600u, rg.min_expires),
                                                 rg.min_expires, 604'800));
    rg.default_expires = static_cast<unsigned>(r.num("registrar.default_expires",
                                                     std::clamp(3600u, rg.min_expires, rg.max_expires),
                                                     rg.min_expires, rg.max_expires));
    rg.max_contacts_per_user = static_cast<unsigned>(r.num("registrar.max_contacts_per_user", 10, 1, 1000));
    rg.keepalive_s = static_cast<unsigned>(r.num("registrar.keepalive_s", 30, 0, 3600));
    rg.keepalive_failures = static_cast<unsigned>(r.num("registrar.keepalive_failures", 3, 1, 100));
    rg.max_bindings = static_cast<unsigned>(r.num("registrar.max_bindings", 100'000, 1, 10'000'000));

    // A key naming a [port.NAME] section: its index in port (realm) order, -1 when absent.
    auto port_index = [&](const std::string& key) {
        const std::string name = r.str(key, "");
        if (name.empty()) {
            return -1;
        }
        const auto& ports = c.dataplane.ports;
        auto it = std::find_if(ports.begin(), ports.end(), [&](const auto& pc) { return pc.name == name; });
        if (it == ports.end()) {
            r.fail(key, "expected the name of a [port.NAME] section, got '" + name + "'");
        }
        return static_cast<int>(it - ports.begin());
    };
    std::map<std::string, std::string> user_owner;                  // user -> account
    std::map<std::pair<uint32_t, uint8_t>, std::string> net_owner;  // network -> account
    for (const auto& name : r.section_names("account", order)) {
        const std::string pre = "account." + name + ".";
        if (!valid_entity_name(name)) {
            r.fail("account." + name, "expected a name of 1-32 letters, digits, '_' or '-'");
        }
        account_config a;
        a.name = name;
        a.password = r.str(pre + "password", "");
        if (r.has(pre + "password") && (a.password.empty() || !printable(a.password))) {
            r.fail(pre + "password", "expected a non-empty password of printable characters");
        }
        a.ha1_md5 = lower_text(r.str(pre + "ha1_md5", ""));
        if (r.has(pre + "ha1_md5") && !is_hex(a.ha1_md5, 32)) {
            r.fail(pre + "ha1_md5", "expected 32 hex digits, MD5 of '" + name + ":realm:password'");
        }
        a.ha1_sha256 = lower_text(r.str(pre + "ha1_sha256", ""));
        if (r.has(pre + "ha1_sha256") && !is_hex(a.ha1_sha256, 64)) {
            r.fail(pre + "ha1_sha256", "expected 64 hex digits, SHA-256 of '" + name + ":realm:password'");
        }
        for (const auto& text : split_list(r.str(pre + "networks", ""))) {
            cidr n;
            if (const std::string err = parse_cidr(text, n); !err.empty()) {
                r.fail(pre + "networks", err);
            }
            auto [it, fresh] = net_owner.emplace(std::pair{n.net, n.prefix}, name);
            if (!fresh) {
                r.fail(pre + "networks", to_string(n) + " is already account." + it->second + "'s");
            }
            a.networks.push_back(n);
        }
        if (!a.has_credentials() && a.networks.empty()) {
            r.fail(pre + "password", "expected password, ha1_md5 or ha1_sha256 (or networks for a trunk customer)");
        }
        a.realm = r.str(pre + "realm", c.sip.domain.empty() ? "sipferry" : c.sip.domain);
        if (a.realm.empty() || !printable(a.realm, "\"\\")) {
            r.fail(pre + "realm", "expected a non-empty realm of printable characters without '\"' or '\\'");
        }
        auto dialplan = [&](const std::string& key, const std::string& dflt) {
            std::string v = r.str(key, dflt);
            if (!v.empty() && c.dialplan.named.count(v) == 0) {
                r.fail(key, "expected the name of a declared dialplan ([dialplan] default/transfer or "
                            "[dialplans] NAME), '" + v + "' is not declared");
            }
            return v;
        };
        a.dialplan = dialplan(pre + "dialplan", "default");
        if (a.dialplan.empty()) {
            r.fail(pre + "dialplan", "expected the name of a declared dialplan");
        }
        a.transfer_dialplan = dialplan(pre + "transfer_dialplan", "");
        a.max_calls = static_cast<unsigned>(r.num(pre + "max_calls", 0, 0, 1'000'000));
        a.max_transfers_per_minute = static_cast<unsigned>(r.num(pre + "max_transfers_per_minute", 0, 0, 1'000'000));
        a.max_calls_per_second = static_cast<unsigned>(r.num(pre + "max_calls_per_second", 0, 0, 100'000));
        a.media_realm = port_index(pre + "media_realm");
        a.media = media_lists(r, pre);
        a.diversion_via = diversion_headers_of(r, pre);
        a.may_register = r.flag(pre + "register", false);
        a.users = split_list(r.str(pre + "users", ""));
        if (!a.users.empty() && !a.may_register) {
            r.fail(pre + "users", "only with register = true");
        }
        if (a.may_register && a.users.empty()) {
            a.users.push_back(name);
        }
        for (size_t i = 0; i < a.users.size(); ++i) {
            const std::string& u = a.users[i];
            if (!valid_user(u)) {
                r.fail(pre + "users", "expected SIP user names (letters, digits, -_.!~*'()&=+$;?/), got '" + u + "'");
            }
            auto [it, fresh] = user_owner.emplace(u, name);
            if (!fresh) {
                r.fail(pre + "users", "user '" + u + "' already registers under account." + it->second);
            }
        }
        a.identity = r.str(pre + "identity", "");
        if (r.has(pre + "identity") && !valid_identity_user(a.identity)) {
            r.fail(pre + "identity", "expected a SIP user (1-64 letters, digits, -_.!~*'()&=+$,;?/%#), got '" +
                                         a.identity + "'");
        }
        a.identities = split_list(r.str(pre + "identities", ""));
        if (!a.identities.empty() && a.identity.empty()) {
            r.fail(pre + "identities", "only with identity (the one asserted when the caller asks for none of these)");
        }
        for (const std::string& u : a.identities) {
            const std::string_view stem = u.ends_with('*') ? std::string_view(u).substr(0, u.size() - 1) : u;
            if (!valid_identity_user(stem) || stem.find('*') != std::string_view::npos) {
                r.fail(pre + "identities", "expected SIP users or prefixes ending in '*', got '" + u + "'");
            }
        }
        c.accounts.push_back(std::move(a));
    }

    for (const auto& name : r.section_names("provider", order)) {
        const std::string pre = "provider." + name + ".";
        if (!valid_entity_name(name)) {
            r.fail("provider." + name, "expected a name of 1-32 letters, digits, '_' or '-'");
        }
        if (name == "local") {
            r.fail("provider." + name, "'local' is reserved for registered users (user@local)");
        }
        provider_config p;
        p.name = name;
        const std::string host = r.str(pre + "host", "", true);
        if (!parse_ipv4_text(host, p.host)) {
            r.fail(pre + "host", "expected an IPv4 address, got '" + host + "'");
        }
        p.port = static_cast<uint16_t>(r.num(pre + "port", 5060, 1, 65535));
        p.realm_name = r.str(pre + "realm", "");
        p.realm = port_index(pre + "realm");
        p.media_realm = port_index(pre + "media_realm");
        p.username = r.str(pre + "username", "");
        if (r.has(pre + "username") && (p.username.empty() || !printable(p.username, " \"\\:@"))) {
            r.fail(pre + "username", "expected a non-empty user name without spaces, quotes, ':' or '@'");
        }
        p.password = r.str(pre + "password", "");
        if (r.has(pre + "password") && (p.password.empty() || !printable(p.password))) {
            r.fail(pre + "password", "expected a non-empty password of printable characters");
        }
        if (!p.password.empty() && p.username.empty()) {
            r.fail(pre + "username", "required with password");
        }
        p.from_host = r.str(pre + "from_host", ipv4_to_string(p.host));
        if (!valid_host(p.from_host)) {
            r.fail(pre + "from_host", "expected a host name or IPv4 address, got '" + p.from_host + "'");
        }
        p.media = media_lists(r, pre);
        p.diversion_via = diversion_headers_of(r, pre);
        p.registers = r.flag(pre + "register", false);
        p.trust_identity = r.flag(pre + "trust_identity", false);
        p.sign_identity = r.flag(pre + "sign_identity", false);
        if (p.sign_identity && c.stir.key_file.empty()) {
            r.fail(pre + "sign_identity", "needs [stir] key and x5u (the carrier's signing key and certificate URL)");
        }
        // true, or what also happens to a call that fails: reject, require (no Identity: 428 too).
        const std::string verify = r.str(pre + "verify_identity", "false");
        if (verify != "true" && verify != "false" && verify != "reject" && verify != "require") {
            r.fail(pre + "verify_identity", "expected true, false, reject or require, got '" + verify + "'");
        }
        p.verify_identity = verify != "false";
        p.reject_failed_identity = verify == "reject" || verify == "require";
        p.require_identity = verify == "require";
        if (p.verify_identity && c.stir.ca_file.empty()) {
            r.fail(pre + "verify_identity", "needs [stir] ca (the roots a carrier's certificate must chain to)");
        }
        p.ping_s = static_cast<unsigned>(r.num(pre + "ping", 0, 0, 3600));
        p.response_timeout_s = static_cast<unsigned>(r.num(pre + "response_timeout", 0, 0, 32));
        p.max_calls = static_cast<unsigned>(r.num(pre + "max_calls", 0, 0, 1'000'000));
        p.register_expiry = static_cast<unsigned>(r.num(pre + "register_expiry", 3600, 60, 86'400));
        if (p.registers && p.username.empty()) {
            r.fail(pre + "username", "required with register = true (the user registered at the provider)");
        }
        const std::string transport = r.str(pre + "transport", "udp");
        if (lower_text(transport) != "udp") {
            r.fail(pre + "transport", "expected udp (the only transport), got '" + transport + "'");
        }
        c.providers.push_back(std::move(p));
    }
}

}  // namespace

config parse_config(const std::string& text, const std::string& origin, const std::string& base_dir) {
    std::map<std::string, std::string> values;
    std::vector<std::string> order;
    try {
        std::istringstream in(text);
        po::options_description none;
        const po::parsed_options parsed = po::parse_config_file(in, none, true);
        for (const auto& opt : parsed.options) {
            if (values.count(opt.string_key) != 0) {
                throw config_error(origin + ": " + opt.string_key + ": given twice");
            }
            values[opt.string_key] = opt.value.empty() ? std::string() : trim(opt.value.front());
            order.push_back(opt.string_key);
        }
    } catch (const po::invalid_config_file_syntax& e) {
        // Not e.what(): Boost replaces its %placeholders% in the message until none is left, and a
        // line holding one ("%invalid_line%") makes that loop grow the string forever: a config
        // line would hang start and reload (found by fuzz_config). The line itself is in tokens().
        throw config_error(origin + ": syntax: the line '" + e.tokens() + "' is neither 'key = value' nor '[section]'");
    } catch (const po::error_with_option_name& e) {
        throw config_error(origin + ": syntax: at option '" + e.get_option_name() + "'");
    } catch (const po::error& e) {
        throw config_error(origin + ": syntax: " + e.what());
    }

    reader r(values, origin);
    config c;
    c.path = origin;
    auto& dp = c.dataplane;

    // [eal]
    {
        std::istringstream args(r.str("eal.args", "", true));
        std::string a;
        while (args >> a) {
            dp.eal_args.push_back(a);
        }
    }
    // [dataplane]
    dp.workers = static_cast<unsigned>(r.num("dataplane.workers", 1, 1, 64));
    dp.burst = static_cast<unsigned>(r.num("dataplane.burst", 32, 1, 64));
    dp.idle_polls = static_cast<unsigned>(r.num("dataplane.idle_polls", 64, 1, 1'000'000));
    dp.idle_sleep_us = static_cast<unsigned>(r.num("dataplane.idle_sleep_us", 0, 0, 100'000));
    {
        const std::string policy = r.str("dataplane.worker_scheduling", "normal");
        const auto p = dp::parse_scheduling_policy(policy);
        if (!p) {
            r.fail("dataplane.worker_scheduling", "expected normal, fifo or rr, got '" + policy + "'");
        }
        dp.scheduling.policy = *p;
        if (*p == dp::scheduling_policy::normal) {
            if (r.has("dataplane.worker_priority")) {
                r.fail("dataplane.worker_priority", "only with worker_scheduling fifo or rr");
            }
        } else {
            dp.scheduling.priority = static_cast<unsigned>(
                r.num("dataplane.worker_priority", dp::default_worker_priority, 1, dp::max_worker_priority));
        }
    }
    dp.mbufs = static_cast<unsigned>(r.num("dataplane.mbufs", 8191, 1023, 16'777'215));
    dp.mbuf_data_room = static_cast<unsigned>(r.num("dataplane.mbuf_data_room", 2048, 2048, 65000));
    // SIP messages the control thread builds (kept for retransmissions): segments of 2 KiB.
    dp.sip_mbufs = static_cast<unsigned>(r.num("dataplane.sip_mbufs", 16383, 1023, 16'777'215));
    dp.relay_capacity = static_cast<uint32_t>(r.num("dataplane.relay_entries", 65536, 1024, 16'777'216));
    // Per-source SIP rate limit in each worker (0 = unlimited); the burst defaults to twice the rate.
    dp.sip_rate_per_source = static_cast<uint32_t>(r.num("dataplane.sip_rate_per_source", 200, 0, 1'000'000));
    dp.sip_burst_per_source = static_cast<uint32_t>(r.num(
        "dataplane.sip_burst_per_source", std::clamp<uint64_t>(2 * uint64_t{dp.sip_rate_per_source}, 1, 1'000'000),
        1, 1'000'000));
    dp.sip_sources_tracked = static_cast<uint32_t>(r.num("dataplane.sip_sources_tracked", 65536, 16, 1'048'576));

    // [port.NAME]
    const auto names = r.port_names(order);
    if (names.empty()) {
        r.fail("port.NAME", "at least one [port.NAME] section is required");
    }
    if (names.size() > dp::worker_stats::max_ports) {
        r.fail("port." + names.back(), "at most 8 ports are supported");
    }
    for (const auto& name : names) {
        const std::string pre = "port." + name + ".";
        if (!valid_name(name)) {
            r.fail("port." + name, "expected a name of 1-15 letters, digits, '_' or '-'");
        }
        dp::port_config pc;
        pc.name = name;
        pc.device = r.str(pre + "device", "", true);
        if (pc.device.empty()) {
            r.fail(pre + "device", "expected a DPDK device (vdev spec or PCI address)");
        }
        const std::string addr = r.str(pre + "address", "", true);
        const auto slash = addr.find('/');
        if (slash == std::string::npos || !parse_ipv4_text(addr.substr(0, slash), pc.addr)) {
            r.fail(pre + "address", "expected IPv4-address/prefix-length, e.g. 192.0.2.1/24, got '" + addr + "'");
        }
        unsigned prefix = 0;
        const std::string ps = addr.substr(slash + 1);
        auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), prefix);
        if (ec != std::errc{} || p != ps.data() + ps.size() || ps.empty() || prefix > 32 || prefix < 1) {
            r.fail(pre + "address", "expected a prefix length 1..32 after '/', got '" + ps + "'");
        }
        pc.prefix = static_cast<uint8_t>(prefix);
        const std::string gw = r.str(pre + "gateway", "");
        if (!gw.empty() && !parse_ipv4_text(gw, pc.gateway)) {
            r.fail(pre + "gateway", "expected an IPv4 address or nothing, got '" + gw + "'");
        }
        // More addresses for relayed media (A, or A-B inclusive), on the port's subnet: each one
        // brings the whole relay port range again (a port's calls are bounded by its addresses).
        if (const std::string media = r.str(pre + "media_addresses", ""); !media.empty()) {
            const auto dash = media.find('-');
            uint32_t first = 0, last = 0;
            const bool ok = parse_ipv4_text(trim(media.substr(0, dash)), first) &&
                            parse_ipv4_text(dash == std::string::npos ? trim(media) : trim(media.substr(dash + 1)),
                                            last);
            const uint32_t mask = ~uint32_t{0} << (32 - pc.prefix);
            if (!ok || last < first) {
                r.fail(pre + "media_addresses", "expected an IPv4 address or a range FIRST-LAST, got '" + media + "'");
            }
            if ((first & mask) != (pc.addr & mask) || (last & mask) != (pc.addr & mask)) {
                r.fail(pre + "media_addresses", "expected addresses inside the port's subnet (" + addr + ")");
            }
            if (last - first >= 1024) {
                r.fail(pre + "media_addresses", "expected at most 1024 addresses");
            }
            if (pc.addr >= first && pc.addr <= last) {
                r.fail(pre + "media_addresses", "the port's own address carries media anyway; leave it out");
            }
            pc.media_first = first;
            pc.media_count = last - first + 1;
        }
        // Ring depths: af_xdp's socket rings must be powers of two, NIC drivers round to their own
        // steps anyway; an RX ring holds its mbufs while it waits, so the pool must outnumber them.
        const auto ring = [&](const std::string& key) {
            const uint64_t n = r.num(key, 1024, 64, 16384);
            if ((n & (n - 1)) != 0) {
                r.fail(key, "expected a power of two (64..16384), got " + std::to_string(n));
            }
            return static_cast<uint16_t>(n);
        };
        pc.rx_descriptors = ring(pre + "rx_descriptors");
        pc.tx_descriptors = ring(pre + "tx_descriptors");
        for (const auto& other : dp.ports) {
            if (other.addr == pc.addr) {
                r.fail(pre + "address", "same address as port." + other.name);
            }
            const auto in_range = [](uint32_t a, const dp::port_config& q) { return a - q.media_first < q.media_count; };
            const bool ranges_meet = pc.media_count != 0 && other.media_count != 0 &&
                                     pc.media_first <= other.media_first + (other.media_count - 1) &&
                                     other.media_first <= pc.media_first + (pc.media_count - 1);
            if (in_range(pc.addr, other) || in_range(other.addr, pc) || ranges_meet) {
                r.fail(pre + "media_addresses", "overlaps the addresses of port." + other.name);
            }
        }
        dp.ports.push_back(pc);
    }
    // Every worker has an RX queue on every port, and a full RX ring holds an mbuf per descriptor.
    uint64_t in_rx_rings = 0;
    for (const auto& pc : dp.ports) {
        in_rx_rings += uint64_t{pc.rx_descriptors} * dp.workers;
    }
    if (in_rx_rings >= dp.mbufs) {
        r.fail("dataplane.mbufs", "expected more mbufs than the RX rings hold (" + std::to_string(in_rx_rings) +
                                      ": rx_descriptors x workers, every port), got " + std::to_string(dp.mbufs));
    }

    // [sip]
    c.sip.port = static_cast<uint16_t>(r.num("sip.port", 5060, 1, 65535));
    dp.sip_port = c.sip.port;
    c.sip.t1_ms = static_cast<unsigned>(r.num("sip.t1_ms", 500, 10, 10'000));
    c.sip.t2_ms = static_cast<unsigned>(r.num("sip.t2_ms", 4000, c.sip.t1_ms, 60'000));
    c.sip.t4_ms = static_cast<unsigned>(r.num("sip.t4_ms", 5000, 10, 60'000));
    c.sip.max_forwards = static_cast<unsigned>(r.num("sip.max_forwards", 70, 1, 255));
    c.sip.user_agent = r.str("sip.user_agent", "sipferry");
    for (char ch : c.sip.user_agent) {
        if (ch < 0x20 || ch == 0x7f) {
            r.fail("sip.user_agent", "expected printable text");
        }
    }
    // RFC 4028: 90 s is the smallest Min-SE; 0 turns session timers off.
    c.sip.min_se_s = static_cast<unsigned>(r.num("sip.min_se", 90, 90, 86'400));
    c.sip.session_expires_s = static_cast<unsigned>(r.num("sip.session_expires", 1800, 0, 86'400));
    if (c.sip.session_expires_s != 0 && c.sip.session_expires_s < c.sip.min_se_s) {
        r.fail("sip.session_expires", "expected 0 (off) or at least sip.min_se (" + std::to_string(c.sip.min_se_s) +
                                          "), got " + std::to_string(c.sip.session_expires_s));
    }
    // RFC 3262 towards callers that Support (not Require) 100rel: required = never, sdp = 18x with
    // SDP (early media, so the SDP is a real answer), supported = every 18x.
    {
        const std::string v = r.str("sip.reliable_provisional", "sdp");
        if (v == "required") {
            c.sip.reliable_to_caller = reliable_policy::required;
        } else if (v == "sdp") {
            c.sip.reliable_to_caller = reliable_policy::sdp;
        } else if (v == "supported") {
            c.sip.reliable_to_caller = reliable_policy::supported;
        } else {
            r.fail("sip.reliable_provisional", "expected required, sdp or supported, got '" + v + "'");
        }
    }
    c.sip.max_ring_s = static_cast<unsigned>(r.num("sip.max_ring", 180, 0, 86'400));
    c.sip.domain = r.str("sip.domain", "");
    if (!c.sip.domain.empty() && !valid_host(c.sip.domain)) {
        r.fail("sip.domain", "expected a host name or IPv4 address (letters, digits, '.', '-'), got '" +
                                 c.sip.domain + "'");
    }

    // [media]
    dp.relay_port_min = static_cast<uint16_t>(r.num("media.port_min", 20000, 1024, 65534));
    dp.relay_port_max = static_cast<uint16_t>(r.num("media.port_max", 29999, 1025, 65535));
    c.media_timeout_s = static_cast<unsigned>(r.num("media.timeout", 60, 0, 86'400));
    c.media_hold_timeout_s = static_cast<unsigned>(r.num("media.hold_timeout", 3600, 0, 86'400));
    if (dp.relay_port_min % 2 != 0) {
        r.fail("media.port_min", "expected an even port (RTP on even, RTCP on the next odd port)");
    }
    if (dp.relay_port_max < dp.relay_port_min + 3) {
        r.fail("media.port_max", "expected at least port_min + 3 (two RTP/RTCP pairs)");
    }
    if (c.sip.port >= dp.relay_port_min && c.sip.port <= dp.relay_port_max) {
        r.fail("sip.port", "must lie outside media.port_min..media.port_max");
    }

    // [dialplan]
    c.dialplan.default_path = resolve(base_dir, r.str("dialplan.default", "", true));
    c.dialplan.transfer_path = resolve(base_dir, r.str("dialplan.transfer", ""));
    c.dialplan.max_instructions = r.num("dialplan.max_instructions", 1'000'000, 1000, 1'000'000'000);
    c.dialplan.max_memory_kib = r.num("dialplan.max_memory_kib", 4096, 64, 1'048'576);
    for (const auto& [key, path] : {std::pair{"dialplan.default", c.dialplan.default_path},
                                    std::pair{"dialplan.transfer", c.dialplan.transfer_path}}) {
        if (!path.empty() && !regular_file_exists(path)) {
            r.fail(key, "expected a readable Lua file, '" + path + "' does not exist");
        }
    }
    // [dialplans]: more named dialplans (NAME = path); default and transfer come from [dialplan].
    c.dialplan.named["default"] = c.dialplan.default_path;
    if (!c.dialplan.transfer_path.empty()) {
        c.dialplan.named["transfer"] = c.dialplan.transfer_path;
    }
    for (const auto& k : order) {
        if (k.rfind("dialplans.", 0) != 0) {
            continue;
        }
        const std::string name = k.substr(10);
        if (!valid_entity_name(name)) {
            r.fail(k, "expected a dialplan name of 1-32 letters, digits, '_' or '-'");
        }
        if (name == "default" || name == "transfer") {
            r.fail(k, "'" + name + "' is declared in [dialplan]");
        }
        const std::string path = resolve(base_dir, r.str(k, ""));
        if (path.empty() || !regular_file_exists(path)) {
            r.fail(k, "expected a readable Lua file, '" + path + "' does not exist");
        }
        c.dialplan.named[name] = path;
    }

    // [table.NAME] (inline `key = value` entries) and [tables] (NAME = file of `key = value` lines):
    // read-only tables for the dialplans. A key may contain dots (a domain, an address), so the
    // section name ends at the first dot after "table.".
    {
        auto tables = std::make_shared<lookup_tables>();
        auto table_named = [&](const std::string& key, const std::string& name) -> lookup_table& {
            if (!valid_entity_name(name)) {
                r.fail(key, "expected a table name of 1-32 letters, digits, '_' or '-'");
            }
            return (*tables)[name];
        };
        for (const auto& k : order) {
            if (k.rfind("table.", 0) == 0) {
                const auto dot = k.find('.', 6);
                if (dot == std::string::npos || dot + 1 == k.size()) {
                    r.fail(k, "expected a `key = value` entry inside a [table.NAME] section");
                }
                table_named(k, k.substr(6, dot - 6)).set(k.substr(dot + 1), r.str(k, ""));
            } else if (k.rfind("tables.", 0) == 0) {
                const std::string name = k.substr(7);
                lookup_table& t = table_named(k, name);
                const std::string path = resolve(base_dir, r.str(k, ""));
                // A folder opens as a stream on Linux and reads as nothing: without the check it
                // was an empty table, not the refusal a bad table file gets.
                std::ifstream in(path);
                if (path.empty() || !regular_file_exists(path) || !in) {
                    r.fail(k, "expected a readable table file, '" + path + "' cannot be opened");
                }
                std::stringstream ss;
                ss << in.rdbuf();
                if (in.bad()) {
                    r.fail(k, "'" + path + "' could not be read");
                }
                if (const std::string err = parse_lookup_file(ss.str(), t); !err.empty()) {
                    r.fail(k, path + ": " + err);
                }
            }
        }
        c.dialplan.tables = std::move(tables);
    }

    // [transfer]: fraud control for transfers handled on the appliance.
    auto prefixes = [&](const std::string& key) {
        std::vector<std::string> out;
        std::stringstream ss(r.str(key, ""));
        std::string p;
        while (std::getline(ss, p, ',')) {
            p = trim(p);
            if (p.empty()) {
                continue;
            }
            for (char ch : p) {
                if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '*' || ch == '#')) {
                    r.fail(key, "expected a comma-separated list of number prefixes (digits, +, *, #), got '" + p +
                                    "'");
                }
            }
            out.push_back(p);
        }
        return out;
    };
    c.transfer.deny_prefixes = prefixes("transfer.deny_prefixes");
    c.transfer.allow_prefixes = prefixes("transfer.allow_prefixes");
    c.transfer.max_per_call = static_cast<unsigned>(r.num("transfer.max_per_call", 3, 0, 100));
    c.transfer.max_per_minute = static_cast<unsigned>(r.num("transfer.max_per_minute", 60, 1, 1'000'000));
    // RFC 7647: 200 to a REFER is as good as 202 (and what some transferors expect).
    c.transfer.accept_status = static_cast<unsigned>(r.num("transfer.accept_status", 202, 200, 202));
    if (c.transfer.accept_status != 200 && c.transfer.accept_status != 202) {
        r.fail("transfer.accept_status", "expected 202 or 200, got " + std::to_string(c.transfer.accept_status));
    }
    c.transfer.challenge_refer = r.flag("transfer.challenge_refer", false);
    c.transfer.continuous_media = r.flag("transfer.continuous_media", false);
    if (const std::string mode = r.str("transfer.connected_identity", "asserted");
        !parse_connected_identity_mode(mode, c.transfer.connected_identity)) {
        r.fail("transfer.connected_identity", "expected asserted, dialled or none, got '" + mode + "'");
    }

    // [api]
    c.api_listen = r.str("api.listen", "127.0.0.1:8080");
    {
        uint32_t a = 0;
        uint16_t port = 0;
        if (!parse_ipv4_port_text(c.api_listen, a, port)) {
            r.fail("api.listen", "expected IPv4:PORT, e.g. 127.0.0.1:8080, got '" + c.api_listen + "'");
        }
    }
    c.api_token = r.str("api.token", "");
    if (!c.api_token.empty() && c.api_token.size() < 16) {
        r.fail("api.token", "expected at least 16 characters (it guards call control)");
    }
    for (char ch : c.api_token) {
        if (ch <= 0x20 || ch == 0x7f) {
            r.fail("api.token", "expected printable characters without spaces");
        }
    }
    // [cdr]
    c.cdr_file = resolve(base_dir, r.str("cdr.file", ""));
    c.cdr_max_bytes = r.num("cdr.max_bytes", 0, 0, uint64_t{1} << 40);
    c.cdr_files = static_cast<unsigned>(r.num("cdr.files", 5, 1, 1000));

    // [capture]
    c.capture.dir = resolve(base_dir, r.str("capture.dir", c.capture.dir));
    if (c.capture.dir.empty()) {
        r.fail("capture.dir", "expected a directory");
    }
    c.capture.max_seconds = static_cast<unsigned>(r.num("capture.max_seconds", 3600, 1, 86'400));
    c.capture.max_packets = r.num("capture.max_packets", 10'000'000, 1, uint64_t{1} << 40);
    c.capture.max_bytes = r.num("capture.max_bytes", uint64_t{1} << 30, uint64_t{1} << 20, uint64_t{1} << 40);

    // [hep]
    if (const std::string collector = r.str("hep.collector", ""); !collector.empty()) {
        if (!parse_ipv4_port_text(collector, c.hep.collector_addr, c.hep.collector_port) || c.hep.collector_addr == 0) {
            r.fail("hep.collector", "expected IPv4:PORT of a HEP collector, e.g. 192.0.2.50:9060, got '" + collector + "'");
        }
    }
    c.hep.capture_id = static_cast<uint32_t>(r.num("hep.capture_id", 1, 0, 0xffff'ffff));
    c.hep.password = r.str("hep.password", "");
    c.hep.rtcp = r.flag("hep.rtcp", false);
    for (char ch : c.hep.password) {
        if (ch <= 0x20 || ch == 0x7f) {
            r.fail("hep.password", "expected printable characters without spaces");
        }
    }
    if (c.hep.password.size() > 128) {
        r.fail("hep.password", "expected at most 128 characters");
    }

    // [stir] (before the providers, whose sign_identity needs it)
    c.stir.key_file = resolve(base_dir, r.str("stir.key", ""));
    c.stir.x5u = r.str("stir.x5u", "");
    if (c.stir.key_file.empty() != c.stir.x5u.empty()) {
        r.fail(c.stir.key_file.empty() ? "stir.key" : "stir.x5u", "stir.key and stir.x5u go together");
    }
    if (!c.stir.x5u.empty() && !valid_x5u(c.stir.x5u)) {
        r.fail("stir.x5u", "expected the https URL of the signing certificate (no spaces, quotes, <, >, ;), got '" +
                               c.stir.x5u + "'");
    }
    // Keys and certificates are small regular files: not a directory, a FIFO or a device whose
    // reading would fail or never end (a NUL would cut the path short). "" when unreadable.
    auto read_pem_file = [&r](const char* key, const std::string& file) {
        std::error_code ec;
        const bool regular = file.find('\0') == std::string::npos && std::filesystem::is_regular_file(file, ec);
        const uintmax_t size = regular ? std::filesystem::file_size(file, ec) : 0;
        if (!regular || ec || size > 65536) {
            r.fail(key, file + ": expected a PEM file of at most 64 KiB");
            return std::string();
        }
        std::ifstream in(file, std::ios::binary);
        std::string pem(static_cast<size_t>(size), '\0');
        if (!in.read(pem.data(), static_cast<std::streamsize>(size))) {
            r.fail(key, file + ": cannot be read");
            return std::string();
        }
        return pem;
    };
    if (!c.stir.key_file.empty()) {
        std::string pem = read_pem_file("stir.key", c.stir.key_file);
        std::string why;
        if (!pem.empty() && identity_signer::from_pem(pem, c.stir.x5u, why) == nullptr) {
            r.fail("stir.key", c.stir.key_file + ": " + why);
        }
        c.stir.key_pem = std::move(pem);
    }
    // Verification: the roots a carrier's certificate must chain to (the STI-PA's).
    c.stir.ca_file = resolve(base_dir, r.str("stir.ca", ""));
    if (!c.stir.ca_file.empty()) {
        std::string pem = read_pem_file("stir.ca", c.stir.ca_file);
        std::string why;
        if (!pem.empty() && identity_verifier::from_pem(pem, 60, why) == nullptr) {
            r.fail("stir.ca", c.stir.ca_file + ": " + why);
        }
        c.stir.ca_pem = std::move(pem);
    }
    c.stir.x5u_tls_ca_file = resolve(base_dir, r.str("stir.x5u_tls_ca", ""));
    if (!c.stir.x5u_tls_ca_file.empty()) {
        c.stir.x5u_tls_ca_pem = read_pem_file("stir.x5u_tls_ca", c.stir.x5u_tls_ca_file);
        if (!c.stir.x5u_tls_ca_pem.empty() && c.stir.x5u_tls_ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
            r.fail("stir.x5u_tls_ca", c.stir.x5u_tls_ca_file + ": no PEM certificate in it");
        }
    }
    c.stir.max_age_s = static_cast<unsigned>(r.num("stir.max_age", 60, 10, 3600));
    c.stir.fetch_timeout_ms = static_cast<unsigned>(r.num("stir.fetch_timeout_ms", 2000, 100, 10000));
    c.stir.x5u_http = r.flag("stir.x5u_http", false);
    c.stir.verify_threads = static_cast<unsigned>(r.num("stir.verify_threads", 0, 0, 16));
    c.stir.check_crl = r.flag("stir.check_crl", true);
    c.stir.crl_grace_s = static_cast<unsigned>(r.num("stir.crl_grace", 0, 0, revocation_lists::max_grace_s));
    // An STI-PA's CRL signer: checked against the roots now, so that a wrong file fails the
    // load rather than every CRL (and with it every verification) later.
    c.stir.crl_signers_file = resolve(base_dir, r.str("stir.crl_signers", ""));
    if (!c.stir.crl_signers_file.empty()) {
        std::string pem = read_pem_file("stir.crl_signers", c.stir.crl_signers_file);
        std::string why;
        auto verifier = c.stir.ca_pem.empty() ? nullptr : identity_verifier::from_pem(c.stir.ca_pem, 60, why);
        if (!pem.empty() && !verifier) {
            r.fail("stir.crl_signers", "needs stir.ca: the signers must chain to its roots");
        } else if (!pem.empty()) {
            const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::system_clock::now().time_since_epoch()).count();
            if (std::string refused = verifier->trust_crl_signers(pem, now); !refused.empty()) {
                r.fail("stir.crl_signers", c.stir.crl_signers_file + ": " + refused);
            }
        }
        c.stir.crl_signers_pem = std::move(pem);
    }

    parse_accounts(r, order, c);

    r.check_all_used();
    return c;
}

std::string config_error::printable(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    return out;
}

config load_config(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw config_error(path + ": cannot open the file");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string dir = std::filesystem::absolute(path).parent_path().string();
    return parse_config(ss.str(), path, dir);
}

}  // namespace sf::control
