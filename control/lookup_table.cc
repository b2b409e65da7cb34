#include "lookup_table.hh"

#include <algorithm>

#include "text.hh"

namespace sf::control {

void lookup_table::set(std::string key, std::string value) {
    longest_key_ = std::max(longest_key_, key.size());
    entries_.insert_or_assign(std::move(key), std::move(value));
}

std::optional<std::string_view> lookup_table::find(std::string_view key) const {
    const auto it = entries_.find(key);
    if (it == entries_.end()) {
        return std::nullopt;
    }
    return std::string_view(it->second);
}

std::optional<std::pair<std::string_view, std::string_view>> lookup_table::longest_prefix(std::string_view key) const {
    // One hash probe per candidate length, longest first: a number plan's keys are short
    // (a dozen digits), so this beats a trie's pointer chasing and needs no second structure.
    for (size_t n = std::min(key.size(), longest_key_) + 1; n-- > 0;) {
        const auto it = entries_.find(key.substr(0, n));
        if (it != entries_.end()) {
            return std::pair{std::string_view(it->first), std::string_view(it->second)};
        }
    }
    return std::nullopt;
}


std::string parse_lookup_file(std::string_view text, lookup_table& out) {
    size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        const auto nl = text.find('\n');
        const std::string_view line = trim_view(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line.empty() || line.front() == '#') {
            continue;
        }
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) {
            return "line " + std::to_string(line_no) + ": expected 'key = value'";
        }
        const std::string_view key = trim_view(line.substr(0, eq));
        if (key.empty()) {
            return "line " + std::to_string(line_no) + ": empty key";
        }
        out.set(std::string(key), std::string(trim_view(line.substr(eq + 1))));
    }
    return "";
}

}  // namespace sf::control
