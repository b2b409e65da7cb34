#pragma once
/// @file
/// Read-only key -> value tables from the config (`[table.NAME]`, `[tables] NAME = file`) that
/// dialplans consult with sys.Lookup / sys.LookupPrefix: rate decks, number -> customer maps,
/// prefix routing. Built once at (re)load; a reload builds new tables for new calls.

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sf::control {

class lookup_table {
public:
    /// Adds or replaces `key`. Keys are compared exactly (case-sensitive).
    void set(std::string key, std::string value);
    /// The value stored under exactly `key`.
    std::optional<std::string_view> find(std::string_view key) const;
    /// The entry whose key is the longest prefix of `key` (an empty key matches everything).
    /// Returns {prefix, value}.
    std::optional<std::pair<std::string_view, std::string_view>> longest_prefix(std::string_view key) const;
    size_t size() const { return entries_.size(); }

private:
    struct hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, std::string, hash, std::equal_to<>> entries_;
    size_t longest_key_ = 0;
};

/// Every table by name.
using lookup_tables = std::map<std::string, lookup_table, std::less<>>;

/// Parses a table file: one `key = value` per line; blank lines and lines starting with '#' are
/// skipped; the key and value are trimmed; a later line replaces an earlier key. Returns "" or the
/// first error ("line N: ...").
std::string parse_lookup_file(std::string_view text, lookup_table& out);

}  // namespace sf::control
