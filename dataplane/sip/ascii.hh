#pragma once
/// @file
/// Case-insensitive comparison of SIP tokens, header names and parameter names (RFC 3261 7.3.1:
/// ASCII only, unlike std::tolower, which follows the C locale). One copy for the parser and the
/// control plane.

#include <string_view>

namespace sf::sip {

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

}  // namespace sf::sip
