#pragma once
/// @file
/// The two texts a certificate fetch reads from elsewhere (certificate_fetcher.cc): the x5u URL
/// an Identity header names (a peer chose it) and the Cache-Control of the response. Pure, so
/// that both are unit-tested and fuzzed on their own.

#include <cstdint>
#include <string>
#include <string_view>

namespace sf::control {

/// Where an x5u URL points, taken apart.
struct x5u_url {
    bool tls = true;
    std::string host;  ///< lower case, without a trailing dot
    bool host_is_ipv4 = false;
    uint16_t port = 443;
    std::string target;  ///< path and query as sent in the request line; never empty
};

/// Takes `url` apart into `out`: `https://host[:port][/path][?query][#fragment]` or `http://`;
/// host an IPv4 literal or a DNS name (no userinfo, no IPv6 literal). Returns "" or why it is
/// not a URL this appliance fetches ("bad x5u URL: ..."). Nothing that could add a line or a
/// header to the request gets through: no spaces, controls or non-ASCII bytes.
std::string parse_x5u_url(std::string_view url, x5u_url& out);

/// RFC 6761 6.4: "invalid" and its subdomains never resolve, so looking them up only leaks.
bool is_invalid_domain(std::string_view host);

/// Cache-Control directives read from one or more header values (RFC 9111 5.2).
struct cache_control {
    bool has_max_age = false;
    uint32_t max_age_s = 0;  ///< the first max-age, saturated
    bool no_reuse = false;   ///< no-store or no-cache: not to be reused without asking again

    /// Reads one header value (comma-separated directives) into this.
    void read(std::string_view value);
    /// What a response may be kept for: its max-age, 0 without one or with no-store / no-cache.
    uint32_t keep_s() const { return no_reuse ? 0 : max_age_s; }
};

}  // namespace sf::control
