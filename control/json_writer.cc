#include "json_writer.hh"

#include <cmath>
#include <cstdio>

namespace sf::control {

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629 4: no overlong forms, no
// surrogates, nothing past U+10FFFF), 0 if there is none.
size_t utf8_sequence(std::string_view s, size_t i) {
    const auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
    const auto cont = [](unsigned b) { return b >= 0x80 && b <= 0xbf; };
    const unsigned c = at(0);
    if (c >= 0xc2 && c <= 0xdf) {
        return cont(at(1)) ? 2 : 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        const unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return at(1) >= lo && at(1) <= hi && cont(at(2)) ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        const unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return at(1) >= lo && at(1) <= hi && cont(at(2)) && cont(at(3)) ? 4 : 0;
    }
    return 0;
}

}  // namespace

bool valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) {
        if (static_cast<unsigned char>(s[i]) >= 0x80) {
            const size_t n = utf8_sequence(s, i);
            if (n == 0) {
                return false;
            }
            i += n - 1;
        }
    }
    return true;
}

std::string json_quote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out.push_back('"');
    for (size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            // JSON text is UTF-8 (RFC 8259 8.1): peers' bytes that are not (a Call-ID or a
            // display name in Latin-1, or noise) become U+FFFD, so every line stays readable.
            const size_t n = utf8_sequence(s, i);
            if (n == 0) {
                out += "\\ufffd";
            } else {
                out.append(s.substr(i, n));
                i += n - 1;
            }
            continue;
        }
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out.push_back(static_cast<char>(c));
            }
        }
    }
    out.push_back('"');
    return out;
}

void json_writer::comma() {
    if (need_comma_) {
        out_.push_back(',');
    }
}

json_writer& json_writer::begin_object() {
    comma();
    out_.push_back('{');
    need_comma_ = false;
    return *this;
}

json_writer& json_writer::end_object() {
    out_.push_back('}');
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::begin_array() {
    comma();
    out_.push_back('[');
    need_comma_ = false;
    return *this;
}

json_writer& json_writer::end_array() {
    out_.push_back(']');
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::key(std::string_view k) {
    comma();
    out_ += json_quote(k);
    out_.push_back(':');
    need_comma_ = false;
    return *this;
}

json_writer& json_writer::value(std::string_view v) {
    comma();
    out_ += json_quote(v);
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::value(uint64_t v) {
    comma();
    out_ += std::to_string(v);
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::value(int64_t v) {
    comma();
    out_ += std::to_string(v);
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::value(double v) {
    comma();
    if (std::isfinite(v)) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f", v);
        out_ += buf;
    } else {
        out_ += "null";
    }
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::value(bool v) {
    comma();
    out_ += v ? "true" : "false";
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::null() {
    comma();
    out_ += "null";
    need_comma_ = true;
    return *this;
}

json_writer& json_writer::raw(std::string_view json) {
    comma();
    out_ += json;
    need_comma_ = true;
    return *this;
}

}  // namespace sf::control
