#pragma once
/// @file
/// Small text helpers shared by the control plane's own parsers (dial strings, table files,
/// header values, the registrar).

#include <string_view>

namespace sf::control {

/// `s` without leading and trailing spaces, tabs, CR and LF.
inline std::string_view trim_view(std::string_view s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) {
        return {};
    }
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace sf::control
