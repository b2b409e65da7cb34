/// @file
/// Zero-copy SIP message parser. Every loop below advances its index on each
/// iteration and every access is bounds-checked against the view size: the
/// parser faces raw datagrams from the Internet and is fuzzed with ASan/UBSan.

#include "sip/sip_message.hh"
#include "sip/sip_uri.hh"
#include "sip/ascii.hh"

#include <array>
#include <climits>
#include <cstring>

namespace sf::sip {

namespace detail {
// RFC 4291 IPv6 text form check, defined in sip_uri.cc.
bool valid_ipv6(std::string_view s) noexcept;
}  // namespace detail

namespace {

constexpr size_t npos = std::string_view::npos;

// Byte-class tables: header names and tokens are checked on every byte of
// every header line, so a lookup beats a chain of comparisons.
struct char_tables {
    char lower[256] = {};
    bool token[256] = {};
};

constexpr char_tables make_char_tables() {
    char_tables t;
    for (int c = 0; c < 256; ++c) {
        t.lower[c] = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        // RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
        t.token[c] = alnum || c == '-' || c == '.' || c == '!' || c == '%' || c == '*' || c == '_'
            || c == '+' || c == '`' || c == '\'' || c == '~';
    }
    return t;
}

constexpr char_tables tables = make_char_tables();

inline char to_lower(char c) noexcept {
    return tables.lower[static_cast<unsigned char>(c)];
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals_ascii(s.substr(0, prefix.size()), prefix);
}

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

bool is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_wsp(char c) noexcept {
    return c == ' ' || c == '\t';
}

// LWS inside a header value: folding keeps CRLF in the value, so CR and LF
// count as whitespace wherever a value is tokenised.
bool is_lws(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

inline bool is_token(char c) noexcept {
    return tables.token[static_cast<unsigned char>(c)];
}

bool all_token(std::string_view s) noexcept {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (!is_token(c)) {
            return false;
        }
    }
    return true;
}

void skip_lws(std::string_view s, size_t& i) noexcept {
    while (i < s.size() && is_lws(s[i])) {
        ++i;
    }
}

std::string_view trim_lws(std::string_view s) noexcept {
    size_t b = 0;
    size_t e = s.size();
    while (b < e && is_lws(s[b])) {
        ++b;
    }
    while (e > b && is_lws(s[e - 1])) {
        --e;
    }
    return s.substr(b, e - b);
}

std::string_view take_token(std::string_view s, size_t& i) noexcept {
    size_t b = i;
    while (i < s.size() && is_token(s[i])) {
        ++i;
    }
    return s.substr(b, i - b);
}

// `i` is at the opening quote; on success it ends just past the closing one.
// quoted-pair ("\" CHAR) may escape the quote itself.
bool skip_quoted(std::string_view s, size_t& i) noexcept {
    ++i;
    while (i < s.size()) {
        char c = s[i];
        if (c == '\\') {
            if (i + 1 >= s.size()) {
                break;
            }
            i += 2;
        } else if (c == '"') {
            ++i;
            return true;
        } else {
            ++i;
        }
    }
    i = s.size();
    return false;
}

// Digits only, value in [min, max]; leading zeros allowed (RFC 4475 3.1.1.1).
bool parse_uint(std::string_view s, uint32_t min, uint32_t max, uint32_t& out) noexcept {
    if (s.empty()) {
        return false;
    }
    uint64_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) {
            return false;
        }
        v = v * 10 + static_cast<uint64_t>(c - '0');
        if (v > max) {
            return false;
        }
    }
    if (v < min) {
        return false;
    }
    out = static_cast<uint32_t>(v);
    return true;
}

// scheme ":" — enough to tell a URI from a display name or garbage. Full
// parsing is left to parse_uri() since any absoluteURI scheme is legal.
bool looks_like_uri(std::string_view s) noexcept {
    if (s.empty() || !is_alpha(s[0])) {
        return false;
    }
    for (size_t i = 1; i < s.size(); ++i) {
        char c = s[i];
        if (c == ':') {
            return true;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') {
            return false;
        }
    }
    return false;
}

bool is_sip_scheme(std::string_view u) noexcept {
    return istarts_with(u, "sip:") || istarts_with(u, "sips:") || istarts_with(u, "tel:");
}

struct method_name {
    method id;
    std::string_view token;
};

constexpr std::array<method_name, 13> method_names{{
    {method::invite, "INVITE"}, {method::ack, "ACK"}, {method::bye, "BYE"},
    {method::cancel, "CANCEL"}, {method::options, "OPTIONS"}, {method::register_, "REGISTER"},
    {method::refer, "REFER"}, {method::notify, "NOTIFY"}, {method::subscribe, "SUBSCRIBE"},
    {method::info, "INFO"}, {method::update, "UPDATE"}, {method::prack, "PRACK"},
    {method::message, "MESSAGE"},
}};

struct header_name {
    hdr id;
    std::string_view name;
};

constexpr std::array<header_name, static_cast<size_t>(hdr::count_) - 1> header_names{{
    {hdr::via, "Via"}, {hdr::from, "From"}, {hdr::to, "To"}, {hdr::call_id, "Call-ID"},
    {hdr::cseq, "CSeq"}, {hdr::contact, "Contact"}, {hdr::max_forwards, "Max-Forwards"},
    {hdr::content_length, "Content-Length"}, {hdr::content_type, "Content-Type"},
    {hdr::route, "Route"}, {hdr::record_route, "Record-Route"}, {hdr::allow, "Allow"},
    {hdr::supported, "Supported"}, {hdr::require, "Require"}, {hdr::user_agent, "User-Agent"},
    {hdr::server, "Server"}, {hdr::expires, "Expires"}, {hdr::refer_to, "Refer-To"},
    {hdr::referred_by, "Referred-By"}, {hdr::replaces, "Replaces"}, {hdr::event, "Event"},
    {hdr::subscription_state, "Subscription-State"}, {hdr::refer_sub, "Refer-Sub"},
    {hdr::authorization, "Authorization"}, {hdr::www_authenticate, "WWW-Authenticate"},
    {hdr::proxy_authorization, "Proxy-Authorization"},
    {hdr::proxy_authenticate, "Proxy-Authenticate"}, {hdr::retry_after, "Retry-After"},
    {hdr::session_expires, "Session-Expires"}, {hdr::min_se, "Min-SE"}, {hdr::rseq, "RSeq"},
    {hdr::rack, "RAck"}, {hdr::accept, "Accept"}, {hdr::reason, "Reason"},
    {hdr::unsupported, "Unsupported"},
}};

constexpr std::array<const char*, static_cast<size_t>(parse_error::count_)> parse_error_names{{
    "ok", "empty", "bad_start_line", "bad_version", "bad_status", "bad_header",
    "too_many_headers", "missing_via", "missing_call_id", "missing_cseq", "bad_cseq",
    "missing_from", "missing_to", "bad_from_to", "bad_via", "bad_max_forwards",
    "bad_content_length", "no_header_end", "cseq_method_mismatch",
}};

// Clears what a previous parse() left behind. The header array is not
// wiped: only the first n_headers entries are meaningful, and zeroing 2.5 KB
// per message would be a noticeable share of the parse cost.
void reset(message& m) noexcept {
    m.is_request = false;
    m.req_method = method::other;
    m.method_name = {};
    m.request_uri = {};
    m.status = 0;
    m.reason = {};
    m.n_headers = 0;
    m.top_via = via{};
    m.call_id = {};
    m.cseq = 0;
    m.cseq_method = method::other;
    m.cseq_method_name = {};
    m.from = name_addr{};
    m.to = name_addr{};
    m.max_forwards = -1;
    m.content_length = -1;
    m.body = {};
}

parse_error parse_start_line(std::string_view line, message& out) noexcept {
    if (istarts_with(line, "SIP/")) {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        auto sp = line.find(' ');
        if (!iequals_ascii(line.substr(0, sp), "SIP/2.0")) {
            return parse_error::bad_version;
        }
        if (sp == npos) {
            return parse_error::bad_start_line;
        }
        std::string_view code = line.substr(sp + 1, 3);
        std::string_view after = line.substr(sp + 1 + code.size());
        uint32_t status = 0;
        // A fourth digit (RFC 4475 "bigcode") is a bad status, not a
        // reason phrase. A missing reason phrase is tolerated.
        if (code.size() != 3 || !parse_uint(code, 100, 699, status)
                || (!after.empty() && after.front() != ' ')) {
            return parse_error::bad_status;
        }
        out.is_request = false;
        out.status = static_cast<uint16_t>(status);
        out.reason = after.empty() ? after : after.substr(1);
        return parse_error::ok;
    }

    // Request-Line = Method SP Request-URI SP SIP-Version, single SPs only
    // (RFC 4475 "lwsruri" and "lwsstart" reject extra whitespace).
    auto sp1 = line.find(' ');
    if (sp1 == npos) {
        return parse_error::bad_start_line;
    }
    std::string_view name = line.substr(0, sp1);
    auto sp2 = line.find(' ', sp1 + 1);
    if (!all_token(name) || sp2 == npos) {
        return parse_error::bad_start_line;
    }
    std::string_view ruri = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (!iequals_ascii(version, "SIP/2.0")) {
        if (istarts_with(version, "SIP/") && version.find_first_of(" \t") == npos) {
            return parse_error::bad_version;
        }
        return parse_error::bad_start_line;
    }
    if (!looks_like_uri(ruri)) {
        return parse_error::bad_start_line;
    }
    if (is_sip_scheme(ruri)) {
        uri u;
        if (!parse_uri(ruri, u)) {
            return parse_error::bad_start_line;
        }
        // RFC 3261 19.1.1: headers are not allowed in a Request-URI (RFC 4475 "escruri").
        // A '?' in the user part is fine (RFC 4475 "intmeth"), so look only after the host.
        if (!u.host.empty()
                && ruri.find('?', static_cast<size_t>(u.host.data() - ruri.data())) != npos) {
            return parse_error::bad_start_line;
        }
    }
    out.is_request = true;
    out.method_name = name;
    out.req_method = method_from_token(name);
    out.request_uri = ruri;
    return parse_error::ok;
}

bool parse_cseq(std::string_view value, message& out) noexcept {
    size_t i = 0;
    size_t b = i;
    while (i < value.size() && is_digit(value[i])) {
        ++i;
    }
    uint32_t seq = 0;
    if (!parse_uint(value.substr(b, i - b), 0, 0x7fffffffu, seq)) {
        return false;
    }
    size_t ws = i;
    skip_lws(value, i);
    if (i == ws) {
        return false;
    }
    std::string_view name = take_token(value, i);
    skip_lws(value, i);
    if (name.empty() || i != value.size()) {
        return false;
    }
    out.cseq = seq;
    out.cseq_method_name = name;
    out.cseq_method = method_from_token(name);
    return true;
}

// Parses the eagerly needed headers as they are met; a second copy of a
// single-valued header is an error (RFC 4475 "mcl01").
parse_error process_header(const header& h, message& out, uint64_t& seen) noexcept {
    auto once = [&seen](hdr id) {
        uint64_t bit = uint64_t{1} << static_cast<unsigned>(id);
        bool first = (seen & bit) == 0;
        seen |= bit;
        return first;
    };
    switch (h.id) {
    case hdr::via:
        if (once(hdr::via) && !parse_via(h.value, out.top_via)) {
            return parse_error::bad_via;
        }
        return parse_error::ok;
    case hdr::call_id:
        if (!once(hdr::call_id)) {
            return parse_error::bad_header;
        }
        if (h.value.empty()) {
            return parse_error::missing_call_id;
        }
        out.call_id = h.value;
        return parse_error::ok;
    case hdr::cseq:
        if (!once(hdr::cseq) || !parse_cseq(h.value, out)) {
            return parse_error::bad_cseq;
        }
        return parse_error::ok;
    case hdr::from:
    case hdr::to: {
        name_addr& na = h.id == hdr::from ? out.from : out.to;
        std::string_view rest;
        // One name-addr and nothing else: not a list, not even one with an empty second element
        // ("<sip:b@h>,"), whose comma would be echoed in our responses before the tag we add.
        if (!once(h.id) || !parse_name_addr(h.value, na, &rest) || !rest.empty() ||
            na.raw.size() != trim_lws(h.value).size()) {
            return parse_error::bad_from_to;
        }
        return parse_error::ok;
    }
    case hdr::max_forwards: {
        uint32_t v = 0;
        if (!once(hdr::max_forwards) || !parse_uint(h.value, 0, 255, v)) {
            return parse_error::bad_max_forwards;
        }
        out.max_forwards = static_cast<int>(v);
        return parse_error::ok;
    }
    case hdr::content_length: {
        uint32_t v = 0;
        if (!once(hdr::content_length) || !parse_uint(h.value, 0, INT_MAX, v)) {
            return parse_error::bad_content_length;
        }
        out.content_length = static_cast<int>(v);
        return parse_error::ok;
    }
    default:
        return parse_error::ok;
    }
}

}  // namespace

method method_from_token(std::string_view token) noexcept {
    for (const auto& m : method_names) {
        if (m.token == token) {
            return m.id;
        }
    }
    return method::other;
}

std::string_view method_token(method m) noexcept {
    for (const auto& e : method_names) {
        if (e.id == m) {
            return e.token;
        }
    }
    return {};
}

hdr header_from_name(std::string_view name) noexcept {
    if (name.size() == 1) {
        switch (to_lower(name[0])) {
        case 'v': return hdr::via;
        case 'f': return hdr::from;
        case 't': return hdr::to;
        case 'i': return hdr::call_id;
        case 'm': return hdr::contact;
        case 'l': return hdr::content_length;
        case 'c': return hdr::content_type;
        case 'k': return hdr::supported;
        case 'r': return hdr::refer_to;
        case 'b': return hdr::referred_by;
        case 'o': return hdr::event;
        case 'x': return hdr::session_expires;
        // e (Content-Encoding), s (Subject), u (Allow-Events), y (Identity)
        // have no id of their own.
        default: return hdr::other;
        }
    }
    char first = to_lower(name.empty() ? '\0' : name[0]);
    for (const auto& h : header_names) {
        // Length and first letter reject almost every entry before iequals_ascii().
        if (h.name.size() == name.size() && to_lower(h.name[0]) == first && iequals_ascii(h.name, name)) {
            return h.id;
        }
    }
    return hdr::other;
}

bool parse_via(std::string_view value, via& out, std::string_view* rest) noexcept {
    out = via{};
    if (rest) {
        *rest = {};
    }
    size_t i = 0;
    skip_lws(value, i);
    size_t start = i;

    // sent-protocol = protocol-name SLASH protocol-version SLASH transport,
    // where SLASH allows LWS on both sides (RFC 4475 3.1.1.1).
    std::string_view proto = take_token(value, i);
    skip_lws(value, i);
    if (!iequals_ascii(proto, "SIP") || i >= value.size() || value[i] != '/') {
        return false;
    }
    ++i;
    skip_lws(value, i);
    std::string_view version = take_token(value, i);
    skip_lws(value, i);
    if (version != "2.0" || i >= value.size() || value[i] != '/') {
        return false;
    }
    ++i;
    skip_lws(value, i);
    out.transport = take_token(value, i);
    size_t ws = i;
    skip_lws(value, i);
    if (out.transport.empty() || i == ws || i >= value.size()) {
        return false;
    }

    // sent-by = host [ COLON port ]
    size_t hb = i;
    if (value[i] == '[') {
        auto close = value.find(']', i);
        if (close == npos) {
            return false;
        }
        i = close + 1;
        // RFC 5118 4.10: a real IPv6 address, not just its character set.
        if (!detail::valid_ipv6(value.substr(hb + 1, close - hb - 1))) {
            return false;
        }
    } else {
        while (i < value.size() && (is_alpha(value[i]) || is_digit(value[i]) || value[i] == '-'
                || value[i] == '.' || value[i] == '_')) {
            ++i;
        }
        if (i == hb) {
            return false;
        }
    }
    out.host = value.substr(hb, i - hb);
    skip_lws(value, i);
    if (i < value.size() && value[i] == ':') {
        ++i;
        skip_lws(value, i);
        size_t pb = i;
        while (i < value.size() && is_digit(value[i])) {
            ++i;
        }
        uint32_t port = 0;
        if (!parse_uint(value.substr(pb, i - pb), 1, 65535, port)) {
            return false;
        }
        out.port = static_cast<uint16_t>(port);
    }

    // *( SEMI via-params ), then an optional COMMA and the next via-parm.
    size_t end = value.size();
    for (;;) {
        skip_lws(value, i);
        if (i >= value.size()) {
            break;
        }
        if (value[i] == ',') {
            end = i;
            if (rest) {
                *rest = trim_lws(value.substr(i + 1));
            }
            break;
        }
        if (value[i] != ';') {
            return false;
        }
        ++i;
        skip_lws(value, i);
        std::string_view pname = take_token(value, i);
        if (pname.empty()) {
            return false;
        }
        skip_lws(value, i);
        std::string_view pvalue;
        bool has_value = false;
        if (i < value.size() && value[i] == '=') {
            ++i;
            skip_lws(value, i);
            size_t vb = i;
            if (i < value.size() && value[i] == '"') {
                if (!skip_quoted(value, i)) {
                    return false;
                }
            } else {
                // gen-value = token / host / quoted-string; host adds ':' and
                // brackets (received may carry a bare IPv6 address).
                while (i < value.size() && (is_token(value[i]) || value[i] == ':'
                        || value[i] == '[' || value[i] == ']')) {
                    ++i;
                }
            }
            pvalue = value.substr(vb, i - vb);
            if (pvalue.empty()) {
                return false;
            }
            has_value = true;
        }
        if (iequals_ascii(pname, "branch")) {
            out.branch = pvalue;
        } else if (iequals_ascii(pname, "received")) {
            out.received = pvalue;
        } else if (iequals_ascii(pname, "rport")) {
            out.has_rport = true;
            uint32_t rport = 0;
            if (has_value) {
                if (!parse_uint(pvalue, 1, 65535, rport)) {
                    return false;
                }
            }
            out.rport = static_cast<uint16_t>(rport);
        }
    }
    out.raw = trim_lws(value.substr(start, end - start));
    return true;
}

bool parse_name_addr(std::string_view value, name_addr& out, std::string_view* rest) noexcept {
    out = name_addr{};
    if (rest) {
        *rest = {};
    }
    size_t i = 0;
    skip_lws(value, i);
    size_t start = i;
    if (i >= value.size()) {
        return false;
    }

    bool bracketed = false;
    if (value[i] == '"') {
        size_t qb = i;
        if (!skip_quoted(value, i)) {
            return false;
        }
        out.display = value.substr(qb + 1, i - qb - 2);
        skip_lws(value, i);
        if (i >= value.size() || value[i] != '<') {
            return false;
        }
        bracketed = true;
    } else {
        // display-name = *(token LWS): if a run of tokens and whitespace ends
        // at '<' it was a display name, otherwise this is an addr-spec.
        size_t j = i;
        while (j < value.size() && (is_token(value[j]) || is_lws(value[j]))) {
            ++j;
        }
        if (j < value.size() && value[j] == '<') {
            out.display = trim_lws(value.substr(i, j - i));
            i = j;
            bracketed = true;
        }
    }

    if (bracketed) {
        auto close = value.find('>', i);
        if (close == npos) {
            return false;
        }
        // LAQUOT addr-spec RAQUOT: no whitespace inside the brackets (RFC 4475 "badaspec").
        out.uri = value.substr(i + 1, close - i - 1);
        for (char c : out.uri) {
            if (is_lws(c)) {
                return false;
            }
        }
        i = close + 1;
    } else {
        // An addr-spec cannot contain ';', ',' or whitespace: those start
        // header parameters or the next element (RFC 3261 20.10).
        size_t ub = i;
        while (i < value.size() && value[i] != ';' && value[i] != ',' && !is_lws(value[i])) {
            ++i;
        }
        out.uri = value.substr(ub, i - ub);
    }
    if (!looks_like_uri(out.uri)) {
        return false;
    }

    skip_lws(value, i);
    if (i < value.size() && value[i] == ';') {
        ++i;
        size_t pb = i;
        while (i < value.size() && value[i] != ',') {
            if (value[i] == '"') {
                if (!skip_quoted(value, i)) {
                    return false;
                }
            } else {
                ++i;
            }
        }
        out.params = trim_lws(value.substr(pb, i - pb));
    }
    skip_lws(value, i);
    size_t end = i;
    if (i < value.size()) {
        if (value[i] != ',') {
            return false;
        }
        if (rest) {
            *rest = trim_lws(value.substr(i + 1));
        }
    }
    out.raw = trim_lws(value.substr(start, end - start));
    out.tag = find_param(out.params, "tag");
    return true;
}

std::string_view find_param(std::string_view params, std::string_view name, bool* found) noexcept {
    if (found) {
        *found = false;
    }
    size_t i = 0;
    const size_t n = params.size();
    while (i < n) {
        while (i < n && (is_lws(params[i]) || params[i] == ';')) {
            ++i;
        }
        if (i >= n) {
            break;
        }
        size_t nb = i;
        while (i < n && !is_lws(params[i]) && params[i] != '=' && params[i] != ';') {
            ++i;
        }
        std::string_view pname = params.substr(nb, i - nb);
        skip_lws(params, i);
        std::string_view pvalue;
        if (i < n && params[i] == '=') {
            ++i;
            skip_lws(params, i);
            size_t vb = i;
            if (i < n && params[i] == '"') {
                // The value of a quoted parameter is returned without quotes.
                bool closed = skip_quoted(params, i);
                pvalue = params.substr(vb + 1, closed ? i - vb - 2 : npos);
            } else {
                while (i < n && params[i] != ';' && !is_lws(params[i])) {
                    ++i;
                }
                pvalue = params.substr(vb, i - vb);
            }
        }
        if (!pname.empty() && iequals_ascii(pname, name)) {
            if (found) {
                *found = true;
            }
            return pvalue;
        }
        // Skip whatever malformed text precedes the next separator.
        while (i < n && params[i] != ';') {
            ++i;
        }
    }
    return {};
}

const char* to_string(parse_error e) noexcept {
    auto idx = static_cast<size_t>(e);
    return idx < parse_error_names.size() ? parse_error_names[idx] : "unknown";
}

const header* message::find(hdr id) const noexcept {
    for (unsigned i = 0; i < n_headers; ++i) {
        if (headers[i].id == id) {
            return &headers[i];
        }
    }
    return nullptr;
}

const header* message::find(std::string_view name) const noexcept {
    // A known name also matches its compact form (and vice versa).
    hdr id = header_from_name(name);
    if (id != hdr::other) {
        return find(id);
    }
    for (unsigned i = 0; i < n_headers; ++i) {
        if (headers[i].id == hdr::other && iequals_ascii(headers[i].name, name)) {
            return &headers[i];
        }
    }
    return nullptr;
}

unsigned message::count(hdr id) const noexcept {
    unsigned n = 0;
    for (unsigned i = 0; i < n_headers; ++i) {
        n += headers[i].id == id ? 1 : 0;
    }
    return n;
}

parse_error parse(std::string_view d, message& out) noexcept {
    reset(out);
    const size_t n = d.size();
    size_t i = 0;
    // RFC 5626 keepalives (bare CRLFs) may precede a message.
    while (i < n && (d[i] == '\r' || d[i] == '\n')) {
        ++i;
    }
    if (i >= n) {
        return parse_error::empty;
    }

    auto find_lf = [&d, n](size_t from) -> size_t {
        if (from >= n) {
            return npos;
        }
        const void* p = std::memchr(d.data() + from, '\n', n - from);
        return p ? static_cast<size_t>(static_cast<const char*>(p) - d.data()) : npos;
    };
    // The line [from, lf) without a trailing CR (LF-only ends are tolerated).
    auto line_view = [&d](size_t from, size_t lf) {
        size_t e = lf;
        if (e > from && d[e - 1] == '\r') {
            --e;
        }
        return d.substr(from, e - from);
    };

    size_t lf = find_lf(i);
    if (lf == npos) {
        return parse_error::no_header_end;
    }
    if (auto err = parse_start_line(line_view(i, lf), out); err != parse_error::ok) {
        return err;
    }
    i = lf + 1;

    uint64_t seen = 0;
    static_assert(static_cast<unsigned>(hdr::count_) <= 64, "seen is a 64-bit mask");
    for (;;) {
        lf = find_lf(i);
        if (lf == npos) {
            return parse_error::no_header_end;
        }
        std::string_view line = line_view(i, lf);
        if (line.empty()) {
            i = lf + 1;
            break;
        }
        if (is_wsp(line[0])) {
            // A continuation line with no header to continue.
            return parse_error::bad_header;
        }
        // Folding: a line starting with SP/HT continues the previous one.
        while (lf + 1 < n && is_wsp(d[lf + 1])) {
            lf = find_lf(lf + 1);
            if (lf == npos) {
                return parse_error::no_header_end;
            }
        }
        line = line_view(i, lf);
        i = lf + 1;

        auto colon = line.find(':');
        if (colon == npos) {
            return parse_error::bad_header;
        }
        // HCOLON = *( SP / HTAB ) ":" SWS
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && is_wsp(name.back())) {
            name.remove_suffix(1);
        }
        if (!all_token(name)) {
            return parse_error::bad_header;
        }
        if (out.n_headers >= message::max_headers) {
            return parse_error::too_many_headers;
        }
        header& h = out.headers[out.n_headers++];
        h.id = header_from_name(name);
        h.name = name;
        h.value = trim_lws(line.substr(colon + 1));
        if (auto err = process_header(h, out, seen); err != parse_error::ok) {
            return err;
        }
    }

    if (out.top_via.transport.empty()) {
        return parse_error::missing_via;
    }
    if (out.call_id.empty()) {
        return parse_error::missing_call_id;
    }
    if (out.cseq_method_name.empty()) {
        return parse_error::missing_cseq;
    }
    if (out.from.uri.empty()) {
        return parse_error::missing_from;
    }
    if (out.to.uri.empty()) {
        return parse_error::missing_to;
    }
    if (out.is_request && out.cseq_method_name != out.method_name) {
        return parse_error::cseq_method_mismatch;
    }

    std::string_view remaining = d.substr(i);
    if (out.content_length >= 0) {
        if (static_cast<size_t>(out.content_length) > remaining.size()) {
            return parse_error::bad_content_length;
        }
        out.body = remaining.substr(0, static_cast<size_t>(out.content_length));
    } else {
        out.body = remaining;
    }
    return parse_error::ok;
}

}  // namespace sf::sip
