/// @file
/// SIP/SIPS/TEL URI parsing. Validation is deliberately shallow: the relay
/// needs the host, port and parameters to route, not a full RFC 3261 19.1
/// character audit of the user part (which carries every odd character in
/// the wild, see RFC 4475 3.1.1.2).

#include "sip/sip_uri.hh"

#include "sip/ascii.hh"

namespace sf::sip {

namespace detail {

// Also used by parse_via() in sip_message.cc (declared there: the public header stays as it is).
// IPv6address (RFC 4291 2.2): eight groups of 1-4 hex digits, or fewer with exactly one "::",
// optionally ending in a dotted IPv4 address that stands for the last two groups.
bool valid_ipv6(std::string_view s) noexcept {
    auto hex = [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    };
    const size_t n = s.size();
    if (n < 2) {
        return false;
    }
    unsigned groups = 0;
    bool compressed = false;
    size_t i = 0;
    if (s[0] == ':') {
        if (s[1] != ':') {
            return false;
        }
        compressed = true;
        i = 2;
    }
    while (i < n && groups <= 8) {
        size_t b = i;
        while (i < n && hex(s[i]) && i - b < 5) {
            ++i;
        }
        if (i < n && s[i] == '.') {
            uint32_t v4 = 0;
            if (!parse_ipv4(s.substr(b), v4)) {
                return false;
            }
            groups += 2;
            i = n;
            break;
        }
        if (i == b || i - b > 4) {
            return false;
        }
        ++groups;
        if (i == n) {
            break;
        }
        if (s[i] != ':') {
            return false;
        }
        ++i;
        if (i < n && s[i] == ':') {
            if (compressed) {
                return false;
            }
            compressed = true;
            ++i;
        } else if (i == n) {
            return false;  // a single trailing colon
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

}  // namespace detail

namespace {



bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

bool is_alnum(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_hex(char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// port = 1*DIGIT, but a port of 0 or beyond 16 bits cannot be dialled.
bool parse_port(std::string_view s, uint16_t& port) noexcept {
    if (s.empty() || s.size() > 5) {
        return false;
    }
    uint32_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) {
            return false;
        }
        v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    if (v == 0 || v > 65535) {
        return false;
    }
    port = static_cast<uint16_t>(v);
    return true;
}

// hostname / IPv4address: alphanumerics, '-' and '.'; '_' is tolerated because
// deployed equipment uses it in internal names.
bool valid_hostname(std::string_view h) noexcept {
    if (h.empty()) {
        return false;
    }
    for (char c : h) {
        if (!is_alnum(c) && c != '-' && c != '.' && c != '_') {
            return false;
        }
    }
    return true;
}

// IPv6reference = "[" IPv6address "]" (RFC 5118 4.10: exactly the RFC 4291 text forms, so
// "[2001:db8:::192.0.2.1]" with three colons is refused).
bool valid_ipv6_reference(std::string_view h) noexcept {
    if (h.size() < 4 || h.front() != '[' || h.back() != ']') {
        return false;
    }
    return detail::valid_ipv6(h.substr(1, h.size() - 2));
}

bool parse_tel(std::string_view rest, uri& out) noexcept {
    // telephone-subscriber: the number, then ;parameters (RFC 3966 3).
    auto semi = rest.find(';');
    out.user = rest.substr(0, semi);
    if (semi != std::string_view::npos) {
        out.params = rest.substr(semi + 1);
    }
    if (out.user.empty()) {
        return false;
    }
    for (char c : out.user) {
        // global-number-digits / local-number-digits with visual separators.
        if (!is_hex(c) && c != '+' && c != '-' && c != '.' && c != '(' && c != ')' && c != '*'
                && c != '#') {
            return false;
        }
    }
    return true;
}

}  // namespace

bool parse_uri(std::string_view text, uri& out) noexcept {
    out = uri{};
    // No URI of any scheme holds whitespace, control bytes, raw non-ASCII (RFC 3261 25.1:
    // escaped as %XX) or the delimiters around it. The appliance sends what it parsed here on
    // (a Contact becomes a Request-URI), so one that would break a message's framing is refused
    // whole, not only where the grammar looks closely (found by fuzz_b2bua: a NUL in a Contact's
    // headers part made the ACK's request line).
    for (const char ch : text) {
        const auto b = static_cast<unsigned char>(ch);
        if (b <= 0x20 || b >= 0x7f || ch == '<' || ch == '>' || ch == '"') {
            return false;
        }
    }
    auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return false;
    }
    out.scheme = text.substr(0, colon);
    std::string_view rest = text.substr(colon + 1);
    if (iequals_ascii(out.scheme, "tel")) {
        return parse_tel(rest, out);
    }
    if (!iequals_ascii(out.scheme, "sip") && !iequals_ascii(out.scheme, "sips")) {
        return false;
    }

    // The user part may contain ';', '?', '/' and ':' unescaped (RFC 3261
    // user-unreserved, RFC 4475 3.1.1.9) but never '@', so the first '@'
    // ends the userinfo.
    auto at = rest.find('@');
    if (at != std::string_view::npos) {
        std::string_view userinfo = rest.substr(0, at);
        auto pw = userinfo.find(':');
        out.user = userinfo.substr(0, pw);
        if (pw != std::string_view::npos) {
            out.password = userinfo.substr(pw + 1);
        }
        if (out.user.empty()) {
            return false;
        }
        rest = rest.substr(at + 1);
    }

    // hostport [;params] [?headers]
    std::string_view hostport;
    size_t end;
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        end = rest.find_first_of(";?", close);
    } else {
        end = rest.find_first_of(";?");
    }
    hostport = rest.substr(0, end);
    if (end != std::string_view::npos) {
        std::string_view tail = rest.substr(end);
        if (tail.front() == ';') {
            auto q = tail.find('?');
            out.params = tail.substr(1, q == std::string_view::npos ? std::string_view::npos : q - 1);
            if (q != std::string_view::npos) {
                out.headers = tail.substr(q + 1);
            }
        } else {
            out.headers = tail.substr(1);
        }
    }

    std::string_view port_text;
    bool has_port = false;
    if (!hostport.empty() && hostport.front() == '[') {
        auto close = hostport.find(']');
        out.host = hostport.substr(0, close + 1);
        std::string_view after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return false;
            }
            port_text = after.substr(1);
            has_port = true;
        }
        if (!valid_ipv6_reference(out.host)) {
            return false;
        }
    } else {
        auto pc = hostport.find(':');
        out.host = hostport.substr(0, pc);
        if (pc != std::string_view::npos) {
            port_text = hostport.substr(pc + 1);
            has_port = true;
        }
        if (!valid_hostname(out.host)) {
            return false;
        }
    }
    if (has_port && !parse_port(port_text, out.port)) {
        return false;
    }
    return true;
}

bool parse_ipv4(std::string_view host, uint32_t& addr_host_order) noexcept {
    uint32_t addr = 0;
    unsigned octets = 0;
    size_t i = 0;
    while (octets < 4) {
        unsigned v = 0;
        size_t digits = 0;
        while (i < host.size() && is_digit(host[i]) && digits < 4) {
            v = v * 10 + static_cast<unsigned>(host[i] - '0');
            ++i;
            ++digits;
        }
        if (digits == 0 || digits > 3 || v > 255) {
            return false;
        }
        addr = (addr << 8) | v;
        ++octets;
        if (octets < 4) {
            if (i >= host.size() || host[i] != '.') {
                return false;
            }
            ++i;
        }
    }
    if (i != host.size()) {
        return false;
    }
    addr_host_order = addr;
    return true;
}

}  // namespace sf::sip
