#include "reliable_provisional.hh"

#include <charconv>

#include "sip_types.hh"

namespace sf::control {

namespace {

/// The next token of `rest` (separated by spaces or tabs), consumed.
std::string_view next_token(std::string_view& rest) {
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) {
        rest.remove_prefix(1);
    }
    size_t end = 0;
    while (end < rest.size() && rest[end] != ' ' && rest[end] != '\t') {
        ++end;
    }
    std::string_view token = rest.substr(0, end);
    rest.remove_prefix(end);
    return token;
}

bool to_u32(std::string_view text, uint32_t& out) {
    if (text.empty()) {
        return false;
    }
    const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), out);
    return err == std::errc() && end == text.data() + text.size();
}

}  // namespace

bool parse_rack(std::string_view value, rack_value& out) {
    std::string_view rest = value;
    const std::string_view rseq = next_token(rest);
    const std::string_view cseq = next_token(rest);
    const std::string_view method = next_token(rest);
    if (!to_u32(rseq, out.rseq) || !to_u32(cseq, out.cseq) || method.empty() || !next_token(rest).empty()) {
        return false;
    }
    out.method = method;
    return true;
}

uint32_t first_rseq() {
    // Up to 2^30: the first value is within 1 .. 2^31-1 and counting up never wraps.
    return 1 + static_cast<uint32_t>(random_u64() % (1u << 30));
}

}  // namespace sf::control
