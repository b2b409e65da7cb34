#include "x5u_url.hh"

#include <boost/asio/ip/address_v4.hpp>

#include <algorithm>
#include <limits>

#include "sip/ascii.hh"

namespace sf::control {

namespace {

using sip::ascii_lower;
using sip::iequals_ascii;

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals_ascii(s.substr(0, prefix.size()), prefix);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// A DNS name as RFC 1123 allows it: dot-separated labels of letters, digits and '-'.
bool valid_dns_name(std::string_view host) {
    if (host.empty() || host.size() > 253) {
        return false;
    }
    size_t label = 0;
    for (const char c : host) {
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if (is_digit(c) || (ascii_lower(c) >= 'a' && ascii_lower(c) <= 'z') || c == '-') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return label > 0;
}

}  // namespace

std::string parse_x5u_url(std::string_view url, x5u_url& out) {
    // Whatever ends up in the request line must not be able to add a header or a line: URLs are
    // ASCII with no spaces (RFC 3986: anything else is percent-encoded).
    for (const char c : url) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) {
            return "bad x5u URL: space, control or non-ASCII character";
        }
    }
    std::string_view rest;
    if (starts_with_nocase(url, "https://")) {
        out.tls = true;
        out.port = 443;
        rest = url.substr(8);
    } else if (starts_with_nocase(url, "http://")) {
        out.tls = false;
        out.port = 80;
        rest = url.substr(7);
    } else {
        return "bad x5u URL: not https:// or http://";
    }
    const size_t authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    std::string_view tail = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    if (authority.find('@') != std::string_view::npos) {
        return "bad x5u URL: userinfo";
    }
    if (authority.find('[') != std::string_view::npos) {
        return "bad x5u URL: IPv6 literal";
    }
    const size_t colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
        const std::string_view digits = authority.substr(colon + 1);
        uint32_t port = 0;
        if (digits.empty() || digits.size() > 5 || !std::all_of(digits.begin(), digits.end(), is_digit)) {
            return "bad x5u URL: port";
        }
        for (const char c : digits) {
            port = port * 10 + static_cast<uint32_t>(c - '0');
        }
        if (port == 0 || port > 65535) {
            return "bad x5u URL: port";
        }
        out.port = static_cast<uint16_t>(port);
    }
    // "example.com." is the same name as "example.com"; without the dot it fits SNI and the
    // certificate's names, which never carry one.
    if (!host.empty() && host.back() == '.') {
        host.remove_suffix(1);
    }
    if (!valid_dns_name(host)) {
        return "bad x5u URL: host";
    }
    out.host.assign(host.begin(), host.end());
    std::transform(out.host.begin(), out.host.end(), out.host.begin(), ascii_lower);
    // All digits and dots: an IPv4 literal (no top-level domain is numeric), and a strict one:
    // "1.2.3" or "010.0.0.1" are refused rather than guessed at.
    out.host_is_ipv4 = std::all_of(out.host.begin(), out.host.end(), [](char c) { return is_digit(c) || c == '.'; });
    if (out.host_is_ipv4) {
        boost::system::error_code ec;
        boost::asio::ip::make_address_v4(out.host, ec);
        if (ec) {
            return "bad x5u URL: IPv4 address";
        }
    }
    // The fragment is the client's business, never sent.
    tail = tail.substr(0, tail.find('#'));
    out.target = tail.empty() || tail.front() != '/' ? "/" : "";
    out.target.append(tail.begin(), tail.end());
    return {};
}

bool is_invalid_domain(std::string_view host) {
    constexpr std::string_view tld = ".invalid";
    return host == "invalid" || (host.size() > tld.size() && host.ends_with(tld));
}

void cache_control::read(std::string_view value) {
    size_t pos = 0;
    while (pos <= value.size()) {
        size_t end = value.find(',', pos);
        if (end == std::string_view::npos) {
            end = value.size();
        }
        std::string_view directive = value.substr(pos, end - pos);
        pos = end + 1;
        while (!directive.empty() && (directive.front() == ' ' || directive.front() == '\t')) {
            directive.remove_prefix(1);
        }
        while (!directive.empty() && (directive.back() == ' ' || directive.back() == '\t')) {
            directive.remove_suffix(1);
        }
        const size_t eq = directive.find('=');
        const std::string_view name = directive.substr(0, eq);
        if (iequals_ascii(name, "no-store") || iequals_ascii(name, "no-cache")) {
            no_reuse = true;
        } else if (iequals_ascii(name, "max-age") && eq != std::string_view::npos && !has_max_age) {
            std::string_view number = directive.substr(eq + 1);
            // RFC 9111 5.2: senders use the token form, recipients also take a quoted string.
            if (number.size() >= 2 && number.front() == '"' && number.back() == '"') {
                number = number.substr(1, number.size() - 2);
            }
            if (number.empty() || !std::all_of(number.begin(), number.end(), is_digit)) {
                continue;
            }
            has_max_age = true;
            uint64_t n = 0;
            for (const char c : number) {
                n = std::min<uint64_t>(n * 10 + static_cast<uint64_t>(c - '0'), std::numeric_limits<uint32_t>::max());
            }
            max_age_s = static_cast<uint32_t>(n);
        }
    }
}

}  // namespace sf::control
