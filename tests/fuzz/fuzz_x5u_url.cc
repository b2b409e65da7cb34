// libFuzzer target: x5u URLs (a peer's Identity header names them) and Cache-Control values,
// control/x5u_url.cc. Input: a URL, then after the first newline a Cache-Control value.
// Oracles beyond "no crash, no UB": a URL that parses has a lower-case host of letters, digits,
// '-' and '.', a port, a target that starts with '/' and holds no byte that could end the
// request line, and the URL rebuilt from its parts parses to the same parts; a .invalid host is
// what is_invalid_domain says; no-store / no-cache keep nothing.

#include "x5u_url.hh"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace sf::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const size_t nl = input.find('\n');
    const std::string url = input.substr(0, nl);
    x5u_url u;
    if (parse_x5u_url(url, u).empty()) {
        if (u.host.empty() || u.port == 0 || u.target.empty() || u.target.front() != '/') {
            __builtin_trap();
        }
        for (const char c : u.host) {
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
                __builtin_trap();
            }
        }
        for (const char c : u.target) {
            const auto b = static_cast<unsigned char>(c);
            if (b <= 0x20 || b >= 0x7f || c == '#') {
                __builtin_trap();
            }
        }
        const std::string rebuilt =
            std::string(u.tls ? "https://" : "http://") + u.host + ":" + std::to_string(u.port) + u.target;
        x5u_url again;
        if (!parse_x5u_url(rebuilt, again).empty() || again.host != u.host || again.port != u.port ||
            again.target != u.target || again.tls != u.tls || again.host_is_ipv4 != u.host_is_ipv4) {
            __builtin_trap();
        }
        const bool invalid_tld = u.host == "invalid" || (u.host.size() > 8 && u.host.ends_with(".invalid"));
        if (is_invalid_domain(u.host) != invalid_tld) {
            __builtin_trap();
        }
    }
    if (nl != std::string::npos) {
        cache_control cc;
        cc.read(std::string_view(input).substr(nl + 1));
        if (cc.no_reuse && cc.keep_s() != 0) {
            __builtin_trap();
        }
        if (!cc.has_max_age && cc.max_age_s != 0) {
            __builtin_trap();
        }
    }
    return 0;
}
