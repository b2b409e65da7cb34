#include "json_writer.hh"

#include <cmath>
#include <cstdio>

namespace sf::control {

std::string json_quote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out.push_back('"');
    for (unsigned char c : s) {
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
