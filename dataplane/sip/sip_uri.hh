#pragma once
/// @file
/// Zero-copy SIP/SIPS/TEL URI parser (RFC 3261 19.1, RFC 3966, RFC 5118 IPv6 references).

#include <cstdint>
#include <string_view>

namespace sf::sip {

struct uri {
    std::string_view scheme;    ///< "sip", "sips" or "tel" (lower-cased comparison is the caller's)
    std::string_view user;      ///< user part (tel: the number), may be empty
    std::string_view password;  ///< after ':' in userinfo, rarely used
    std::string_view host;      ///< hostname, IPv4 or IPv6 reference with brackets; "" for tel:
    uint16_t port = 0;          ///< 0 when absent
    std::string_view params;    ///< uri-parameters after the first ';' (without it)
    std::string_view headers;   ///< after '?' (without it)
};

/// Parses a sip:, sips: or tel: URI. Returns false on anything malformed
/// (unknown scheme, empty host for sip/sips, bad port, unbalanced brackets, a byte that no
/// URI holds: whitespace, a control byte, one above 0x7e, '<', '>' or '"').
bool parse_uri(std::string_view text, uri& out) noexcept;

/// True when `host` is a dotted IPv4 address; stores it in host byte order.
bool parse_ipv4(std::string_view host, uint32_t& addr_host_order) noexcept;

}  // namespace sf::sip
