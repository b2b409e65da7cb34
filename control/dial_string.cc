#include "dial_string.hh"
#include "asserted_identity.hh"
#include "diversion.hh"
#include "sip/ascii.hh"
#include "text.hh"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <iterator>
#include <string_view>

namespace sf::control {

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

bool valid_user(std::string_view u) {
    if (u.empty() || u.size() > 128) {
        return false;
    }
    for (unsigned char c : u) {
        // RFC 3261 user unreserved/escaped characters, without those that end a URI part
        // or that the dial string itself uses ('&', '|', '[', ']').
        if (!(std::isalnum(c) || std::string_view("-_.!~*'()=+$,;?/%#").find(static_cast<char>(c)) !=
                                     std::string_view::npos)) {
            return false;
        }
    }
    return true;
}

bool valid_host(std::string_view h) {
    if (h.empty() || h.size() > 253) {
        return false;
    }
    return std::all_of(h.begin(), h.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.'; });
}

bool is_token_char(unsigned char c) {
    return std::isalnum(c) || std::string_view("-.!%*_+`'~").find(static_cast<char>(c)) != std::string_view::npos;
}

/// Printable text for a header value or display name: no CR, LF or other control character.
bool printable(std::string_view v) {
    return std::all_of(v.begin(), v.end(), [](unsigned char c) { return c >= 0x20 && c != 0x7f; });
}

/// Headers the B2BUA builds itself: a dial string may not set or repeat them.
bool reserved_header(std::string_view name) {
    static constexpr std::string_view reserved[] = {
        "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq", "contact", "m", "max-forwards",
        "content-length", "l", "content-type", "c", "route", "record-route", "content-encoding", "e",
        "require", "proxy-require", "authorization", "proxy-authorization", "replaces", "refer-to", "r",
        // Identity is the appliance's policy (asserted_identity.hh): `pai=` asserts one on purpose.
        "p-asserted-identity", "p-preferred-identity", "privacy",
        // So are Diversion and History-Info (diversion.hh): `dv=` says why, the appliance says whom.
        "diversion", "history-info"};
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    return std::find(std::begin(reserved), std::end(reserved), lower) != std::end(reserved);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/// Option values may carry the dial string's own separators escaped as %XX (",", "]", "&", "|").
bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out.push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size()) {
            return false;  // a '%' needs two hex digits after it
        }
        const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

bool parse_seconds(std::string_view v, unsigned min, unsigned max, unsigned& out) {
    unsigned n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc{} || p != v.data() + v.size() || n < min || n > max) {
        return false;
    }
    out = n;
    return true;
}

/// Applies one `name=value` option to `t`; `seen` guards against repeating an option.
std::string apply_option(std::string_view opt, dial_target& t, std::string& seen) {
    const auto eq = opt.find('=');
    std::string name(trim_view(opt.substr(0, eq)));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (eq == std::string_view::npos) {
        return "option " + quoted(name) + " needs a value (name=value)";
    }
    std::string value;
    if (!percent_decode(trim_view(opt.substr(eq + 1)), value)) {
        return "option " + quoted(name) + ": bad %-escape in " + quoted(opt.substr(eq + 1));
    }
    // Whitespace around a value means nothing, escaped or not ("fd=Smith%20" is "Smith"), so a
    // formatted dial string parses back to the same options.
    value = std::string(trim_view(value));
    if (name != "h") {
        const std::string mark = "|" + name + "|";
        if (seen.find(mark) != std::string::npos) {
            return "option " + quoted(name) + " given twice";
        }
        seen += mark;
    }
    if (name == "tr") {
        if (value != "n" && value != "p" && value != "c") {
            return "option tr expects n, p or c, got " + quoted(value);
        }
        t.transfer_mode = value[0];
    } else if (name == "cm") {
        if (value != "0" && value != "1") {
            return "option cm expects 1 (one continuous stream across transfers) or 0, got " + quoted(value);
        }
        t.continuous_media = static_cast<int8_t>(value[0] - '0');
    } else if (name == "fu") {
        if (!valid_user(value)) {
            return "option fu expects a SIP user name, got " + quoted(value);
        }
        t.from_user = value;
    } else if (name == "fd") {
        if (value.empty() || value.size() > 64 || !printable(value)) {
            return "option fd expects a display name of 1..64 printable characters, got " + quoted(value);
        }
        t.from_display = value;
    } else if (name == "fh") {
        if (!valid_host(value)) {
            return "option fh expects a host name or IPv4 address, got " + quoted(value);
        }
        t.from_host = value;
    } else if (name == "pai") {
        if (!valid_identity_user(value)) {
            return "option pai expects a SIP user (1-64 characters), got " + quoted(value);
        }
        t.asserted_user = value;
    } else if (name == "ci") {
        if (!valid_identity_user(value)) {
            return "option ci expects a SIP user (1-64 characters), got " + quoted(value);
        }
        t.connected_user = value;
    } else if (name == "dv") {
        if (!valid_diversion_reason(value)) {
            return "option dv expects an RFC 5806 reason (user-busy, no-answer, unconditional, unavailable, "
                   "deflection, ...), got " + quoted(value);
        }
        t.diversion = value;
    } else if (name == "dh") {
        if (!parse_diversion_headers(value, t.diversion_via)) {
            return "option dh expects diversion, history-info or both, got " + quoted(value);
        }
    } else if (name == "rt") {
        if (!parse_seconds(value, 1, 3600, t.ring_time_s)) {
            return "option rt expects a ring time of 1..3600 seconds, got " + quoted(value);
        }
    } else if (name == "dt") {
        if (!parse_seconds(value, 0, 3600, t.delay_s)) {
            return "option dt expects a delay of 0..3600 seconds, got " + quoted(value);
        }
    } else if (name == "cd") {
        if (!parse_seconds(value, 1, 86400, t.max_duration_s)) {
            return "option cd expects a call duration limit of 1..86400 seconds, got " + quoted(value);
        }
    } else if (name == "rd") {
        if (!parse_seconds(value, 0, max_redirect_targets, t.redirects)) {
            return "option rd expects how many Contacts of a redirect to try, 0.." +
                   std::to_string(max_redirect_targets) + ", got " + quoted(value);
        }
    } else if (name == "mr") {
        if (value.empty() || value.size() > 32 || !std::all_of(value.begin(), value.end(), [](unsigned char c) {
                return std::isalnum(c) || c == '_' || c == '-';
            })) {
            return "option mr expects the name of a port (1-32 letters, digits, '_' or '-'), got " + quoted(value);
        }
        t.media_realm_name = value;
    } else if (name == "co") {
        if (const std::string why = parse_codec_list(value, '/', t.media.codecs); !why.empty()) {
            return "option co expects codec names separated by '/' (PCMA/PCMU/telephone-event): " + why;
        }
    } else if (name == "mt") {
        if (const std::string why = parse_media_type_list(value, '/', t.media.types); !why.empty()) {
            return "option mt expects media types separated by '/' (audio/image): " + why;
        }
    } else if (name == "h") {
        const auto colon = value.find(':');
        const std::string_view hname = trim_view(std::string_view(value).substr(0, colon));
        const std::string_view hvalue =
            colon == std::string::npos ? std::string_view{} : trim_view(std::string_view(value).substr(colon + 1));
        if (colon == std::string::npos || hname.empty() || hname.size() > 64 ||
            !std::all_of(hname.begin(), hname.end(), [](unsigned char c) { return is_token_char(c); })) {
            return "option h expects 'Name: value' with a header name, got " + quoted(value);
        }
        if (hvalue.empty() || hvalue.size() > 256 || !printable(hvalue)) {
            return "option h: header " + quoted(hname) + " needs a value of 1..256 printable characters";
        }
        if (reserved_header(hname)) {
            return "option h: header " + quoted(hname) + " is set by the appliance and cannot be added";
        }
        if (t.headers.size() >= max_dial_headers) {
            return "option h: at most " + std::to_string(max_dial_headers) + " headers per destination";
        }
        t.headers.emplace_back(hname, hvalue);
    } else {
        return "unknown dial string option " + quoted(name) +
               " (known: tr, cm, fu, fd, fh, pai, ci, dv, dh, rt, dt, cd, rd, mr, co, mt, h)";
    }
    return "";
}

/// One destination: `[sip:]user@host[:port][options]`.
std::string parse_destination(std::string_view text, unsigned group, std::vector<dial_target>& out) {
    const std::string_view s = trim_view(text);
    if (s.empty()) {
        return "empty destination (two separators in a row, or one at an end)";
    }
    dial_target t;
    t.group = group;
    std::string_view dest = s;
    const auto open = s.find('[');
    if (open != std::string_view::npos) {
        if (open > 0 && s[open - 1] == '@') {
            return "IPv6 destinations are not supported: " + quoted(s);
        }
        if (s.back() != ']') {
            return "options must end with ']': " + quoted(s);
        }
        dest = trim_view(s.substr(0, open));
        const std::string_view opts = s.substr(open + 1, s.size() - open - 2);
        if (opts.find_first_of("[]") != std::string_view::npos) {
            return "unbalanced brackets in " + quoted(s);
        }
        std::string seen;
        size_t pos = 0;
        while (pos <= opts.size()) {
            const size_t comma = std::min(opts.find(',', pos), opts.size());
            const std::string_view opt = trim_view(opts.substr(pos, comma - pos));
            if (!opt.empty()) {
                if (std::string err = apply_option(opt, t, seen); !err.empty()) {
                    return err;
                }
            }
            pos = comma + 1;
        }
    } else if (s.find(']') != std::string_view::npos) {
        return "unbalanced brackets in " + quoted(s);
    }
    if (dest.size() >= 4 && std::equal(dest.begin(), dest.begin() + 4, "sip:", [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
        dest.remove_prefix(4);
    } else if (const auto colon = dest.find(':'); colon != std::string_view::npos && dest.find('@') > colon) {
        return "only sip: destinations can be dialled, got " + quoted(dest);
    }
    const auto at = dest.find('@');
    if (at == std::string_view::npos) {
        return "expected user@host[:port], got " + quoted(dest);
    }
    const std::string_view user = dest.substr(0, at);
    std::string_view hostport = dest.substr(at + 1);
    if (!valid_user(user)) {
        return "bad user part in " + quoted(dest);
    }
    t.user = std::string(user);
    const auto colon = hostport.rfind(':');
    if (colon != std::string_view::npos) {
        const std::string_view ps = hostport.substr(colon + 1);
        unsigned port = 0;
        auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
        if (ps.empty() || ec != std::errc{} || p != ps.data() + ps.size() || port == 0 || port > 65535) {
            return "bad port " + quoted(ps) + " in " + quoted(dest);
        }
        t.port = static_cast<uint16_t>(port);
        hostport = hostport.substr(0, colon);
    }
    if (!valid_host(hostport)) {
        return "bad host " + quoted(hostport) + " in " + quoted(dest);
    }
    t.host = std::string(hostport);
    if (out.size() >= max_dial_targets) {
        return "more than " + std::to_string(max_dial_targets) + " destinations in one dial string";
    }
    out.push_back(std::move(t));
    return "";
}

/// Splits `s` at `sep` where it is outside [options].
std::vector<std::string_view> split_outside_brackets(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    bool in_options = false;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '[') {
            in_options = true;
        } else if (s[i] == ']') {
            in_options = false;
        } else if (s[i] == sep && !in_options) {
            parts.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    parts.push_back(s.substr(start));
    return parts;
}

}  // namespace

std::string parse_dial_string(const std::string& text, std::vector<dial_target>& out) {
    const std::string_view s = trim_view(text);
    if (s.empty()) {
        return "empty dial string";
    }
    if (text.size() > max_dial_string_bytes) {
        return "dial string longer than " + std::to_string(max_dial_string_bytes) + " bytes";
    }
    std::vector<dial_target> parsed;
    unsigned group = 0;
    for (std::string_view seq : split_outside_brackets(s, '|')) {
        for (std::string_view par : split_outside_brackets(seq, '&')) {
            if (std::string err = parse_destination(par, group, parsed); !err.empty()) {
                return err;
            }
        }
        ++group;
    }
    out.insert(out.end(), std::make_move_iterator(parsed.begin()), std::make_move_iterator(parsed.end()));
    return "";
}

namespace {

/// Escapes what would end an option value early.
std::string escape_value(std::string_view v) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : v) {
        if (c == ',' || c == ']' || c == '[' || c == '&' || c == '|' || c == '%') {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

}  // namespace

namespace {

// A list of names (codecs, media types) separated by `sep`: each 1-32 letters, digits, '-', '_',
// '.', once (case-insensitive), at most `max`. `noun` names one in messages ("codec").
std::string parse_names(std::string_view text, char sep, size_t max, const char* noun, std::vector<std::string>& out) {
    std::vector<std::string> names;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = std::min(text.find(sep, start), text.size());
        const std::string_view name = trim_view(text.substr(start, end - start));
        if (name.empty() || name.size() > 32 || !std::all_of(name.begin(), name.end(), [](unsigned char c) {
                return std::isalnum(c) || c == '-' || c == '_' || c == '.';
            })) {
            return std::string("bad ") + noun + " name " + quoted(name);
        }
        if (std::any_of(names.begin(), names.end(), [&](const std::string& n) { return sip::iequals_ascii(n, name); })) {
            return quoted(name) + " named twice";
        }
        if (names.size() == max) {
            return "more than " + std::to_string(max) + " " + noun + "s";
        }
        names.emplace_back(name);
        start = end + 1;
    }
    out = std::move(names);
    return "";
}

}  // namespace

std::string parse_codec_list(std::string_view text, char sep, std::vector<std::string>& out) {
    return parse_names(text, sep, max_dial_codecs, "codec", out);
}

std::string parse_media_type_list(std::string_view text, char sep, std::vector<std::string>& out) {
    return parse_names(text, sep, max_dial_media_types, "media type", out);
}

std::string format_dial_string(const std::vector<dial_target>& targets) {
    std::string out;
    for (size_t i = 0; i < targets.size(); ++i) {
        const dial_target& t = targets[i];
        if (i > 0) {
            out += targets[i - 1].group == t.group ? "&" : "|";
        }
        out += t.user + "@" + t.host;
        if (t.port != 5060) {
            out += ":" + std::to_string(t.port);
        }
        std::vector<std::string> opts;
        if (t.transfer_mode != 'n') {
            opts.push_back(std::string("tr=") + t.transfer_mode);
        }
        if (t.continuous_media >= 0) {
            opts.push_back("cm=" + std::to_string(t.continuous_media));
        }
        if (!t.from_user.empty()) {
            opts.push_back("fu=" + escape_value(t.from_user));
        }
        if (!t.from_display.empty()) {
            opts.push_back("fd=" + escape_value(t.from_display));
        }
        if (!t.from_host.empty()) {
            opts.push_back("fh=" + t.from_host);
        }
        if (!t.asserted_user.empty()) {
            opts.push_back("pai=" + escape_value(t.asserted_user));
        }
        if (!t.connected_user.empty()) {
            opts.push_back("ci=" + escape_value(t.connected_user));
        }
        if (!t.diversion.empty()) {
            opts.push_back("dv=" + t.diversion);
        }
        if (t.diversion_via != diversion_headers::unset) {
            opts.push_back("dh=" + std::string(to_string(t.diversion_via)));
        }
        if (t.ring_time_s != 0) {
            opts.push_back("rt=" + std::to_string(t.ring_time_s));
        }
        if (t.delay_s != 0) {
            opts.push_back("dt=" + std::to_string(t.delay_s));
        }
        if (t.max_duration_s != 0) {
            opts.push_back("cd=" + std::to_string(t.max_duration_s));
        }
        if (t.redirects != 0) {
            opts.push_back("rd=" + std::to_string(t.redirects));
        }
        if (!t.media_realm_name.empty()) {
            opts.push_back("mr=" + t.media_realm_name);
        }
        for (const auto& [option, names] : {std::pair{"co=", &t.media.codecs}, std::pair{"mt=", &t.media.types}}) {
            if (!names->empty()) {
                std::string list;
                for (const std::string& name : *names) {
                    list += (list.empty() ? "" : "/") + name;
                }
                opts.push_back(option + list);
            }
        }
        for (const auto& [name, value] : t.headers) {
            opts.push_back("h=" + escape_value(name + ": " + value));
        }
        if (!opts.empty()) {
            out += "[";
            for (size_t k = 0; k < opts.size(); ++k) {
                out += (k ? "," : "") + opts[k];
            }
            out += "]";
        }
    }
    return out;
}

}  // namespace sf::control
