#pragma once
/// @file
/// A minimal streaming JSON writer for the management API and call records
/// (Boost 1.74 in Debian 12 predates Boost.JSON).

#include <cstdint>
#include <string>
#include <string_view>

namespace sf::control {

class json_writer {
public:
    json_writer& begin_object();
    json_writer& end_object();
    json_writer& begin_array();
    json_writer& end_array();
    json_writer& key(std::string_view k);
    json_writer& value(std::string_view v);
    json_writer& value(const char* v) { return value(std::string_view(v)); }
    json_writer& value(uint64_t v);
    json_writer& value(int64_t v);
    json_writer& value(int v) { return value(static_cast<int64_t>(v)); }
    json_writer& value(unsigned v) { return value(static_cast<uint64_t>(v)); }
    json_writer& value(double v);
    json_writer& value(bool v);
    json_writer& null();
    /// Inserts already-serialised JSON as one value.
    json_writer& raw(std::string_view json);

    const std::string& str() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    void comma();
    std::string out_;
    bool need_comma_ = false;
};

/// JSON string escaping (quotes included). Bytes that are not well-formed UTF-8 become U+FFFD.
std::string json_quote(std::string_view s);

/// Whether `s` is well-formed UTF-8 (RFC 3629): what json_quote writes back byte for byte.
bool valid_utf8(std::string_view s);

}  // namespace sf::control
