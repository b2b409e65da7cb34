#include "sip_header_values.hh"

#include <algorithm>
#include <charconv>

#include "sip/ascii.hh"
#include "sip/sip_message.hh"
#include "sip/sip_uri.hh"
#include "text.hh"

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

bool parse_delta_seconds(std::string_view text, uint64_t& out) {
    text = trim_view(text);
    if (text.empty()) {
        return false;
    }
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
        v = std::min<uint64_t>(v * 10 + static_cast<uint64_t>(c - '0'), 0xffffffffu);
    }
    out = v;
    return true;
}

bool parse_qvalue(std::string_view text, uint16_t& out) {
    if (text.empty() || (text[0] != '0' && text[0] != '1')) {
        return false;
    }
    unsigned v = text[0] == '1' ? 1000 : 0;
    if (text.size() > 1) {
        if (text[1] != '.' || text.size() > 5) {
            return false;
        }
        unsigned scale = 100;
        for (size_t i = 2; i < text.size(); ++i, scale /= 10) {
            if (text[i] < '0' || text[i] > '9' || (v == 1000 && text[i] != '0')) {
                return false;
            }
            v += static_cast<unsigned>(text[i] - '0') * scale;
        }
    }
    out = static_cast<uint16_t>(v);
    return true;
}

const char* parse_contact_list(std::string_view value, std::vector<contact_value>& out) {
    value = trim_view(value);
    if (value.empty()) {
        return "Invalid Contact";
    }
    while (!value.empty()) {
        if (value.front() == '*') {
            const std::string_view after = trim_view(value.substr(1));
            if (!after.empty() && after.front() != ',') {
                return "Invalid Contact";
            }
            contact_value star;
            star.star = true;
            out.push_back(star);
            value = after.empty() ? after : trim_view(after.substr(1));
            continue;
        }
        sip::name_addr na;
        std::string_view rest;
        if (!sip::parse_name_addr(value, na, &rest)) {
            return "Invalid Contact";
        }
        if (rest.empty()) {
            // "<sip:a@h>," : a separator with nothing after it.
            const size_t end = static_cast<size_t>(na.raw.data() + na.raw.size() - value.data());
            if (trim_view(value.substr(end)).starts_with(',')) {
                return "Invalid Contact";
            }
        }
        contact_value c;
        c.uri = na.uri;
        c.params = na.params;
        const std::string_view q = sip::find_param(na.params, "q", &c.has_q);
        if (c.has_q && !parse_qvalue(q, c.q)) {
            return "Invalid Contact q-value";
        }
        const std::string_view expires = sip::find_param(na.params, "expires", &c.has_expires);
        if (c.has_expires && !parse_delta_seconds(expires, c.expires)) {
            return "Invalid Contact expires";
        }
        out.push_back(c);
        value = rest;
    }
    return nullptr;
}

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

bool parse_session_expires(std::string_view value, session_expires_value& out) {
    while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
    }
    uint32_t n = 0;
    const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc{} || p == value.data()) {
        return false;
    }
    out.seconds = n;
    out.refresher = sip::find_param(value.substr(static_cast<size_t>(p - value.data())), "refresher");
    return true;
}

std::string percent_decoded(std::string_view text) {
    const auto hex = [](char c) -> int {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    };
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

bool parse_replaces(std::string_view value, replaces_value& out) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
    }
    const size_t semi = value.find(';');
    out.call_id = value.substr(0, semi);
    while (!out.call_id.empty() && (out.call_id.back() == ' ' || out.call_id.back() == '\t')) {
        out.call_id.remove_suffix(1);
    }
    if (out.call_id.empty() || semi == std::string_view::npos) {
        return false;
    }
    const std::string_view params = value.substr(semi);
    out.to_tag = sip::find_param(params, "to-tag");
    out.from_tag = sip::find_param(params, "from-tag");
    sip::find_param(params, "early-only", &out.early_only);
    return !out.to_tag.empty() && !out.from_tag.empty();
}

std::string uri_header_replaces(std::string_view uri_headers) {
    for (std::string_view rest = uri_headers; !rest.empty();) {
        const std::string_view hv = rest.substr(0, rest.find('&'));
        rest = hv.size() < rest.size() ? rest.substr(hv.size() + 1) : std::string_view();
        if (hv.size() > 9 && sip::iequals_ascii(hv.substr(0, 9), "Replaces=")) {
            return percent_decoded(hv.substr(9));
        }
    }
    return {};
}

namespace {

/// RFC 3261 25.1 token characters.
bool token_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-.!%*_+`'~").find(c) != std::string_view::npos;
}

bool token(std::string_view t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), token_char);
}

/// RFC 3261 25.1 word: token characters and ( ) < > : \ " / [ ] ? { }.
bool word(std::string_view w) {
    return !w.empty() && std::all_of(w.begin(), w.end(), [](char c) {
        return token_char(c) || std::string_view("()<>:\\\"/[]?{}").find(c) != std::string_view::npos;
    });
}

}  // namespace

std::string replaces_header_value(const replaces_value& rv) {
    const size_t at = rv.call_id.find('@');
    const bool call_id_ok = rv.call_id.size() <= 256 && (at == std::string_view::npos
                                                             ? word(rv.call_id)
                                                             : word(rv.call_id.substr(0, at)) && word(rv.call_id.substr(at + 1)));
    if (!call_id_ok || rv.to_tag.size() > 128 || rv.from_tag.size() > 128 || !token(rv.to_tag) || !token(rv.from_tag)) {
        return {};
    }
    std::string out(rv.call_id);
    out.append(";to-tag=").append(rv.to_tag).append(";from-tag=").append(rv.from_tag);
    if (rv.early_only) {
        out += ";early-only";
    }
    return out;
}

bool parse_identity_list(std::string_view value, std::vector<identity_value>& out) {
    value = trim_view(value);
    if (value.empty()) {
        return false;
    }
    while (!value.empty()) {
        sip::name_addr na;
        std::string_view rest;
        if (!sip::parse_name_addr(value, na, &rest)) {
            return false;
        }
        sip::uri u;
        if (!sip::parse_uri(na.uri, u)) {
            return false;
        }
        if (rest.empty()) {
            // "<sip:a@h>," : a separator with nothing after it.
            const size_t end = static_cast<size_t>(na.raw.data() + na.raw.size() - value.data());
            if (trim_view(value.substr(end)).starts_with(',')) {
                return false;
            }
        }
        if (!u.user.empty()) {
            out.push_back(identity_value{na.display, u.scheme, u.user});
        }
        value = rest;
    }
    return true;
}

bool parse_privacy(std::string_view value, privacy_request& out) {
    privacy_request p = out;
    bool any = false;
    while (true) {
        const size_t semi = value.find(';');
        const std::string_view v = trim_view(value.substr(0, semi));
        if (v.empty() || !std::all_of(v.begin(), v.end(), token_char)) {
            return false;
        }
        any = true;
        if (sip::iequals_ascii(v, "none")) {
            p.none = true;
        } else if (sip::iequals_ascii(v, "header")) {
            p.header = true;
        } else if (sip::iequals_ascii(v, "session")) {
            p.session = true;
        } else if (sip::iequals_ascii(v, "user")) {
            p.user = true;
        } else if (sip::iequals_ascii(v, "id")) {
            p.id = true;
        } else if (sip::iequals_ascii(v, "history")) {
            p.history = true;
        } else if (sip::iequals_ascii(v, "critical")) {
            p.critical = true;
        } else {
            p.unknown = true;
        }
        if (semi == std::string_view::npos) {
            break;
        }
        value.remove_prefix(semi + 1);
    }
    if (any) {
        out = p;
    }
    return any;
}

std::string to_string(const privacy_request& p) {
    if (p.none) {
        return "";
    }
    std::string out;
    const auto add = [&out](bool on, std::string_view name) {
        if (on) {
            out += out.empty() ? "" : ";";
            out += name;
        }
    };
    add(p.id, "id");
    add(p.header, "header");
    add(p.user, "user");
    add(p.session, "session");
    add(p.history, "history");
    add(p.critical, "critical");
    return out;
}

}  // namespace sf::control
